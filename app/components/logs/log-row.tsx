'use client';
import { memo, type ReactNode } from 'react';
import { parseAnsi, stripAnsi, styleCss, type AnsiStyle } from '../../lib/ansi';
import { fieldText, flattenFields, formatTime, type JsonObject } from '../../lib/log-lines';

export const LINE_PX = 20;
const DEFAULTS = { fg: '#e2e8f0', bg: '#020617' };

/** Prefix colours of a merged view, one per container, readable on the dark background. */
export const PREFIX_CLASSES = [
  'text-sky-300', 'text-amber-300', 'text-emerald-300', 'text-fuchsia-300', 'text-orange-300',
  'text-lime-300', 'text-cyan-300', 'text-violet-300', 'text-pink-300', 'text-teal-300',
];

export interface Highlight {
  start: number;
  end: number;
  /** The current match of a search ("n of m"), drawn stronger. */
  current?: boolean;
}

export interface RowProps {
  seq: number;
  text: string;
  stream: 'stdout' | 'stderr';
  timeMs: number;
  /** null: timestamps hidden. */
  timeMode: 'local' | 'utc' | null;
  colours: boolean;
  wrap: boolean;
  json: JsonObject | null;
  jsonOpen: boolean;
  /** A continuation line of a multi-line entry (a stack frame). */
  continuation: boolean;
  /** For the first line of a multi-line entry: how many lines follow it, and whether they are folded. */
  group: { more: number; folded: boolean } | null;
  prefix: { name: string; cls: string } | null;
  selected: boolean;
  highlights: Highlight[] | null;
  /** The line's source in the store (merged views). */
  src: number;
  onSelect: (seq: number, src: number, extend: boolean) => void;
  onToggleJson: (seq: number) => void;
  onToggleGroup: (seq: number) => void;
  onAddFilter: (cond: string) => void;
  /** Shows the line among its neighbours (a search hit in the filter mode). */
  onContext?: () => void;
}

/**
 * Spans of text with the look each has, and search highlights laid over them (by
 * offsets in the text without escapes). Everything is a text node: nothing in a log
 * line is read as markup.
 */
function renderText(text: string, colours: boolean, highlights: Highlight[] | null): ReactNode[] {
  const spans: { text: string; style: AnsiStyle | null }[] = colours ? parseAnsi(text).spans : [{ text: stripAnsi(text), style: null }];
  const out: ReactNode[] = [];
  let pos = 0;
  let key = 0;
  const marks = highlights ?? [];
  for (const sp of spans) {
    const spanStart = pos;
    const spanEnd = pos + sp.text.length;
    const css = sp.style ? styleCss(sp.style, DEFAULTS) : undefined;
    // Cut the span where highlights start and end.
    let cur = spanStart;
    const pieces: { text: string; mark: Highlight | null }[] = [];
    for (const m of marks) {
      if (m.end <= cur || m.start >= spanEnd) continue;
      if (m.start > cur) pieces.push({ text: sp.text.slice(cur - spanStart, m.start - spanStart), mark: null });
      const s = Math.max(m.start, cur);
      const e = Math.min(m.end, spanEnd);
      pieces.push({ text: sp.text.slice(s - spanStart, e - spanStart), mark: m });
      cur = e;
    }
    if (cur < spanEnd) pieces.push({ text: sp.text.slice(cur - spanStart), mark: null });
    for (const p of pieces) {
      const inner = css ? (
        <span key={key++} data-ansi="" style={css}>
          {p.text}
        </span>
      ) : (
        p.text
      );
      out.push(
        p.mark ? (
          <mark
            key={key++}
            data-testid="log-match"
            data-current={p.mark.current ? 'true' : undefined}
            className={p.mark.current ? 'rounded-sm bg-amber-400 text-slate-950' : 'rounded-sm bg-amber-200/80 text-slate-950'}
          >
            {inner}
          </mark>
        ) : typeof inner === 'string' ? (
          <span key={key++}>{inner}</span>
        ) : (
          inner
        ),
      );
    }
    pos = spanEnd;
  }
  return out;
}

const LEVEL_CLS: Record<string, string> = {
  error: 'bg-rose-500/20 text-rose-300', err: 'bg-rose-500/20 text-rose-300', fatal: 'bg-rose-500/30 text-rose-200',
  warn: 'bg-amber-500/20 text-amber-300', warning: 'bg-amber-500/20 text-amber-300',
  info: 'bg-sky-500/20 text-sky-300', debug: 'bg-slate-500/20 text-slate-300', trace: 'bg-slate-500/20 text-slate-400',
};

function levelOf(obj: JsonObject): string | null {
  for (const k of ['level', 'lvl', 'severity', 'levelname']) {
    const v = obj[k];
    if (typeof v === 'string') return v;
  }
  return null;
}
function messageOf(obj: JsonObject): string | null {
  for (const k of ['msg', 'message', 'event']) {
    const v = obj[k];
    if (typeof v === 'string') return v;
  }
  return null;
}

/** How many extra lines an open JSON line takes (one a field). */
export function jsonOpenLines(obj: JsonObject): number {
  return flattenFields(obj).length;
}

function JsonSummary({ obj }: { obj: JsonObject }) {
  const level = levelOf(obj);
  const msg = messageOf(obj);
  const rest = flattenFields(obj).filter((f) => !(f.key === 'level' || f.key === 'lvl' || f.key === 'severity' || f.key === 'levelname') || !level).filter((f) => msg === null || !['msg', 'message', 'event'].includes(f.key));
  return (
    <span data-testid="log-json">
      {level ? <span className={`mr-2 rounded px-1 text-[10px] font-semibold uppercase ${LEVEL_CLS[level.toLowerCase()] ?? 'bg-slate-500/20 text-slate-300'}`}>{level}</span> : null}
      {msg !== null ? <span className="mr-2 text-slate-100">{msg}</span> : null}
      {rest.map((f) => (
        <span key={f.key} className="mr-2">
          <span className="text-slate-400">{f.key}=</span>
          <span className="text-slate-300">{fieldText(f.value)}</span>
        </span>
      ))}
    </span>
  );
}

function JsonFields({ obj, onAddFilter }: { obj: JsonObject; onAddFilter: (c: string) => void }) {
  return (
    <div data-testid="log-json-fields" className="pl-6">
      {flattenFields(obj).map((f) => {
        const v = fieldText(f.value);
        return (
          <div key={f.key} className="flex h-5 gap-2 overflow-hidden whitespace-pre">
            <button
              type="button"
              title={`show only lines with ${f.key}=${v}`}
              data-testid="log-json-field"
              data-key={f.key}
              onClick={() => onAddFilter(`${f.key}=${/\s|"/.test(v) ? JSON.stringify(v) : v}`)}
              className="text-sky-300 hover:underline"
            >
              {f.key}
            </button>
            <span className="text-slate-300">{v}</span>
          </div>
        );
      })}
    </div>
  );
}

/** One line of the log (or a JSON line with its fields open). The row's own text is the line's, so it reads and copies as printed. */
export const LogRow = memo(function LogRow(p: RowProps) {
  const err = p.stream === 'stderr';
  return (
    <div
      data-testid="log-line"
      data-seq={p.seq}
      data-stream={p.stream}
      data-selected={p.selected ? 'true' : undefined}
      data-continuation={p.continuation ? 'true' : undefined}
      className={`group/row relative flex min-h-5 gap-2 pr-3 ${p.wrap ? 'whitespace-pre-wrap break-all' : 'whitespace-pre'} ${err ? 'border-l-2 border-rose-500 text-rose-300' : 'border-l-2 border-transparent text-slate-200'} ${p.selected ? 'bg-sky-500/20' : 'hover:bg-slate-800/50'}`}
    >
      <button
        type="button"
        aria-label={`select line ${p.seq}`}
        data-testid="log-select"
        onClick={(e) => p.onSelect(p.seq, p.src, e.shiftKey)}
        className="w-2 shrink-0 self-stretch cursor-pointer hover:bg-sky-500/40"
      />
      {p.prefix ? (
        <span data-testid="log-prefix" className={`shrink-0 select-none ${p.prefix.cls}`}>
          {p.prefix.name}
        </span>
      ) : null}
      {p.timeMode ? (
        <span data-testid="log-time" className="shrink-0 text-slate-400 select-none">
          {formatTime(p.timeMs, p.timeMode === 'utc')}
        </span>
      ) : null}
      {p.group ? (
        <button
          type="button"
          data-testid="log-group-toggle"
          aria-expanded={!p.group.folded}
          aria-label={p.group.folded ? `show ${p.group.more} more lines` : `fold ${p.group.more} lines`}
          onClick={() => p.onToggleGroup(p.seq)}
          className="shrink-0 select-none text-slate-400 hover:text-slate-200"
        >
          {p.group.folded ? `▸ +${p.group.more}` : '▾'}
        </button>
      ) : null}
      <div className={`min-w-0 ${p.continuation ? 'border-l border-slate-700 pl-4' : ''}`}>
        {p.json ? (
          <>
            <button
              type="button"
              data-testid="log-json-toggle"
              aria-expanded={p.jsonOpen}
              aria-label={p.jsonOpen ? 'fold fields' : 'show fields'}
              onClick={() => p.onToggleJson(p.seq)}
              className="mr-1 select-none text-slate-400 hover:text-slate-200"
            >
              {p.jsonOpen ? '▾' : '▸'}
            </button>
            <JsonSummary obj={p.json} />
            {p.jsonOpen ? <JsonFields obj={p.json} onAddFilter={p.onAddFilter} /> : null}
          </>
        ) : (
          <span data-testid="log-text">{renderText(p.text, p.colours, p.highlights)}</span>
        )}
      </div>
      {p.onContext ? (
        <button
          type="button"
          data-testid="log-context"
          onClick={p.onContext}
          className="ml-auto shrink-0 rounded bg-slate-800 px-1.5 text-[10px] text-sky-300 select-none hover:bg-slate-700"
        >
          context
        </button>
      ) : null}
    </div>
  );
});
