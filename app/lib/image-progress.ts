'use client';
// A pull's or push's progress as the host's watchers get it ('images:progress'), folded into
// one row per layer the way the docker CLI shows them, for the operation this tab started.
import { useEffect, useState } from 'react';
import type { ImageProgress } from '../../protocol/ui-socket';
import { useSocket } from './socket';

export interface LayerProgress {
  id: string;
  status: string;
  /** 0–100 of the layer's current phase (download or push, then extraction). */
  percent: number;
  current?: number;
  total?: number;
  /** The layer needs nothing more. */
  done: boolean;
}

export interface OperationProgress {
  layers: LayerProgress[];
  /** Lines that are not about one layer ("Pulling from …", "Digest: …"). */
  messages: string[];
}

const DONE = /^(Pull complete|Already exists|Pushed|Layer already exists|Mounted from .*)$/;
const LAYER = /^(Pulling fs layer|Waiting|Preparing|Downloading|Verifying Checksum|Download complete|Extracting|Pushing|Pull complete|Already exists|Pushed|Layer already exists|Mounted from .*)$/;

export function foldProgress(state: OperationProgress, p: Pick<ImageProgress, 'status' | 'id' | 'current' | 'total'>): OperationProgress {
  if (!p.id || !LAYER.test(p.status)) {
    return state.messages.at(-1) === p.status ? state : { ...state, messages: [...state.messages, p.id && !p.status.startsWith(p.id) ? `${p.id}: ${p.status}` : p.status].slice(-20) };
  }
  const prev = state.layers.find((l) => l.id === p.id);
  // A late byte count must not pull a finished layer back.
  if (prev?.done && !DONE.test(p.status)) return state;
  const done = DONE.test(p.status);
  const measured = p.total && p.total > 0 && p.current !== undefined ? Math.min(100, Math.floor((p.current / p.total) * 100)) : undefined;
  const percent = done || p.status === 'Download complete' ? 100 : measured ?? (prev && prev.status === p.status ? prev.percent : 0);
  const next: LayerProgress = { id: p.id, status: p.status, percent, current: p.current, total: p.total, done };
  return { ...state, layers: prev ? state.layers.map((l) => (l.id === p.id ? next : l)) : [...state.layers, next] };
}

export const EMPTY_PROGRESS: OperationProgress = { layers: [], messages: [] };

/** The progress of the operation named `progressId` on `hostId` (the page must watch the host). */
export function useImageProgress(hostId: string, progressId: string | null): OperationProgress {
  const { socket } = useSocket();
  const [state, setState] = useState<OperationProgress>(EMPTY_PROGRESS);
  useEffect(() => {
    setState(EMPTY_PROGRESS);
    if (!socket || !progressId) return;
    const on = (p: ImageProgress) => {
      if (p.hostId === hostId && p.progressId === progressId) setState((s) => foldProgress(s, p));
    };
    socket.on('images:progress', on);
    return () => {
      socket.off('images:progress', on);
    };
  }, [socket, hostId, progressId]);
  return state;
}

/** A fresh name for one operation. */
export function newProgressId(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto ? crypto.randomUUID() : `op-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
}
