// The log contract: history pages, searches, merged streams, removed containers' kept logs
// and their retention, and the download. Imported by the agent, the server and the browser.
//
// Words used throughout:
// - seq: a LogEntry's sequence number (protocol/container.ts): the byte position just past the
//   line in the container's whole log. Unique and strictly increasing within one container's
//   log, stable across agent and control-plane restarts and across rotations; NOT a line number
//   and not comparable between two containers. "after N" = the lines with seq > N; "before N"
//   = the lines with seq < N. To resume, a reader keeps the last seq it has, per source.
// - time: unix seconds as a number, fractions allowed (LogEntry.time is RFC 3339 text with
//   nanoseconds; timeToSeconds() in agent/engine/logs turns one into the other).
// - source: one container's log on one host: a live container (by id, unique id prefix or name),
//   or a removed container's kept log (`kept: true`, by its full id, a unique prefix, or its name:
//   then the most recently removed of that name; logs.kept lists them). A live source whose
//   container is removed while it is open is found among the kept logs by its full id, so
//   an open view goes on working.
// - ranges: matched parts of LogEntry.line as [start, end) offsets in JavaScript string
//   (UTF-16 code unit) indices, as String.prototype.slice takes them; sorted, not overlapping.
//
// Transport, per operation (the browser never talks to an agent):
// - page of history ........ tRPC query  logs.page        (viewer)  LogPageRequest → LogPage
// - kept logs of a host .... tRPC query  logs.kept        (viewer)  { hostId } → KeptLog[]
// - retention of a host .... tRPC query  logs.retention   (viewer)  { hostId } → LogRetention
//                            tRPC mutation logs.setRetention (admin, audited) { hostId, ...LogRetention } → LogRetention
// - search ................. ui socket 'logs:search' (ack { ok, searchId } | { ok: false, error }; a bad
//                            field or regex is refused before any agent is asked, e.g. "query: bad
//                            regular expression: …"; at most 4 searches per connection at once)
//                            then 'logs:searchBatch' events, then one 'logs:searchDone';
//                            'logs:searchCancel' stops it. Viewer role on every host searched.
// - live stream, one or merged: ui socket 'logs:subscribe' (see LogSubscribeRequest), batches as
//   'logs' events; 'logs:unsubscribe'. A reader too slow gets LogsBehind (see there).
// - download ............... GET LOGS_DOWNLOAD_PATH?… (see LogDownloadQuery), session cookie,
//                            viewer role, audited (action "logs.download").
//
// Recovery (for the browser): socket.io reconnects the ui socket by itself after a network drop,
// a sleep or a control-plane restart. On its 'connect' event after a reconnect, the page sends
// 'logs:subscribe' again with each source's last seq as `afterSeq` (never `tail`): it gets exactly
// the lines after those, none twice. A subscription to a host that is offline (the control plane
// has just restarted and the agent has not reconnected yet, or the agent is restarting) is
// accepted with `waiting` listing those sources, and starts by itself when the agent comes back
// (after its afterSeq); the page need not retry. An agent that reconnects while the control plane
// stays up needs nothing from the page either: the server resumes every stream after its last seq.
// A search does not survive a control-plane restart: the page gets no searchDone and should run it
// again when the socket reconnects (searchId is per connection); a host that goes offline
// mid-search ends it with searchDone { error: "host went offline" }.
import './zod-in-browser';
import { z } from 'zod';
import type { LogEntry } from './container';
import { LOG_PAGE_MAX, LOG_QUERY_MAX, LOG_RETENTION_MAX_AGE, LOG_RETENTION_MAX_BYTES, LOG_SEARCH_MAX_HITS, LOG_SOURCES_MAX } from './log-limits';

export type { LogEntry } from './container';

// ----- bounds (in a module of their own: the agent's search thread takes them without zod)

export * from './log-limits';

// ----- types

export interface LogSource {
  hostId: string;
  /** A live container's id (or unique id prefix) or name; for a kept log, the removed container's full id. */
  containerId: string;
  /** Read the kept log of a removed container. */
  kept?: boolean;
}

/** An entry of a stream or search, with where it came from (merged views interleave several sources). */
export interface SourcedLogEntry extends LogEntry {
  hostId: string;
  /** The container's full id. */
  containerId: string;
  /** The container's name without the leading slash. */
  name: string;
}

/** Filters every read takes. since/until are unix seconds; since is inclusive, until exclusive (as Docker's). */
export interface LogFilter {
  since?: number;
  until?: number;
  /** Default true each. */
  stdout?: boolean;
  stderr?: boolean;
}

/**
 * A page of one source's history. At most one of `before`, `after`, `around`, `at`:
 * - none: the last `limit` lines (of the range, when `until` is given);
 * - before N: the `limit` lines just before seq N (scrolling up);
 * - after N: the `limit` lines just after seq N (scrolling down; 0 = from the oldest line kept);
 * - around N: the line with seq N in the middle of `limit` lines (a search hit in context);
 * - at T: from the first line at or after time T (unix seconds), found by binary search, not a scan.
 * since/until narrow all of these.
 */
export interface LogPageRequest extends LogFilter {
  source: LogSource;
  before?: number;
  after?: number;
  around?: number;
  at?: number;
  limit?: number;
}

export interface LogPage {
  /** The container's full id and name (a kept log's name as it was when removed). */
  containerId: string;
  name: string;
  /** Oldest first. */
  entries: LogEntry[];
  /** There may be lines before entries[0] (in the range); false = this is the start. */
  hasBefore: boolean;
  /** There are lines after the last entry already written (in the range); false = this was the end when read. */
  hasAfter: boolean;
  /** Where the kept history starts (older lines were rotated away) and where the log ended when read, as seqs. */
  startSeq: number;
  endSeq: number;
}

export interface LogSearchRequest extends LogFilter {
  /** One or more sources; hits of several come merged by time. */
  sources: LogSource[];
  query: string;
  /** `query` is a JavaScript regular expression source (no slashes, no flags); otherwise plain text. */
  regex?: boolean;
  /** Default false: case-insensitive. */
  caseSensitive?: boolean;
  /** Hits to send at most (default LOG_SEARCH_DEFAULT_HITS, at most LOG_SEARCH_MAX_HITS). */
  maxHits?: number;
}

export interface LogSearchHit extends SourcedLogEntry {
  ranges: Array<[number, number]>;
}

/**
 * Hits as they are found, oldest first within a source. With several sources each source's
 * hits come in order; hits of different sources are not sorted against each other across
 * batches (the page sorts by time/seq as it inserts, or waits for searchDone).
 */
export interface LogSearchBatch {
  searchId: string;
  hits: LogSearchHit[];
  /** Matching lines found so far (all sources), for a running "n of m". */
  found: number;
}

export interface LogSearchDone {
  searchId: string;
  /** Every matching line in the range (exact even past maxHits), unless `error` cut it short. */
  total: number;
  /** Hits sent: less than total when maxHits was reached. */
  sent: number;
  /** Bytes of log read. */
  scannedBytes: number;
  /** Set when the search did not finish: LOG_REGEX_TOO_COSTLY, "host is offline", a source that is not there … */
  error?: string;
  cancelled?: boolean;
}

/** One source of a subscription; `afterSeq` resumes after that line. */
export interface LogStreamSource extends LogSource {
  afterSeq?: number;
}

/**
 * 'logs:subscribe': either the single form (as before) or `sources` for a merged view. Without
 * an afterSeq a source starts with its last `tail` lines (default 100; the initial tails of a
 * merged view come interleaved by time in the first batch), then follows. Merged live lines come
 * in the order they arrive, which is their time order up to the links' delays.
 */
export type LogSubscribeRequest =
  | { hostId: string; containerId: string; kept?: boolean; tail?: number; afterSeq?: number }
  | { sources: LogStreamSource[]; tail?: number };

/** ok: `subId` is set; otherwise `error` says why. */
export interface LogSubscribeAck {
  ok: boolean;
  subId?: string;
  error?: string;
  /** Sources whose host is offline now: they start when it is back. */
  waiting?: Array<{ hostId: string; containerId: string }>;
}

/**
 * The 'logs' event. `entries` carry their source (containerId there is always the full id). The
 * event's own `containerId` is the single form's, as the browser named it; '' for a merged view.
 */
export interface LogsEvent {
  subId: string;
  containerId: string;
  entries: SourcedLogEntry[];
  /** The stream ended (every source's container stopped and was read to its end, or a source failed); its subId is gone. */
  done?: boolean;
  /** Merged views only: a source that ended (its container stopped and all was read) or failed, with why. */
  ended?: Array<{ hostId: string; containerId: string; error?: string }>;
}

/**
 * 'logs:behind': the browser did not take what was sent for LOG_BEHIND_AFTER_MS, so the server
 * stopped the subscription rather than hold more for it. `lastSeq` is, per source, the last seq
 * it was sent; the subId is gone. The page shows "fell behind", then catches up with
 * logs.page(after: lastSeq) or subscribes again with those afterSeqs.
 */
export interface LogsBehind {
  subId: string;
  lastSeq: Array<{ hostId: string; containerId: string; seq: number }>;
}

/** A removed container's log the agent keeps. */
export interface KeptLog {
  /** The removed container's full id: the key to read it (`kept: true`). */
  containerId: string;
  name: string;
  image: string;
  /** RFC 3339. */
  created: string;
  startedAt: string;
  finishedAt: string;
  removedAt: string;
  /** Bytes kept, all rotated files. */
  size: number;
}

/** How long and how much of removed containers' logs a host keeps; the oldest go first. 0 = keep none. */
export interface LogRetention {
  maxAgeSeconds: number;
  maxBytes: number;
}

/**
 * GET LOGS_DOWNLOAD_PATH query: `source` once per source as "hostId/containerId" (append "/kept"
 * for a kept log); `format` "text" (default: each line as printed, with "TIME " in front when
 * timestamps=1 and "name | " in front when several sources) or "jsonl" (one SourcedLogEntry per
 * line); since/until (unix seconds); q, regex=1, case=1 (only matching lines, as search
 * matches them); stdout=0 / stderr=0. The body is streamed as it is read; a read that fails
 * midway ends the body with a line "berth: download incomplete: …" and the connection reset,
 * so it never looks complete.
 */
export interface LogDownloadQuery extends LogFilter {
  sources: LogSource[];
  format?: 'text' | 'jsonl';
  timestamps?: boolean;
  query?: string;
  regex?: boolean;
  caseSensitive?: boolean;
}

// ----- checks (built on first use: see protocol/ui-socket.ts termSchemas for why)

let schemas: ReturnType<typeof makeLogSchemas> | undefined;

export function logSchemas() {
  return (schemas ??= makeLogSchemas());
}

/** A regex's error in words, or undefined when it compiles. */
export function regexError(query: string, caseSensitive: boolean): string | undefined {
  try {
    new RegExp(query, caseSensitive ? 'g' : 'gi');
    return undefined;
  } catch (err) {
    return `bad regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
}

function makeLogSchemas() {
  const hostId = z.string().min(1).max(100);
  const containerId = z.string().min(1).max(128);
  const seq = z.number().int().nonnegative();
  const time = z.number().finite().nonnegative();
  const source = z.strictObject({ hostId, containerId, kept: z.boolean().optional() }) satisfies z.ZodType<LogSource>;
  const filter = {
    since: time.optional(),
    until: time.optional(),
    stdout: z.boolean().optional(),
    stderr: z.boolean().optional(),
  };
  const page = z
    .strictObject({ source, ...filter, before: seq.optional(), after: seq.optional(), around: seq.optional(), at: time.optional(), limit: z.number().int().min(1).max(LOG_PAGE_MAX).optional() })
    .refine((r) => [r.before, r.after, r.around, r.at].filter((x) => x !== undefined).length <= 1, 'give at most one of before, after, around, at') satisfies z.ZodType<LogPageRequest>;
  const search = z
    .strictObject({
      sources: z.array(source).min(1).max(LOG_SOURCES_MAX),
      ...filter,
      query: z.string().min(1, 'search for something').max(LOG_QUERY_MAX),
      regex: z.boolean().optional(),
      caseSensitive: z.boolean().optional(),
      maxHits: z.number().int().min(1).max(LOG_SEARCH_MAX_HITS).optional(),
    })
    .superRefine((r, ctx) => {
      const bad = r.regex ? regexError(r.query, r.caseSensitive ?? false) : undefined;
      if (bad) ctx.addIssue({ code: 'custom', message: bad, path: ['query'] });
    }) satisfies z.ZodType<LogSearchRequest>;
  const streamSource = z.strictObject({ hostId, containerId, kept: z.boolean().optional(), afterSeq: seq.optional() }) satisfies z.ZodType<LogStreamSource>;
  const tail = z.number().int().min(0).max(LOG_PAGE_MAX).optional();
  const subscribe = z.union([
    z.strictObject({ hostId, containerId, kept: z.boolean().optional(), tail, afterSeq: seq.optional() }),
    z.strictObject({ sources: z.array(streamSource).min(1).max(LOG_SOURCES_MAX), tail }),
  ]) satisfies z.ZodType<LogSubscribeRequest>;
  const retention = z.strictObject({
    maxAgeSeconds: z.number().int().min(0).max(LOG_RETENTION_MAX_AGE),
    maxBytes: z.number().int().min(0).max(LOG_RETENTION_MAX_BYTES),
  }) satisfies z.ZodType<LogRetention>;
  return { source, page, search, subscribe, retention, filter };
}

/** The first problem of a parse, as one sentence naming the field. */
export function zodMessage(err: z.ZodError): string {
  const issue = err.issues[0];
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  return where ? `${where}: ${issue.message}` : issue.message;
}
