'use client';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { useEffect, useState, type FormEvent } from 'react';
import { ContainerActions } from '../../components/container-actions';
import { ErrorText, Fact, Notice, Section, StateBadge } from '../../components/ui';
import { containerStatus, formatBytes, shortId, timeAgo } from '../../lib/format';
import { useHostWatch } from '../../lib/socket';
import { trpc } from '../../lib/trpc';
import { useNow } from '../../lib/use-now';

const OPERATORS = ['owner', 'admin', 'operator'];
const ADMINS = ['owner', 'admin'];

export default function HostPage() {
  const { id: hostId } = useParams<{ id: string }>();
  const router = useRouter();
  const query = trpc.hosts.get.useQuery({ hostId });
  const { host: live } = useHostWatch(hostId);
  const host = live ?? query.data ?? null;
  const role = query.data?.role;
  const canOperate = role !== undefined && OPERATORS.includes(role);
  const isAdmin = role !== undefined && ADMINS.includes(role);
  const revoke = trpc.hosts.revoke.useMutation({ onSuccess: () => router.replace('/') });
  const [justPulled, setJustPulled] = useState('');
  const now = useNow();

  if (query.error) {
    return (
      <div className="space-y-3">
        <Link href="/" className="text-sm text-sky-700 hover:underline">
          ← Hosts
        </Link>
        <ErrorText testId="host-error">{query.error.message}</ErrorText>
      </div>
    );
  }
  if (!host) return <p className="text-sm text-slate-500">Loading…</p>;

  const info = host.info;
  return (
    <div className="space-y-5">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <Link href="/" className="text-sm text-sky-700 hover:underline">
            ← Hosts
          </Link>
          <h1 className="mt-1 flex items-center gap-3 text-xl font-semibold">
            <span data-testid="host-name">{host.name}</span>
            <StateBadge state={host.online ? 'online' : 'offline'} testId="host-status" />
          </h1>
          {role ? <p className="text-xs text-slate-500">Your role here: {role}</p> : null}
        </div>
        {isAdmin ? (
          <button
            type="button"
            className="btn-danger"
            disabled={revoke.isPending}
            onClick={() => {
              if (confirm(`Revoke ${host.name}? Its agent is disconnected at once and must enrol again.`)) revoke.mutate({ hostId });
            }}
          >
            Revoke host
          </button>
        ) : null}
      </div>
      <ErrorText>{revoke.error?.message}</ErrorText>

      {!host.online ? (
        <p className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="host-offline">
          This host is offline{host.lastSeen ? ` (last seen ${timeAgo(host.lastSeen, now)})` : ''}. Actions will fail until its
          agent reconnects.
        </p>
      ) : null}

      <section className="card p-4">
        <dl className="grid grid-cols-2 gap-4 sm:grid-cols-4 lg:grid-cols-8" data-testid="host-facts">
          <Fact label="Hostname" testId="fact-hostname">{info?.hostname ?? '—'}</Fact>
          <Fact label="OS">{info?.os ?? '—'}</Fact>
          <Fact label="Kernel">{info?.kernel ?? '—'}</Fact>
          <Fact label="Arch">{info?.arch ?? '—'}</Fact>
          <Fact label="CPUs">{info ? String(info.cpus) : '—'}</Fact>
          <Fact label="Memory">{info ? formatBytes(info.memTotal) : '—'}</Fact>
          <Fact label="Engine">{info ? `${info.engineVersion} (API ${info.apiVersion})` : '—'}</Fact>
          <Fact label="cgroups">{info ? `v${info.cgroupVersion}` : '—'}</Fact>
        </dl>
      </section>

      {canOperate ? (
        <div className="grid items-start gap-5 lg:grid-cols-2">
          <PullForm hostId={hostId} onPulled={setJustPulled} />
          <RunForm hostId={hostId} imageTags={host.images.flatMap((i) => i.repoTags)} suggestedImage={justPulled} />
        </div>
      ) : null}

      <Section title={`Containers (${host.containers.length})`}>
        <div className="-m-4 overflow-x-auto">
          <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid="containers-table">
            <thead className="bg-slate-50 text-left text-xs font-medium tracking-wide text-slate-500 uppercase">
              <tr>
                <th className="px-4 py-2">Name</th>
                <th className="px-4 py-2">Image</th>
                <th className="px-4 py-2">Command</th>
                <th className="px-4 py-2">State</th>
                <th className="px-4 py-2">Status</th>
                <th className="px-4 py-2">Created</th>
                <th className="px-4 py-2 text-right">Actions</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {host.containers.length === 0 ? (
                <tr>
                  <td colSpan={7} className="px-4 py-6 text-center text-slate-500">
                    No containers.
                  </td>
                </tr>
              ) : (
                host.containers.map((c) => (
                  <tr key={c.id} data-testid="container-row" data-container-id={c.id} data-container-name={c.name} className="align-top hover:bg-slate-50">
                    <td className="px-4 py-2.5 font-medium">
                      <Link href={`/hosts/${hostId}/containers/${c.id}`} className="text-sky-700 hover:underline">
                        {c.name}
                      </Link>
                      <div className="font-mono text-xs text-slate-400">{shortId(c.id)}</div>
                    </td>
                    <td className="px-4 py-2.5 text-slate-700">{c.image}</td>
                    <td className="max-w-xs truncate px-4 py-2.5 font-mono text-xs text-slate-600" title={c.command}>
                      {c.command}
                    </td>
                    <td className="px-4 py-2.5">
                      <StateBadge state={c.state} testId="container-state" />
                    </td>
                    <td className="px-4 py-2.5 text-slate-600">{containerStatus(c, now)}</td>
                    <td className="px-4 py-2.5 text-slate-600" title={c.created}>
                      {timeAgo(c.created, now)}
                    </td>
                    <td className="px-4 py-2.5">
                      {canOperate ? <ContainerActions hostId={hostId} id={c.id} state={c.state} disabled={!host.online} /> : null}
                    </td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      </Section>

      <Section title={`Images (${host.images.length})`}>
        <div className="-m-4 overflow-x-auto">
          <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid="images-table">
            <thead className="bg-slate-50 text-left text-xs font-medium tracking-wide text-slate-500 uppercase">
              <tr>
                <th className="px-4 py-2">Tags</th>
                <th className="px-4 py-2">ID</th>
                <th className="px-4 py-2 text-right">Size</th>
                <th className="px-4 py-2">Created</th>
                <th className="px-4 py-2 text-right">Actions</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {host.images.length === 0 ? (
                <tr>
                  <td colSpan={5} className="px-4 py-6 text-center text-slate-500">
                    No images. Pull one above.
                  </td>
                </tr>
              ) : (
                host.images.map((img) => (
                  <tr key={img.id} data-testid="image-row" data-image-id={img.id} className="hover:bg-slate-50">
                    <td className="px-4 py-2.5">
                      {img.repoTags.length ? img.repoTags.join(', ') : <span className="text-slate-400">&lt;none&gt;</span>}
                    </td>
                    <td className="px-4 py-2.5 font-mono text-xs text-slate-600">{shortId(img.id)}</td>
                    <td className="px-4 py-2.5 text-right tabular-nums">{formatBytes(img.size)}</td>
                    <td className="px-4 py-2.5 text-slate-600" title={img.created}>
                      {timeAgo(img.created, now)}
                    </td>
                    <td className="px-4 py-2.5 text-right">
                      {canOperate ? <RemoveImage hostId={hostId} refOrId={img.repoTags[0] ?? img.id} disabled={!host.online} /> : null}
                    </td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </div>
      </Section>
    </div>
  );
}

function PullForm({ hostId, onPulled }: { hostId: string; onPulled: (ref: string) => void }) {
  const utils = trpc.useUtils();
  const [ref, setRef] = useState('');
  const pull = trpc.images.pull.useMutation({
    onSuccess: (img, vars) => onPulled(img.repoTags[0] ?? vars.ref),
    onSettled: () => void utils.hosts.get.invalidate({ hostId }),
  });

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    pull.mutate({ hostId, ref: ref.trim() });
  }

  return (
    <Section title="Pull image">
      <form onSubmit={onSubmit} className="flex items-end gap-3" data-testid="pull-form">
        <div className="flex-1">
          <label htmlFor="pull-ref" className="label">
            Image reference
          </label>
          <input
            id="pull-ref"
            className="input font-mono"
            placeholder="registry.example.com/team/app:1.2"
            value={ref}
            onChange={(e) => setRef(e.target.value)}
            required
          />
        </div>
        <button type="submit" className="btn-primary" disabled={pull.isPending || !ref.trim()}>
          {pull.isPending ? 'Pulling…' : 'Pull'}
        </button>
      </form>
      <ErrorText testId="pull-error">{pull.error?.message}</ErrorText>
      <Notice testId="pull-result">
        {pull.data && !pull.isPending
          ? `Pulled ${pull.data.repoTags.join(', ') || pull.variables?.ref} (${shortId(pull.data.id)})`
          : null}
      </Notice>
    </Section>
  );
}

function RunForm({ hostId, imageTags, suggestedImage }: { hostId: string; imageTags: string[]; suggestedImage: string }) {
  const utils = trpc.useUtils();
  const [image, setImage] = useState('');
  // What was just pulled is most likely what runs next; never overwrite what the user typed.
  useEffect(() => {
    if (suggestedImage) setImage((cur) => cur || suggestedImage);
  }, [suggestedImage]);
  const [command, setCommand] = useState('');
  const [name, setName] = useState('');
  const [memory, setMemory] = useState('');
  const run = trpc.containers.run.useMutation({ onSettled: () => void utils.hosts.get.invalidate({ hostId }) });

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    run.mutate({
      hostId,
      image: image.trim(),
      command: command.trim() || undefined,
      name: name.trim() || undefined,
      memory: memory.trim() || undefined,
    });
  }

  return (
    <Section title="Run container">
      <form onSubmit={onSubmit} className="grid grid-cols-2 gap-3" data-testid="run-form">
        <div className="col-span-2">
          <label htmlFor="run-image" className="label">
            Image
          </label>
          <input
            id="run-image"
            className="input font-mono"
            list="run-image-options"
            placeholder="busybox:latest"
            value={image}
            onChange={(e) => setImage(e.target.value)}
            required
          />
          <datalist id="run-image-options">
            {imageTags.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </div>
        <div className="col-span-2">
          <label htmlFor="run-command" className="label">
            Command
          </label>
          <input
            id="run-command"
            className="input font-mono"
            placeholder={`sh -c 'echo hello'`}
            value={command}
            onChange={(e) => setCommand(e.target.value)}
          />
        </div>
        <div>
          <label htmlFor="run-name" className="label">
            Name
          </label>
          <input id="run-name" className="input" placeholder="optional" value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <label htmlFor="run-memory" className="label">
            Memory limit
          </label>
          <input id="run-memory" className="input" placeholder="e.g. 64m, 1g" value={memory} onChange={(e) => setMemory(e.target.value)} />
        </div>
        <div className="col-span-2 flex justify-end">
          <button type="submit" className="btn-primary" disabled={run.isPending || !image.trim()}>
            {run.isPending ? 'Starting…' : 'Run'}
          </button>
        </div>
      </form>
      <ErrorText testId="run-error">{run.error?.message}</ErrorText>
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

function RemoveImage({ hostId, refOrId, disabled }: { hostId: string; refOrId: string; disabled: boolean }) {
  const utils = trpc.useUtils();
  const remove = trpc.images.remove.useMutation({ onSettled: () => void utils.hosts.get.invalidate({ hostId }) });
  return (
    <div>
      <button
        type="button"
        className="btn-danger px-2 py-1 text-xs"
        disabled={disabled || remove.isPending}
        onClick={() => remove.mutate({ hostId, ref: refOrId })}
        data-testid="image-remove"
      >
        {remove.isPending ? 'Removing…' : 'Remove'}
      </button>
      {remove.error ? (
        <div className="text-left">
          <ErrorText testId="image-remove-error">{remove.error.message}</ErrorText>
        </div>
      ) : null}
    </div>
  );
}
