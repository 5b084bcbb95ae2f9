'use client';
import Link from 'next/link';
import { DataTable } from './components/data-table';
import { ErrorText, StateBadge } from './components/ui';
import { hasRole } from '../protocol/roles';
import { formatBytes, timeAgo } from './lib/format';
import { useHostsChanged } from './lib/socket';
import { trpc } from './lib/trpc';
import { useNow } from './lib/use-now';
import { useRole } from './lib/use-role';

export default function HostsPage() {
  const utils = trpc.useUtils();
  const now = useNow();
  const canAdd = hasRole(useRole(), 'admin');
  // Counts change with every container start/stop, which is not a 'hosts:changed';
  // a slow poll keeps them honest without a socket room per host.
  const hosts = trpc.hosts.overview.useQuery(undefined, { refetchInterval: 10_000 });
  useHostsChanged(() => void utils.hosts.overview.invalidate());

  return (
    <div className="space-y-4">
      <div className="flex items-center justify-between">
        <div>
          <h1 className="text-xl font-semibold">Hosts</h1>
          <p className="text-sm text-slate-600">Machines running the Berth agent.</p>
        </div>
        {canAdd ? (
          <Link href="/hosts/new" className="btn-primary">
            Add host
          </Link>
        ) : null}
      </div>

      <ErrorText>{hosts.error?.message}</ErrorText>

      <DataTable
        testId="hosts-table"
        columns={[
          'Name',
          'Status',
          'Hostname',
          'Kernel',
          { label: 'CPUs', align: 'right' },
          { label: 'Memory', align: 'right' },
          'Engine',
          { label: 'Containers', align: 'right' },
          { label: 'Images', align: 'right' },
        ]}
        loading={hosts.isLoading}
        empty={
          hosts.data?.length === 0 ? (
            canAdd ? (
              <>
                No hosts yet.{' '}
                <Link href="/hosts/new" className="text-sky-700 underline">
                  Add one
                </Link>
                .
              </>
            ) : (
              'No hosts yet. An admin of your team can add one.'
            )
          ) : null
        }
      >
        {hosts.data?.map((h) => {
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
                {!h.online && h.lastSeen ? <span className="ml-2 text-xs text-slate-500">seen {timeAgo(h.lastSeen, now)}</span> : null}
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
        })}
      </DataTable>
      <p className="text-xs text-slate-500">Containers column: running / total.</p>
    </div>
  );
}
