'use client';
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { stripAnsi, visibleIndexMap } from '../../lib/ansi';
import { formatTime, matchesFields, parseFieldFilter, parseJsonLine, type FieldCondition, type JsonObject } from '../../lib/log-lines';
import { RowLayout, type LogStore } from '../../lib/log-store';
import type { LogPhase } from '../../lib/socket';
import { jsonOpenLines, LINE_PX, LogRow, PREFIX_CLASSES, type Highlight } from './log-row';

/** Within this many pixels of the bottom counts as "at the bottom" (sub-pixel scroll positions). */
const STICK_SLACK_PX = 24;
/** Rows drawn above and below the visible ones, so a fast scroll does not show blank space first. */
const OVERSCAN = 30;
/**
 * The tallest scroll area used; Chromium lays out no taller than about 33 million pixels,
 * Firefox about 17 million. Past it, scroll positions are scaled onto the content.
 */
const MAX_SCROLL_PX = 15_000_000;
/** Parsed JSON lines kept: enough for several screens, never the whole log. */
const JSON_CACHE = 5000;

const STATUS: Record<LogPhase, { text: string; cls: string }> = {
  connecting: { text: 'connecting…', cls: 'text-amber-300' },
  following: { text: 'following', cls: 'text-emerald-300' },
  ended: { text: 'stream ended (container not running)', cls: 'text-slate-400' },
  'host-offline': { text: 'host offline: the log as of when it was last seen, resumes when it is back', cls: 'text-amber-300' },
  reconnecting: { text: 'reconnecting…', cls: 'text-amber-300' },
  error: { text: 'cannot read the log', cls: 'text-red-300' },
  history: { text: 'history (not following)', cls: 'text-sky-300' },
};

export interface LogHistory {
  /** Older lines exist on the agent than the first one held. */
  hasOlder: boolean;
  /** A stretch of history is shown and newer lines than the last one held exist. */
  hasNewer?: boolean;
  loading: boolean;
  loadOlder: () => void;
  loadNewer?: () => void;
  /** Drops the stretch of history shown and follows the newest lines again. */
  backToLive?: () => void;
  /** Replaces what is shown by the lines from this time on (ms since the epoch). */
  jumpToTime?: (ms: number) => void;
  /** Replaces what is shown by the lines around this seq (a link's range). */
  jumpToSeq?: (seq: number) => void;
  error?: string | null;
}

export interface LogViewSource {
  store: LogStore;
  /** 'history': a stretch of the past is shown, not the newest lines. */
  mode?: 'live' | 'history';
  /** since/until (unix seconds) narrowing what is shown; setRange(null) goes back to the live tail. */
  range?: { since?: number; until?: number } | null;
  setRange?: (r: { since?: number; until?: number } | null) => void;
  /** Hosts of a merged view whose lines wait for the host to come back. */
  waiting?: string[];
  /** Changes whenever the store does (the store mutates in place). */
  version: number;
  phase: LogPhase;
  error: string | null;
  /** The server said this reader fell behind: it is catching up from its seq, or has. */
  behind?: 'catching-up' | 'caught-up' | null;
  history?: LogHistory;
}

export interface LineRef {
  hostId: string;
  containerId: string;
  seq: number;
}

/** The lines selected, by their first and last: seqs (for a link) and times in unix seconds (for a download). */
export interface SelectedRange {
  fromSeq: number;
  toSeq: number;
  fromTime: number;
  toTime: number;
}

interface LineKey {
  seq: number;
  src: number;
}

export interface LogViewerProps {
  source: LogViewSource;
  title?: string;
  /** Several containers in one view: each line carries its container's name as a coloured prefix. */
  merged?: boolean;
  /** A search's matched ranges of a line (offsets in the text as printed, escapes included). */
  highlightOf?: (hostId: string, containerId: string, seq: number) => Array<[number, number]> | undefined;
  /** Scroll to this line once it is held (a search match chosen); `nonce` makes the same line count again. */
  reveal?: LineRef & { nonce: number } | null;
  /** Rows get a "context" button that calls this (the filter mode: see a match among its neighbours). */
  onContext?: (line: LineRef & { timeMs: number }) => void;
  /** Extra controls in the toolbar (search, download). */
  toolbar?: ReactNode;
  /** Reports the current selection (seq range) to the page, for a download of it. */
  onSelection?: (range: SelectedRange | null) => void;
  /** Reports what the field filter keeps, for a download of it. */
  onFieldFilter?: (text: string) => void;
  heightClass?: string;
  /** What the status says, instead of the stream's phase (the filter mode's list of matches). */
  status?: { text: string; cls: string };
}

interface LayoutCache {
  store: LogStore;
  layout: RowLayout;
  key: string;
  builtLen: number;
  epoch: number;
  cuts: number;
  /** Store index of the group head the last built row belongs to. */
  head: number;
  headFolded: boolean;
}

/** The range of a link: `#logs=FROM-TO` (seqs). */
export function parseLinkRange(hash: string): { from: number; to: number } | null {
  const m = /(?:^#|&)logs=(\d+)(?:-(\d+))?/.exec(hash);
  if (!m) return null;
  const from = Number(m[1]);
  const to = m[2] ? Number(m[2]) : from;
  return { from: Math.min(from, to), to: Math.max(from, to) };
}

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // No clipboard permission (or not a secure context): the old way, from a user gesture.
  }
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.className = 'fixed -left-[9999px] top-0';
  document.body.append(ta);
  ta.select();
  document.execCommand('copy');
  ta.remove();
}

/**
 * A log, virtualized: the lines live in a compact store and only the ones in view (and a
 * few around them) are drawn, so a million lines scroll as smoothly as ten. It follows new
 * lines while the reader is at the bottom; scrolling up pauses until they come back down.
 */
export function LogViewer({ source, title = 'Logs', merged = false, highlightOf, reveal, onContext, toolbar, onSelection, onFieldFilter, heightClass = 'h-[28rem]', status: statusOverride }: LogViewerProps) {
  const { store, version } = source;
  const box = useRef<HTMLDivElement>(null);
  const measure = useRef<HTMLSpanElement>(null);
  const [follow, setFollow] = useState(true);
  const [timeMode, setTimeMode] = useState<'off' | 'local' | 'utc'>('off');
  const [colours, setColours] = useState(true);
  const [wrap, setWrap] = useState(false);
  const [filterText, setFilterText] = useState('');
  const [jsonOpen, setJsonOpen] = useState<Set<number>>(() => new Set());
  const [folded, setFolded] = useState<Set<number>>(() => new Set());
  const [sel, setSel] = useState<{ anchor: LineKey; a: LineKey; b: LineKey } | null>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(448);
  const [cols, setCols] = useState(160);
  const [copied, setCopied] = useState<string | null>(null);
  const [jumpAt, setJumpAt] = useState('');
  const [sinceAt, setSinceAt] = useState('');
  const [untilAt, setUntilAt] = useState('');
  // After a jump: the first line at or after this time goes to the top once its page is in.
  const pendingTime = useRef<number | null>(null);
  const jsonCache = useRef(new Map<number, JsonObject | null>());
  const cache = useRef<LayoutCache | null>(null);
  const linkTarget = useRef<{ from: number; to: number } | null>(null);
  const linkAsked = useRef(false);
  // The line at the top of the view and how far into it the view starts, to hold it in
  // place when older lines come in above it.
  const anchor = useRef<{ seq: number; offset: number } | null>(null);
  // Where following last put the view, and whether it was following at the last layout.
  const autoTop = useRef<number | null>(null);
  const wasFollowing = useRef(false);

  let filter: FieldCondition[] = [];
  let filterError: string | null = null;
  try {
    filter = parseFieldFilter(filterText);
  } catch (err) {
    filterError = (err as Error).message;
  }

  useEffect(() => onFieldFilter?.(filterError ? '' : filterText), [filterText, filterError, onFieldFilter]);

  const jsonOf = useCallback(
    (i: number): JsonObject | null => {
      const seq = store.seq(i);
      const c = jsonCache.current;
      if (c.has(seq)) return c.get(seq)!;
      const v = parseJsonLine(store.text(i));
      if (c.size >= JSON_CACHE) c.delete(c.keys().next().value!);
      c.set(seq, v);
      return v;
    },
    [store],
  );

  // Column count for wrapped heights: the viewer's font is monospace.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const update = () => {
      const h = el.clientHeight;
      if (h > 0) setViewH(h);
      const cw = measure.current ? measure.current.getBoundingClientRect().width / 100 : 7.2;
      // Gutter, border and padding; the time column when shown.
      const used = 28 + (timeMode !== 'off' ? 200 : 0) + (merged ? 140 : 0);
      if (cw > 0 && el.clientWidth > 0) setCols(Math.max(20, Math.floor((el.clientWidth - used) / cw)));
    };
    update();
    const ro = new ResizeObserver(update);
    ro.observe(el);
    return () => ro.disconnect();
  }, [timeMode, merged]);

  // --- the rows: built once per change of what shapes them, then extended as lines come in.
  const key = `${filterText}|${wrap ? cols : 0}|${[...jsonOpen].join(',')}|${[...folded].join(',')}`;
  let c = cache.current;
  if (c && c.store === store && c.key === key && c.epoch === store.epoch && c.cuts !== store.cuts) {
    if (c.cuts + 1 === store.cuts) {
      // The newest lines were taken off and put back re-sorted: lay out again from there.
      c.layout.popFrom(store.cutLen);
      c.builtLen = Math.min(c.builtLen, store.cutLen);
      c.head = -1;
      c.cuts = store.cuts;
    } else c = null;
  }
  if (!c || c.store !== store || c.key !== key || c.epoch !== store.epoch || c.builtLen > store.length) {
    c = cache.current = { store, layout: new RowLayout(), key, builtLen: 0, epoch: store.epoch, cuts: store.cuts, head: -1, headFolded: false };
    c.layout.reset();
  }
  if (c.builtLen < store.length) {
    const L = c.layout;
    for (let i = c.builtLen; i < store.length; i++) {
      const cont = store.continues(i);
      if (!cont) {
        c.head = i;
        c.headFolded = folded.has(store.seq(i));
      } else if (c.headFolded && !filter.length) continue;
      let obj: JsonObject | null = null;
      if (filter.length || jsonOpen.size) obj = jsonOf(i);
      if (filter.length && !matchesFields(obj, filter)) continue;
      let lines = 1;
      if (wrap) lines = Math.max(1, Math.ceil(store.text(i).length / cols));
      if (obj && jsonOpen.has(store.seq(i))) lines += jsonOpenLines(obj);
      L.push(i, lines * LINE_PX);
    }
    c.builtLen = store.length;
  }
  const layout = c.layout;
  const total = layout.total;
  const scrollH = Math.min(total, MAX_SCROLL_PX);
  const maxScroll = Math.max(0, scrollH - viewH);
  const ratio = maxScroll > 0 ? Math.max(0, total - viewH) / maxScroll : 1;
  const contentTop = Math.min(scrollTop, maxScroll) * ratio;
  const firstRow = Math.max(0, layout.rowAt(contentTop) - OVERSCAN);
  const lastRow = Math.min(layout.count - 1, layout.rowAt(contentTop + viewH) + OVERSCAN);
  const offsetY = Math.min(scrollTop, maxScroll) + (layout.tops[firstRow] - contentTop);

  const select = useCallback(
    (seq: number, src: number, extend: boolean) => {
      setSel((s) => {
        const k = { seq, src };
        if (extend && s) {
          const ia = store.indexOf(s.anchor.seq, s.anchor.src);
          const ik = store.indexOf(seq, src);
          return ia <= ik ? { anchor: s.anchor, a: s.anchor, b: k } : { anchor: s.anchor, a: k, b: s.anchor };
        }
        if (s && s.a.seq === seq && s.b.seq === seq && s.a.src === src && s.b.src === src) return null;
        return { anchor: k, a: k, b: k };
      });
    },
    [store],
  );
  const selA = sel ? store.indexOf(sel.a.seq, sel.a.src) : -1;
  const selB = sel ? store.indexOf(sel.b.seq, sel.b.src) : -1;
  const selKey = sel && selA >= 0 && selB >= 0 ? `${selA}-${selB}-${version}` : '';
  useEffect(() => {
    if (!onSelection) return;
    if (!selKey) return onSelection(null);
    onSelection({ fromSeq: store.seq(selA), toSeq: store.seq(selB), fromTime: store.timeSec(selA), toTime: store.timeSec(selB) });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selKey, onSelection]);
  const toggleJson = useCallback((seq: number) => setJsonOpen((s) => toggled(s, seq)), []);
  const toggleGroup = useCallback((seq: number) => setFolded((s) => toggled(s, seq)), []);
  const addFilter = useCallback((cond: string) => setFilterText((t) => (t.trim() ? `${t.trim()} ${cond}` : cond)), []);

  // Follow: stay at the bottom as lines come in.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (follow) {
      // The reader scrolled up since we last put the view at the bottom, and its scroll
      // event has not come yet (a batch rendered first): they stop following, not us.
      const justFollowing = !wasFollowing.current;
      wasFollowing.current = true;
      // (A view that got shorter, a filter say, moved the position itself: that is no reader's scroll.)
      const reachable = autoTop.current !== null && el.scrollHeight - el.clientHeight >= autoTop.current;
      if (!justFollowing && reachable && el.scrollTop < autoTop.current! - STICK_SLACK_PX) {
        setFollow(false);
        return;
      }
      el.scrollTop = el.scrollHeight;
      autoTop.current = el.scrollTop;
      if (el.scrollTop !== scrollTop) setScrollTop(el.scrollTop);
      return;
    }
    wasFollowing.current = false;
    // Older lines came in above: keep the line that was at the top where it was.
    const a = anchor.current;
    if (a) {
      const i = store.indexOfSeq(a.seq);
      if (i >= 0) {
        const row = layout.rowOfIndex(i);
        const want = (layout.tops[row] + a.offset) / ratio;
        if (Math.abs(want - el.scrollTop) > 1) {
          el.scrollTop = want;
          setScrollTop(el.scrollTop);
        }
      }
    }
  }, [version, follow, layout, layout.count, total, store, ratio, scrollTop]);

  // A link's range: scroll there and select it once the lines are in (asking the history for them if it can).
  useEffect(() => {
    if (linkAsked.current) return;
    linkAsked.current = true;
    const r = parseLinkRange(window.location.hash);
    if (!r) return;
    linkTarget.current = r;
    setFollow(false);
    source.history?.jumpToSeq?.(r.from);
  }, [source.history]);
  useEffect(() => {
    const r = linkTarget.current;
    if (!r) return;
    const i = store.indexOfSeq(r.from);
    if (i < 0) return;
    linkTarget.current = null;
    const j = store.indexOfSeq(r.to);
    setSel({ anchor: { seq: r.from, src: 0 }, a: { seq: r.from, src: 0 }, b: { seq: j >= 0 ? r.to : r.from, src: 0 } });
    scrollToIndex(i);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, layout]);

  function scrollToIndex(i: number) {
    const el = box.current;
    if (!el) return;
    const row = layout.rowOfIndex(i);
    setFollow(false);
    const y = Math.max(0, layout.tops[row] - viewH / 3) / ratio;
    el.scrollTop = y;
    setScrollTop(el.scrollTop);
    anchor.current = { seq: store.seq(layout.rows[Math.min(row, layout.count - 1)] ?? i), offset: 0 };
  }

  useEffect(() => {
    const t = pendingTime.current;
    if (t === null || source.history?.loading || !store.length) return;
    pendingTime.current = null;
    const i = Math.min(store.length - 1, store.indexAtTime(t));
    const el = box.current;
    if (!el) return;
    const row = layout.rowOfIndex(i);
    el.scrollTop = layout.tops[Math.min(row, layout.count - 1)] / ratio;
    setScrollTop(el.scrollTop);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, source.history?.loading]);

  const revealed = useRef<number | null>(null);
  useEffect(() => {
    if (!reveal || revealed.current === reveal.nonce) return;
    const si = store.sources.findIndex((s) => s.hostId === reveal.hostId && (s.containerId === reveal.containerId || reveal.containerId.startsWith(s.containerId)));
    const i = si < 0 ? -1 : store.indexOf(reveal.seq, si);
    if (i < 0) return;
    revealed.current = reveal.nonce;
    scrollToIndex(i);
    const k = { seq: reveal.seq, src: si };
    setSel({ anchor: k, a: k, b: k });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [reveal?.nonce, version, layout]);

  function onScroll() {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight <= STICK_SLACK_PX;
    const h = source.history;
    if (source.mode === 'history') {
      // The past does not follow: the bottom of a stretch of history loads the page after it.
      if (follow) setFollow(false);
      if (atBottom && h?.hasNewer && !h.loading) h.loadNewer?.();
    } else if (atBottom !== follow) setFollow(atBottom);
    if (atBottom) autoTop.current = el.scrollTop;
    const y = el.scrollTop * ratio;
    const row = layout.rowAt(y);
    if (layout.count) anchor.current = { seq: store.seq(layout.rows[row]), offset: y - layout.tops[row] };
    // Near the top: the page before.
    if (h && h.hasOlder && !h.loading && el.scrollTop < viewH) h.loadOlder();
  }

  function selectionText(): string {
    const a = selA;
    const b = selB;
    if (a < 0 || b < 0) return '';
    const out: string[] = [];
    for (let i = a; i <= b; i++) {
      const src = merged ? `${store.sources[store.source(i)]?.name ?? '?'} | ` : '';
      const t = timeMode !== 'off' ? `${formatTime(store.timeMs(i), timeMode === 'utc')} ` : '';
      out.push(src + t + stripAnsi(store.text(i)));
    }
    return out.join('\n');
  }

  async function copy(what: 'text' | 'link') {
    if (!sel) return;
    const url = new URL(window.location.href);
    url.hash = `logs=${sel.a.seq}-${sel.b.seq}`;
    await copyText(what === 'text' ? selectionText() : url.toString());
    if (what === 'link') window.history.replaceState(window.history.state, '', url.toString());
    setCopied(what);
    setTimeout(() => setCopied(null), 1500);
  }

  function jumpToTime() {
    const ms = Date.parse(jumpAt);
    if (!Number.isFinite(ms)) return;
    setFollow(false);
    if (source.history?.jumpToTime) {
      pendingTime.current = ms;
      source.history.jumpToTime(ms);
      return;
    }
    scrollToIndex(Math.min(store.length - 1, store.indexAtTime(ms)));
  }

  function applyRange() {
    const since = sinceAt ? Date.parse(sinceAt) : NaN;
    const until = untilAt ? Date.parse(untilAt) : NaN;
    if (!Number.isFinite(since) && !Number.isFinite(until)) {
      source.setRange?.(null);
      return;
    }
    setFollow(false);
    pendingTime.current = Number.isFinite(since) ? since : -Infinity;
    source.setRange?.({ ...(Number.isFinite(since) ? { since: since / 1000 } : {}), ...(Number.isFinite(until) ? { until: until / 1000 } : {}) });
  }

  const status = statusOverride ?? STATUS[source.phase];
  const rows: ReactNode[] = [];
  for (let r = firstRow; r <= lastRow && layout.count; r++) {
    const i = layout.rows[r];
    const seq = store.seq(i);
    const text = store.text(i);
    const cont = store.continues(i);
    let group: { more: number; folded: boolean } | null = null;
    if (!cont && i + 1 < store.length && store.continues(i + 1)) {
      let n = 0;
      while (i + 1 + n < store.length && store.continues(i + 1 + n)) n++;
      group = { more: n, folded: folded.has(seq) };
    }
    const own = store.sources[store.source(i)];
    const src = merged ? own : undefined;
    const raw = own && highlightOf ? highlightOf(own.hostId, own.containerId, seq) : undefined;
    let marks: Highlight[] | null = null;
    if (raw?.length) {
      const map = visibleIndexMap(text);
      const cur = reveal && reveal.seq === seq && own.hostId === reveal.hostId;
      marks = raw.map(([a, b], k) => ({ start: map ? map[Math.min(a, text.length)] : a, end: map ? map[Math.min(b, text.length)] : b, current: !!cur && k === 0 }));
    }
    rows.push(
      <LogRow
        key={seq + ':' + store.source(i)}
        seq={seq}
        text={text}
        stream={store.stream(i)}
        timeMs={store.timeMs(i)}
        timeMode={timeMode === 'off' ? null : timeMode}
        colours={colours}
        wrap={wrap}
        json={jsonOf(i)}
        jsonOpen={jsonOpen.has(seq)}
        continuation={cont}
        group={group}
        prefix={src ? { name: src.hostName ? `${src.hostName}/${src.name}` : src.name, cls: PREFIX_CLASSES[store.source(i) % PREFIX_CLASSES.length] } : null}
        src={store.source(i)}
        selected={selA >= 0 && i >= selA && i <= selB}
        highlights={marks}
        onContext={onContext && own ? () => onContext({ hostId: own.hostId, containerId: own.containerId, seq, timeMs: store.timeMs(i) }) : undefined}
        onSelect={select}
        onToggleJson={toggleJson}
        onToggleGroup={toggleGroup}
        onAddFilter={addFilter}
      />,
    );
  }

  const h = source.history;
  return (
    <div className="overflow-hidden rounded-lg border border-slate-800 bg-slate-950 shadow-sm" data-testid="log-panel">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1.5 border-b border-slate-800 px-3 py-2 text-xs text-slate-300">
        <span className="font-semibold text-slate-100">{title}</span>
        <span data-testid="log-status" data-state={source.phase} className={status.cls}>
          {source.phase === 'error' && !statusOverride ? source.error : status.text}
        </span>
        {source.waiting?.length ? (
          <span data-testid="log-waiting" className="text-amber-300">
            waiting for {source.waiting.join(', ')} to come back
          </span>
        ) : null}
        {source.behind ? (
          <span data-testid="log-behind" data-state={source.behind} className="rounded bg-amber-500/20 px-1.5 text-amber-300">
            {source.behind === 'catching-up' ? 'fell behind: catching up from the last line shown…' : 'fell behind: resumed after the last line shown'}
          </span>
        ) : null}
        <span className="text-slate-400" data-testid="log-count" data-count={store.length} data-shown={layout.count}>
          {layout.count === store.length ? `${store.length.toLocaleString('en')} lines` : `${layout.count.toLocaleString('en')} of ${store.length.toLocaleString('en')} lines`}
        </span>
        <button
          type="button"
          data-testid="log-follow"
          aria-pressed={follow}
          onClick={() => {
            if (source.mode === 'history') {
              source.history?.backToLive?.();
              setFollow(true);
            } else setFollow((f) => !f);
          }}
          className={`rounded px-2 py-0.5 ${follow ? 'bg-emerald-600/30 text-emerald-200' : 'bg-slate-800 text-slate-300'}`}
        >
          {follow ? 'Following' : 'Paused'}
        </button>
        <label className="flex items-center gap-1">
          time
          <select data-testid="log-time-mode" value={timeMode} onChange={(e) => setTimeMode(e.target.value as 'off' | 'local' | 'utc')} className="rounded bg-slate-800 px-1 py-0.5 text-slate-200">
            <option value="off">off</option>
            <option value="local">local</option>
            <option value="utc">UTC</option>
          </select>
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" data-testid="log-colours" checked={colours} onChange={(e) => setColours(e.target.checked)} />
          colours
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" data-testid="log-wrap" checked={wrap} onChange={(e) => setWrap(e.target.checked)} />
          wrap
        </label>
        <span className="flex items-center gap-2">
          <span className="inline-block h-2 w-2 rounded-sm bg-slate-300" /> stdout
          <span className="inline-block h-2 w-2 rounded-sm bg-rose-400" /> stderr
        </span>
      </div>
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1.5 border-b border-slate-800 px-3 py-1.5 text-xs text-slate-300">
        <label className="flex items-center gap-1">
          fields
          <input
            data-testid="log-field-filter"
            value={filterText}
            onChange={(e) => setFilterText(e.target.value)}
            placeholder="level=error"
            aria-invalid={!!filterError}
            className={`w-44 rounded bg-slate-800 px-1.5 py-0.5 text-slate-100 placeholder:text-slate-500 ${filterError ? 'ring-1 ring-rose-500' : ''}`}
          />
        </label>
        {filterError ? (
          <span data-testid="log-field-filter-error" role="alert" className="text-rose-300">
            {filterError}
          </span>
        ) : null}
        <label className="flex items-center gap-1">
          jump to
          <input data-testid="log-jump-time" type="datetime-local" step="1" value={jumpAt} onChange={(e) => setJumpAt(e.target.value)} className="rounded bg-slate-800 px-1 py-0.5 text-slate-100 [color-scheme:dark]" />
          <button type="button" data-testid="log-jump-go" onClick={jumpToTime} disabled={!jumpAt} className="rounded bg-slate-800 px-2 py-0.5 hover:bg-slate-700 disabled:opacity-50">
            go
          </button>
        </label>
        {source.setRange ? (
          <span className="flex flex-wrap items-center gap-1" data-testid="log-range">
            since
            <input data-testid="log-since" type="datetime-local" step="1" value={sinceAt} onChange={(e) => setSinceAt(e.target.value)} className="rounded bg-slate-800 px-1 py-0.5 text-slate-100 [color-scheme:dark]" />
            until
            <input data-testid="log-until" type="datetime-local" step="1" value={untilAt} onChange={(e) => setUntilAt(e.target.value)} className="rounded bg-slate-800 px-1 py-0.5 text-slate-100 [color-scheme:dark]" />
            <button type="button" data-testid="log-range-apply" onClick={applyRange} className="rounded bg-slate-800 px-2 py-0.5 hover:bg-slate-700">
              apply
            </button>
            {source.range ? (
              <button
                type="button"
                data-testid="log-range-clear"
                onClick={() => {
                  setSinceAt('');
                  setUntilAt('');
                  source.setRange?.(null);
                  setFollow(true);
                }}
                className="rounded bg-slate-800 px-2 py-0.5 hover:bg-slate-700"
              >
                clear
              </button>
            ) : null}
          </span>
        ) : null}
        {toolbar}
      </div>
      {h?.error ? (
        <p role="alert" data-testid="log-history-error" className="border-b border-slate-800 bg-rose-950/70 px-3 py-1.5 text-xs text-rose-200">
          {h.error}
        </p>
      ) : null}
      {sel ? (
        <div data-testid="log-selection" className="flex items-center gap-3 border-b border-slate-800 bg-sky-950/60 px-3 py-1.5 text-xs text-sky-100">
          <span>
            {selA === selB ? '1 line selected' : `${(selB - selA + 1).toLocaleString('en')} lines selected`} (shift-click another line for a range)
          </span>
          <button type="button" data-testid="log-copy" onClick={() => void copy('text')} className="rounded bg-sky-800 px-2 py-0.5 hover:bg-sky-700">
            {copied === 'text' ? 'Copied' : 'Copy'}
          </button>
          {!merged ? (
            <button type="button" data-testid="log-copy-link" onClick={() => void copy('link')} className="rounded bg-sky-800 px-2 py-0.5 hover:bg-sky-700">
              {copied === 'link' ? 'Link copied' : 'Copy link'}
            </button>
          ) : null}
          <button type="button" onClick={() => setSel(null)} className="ml-auto text-sky-300 hover:text-white">
            clear
          </button>
        </div>
      ) : null}
      <div className="relative">
        <span ref={measure} aria-hidden className="invisible absolute font-mono text-xs whitespace-pre">
          {'0'.repeat(100)}
        </span>
        <div
          ref={box}
          onScroll={onScroll}
          data-testid="log-viewer"
          data-following={follow ? 'true' : 'false'}
          role="log"
          aria-label={`${title}`}
          aria-live="off"
          className={`${heightClass} overflow-auto font-mono text-xs leading-5`}
        >
          {layout.count === 0 ? (
            <p className="px-3 py-2 text-slate-400">
              {store.length > 0 ? 'No line matches.' : source.phase === 'following' || source.phase === 'ended' ? 'No output yet.' : 'Waiting for the log…'}
            </p>
          ) : (
            <div className="relative" style={{ height: `${scrollH}px` }}>
              <div data-testid="log-window" className="absolute top-0 left-0 min-w-full" style={{ transform: `translateY(${offsetY}px)` }}>
                {rows}
              </div>
            </div>
          )}
        </div>
        {h?.loading ? (
          <p data-testid="log-loading-older" className="absolute top-2 right-4 rounded bg-slate-800 px-2 py-1 text-xs text-slate-300">
            loading older lines…
          </p>
        ) : null}
        {!follow ? (
          <button
            type="button"
            data-testid="log-jump"
            onClick={() => {
              if (source.mode === 'history') source.history?.backToLive?.();
              setFollow(true);
            }}
            className="absolute right-4 bottom-3 rounded-full bg-sky-600 px-3 py-1 text-xs font-medium text-white shadow hover:bg-sky-500"
          >
            Paused — jump to latest ↓
          </button>
        ) : null}
      </div>
    </div>
  );
}

function toggled(s: Set<number>, v: number): Set<number> {
  const n = new Set(s);
  if (n.has(v)) n.delete(v);
  else n.add(v);
  return n;
}
