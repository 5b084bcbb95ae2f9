'use client';
import { useState } from 'react';
import { DataTable } from '../components/data-table';
import { ErrorText } from '../components/ui';
import { formatTime, shortId } from '../lib/format';
import { trpc } from '../lib/trpc';

type Filter = { userId: string; hostId: string; action: string; from: string; to: string };
const EMPTY: Filter = { userId: '', hostId: '', action: '', from: '', to: '' };

/** The filter as the server takes it: blanks left out, local date-times as ISO instants. */
function query(f: Filter) {
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
  return {
    ...(f.userId ? { userId: f.userId } : {}),
    ...(f.hostId ? { hostId: f.hostId } : {}),
    ...(f.action ? { action: f.action } : {}),
    ...(f.from ? { from: iso(f.from) } : {}),
    ...(f.to ? { to: iso(f.to) } : {}),
  };
}

export default function AuditPage() {
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const q = query(filter);
  const facets = trpc.audit.facets.useQuery();
  const audit = trpc.audit.list.useQuery(q, { refetchInterval: 15_000 });
  const utils = trpc.useUtils();
  const retention = trpc.audit.setRetention.useMutation({ onSuccess: () => utils.audit.facets.invalidate() });
  const [days, setDays] = useState('');
  const csvHref = `/api/audit/export?${new URLSearchParams(q as Record<string, string>).toString()}`;
  const set = (k: keyof Filter) => (e: { target: { value: string } }) => setFilter({ ...filter, [k]: e.target.value });

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-end gap-4">
        <div>
          <h1 className="text-xl font-semibold">Audit log</h1>
          <p className="text-sm text-slate-600">The latest 200 actions in the current team that match.</p>
        </div>
        <a className="btn-secondary ml-auto" href={csvHref} data-testid="audit-csv" download>
          Export CSV
        </a>
      </div>
      <div className="flex flex-wrap items-end gap-3 text-sm" data-testid="audit-filters">
        <label>
          <span className="label">User</span>
          <select className="input" value={filter.userId} onChange={set('userId')} data-testid="audit-filter-user">
            <option value="">anyone</option>
            {facets.data?.users.map((u) => (
              <option key={u.id} value={u.id}>
                {u.email}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="label">Host</span>
          <select className="input" value={filter.hostId} onChange={set('hostId')} data-testid="audit-filter-host">
            <option value="">any</option>
            {facets.data?.hosts.map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="label">Action</span>
          <select className="input" value={filter.action} onChange={set('action')} data-testid="audit-filter-action">
            <option value="">any</option>
            {[...new Set((facets.data?.actions ?? []).map((a) => a.split('.')[0] + '.'))].map((d) => (
              <option key={d} value={d}>
                {d}*
              </option>
            ))}
            {facets.data?.actions.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span className="label">From</span>
          <input className="input" type="datetime-local" value={filter.from} onChange={set('from')} data-testid="audit-filter-from" />
        </label>
        <label>
          <span className="label">Until</span>
          <input className="input" type="datetime-local" value={filter.to} onChange={set('to')} data-testid="audit-filter-to" />
        </label>
        <button type="button" className="btn-secondary" onClick={() => setFilter(EMPTY)}>
          Clear
        </button>
      </div>
      <ErrorText testId="audit-error">{audit.error?.message ?? facets.error?.message}</ErrorText>
      <DataTable testId="audit-table" columns={['When', 'Who', 'Action', 'Host', 'Target', 'Result']} loading={audit.isLoading} empty={audit.data?.length === 0 ? 'Nothing recorded that matches.' : null}>
        {audit.data?.map((r) => (
          <tr key={r.id} data-testid="audit-row" className="align-top hover:bg-slate-50">
            <td className="px-4 py-2 whitespace-nowrap text-slate-600">{formatTime(r.at)}</td>
            <td className="px-4 py-2 whitespace-nowrap" title={r.address ? `from ${r.address}` : undefined}>
              {r.userName || r.userEmail || '—'}
              {r.address ? <span className="block text-xs text-slate-500" data-testid="audit-address">{r.address}</span> : null}
            </td>
            <td className="px-4 py-2 font-mono text-xs">{r.action}</td>
            <td className="px-4 py-2">{r.hostName ?? (r.hostId ? shortId(r.hostId) : '—')}</td>
            <td className="max-w-xs truncate px-4 py-2 font-mono text-xs" title={r.target ?? undefined}>
              {r.target ?? '—'}
            </td>
            <td className="px-4 py-2">
              <span className={r.result === 'ok' ? 'text-emerald-700' : 'text-red-700'}>{r.result}</span>
            </td>
          </tr>
        ))}
      </DataTable>
      {facets.data && (
        <p className="text-xs text-slate-500" data-testid="audit-retention">
          Kept {facets.data.retentionDays ? `${facets.data.retentionDays} days (this team’s setting)` : facets.data.defaultRetentionDays ? `${facets.data.defaultRetentionDays} days (the server’s BERTH_AUDIT_RETENTION_DAYS)` : 'for ever'}.{' '}
          <span className="inline-flex items-center gap-1">
            Owners:
            <input className="input w-20 py-0.5" type="number" min={1} placeholder="days" value={days} onChange={(e) => setDays(e.target.value)} aria-label="Retention in days" />
            <button type="button" className="btn-secondary py-0.5 text-xs" disabled={retention.isPending} onClick={() => retention.mutate({ days: days ? Number(days) : null })}>
              Set
            </button>
          </span>
          {retention.error && <span className="ml-2 text-red-700">{retention.error.message}</span>}
        </p>
      )}
    </div>
  );
}
