'use client';
// One compose stack: its services with state, health, ports and replicas; the compose file
// and .env in editors checked as one types (problems by line); an upload; the plan of what a
// deploy would change, shown before it is applied; the operation under way (kept on the
// agent, so leaving the page and coming back finds it); the stack's merged logs; a terminal
// into any service; per-service restart. A stack started by another client is read-only.
import Link from 'next/link';
import { useParams, usePathname, useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useEffect, useMemo, useRef, useState } from 'react';
import { hasRole } from '../../../../../protocol/roles';
import type { ComposeIssueInfo, StackDetail, StackPlan } from '../../../../../protocol/stacks';
import { unifiedDiff } from '../../../../../protocol/unified-diff';
import { ConfirmDialog } from '../../../../components/confirm-dialog';
import { DataTable } from '../../../../components/data-table';
import { MergedLogs, type Candidate } from '../../../../components/logs/merged-logs';
import { TerminalPanel } from '../../../../components/terminal-panel';
import { ErrorText, Notice, Section, StateBadge } from '../../../../components/ui';
import { shortId } from '../../../../lib/format';
import { useHostWatch } from '../../../../lib/socket';
import { trpc } from '../../../../lib/trpc';
import { PortLinks } from '../../port-links';
import { stackState } from '../../stacks-section';
import { CodeEditor } from './code-editor';
import { GitSourceSection } from '../git-source';
import { StackUpdates } from './stack-updates';

const TEMPLATE = `services:
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "80"]
    ports:
      - "8080:80"
`;

export default function StackPage() {
  return (
    <Suspense>
      <StackPageInner />
    </Suspense>
  );
}

function StackPageInner() {
  const { id: hostId, name } = useParams<{ id: string; name: string }>();
  const params = useSearchParams();
  const hostQuery = trpc.hosts.get.useQuery({ hostId });
  const { host: live } = useHostWatch(hostId);
  const host = live ?? hostQuery.data ?? null;
  const canOperate = hasRole(hostQuery.data?.role, 'operator');
  const [fast, setFast] = useState(false);
  const get = trpc.stacks.get.useQuery({ hostId, name }, { retry: false, enabled: !!host?.online, refetchInterval: fast ? 700 : 3000 });
  const detail = get.data;
  const gitQuery = trpc.stackGit.get.useQuery({ hostId, name }, { retry: false, refetchInterval: 3000 });
  const git = gitQuery.data ?? null;
  const busy = !!detail?.operation && detail.operation.finishedAt === undefined;
  useEffect(() => setFast(busy), [busy]);
  // A refetch of a query with no data clears its error while it runs: "not found" is kept until an answer says otherwise.
  const [missing, setMissing] = useState(false);
  const notFound = get.error?.data?.code === 'NOT_FOUND';
  useEffect(() => {
    if (notFound) setMissing(true);
    else if (get.data) setMissing(false);
  }, [notFound, get.data]);

  if (hostQuery.error) return <ErrorText testId="host-error">{hostQuery.error.message}</ErrorText>;
  if (!host) return <p className="text-sm text-slate-500">Loading…</p>;
  return (
    <div className="space-y-5">
      <div>
        <Link href={`/hosts/${hostId}/stacks`} className="text-sm text-sky-700 hover:underline">
          ← Stacks on {host.name}
        </Link>
        <h1 className="mt-1 flex flex-wrap items-center gap-3 text-xl font-semibold">
          <span data-testid="stack-name">{name}</span>
          {detail ? (
            <span data-testid="stack-status" data-status={detail.status}>
              <StateBadge state={stackState(detail.status)} />
            </span>
          ) : null}
          {detail?.source === 'external' ? (
            <span className="rounded bg-slate-100 px-2 py-0.5 text-xs font-medium text-slate-600" data-testid="stack-external">
              external
            </span>
          ) : null}
        </h1>
        {detail ? (
          <p className="text-xs text-slate-500">
            {detail.status} · {detail.running}/{detail.containers} containers running{detail.workingDir ? ` · ${detail.workingDir}` : ''}
          </p>
        ) : null}
      </div>
      {!host.online ? (
        <p className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="host-offline">
          This host is offline: its stacks can be read and changed once its agent reconnects.
        </p>
      ) : null}
      {get.error && !notFound ? <ErrorText testId="stack-error">{get.error.message}</ErrorText> : null}
      {detail?.source === 'external' ? (
        <Notice testId="stack-external-note">
          This project was started by another client (docker-compose{detail.configFiles?.length ? ` with ${detail.configFiles.join(', ')}` : ''}). Its definition is not stored here: it can be
          stopped, started, restarted and taken down, not edited or redeployed.
        </Notice>
      ) : null}
      {detail && canOperate ? <StackActions hostId={hostId} name={name} detail={detail} busy={busy} onChanged={() => void get.refetch()} /> : null}
      {git ? (
        <GitSourceSection
          hostId={hostId}
          name={name}
          info={git}
          canOperate={canOperate}
          onChanged={() => {
            setFast(true);
            void gitQuery.refetch();
            void get.refetch();
          }}
        />
      ) : null}
      {detail?.operation ? <OperationPanel detail={detail} busy={busy} /> : null}
      {detail ? <ServicesSection hostId={hostId} name={name} detail={detail} canOperate={canOperate} online={host.online} agentAddress={host.address} onChanged={() => void get.refetch()} /> : null}
      {detail ? <StackUpdates hostId={hostId} name={name} detail={detail} canOperate={canOperate} online={host.online} onChanged={() => void get.refetch()} /> : null}
      {host.online && (detail?.source === 'berth' || missing) ? (
        <EditorSection
          // A Git stack's files change under the page: the editor shows what was deployed last.
          key={detail ? (git ? `git:${detail.compose ?? ''}:${detail.env ?? ''}` : 'existing') : 'new'}
          hostId={hostId}
          name={name}
          detail={detail}
          isNew={(missing || params?.get('new') === '1') && !git}
          canOperate={canOperate && !git && gitQuery.isSuccess}
          gitManaged={!!git}
          busy={busy}
          onDeployed={() => {
            setFast(true);
            void get.refetch();
          }}
        />
      ) : null}
      {detail && detail.serviceList.some((s) => s.containers.length) ? <StackLogs hostId={hostId} hostName={host.name} name={name} detail={detail} /> : null}
    </div>
  );
}

function StackActions({ hostId, name, detail, busy, onChanged }: { hostId: string; name: string; detail: StackDetail; busy: boolean; onChanged: () => void }) {
  const opts = { onSettled: onChanged };
  const start = trpc.stacks.start.useMutation(opts);
  const stop = trpc.stacks.stop.useMutation(opts);
  const restart = trpc.stacks.restart.useMutation(opts);
  const pull = trpc.stacks.pullRedeploy.useMutation(opts);
  const down = trpc.stacks.down.useMutation(opts);
  const [asking, setAsking] = useState(false);
  const [withVolumes, setWithVolumes] = useState(false);
  const pending = busy || start.isPending || stop.isPending || restart.isPending || pull.isPending || down.isPending;
  const error = start.error ?? stop.error ?? restart.error ?? pull.error ?? down.error;
  const none = !detail.containers;
  return (
    <section className="card p-4">
      <div className="flex flex-wrap gap-2" data-testid="stack-actions">
        <button type="button" className="btn-secondary" disabled={pending || none} data-testid="stack-start" onClick={() => start.mutate({ hostId, name })}>
          Start
        </button>
        <button type="button" className="btn-secondary" disabled={pending || none} data-testid="stack-stop" onClick={() => stop.mutate({ hostId, name })}>
          Stop
        </button>
        <button type="button" className="btn-secondary" disabled={pending || none} data-testid="stack-restart" onClick={() => restart.mutate({ hostId, name })}>
          Restart
        </button>
        {detail.source === 'berth' ? (
          <button type="button" className="btn-secondary" disabled={pending} data-testid="stack-pull-redeploy" onClick={() => pull.mutate({ hostId, name })}>
            Pull and redeploy
          </button>
        ) : null}
        <button type="button" className="btn-danger" disabled={pending || none} data-testid="stack-down" onClick={() => setAsking(true)}>
          Take down…
        </button>
      </div>
      <ErrorText testId="stack-action-error">{error?.message}</ErrorText>
      <ConfirmDialog
        open={asking}
        title={`Take ${name} down?`}
        confirmLabel="Take down"
        testId="stack-down-dialog"
        onCancel={() => setAsking(false)}
        onConfirm={() => {
          setAsking(false);
          down.mutate({ hostId, name, volumes: withVolumes });
        }}
      >
        <p>
          Its {detail.containers} container{detail.containers === 1 ? '' : 's'} and its networks are removed
          {detail.source === 'berth' ? '; the compose file and .env stay, so it can be deployed again.' : '.'}
        </p>
        <label className="mt-3 flex items-center gap-2 text-sm">
          <input type="checkbox" checked={withVolumes} onChange={(e) => setWithVolumes(e.target.checked)} data-testid="stack-down-volumes" />
          Remove its named volumes too (their data is lost)
        </label>
      </ConfirmDialog>
    </section>
  );
}

function OperationPanel({ detail, busy }: { detail: StackDetail; busy: boolean }) {
  const op = detail.operation!;
  return (
    <Section title={busy ? `${op.kind} under way…` : `Last operation: ${op.kind}${op.error ? ' (failed)' : ''}`}>
      <div data-testid="stack-operation" data-op-id={op.id} data-kind={op.kind} data-state={busy ? 'running' : op.error ? 'failed' : 'done'}>
        <ol className="max-h-60 overflow-auto font-mono text-xs text-slate-700">
          {op.steps.map((s, i) => (
            <li key={i} data-testid="stack-operation-step">
              <span className="text-slate-400">{new Date(s.at).toLocaleTimeString()} </span>
              {s.text}
            </li>
          ))}
        </ol>
        {op.error ? <ErrorText testId="stack-operation-error">{op.error}</ErrorText> : null}
      </div>
    </Section>
  );
}

function ServicesSection({
  hostId,
  name,
  detail,
  canOperate,
  online,
  agentAddress,
  onChanged,
}: {
  hostId: string;
  name: string;
  detail: StackDetail;
  canOperate: boolean;
  online: boolean;
  agentAddress: string | null;
  onChanged: () => void;
}) {
  const restart = trpc.stacks.restartService.useMutation({ onSettled: onChanged });
  const [terminal, setTerminal] = useState<string | null>(null);
  const termContainer = detail.serviceList.flatMap((s) => s.containers).find((c) => c.id === terminal);
  return (
    <Section title={`Services (${detail.serviceList.length})`}>
      <DataTable flush testId="stack-services" columns={['Service', 'Image', 'Replicas', 'Containers', 'Ports', { label: 'Actions', align: 'right' }]} empty={detail.serviceList.length ? null : 'No services.'}>
        {detail.serviceList.map((s) => (
          <tr key={s.name} data-testid="stack-service" data-service={s.name} className="align-top">
            <td className="px-4 py-2.5 font-medium">{s.name}</td>
            <td className="px-4 py-2.5 font-mono text-xs text-slate-700">{s.image}</td>
            <td className="px-4 py-2.5 tabular-nums" data-testid="stack-service-replicas">
              {s.containers.filter((c) => c.state === 'running').length}/{s.containers.length}
            </td>
            <td className="px-4 py-2.5">
              {s.containers.length ? (
                <ul className="space-y-1">
                  {s.containers.map((c) => (
                    <li key={c.id} className="flex flex-wrap items-center gap-2" data-testid="stack-container" data-container-id={c.id} data-container-name={c.name}>
                      <Link href={`/hosts/${hostId}/containers/${c.id}`} className="text-sky-700 hover:underline">
                        {c.name}
                      </Link>
                      <span className="font-mono text-xs text-slate-400">{shortId(c.id)}</span>
                      <StateBadge state={c.state} testId="stack-container-state" />
                      {c.health ? (
                        <span className="text-xs text-slate-600" data-testid="stack-container-health" data-health={c.health}>
                          {c.health}
                        </span>
                      ) : null}
                    </li>
                  ))}
                </ul>
              ) : (
                <span className="text-slate-400">not deployed</span>
              )}
            </td>
            <td className="px-4 py-2.5">
              <PortLinks ports={s.containers.flatMap((c) => c.ports ?? [])} agentAddress={agentAddress} />
            </td>
            <td className="px-4 py-2.5 text-right whitespace-nowrap">
              {s.containers[0] ? (
                <button type="button" className="btn-secondary mr-2 px-2 py-1 text-xs" data-testid="stack-service-terminal" onClick={() => setTerminal(terminal === s.containers[0].id ? null : s.containers[0].id)}>
                  {terminal === s.containers[0].id ? 'Close terminal' : 'Terminal'}
                </button>
              ) : null}
              {canOperate && s.containers.length ? (
                <button type="button" className="btn-secondary px-2 py-1 text-xs" data-testid="stack-service-restart" disabled={restart.isPending || !online} onClick={() => restart.mutate({ hostId, name, service: s.name })}>
                  Restart
                </button>
              ) : null}
            </td>
          </tr>
        ))}
      </DataTable>
      <ErrorText testId="stack-service-error">{restart.error?.message}</ErrorText>
      {termContainer ? (
        <div className="mt-4" data-testid="stack-terminal" data-container-id={termContainer.id}>
          <h3 className="mb-2 text-sm font-semibold text-slate-700">Terminal in {termContainer.name}</h3>
          <TerminalPanel hostId={hostId} containerId={termContainer.id} running={termContainer.state === 'running'} hostOnline={online} />
        </div>
      ) : null}
    </Section>
  );
}

function EditorSection({
  hostId,
  name,
  detail,
  isNew,
  canOperate,
  gitManaged,
  busy,
  onDeployed,
}: {
  hostId: string;
  name: string;
  detail: StackDetail | undefined;
  isNew: boolean;
  canOperate: boolean;
  gitManaged: boolean;
  busy: boolean;
  onDeployed: () => void;
}) {
  const utils = trpc.useUtils();
  const [compose, setCompose] = useState(detail?.compose ?? (isNew ? TEMPLATE : ''));
  const [env, setEnv] = useState(detail?.env ?? '');
  // The answer is kept with the text it is for: an answer for an older text is not shown as this one's.
  const [checked, setChecked] = useState<{ compose: string; env: string; issues: ComposeIssueInfo[] } | null>(null);
  const issues = checked && checked.compose === compose && checked.env === env ? checked.issues : null;
  const [checkError, setCheckError] = useState('');
  const [plan, setPlan] = useState<{ plan: StackPlan; compose: string; env: string } | null>(null);
  const [planError, setPlanError] = useState('');
  const [planning, setPlanning] = useState(false);
  const deploy = trpc.stacks.deploy.useMutation({ onSuccess: () => setPlan(null), onSettled: onDeployed });
  const seq = useRef(0);
  // Checked as one types, a moment after the last key, and only the latest answer counts.
  useEffect(() => {
    const n = ++seq.current;
    const t = setTimeout(() => {
      utils.client.stacks.validate
        .mutate({ hostId, name, compose, env })
        .then((r) => {
          if (n !== seq.current) return;
          setChecked({ compose, env, issues: r });
          setCheckError('');
        })
        .catch((e: Error) => n === seq.current && setCheckError(e.message));
    }, 350);
    return () => clearTimeout(t);
  }, [compose, env, hostId, name, utils]);
  // The last answer's lines stay marked while the next is on its way, so the gutter does not flicker as one types.
  const badLines = useMemo(() => new Set((checked?.issues ?? []).filter((i) => i.path !== '.env' && i.line).map((i) => i.line as number)), [checked]);
  const stale = plan && (plan.compose !== compose || plan.env !== env);
  const diff = plan ? unifiedDiff(detail?.compose ?? '', plan.compose, { from: detail?.compose === undefined ? '/dev/null' : 'compose.yaml (deployed)', to: 'compose.yaml (edited)' }) : '';

  async function review() {
    setPlanning(true);
    setPlanError('');
    try {
      setPlan({ plan: await utils.client.stacks.plan.mutate({ hostId, name, compose, env }), compose, env });
    } catch (e) {
      setPlan(null);
      setPlanError((e as Error).message);
    } finally {
      setPlanning(false);
    }
  }

  return (
    <Section
      title="Definition"
      actions={
        canOperate ? (
          <label className="cursor-pointer text-sm text-sky-700 hover:underline">
            Upload a compose file…
            <input
              type="file"
              accept=".yml,.yaml,application/yaml,text/yaml,text/plain"
              className="sr-only"
              data-testid="stack-upload"
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) void f.text().then(setCompose);
                e.target.value = '';
              }}
            />
          </label>
        ) : null
      }
    >
      {gitManaged ? (
        <Notice testId="stack-git-managed">This stack is Git-managed: its files are the repository&apos;s, shown here read-only as last deployed. Change them with a commit, or detach the stack from Git to edit it here.</Notice>
      ) : null}
      <div className="grid gap-4 lg:grid-cols-3">
        <div className="lg:col-span-2">
          <CodeEditor id="stack-compose" label="compose.yaml" value={compose} onChange={setCompose} badLines={badLines} readOnly={!canOperate} testId="stack-compose" />
        </div>
        <div>
          <CodeEditor id="stack-env" label=".env (variables for ${VAR} in the file; also usable as env_file: .env)" value={env} onChange={setEnv} readOnly={!canOperate} testId="stack-env" placeholder="TAG=1.2" />
        </div>
      </div>
      <div className="mt-3" data-testid="stack-validation" data-state={checkError ? 'error' : issues === null ? 'checking' : issues.length ? 'invalid' : 'valid'}>
        {checkError ? <ErrorText>{`cannot check the file: ${checkError}`}</ErrorText> : null}
        {issues && issues.length ? (
          <ul className="space-y-1 rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-700" role="alert">
            {issues.map((i, k) => (
              <li key={k} data-testid="stack-issue" data-line={i.line ?? ''}>
                {i.line ? <span className="font-mono">line {i.line}: </span> : null}
                {i.message}
              </li>
            ))}
          </ul>
        ) : issues ? (
          <p className="text-sm text-emerald-700">The file is valid for Berth.</p>
        ) : (
          <p className="text-sm text-slate-500">Checking…</p>
        )}
      </div>
      {canOperate ? (
        <div className="mt-4 flex flex-wrap gap-2">
          <button type="button" className="btn-primary" data-testid="stack-review" disabled={planning || busy || !issues || issues.length > 0} onClick={() => void review()}>
            {planning ? 'Working out the changes…' : 'Review changes'}
          </button>
        </div>
      ) : null}
      <ErrorText testId="stack-plan-error">{planError}</ErrorText>
      {plan ? (
        <div className="mt-4 space-y-3 rounded-md border border-sky-200 bg-sky-50 p-3" data-testid="stack-plan">
          <h3 className="text-sm font-semibold text-slate-800">What the deploy will do</h3>
          <table className="w-full text-sm">
            <tbody>
              {plan.plan.services.map((s) => (
                <tr key={`${s.service}-${s.action}`} data-testid="stack-plan-service" data-service={s.service} data-action={s.action}>
                  <td className="py-0.5 pr-4 font-medium">{s.service}</td>
                  <td className={`py-0.5 pr-4 font-mono ${s.action === 'unchanged' ? 'text-slate-500' : s.action === 'remove' ? 'text-red-700' : 'text-sky-800'}`}>{s.action}</td>
                  <td className="py-0.5 text-slate-600">{s.reason}</td>
                </tr>
              ))}
              {[...plan.plan.networks.map((n) => ({ ...n, kind: 'network' })), ...plan.plan.volumes.map((v) => ({ ...v, kind: 'volume' }))]
                .filter((x) => x.action === 'create')
                .map((x) => (
                  <tr key={`${x.kind}-${x.name}`} data-testid="stack-plan-resource">
                    <td className="py-0.5 pr-4">{x.kind} {x.name}</td>
                    <td className="py-0.5 pr-4 font-mono text-sky-800">create</td>
                    <td />
                  </tr>
                ))}
            </tbody>
          </table>
          {diff ? (
            <pre className="max-h-64 overflow-auto rounded bg-white p-2 font-mono text-xs" data-testid="stack-plan-diff">
              {diff.split('\n').map((l, i) => (
                <span key={i} className={l.startsWith('+') && !l.startsWith('+++') ? 'block text-emerald-700' : l.startsWith('-') && !l.startsWith('---') ? 'block text-red-700' : 'block text-slate-600'}>
                  {l || ' '}
                </span>
              ))}
            </pre>
          ) : (
            <p className="text-xs text-slate-600">The compose file is as deployed{plan.env !== (detail?.env ?? '') ? '; the .env changed' : ''}.</p>
          )}
          {stale ? <p className="text-sm text-amber-800">The text changed since this plan was made: review again before deploying.</p> : null}
          <div className="flex gap-2">
            <button type="button" className="btn-primary" data-testid="stack-deploy" disabled={!!stale || deploy.isPending || busy} onClick={() => deploy.mutate({ hostId, name, compose: plan.compose, env: plan.env })}>
              {deploy.isPending ? 'Deploying…' : 'Deploy'}
            </button>
            <button type="button" className="btn-secondary" onClick={() => setPlan(null)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
      <ErrorText testId="stack-deploy-error">{deploy.error?.message}</ErrorText>
      {deploy.isSuccess && !plan ? <Notice testId="stack-deployed">Deployed.</Notice> : null}
    </Section>
  );
}

function StackLogs({ hostId, hostName, name, detail }: { hostId: string; hostName: string; name: string; detail: StackDetail }) {
  const params = useSearchParams();
  const router = useRouter();
  const path = usePathname();
  const chosen = !!(params?.get('project') || params?.getAll('s').length);
  // The stack's own containers are what the view opens with (kept in the URL, as the log view keeps its choice).
  useEffect(() => {
    if (!chosen) router.replace(`${path}?project=${encodeURIComponent(name)}`, { scroll: false });
  }, [chosen, name, path, router]);
  const candidates = useMemo<Candidate[]>(
    () => detail.serviceList.flatMap((s) => s.containers.map((c) => ({ hostId, containerId: c.id, name: c.name, hostName, state: c.state, project: name }))),
    [detail, hostId, hostName, name],
  );
  if (!chosen) return null;
  return (
    <section className="space-y-2" data-testid="stack-logs">
      <h2 className="text-sm font-semibold text-slate-800">Logs of the stack</h2>
      <MergedLogs candidates={candidates} title={name} />
    </section>
  );
}
