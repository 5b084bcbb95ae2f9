// GET /api/logs/download?source=HOST/CONTAINER[/kept]…&format=text|jsonl&timestamps=1&since=&until=&q=&regex=1&case=1&stdout=0&stderr=0
// (protocol/logs.ts LogDownloadQuery). A plain Node handler in front of Next (server/main.ts),
// like the image archives: the body is written as the agents read it, a page (or a search
// batch) at a time, and the next is asked for only once the browser's connection has taken
// the last, so the server holds a page per source whatever the log's size. Several sources
// are merged by time. Needs the viewer role on every host named; audited, refusals too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { LogSearchChunk } from '../../protocol/agent-link';
import type { LogEntry } from '../../protocol/container';
import { LOG_QUERY_MAX, LOG_SOURCES_MAX, LOGS_DOWNLOAD_PATH, regexError, type LogPage, type LogSource, type SourcedLogEntry } from '../../protocol/logs';
import { AccessError, hostFor } from '../auth/access';
import { actingUserId } from '../auth/session';
import { db } from '../db';
import { berthGlobal } from '../global';
import { writeAudit } from '../trpc/host-ops';
import { HUB_OFFLINE, HUB_TIMEOUT, type AgentHub } from './agents';
import { entrySeconds, logRelay, parseSourceParam, type LogRelay } from './logs';
import { randomUUID } from 'node:crypto';

const PAGE = 2000;
const KNOWN = new Set(['source', 'format', 'timestamps', 'since', 'until', 'q', 'regex', 'case', 'stdout', 'stderr']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ error: message }));
}

interface Query {
  sources: LogSource[];
  format: 'text' | 'jsonl';
  timestamps: boolean;
  since?: number;
  until?: number;
  q?: string;
  regex: boolean;
  caseSensitive: boolean;
  stdout: boolean;
  stderr: boolean;
}

function flag(url: URL, name: string): boolean {
  const v = url.searchParams.get(name);
  if (v === null) return false;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new HttpError(400, `${name} must be 1 or 0`);
}

export function parseDownloadQuery(url: URL): Query {
  const unknown = [...new Set([...url.searchParams.keys()].filter((k) => !KNOWN.has(k)))];
  if (unknown.length) throw new HttpError(400, `unsupported option${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  const raw = url.searchParams.getAll('source');
  if (!raw.length || raw.length > LOG_SOURCES_MAX) throw new HttpError(400, `name one to ${LOG_SOURCES_MAX} logs (source=HOST/CONTAINER)`);
  const sources = raw.map((s) => {
    const src = parseSourceParam(s);
    if (!src) throw new HttpError(400, `source must be HOST/CONTAINER or HOST/CONTAINER/kept, not ${JSON.stringify(s.slice(0, 200))}`);
    return src;
  });
  const format = url.searchParams.get('format') ?? 'text';
  if (format !== 'text' && format !== 'jsonl') throw new HttpError(400, 'format must be text or jsonl');
  const time = (name: string) => {
    const v = url.searchParams.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new HttpError(400, `${name} must be unix seconds`);
    return n;
  };
  const q = url.searchParams.get('q') || undefined;
  if (q && q.length > LOG_QUERY_MAX) throw new HttpError(400, `q is longer than ${LOG_QUERY_MAX} characters`);
  const regex = flag(url, 'regex');
  const caseSensitive = flag(url, 'case');
  if (q && regex) {
    const bad = regexError(q, caseSensitive);
    if (bad) throw new HttpError(400, bad);
  }
  const stdout = url.searchParams.has('stdout') ? flag(url, 'stdout') : true;
  const stderr = url.searchParams.has('stderr') ? flag(url, 'stderr') : true;
  return { sources, format, timestamps: flag(url, 'timestamps'), since: time('since'), until: time('until'), q, regex, caseSensitive, stdout, stderr };
}

/** A name for the download: the first log's, with nothing a file name or header could trip on. */
function fileName(q: Query, name: string): string {
  const base = (name || q.sources[0].containerId).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 100) || 'logs';
  return `${base}${q.sources.length > 1 ? `-and-${q.sources.length - 1}-more` : ''}.${q.format === 'jsonl' ? 'jsonl' : 'log'}`;
}

function agentFailure(status: number | undefined, error: string): HttpError {
  if (status === HUB_OFFLINE) return new HttpError(503, 'host is offline');
  if (status === HUB_TIMEOUT) return new HttpError(504, error);
  return new HttpError(status && status >= 400 && status < 600 ? status : 500, error);
}

/** One source's lines in order, a batch at a time, with the name the agent gives it. */
interface SourceReader {
  hostId: string;
  name: string;
  id: string;
  next(): Promise<LogEntry[] | undefined>;
  close(): void;
}

export class LogDownloads {
  constructor(
    private readonly hub: AgentHub,
    private readonly relay: LogRelay,
  ) {}

  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== LOGS_DOWNLOAD_PATH) return false;
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      sendError(res, 405, `${url.pathname} takes GET`);
      return true;
    }
    this.download(req, res, url).catch((err: unknown) => {
      if (!(err instanceof HttpError)) console.error(`${url.pathname}: ${(err as Error)?.stack ?? err}`);
      sendError(res, err instanceof HttpError ? err.status : 500, err instanceof HttpError ? err.message : 'internal error');
    });
    return true;
  }

  private async download(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const userId = await actingUserId(req.headers.cookie);
    if (!userId) throw new HttpError(401, 'sign in first');
    if (req.headers['sec-fetch-site'] === 'cross-site') throw new HttpError(403, 'refused: a page of another site cannot download logs here');
    const ctx = { prisma: db(), user: { id: userId } };
    const target = url.searchParams.getAll('source').join(' ').slice(0, 500) || '(none)';
    // The hosts first, so a refusal of the rest is recorded against them (where their admins see it).
    const named = [...new Set(url.searchParams.getAll('source').map((v) => parseSourceParam(v)?.hostId).filter((h): h is string => !!h))].slice(0, LOG_SOURCES_MAX);
    const hosts: Array<{ id: string; teamId: string }> = [];
    for (const hostId of named) {
      try {
        hosts.push((await hostFor(userId, hostId, 'viewer')).host);
      } catch (err) {
        if (!(err instanceof AccessError)) throw err;
        const row = err.kind === 'forbidden' ? await db().host.findUnique({ where: { id: hostId }, select: { id: true, teamId: true } }) : null;
        await writeAudit(ctx, row ? { action: 'logs.download', hostId: row.id, teamId: row.teamId, target } : { action: 'logs.download', target: `${target} (host ${hostId})` }, `error: ${err.kind === 'forbidden' ? 'FORBIDDEN' : 'NOT_FOUND'}: ${err.message}`);
        throw new HttpError(err.kind === 'forbidden' ? 403 : 404, err.message);
      }
    }
    const audit = (result: string) =>
      hosts.length ? Promise.all(hosts.map((h) => writeAudit(ctx, { action: 'logs.download', hostId: h.id, teamId: h.teamId, target }, result))) : writeAudit(ctx, { action: 'logs.download', target }, result);
    let q: Query;
    try {
      q = parseDownloadQuery(url);
    } catch (err) {
      await audit(`error: BAD_REQUEST: ${(err as Error).message}`);
      throw err;
    }

    let readers: SourceReader[] = [];
    let lines = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
      for (const r of readers) r.close();
    });
    try {
      // Every source opened (its first batch asked for) before the answer's head: an unknown container is a 404, not a broken download.
      readers = await Promise.all(q.sources.map((s) => (q.q ? this.searchReader(s, q) : this.pageReader(s, q))));
    } catch (err) {
      for (const r of readers) r.close();
      await audit(`error: ${(err as Error).message}`);
      throw err;
    }
    res.writeHead(200, {
      'Content-Type': q.format === 'jsonl' ? 'application/x-ndjson; charset=utf-8' : 'text/plain; charset=utf-8',
      'Content-Disposition': `attachment; filename="${fileName(q, readers[0].name)}"`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    const multi = readers.length > 1;
    const format = (e: LogEntry, r: SourceReader) => {
      if (q.format === 'jsonl') {
        const out: SourcedLogEntry = { seq: e.seq, stream: e.stream, time: e.time, line: e.line, hostId: r.hostId, containerId: r.id, name: r.name };
        return JSON.stringify(out) + '\n';
      }
      const line = e.line.endsWith('\n') ? e.line : e.line + '\n';
      return `${multi ? `${r.name} | ` : ''}${q.timestamps ? `${e.time} ` : ''}${line}`;
    };
    const write = async (text: string) => {
      if (!text || closed) return;
      if (!res.write(text)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    };
    try {
      // Merged by time: the source whose next line is oldest goes first (ties in the order given).
      const heads = await Promise.all(readers.map(async (r) => ({ r, buf: (await r.next()) ?? [], at: 0 })));
      let live = heads.filter((h) => h.buf.length);
      while (live.length && !closed) {
        let out = '';
        // Up to a page at a time into one write.
        for (let n = 0; n < PAGE && live.length; n++) {
          let best = live[0];
          if (live.length > 1) {
            let bt = entrySeconds(best.buf[best.at].time);
            for (const h of live) {
              const t = entrySeconds(h.buf[h.at].time);
              if (t < bt) {
                best = h;
                bt = t;
              }
            }
          }
          const e = best.buf[best.at++];
          out += format(e, best.r);
          lines++;
          if (best.at >= best.buf.length) {
            await write(out);
            out = '';
            best.buf = (await best.r.next()) ?? [];
            best.at = 0;
            if (!best.buf.length) live = live.filter((h) => h !== best);
          }
        }
        await write(out);
      }
      if (closed) {
        await audit(`error: the browser went away after ${lines} lines`);
        return;
      }
      // Recorded before the body ends, so whoever has the whole file finds the row.
      await audit(`ok: ${lines} lines`);
      res.end();
    } catch (err) {
      const msg = err instanceof HttpError || err instanceof Error ? err.message : String(err);
      await audit(`error: after ${lines} lines: ${msg}`);
      // The body must not look complete.
      if (!closed) res.write(`berth: download incomplete: ${msg}\n`);
      res.destroy();
    } finally {
      for (const r of readers) r.close();
    }
  }

  /** A log's lines by pages (after the last seq), up to where it ended when the download began. */
  private async pageReader(src: LogSource, q: Query): Promise<SourceReader> {
    let after = 0;
    let end = Number.MAX_SAFE_INTEGER;
    let more = true;
    const ask = async () => {
      const res = await this.hub.command<LogPage>(src.hostId, {
        op: 'logs.page',
        id: src.containerId,
        ...(src.kept ? { kept: true } : {}),
        after,
        limit: PAGE,
        ...(q.since !== undefined ? { since: q.since } : {}),
        ...(q.until !== undefined ? { until: q.until } : {}),
        stdout: q.stdout,
        stderr: q.stderr,
      });
      if (!res.ok) throw agentFailure(res.status, res.error);
      return res.result!;
    };
    const first = await ask();
    end = first.endSeq;
    let pending: LogEntry[] | undefined = first.entries;
    more = first.hasAfter;
    const reader: SourceReader = {
      hostId: src.hostId,
      name: first.name,
      id: first.containerId,
      next: async () => {
        let entries: LogEntry[];
        if (pending) {
          entries = pending;
          pending = undefined;
        } else {
          if (!more) return undefined;
          const p = await ask();
          entries = p.entries;
          more = p.hasAfter;
        }
        // Lines written after the download began are not part of it.
        const inRange = entries.filter((e) => e.seq <= end);
        if (inRange.length < entries.length) more = false;
        if (inRange.length) after = inRange[inRange.length - 1].seq;
        else more = false;
        return inRange.length ? inRange : undefined;
      },
      close: () => {
        more = false;
      },
    };
    return reader;
  }

  /** A log's matching lines, from a search on its agent without a hit bound, paced by what was written. */
  private async searchReader(src: LogSource, q: Query): Promise<SourceReader> {
    const searchId = `download-${randomUUID()}`;
    // One chunk at a time: the agent's next waits for the ack, which waits for the chunk to be taken.
    let waiting: { chunk: LogSearchChunk; taken: () => void } | undefined;
    let arrived: (() => void) | undefined;
    let finished = false;
    let failed: string | undefined;
    // A host that goes away mid-search sends no last chunk: the download fails rather than hang.
    const offline = (hostId: string) => {
      if (hostId !== src.hostId) return;
      failed = 'host went offline';
      arrived?.();
    };
    this.hub.offlineListeners.add(offline);
    this.relay.searchHandlers.set(searchId, (hostId, chunk) => {
      if (hostId !== src.hostId || finished) return Promise.resolve();
      return new Promise<void>((taken) => {
        waiting = { chunk, taken };
        arrived?.();
      });
    });
    const close = () => {
      if (finished) return;
      finished = true;
      this.hub.offlineListeners.delete(offline);
      this.relay.searchHandlers.delete(searchId);
      waiting?.taken();
      arrived?.();
      void this.hub.command(src.hostId, { op: 'logs.search.cancel', searchId });
    };
    const res = await this.hub.command<{ containerId: string; name: string }>(src.hostId, {
      op: 'logs.search',
      searchId,
      id: src.containerId,
      ...(src.kept ? { kept: true } : {}),
      query: q.q!,
      regex: q.regex,
      caseSensitive: q.caseSensitive,
      maxHits: Number.MAX_SAFE_INTEGER,
      ...(q.since !== undefined ? { since: q.since } : {}),
      ...(q.until !== undefined ? { until: q.until } : {}),
      stdout: q.stdout,
      stderr: q.stderr,
    });
    if (!res.ok) {
      this.hub.offlineListeners.delete(offline);
      this.relay.searchHandlers.delete(searchId);
      finished = true;
      throw agentFailure(res.status, res.error);
    }
    let done = false;
    return {
      hostId: src.hostId,
      name: res.result?.name ?? '',
      id: res.result?.containerId ?? src.containerId,
      next: async () => {
        for (;;) {
          if (done || finished) return undefined;
          if (!waiting && !failed) await new Promise<void>((r) => (arrived = r));
          arrived = undefined;
          if (failed && !waiting) throw new Error(failed);
          if (!waiting) continue;
          const { chunk, taken } = waiting;
          waiting = undefined;
          taken();
          if (chunk.done) {
            done = true;
            this.hub.offlineListeners.delete(offline);
            this.relay.searchHandlers.delete(searchId);
            if (chunk.done.error) throw new Error(chunk.done.error);
          }
          const hits = chunk.hits.map((h) => ({ seq: h.seq, stream: h.stream, time: h.time, line: h.line }));
          if (hits.length) return hits;
        }
      },
      close,
    };
  }
}

export function logDownloads(hub: AgentHub): LogDownloads {
  return berthGlobal('logDownloads', () => new LogDownloads(hub, logRelay(hub)));
}
