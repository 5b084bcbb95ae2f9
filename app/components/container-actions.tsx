'use client';
import type { ContainerStatus } from '../../protocol/container';
import { trpc } from '../lib/trpc';
import { ErrorText } from './ui';

/**
 * Start / Stop / Remove for one container. Each button has its own mutation so a
 * slow stop (SIGTERM, then SIGKILL after the timeout) does not block the others.
 */
export function ContainerActions({
  hostId,
  id,
  state,
  disabled,
  size = 'sm',
  onRemoved,
}: {
  hostId: string;
  id: string;
  state: ContainerStatus;
  disabled?: boolean;
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
  const remove = trpc.containers.remove.useMutation({
    onSuccess: () => onRemoved?.(),
    onSettled: () => void utils.hosts.get.invalidate({ hostId }),
  });
  const busy = start.isPending || stop.isPending || remove.isPending;
  const running = state === 'running' || state === 'paused' || state === 'restarting';
  const cls = size === 'sm' ? 'px-2 py-1 text-xs' : '';
  const error = start.error?.message ?? stop.error?.message ?? remove.error?.message;

  return (
    <div>
      <div className="flex justify-end gap-1.5">
        {running ? (
          <button
            type="button"
            className={`btn-secondary ${cls}`}
            disabled={disabled || busy}
            onClick={() => stop.mutate({ hostId, id })}
            data-testid="container-stop"
          >
            {stop.isPending ? 'Stopping…' : 'Stop'}
          </button>
        ) : (
          <button
            type="button"
            className={`btn-secondary ${cls}`}
            disabled={disabled || busy}
            onClick={() => start.mutate({ hostId, id })}
            data-testid="container-start"
          >
            {start.isPending ? 'Starting…' : 'Start'}
          </button>
        )}
        <button
          type="button"
          className={`btn-danger ${cls}`}
          disabled={disabled || busy || running}
          title={running ? 'Stop the container first' : undefined}
          onClick={() => remove.mutate({ hostId, id })}
          data-testid="container-remove"
        >
          {remove.isPending ? 'Removing…' : 'Remove'}
        </button>
      </div>
      {error ? (
        <div className="text-left">
          <ErrorText testId="container-action-error">{error}</ErrorText>
        </div>
      ) : null}
    </div>
  );
}
