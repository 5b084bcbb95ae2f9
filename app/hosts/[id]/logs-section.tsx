'use client';
import Link from 'next/link';
import type { HostView } from '../../../protocol/ui-socket';
import { sourceParam } from '../../components/logs/merged-logs';
import { DataTable } from '../../components/data-table';
import { Section } from '../../components/ui';
import { formatBytes, timeAgo } from '../../lib/format';
import { trpc } from '../../lib/trpc';

/** The host's logs: all of them merged, a stack's, and the removed containers' kept logs under their names. */
export function LogsSection({ host, now }: { host: HostView; now: number }) {
  const kept = trpc.logs.kept.useQuery({ hostId: host.id }, { enabled: host.online, retry: false });
  const running = host.containers.filter((c) => c.state === 'running');
  const projects = [...new Set(host.containers.map((c) => c.project).filter((p): p is string => !!p))].sort();
  const all = new URLSearchParams();
  for (const c of running) all.append('s', sourceParam({ hostId: host.id, containerId: c.id }));
  const list = kept.data ?? [];
  return (
    <Section
      title="Logs"
      actions={
        <Link href={`/hosts/${host.id}/logs?${all.toString()}`} className="text-sm text-sky-700 hover:underline" data-testid="host-logs-link">
          Every running container's log, merged →
        </Link>
      }
    >
      {projects.length ? (
        <p className="mb-3 flex flex-wrap items-center gap-2 text-sm" data-testid="host-stacks">
          <span className="text-slate-600">Stacks:</span>
          {projects.map((p) => (
            <Link key={p} href={`/hosts/${host.id}/logs?project=${encodeURIComponent(p)}`} className="rounded bg-slate-100 px-2 py-0.5 text-sky-700 hover:underline" data-testid="host-stack-logs">
              {p}
            </Link>
          ))}
        </p>
      ) : null}
      <h3 className="mb-2 text-xs font-semibold tracking-wide text-slate-500 uppercase">Logs of removed containers</h3>
      {kept.error ? <p className="text-sm text-red-700">cannot list them: {kept.error.message}</p> : null}
      <DataTable
        flush
        testId="kept-logs-table"
        columns={['Name', 'Image', 'Ran', 'Removed', { label: 'Size', align: 'right' }, { label: '', align: 'right' }]}
        empty={list.length === 0 ? (host.online ? 'None kept.' : 'Shown when the host is online.') : null}
      >
        {list.map((k) => (
          <tr key={k.containerId} data-testid="kept-log-row" data-container-id={k.containerId} data-container-name={k.name}>
            <td className="px-4 py-2 font-medium">{k.name}</td>
            <td className="px-4 py-2 text-slate-700">{k.image}</td>
            <td className="px-4 py-2 text-slate-600">{k.startedAt && !k.startedAt.startsWith('0001') ? `${new Date(k.startedAt).toLocaleString()} – ${k.finishedAt && !k.finishedAt.startsWith('0001') ? new Date(k.finishedAt).toLocaleString() : '?'}` : 'never started'}</td>
            <td className="px-4 py-2 text-slate-600" title={k.removedAt}>
              {timeAgo(k.removedAt, now)}
            </td>
            <td className="px-4 py-2 text-right tabular-nums">{formatBytes(k.size)}</td>
            <td className="px-4 py-2 text-right">
              <Link href={`/hosts/${host.id}/logs?s=${encodeURIComponent(sourceParam({ hostId: host.id, containerId: k.containerId, kept: true }))}`} className="text-sky-700 hover:underline" data-testid="kept-log-open">
                read
              </Link>
            </td>
          </tr>
        ))}
      </DataTable>
    </Section>
  );
}
