'use client';
import Link from 'next/link';
import { StateBadge } from './components/ui';
import { formatBytes, timeAgo } from './lib/format';
import { useHostsChanged } from './lib/socket';
import { trpc } from './lib/trpc';
import { useNow } from './lib/use-now';

export default function HostsPage() {
  const utils = trpc.useUtils();
  const now = useNow();
  // Counts change with every container start/stop, which is not a 'hosts:changed';
  // a slow poll keeps them honest without a socket room per host.
  const hosts = trpc.hosts.list.useQuery(undefined, { refetchInterval: 10_000 });
  useHostsChanged(() => void utils.hosts.list.invalidate());

  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <div>
          <h1 className="text-xl font-semibold">Hosts</h1>
          <p className="text-sm text-slate-600">Machines running the Berth agent.</p>
        </div>
        <Link href="/hosts/new" className="btn-primary">
          Add host
        </Link>
      </div>

      {hosts.error ? (
        <p role="alert" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-700">
          {hosts.error.message}
        </p>
      ) : null}

      <div className="card overflow-x-auto">
        <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid="hosts-table">
          <thead className="bg-slate-50 text-left text-xs font-medium tracking-wide text-slate-500 uppercase">
            <tr>
              <th className="px-4 py-2">Name</th>
              <th className="px-4 py-2">Status</th>
              <th className="px-4 py-2">Hostname</th>
              <th className="px-4 py-2">Kernel</th>
              <th className="px-4 py-2 text-right">CPUs</th>
              <th className="px-4 py-2 text-right">Memory</th>
              <th className="px-4 py-2">Engine</th>
              <th className="px-4 py-2 text-right">Containers</th>
              <th className="px-4 py-2 text-right">Images</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {hosts.isLoading ? (
              <tr>
                <td colSpan={9} className="px-4 py-6 text-center text-slate-500">
                  Loading…
                </td>
              </tr>
            ) : hosts.data && hosts.data.length === 0 ? (
              <tr>
                <td colSpan={9} className="px-4 py-8 text-center text-slate-500">
                  No hosts yet.{' '}
                  <Link href="/hosts/new" className="text-sky-700 underline">
                    Add one
                  </Link>
                  .
                </td>
              </tr>
            ) : (
              hosts.data?.map((h) => {
                const c = h.info?.containers;
                return (
                  <tr key={h.id} className="hover:bg-slate-50" data-testid="host-row" data-host-id={h.id} data-host-name={h.name}>
                    <td className="px-4 py-2.5 font-medium">
                      <Link href={`/hosts/${h.id}`} className="text-sky-700 hover:underline">
                        {h.name}
                      </Link>
                    </td>
                    <td className="px-4 py-2.5">
                      <StateBadge state={h.online ? 'online' : 'offline'} testId="host-status" />
                      {!h.online && h.lastSeen ? (
                        <span className="ml-2 text-xs text-slate-500">seen {timeAgo(h.lastSeen, now)}</span>
                      ) : null}
                    </td>
                    <td className="px-4 py-2.5 text-slate-700">{h.info?.hostname ?? '—'}</td>
                    <td className="px-4 py-2.5 text-slate-700">{h.info?.kernel ?? '—'}</td>
                    <td className="px-4 py-2.5 text-right tabular-nums">{h.info?.cpus ?? '—'}</td>
                    <td className="px-4 py-2.5 text-right tabular-nums">{h.info ? formatBytes(h.info.memTotal) : '—'}</td>
                    <td className="px-4 py-2.5 text-slate-700">{h.info?.engineVersion ?? '—'}</td>
                    <td className="px-4 py-2.5 text-right tabular-nums" data-testid="host-containers">
                      {c ? (
                        <span title={`${c.running} running, ${c.paused} paused, ${c.stopped} stopped`}>
                          <span className="text-emerald-700">{c.running}</span>
                          <span className="text-slate-400"> / </span>
                          {c.total}
                        </span>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="px-4 py-2.5 text-right tabular-nums">{h.info?.images ?? '—'}</td>
                  </tr>
                );
              })
            )}
          </tbody>
        </table>
      </div>
      <p className="text-xs text-slate-500">Containers column: running / total.</p>
    </div>
  );
}
