'use client';
// The host page's compose stacks: each with its state, and a way to a stack's own page.
import Link from 'next/link';
import type { HostView } from '../../../protocol/ui-socket';
import { DataTable } from '../../components/data-table';
import { Section, StateBadge } from '../../components/ui';

export function stackState(status: string): string {
  return status === 'running' ? 'running' : status === 'partial' ? 'restarting' : status === 'stopped' ? 'exited' : 'created';
}

export function StacksSection({ host }: { host: HostView }) {
  const stacks = host.stacks ?? [];
  return (
    <Section
      title={`Stacks (${stacks.length})`}
      actions={
        <Link href={`/hosts/${host.id}/stacks`} className="text-sm text-sky-700 hover:underline" data-testid="host-stacks-link">
          Stacks page: new stack, deploy, edit →
        </Link>
      }
    >
      <StacksTable hostId={host.id} stacks={stacks} />
    </Section>
  );
}

export function StacksTable({ hostId, stacks }: { hostId: string; stacks: NonNullable<HostView['stacks']> }) {
  return (
    <DataTable flush testId="stacks-table" columns={['Stack', 'Source', 'State', 'Services', 'Containers']} empty={stacks.length ? null : 'No compose stacks on this host.'}>
      {stacks.map((s) => (
        <tr key={s.name} data-testid="stack-row" data-stack-name={s.name} className="hover:bg-slate-50">
          <td className="px-4 py-2.5 font-medium">
            <Link href={`/hosts/${hostId}/stacks/${s.name}`} className="text-sky-700 hover:underline">
              {s.name}
            </Link>
          </td>
          <td className="px-4 py-2.5 text-slate-600">{s.source === 'external' ? 'external (started by another client)' : 'Berth'}</td>
          <td className="px-4 py-2.5">
            <span className="mr-2" data-testid="stack-status" data-status={s.status}>
              <StateBadge state={stackState(s.status)} />
            </span>
            <span className="text-xs text-slate-500">{s.status}{s.busy ? ` · ${s.busy} under way` : ''}</span>
          </td>
          <td className="px-4 py-2.5 tabular-nums">{s.services}</td>
          <td className="px-4 py-2.5 tabular-nums">
            {s.running}/{s.containers} running
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
