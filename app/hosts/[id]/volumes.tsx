'use client';
// The host's volumes: a table (name, labels, driver options, who uses each, when made) with
// Inspect, Remove (asked first) and Prune (asked first), and a form to create one. Volumes
// are not in the host's snapshot, so the list is asked of the agent, again whenever the
// host's containers change (that is when a volume starts or stops being in use).
import { useEffect, useState, type ReactNode } from 'react';
import type { VolumeInfo } from '../../../protocol/agent-link';
import { Field, Form } from '../../components/form';
import { ErrorText, Notice } from '../../components/ui';
import { formatBytes, shortId, timeAgo } from '../../lib/format';
import { trpc } from '../../lib/trpc';
import { ContainerLinks, DetailsRow, InspectList, KeyValueArea, pairs, ResourceSection, RowActions } from './resource-section';

const NOUNS = { one: 'volume', many: 'volumes', title: 'Volumes' };
const COLUMNS = ['Name', 'Labels', 'Options', 'In use by', 'Created', { label: 'Actions', align: 'right' as const }];

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
  // The list and any opened details: both show who uses a volume.
  useEffect(() => {
    void utils.volumes.invalidate();
  }, [changed, hostId, utils]);
  const [open, setOpen] = useState<string | null>(null);
  const refresh = () => void utils.volumes.invalidate();
  const remove = trpc.volumes.remove.useMutation({ onSettled: refresh });
  const prune = trpc.volumes.prune.useMutation({ onSettled: refresh });
  const names = new Map(containers.map((c) => [c.id, c.name]));
  const volumes = list.data ?? [];

  return (
    <ResourceSection
      nouns={NOUNS}
      count={list.data?.length}
      canOperate={canOperate}
      online={online}
      create={<CreateVolume hostId={hostId} disabled={!online} onCreated={refresh} />}
      error={list.error?.message ?? remove.error?.message ?? prune.error?.message}
      notice={prune.data && !prune.isPending ? `Pruned ${prune.data.deleted.length} volume${prune.data.deleted.length === 1 ? '' : 's'}, ${formatBytes(prune.data.reclaimed)} reclaimed` : null}
      columns={COLUMNS}
      loading={online && list.isLoading}
      empty={!online ? 'The host is offline: its volumes show once it is back.' : list.data && volumes.length === 0 ? 'No volumes.' : null}
      prune={{
        pending: prune.isPending,
        run: () => prune.mutate({ hostId }),
        title: 'Prune unused volumes?',
        body: <p>Every volume no container uses (running or not) is deleted with its content, except volumes with driver options (tmpfs, binds).</p>,
      }}
      remove={{
        run: (name) => remove.mutate({ hostId, name }),
        body: <p>Its content is deleted from the host and cannot be brought back. A volume a container still uses is not removed.</p>,
      }}
    >
      {(askRemove) =>
        volumes.map((v) => {
          const anonymous = 'com.docker.volume.anonymous' in v.labels;
          const isOpen = open === v.name;
          return (
            <VolumeRow key={v.name} v={v} anonymous={anonymous} hostId={hostId} names={names} now={now} open={isOpen}>
              <RowActions one="volume" open={isOpen} onToggle={() => setOpen(isOpen ? null : v.name)} canOperate={canOperate} online={online} onRemove={() => askRemove(v.name)} />
            </VolumeRow>
          );
        })
      }
    </ResourceSection>
  );
}

function VolumeRow({
  v,
  anonymous,
  hostId,
  names,
  now,
  open,
  children,
}: {
  v: VolumeInfo;
  anonymous: boolean;
  hostId: string;
  names: Map<string, string>;
  now: number;
  open: boolean;
  children: ReactNode;
}) {
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
          <ContainerLinks hostId={hostId} ids={v.usedBy} names={names} none="unused" />
        </td>
        <td className="px-4 py-2.5 text-slate-600" title={v.createdAt}>
          {timeAgo(v.createdAt, now)}
        </td>
        {children}
      </tr>
      {open ? (
        <DetailsRow one="volume" name={v.name} colSpan={COLUMNS.length}>
          <VolumeDetails hostId={hostId} name={v.name} />
        </DetailsRow>
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
  return (
    <InspectList
      one="volume"
      rows={[
        ['Name', v.name],
        ['Driver', v.driver],
        ['Mountpoint', v.mountpoint],
        ['Created', v.createdAt],
        ['Labels', pairs(v.labels) || '—'],
        ['Options', pairs(v.options) || '—'],
        ['Used by', v.usedBy.join(', ') || '—'],
      ]}
    />
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
        <KeyValueArea id="volume-labels" label="Labels (key=value per line)" value={labels} onChange={setLabels} placeholder="team=web" />
        <KeyValueArea id="volume-options" label="Driver options (key=value per line)" className="w-64" value={options} onChange={setOptions} placeholder={'type=tmpfs\ndevice=tmpfs\no=size=64m'} />
      </Form>
      <Notice testId="volume-created">{create.data && !create.isPending ? `Created ${create.data.name}` : null}</Notice>
    </>
  );
}
