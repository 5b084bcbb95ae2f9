'use client';
import { useLayoutEffect, useRef, useState } from 'react';
import type { LogPhase, LogStream } from '../lib/socket';

/** Within this many pixels of the bottom counts as "at the bottom" (sub-pixel scroll positions). */
const STICK_SLACK_PX = 24;

const STATUS: Record<LogPhase, { text: string; cls: string }> = {
  connecting: { text: 'connecting…', cls: 'text-amber-300' },
  following: { text: 'following', cls: 'text-emerald-300' },
  ended: { text: 'stream ended (container not running)', cls: 'text-slate-400' },
  'host-offline': { text: 'host offline: the log as of when it was last seen, resumes when it is back', cls: 'text-amber-300' },
  reconnecting: { text: 'reconnecting…', cls: 'text-amber-300' },
  error: { text: 'cannot read the log', cls: 'text-red-300' },
};

/**
 * The lines of a log stream, following new ones while the reader is at the
 * bottom; scrolling up pauses the follow until they come back down.
 */
export function LogViewer({ stream }: { stream: LogStream }) {
  const box = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const [showTimes, setShowTimes] = useState(false);
  const { entries } = stream;

  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [entries, follow, showTimes]);

  function onScroll() {
    const el = box.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight <= STICK_SLACK_PX;
    if (atBottom !== follow) setFollow(atBottom);
  }

  const status = STATUS[stream.phase];

  return (
    <div className="overflow-hidden rounded-lg border border-slate-800 bg-slate-950 shadow-sm">
      <div className="flex items-center gap-3 border-b border-slate-800 px-3 py-2 text-xs text-slate-300">
        <span className="font-semibold text-slate-100">Logs</span>
        <span data-testid="log-status" data-state={stream.phase} className={status.cls}>
          {stream.phase === 'error' ? stream.error : status.text}
        </span>
        <span className="text-slate-500" data-testid="log-count">
          {entries.length} lines
        </span>
        <label className="ml-auto flex items-center gap-1.5">
          <input type="checkbox" checked={showTimes} onChange={(e) => setShowTimes(e.target.checked)} />
          timestamps
        </label>
        <span className="flex items-center gap-2">
          <span className="inline-block h-2 w-2 rounded-sm bg-slate-300" /> stdout
          <span className="inline-block h-2 w-2 rounded-sm bg-rose-400" /> stderr
        </span>
      </div>
      <div className="relative">
        <div
          ref={box}
          onScroll={onScroll}
          data-testid="log-viewer"
          data-following={follow ? 'true' : 'false'}
          role="log"
          aria-label="Container log"
          aria-live="off"
          className="h-[28rem] overflow-y-auto px-3 py-2 font-mono text-xs leading-5"
        >
          {entries.length === 0 ? (
            <p className="text-slate-500">{stream.phase === 'following' || stream.phase === 'ended' ? 'No output yet.' : 'Waiting for the log…'}</p>
          ) : (
            entries.map((e) => (
              <div
                key={e.seq}
                data-testid="log-line"
                data-seq={e.seq}
                data-stream={e.stream}
                className={`flex gap-3 whitespace-pre-wrap break-all ${e.stream === 'stderr' ? 'border-l-2 border-rose-500 pl-2 text-rose-300' : 'pl-2.5 text-slate-200'}`}
              >
                {showTimes ? <span className="shrink-0 text-slate-500 select-none">{e.time}</span> : null}
                <span>{e.line.endsWith('\n') ? e.line.slice(0, -1) : e.line}</span>
              </div>
            ))
          )}
        </div>
        {!follow ? (
          <button
            type="button"
            data-testid="log-jump"
            onClick={() => setFollow(true)}
            className="absolute right-4 bottom-3 rounded-full bg-sky-600 px-3 py-1 text-xs font-medium text-white shadow hover:bg-sky-500"
          >
            Paused — jump to latest ↓
          </button>
        ) : null}
      </div>
    </div>
  );
}
