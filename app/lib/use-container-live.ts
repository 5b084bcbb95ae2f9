'use client';
import { useEffect, useRef, useState } from 'react';
import type { ContainerLive, ContainerStatsSample } from '../../protocol/agent-link';
import { appendSample } from './stats';
import { trpc } from './trpc';

/** How often the page asks for a reading while it is open, visible and the container runs. */
export const LIVE_INTERVAL_MS = 1_000;

/**
 * Why the page is (not) asking: 'live' while it polls; 'restarting' while it polls a
 * container its restart policy is about to start again; 'not-running' when there is nothing
 * to read; 'host-offline' while the host is away; 'error' when the last reading was refused.
 */
export type LivePhase = 'live' | 'restarting' | 'not-running' | 'host-offline' | 'error';

export interface LiveReadings {
  live: ContainerLive | null;
  samples: ContainerStatsSample[];
  phase: LivePhase;
  error: string | null;
}

/**
 * Polls containers.live once a second, only while `running` and `online` and while the tab
 * is visible (react-query skips interval fetches in a hidden tab), so the agent reads
 * cgroups only for someone looking. Readings of a different container start afresh.
 */
export function useContainerLive(hostId: string, id: string, { running, online }: { running: boolean; online: boolean }): LiveReadings {
  const enabled = running && online && !!id;
  const query = trpc.containers.live.useQuery(
    { hostId, id },
    {
      enabled,
      refetchInterval: enabled ? LIVE_INTERVAL_MS : false,
      refetchIntervalInBackground: false,
      // Every reading is new; an old one from the cache would draw a false point.
      staleTime: 0,
      gcTime: 0,
      retry: false,
    },
  );
  const [samples, setSamples] = useState<ContainerStatsSample[]>([]);
  const key = `${hostId}/${id}`;
  const keyRef = useRef(key);

  useEffect(() => {
    if (keyRef.current !== key) {
      keyRef.current = key;
      setSamples([]);
    }
  }, [key]);

  const data = query.data;
  useEffect(() => {
    const s = data?.stats;
    if (s) setSamples((list) => appendSample(list, s));
  }, [data]);

  const phase: LivePhase = !online
    ? 'host-offline'
    : !running
      ? 'not-running'
      : query.error
        ? 'error'
        : data?.status === 'restarting'
          ? 'restarting'
          : data && !data.stats
            ? 'not-running'
            : 'live';
  return { live: data ?? null, samples, phase, error: query.error?.message ?? null };
}
