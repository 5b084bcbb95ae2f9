'use client';
// The host page's Run form: image, command, name and memory, then rows of published ports
// (-p), volumes and bind mounts, the network, environment variables, the restart policy and a
// healthcheck.
// The rows are checked with the same schema the control plane checks them with again
// (protocol/run-form.ts): a form with problems is not sent, and each problem is listed
// with the row and field it is about, which is marked too. A row added and left blank is
// a problem like any other (its ✕ takes it away), so nothing typed is ever dropped unseen.
import Link from 'next/link';
import { useEffect, useState, type ReactNode } from 'react';
import { RESTART_POLICIES, type PortProtocol, type RestartPolicyName } from '../../../protocol/container';
import { blankHealth, emptyRunOptions, runOptionsProblems, type EnvRow, type MountRow, type PortRow, type RunOptions } from '../../../protocol/run-form';
import { Field, Form } from '../../components/form';
import { Notice, Section } from '../../components/ui';
import { shortId } from '../../lib/format';
import { trpc } from '../../lib/trpc';

const blankPort = (): PortRow => ({ hostIp: '', hostPort: '', containerPort: '', protocol: 'tcp' });
const blankMount = (): MountRow => ({ source: '', target: '', readOnly: false });
const blankEnv = (): EnvRow => ({ key: '', value: '' });

/** The healthcheck's settings besides its command, with Docker's defaults as placeholders. */
const HEALTH_TIMINGS = [
  ['interval', 'Interval', '30s'],
  ['timeout', 'Timeout', '30s'],
  ['startPeriod', 'Start period', '0s'],
  ['retries', 'Retries', '3'],
] as const;

export function RunForm({ hostId, imageTags, suggestedImage }: { hostId: string; imageTags: string[]; suggestedImage: string }) {
  const utils = trpc.useUtils();
  const [image, setImage] = useState('');
  // What was just pulled is most likely what runs next; never overwrite what the user typed.
  useEffect(() => {
    if (suggestedImage) setImage((cur) => cur || suggestedImage);
  }, [suggestedImage]);
  const [command, setCommand] = useState('');
  const [name, setName] = useState('');
  const [memory, setMemory] = useState('');
  const [options, setOptions] = useState<RunOptions>(emptyRunOptions);
  // Problems show once a send was tried, and then follow every change.
  const [tried, setTried] = useState(false);
  const networks = trpc.networks.list.useQuery({ hostId }, { retry: false });
  const volumes = trpc.volumes.list.useQuery({ hostId }, { retry: false });
  const run = trpc.containers.run.useMutation({ onSettled: () => void utils.hosts.get.invalidate({ hostId }) });

  const health = options.health ?? blankHealth();
  const problems = runOptionsProblems(options);
  const shown = tried ? problems : [];
  const bad = new Set(shown.map((p) => p.key));
  const set = (patch: Partial<RunOptions>) => setOptions((o) => ({ ...o, ...patch }));
  const row = <K extends 'ports' | 'mounts' | 'env'>(list: K, i: number, patch: Partial<RunOptions[K][number]>) =>
    setOptions((o) => ({ ...o, [list]: o[list].map((r, j) => (j === i ? { ...r, ...patch } : r)) }));
  const drop = (list: 'ports' | 'mounts' | 'env', i: number) => setOptions((o) => ({ ...o, [list]: o[list].filter((_, j) => j !== i) }));
  const marked = (key: string) => (bad.has(key) ? 'border-red-400 ring-2 ring-red-300/40' : '');
  const invalid = (key: string) => ({ ...(bad.has(key) ? { 'aria-invalid': true as const } : {}), className: `input ${marked(key)}`.trim() });
  // The same marks on a Field, whose input has the "input" class already.
  const invalidField = (key: string, extra = '') => ({ ...(bad.has(key) ? { 'aria-invalid': true as const } : {}), inputClassName: `${marked(key)} ${extra}`.trim() || undefined });

  return (
    <Section title="Run container">
      <Form
        testId="run-form"
        onSubmit={() => {
          setTried(true);
          if (problems.length) return;
          run.mutate({
            hostId,
            image: image.trim(),
            command: command.trim() || undefined,
            name: name.trim() || undefined,
            memory: memory.trim() || undefined,
            options,
          });
        }}
        submitLabel="Run"
        pendingLabel="Starting…"
        pending={run.isPending}
        canSubmit={!!image.trim()}
        error={run.error?.message}
        errorTestId="run-error"
      >
        <div className="grid grid-cols-2 gap-3">
          <Field
            id="run-image"
            label="Image"
            className="col-span-2"
            inputClassName="font-mono"
            list="run-image-options"
            placeholder="busybox:latest"
            value={image}
            onChange={(e) => setImage(e.target.value)}
            required
          >
            <datalist id="run-image-options">
              {imageTags.map((t) => (
                <option key={t} value={t} />
              ))}
            </datalist>
          </Field>
          <Field
            id="run-command"
            label="Command"
            className="col-span-2"
            inputClassName="font-mono"
            placeholder={`sh -c 'echo hello'`}
            value={command}
            onChange={(e) => setCommand(e.target.value)}
          />
          <Field id="run-name" label="Name" placeholder="optional" value={name} onChange={(e) => setName(e.target.value)} />
          <Field id="run-memory" label="Memory limit" placeholder="e.g. 64m, 1g" value={memory} onChange={(e) => setMemory(e.target.value)} />
          <div>
            <label htmlFor="run-network" className="label">
              Network
            </label>
            <select id="run-network" {...invalid('network')} value={options.network} onChange={(e) => set({ network: e.target.value })}>
              <option value="">default (bridge)</option>
              {(networks.data ?? []).map((n) => (
                <option key={n.id} value={n.name}>
                  {n.name}
                  {n.subnet ? ` (${n.subnet})` : n.builtin ? ` (${n.driver})` : ''}
                </option>
              ))}
            </select>
          </div>
          <div className="flex gap-2">
            <div className="flex-1">
              <label htmlFor="run-restart" className="label">
                Restart policy
              </label>
              <select
                id="run-restart"
                className="input"
                value={options.restart.policy}
                onChange={(e) => set({ restart: { policy: e.target.value as RestartPolicyName, maxRetries: e.target.value === 'on-failure' ? options.restart.maxRetries : '' } })}
              >
                {RESTART_POLICIES.map((p) => (
                  <option key={p} value={p}>
                    {p}
                  </option>
                ))}
              </select>
            </div>
            {options.restart.policy === 'on-failure' ? (
              <div className="w-28">
                <label htmlFor="run-max-retries" className="label">
                  Max retries
                </label>
                <input id="run-max-retries" {...invalid('restart.maxRetries')} inputMode="numeric" placeholder="0: no limit" value={options.restart.maxRetries} onChange={(e) => set({ restart: { ...options.restart, maxRetries: e.target.value } })} />
              </div>
            ) : null}
          </div>
          <div className="col-span-2 grid grid-cols-2 gap-3 sm:grid-cols-4">
            <Field
              id="run-health-command"
              label="Healthcheck command"
              className="col-span-2 sm:col-span-4"
              {...invalidField('health.command', 'font-mono')}
              placeholder="blank: the image's, if it has one (e.g. wget -q -O- http://localhost/)"
              value={health.command}
              onChange={(e) => set({ health: { ...health, command: e.target.value } })}
            />
            {/* Its timings once there is something to time. */}
            {Object.values(health).some((v) => v.trim())
              ? HEALTH_TIMINGS.map(([k, label, placeholder]) => (
                  <Field key={k} id={`run-health-${k}`} label={label} {...invalidField(`health.${k}`)} inputMode={k === 'retries' ? 'numeric' : undefined} placeholder={placeholder} value={health[k]} onChange={(e) => set({ health: { ...health, [k]: e.target.value } })} />
                ))
              : null}
          </div>
        </div>

        <Rows title="Ports" testId="run-ports" count={options.ports.length} addLabel="Add port" onAdd={() => set({ ports: [...options.ports, blankPort()] })} empty="None published.">
          {options.ports.map((p, i) => (
            <div key={i} className="flex items-center gap-2" data-testid="run-port-row">
              <input aria-label={`Port ${i + 1} host IP`} placeholder="host IP (all)" {...invalid(`ports.${i}.hostIp`)} value={p.hostIp} onChange={(e) => row('ports', i, { hostIp: e.target.value })} />
              <input aria-label={`Port ${i + 1} host port`} placeholder="host port (free)" inputMode="numeric" {...invalid(`ports.${i}.hostPort`)} value={p.hostPort} onChange={(e) => row('ports', i, { hostPort: e.target.value })} />
              <span aria-hidden className="text-slate-400">
                →
              </span>
              <input aria-label={`Port ${i + 1} container port`} placeholder="container port" inputMode="numeric" {...invalid(`ports.${i}.containerPort`)} value={p.containerPort} onChange={(e) => row('ports', i, { containerPort: e.target.value })} />
              <select aria-label={`Port ${i + 1} protocol`} className="input w-24" value={p.protocol} onChange={(e) => row('ports', i, { protocol: e.target.value as PortProtocol })}>
                <option value="tcp">tcp</option>
                <option value="udp">udp</option>
              </select>
              <RemoveRow label={`Remove port ${i + 1}`} onClick={() => drop('ports', i)} />
            </div>
          ))}
        </Rows>

        <Rows title="Volumes and bind mounts" testId="run-mounts" count={options.mounts.length} addLabel="Add mount" onAdd={() => set({ mounts: [...options.mounts, blankMount()] })} empty="None.">
          <datalist id="run-volume-names">
            {(volumes.data ?? []).filter((v) => !('com.docker.volume.anonymous' in v.labels)).map((v) => (
              <option key={v.name} value={v.name} />
            ))}
          </datalist>
          {options.mounts.map((m, i) => (
            <div key={i} className="flex items-center gap-2" data-testid="run-mount-row">
              <input
                aria-label={`Mount ${i + 1} source`}
                placeholder="volume name or /host/path"
                list="run-volume-names"
                {...invalid(`mounts.${i}.source`)}
                value={m.source}
                onChange={(e) => row('mounts', i, { source: e.target.value })}
              />
              <span aria-hidden className="text-slate-400">
                →
              </span>
              <input aria-label={`Mount ${i + 1} container path`} placeholder="/container/path" {...invalid(`mounts.${i}.target`)} value={m.target} onChange={(e) => row('mounts', i, { target: e.target.value })} />
              <label className="flex items-center gap-1 text-xs whitespace-nowrap text-slate-600">
                <input type="checkbox" aria-label={`Mount ${i + 1} read-only`} checked={m.readOnly} onChange={(e) => row('mounts', i, { readOnly: e.target.checked })} />
                read-only
              </label>
              <RemoveRow label={`Remove mount ${i + 1}`} onClick={() => drop('mounts', i)} />
            </div>
          ))}
        </Rows>

        <Rows title="Environment" testId="run-env" count={options.env.length} addLabel="Add variable" onAdd={() => set({ env: [...options.env, blankEnv()] })} empty="Only the image's.">
          {options.env.map((e, i) => (
            <div key={i} className="flex items-center gap-2" data-testid="run-env-row">
              <input aria-label={`Variable ${i + 1} name`} placeholder="KEY" {...invalid(`env.${i}.key`)} value={e.key} onChange={(ev) => row('env', i, { key: ev.target.value })} />
              <span aria-hidden className="text-slate-400">
                =
              </span>
              <input aria-label={`Variable ${i + 1} value`} placeholder="value" className="input" value={e.value} onChange={(ev) => row('env', i, { value: ev.target.value })} />
              <RemoveRow label={`Remove variable ${i + 1}`} onClick={() => drop('env', i)} />
            </div>
          ))}
        </Rows>

        {shown.length ? (
          <div role="alert" data-testid="run-invalid" className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-700">
            <p className="font-medium">Not sent: fix {shown.length === 1 ? 'this' : `these ${shown.length}`} first.</p>
            <ul className="mt-1 list-disc pl-5">
              {shown.map((p) => (
                <li key={`${p.key} ${p.message}`} data-testid="run-problem" data-key={p.key}>
                  {p.message}
                </li>
              ))}
            </ul>
          </div>
        ) : null}
      </Form>
      {run.data && !run.isPending ? (
        <Notice testId="run-result">
          Started{' '}
          <Link className="font-mono underline" href={`/hosts/${hostId}/containers/${run.data.id}`}>
            {shortId(run.data.id)}
          </Link>
        </Notice>
      ) : null}
    </Section>
  );
}

function Rows({ title, testId, count, addLabel, onAdd, empty, children }: { title: string; testId: string; count: number; addLabel: string; onAdd: () => void; empty: string; children: ReactNode }) {
  return (
    <fieldset className="space-y-2" data-testid={testId}>
      <div className="flex items-center justify-between">
        <legend className="label mb-0">{title}</legend>
        <button type="button" className="btn-secondary px-2 py-0.5 text-xs" onClick={onAdd}>
          {addLabel}
        </button>
      </div>
      {children}
      {count ? null : <p className="text-xs text-slate-400">{empty}</p>}
    </fieldset>
  );
}

function RemoveRow({ label, onClick }: { label: string; onClick: () => void }) {
  return (
    <button type="button" className="btn-secondary shrink-0 px-2 py-1 text-xs" aria-label={label} title={label} onClick={onClick}>
      ✕
    </button>
  );
}
