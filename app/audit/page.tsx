'use client';
import { DataTable } from '../components/data-table';
import { ErrorText } from '../components/ui';
import { formatTime, shortId } from '../lib/format';
import { trpc } from '../lib/trpc';

export default function AuditPage() {
  const audit = trpc.audit.list.useQuery(undefined, { refetchInterval: 15_000 });

  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-xl font-semibold">Audit log</h1>
        <p className="text-sm text-slate-600">The latest 200 actions in your teams.</p>
      </div>
      <ErrorText testId="audit-error">{audit.error?.message}</ErrorText>
      <DataTable
        testId="audit-table"
        columns={['When', 'Who', 'Action', 'Host', 'Target', 'Result']}
        loading={audit.isLoading}
        empty={audit.data?.length === 0 ? 'Nothing recorded yet.' : null}
      >
        {audit.data?.map((r) => (
          <tr key={r.id} data-testid="audit-row" className="align-top hover:bg-slate-50">
            <td className="px-4 py-2 whitespace-nowrap text-slate-600">{formatTime(r.at)}</td>
            <td className="px-4 py-2 whitespace-nowrap">{r.userName || r.userEmail || '—'}</td>
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
    </div>
  );
}
