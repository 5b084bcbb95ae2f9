'use client';
// A search of one or more logs on their agents (protocol/logs.ts): hits stream in as
// the agents find them, with their matched ranges; "n of m" counts them; a search cut off
// by a reconnect runs again by itself. Nothing is searched in the browser.
import { useCallback, useEffect, useRef, useState } from 'react';
import { LOG_SEARCH_MAX_HITS, regexError, type LogSearchHit, type LogSource } from '../../protocol/logs';
import type { ServerToUi } from '../../protocol/ui-socket';
import { LogStore } from './log-store';
import { useSocket, useStoreVersion } from './socket';
import type { TimeRange } from './use-log-view';

export interface SearchQuery {
  text: string;
  regex: boolean;
  caseSensitive: boolean;
}

export interface LogSearch {
  query: SearchQuery | null;
  run: (q: SearchQuery) => void;
  clear: () => void;
  running: boolean;
  /** Matching lines found so far (exact, also past the hits sent). */
  found: number;
  /** When done: every matching line in the range. */
  total: number | null;
  /** Hits sent (at most LOG_SEARCH_MAX_HITS), oldest first. */
  hits: LogSearchHit[];
  /** The hits as lines of their own, for the filter mode. */
  store: LogStore;
  version: number;
  error: string | null;
  /** The hit's key for highlights: host, container, seq. */
  rangesOf: (hostId: string, containerId: string, seq: number) => Array<[number, number]> | undefined;
}

export const hitKey = (hostId: string, containerId: string, seq: number) => `${hostId}/${containerId}/${seq}`;

const byTime = (a: LogSearchHit, b: LogSearchHit) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.seq - b.seq);

export function useLogSearch(sources: Array<LogSource & { hostName?: string }>, range: TimeRange | null): LogSearch {
  const { socket, connected } = useSocket();
  const [query, setQuery] = useState<SearchQuery | null>(null);
  const [running, setRunning] = useState(false);
  const [found, setFound] = useState(0);
  const [total, setTotal] = useState<number | null>(null);
  const [hits, setHits] = useState<LogSearchHit[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [store] = useState(() => new LogStore());
  const [version, bump] = useStoreVersion(store);
  const ranges = useRef(new Map<string, Array<[number, number]>>());
  const all = useRef<LogSearchHit[]>([]);
  const finished = useRef(false);
  const sourcesKey = sources.map((s) => `${s.hostId}/${s.containerId}${s.kept ? '/kept' : ''}`).join(',');
  const sourcesRef = useRef(sources);
  sourcesRef.current = sources;
  const rangeKey = `${range?.since ?? ''}-${range?.until ?? ''}`;

  const reset = useCallback(() => {
    ranges.current.clear();
    all.current = [];
    store.clear();
    bump();
    setHits([]);
    setFound(0);
    setTotal(null);
    setError(null);
  }, [store, bump]);

  useEffect(() => {
    if (!socket || !connected || !query) return;
    const list = sourcesRef.current;
    if (!list.length) return;
    const bad = query.regex ? regexError(query.text, query.caseSensitive) : undefined;
    if (bad) {
      reset();
      setError(bad);
      return;
    }
    // A search cut off by a reconnect starts again from scratch (searchIds are per connection).
    if (finished.current) return;
    reset();
    setRunning(true);
    let active = true;
    let searchId: string | null = null;
    const early: Parameters<ServerToUi['logs:searchBatch']>[0][] = [];

    const take = (b: Parameters<ServerToUi['logs:searchBatch']>[0]) => {
      for (const h of b.hits) ranges.current.set(hitKey(h.hostId, h.containerId, h.seq), h.ranges);
      const multi = new Set(b.hits.map((h) => `${h.hostId}/${h.containerId}`)).size > 1 || list.length > 1;
      all.current = all.current.concat(b.hits);
      if (multi) all.current.sort(byTime);
      setHits(all.current);
      setFound(b.found);
      // The filter mode's lines, each with its container as its source.
      const lines = all.current.map((h) => ({
        seq: h.seq,
        stream: h.stream,
        time: h.time,
        line: h.line,
        source: (() => {
          const own = sourcesRef.current.find((s) => s.hostId === h.hostId && h.containerId.startsWith(s.containerId));
          return store.sourceIndex({ hostId: h.hostId, containerId: own?.containerId ?? h.containerId, name: h.name, hostName: own?.hostName });
        })(),
      }));
      store.replace(lines);
      bump();
    };
    const onBatch: ServerToUi['logs:searchBatch'] = (b) => {
      if (!active) return;
      if (searchId === null) early.push(b);
      else if (b.searchId === searchId) take(b);
    };
    const onDone: ServerToUi['logs:searchDone'] = (d) => {
      if (!active || d.searchId !== searchId) return;
      finished.current = true;
      setRunning(false);
      setTotal(d.total);
      if (d.error) setError(d.error);
    };
    socket.on('logs:searchBatch', onBatch);
    socket.on('logs:searchDone', onDone);
    socket.emit(
      'logs:search',
      {
        sources: list.map((s) => ({ hostId: s.hostId, containerId: s.containerId, ...(s.kept ? { kept: true } : {}) })),
        query: query.text,
        regex: query.regex,
        caseSensitive: query.caseSensitive,
        maxHits: LOG_SEARCH_MAX_HITS,
        ...(range?.since !== undefined ? { since: range.since } : {}),
        ...(range?.until !== undefined ? { until: range.until } : {}),
      },
      (res) => {
        if (!active) {
          if (res.searchId) socket.emit('logs:searchCancel', res.searchId);
          return;
        }
        if (!res.ok || !res.searchId) {
          setRunning(false);
          finished.current = true;
          setError(res.error ?? 'cannot search');
          return;
        }
        searchId = res.searchId;
        for (const b of early.splice(0)) if (b.searchId === searchId) take(b);
      },
    );
    return () => {
      active = false;
      socket.off('logs:searchBatch', onBatch);
      socket.off('logs:searchDone', onDone);
      if (searchId && !finished.current && socket.connected) socket.emit('logs:searchCancel', searchId);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket, connected, query, sourcesKey, rangeKey, reset, store, bump]);

  const run = useCallback((q: SearchQuery) => {
    finished.current = false;
    setQuery({ ...q });
  }, []);
  const clear = useCallback(() => {
    finished.current = false;
    setQuery(null);
    setRunning(false);
    reset();
  }, [reset]);

  // A new range or other sources: the search runs again over them.
  useEffect(() => {
    finished.current = false;
  }, [sourcesKey, rangeKey]);

  const rangesOf = useCallback((hostId: string, containerId: string, seq: number) => ranges.current.get(hitKey(hostId, containerId, seq)), []);
  return { query, run, clear, running, found, total, hits, store, version, error, rangesOf };
}
