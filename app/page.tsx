'use client';
// The fleet overview: every host of the team, a page at a time from the server (filtered and
// sorted there), with counts that move live: the page watches the hosts it shows
// ('fleet:watch') and the server sends the rows that changed, coalesced, with the summary.
import Link from 'next/link';
import { useMemo, useState } from 'react';
import { DataTable } from './components/data-table';
import { Field } from './components/form';
import { Pager } from './components/pager';
import { ErrorText, StateBadge } from './components/ui';
import { hasRole } from '../protocol/roles';
import type { FleetHostView, FleetSummaryView } from '../protocol/ui-socket';
import { formatBytes, timeAgo } from './lib/format';
import { useFleetWatch } from './lib/fleet-watch';
import { useHostsChanged } from './lib/socket';
import { trpc } from './lib/trpc';
import { useNow } from './lib/use-now';
import { useRole } from './lib/use-role';

const PAGE_SIZE = 50;
type HostState = '' | 'online' | 'offline' | 'unhealthy';
type HostSort = 'name' | 'state' | 'running' | 'unhealthy' | 'lastSeen';

/** A small line of recent readings, scaled to `max`; nothing until there are two. */
function Sparkline({ values, max, testId, label }: { values: number[]; max: number; testId: string; label: string }) {
  const W = 60;
  const H = 18;
  if (values.length < 2 || !(max > 0)) return <span className="text-xs text-slate-400" data-testid={testId}>—</span>;
  const step = W / (values.length - 1);
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(H - Math.min(1, Math.max(0, v / max)) * H).toFixed(1)}`).join(' ');
  return (
    <svg viewBox={`0 0 ${W} ${H}`} className="inline-block h-[18px] w-[60px] align-middle" role="img" aria-label={label} data-testid={testId} data-points={values.length}>
      <polyline points={pts} className="fill-none stroke-sky-600" strokeWidth={1.5} vectorEffect="non-scaling-stroke" />
    </svg>
  );
}

function SummaryBar({ s }: { s: FleetSummaryView | undefined }) {
  if (!s) return null;
  const item = (label: string, n: number, testId: string, cls = '') => (
    <div className="rounded-md border border-slate-200 bg-white px-3 py-2">
      <div className="text-xs text-slate-500 uppercase">{label}</div>
      <div className={`text-lg font-semibold tabular-nums ${cls}`} data-testid={testId}>
        {n}
      </div>
    </div>
  );
  return (
    <div className="grid grid-cols-3 gap-2 sm:grid-cols-6" data-testid="fleet-summary">
      {item('Hosts', s.hosts, 'summary-hosts')}
      {item('Online', s.online, 'summary-online', 'text-emerald-700')}
      {item('Offline', s.offline, 'summary-offline', s.offline ? 'text-amber-700' : '')}
      {item('Running', s.containers.running, 'summary-running', 'text-emerald-700')}
      {item('Stopped', s.containers.stopped, 'summary-stopped')}
      {item('Unhealthy', s.containers.unhealthy, 'summary-unhealthy', s.containers.unhealthy ? 'text-red-700' : '')}
    </div>
  );
}

export default function HostsPage() {
  const utils = trpc.useUtils();
  const now = useNow();
  const canAdd = hasRole(useRole(), 'admin');
  const [text, setText] = useState('');
  const [label, setLabel] = useState('');
  const [state, setState] = useState<HostState>('');
  const [sort, setSort] = useState<HostSort>('name');
  const [page, setPage] = useState(1);
  const hosts = trpc.fleet.hosts.useQuery(
    { text: text.trim() || undefined, label: label.trim() || undefined, state: state || undefined, sort, desc: sort === 'running' || sort === 'unhealthy' || sort === 'lastSeen', page, pageSize: PAGE_SIZE },
    { placeholderData: (prev) => prev },
  );
  // Hosts added, revoked or moved: the page itself changes.
  useHostsChanged(() => void utils.fleet.hosts.invalidate());

  // What the server pushed since the page was fetched, by host.
  const [live, setLive] = useState<{ rows: Map<string, FleetHostView>; summary?: FleetSummaryView }>({ rows: new Map() });
  const ids = useMemo(() => (hosts.data?.rows ?? []).map((r) => r.id), [hosts.data]);
  useFleetWatch(ids, {
    reset: () => setLive({ rows: new Map() }),
    ack: (res) => {
      // A host gone from the team since the page was fetched: fetch it again.
      if (!res.ok) void utils.fleet.hosts.invalidate();
      else if (res.summary) setLive((l) => ({ ...l, summary: res.summary }));
    },
    rows: (msg) =>
      setLive((l) => {
        const rows = new Map(l.rows);
        for (const r of msg.rows) rows.set(r.id, r);
        return { rows, summary: msg.summary ?? l.summary };
      }),
  });

  const rows = (hosts.data?.rows ?? []).map((r) => live.rows.get(r.id) ?? r);
  const summary = live.summary ?? hosts.data?.summary;
  const filtered = !!(text.trim() || label.trim() || state);

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-xl font-semibold">Hosts</h1>
          <p className="text-sm text-slate-600">Machines running the Berth agent; counts update live.</p>
        </div>
        {canAdd ? (
          <Link href="/hosts/new" className="btn-primary">
            Add host
          </Link>
        ) : null}
      </div>

      <SummaryBar s={summary} />

      <div className="flex flex-wrap items-end gap-3">
        <Field
          id="host-search"
          label="Search (name, hostname)"
          className="w-full sm:w-72"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setPage(1);
          }}
          data-testid="host-search"
        />
        <Field
          id="host-label"
          label="Label"
          placeholder="key or key=value"
          className="w-full sm:w-48"
          value={label}
          onChange={(e) => {
            setLabel(e.target.value);
            setPage(1);
          }}
          data-testid="host-label-filter"
        />
        <div>
          <label htmlFor="host-state" className="label">
            State
          </label>
          <select
            id="host-state"
            className="input"
            value={state}
            data-testid="host-state-filter"
            onChange={(e) => {
              setState(e.target.value as HostState);
              setPage(1);
            }}
          >
            <option value="">any</option>
            <option value="online">online</option>
            <option value="offline">offline</option>
            <option value="unhealthy">with unhealthy containers</option>
          </select>
        </div>
        <div>
          <label htmlFor="host-sort" className="label">
            Sort by
          </label>
          <select id="host-sort" className="input" value={sort} onChange={(e) => setSort(e.target.value as HostSort)} data-testid="host-sort">
            <option value="name">name</option>
            <option value="state">online first</option>
            <option value="running">most running</option>
            <option value="unhealthy">most unhealthy</option>
            <option value="lastSeen">last seen</option>
          </select>
        </div>
      </div>

      <ErrorText>{hosts.error?.message}</ErrorText>

      <DataTable
        testId="hosts-table"
        columns={[
          'Name',
          'Status',
          'Hostname',
          'Kernel',
          { label: 'Running', align: 'right' },
          { label: 'Stopped', align: 'right' },
          { label: 'Unhealthy', align: 'right' },
          'CPU',
          'Memory',
          { label: 'Images', align: 'right' },
          'Engine',
        ]}
        loading={hosts.isLoading}
        empty={
          hosts.data?.rows.length === 0 ? (
            filtered ? (
              'No host matches.'
            ) : canAdd ? (
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
        {rows.map((h) => {
          const c = h.counts;
          const lastCpu = h.usage.cpu.at(-1);
          const lastMem = h.usage.mem.at(-1);
          return (
            <tr key={h.id} className="hover:bg-slate-50" data-testid="host-row" data-host-id={h.id} data-host-name={h.name}>
              <td className="px-4 py-2.5 font-medium">
                <Link href={`/hosts/${h.id}`} className="text-sky-700 hover:underline">
                  {h.name}
                </Link>
                {Object.entries(h.labels).map(([k, v]) => (
                  <span key={k} className="ml-1 rounded bg-slate-100 px-1 text-xs font-normal text-slate-600">
                    {v ? `${k}=${v}` : k}
                  </span>
                ))}
              </td>
              <td className="px-4 py-2.5 whitespace-nowrap">
                <StateBadge state={h.online ? 'online' : 'offline'} testId="host-status" />
                {!h.online && h.lastSeen ? (
                  <span className="ml-2 text-xs text-slate-500" data-testid="host-last-seen">
                    seen {timeAgo(h.lastSeen, now)}
                  </span>
                ) : null}
              </td>
              <td className="px-4 py-2.5 text-slate-700">{h.hostname ?? '—'}</td>
              <td className="px-4 py-2.5 text-slate-700">{h.kernel ?? '—'}</td>
              <td className="px-4 py-2.5 text-right text-emerald-700 tabular-nums" data-testid="host-running" title={`${c.running} running, ${c.paused} paused, ${c.total} in all`}>
                {c.running}
              </td>
              <td className="px-4 py-2.5 text-right tabular-nums" data-testid="host-stopped">
                {c.stopped}
              </td>
              <td className={`px-4 py-2.5 text-right tabular-nums ${c.unhealthy ? 'font-semibold text-red-700' : ''}`} data-testid="host-unhealthy">
                {c.unhealthy}
              </td>
              <td className="px-4 py-2.5 whitespace-nowrap" title={lastCpu === undefined ? 'no readings yet' : `${(lastCpu * 100).toFixed(0)}% of ${h.cpus ?? '?'} CPUs`}>
                <Sparkline values={h.usage.cpu} max={1} testId="host-cpu" label="CPU, last 5 minutes" />
                <span className="ml-1 text-xs text-slate-600 tabular-nums">{lastCpu === undefined ? '' : `${(lastCpu * 100).toFixed(0)}%`}</span>
              </td>
              <td className="px-4 py-2.5 whitespace-nowrap" title={lastMem === undefined ? 'no readings yet' : `${formatBytes(lastMem)} of ${formatBytes(h.memTotal)}`}>
                <Sparkline values={h.usage.mem} max={h.memTotal ?? 0} testId="host-mem" label="Memory in use, last 5 minutes" />
                <span className="ml-1 text-xs text-slate-600 tabular-nums">{lastMem === undefined ? (h.memTotal ? formatBytes(h.memTotal) : '—') : formatBytes(lastMem)}</span>
              </td>
              <td className="px-4 py-2.5 text-right tabular-nums">{h.images ?? '—'}</td>
              <td className="px-4 py-2.5 text-slate-700">{h.engineVersion ?? '—'}</td>
            </tr>
          );
        })}
      </DataTable>
      {hosts.data ? <Pager page={hosts.data.page} pageSize={hosts.data.pageSize} total={hosts.data.total} onPage={setPage} testId="hosts-pager" /> : null}
    </div>
  );
}
