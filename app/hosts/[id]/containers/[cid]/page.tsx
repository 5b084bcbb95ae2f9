'use client';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { useEffect, useMemo, useRef, useState } from 'react';
import { summaryStatus } from '../../../../../protocol/docker-words';
import type { ContainerSummary } from '../../../../../protocol/agent-link';
import { hasRole } from '../../../../../protocol/roles';
import { ContainerActions } from '../../../../components/container-actions';
import { ContainerHealth, HealthBadge } from '../../../../components/container-health';
import { ContainerInspectView, RawJson } from '../../../../components/container-inspect';
import { autoUpdateText, UpdateStatus, useHostUpdates } from '../../../../components/image-updates';
import { LogPanel } from '../../../../components/logs/log-panel';
import { StatsCharts } from '../../../../components/stats-charts';
import { TerminalPanel } from '../../../../components/terminal-panel';
import { ErrorText, Fact, StateBadge } from '../../../../components/ui';
import { formatBytes, formatTime, shellJoin, shortId, timeAgo } from '../../../../lib/format';
import { useNow } from '../../../../lib/use-now';
import { useHostWatch } from '../../../../lib/socket';
import { useLogView } from '../../../../lib/use-log-view';
import { trpc } from '../../../../lib/trpc';
import { useContainerLive } from '../../../../lib/use-container-live';

type Tab = 'logs' | 'inspect' | 'terminal';

export default function ContainerPage() {
  const { id: hostId, cid } = useParams<{ id: string; cid: string }>();
  const router = useRouter();
  const hostQuery = trpc.hosts.get.useQuery({ hostId });
  const inspect = trpc.containers.inspect.useQuery({ hostId, id: cid });
  const watch = useHostWatch(hostId);
  const live = watch.host;
  const host = live ?? hostQuery.data ?? null;
  const summary = host?.containers.find((c) => c.id === cid || c.id === inspect.data?.id) ?? null;
  const record = inspect.data;
  const state = summary?.state ?? record?.state.status;
  const canOperate = hasRole(hostQuery.data?.role, 'operator');
  const logSources = useMemo(() => [{ hostId, containerId: record?.id ?? cid }], [hostId, record?.id, cid]);
  const logs = useLogView({ sources: [{ hostId, containerId: record?.id ?? cid, name: record?.name?.replace(/^\//, '') }], enabled: !!record, host: watch });
  // Everything below is the host's last word until it is back.
  const offline = !!host && !host.online;
  // Only an online host's list is a full one: a control plane that has not heard from the
  // host since it started knows none of its containers.
  const gone = !!live?.online && !summary && !!record;
  const readings = useContainerLive(hostId, record?.id ?? '', {
    running: !gone && (state === 'running' || state === 'paused' || state === 'restarting'),
    online: !!host?.online,
  });
  const [tab, setTab] = useState<Tab>('logs');
  const updates = useHostUpdates(hostId, !!hostQuery.data && !!record && !!host?.online, record?.id ?? '');
  const job = record ? updates.jobOf(record.name) : undefined;
  // Updated: the container under this name is a new one; its page is the one to be on.
  const movedTo = job?.phase === 'updated' && job.oldContainerId === record?.id ? job.newContainerId : undefined;
  useEffect(() => {
    if (movedTo) router.replace(`/hosts/${hostId}/containers/${movedTo}`);
  }, [movedTo, hostId, router]);

  // The snapshot only carries a summary; fetch the full record again whenever the state moves.
  const seenState = useRef(state);
  useEffect(() => {
    if (seenState.current === state) return;
    seenState.current = state;
    void inspect.refetch();
  }, [state, inspect]);
  // A log stream ends with its run. Once a new run is under way (a restart can be too quick
  // for any snapshot to show it stopped), follow again after the last line: once per run,
  // so a run that has ended too, before its snapshot says so, does not loop.
  const run = summary?.startedAt;
  const resumedFor = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (logs.phase !== 'ended' || state !== 'running' || !run || resumedFor.current === run) return;
    resumedFor.current = run;
    logs.resume();
  }, [logs, state, run]);
  // Health and restarts move without a state change; the record (and its raw JSON) follows them.
  const moved = `${summary?.health ?? ''}/${summary?.restartCount ?? ''}`;
  const seenMoved = useRef(moved);
  useEffect(() => {
    if (seenMoved.current === moved) return;
    seenMoved.current = moved;
    void inspect.refetch();
  }, [moved, inspect]);

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
  // A running container's newest word on its health is the live reading's; otherwise the record's.
  const fresh = readings.live?.id === record.id && readings.phase === 'live' ? readings.live : null;
  const health = fresh ? fresh.health : record.state.health;
  const restartCount = fresh?.restartCount ?? summary?.restartCount ?? record.restartCount;
  const policy = record.spec.restart;
  const tabs: Array<{ id: Tab; label: string }> = [
    { id: 'logs', label: 'Logs' },
    { id: 'inspect', label: 'Inspect' },
    ...(canOperate ? [{ id: 'terminal' as const, label: 'Terminal' }] : []),
  ];
  return (
    <div className="space-y-5">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <Link href={`/hosts/${hostId}`} className="text-sm text-sky-700 hover:underline">
            ← {host?.name ?? 'Host'}
          </Link>
          <h1 className="mt-1 flex items-center gap-3 text-xl font-semibold">
            <span data-testid="container-name">{record.name}</span>
            {state ? offline ? <LastSeenBadge state={state} /> : <StateBadge state={gone ? 'removed' : state} testId="container-state" /> : null}
            {health && !offline && !gone && state === 'running' ? <HealthBadge status={health.status} testId="container-health" /> : null}
          </h1>
          <p className="font-mono text-xs break-all text-slate-500">{record.id}</p>
          {summary ? <StatusLine summary={summary} asOf={offline ? lastSeenMs(host.lastSeen) : undefined} /> : null}
          {!gone ? (
            <UpdateStatus
              hostId={hostId}
              name={record.name}
              info={updates.infoOf(record.id)}
              job={job}
              canOperate={canOperate}
              disabled={!host?.online}
              onExpect={updates.expect}
              onUpdated={(id) => router.replace(`/hosts/${hostId}/containers/${id}`)}
            />
          ) : null}
        </div>
        {canOperate && !gone && state ? (
          <ContainerActions
            hostId={hostId}
            id={record.id}
            name={record.name}
            state={state}
            restartPolicy={policy.policy}
            full
            size="md"
            disabled={!host?.online}
            onRemoved={() => router.replace(`/hosts/${hostId}`)}
          />
        ) : null}
      </div>

      {offline ? <OfflineNotice lastSeen={host.lastSeen} /> : null}

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
          <Fact label="Restart policy" testId="container-restart-policy">
            {policy.policy + (policy.policy === 'on-failure' && policy.maxRetries ? ` (max ${policy.maxRetries})` : '')}
          </Fact>
          <Fact label="Restarts" testId="container-restart-count">{String(restartCount)}</Fact>
          <Fact label="OOM killed">{record.state.oomKilled ? 'yes' : 'no'}</Fact>
          <Fact label="Automatic updates" testId="container-auto-update">{autoUpdateText(summary?.autoUpdate)}</Fact>
        </dl>
        {record.state.error ? <ErrorText>{record.state.error}</ErrorText> : null}
      </section>

      {record.spec.health ? <ContainerHealth config={record.spec.health} state={health} running={state === 'running' || state === 'paused'} stale={offline} /> : null}

      <StatsCharts samples={readings.samples} phase={readings.phase} error={readings.error} hostMemory={host?.info?.memTotal} hostCpus={host?.info?.cpus} />

      <div>
        <div role="tablist" aria-label="Container details" className="mb-3 flex gap-1 border-b border-slate-200">
          {tabs.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`panel-${t.id}`}
              data-testid={`tab-${t.id}`}
              onClick={() => setTab(t.id)}
              className={`-mb-px border-b-2 px-3 py-1.5 text-sm font-medium ${tab === t.id ? 'border-sky-600 text-sky-700' : 'border-transparent text-slate-500 hover:text-slate-800'}`}
            >
              {t.label}
            </button>
          ))}
        </div>
        {/* Hidden, not unmounted: the log keeps its lines and its scroll position. */}
        <div role="tabpanel" id="panel-logs" aria-labelledby="tab-logs" hidden={tab !== 'logs'}>
          <LogDropped drops={summary?.logDropped ?? record.state.logDropped} />
          <LogPanel view={logs} sources={logSources} />
        </div>
        {tab === 'inspect' ? (
          <div role="tabpanel" id="panel-inspect" aria-labelledby="tab-inspect" className="grid items-start gap-5 lg:grid-cols-2">
            <section className="card p-4">
              <ContainerInspectView record={record} />
            </section>
            <RawJson value={record} />
          </div>
        ) : null}
        {tab === 'terminal' ? (
          <div role="tabpanel" id="panel-terminal" aria-labelledby="tab-terminal">
            <TerminalPanel hostId={hostId} containerId={record.id} running={state === 'running' && !gone} hostOnline={!!host?.online} />
          </div>
        ) : null}
      </div>
    </div>
  );
}

/** Ticks every second on its own, so the log below does not re-render with it; `asOf` stops the clock (the host is offline). */
function StatusLine({ summary, asOf }: { summary: ContainerSummary; asOf?: number }) {
  const now = useNow(1_000);
  return (
    <p className="text-sm text-slate-600" data-testid="container-status">
      {summaryStatus(summary, asOf ?? now)}
      {asOf !== undefined ? ' (when the host was last seen)' : ''}
    </p>
  );
}

/** Lines the container printed that its monitor could not write (a full disk): said, not lost silently. */
function LogDropped({ drops }: { drops: Array<{ afterSeq: number; count: number }> | undefined }) {
  if (!drops?.length) return null;
  return (
    <div className="mb-2 space-y-1">
      {drops.map((d) => (
        <p key={d.afterSeq} data-testid="log-dropped" data-after-seq={d.afterSeq} data-count={d.count} className="rounded-md bg-slate-900 px-3 py-1 font-mono text-xs text-amber-300">
          {d.count} {d.count === 1 ? 'line' : 'lines'} dropped: disk full{d.afterSeq ? '' : ' (before the first line kept)'}
        </p>
      ))}
    </div>
  );
}

/** Its own clock, like StatusLine, so "last seen … ago" moves without re-rendering the log. */
function OfflineNotice({ lastSeen }: { lastSeen: string | null }) {
  const now = useNow();
  return (
    <p className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="host-offline">
      This host is offline{lastSeen ? ` (last seen ${timeAgo(lastSeen, now)}, ${formatTime(lastSeen)})` : ''}. The state and the log below are
      as of when it was last seen; this page goes live again by itself when its agent reconnects.
    </p>
  );
}

/** The state the host last reported, marked as such: it may have changed since. */
function LastSeenBadge({ state }: { state: string }) {
  return (
    <span
      data-testid="container-state"
      data-state={state}
      data-stale="true"
      title="The host is offline: this is the state it last reported"
      className="inline-flex items-center gap-1.5 rounded-full bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600 ring-1 ring-slate-500/20 ring-inset"
    >
      <span aria-hidden className="h-1.5 w-1.5 rounded-full border border-slate-400" />
      last seen {state}
    </span>
  );
}

function lastSeenMs(iso: string | null): number | undefined {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? undefined : t;
}
