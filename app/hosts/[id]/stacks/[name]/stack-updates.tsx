'use client';
// Image updates of a whole stack: which services' tags now name a newer image in their
// registry ("update available", from the agent's cached checks; "Check now" asks again), and
// "Update stack": the services pulled and the changed ones made again together, all put back
// if one does not come up. The answer says per service how it went.
import { useState } from 'react';
import type { StackDetail } from '../../../../../protocol/stacks';
import type { StackUpdateOutcome } from '../../../../../protocol/updates';
import { ConfirmDialog } from '../../../../components/confirm-dialog';
import { ErrorText, Section } from '../../../../components/ui';
import { trpc } from '../../../../lib/trpc';

export function StackUpdates({ hostId, name, detail, canOperate, online, onChanged }: { hostId: string; name: string; detail: StackDetail; canOperate: boolean; online: boolean; onChanged: () => void }) {
  const containers = detail.serviceList.flatMap((s) => s.containers.map((c) => ({ ...c, service: s.name, image: s.image })));
  const ids = containers.map((c) => c.id);
  const status = trpc.updates.status.useQuery({ hostId, ids }, { enabled: online && ids.length > 0, refetchInterval: 30_000 });
  const check = trpc.updates.check.useMutation({ onSuccess: () => void status.refetch() });
  const update = trpc.updates.updateStack.useMutation({
    onSettled: () => {
      void status.refetch();
      onChanged();
    },
  });
  const [asking, setAsking] = useState(false);
  const info = check.data ?? status.data;
  const stateOf = (id: string) => info?.containers.find((x) => x.containerId === id);
  const available = containers.filter((c) => stateOf(c.id)?.state === 'update-available');
  const result: StackUpdateOutcome | undefined = update.data;
  if (!containers.length) return null;
  return (
    <Section
      title="Image updates"
      actions={
        canOperate && online ? (
          <div className="flex gap-2">
            <button type="button" className="btn-secondary" disabled={check.isPending || update.isPending} onClick={() => check.mutate({ hostId, ids })} data-testid="stack-updates-check">
              {check.isPending ? 'Checking…' : 'Check now'}
            </button>
            <button type="button" className="btn-primary" disabled={update.isPending} onClick={() => setAsking(true)} data-testid="stack-update">
              {update.isPending ? 'Updating…' : 'Update stack'}
            </button>
          </div>
        ) : null
      }
    >
      <ul className="space-y-1 text-sm" data-testid="stack-update-states">
        {containers.map((c) => {
          const s = stateOf(c.id);
          return (
            <li key={c.id} data-testid="stack-update-state" data-service={c.service} data-state={s?.state ?? 'checking'}>
              <span className="font-medium">{c.service}</span> <span className="font-mono text-xs text-slate-600">{c.image}</span>:{' '}
              {s?.state === 'update-available' ? <span className="font-medium text-amber-700">update available</span> : <span className="text-slate-600">{s ? s.state.replace(/-/g, ' ') : 'checking'}</span>}
              {s?.detail ? <span className="text-xs text-slate-500"> ({s.detail})</span> : null}
            </li>
          );
        })}
      </ul>
      <ErrorText>{status.error?.message ?? check.error?.message ?? update.error?.message}</ErrorText>
      {result ? (
        <div className="mt-3 text-sm" data-testid="stack-update-result" data-outcome={result.outcome} role="status">
          <p className={result.outcome === 'rolled-back' ? 'font-medium text-red-700' : 'font-medium text-emerald-800'}>{result.message}</p>
          <ul className="mt-1 space-y-0.5">
            {result.services.map((s) => (
              <li key={s.service} data-testid="stack-update-service" data-service={s.service} data-outcome={s.outcome}>
                {s.service}: {s.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <ConfirmDialog
        open={asking}
        title={`Update stack ${name}`}
        confirmLabel="Update stack"
        onCancel={() => setAsking(false)}
        onConfirm={() => {
          setAsking(false);
          update.mutate({ hostId, name });
        }}
        testId="stack-update-confirm"
      >
        <p data-testid="stack-update-sentence">
          Pull the images of {containers.length} service{containers.length === 1 ? '' : 's'} of {name} ({[...new Set(containers.map((c) => c.image))].join(', ')}) and make again those whose image changed
          {available.length ? ` (update available now: ${available.map((c) => c.service).join(', ')})` : ''}. The old containers stay until every changed service is up; if one is not, all of them are put back.
        </p>
      </ConfirmDialog>
    </Section>
  );
}
