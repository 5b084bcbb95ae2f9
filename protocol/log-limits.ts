// Bounds and fixed values of the log contract (protocol/logs.ts), with no imports, so the
// agent's search thread can take them without loading zod.

/** Lines per page at most (and the default when `limit` is left out). */
export const LOG_PAGE_MAX = 5_000;
export const LOG_PAGE_DEFAULT = 500;
/** Search hits sent at most per search (the search goes on counting past it: `total` stays exact). */
export const LOG_SEARCH_MAX_HITS = 10_000;
export const LOG_SEARCH_DEFAULT_HITS = 1_000;
/** Longest search text or regex source. */
export const LOG_QUERY_MAX = 1_000;
/** Sources in one merged subscription, search or download. */
export const LOG_SOURCES_MAX = 16;
/** Log streams one ui connection may have open at once, a merged view's sources counted each. */
export const MAX_LOG_STREAMS_PER_SOCKET = 16;
/** Searches one ui connection may have under way at once (each is a thread on its agent). */
export const MAX_SEARCHES_PER_SOCKET = 4;
/**
 * How long one line may keep the search's regex busy before the search is stopped with
 * LOG_REGEX_TOO_COSTLY. V8 runs a regex that backtracks too much on its linear-time engine, so
 * `(a+)+$` is fast anyway; a pattern that engine cannot run (backreferences, lookaround) is
 * bounded by this.
 */
export const LOG_REGEX_LINE_BUDGET_MS = 2_000;
export const LOG_REGEX_TOO_COSTLY = 'search stopped: regex too costly';
/** A browser that has not taken what was sent to it for this long is told it fell behind (LogsBehind). */
export const LOG_BEHIND_AFTER_MS = 5_000;

/** Where a download is served. */
export const LOGS_DOWNLOAD_PATH = '/api/logs/download';

/** How long and how much of removed containers' logs a host keeps by default: 7 days, 1 GiB. */
export const LOG_RETENTION_DEFAULT = { maxAgeSeconds: 7 * 24 * 3600, maxBytes: 1 << 30 };
/** Bounds of the setting: 10 years, 1 TiB. */
export const LOG_RETENTION_MAX_AGE = 10 * 365 * 24 * 3600;
export const LOG_RETENTION_MAX_BYTES = 2 ** 40;
