'use client';
// One log view's lines: one container or several merged, live or a stretch of history,
// over the ui socket (live) and logs.page (history). Each source's first and last seq is
// kept, so every (re)subscription resumes after the last line held and every page
// joins the lines held without a gap or a repeat.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { LogEntry } from '../../protocol/container';
import type { LogPage, LogPageRequest, LogSource, LogStreamSource, LogSubscribeRequest, SourcedLogEntry } from '../../protocol/logs';
import type { ServerToUi } from '../../protocol/ui-socket';
import { useLogsClient } from './log-api';
import { INITIAL_TAIL } from './log-merge';
import { LogStore, type StoreLine } from './log-store';
import { useSocket, useStoreVersion, type HostWatch, type LogPhase } from './socket';

/** Lines a page asks for when scrolling or jumping. */
export const PAGE_LINES = 1000;
/** Each source's tail in a merged view when it opens. */
export const MERGED_TAIL = 200;

export interface ViewSource extends LogSource {
  /** The container's name for the prefix (the server's name on the lines wins once they come). */
  name?: string;
  hostName?: string;
}

export interface TimeRange {
  /** Unix seconds; since inclusive, until exclusive, as Docker's. */
  since?: number;
  until?: number;
}

export interface LogView {
  store: LogStore;
  version: number;
  phase: LogPhase;
  error: string | null;
  /** The server stopped this view's stream because it read too slowly: catching up after the last line held, then caught up (said for a while). */
  behind: 'catching-up' | 'caught-up' | null;
  /** 'live': the lines end with the newest and new ones come in; 'history': a stretch of the past. */
  mode: 'live' | 'history';
  range: TimeRange | null;
  setRange: (r: TimeRange | null) => void;
  /** Hosts whose lines wait for the host to come back. */
  waiting: string[];
  history: {
    hasOlder: boolean;
    hasNewer: boolean;
    loading: boolean;
    error: string | null;
    loadOlder: () => void;
    loadNewer: () => void;
    jumpToTime: (ms: number) => void;
    jumpToSeq: (seq: number) => void;
    backToLive: () => void;
  };
  resume: () => void;
}

const keyOf = (s: { hostId: string; containerId: string }) => `${s.hostId}/${s.containerId}`;

interface Bounds {
  first: number | null;
  last: number | null;
  hasBefore: boolean;
  hasAfter: boolean;
}

/**
 * `sources`: one (a container's own log) or several (merged by time, each line with its
 * container's prefix). `host`: for a single source, the host watch that pauses the stream
 * while the host is away (a merged view lets the server wait for each host).
 */
export function useLogView({ sources, enabled, host }: { sources: ViewSource[]; enabled: boolean; host?: Pick<HostWatch, 'current' | 'onlineEpoch'> }): LogView {
  const { socket, connected } = useSocket();
  const api = useLogsClient();
  const [store] = useState(() => new LogStore());
  const [version, bump] = useStoreVersion(store);
  const [sub, setSub] = useState<'connecting' | 'following' | 'ended'>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [behind, setBehind] = useState<'catching-up' | 'caught-up' | null>(null);
  const behindRef = useRef(behind);
  behindRef.current = behind;
  const [mode, setMode] = useState<'live' | 'history'>('live');
  const [range, setRangeState] = useState<TimeRange | null>(null);
  const [waiting, setWaiting] = useState<string[]>([]);
  const [generation, setGeneration] = useState(0);
  const [loading, setLoading] = useState(false);
  const [histError, setHistError] = useState<string | null>(null);
  const [, setBoundsVersion] = useState(0);
  const bounds = useRef(new Map<string, Bounds>());
  const loadingRef = useRef(false);
  const merged = sources.length > 1;
  const sourcesKey = sources.map((s) => `${keyOf(s)}${s.kept ? '/kept' : ''}`).join(',');
  const sourcesRef = useRef(sources);
  sourcesRef.current = sources;

  const boundsOf = (k: string): Bounds => {
    let b = bounds.current.get(k);
    if (!b) bounds.current.set(k, (b = { first: null, last: null, hasBefore: true, hasAfter: false }));
    return b;
  };

  const sourceIndex = useCallback(
    (e: { hostId: string; containerId: string; name?: string }) => {
      const vs = sourcesRef.current.find((s) => s.hostId === e.hostId && (s.containerId === e.containerId || e.containerId.startsWith(s.containerId))) ?? sourcesRef.current[0];
      const i = store.sourceIndex({ hostId: vs?.hostId ?? e.hostId, containerId: vs?.containerId ?? e.containerId, name: vs?.name || e.name || e.containerId.slice(0, 12), hostName: vs?.hostName });
      const src = store.sources[i];
      if (e.name && !src.name) src.name = e.name;
      return i;
    },
    [store],
  );

  const reset = useCallback(() => {
    store.clear();
    bounds.current.clear();
    setBoundsVersion((v) => v + 1);
    bump();
  }, [store, bump]);

  // Other sources start from scratch.
  useEffect(() => {
    reset();
    setMode('live');
    setRangeState(null);
    setSub('connecting');
    setHistError(null);
  }, [sourcesKey, reset]);

  const online = merged || !host || host.onlineEpoch > 0;
  const live = connected && online && mode === 'live' && !range?.until;

  // --- live: subscribe after each source's last line (or its tail), again after every reconnect.
  useEffect(() => {
    const list = sourcesRef.current;
    if (!socket || !live || !enabled || !list.length) return;
    let active = true;
    let subId: string | null = null;
    let ended = false;
    setSub('connecting');
    setError(null);

    const take = (entries: (LogEntry | SourcedLogEntry)[], fallback: ViewSource) => {
      const fresh: StoreLine[] = [];
      for (const e of entries) {
        const from = 'hostId' in e && e.hostId ? { hostId: e.hostId, containerId: e.containerId, name: e.name } : { hostId: fallback.hostId, containerId: fallback.containerId };
        const si = merged ? sourceIndex(from) : sourceIndex({ ...from, hostId: fallback.hostId, containerId: fallback.containerId });
        const src = store.sources[si];
        const b = boundsOf(keyOf(src));
        if (b.last !== null && e.seq <= b.last) continue;
        b.last = e.seq;
        if (b.first === null) b.first = e.seq;
        fresh.push({ seq: e.seq, stream: e.stream, time: e.time, line: e.line, source: si });
      }
      if (merged ? store.insertByTime(fresh) : store.append(fresh)) bump();
      // A host that was waited for is back once its lines come.
      if (fresh.length) {
        const back = new Set(fresh.map((l) => store.sources[l.source ?? 0]?.hostId));
        setWaiting((w) => (w.some((h) => back.has(h)) ? w.filter((h) => !back.has(h)) : w));
      }
    };

    const onLogs: ServerToUi['logs'] = (batch) => {
      if (!active) return;
      if (subId !== null && batch.subId !== subId) return;
      if (subId === null && !merged && batch.containerId !== list[0].containerId) return;
      take(batch.entries, list[0]);
      if (batch.done) {
        ended = true;
        setSub('ended');
      }
    };
    const onBehind: ServerToUi['logs:behind'] = (b) => {
      if (!active || b.subId !== subId) return;
      // The server dropped the stream rather than hold more for us: subscribe again after what we have.
      setBehind('catching-up');
      subId = null;
      setGeneration((g) => g + 1);
    };

    const req: LogSubscribeRequest = merged
      ? {
          sources: list.map((s): LogStreamSource => {
            const last = bounds.current.get(keyOf(s))?.last;
            return { hostId: s.hostId, containerId: s.containerId, ...(s.kept ? { kept: true } : {}), ...(last !== null && last !== undefined ? { afterSeq: last } : {}) };
          }),
          tail: MERGED_TAIL,
        }
      : (() => {
          const s = list[0];
          const last = bounds.current.get(keyOf(s))?.last ?? null;
          return { hostId: s.hostId, containerId: s.containerId, ...(s.kept ? { kept: true } : {}), ...(last !== null ? { afterSeq: last } : { tail: INITIAL_TAIL }) };
        })();

    socket.on('logs', onLogs);
    socket.on('logs:behind', onBehind);
    socket.emit('logs:subscribe', req, (res) => {
      if (!active) {
        if (res.subId) socket.emit('logs:unsubscribe', res.subId);
        return;
      }
      if (!res.ok) {
        setError(res.error ?? 'cannot read the log');
        return;
      }
      subId = res.subId ?? null;
      setWaiting([...new Set((res.waiting ?? []).map((w) => w.hostId))]);
      if (behindRef.current === 'catching-up') setBehind('caught-up');
      setSub(ended ? 'ended' : 'following');
    });
    return () => {
      active = false;
      socket.off('logs', onLogs);
      socket.off('logs:behind', onBehind);
      if (subId && socket.connected) socket.emit('logs:unsubscribe', subId);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket, live, host?.onlineEpoch, enabled, sourcesKey, generation, store, bump, merged, sourceIndex]);

  // "Caught up" is said for a while, then goes.
  useEffect(() => {
    if (behind !== 'caught-up') return;
    const t = setTimeout(() => setBehind(null), 10_000);
    return () => clearTimeout(t);
  }, [behind]);

  // --- history: pages per source, joined to what is held.
  const fetchPages = useCallback(
    async (make: (s: ViewSource, b: Bounds | undefined) => Omit<LogPageRequest, 'source'> | null, how: 'prepend' | 'append' | 'replace') => {
      if (loadingRef.current) return;
      loadingRef.current = true;
      setLoading(true);
      setHistError(null);
      try {
        const list = sourcesRef.current;
        const asks = list.map((s) => ({ s, req: make(s, bounds.current.get(keyOf(s))) }));
        const pages = await Promise.all(
          asks.map(async ({ s, req }) => (req ? { s, page: await api.page({ source: { hostId: s.hostId, containerId: s.containerId, ...(s.kept ? { kept: true } : {}) }, ...req }) } : null)),
        );
        if (how === 'replace') {
          store.clear();
          bounds.current.clear();
        }
        const incoming: StoreLine[] = [];
        for (const r of pages) {
          if (!r) continue;
          const { s, page } = r as { s: ViewSource; page: LogPage };
          const si = sourceIndex({ hostId: s.hostId, containerId: s.containerId, name: page.name });
          const b = boundsOf(keyOf(store.sources[si]));
          let entries = page.entries;
          // Only what is not held yet: a page may overlap a live batch that raced it.
          if (how === 'prepend' && b.first !== null) entries = entries.filter((e) => e.seq < b.first!);
          if (how === 'append' && b.last !== null) entries = entries.filter((e) => e.seq > b.last!);
          if (entries.length) {
            if (how !== 'append' || b.first === null) b.first = Math.min(b.first ?? Infinity, entries[0].seq);
            if (how !== 'prepend' || b.last === null) b.last = Math.max(b.last ?? -1, entries[entries.length - 1].seq);
          }
          if (how !== 'append') b.hasBefore = page.hasBefore;
          if (how !== 'prepend') b.hasAfter = page.hasAfter;
          for (const e of entries) incoming.push({ seq: e.seq, stream: e.stream, time: e.time, line: e.line, source: si });
        }
        if (!merged) {
          if (how === 'prepend') store.prepend(incoming);
          else store.append(incoming);
        } else {
          const all = how === 'replace' ? incoming : store.lines().concat(incoming);
          for (const l of all) l.timeMs ??= Date.parse(l.time);
          all.sort((a, b) => a.timeMs! - b.timeMs! || (a.source ?? 0) - (b.source ?? 0) || a.seq - b.seq);
          store.replace(all);
        }
        setBoundsVersion((v) => v + 1);
        bump();
      } catch (err) {
        setHistError(`cannot read the history: ${(err as Error).message}`);
      } finally {
        loadingRef.current = false;
        setLoading(false);
      }
    },
    [api, store, bump, merged, sourceIndex],
  );

  const filter = (r: TimeRange | null) => ({ ...(r?.since !== undefined ? { since: r.since } : {}), ...(r?.until !== undefined ? { until: r.until } : {}) });

  const loadOlder = useCallback(() => {
    void fetchPages((s, b) => (b && b.first !== null && b.hasBefore ? { before: b.first, limit: PAGE_LINES, ...filter(range) } : null), 'prepend');
  }, [fetchPages, range]);

  const loadNewer = useCallback(() => {
    void fetchPages((s, b) => (b && b.last !== null && b.hasAfter ? { after: b.last, limit: PAGE_LINES, ...filter(range) } : null), 'append');
  }, [fetchPages, range]);

  const jumpToTime = useCallback(
    (ms: number) => {
      setMode('history');
      void fetchPages(() => ({ at: ms / 1000, limit: PAGE_LINES, ...filter(range) }), 'replace');
    },
    [fetchPages, range],
  );

  const jumpToSeq = useCallback(
    (seq: number) => {
      if (merged) return;
      // Already held (a link to a line of the tail): nothing to fetch.
      if (store.indexOfSeq(seq) >= 0) return;
      setMode('history');
      void fetchPages(() => ({ around: seq, limit: PAGE_LINES }), 'replace');
    },
    [fetchPages, merged, store],
  );

  const backToLive = useCallback(() => {
    reset();
    setRangeState(null);
    setMode('live');
    setGeneration((g) => g + 1);
  }, [reset]);

  const setRange = useCallback(
    (r: TimeRange | null) => {
      if (!r || (r.since === undefined && r.until === undefined)) return backToLive();
      setRangeState(r);
      setMode('history');
      void fetchPages(() => (r.since !== undefined ? { at: r.since, limit: PAGE_LINES, ...filter(r) } : { limit: PAGE_LINES, ...filter(r) }), 'replace');
    },
    [backToLive, fetchPages],
  );

  // A stretch of history that reaches the end of the log (and no `until`) becomes live again.
  const all = [...bounds.current.values()];
  const hasNewer = mode === 'history' && all.some((b) => b.hasAfter);
  useEffect(() => {
    if (mode === 'history' && !loading && !range?.until && all.length > 0 && !all.some((b) => b.hasAfter)) setMode('live');
  });
  // Nothing older than a tail that came back shorter than asked for.
  const hasOlder = all.some((b) => b.hasBefore && b.first !== null);

  const resume = useCallback(() => setGeneration((g) => g + 1), []);
  const phase: LogPhase = !connected
    ? 'reconnecting'
    : !merged && host && !host.current
      ? 'connecting'
      : !merged && host && host.onlineEpoch === 0
        ? 'host-offline'
        : error
          ? 'error'
          : mode === 'history'
            ? 'history'
            : sub;
  return {
    store,
    version,
    phase,
    error,
    behind,
    mode,
    range,
    setRange,
    waiting: waiting.map((h) => sources.find((s) => s.hostId === h)?.hostName ?? h),
    history: { hasOlder, hasNewer, loading, error: histError, loadOlder, loadNewer, jumpToTime, jumpToSeq, backToLive },
    resume,
  };
}
