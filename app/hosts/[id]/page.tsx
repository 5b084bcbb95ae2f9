'use client';
import Link from 'next/link';
import { useParams, useRouter } from 'next/navigation';
import { useState } from 'react';
import { hasRole } from '../../../protocol/roles';
import { summaryStatus } from '../../../protocol/docker-words';
import { useConfirmation } from '../../components/confirm-dialog';
import { ContainerActions } from '../../components/container-actions';
import { DataTable } from '../../components/data-table';
import { CheckUpdatesButton, UpdateStatus, useHostUpdates } from '../../components/image-updates';
import { Field, Form } from '../../components/form';
import { ErrorText, Fact, Notice, Section, StateBadge } from '../../components/ui';
import { formatBytes, shortId, timeAgo } from '../../lib/format';
import { useHostWatch } from '../../lib/socket';
import { trpc } from '../../lib/trpc';
import { useNow } from '../../lib/use-now';
import { NetworksSection } from './networks';
import { PortLinks } from './port-links';
import { RunForm } from './run-form';
import { LogsSection } from './logs-section';
import { VolumesSection } from './volumes';
import { StacksSection } from './stacks-section';

export default function HostPage() {
  const { id: hostId } = useParams<{ id: string }>();
  const router = useRouter();
  const query = trpc.hosts.get.useQuery({ hostId });
  const { host: live } = useHostWatch(hostId);
  const host = live ?? query.data ?? null;
  const role = query.data?.role;
  const canOperate = hasRole(role, 'operator');
  const isAdmin = hasRole(role, 'admin');
  const revoke = trpc.hosts.revoke.useMutation({ onSuccess: () => router.replace('/') });
  const confirm = useConfirmation();
  const rotate = trpc.hosts.rotateCredential.useMutation();
  const [justPulled, setJustPulled] = useState('');
  const now = useNow();
  const updates = useHostUpdates(hostId, !!query.data && !!host?.online, host?.containers.map((c) => c.id).join(',') ?? '');

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
  // An offline host's containers are as it last reported them: their clocks stop there.
  const lastSeen = host.lastSeen ? Date.parse(host.lastSeen) : NaN;
  const asOf = !host.online && !Number.isNaN(lastSeen) ? lastSeen : now;
  return (
    <div className="space-y-5">
      {confirm.dialog}
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
          <div className="flex flex-wrap gap-2">
            <button
              type="button"
              className="btn-secondary"
              data-testid="host-rotate-credential"
              disabled={rotate.isPending || !host.online}
              title={host.online ? 'Give the agent a new credential; the old one stops working' : 'The host is offline: a credential is rotated over its live link'}
              onClick={() => rotate.mutate({ hostId })}
            >
              {rotate.isPending ? 'Rotating…' : 'Rotate credential'}
            </button>
            <button
              type="button"
              className="btn-danger"
              disabled={revoke.isPending}
              data-testid="host-revoke"
              onClick={() => confirm.ask({ title: `Revoke ${host.name}?`, body: 'Its agent is disconnected at once and must enrol again.', confirmLabel: 'Revoke', run: () => revoke.mutate({ hostId }) })}
            >
              Revoke host
            </button>
          </div>
        ) : null}
      </div>
      <ErrorText>{revoke.error?.message}</ErrorText>
      <ErrorText testId="host-rotate-error">{rotate.error?.message}</ErrorText>
      {rotate.isSuccess ? (
        <p className="text-sm text-emerald-700" data-testid="host-rotated">
          Credential rotated: the agent stored its new one, and the old one is refused from now on.
        </p>
      ) : null}

      {!host.online ? (
        <p className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="host-offline">
          This host is offline{host.lastSeen ? ` (last seen ${timeAgo(host.lastSeen, now)})` : ''}. Its containers and images below are
          as of when it was last seen, and actions will fail until its agent reconnects; this page goes live again by itself then.
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

      <HostLabels hostId={hostId} labels={query.data?.labels ?? {}} canEdit={isAdmin} />

      {canOperate ? (
        <div className="grid items-start gap-5 lg:grid-cols-2">
          <PullForm hostId={hostId} onPulled={setJustPulled} />
          <RunForm hostId={hostId} imageTags={host.images.flatMap((i) => i.repoTags)} suggestedImage={justPulled} />
        </div>
      ) : null}

      <Section title={`Containers (${host.containers.length})`} actions={canOperate ? <CheckUpdatesButton hostId={hostId} disabled={!host.online} /> : undefined}>
        <DataTable
          flush
          testId="containers-table"
          columns={['Name', 'Image', 'Command', 'State', 'Status', 'Ports', 'Created', { label: 'Actions', align: 'right' }]}
          empty={host.containers.length === 0 ? 'No containers.' : null}
        >
          {host.containers.map((c) => (
            <tr key={c.id} data-testid="container-row" data-container-id={c.id} data-container-name={c.name} className="align-top hover:bg-slate-50">
              <td className="px-4 py-2.5 font-medium">
                <Link href={`/hosts/${hostId}/containers/${c.id}`} className="text-sky-700 hover:underline">
                  {c.name}
                </Link>
                <div className="font-mono text-xs text-slate-400">{shortId(c.id)}</div>
              </td>
              <td className="px-4 py-2.5 text-slate-700">
                {c.image}
                <UpdateStatus hostId={hostId} name={c.name} info={updates.infoOf(c.id)} job={updates.jobOf(c.name)} canOperate={canOperate} disabled={!host.online} onExpect={updates.expect} />
              </td>
              <td className="max-w-xs truncate px-4 py-2.5 font-mono text-xs text-slate-600" title={c.command}>
                {c.command}
              </td>
              <td className="px-4 py-2.5">
                <StateBadge state={c.state} testId="container-state" />
              </td>
              <td className="px-4 py-2.5 text-slate-600">{summaryStatus(c, asOf)}</td>
              <td className="px-4 py-2.5" data-testid="container-ports">
                <PortLinks ports={c.ports} agentAddress={host.address} />
              </td>
              <td className="px-4 py-2.5 text-slate-600" title={c.created}>
                {timeAgo(c.created, now)}
              </td>
              <td className="px-4 py-2.5">
                {canOperate ? <ContainerActions hostId={hostId} id={c.id} name={c.name} state={c.state} disabled={!host.online} /> : null}
              </td>
            </tr>
          ))}
        </DataTable>
      </Section>

      <StacksSection host={host} />
      <LogsSection host={host} now={now} />

      <Section
        title={`Images (${host.images.length})`}
        actions={
          <Link href={`/hosts/${hostId}/images`} className="text-sm text-sky-700 hover:underline" data-testid="host-images-link">
            Images page: pull, push, save, load, history →
          </Link>
        }
      >
        <DataTable
          flush
          testId="images-table"
          columns={['Tags', 'ID', { label: 'Size', align: 'right' }, 'Created', { label: 'Actions', align: 'right' }]}
          empty={host.images.length === 0 ? 'No images. Pull one above.' : null}
        >
          {host.images.map((img) => (
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
          ))}
        </DataTable>
      </Section>

      <NetworksSection hostId={hostId} canOperate={canOperate} online={host.online} containers={host.containers} now={now} />

      <VolumesSection hostId={hostId} canOperate={canOperate} online={host.online} containers={host.containers} now={now} />
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

  return (
    <Section title="Pull image">
      <Form
        layout="row"
        testId="pull-form"
        onSubmit={() => pull.mutate({ hostId, ref: ref.trim() })}
        submitLabel="Pull"
        pendingLabel="Pulling…"
        pending={pull.isPending}
        canSubmit={!!ref.trim()}
        error={pull.error?.message}
        errorTestId="pull-error"
      >
        <Field
          id="pull-ref"
          label="Image reference"
          className="flex-1"
          inputClassName="font-mono"
          placeholder="registry.example.com/team/app:1.2"
          value={ref}
          onChange={(e) => setRef(e.target.value)}
          required
        />
      </Form>
      <Notice testId="pull-result">
        {pull.data && !pull.isPending
          ? `Pulled ${pull.data.repoTags.join(', ') || pull.variables?.ref} (${shortId(pull.data.id)})`
          : null}
      </Notice>
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

/** The host's labels as chips; an admin edits them as key=value lines (the fleet overview filters by them). */
function HostLabels({ hostId, labels, canEdit }: { hostId: string; labels: Record<string, string>; canEdit: boolean }) {
  const utils = trpc.useUtils();
  const [editing, setEditing] = useState<string | null>(null);
  const save = trpc.hosts.setLabels.useMutation({
    onSuccess: () => {
      setEditing(null);
      void utils.hosts.get.invalidate({ hostId });
    },
  });
  const entries = Object.entries(labels);
  if (!entries.length && !canEdit) return null;
  return (
    <section className="card flex flex-wrap items-center gap-2 px-4 py-2 text-sm" data-testid="host-labels">
      <span className="text-xs font-medium tracking-wide text-slate-500 uppercase">Labels</span>
      {editing === null ? (
        <>
          {entries.length ? (
            entries.map(([k, v]) => (
              <span key={k} className="rounded bg-slate-100 px-1.5 py-0.5 text-xs" data-testid="host-label">
                {v ? `${k}=${v}` : k}
              </span>
            ))
          ) : (
            <span className="text-xs text-slate-500">none</span>
          )}
          {canEdit ? (
            <button type="button" className="text-xs text-sky-700 underline" onClick={() => setEditing(entries.map(([k, v]) => (v ? `${k}=${v}` : k)).join('\n'))} data-testid="host-labels-edit">
              Edit
            </button>
          ) : null}
        </>
      ) : (
        <form
          className="flex w-full flex-wrap items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate({ hostId, labels: editing });
          }}
        >
          <label className="w-full text-xs text-slate-600 sm:w-96">
            One key=value per line
            <textarea className="input mt-1 h-20 font-mono" value={editing} onChange={(e) => setEditing(e.target.value)} data-testid="host-labels-input" />
          </label>
          <button type="submit" className="btn-primary" disabled={save.isPending} data-testid="host-labels-save">
            Save
          </button>
          <button type="button" className="btn-secondary" onClick={() => setEditing(null)}>
            Cancel
          </button>
          <ErrorText>{save.error?.message}</ErrorText>
        </form>
      )}
    </section>
  );
}
