'use client';
// The host's volumes: a table (name, labels, driver options, who uses each, when made) with
// Inspect, Remove (asked first) and Prune (asked first), and a form to create one. Volumes
// are not in the host's snapshot, so the list is asked of the agent, again whenever the
// host's containers change (that is when a volume starts or stops being in use).
import Link from 'next/link';
import { useEffect, useState } from 'react';
import type { VolumeInfo } from '../../../protocol/agent-link';
import { ConfirmDialog } from '../../components/confirm-dialog';
import { DataTable } from '../../components/data-table';
import { Field, Form } from '../../components/form';
import { ErrorText, Notice, Section } from '../../components/ui';
import { formatBytes, shortId, timeAgo } from '../../lib/format';
import { trpc } from '../../lib/trpc';

const pairs = (m: Record<string, string>) =>
  Object.entries(m)
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .join(', ');

export function VolumesSection({
  hostId,
  canOperate,
  online,
  containers,
  now,
}: {
  hostId: string;
  canOperate: boolean;
  online: boolean;
  /** The host's containers, for the names of a volume's users and to notice when those change. */
  containers: Array<{ id: string; name: string; state: string }>;
  now: number;
}) {
  const utils = trpc.useUtils();
  const list = trpc.volumes.list.useQuery({ hostId }, { enabled: online, retry: false });
  const changed = containers.map((c) => `${c.id}:${c.state}`).join(',');
  useEffect(() => {
    void utils.volumes.list.invalidate({ hostId });
  }, [changed, hostId, utils]);
  const [open, setOpen] = useState<string | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [pruning, setPruning] = useState(false);
  const refresh = () => void utils.volumes.list.invalidate({ hostId });
  const remove = trpc.volumes.remove.useMutation({ onSettled: refresh });
  const prune = trpc.volumes.prune.useMutation({ onSettled: refresh });
  const names = new Map(containers.map((c) => [c.id, c.name]));
  const volumes = list.data ?? [];

  return (
    <Section
      title={`Volumes (${list.data ? volumes.length : '…'})`}
      actions={
        canOperate ? (
          <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={!online || prune.isPending} onClick={() => setPruning(true)} data-testid="volumes-prune">
            {prune.isPending ? 'Pruning…' : 'Prune unused'}
          </button>
        ) : null
      }
    >
      {canOperate ? <CreateVolume hostId={hostId} disabled={!online} onCreated={refresh} /> : null}
      <ErrorText testId="volumes-error">{list.error?.message ?? remove.error?.message ?? prune.error?.message}</ErrorText>
      <Notice testId="volumes-pruned">
        {prune.data && !prune.isPending ? `Pruned ${prune.data.deleted.length} volume${prune.data.deleted.length === 1 ? '' : 's'}, ${formatBytes(prune.data.reclaimed)} reclaimed` : null}
      </Notice>
      <div className={canOperate ? 'mt-4' : ''}>
        <DataTable
          testId="volumes-table"
          columns={['Name', 'Labels', 'Options', 'In use by', 'Created', { label: 'Actions', align: 'right' }]}
          loading={online && list.isLoading}
          empty={!online ? 'The host is offline: its volumes show once it is back.' : list.data && volumes.length === 0 ? 'No volumes.' : null}
        >
          {volumes.map((v) => (
            <VolumeRows
              key={v.name}
              v={v}
              hostId={hostId}
              names={names}
              now={now}
              open={open === v.name}
              onToggle={() => setOpen(open === v.name ? null : v.name)}
              canOperate={canOperate}
              online={online}
              onRemove={() => setRemoving(v.name)}
            />
          ))}
        </DataTable>
      </div>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove volume ${removing ?? ''}?`}
        confirmLabel="Remove"
        testId="volume-remove-dialog"
        onCancel={() => setRemoving(null)}
        onConfirm={() => {
          if (removing) remove.mutate({ hostId, name: removing });
          setRemoving(null);
        }}
      >
        <p>Its content is deleted from the host and cannot be brought back. A volume a container still uses is not removed.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={pruning}
        title="Prune unused volumes?"
        confirmLabel="Prune"
        testId="volumes-prune-dialog"
        onCancel={() => setPruning(false)}
        onConfirm={() => {
          prune.mutate({ hostId });
          setPruning(false);
        }}
      >
        <p>Every volume no container uses (running or not) is deleted with its content, except volumes with driver options (tmpfs, binds).</p>
      </ConfirmDialog>
    </Section>
  );
}

function VolumeRows({
  v,
  hostId,
  names,
  now,
  open,
  onToggle,
  canOperate,
  online,
  onRemove,
}: {
  v: VolumeInfo;
  hostId: string;
  names: Map<string, string>;
  now: number;
  open: boolean;
  onToggle: () => void;
  canOperate: boolean;
  online: boolean;
  onRemove: () => void;
}) {
  const anonymous = 'com.docker.volume.anonymous' in v.labels;
  return (
    <>
      <tr data-testid="volume-row" data-volume-name={v.name} className="align-top hover:bg-slate-50">
        <td className="px-4 py-2.5 font-mono text-xs">
          <span title={v.name}>{anonymous ? shortId(v.name) : v.name}</span>
          {anonymous ? <div className="font-sans text-slate-400">anonymous</div> : null}
        </td>
        <td className="px-4 py-2.5 text-slate-700" data-testid="volume-labels">
          {pairs(Object.fromEntries(Object.entries(v.labels).filter(([k]) => k !== 'com.docker.volume.anonymous'))) || <span className="text-slate-400">—</span>}
        </td>
        <td className="px-4 py-2.5 font-mono text-xs text-slate-600" data-testid="volume-options">
          {pairs(v.options) || <span className="font-sans text-slate-400">—</span>}
        </td>
        <td className="px-4 py-2.5" data-testid="volume-used-by">
          {v.usedBy.length ? (
            v.usedBy.map((id) => (
              <Link key={id} href={`/hosts/${hostId}/containers/${id}`} className="mr-2 text-sky-700 hover:underline">
                {names.get(id) ?? shortId(id)}
              </Link>
            ))
          ) : (
            <span className="text-slate-400">unused</span>
          )}
        </td>
        <td className="px-4 py-2.5 text-slate-600" title={v.createdAt}>
          {timeAgo(v.createdAt, now)}
        </td>
        <td className="space-x-2 px-4 py-2.5 text-right whitespace-nowrap">
          <button type="button" className="btn-secondary px-2 py-1 text-xs" onClick={onToggle} aria-expanded={open} data-testid="volume-inspect">
            {open ? 'Hide' : 'Inspect'}
          </button>
          {canOperate ? (
            <button type="button" className="btn-danger px-2 py-1 text-xs" disabled={!online} onClick={onRemove} data-testid="volume-remove">
              Remove
            </button>
          ) : null}
        </td>
      </tr>
      {open ? (
        <tr data-testid="volume-details" data-volume-name={v.name}>
          <td colSpan={6} className="bg-slate-50 px-4 py-3">
            <VolumeDetails hostId={hostId} name={v.name} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

/** Asked of the agent when opened, so it is what the agent says now. */
function VolumeDetails({ hostId, name }: { hostId: string; name: string }) {
  const q = trpc.volumes.inspect.useQuery({ hostId, name }, { retry: false });
  if (q.error) return <ErrorText>{q.error.message}</ErrorText>;
  if (!q.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const v = q.data;
  const rows: Array<[string, string]> = [
    ['Name', v.name],
    ['Driver', v.driver],
    ['Mountpoint', v.mountpoint],
    ['Created', v.createdAt],
    ['Labels', pairs(v.labels) || '—'],
    ['Options', pairs(v.options) || '—'],
    ['Used by', v.usedBy.join(', ') || '—'],
  ];
  return (
    <dl className="grid grid-cols-[8rem_1fr] gap-x-4 gap-y-1 text-sm" data-testid="volume-inspect-view">
      {rows.map(([k, val]) => (
        <div key={k} className="contents">
          <dt className="text-slate-500">{k}</dt>
          <dd className="font-mono text-xs break-all text-slate-800" data-testid={`volume-inspect-${k.toLowerCase().replace(' ', '-')}`}>
            {val}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function CreateVolume({ hostId, disabled, onCreated }: { hostId: string; disabled: boolean; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [labels, setLabels] = useState('');
  const [options, setOptions] = useState('');
  const create = trpc.volumes.create.useMutation({
    onSuccess: () => {
      setName('');
      setLabels('');
      setOptions('');
    },
    onSettled: onCreated,
  });
  return (
    <>
      <Form
        layout="row"
        testId="volume-create-form"
        onSubmit={() => create.mutate({ hostId, name: name.trim() || undefined, labels, options })}
        submitLabel="Create volume"
        pendingLabel="Creating…"
        pending={create.isPending}
        canSubmit={!disabled}
        error={create.error?.message}
        errorTestId="volume-create-error"
      >
        <Field id="volume-name" label="Volume name" className="w-48" inputClassName="font-mono" placeholder="empty: anonymous" value={name} onChange={(e) => setName(e.target.value)} />
        <div className="w-56">
          <label htmlFor="volume-labels" className="label">
            Labels (key=value per line)
          </label>
          <textarea id="volume-labels" className="input h-16 font-mono text-xs" value={labels} onChange={(e) => setLabels(e.target.value)} placeholder="team=web" />
        </div>
        <div className="w-64">
          <label htmlFor="volume-options" className="label">
            Driver options (key=value per line)
          </label>
          <textarea
            id="volume-options"
            className="input h-16 font-mono text-xs"
            value={options}
            onChange={(e) => setOptions(e.target.value)}
            placeholder={'type=tmpfs\ndevice=tmpfs\no=size=64m'}
          />
        </div>
      </Form>
      <Notice testId="volume-created">{create.data && !create.isPending ? `Created ${create.data.name}` : null}</Notice>
    </>
  );
}
