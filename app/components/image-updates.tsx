'use client';
import { useEffect, useState } from 'react';
import { UPDATE_PHASES_DONE, UPDATE_HEALTH_TIMEOUT_S, type ContainerUpdateInfo, type UpdateJob } from '../../protocol/updates';
import { DEFAULT_EVERY, parseSchedule } from '../../protocol/update-schedule';
import { trpc } from '../lib/trpc';
import { ConfirmDialog } from './confirm-dialog';
import { ErrorText } from './ui';

const running = (j: UpdateJob | undefined) => !!j && !UPDATE_PHASES_DONE.includes(j.phase);

/**
 * What the host's agent knows about its containers' images against their registries, and
 * the updates under way there. Polled: quickly while an update runs (its phases move), once
 * a minute otherwise (the agent asks registries only when its cached answer is old).
 */
export function useHostUpdates(hostId: string, enabled: boolean, containersKey = '') {
  const [fast, setFast] = useState(false);
  const q = trpc.updates.status.useQuery({ hostId }, { enabled, refetchInterval: fast ? 1500 : 60_000, retry: false });
  const busy = q.data?.jobs.some(running) ?? false;
  useEffect(() => setFast(busy), [busy]);
  // A container made or removed meanwhile: its answer (from the agent's cache, mostly) now.
  const { refetch } = q;
  useEffect(() => {
    if (enabled && containersKey) void refetch();
  }, [containersKey, enabled, refetch]);
  return {
    query: q,
    infoOf: (id: string) => q.data?.containers.find((c) => c.containerId === id),
    jobOf: (name: string) => q.data?.jobs.find((j) => j.name === name),
    /** After a click, until the agent's list shows the job. */
    expect: () => setFast(true),
  };
}

/** "Check now" for every container of the host. */
export function CheckUpdatesButton({ hostId, disabled }: { hostId: string; disabled?: boolean }) {
  const utils = trpc.useUtils();
  const check = trpc.updates.check.useMutation({ onSuccess: (data) => utils.updates.status.setData({ hostId }, data) });
  return (
    <div className="flex items-center gap-2">
      {check.error ? <span className="text-xs text-red-700" data-testid="updates-check-error">{check.error.message}</span> : null}
      <button type="button" className="btn-secondary px-2 py-1 text-xs" disabled={disabled || check.isPending} onClick={() => check.mutate({ hostId })} data-testid="updates-check">
        {check.isPending ? 'Checking…' : 'Check for image updates'}
      </button>
    </div>
  );
}

/**
 * One container's update state: a badge when its tag names a newer image, the Update button
 * (operators; it asks first), and an update's progress or how it ended.
 */
export function UpdateStatus({
  hostId,
  name,
  info,
  job,
  canOperate,
  disabled,
  onExpect,
  onUpdated,
}: {
  hostId: string;
  name: string;
  info: ContainerUpdateInfo | undefined;
  job: UpdateJob | undefined;
  canOperate: boolean;
  disabled?: boolean;
  onExpect: () => void;
  onUpdated?: (containerId: string) => void;
}) {
  const utils = trpc.useUtils();
  const [asking, setAsking] = useState(false);
  const update = trpc.updates.update.useMutation({
    onSuccess: (out) => {
      if (out.outcome === 'updated') onUpdated?.(out.containerId);
    },
    onSettled: () => {
      void utils.updates.status.invalidate({ hostId });
      void utils.hosts.get.invalidate({ hostId });
    },
  });
  const state = info?.state;
  const underWay = running(job) || update.isPending;
  return (
    <div className="mt-1 flex flex-wrap items-center gap-2 text-xs" data-testid="update-status" data-update-state={state ?? 'none'}>
      {running(job) ? (
        <>
          <span className="rounded-full bg-sky-50 px-2 py-0.5 font-medium text-sky-800 ring-1 ring-inset ring-sky-600/20" data-testid="update-job" data-phase={job!.phase}>
            updating: {job!.phase}
          </span>
          <span className="max-w-xs truncate text-slate-500" title={job!.message} data-testid="update-job-message">
            {job!.message}
          </span>
        </>
      ) : state === 'update-available' ? (
        <span
          className="rounded-full bg-amber-50 px-2 py-0.5 font-medium text-amber-800 ring-1 ring-inset ring-amber-600/20"
          data-testid="update-available"
          title={`the registry has ${info?.remoteDigest ?? 'another image'} for ${info?.image ?? 'its tag'} (checked ${info?.checkedAt ?? '?'})`}
        >
          update available
        </span>
      ) : state === 'error' ? (
        <span className="text-slate-500" data-testid="update-check-error" title={info?.detail}>
          update check failed
        </span>
      ) : null}
      {job && !running(job) && job.phase !== 'up-to-date' ? (
        <span className={job.phase === 'updated' ? 'text-emerald-700' : 'text-red-700'} data-testid="update-result" data-phase={job.phase}>
          {job.phase === 'updated' ? 'updated' : job.message}
        </span>
      ) : null}
      {canOperate && state === 'update-available' && !running(job) ? (
        <button type="button" className="btn-secondary px-2 py-0.5 text-xs" disabled={disabled || underWay} onClick={() => setAsking(true)} data-testid="update-button">
          {underWay ? 'Updating…' : 'Update'}
        </button>
      ) : null}
      {update.error ? <ErrorText testId="update-error">{update.error.message}</ErrorText> : null}
      <ConfirmDialog
        open={asking}
        title={`Update ${name}?`}
        confirmLabel="Update"
        testId="update-dialog"
        onCancel={() => setAsking(false)}
        onConfirm={() => {
          setAsking(false);
          update.reset();
          onExpect();
          update.mutate({ hostId, id: name });
        }}
      >
        <p>
          {info?.image} is pulled again and {name} is made again from the new image, with the same settings, name, ports and volumes. The old
          container is stopped and kept until the new one runs (and, with a healthcheck, is healthy within {UPDATE_HEALTH_TIMEOUT_S} s); if it
          does not, the new one is removed and the old one started again.
        </p>
      </ConfirmDialog>
    </div>
  );
}

/** The container's automatic updates as its labels ask for them: off, or how often and when, or why the labels are refused. */
export function autoUpdateText(auto: { schedule?: string; window?: string } | undefined): string {
  if (!auto) return 'off';
  try {
    parseSchedule(auto.schedule, auto.window);
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
  return `${auto.schedule?.trim() || DEFAULT_EVERY}${auto.window?.trim() ? `, in ${auto.window.trim()} UTC` : ', any time'}`;
}
