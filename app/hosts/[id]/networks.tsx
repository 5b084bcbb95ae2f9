'use client';
// The host's networks: a table (name, driver, subnet, gateway, internal, running containers
// on it) with Inspect, Remove (asked first; not for the built-in bridge, host and none) and
// Prune (asked first), and a form to create one. Like volumes, networks are not in the
// host's snapshot: the list is asked of the agent, again whenever the host's containers
// change (that is when a container joins or leaves one).
import { useEffect, useState, type ReactNode } from 'react';
import type { NetworkInfo } from '../../../protocol/network';
import { Field, Form } from '../../components/form';
import { ErrorText, Notice } from '../../components/ui';
import { shortId, timeAgo } from '../../lib/format';
import { trpc } from '../../lib/trpc';
import { ContainerLinks, DetailsRow, InspectList, KeyValueArea, pairs, ResourceSection, RowActions } from './resource-section';

const NOUNS = { one: 'network', many: 'networks', title: 'Networks' };
const COLUMNS = ['Name', 'Driver', 'Subnet', 'Gateway', 'Internal', 'Containers', 'Created', { label: 'Actions', align: 'right' as const }];
const dash = <span className="font-sans text-slate-400">—</span>;

export function NetworksSection({
  hostId,
  canOperate,
  online,
  containers,
  now,
}: {
  hostId: string;
  canOperate: boolean;
  online: boolean;
  /** The host's containers, for their names and to notice when they change. */
  containers: Array<{ id: string; name: string; state: string }>;
  now: number;
}) {
  const utils = trpc.useUtils();
  const list = trpc.networks.list.useQuery({ hostId }, { enabled: online, retry: false });
  const changed = containers.map((c) => `${c.id}:${c.state}`).join(',');
  // The list and any opened details: both show which containers are on a network.
  useEffect(() => {
    void utils.networks.invalidate();
  }, [changed, hostId, utils]);
  const [open, setOpen] = useState<string | null>(null);
  const refresh = () => void utils.networks.invalidate();
  const remove = trpc.networks.remove.useMutation({ onSettled: refresh });
  const prune = trpc.networks.prune.useMutation({ onSettled: refresh });
  const names = new Map(containers.map((c) => [c.id, c.name]));
  const networks = list.data ?? [];
  const pruned = prune.data?.deleted;

  return (
    <ResourceSection
      nouns={NOUNS}
      count={list.data?.length}
      canOperate={canOperate}
      online={online}
      create={<CreateNetwork hostId={hostId} disabled={!online} onCreated={refresh} />}
      error={list.error?.message ?? remove.error?.message ?? prune.error?.message}
      notice={pruned && !prune.isPending ? (pruned.length ? `Pruned ${pruned.length} network${pruned.length === 1 ? '' : 's'}: ${pruned.join(', ')}` : 'No unused networks to prune') : null}
      columns={COLUMNS}
      loading={online && list.isLoading}
      empty={!online ? 'The host is offline: its networks show once it is back.' : list.data && networks.length === 0 ? 'No networks.' : null}
      prune={{
        pending: prune.isPending,
        run: () => prune.mutate({ hostId }),
        title: 'Prune unused networks?',
        body: <p>Every network you made that no running container is on is removed. The built-in bridge, host and none stay.</p>,
      }}
      remove={{
        run: (name) => remove.mutate({ hostId, id: name }),
        body: <p>Its bridge and addresses are taken down. A network with running containers on it is not removed.</p>,
      }}
    >
      {(askRemove) =>
        networks.map((n) => {
          const isOpen = open === n.name;
          return (
            <NetworkRow key={n.id} n={n} hostId={hostId} names={names} now={now} open={isOpen}>
              <RowActions
                one="network"
                open={isOpen}
                onToggle={() => setOpen(isOpen ? null : n.name)}
                canOperate={canOperate}
                removable={!n.builtin}
                online={online}
                onRemove={() => askRemove(n.name)}
              />
            </NetworkRow>
          );
        })
      }
    </ResourceSection>
  );
}

function NetworkRow({ n, hostId, names, now, open, children }: { n: NetworkInfo; hostId: string; names: Map<string, string>; now: number; open: boolean; children: ReactNode }) {
  return (
    <>
      <tr data-testid="network-row" data-network-name={n.name} className="align-top hover:bg-slate-50">
        <td className="px-4 py-2.5 font-mono text-xs">
          <span title={n.id}>{n.name}</span>
          {n.builtin ? <div className="font-sans text-slate-400">built-in</div> : null}
        </td>
        <td className="px-4 py-2.5 text-slate-700" data-testid="network-driver">
          {n.driver}
        </td>
        <td className="px-4 py-2.5 font-mono text-xs text-slate-600" data-testid="network-subnet">
          {n.subnet || dash}
        </td>
        <td className="px-4 py-2.5 font-mono text-xs text-slate-600" data-testid="network-gateway">
          {n.gateway || dash}
        </td>
        <td className="px-4 py-2.5 text-slate-700" data-testid="network-internal">
          {n.internal ? 'yes' : 'no'}
        </td>
        <td className="px-4 py-2.5" data-testid="network-containers">
          <ContainerLinks hostId={hostId} ids={n.containers.map((c) => c.id)} names={new Map([...names, ...n.containers.map((c) => [c.id, c.name] as const)])} none="none running" />
        </td>
        <td className="px-4 py-2.5 text-slate-600" title={n.created}>
          {timeAgo(n.created, now)}
        </td>
        {children}
      </tr>
      {open ? (
        <DetailsRow one="network" name={n.name} colSpan={COLUMNS.length}>
          <NetworkDetails hostId={hostId} id={n.id} />
        </DetailsRow>
      ) : null}
    </>
  );
}

/** Asked of the agent when opened, so it is what the agent says now. */
function NetworkDetails({ hostId, id }: { hostId: string; id: string }) {
  const q = trpc.networks.inspect.useQuery({ hostId, id }, { retry: false });
  if (q.error) return <ErrorText>{q.error.message}</ErrorText>;
  if (!q.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const n = q.data;
  return (
    <InspectList
      one="network"
      rows={[
        ['Name', n.name],
        ['ID', n.id],
        ['Driver', n.driver],
        ['Created', n.created],
        ['Subnet', n.subnet || '—'],
        ['Gateway', n.gateway || '—'],
        ['IP range', n.ipRange || '—'],
        ['Internal', n.internal ? 'yes' : 'no'],
        ['Labels', pairs(n.labels) || '—'],
        ['Options', pairs(n.options) || '—'],
        ['Containers', n.containers.map((c) => `${c.name} (${shortId(c.id)})${c.ipv4Address ? ` ${c.ipv4Address}` : ''}`).join(', ') || '—'],
      ]}
    />
  );
}

function CreateNetwork({ hostId, disabled, onCreated }: { hostId: string; disabled: boolean; onCreated: () => void }) {
  const [name, setName] = useState('');
  const [subnet, setSubnet] = useState('');
  const [gateway, setGateway] = useState('');
  const [internal, setInternal] = useState(false);
  const [labels, setLabels] = useState('');
  const create = trpc.networks.create.useMutation({
    onSuccess: () => {
      setName('');
      setSubnet('');
      setGateway('');
      setInternal(false);
      setLabels('');
    },
    onSettled: onCreated,
  });
  return (
    <>
      <Form
        layout="row"
        testId="network-create-form"
        onSubmit={() => create.mutate({ hostId, name: name.trim(), subnet: subnet.trim() || undefined, gateway: gateway.trim() || undefined, internal, labels })}
        submitLabel="Create network"
        pendingLabel="Creating…"
        pending={create.isPending}
        canSubmit={!disabled && !!name.trim()}
        error={create.error?.message}
        errorTestId="network-create-error"
      >
        <Field id="network-name" label="Network name" className="w-44" inputClassName="font-mono" placeholder="backend" value={name} onChange={(e) => setName(e.target.value)} required />
        <Field id="network-subnet" label="Subnet" className="w-40" inputClassName="font-mono" placeholder="empty: a free one" value={subnet} onChange={(e) => setSubnet(e.target.value)} />
        <Field id="network-gateway" label="Gateway" className="w-40" inputClassName="font-mono" placeholder="empty: the first" value={gateway} onChange={(e) => setGateway(e.target.value)} />
        <label className="flex items-center gap-2 pb-2 text-sm text-slate-700">
          <input id="network-internal" type="checkbox" checked={internal} onChange={(e) => setInternal(e.target.checked)} />
          Internal (no traffic outside it)
        </label>
        <KeyValueArea id="network-labels" label="Labels (key=value, one per line)" className="w-48" value={labels} onChange={setLabels} placeholder="team=web" />
      </Form>
      <Notice testId="network-created">{create.data && !create.isPending ? `Created ${create.data.name} (${create.data.subnet ?? 'no subnet'})` : null}</Notice>
    </>
  );
}
