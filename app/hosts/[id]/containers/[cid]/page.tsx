'use client';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { useEffect, useRef } from 'react';
import { summaryStatus } from '../../../../../protocol/docker-words';
import type { ContainerSummary } from '../../../../../protocol/agent-link';
import { hasRole } from '../../../../../protocol/roles';
import { ContainerActions } from '../../../../components/container-actions';
import { LogViewer } from '../../../../components/log-viewer';
import { ErrorText, Fact, StateBadge } from '../../../../components/ui';
import { formatBytes, formatTime, shellJoin, shortId } from '../../../../lib/format';
import { useNow } from '../../../../lib/use-now';
import { useContainerLogs, useHostWatch } from '../../../../lib/socket';
import { trpc } from '../../../../lib/trpc';

export default function ContainerPage() {
  const { id: hostId, cid } = useParams<{ id: string; cid: string }>();
  const router = useRouter();
  const hostQuery = trpc.hosts.get.useQuery({ hostId });
  const inspect = trpc.containers.inspect.useQuery({ hostId, id: cid });
  const { host: live } = useHostWatch(hostId);
  const host = live ?? hostQuery.data ?? null;
  const summary = host?.containers.find((c) => c.id === cid || c.id === inspect.data?.id) ?? null;
  const record = inspect.data;
  const state = summary?.state ?? record?.state.status;
  const canOperate = hasRole(hostQuery.data?.role, 'operator');
  const logs = useContainerLogs(hostId, record?.id ?? cid, !!record);

  // The snapshot only carries a summary; fetch the full record again whenever the state moves.
  const seenState = useRef(state);
  useEffect(() => {
    if (seenState.current === state) return;
    seenState.current = state;
    void inspect.refetch();
    // A stopped container's stream has ended: follow it again once it runs.
    if (state === 'running' && logs.done) logs.resume();
  }, [state, inspect, logs]);

  const gone = !!live && !summary && !!record;

  if (inspect.error && !record) {
    return (
      <div className="space-y-3">
        <Link href={`/hosts/${hostId}`} className="text-sm text-sky-700 hover:underline">
          ← Host
        </Link>
        <ErrorText testId="container-error">{inspect.error.message}</ErrorText>
      </div>
    );
  }
  if (!record) return <p className="text-sm text-slate-500">Loading…</p>;

  const cmd = shellJoin([...record.spec.process.entrypoint, ...record.spec.process.cmd]);
  return (
    <div className="space-y-5">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <Link href={`/hosts/${hostId}`} className="text-sm text-sky-700 hover:underline">
            ← {host?.name ?? 'Host'}
          </Link>
          <h1 className="mt-1 flex items-center gap-3 text-xl font-semibold">
            <span data-testid="container-name">{record.name}</span>
            {state ? <StateBadge state={gone ? 'removed' : state} testId="container-state" /> : null}
          </h1>
          <p className="font-mono text-xs text-slate-500">{record.id}</p>
          {summary ? <StatusLine summary={summary} /> : null}
        </div>
        {canOperate && !gone && state ? (
          <ContainerActions
            hostId={hostId}
            id={record.id}
            state={state}
            size="md"
            disabled={!host?.online}
            onRemoved={() => router.replace(`/hosts/${hostId}`)}
          />
        ) : null}
      </div>

      {gone ? (
        <p className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="container-gone">
          This container no longer exists on the host.
        </p>
      ) : null}

      <section className="card p-4">
        <dl className="grid grid-cols-2 gap-4 sm:grid-cols-3 lg:grid-cols-4" data-testid="container-facts">
          <Fact label="Image">{record.image}</Fact>
          <Fact label="Image ID">{shortId(record.imageId)}</Fact>
          <Fact label="Command">{cmd || '—'}</Fact>
          <Fact label="Created">{formatTime(record.created)}</Fact>
          <Fact label="Started">{formatTime(record.state.startedAt)}</Fact>
          <Fact label="Finished">{formatTime(record.state.finishedAt)}</Fact>
          <Fact label="Exit code" testId="container-exit-code">
            {record.state.running ? '—' : String(record.state.exitCode)}
          </Fact>
          <Fact label="PID">{record.state.pid ? String(record.state.pid) : '—'}</Fact>
          <Fact label="Memory limit">{record.spec.resources.memory ? formatBytes(record.spec.resources.memory) : 'unlimited'}</Fact>
          <Fact label="Network">{record.spec.network.mode || 'default'}</Fact>
          <Fact label="Restarts">{String(record.restartCount)}</Fact>
          <Fact label="OOM killed">{record.state.oomKilled ? 'yes' : 'no'}</Fact>
        </dl>
        {record.state.error ? <ErrorText>{record.state.error}</ErrorText> : null}
      </section>

      <LogViewer stream={logs} />
    </div>
  );
}

/** Ticks every second on its own, so the log below does not re-render with it. */
function StatusLine({ summary }: { summary: ContainerSummary }) {
  const now = useNow(1_000);
  return (
    <p className="text-sm text-slate-600" data-testid="container-status">
      {summaryStatus(summary, now)}
    </p>
  );
}
