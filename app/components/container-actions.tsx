'use client';
import { useState } from 'react';
import type { ContainerStatus, RestartPolicyName } from '../../protocol/container';
import { trpc } from '../lib/trpc';
import { ConfirmDialog } from './confirm-dialog';
import { ErrorText } from './ui';

/** The signals the kill dialog offers; SIGKILL first, as `docker kill` sends it by default. */
export const KILL_SIGNALS = ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/**
 * Buttons for one container: Start / Stop / Remove everywhere; with `full` (the container
 * page) also Pause / Unpause, Restart and Kill. Each button has its own mutation so a slow
 * stop (SIGTERM, then SIGKILL after the timeout) does not block the others. Kill and Remove
 * ask first, saying what they will do. The server checks the role again; these are only
 * offered to operators and up.
 */
export function ContainerActions({
  hostId,
  id,
  name,
  state,
  restartPolicy,
  disabled,
  full = false,
  size = 'sm',
  onRemoved,
}: {
  hostId: string;
  id: string;
  /** Named in the confirmations. */
  name?: string;
  state: ContainerStatus;
  /** Named in the kill confirmation: a kill is a manual stop, which the policy honours. */
  restartPolicy?: RestartPolicyName;
  disabled?: boolean;
  full?: boolean;
  size?: 'sm' | 'md';
  onRemoved?: () => void;
}) {
  const utils = trpc.useUtils();
  const refresh = () => {
    void utils.hosts.get.invalidate({ hostId });
    void utils.containers.inspect.invalidate({ hostId, id });
  };
  const start = trpc.containers.start.useMutation({ onSettled: refresh });
  const stop = trpc.containers.stop.useMutation({ onSettled: refresh });
  const restart = trpc.containers.restart.useMutation({ onSettled: refresh });
  const kill = trpc.containers.kill.useMutation({ onSettled: refresh });
  const pause = trpc.containers.pause.useMutation({ onSettled: refresh });
  const unpause = trpc.containers.unpause.useMutation({ onSettled: refresh });
  const remove = trpc.containers.remove.useMutation({
    onSuccess: () => onRemoved?.(),
    onSettled: () => void utils.hosts.get.invalidate({ hostId }),
  });
  const [asking, setAsking] = useState<'kill' | 'remove' | null>(null);
  const [signal, setSignal] = useState<(typeof KILL_SIGNALS)[number]>('SIGKILL');

  const all = [start, stop, restart, kill, pause, unpause, remove];
  const busy = all.some((m) => m.isPending);
  const error = all.find((m) => m.error)?.error?.message;
  const running = state === 'running' || state === 'paused' || state === 'restarting';
  const live = state === 'running' || state === 'paused';
  const cls = size === 'sm' ? 'px-2 py-1 text-xs' : '';
  const off = disabled || busy || state === 'removing';
  const label = name ?? id.slice(0, 12);
  // Every earlier error is about an earlier click.
  const act = <T,>(m: { reset: () => void; mutate: (v: T) => void }, v: T) => {
    for (const x of all) x.reset();
    m.mutate(v);
  };

  const button = (testId: string, text: string, pending: boolean, pendingText: string, onClick: () => void, opts: { danger?: boolean; title?: string; disabled?: boolean } = {}) => (
    <button
      type="button"
      className={`${opts.danger ? 'btn-danger' : 'btn-secondary'} ${cls}`}
      disabled={off || opts.disabled}
      title={opts.title}
      onClick={onClick}
      data-testid={testId}
    >
      {pending ? pendingText : text}
    </button>
  );

  return (
    <div>
      <div className="flex flex-wrap justify-end gap-1.5" data-testid="container-actions">
        {full && state === 'running' ? button('container-pause', 'Pause', pause.isPending, 'Pausing…', () => act(pause, { hostId, id }), { title: 'Freeze every process of the container' }) : null}
        {full && state === 'paused' ? button('container-unpause', 'Unpause', unpause.isPending, 'Unpausing…', () => act(unpause, { hostId, id })) : null}
        {full && live ? button('container-restart', 'Restart', restart.isPending, 'Restarting…', () => act(restart, { hostId, id }), { title: 'Stop (SIGTERM, SIGKILL after 10 s), then start again' }) : null}
        {running
          ? button('container-stop', 'Stop', stop.isPending, 'Stopping…', () => act(stop, { hostId, id }), { title: 'SIGTERM (or the image’s stop signal), SIGKILL after 10 s' })
          : button('container-start', 'Start', start.isPending, 'Starting…', () => act(start, { hostId, id }))}
        {full && live
          ? button('container-kill', 'Kill', kill.isPending, 'Killing…', () => {
              // Each time SIGKILL, as `docker kill`: a signal picked last time must not surprise.
              setSignal('SIGKILL');
              setAsking('kill');
            }, { danger: true, title: 'Send a signal, SIGKILL by default' })
          : null}
        {button('container-remove', 'Remove', remove.isPending, 'Removing…', () => setAsking('remove'), {
          danger: true,
          disabled: running,
          title: running ? 'Stop the container first' : undefined,
        })}
      </div>
      {error ? (
        <div className="text-left">
          <ErrorText testId="container-action-error">{error}</ErrorText>
        </div>
      ) : null}

      <ConfirmDialog
        open={asking === 'kill'}
        title={signal === 'SIGKILL' ? `Kill ${label}?` : `Send ${signal} to ${label}?`}
        confirmLabel={`Send ${signal}`}
        testId="kill-dialog"
        onCancel={() => setAsking(null)}
        onConfirm={() => {
          setAsking(null);
          act(kill, { hostId, id, ...(signal === 'SIGKILL' ? {} : { signal }) });
        }}
      >
        <label className="block">
          <span className="label">Signal</span>
          <select className="input" value={signal} onChange={(e) => setSignal(e.target.value as typeof signal)} data-testid="kill-signal">
            {KILL_SIGNALS.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <p data-testid="kill-consequence">
          {signal === 'SIGKILL'
            ? `Every process in ${label} ends at once, with no chance to clean up or save anything.`
            : `${signal} goes to the main process of ${label}; what it does depends on the program (many exit).`}
          {state === 'paused' && signal === 'SIGKILL' ? ' It is paused: it is thawed so the signal lands.' : ''}
        </p>
        <p>
          {signal === 'SIGKILL' ? 'A kill counts as a manual stop:' : 'If it exits, that counts as a manual stop:'}
          {restartPolicy && restartPolicy !== 'no'
            ? ` its restart policy (${restartPolicy}) will not start it again; use Start for that.`
            : ' it stays stopped until someone starts it.'}
        </p>
      </ConfirmDialog>

      <ConfirmDialog
        open={asking === 'remove'}
        title={`Remove ${label}?`}
        confirmLabel="Remove"
        testId="remove-dialog"
        onCancel={() => setAsking(null)}
        onConfirm={() => {
          setAsking(null);
          act(remove, { hostId, id });
        }}
      >
        <p data-testid="remove-consequence">
          {label} is deleted from the host with the changes it made to its filesystem and its whole log. This cannot be undone; the image stays.
        </p>
      </ConfirmDialog>
    </div>
  );
}
