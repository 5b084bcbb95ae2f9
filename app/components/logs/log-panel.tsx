'use client';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { LOG_SEARCH_MAX_HITS, regexError, type LogSource } from '../../../protocol/logs';
import { downloadUrl } from '../../lib/log-api';
import { useLogSearch, type SearchQuery } from '../../lib/use-log-search';
import type { LogView } from '../../lib/use-log-view';
import { LogViewer, type LineRef, type SelectedRange } from './log-viewer';

export interface LogPanelProps {
  view: LogView;
  /** The logs searched and downloaded: the view's own (with its host's name, for a merged view's prefixes). */
  sources: Array<LogSource & { hostName?: string }>;
  title?: string;
  merged?: boolean;
  heightClass?: string;
}

/** Half a microsecond: a selection's ends as times, with room for a double's rounding, and no more. */
const EDGE_S = 5e-7;

/**
 * A log view with its search (on the agents: highlight or filter mode, "n of m", next
 * and previous, a match seen in context) and its download.
 */
export function LogPanel({ view, sources, title, merged = false, heightClass }: LogPanelProps) {
  const search = useLogSearch(sources, view.range);
  const [text, setText] = useState('');
  const [regex, setRegex] = useState(false);
  const [caseSensitive, setCaseSensitive] = useState(false);
  const [mode, setMode] = useState<'highlight' | 'filter'>('highlight');
  const [current, setCurrent] = useState(-1);
  const [reveal, setReveal] = useState<(LineRef & { nonce: number }) | null>(null);
  const [filterReveal, setFilterReveal] = useState<(LineRef & { nonce: number }) | null>(null);
  const [selection, setSelection] = useState<SelectedRange | null>(null);
  const [format, setFormat] = useState<'text' | 'jsonl'>('text');
  const [scope, setScope] = useState<'all' | 'selection' | 'matches'>('all');
  const [stamps, setStamps] = useState(false);

  const badRegex = regex && text ? regexError(text, caseSensitive) : undefined;
  // The query as typed now: a run started by a timer or a toggle reads this, never a stale copy.
  const latest = useRef<SearchQuery>({ text, regex, caseSensitive });
  latest.current = { text, regex, caseSensitive };
  const typing = useRef<ReturnType<typeof setTimeout> | null>(null);
  const searchRef = useRef(search);
  searchRef.current = search;

  const run = useCallback(() => {
    if (typing.current) clearTimeout(typing.current);
    typing.current = null;
    const q = latest.current;
    const s = searchRef.current;
    if (!q.text.trim()) {
      s.clear();
      setCurrent(-1);
      return;
    }
    if (q.regex && regexError(q.text, q.caseSensitive)) return;
    // The same search again would only start it over.
    if (s.query && s.query.text === q.text && s.query.regex === q.regex && s.query.caseSensitive === q.caseSensitive) return;
    setCurrent(-1);
    s.run(q);
  }, []);

  // A search changed by its toggles runs again at once; the text, after a pause in typing (or Enter).
  useEffect(() => {
    if (searchRef.current.query) run();
  }, [regex, caseSensitive, run]);
  useEffect(() => {
    if (typing.current) clearTimeout(typing.current);
    typing.current = setTimeout(run, 400);
    return () => {
      if (typing.current) clearTimeout(typing.current);
    };
  }, [text, run]);

  const goTo = useCallback(
    (k: number, how: 'highlight' | 'filter' = mode) => {
      const h = search.hits[k];
      if (!h) return;
      setCurrent(k);
      const ref = { hostId: h.hostId, containerId: h.containerId, seq: h.seq, nonce: Date.now() + k };
      if (how === 'filter') {
        setFilterReveal(ref);
        return;
      }
      setReveal(ref);
      // Not held: fetch the page around it (the viewer scrolls there once it is in).
      const si = view.store.sources.findIndex((s) => s.hostId === h.hostId && h.containerId.startsWith(s.containerId));
      if (si >= 0 && view.store.indexOf(h.seq, si) >= 0) return;
      if (!merged) view.history.jumpToSeq(h.seq);
      else view.history.jumpToTime(Date.parse(h.time));
    },
    [search.hits, mode, view, merged],
  );

  const onContext = useCallback(
    (line: LineRef) => {
      const k = search.hits.findIndex((h) => h.seq === line.seq && h.hostId === line.hostId && h.containerId.startsWith(line.containerId));
      setMode('highlight');
      if (k >= 0) goTo(k, 'highlight');
    },
    [search.hits, goTo],
  );

  const n = search.hits.length;
  const counted = search.total ?? search.found;
  const filtering = mode === 'filter' && !!search.query;
  const filterSource = useMemo(
    () => ({ store: search.store, version: search.version, phase: 'history' as const, error: search.error }),
    [search.store, search.version, search.running, search.error],
  );

  const dl = downloadUrl({
    sources,
    format,
    timestamps: stamps,
    ...(scope === 'selection' && selection
      ? { since: Math.max(0, selection.fromTime - EDGE_S), until: selection.toTime + EDGE_S }
      : { ...(view.range?.since !== undefined ? { since: view.range.since } : {}), ...(view.range?.until !== undefined ? { until: view.range.until } : {}) }),
    ...(scope === 'matches' && search.query ? { query: search.query.text, regex: search.query.regex, caseSensitive: search.query.caseSensitive } : {}),
  });

  const bar = (
    <span className="flex flex-wrap items-center gap-2" data-testid="log-search-bar">
      <input
        data-testid="log-search"
        type="search"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            if (search.query?.text === text && n) goTo(e.shiftKey ? (current - 1 + n) % n : (current + 1) % n);
            else run();
          }
        }}
        placeholder={regex ? 'regular expression' : 'search the whole log'}
        aria-label="Search the log"
        aria-invalid={!!badRegex}
        className={`w-56 rounded bg-slate-800 px-1.5 py-0.5 text-slate-100 placeholder:text-slate-500 ${badRegex ? 'ring-1 ring-rose-500' : ''}`}
      />
      <label className="flex items-center gap-1" title="regular expression">
        <input type="checkbox" data-testid="log-search-regex" checked={regex} onChange={(e) => setRegex(e.target.checked)} />
        .*
      </label>
      <label className="flex items-center gap-1" title="match case">
        <input type="checkbox" data-testid="log-search-case" checked={caseSensitive} onChange={(e) => setCaseSensitive(e.target.checked)} />
        Aa
      </label>
      <select data-testid="log-search-mode" value={mode} onChange={(e) => setMode(e.target.value as 'highlight' | 'filter')} className="rounded bg-slate-800 px-1 py-0.5 text-slate-200" aria-label="search mode">
        <option value="highlight">highlight</option>
        <option value="filter">only matches</option>
      </select>
      {search.query && !badRegex ? (
        <>
          <span data-testid="log-search-count" data-found={counted} data-done={search.total !== null ? 'true' : 'false'} className="text-slate-300 tabular-nums">
            {n === 0 ? (search.running ? 'searching…' : 'no match') : `${current >= 0 ? current + 1 : '–'} of ${counted.toLocaleString('en')}${search.running ? '…' : ''}`}
            {search.total !== null && search.total > n ? ` (first ${LOG_SEARCH_MAX_HITS.toLocaleString('en')} listed)` : ''}
          </span>
          <button type="button" data-testid="log-search-prev" disabled={!n} onClick={() => goTo((current - 1 + n) % n)} className="rounded bg-slate-800 px-1.5 hover:bg-slate-700 disabled:opacity-50" aria-label="previous match">
            ↑
          </button>
          <button type="button" data-testid="log-search-next" disabled={!n} onClick={() => goTo((current + 1) % n)} className="rounded bg-slate-800 px-1.5 hover:bg-slate-700 disabled:opacity-50" aria-label="next match">
            ↓
          </button>
        </>
      ) : null}
      {badRegex || search.error ? (
        <span role="alert" data-testid="log-search-error" className="text-rose-300">
          {badRegex ?? search.error}
        </span>
      ) : null}
      <details className="relative" data-testid="log-download-menu">
        <summary className="cursor-pointer list-none rounded bg-slate-800 px-2 py-0.5 hover:bg-slate-700">Download ▾</summary>
        <div className="absolute right-0 z-20 mt-1 w-64 space-y-1.5 rounded border border-slate-700 bg-slate-900 p-2 shadow-lg">
          <fieldset className="space-y-0.5">
            <legend className="text-slate-400">what</legend>
            <label className="flex items-center gap-1.5">
              <input type="radio" name="dl-scope" data-testid="log-download-all" checked={scope === 'all'} onChange={() => setScope('all')} />
              {view.range ? 'the range shown' : 'the whole log'}
            </label>
            <label className={`flex items-center gap-1.5 ${selection ? '' : 'opacity-50'}`}>
              <input type="radio" name="dl-scope" data-testid="log-download-selection" disabled={!selection} checked={scope === 'selection'} onChange={() => setScope('selection')} />
              the selected lines
            </label>
            <label className={`flex items-center gap-1.5 ${search.query ? '' : 'opacity-50'}`}>
              <input type="radio" name="dl-scope" data-testid="log-download-matches" disabled={!search.query} checked={scope === 'matches'} onChange={() => setScope('matches')} />
              the lines that match the search
            </label>
          </fieldset>
          <fieldset className="flex gap-3">
            <label className="flex items-center gap-1.5">
              <input type="radio" name="dl-format" data-testid="log-download-text" checked={format === 'text'} onChange={() => setFormat('text')} />
              text
            </label>
            <label className="flex items-center gap-1.5">
              <input type="radio" name="dl-format" data-testid="log-download-jsonl" checked={format === 'jsonl'} onChange={() => setFormat('jsonl')} />
              JSON lines
            </label>
          </fieldset>
          {format === 'text' ? (
            <label className="flex items-center gap-1.5">
              <input type="checkbox" data-testid="log-download-timestamps" checked={stamps} onChange={(e) => setStamps(e.target.checked)} />
              with timestamps
            </label>
          ) : null}
          <a
            data-testid="log-download"
            href={dl}
            download
            onClick={(e) => {
              // The menu closes once the download has started.
              const d = (e.currentTarget as HTMLElement).closest('details');
              setTimeout(() => d?.removeAttribute('open'), 0);
            }}
            className="block rounded bg-sky-700 px-2 py-1 text-center text-white hover:bg-sky-600">
            Download
          </a>
        </div>
      </details>
    </span>
  );

  // A selection gone (a new page replaced the lines) cannot be downloaded.
  useEffect(() => {
    if (!selection && scope === 'selection') setScope('all');
  }, [selection, scope]);

  const currentHit = current >= 0 ? search.hits[current] : undefined;
  return (
    <div>
      <div hidden={filtering}>
        <LogViewer
          source={view}
          title={title}
          merged={merged}
          toolbar={filtering ? null : bar}
          highlightOf={search.query && !filtering ? search.rangesOf : undefined}
          reveal={reveal}
          onSelection={setSelection}
          heightClass={heightClass}
          status={sources.every((s) => s.kept) && view.phase === 'ended' ? { text: 'kept log of a removed container', cls: 'text-slate-400' } : undefined}
        />
      </div>
      {filtering ? (
        <LogViewer
          key="matches"
          source={filterSource}
          title={`Matches of “${search.query!.text}”`}
          status={search.running ? { text: 'searching…', cls: 'text-amber-300' } : { text: 'search done', cls: 'text-emerald-300' }}
          merged={merged}
          toolbar={bar}
          highlightOf={search.rangesOf}
          reveal={filterReveal ?? (currentHit ? { hostId: currentHit.hostId, containerId: currentHit.containerId, seq: currentHit.seq, nonce: -1 } : null)}
          onContext={onContext}
          onSelection={setSelection}
          heightClass={heightClass}
        />
      ) : null}
    </div>
  );
}
