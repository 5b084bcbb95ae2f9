// Logs between browsers ('/ui') and agents: live streams (one log or several merged),
// searches, and the search streams downloads read. Nothing is held without bound: an agent's
// batch is acked only once the browser's connection took the last one, and a browser that
// takes nothing for LOG_BEHIND_AFTER_MS is told it fell behind and its stream is stopped
// (the agent stops reading), so it catches up from its seqs instead of the server holding
// output for it. A subscription to a host that is offline waits for the host; every stream
// resumes after its last seq when an agent reconnects (see protocol/logs.ts, "Recovery").
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io';
import type { LogBatch, LogSearchChunk } from '../../protocol/agent-link';
import type { LogEntry } from '../../protocol/container';
import {
  LOG_BEHIND_AFTER_MS,
  MAX_LOG_STREAMS_PER_SOCKET,
  MAX_SEARCHES_PER_SOCKET,
  LOG_PAGE_MAX,
  logSchemas,
  zodMessage,
  type LogSearchHit,
  type LogSearchRequest,
  type LogSource,
  type LogStreamSource,
  type SourcedLogEntry,
} from '../../protocol/logs';
import type { ServerToUi, UiToServer } from '../../protocol/ui-socket';
import { AccessError, hostFor } from '../auth/access';
import { berthGlobal } from '../global';
import { HUB_OFFLINE, type AgentHub } from './agents';

type UiSocket = Socket<UiToServer, ServerToUi, Record<string, never>, { userId: string }>;

// A page follows a few logs; more than this from one connection is a runaway page or abuse, and each costs the agent a reader.
export { MAX_LOG_STREAMS_PER_SOCKET, MAX_SEARCHES_PER_SOCKET } from '../../protocol/log-limits';
/** How long the first batches of a merged view wait for each other, to come interleaved. */
const MERGE_FIRST_MS = 500;

interface Conn {
  writeBuffer: unknown[];
  readyState: string;
  on(ev: string, fn: () => void): void;
  off(ev: string, fn: () => void): void;
}

/** One wait per connection, however many of its streams are waiting: a listener each would trip Node's leak warning at 11. */
const drainWaits = new WeakMap<Conn, Promise<void>>();

/** Resolves when socket.io has handed everything queued for this browser to the network. */
export function drained(socket: Socket): Promise<void> {
  const conn = socket.conn as unknown as Conn;
  if (conn.writeBuffer.length === 0 || conn.readyState !== 'open') return Promise.resolve();
  let wait = drainWaits.get(conn);
  if (!wait) {
    wait = new Promise((resolve) => {
      const done = () => {
        conn.off('drain', done);
        conn.off('close', done);
        drainWaits.delete(conn);
        resolve();
      };
      conn.on('drain', done);
      conn.on('close', done);
    });
    drainWaits.set(conn, wait);
  }
  return wait;
}

const BEHIND = Symbol('behind');
function within<T>(p: Promise<T>, ms: number): Promise<T | typeof BEHIND> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<typeof BEHIND>((r) => (timer = setTimeout(() => r(BEHIND), ms)))]).finally(() => clearTimeout(timer));
}

export function errorText(err: unknown): string {
  if (err instanceof AccessError) return err.message;
  console.error(`logs: ${(err as Error)?.stack ?? err}`);
  return 'internal error';
}

/** Seconds from RFC 3339 with nanoseconds, precise enough to order lines (Date.parse drops the sub-milliseconds). */
export function entrySeconds(time: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(time);
  if (!m) return Date.parse(time) / 1000;
  return Date.parse(m[1] + m[3]) / 1000 + (m[2] ? Number(m[2]) : 0);
}

/** One source of a subscription: one agent log stream. */
interface Stream {
  /** The subId the agent knows this stream by. */
  agentSubId: string;
  hostId: string;
  /** As the browser named it; `id` once the agent said whose it is. */
  containerId: string;
  id: string;
  name: string;
  kept?: boolean;
  /** Highest seq delivered to the browser: where to resume after the agent reconnects. */
  lastSeq: number;
  /** The browser gave a seq to resume after (then `tail` is not used, even when lastSeq is 0). */
  resumed: boolean;
  /** The agent is streaming it (false while its host is offline). */
  running: boolean;
  ended: boolean;
  /** Its first batch came (merged views hold first batches to interleave them). */
  first: boolean;
}

interface Subscription {
  subId: string;
  socket: UiSocket;
  single: boolean;
  tail: number;
  streams: Stream[];
  /** Settles once the browser has its subId, so no batch reaches it before the ack does. */
  ready: Promise<void>;
  /** While a merged view's first batches gather: settles when they are sent together. */
  firstBatch?: { entries: SourcedLogEntry[]; sent: Promise<void>; send: () => void };
}

/** Takes one search chunk of an agent; resolves (→ the agent's ack) once the next may come. */
export type SearchHandler = (hostId: string, chunk: LogSearchChunk) => Promise<void>;

interface Search {
  searchId: string;
  socket: UiSocket;
  parts: Array<{ agentSearchId: string; hostId: string; id: string; name: string; found: number; done: boolean }>;
  total: number;
  sent: number;
  scannedBytes: number;
  error?: string;
}

export class LogRelay {
  private readonly subs = new Map<string, Subscription>();
  /** agent subId → its subscription and stream. */
  private readonly streams = new Map<string, { sub: Subscription; stream: Stream }>();
  /** agent searchId → who takes its chunks (a browser's search, or a download). */
  readonly searchHandlers = new Map<string, SearchHandler>();
  private readonly searches = new Map<string, Search>();

  private readonly authorize: (userId: string, hostId: string, min: 'viewer') => Promise<unknown>;
  private readonly behindMs: number;
  private readonly mergeFirstMs: number;

  constructor(
    private readonly agents: AgentHub,
    /** Seams for tests: the role check, and the two waits. */
    opts: { authorize?: (userId: string, hostId: string, min: 'viewer') => Promise<unknown>; behindMs?: number; mergeFirstMs?: number } = {},
  ) {
    this.authorize = opts.authorize ?? hostFor;
    this.behindMs = opts.behindMs ?? LOG_BEHIND_AFTER_MS;
    this.mergeFirstMs = opts.mergeFirstMs ?? MERGE_FIRST_MS;
  }

  attach(): void {
    this.agents.logSink = (hostId, batch) => this.forward(hostId, batch);
    this.agents.logSearchSink = (hostId, chunk) => {
      const h = this.searchHandlers.get(chunk.searchId);
      if (h) return h(hostId, chunk);
      // Nobody wants it (any more): make sure the agent stops searching.
      void this.agents.command(hostId, { op: 'logs.search.cancel', searchId: chunk.searchId });
      return Promise.resolve();
    };
    this.agents.offlineListeners.add((hostId) => this.hostGone(hostId));
  }

  bind(socket: UiSocket): void {
    const userId = socket.data.userId;
    socket.on('logs:subscribe', (req, ack) => void this.subscribe(socket, userId, req, typeof ack === 'function' ? ack : () => {}));
    socket.on('logs:unsubscribe', (subId) => {
      const sub = typeof subId === 'string' ? this.subs.get(subId) : undefined;
      if (sub && sub.socket === socket) this.drop(sub);
    });
    socket.on('logs:search', (req, ack) => void this.search(socket, userId, req, typeof ack === 'function' ? ack : () => {}));
    socket.on('logs:searchCancel', (searchId) => {
      const s = typeof searchId === 'string' ? this.searches.get(searchId) : undefined;
      if (s && s.socket === socket) this.endSearch(s, { cancelled: true });
    });
    socket.on('disconnect', () => {
      for (const sub of [...this.subs.values()]) if (sub.socket === socket) this.drop(sub);
      for (const s of [...this.searches.values()]) if (s.socket === socket) this.endSearch(s, { cancelled: true, silent: true });
    });
  }

  // ----- live streams

  private streamsOf(socket: UiSocket): number {
    let n = 0;
    for (const s of this.subs.values()) if (s.socket === socket) n += s.streams.length;
    return n;
  }

  private async subscribe(socket: UiSocket, userId: string, raw: unknown, reply: (res: { ok: boolean; subId?: string; error?: string; waiting?: Array<{ hostId: string; containerId: string }> }) => void) {
    let release = () => {};
    let sub: Subscription | undefined;
    try {
      // The single form as the old viewer sends it: bad numbers are ignored as before, not refused.
      const r = raw as Record<string, unknown> | null;
      if (!r || typeof r !== 'object') throw new AccessError('not-found', 'hostId and containerId are required');
      let sources: LogStreamSource[];
      let tail: number | undefined;
      const single = !('sources' in r);
      if (single) {
        if (typeof r.hostId !== 'string' || typeof r.containerId !== 'string' || !r.containerId) throw new AccessError('not-found', 'hostId and containerId are required');
        tail = Number.isInteger(r.tail) && (r.tail as number) >= 0 ? Math.min(r.tail as number, LOG_PAGE_MAX) : undefined;
        const afterSeq = Number.isInteger(r.afterSeq) && (r.afterSeq as number) >= 0 ? (r.afterSeq as number) : undefined;
        sources = [{ hostId: r.hostId, containerId: r.containerId, ...(r.kept === true ? { kept: true } : {}), ...(afterSeq !== undefined ? { afterSeq } : {}) }];
      } else {
        const parsed = logSchemas().subscribe.safeParse(r);
        if (!parsed.success) throw new AccessError('not-found', zodMessage(parsed.error));
        const req = parsed.data as { sources: LogStreamSource[]; tail?: number };
        sources = req.sources;
        tail = req.tail;
      }
      for (const hostId of new Set(sources.map((s) => s.hostId))) await this.authorize(userId, hostId, 'viewer');
      if (this.streamsOf(socket) + sources.length > MAX_LOG_STREAMS_PER_SOCKET) {
        return reply({ ok: false, error: `too many log streams open on this connection (at most ${MAX_LOG_STREAMS_PER_SOCKET}); close some first` });
      }
      const subId = randomUUID();
      sub = {
        subId,
        socket,
        single,
        tail: tail ?? 100,
        streams: sources.map((s, i) => ({
          agentSubId: single ? subId : `${subId}/${i}`,
          hostId: s.hostId,
          containerId: s.containerId,
          id: s.containerId,
          name: '',
          kept: s.kept,
          lastSeq: s.afterSeq ?? 0,
          resumed: s.afterSeq !== undefined,
          running: false,
          ended: false,
          first: false,
        })),
        ready: new Promise<void>((r) => (release = r)),
      };
      if (!single) {
        let send = () => {};
        const sent = new Promise<void>((r) => (send = r));
        sub.firstBatch = { entries: [], sent, send };
      }
      this.subs.set(subId, sub);
      for (const st of sub.streams) this.streams.set(st.agentSubId, { sub, stream: st });
      const results = await Promise.all(sub.streams.map((st) => this.start(sub!, st)));
      const failed = results.find((x) => x.error !== undefined);
      if (failed) {
        this.drop(sub);
        return reply({ ok: false, error: single ? failed.error! : `${failed.stream.hostId}/${failed.stream.containerId}: ${failed.error}` });
      }
      if (!socket.connected) return this.drop(sub);
      const waiting = sub.streams.filter((s) => !s.running).map((s) => ({ hostId: s.hostId, containerId: s.containerId }));
      if (sub.firstBatch) setTimeout(() => this.flushFirst(sub!), this.mergeFirstMs).unref();
      reply(waiting.length ? { ok: true, subId, waiting } : { ok: true, subId });
    } catch (err) {
      if (sub) this.drop(sub);
      reply({ ok: false, error: errorText(err) });
    } finally {
      release();
    }
  }

  /** Asks the agent to stream one source; an offline host leaves it waiting for the host. */
  private async start(sub: Subscription, st: Stream): Promise<{ stream: Stream; error?: string }> {
    const res = await this.agents.command<{ containerId?: string; name?: string }>(st.hostId, {
      op: 'logs.subscribe',
      subId: st.agentSubId,
      id: st.id,
      ...(st.kept ? { kept: true } : {}),
      ...(st.resumed || st.lastSeq > 0 ? { afterSeq: st.lastSeq } : { tail: sub.tail }),
    });
    if (res.ok) {
      st.running = true;
      if (res.result?.containerId) st.id = res.result.containerId;
      if (typeof res.result?.name === 'string') st.name = res.result.name;
      return { stream: st };
    }
    if (res.status === HUB_OFFLINE) return { stream: st };
    return { stream: st, error: res.error };
  }

  /** Forgets a subscription and tells the agents to stop reading. */
  private drop(sub: Subscription): void {
    if (this.subs.get(sub.subId) !== sub) return;
    this.subs.delete(sub.subId);
    sub.firstBatch?.send();
    for (const st of sub.streams) {
      this.streams.delete(st.agentSubId);
      if (!st.ended) void this.agents.command(st.hostId, { op: 'logs.unsubscribe', subId: st.agentSubId });
    }
  }

  private tag(st: Stream, entries: LogEntry[]): SourcedLogEntry[] {
    return entries.map((e) => ({ seq: e.seq, stream: e.stream, time: e.time, line: e.line, hostId: st.hostId, containerId: st.id, name: st.name }));
  }

  /** A merged view's first batches, interleaved by time, as one. */
  private flushFirst(sub: Subscription): void {
    const fb = sub.firstBatch;
    if (!fb) return;
    sub.firstBatch = undefined;
    if (this.subs.get(sub.subId) === sub && fb.entries.length) {
      fb.entries.sort((a, b) => entrySeconds(a.time) - entrySeconds(b.time));
      sub.socket.emit('logs', { subId: sub.subId, containerId: '', entries: fb.entries });
    }
    fb.send();
  }

  /** One batch from an agent to its browser; resolves (→ the agent's ack) once the browser took it. */
  private async forward(hostId: string, batch: LogBatch): Promise<void> {
    const found = this.streams.get(batch.subId);
    if (!found || found.stream.hostId !== hostId) {
      // Nobody is watching (any more): make sure the agent stops sending.
      if (!found) void this.agents.command(hostId, { op: 'logs.unsubscribe', subId: batch.subId });
      return;
    }
    const { sub, stream: st } = found;
    await sub.ready;
    if (this.subs.get(sub.subId) !== sub) return;
    if (!sub.socket.connected) return this.drop(sub);
    const fresh = Array.isArray(batch.entries) ? batch.entries.filter((e) => e.seq > st.lastSeq) : [];
    if (fresh.length) st.lastSeq = fresh[fresh.length - 1].seq;
    const entries = this.tag(st, fresh);
    if (batch.done) {
      st.ended = true;
      this.streams.delete(st.agentSubId);
    }
    if (sub.firstBatch && !st.first) {
      // A merged view's first batch of this source: wait for the others' (or the deadline).
      st.first = true;
      sub.firstBatch.entries.push(...entries);
      if (sub.streams.every((s) => s.first || !s.running || s.ended)) this.flushFirst(sub);
      await sub.firstBatch?.sent;
      if (this.subs.get(sub.subId) !== sub) return;
      if (batch.done) this.endStream(sub, st);
      return this.waitDrained(sub);
    }
    st.first = true;
    await sub.firstBatch?.sent;
    if (sub.single) {
      if (entries.length || batch.done) sub.socket.emit('logs', { subId: sub.subId, containerId: st.containerId, entries, done: batch.done || undefined });
      if (batch.done) this.subs.delete(sub.subId);
    } else {
      if (entries.length) sub.socket.emit('logs', { subId: sub.subId, containerId: '', entries });
      if (batch.done) this.endStream(sub, st);
    }
    return this.waitDrained(sub);
  }

  /** A merged view's source that ended: said so, and the view is done when all are. */
  private endStream(sub: Subscription, st: Stream, error?: string): void {
    st.ended = true;
    this.streams.delete(st.agentSubId);
    const done = sub.streams.every((s) => s.ended);
    sub.socket.emit('logs', { subId: sub.subId, containerId: sub.single ? st.containerId : '', entries: [], ended: [{ hostId: st.hostId, containerId: st.id, ...(error ? { error } : {}) }], ...(done ? { done: true } : {}) });
    if (done) this.subs.delete(sub.subId);
  }

  private async waitDrained(sub: Subscription): Promise<void> {
    const r = await within(drained(sub.socket), this.behindMs);
    if (r !== BEHIND || this.subs.get(sub.subId) !== sub) return;
    // The browser has not taken what it was sent: stop rather than hold more for it.
    this.drop(sub);
    sub.socket.emit('logs:behind', { subId: sub.subId, lastSeq: sub.streams.map((s) => ({ hostId: s.hostId, containerId: s.id, seq: s.lastSeq })) });
  }

  /** After an agent reconnects, its streams carry on after the last line each browser got. */
  resume(hostId: string): void {
    for (const sub of this.subs.values()) {
      for (const st of sub.streams) {
        if (st.hostId !== hostId || st.ended) continue;
        st.running = false;
        void this.start(sub, st).then((r) => {
          if (r.error === undefined || this.subs.get(sub.subId) !== sub) return;
          if (sub.single) {
            this.subs.delete(sub.subId);
            this.streams.delete(st.agentSubId);
            sub.socket.emit('logs', { subId: sub.subId, containerId: st.containerId, entries: [], done: true });
          } else this.endStream(sub, st, r.error);
        });
      }
    }
  }

  private hostGone(hostId: string): void {
    for (const sub of this.subs.values()) for (const st of sub.streams) if (st.hostId === hostId) st.running = false;
    for (const s of [...this.searches.values()]) {
      for (const p of s.parts) {
        if (p.hostId === hostId && !p.done) this.partDone(s, p, { total: p.found, scannedBytes: 0, error: 'host went offline' });
      }
    }
  }

  // ----- searches

  private async search(socket: UiSocket, userId: string, raw: unknown, reply: (res: { ok: boolean; searchId?: string; error?: string }) => void) {
    let s: Search | undefined;
    try {
      const parsed = logSchemas().search.safeParse(raw);
      if (!parsed.success) return reply({ ok: false, error: zodMessage(parsed.error) });
      const req = parsed.data as LogSearchRequest;
      for (const hostId of new Set(req.sources.map((x) => x.hostId))) await this.authorize(userId, hostId, 'viewer');
      if ([...this.searches.values()].filter((x) => x.socket === socket).length >= MAX_SEARCHES_PER_SOCKET) {
        return reply({ ok: false, error: `too many searches under way on this connection (at most ${MAX_SEARCHES_PER_SOCKET}); cancel one first` });
      }
      const searchId = randomUUID();
      const search: Search = { searchId, socket, parts: [], total: 0, sent: 0, scannedBytes: 0 };
      s = search;
      this.searches.set(searchId, search);
      let answered: () => void = () => {};
      const answer = new Promise<void>((r) => (answered = r));
      const results = await Promise.all(
        req.sources.map(async (src, i) => {
          const part = { agentSearchId: `${searchId}/${i}`, hostId: src.hostId, id: src.containerId, name: '', found: 0, done: false };
          search.parts.push(part);
          this.searchHandlers.set(part.agentSearchId, async (hostId, chunk) => {
            if (hostId !== part.hostId) return;
            await answer;
            return this.searchChunk(search, part, chunk);
          });
          const { sources: _s, ...rest } = req;
          const res = await this.agents.command<{ containerId: string; name: string }>(src.hostId, { op: 'logs.search', searchId: part.agentSearchId, id: src.containerId, ...(src.kept ? { kept: true } : {}), ...rest });
          if (res.ok) {
            part.id = res.result?.containerId ?? part.id;
            part.name = res.result?.name ?? '';
            return undefined;
          }
          part.done = true;
          this.searchHandlers.delete(part.agentSearchId);
          return req.sources.length > 1 ? `${src.hostId}/${src.containerId}: ${res.status === HUB_OFFLINE ? 'host is offline' : res.error}` : res.status === HUB_OFFLINE ? 'host is offline' : res.error;
        }),
      );
      const error = results.find((e) => e !== undefined);
      if (error !== undefined || !socket.connected) {
        this.endSearch(search, { cancelled: true, silent: true });
        answered();
        return reply({ ok: false, error: error ?? 'disconnected' });
      }
      reply({ ok: true, searchId });
      answered();
    } catch (err) {
      if (s) this.endSearch(s, { cancelled: true, silent: true });
      reply({ ok: false, error: errorText(err) });
    }
  }

  private async searchChunk(s: Search, part: Search['parts'][number], chunk: LogSearchChunk): Promise<void> {
    if (this.searches.get(s.searchId) !== s || part.done) return;
    part.found = chunk.found;
    const hits: LogSearchHit[] = (Array.isArray(chunk.hits) ? chunk.hits : []).map((h) => ({ ...h, hostId: part.hostId, containerId: part.id, name: part.name }));
    if (hits.length) {
      s.sent += hits.length;
      s.socket.emit('logs:searchBatch', { searchId: s.searchId, hits, found: s.parts.reduce((n, p) => n + p.found, 0) });
    }
    if (chunk.done) this.partDone(s, part, chunk.done);
    // A browser that does not read slows its search down; a search is bounded by maxHits, so no "behind" here.
    await drained(s.socket);
  }

  private partDone(s: Search, part: Search['parts'][number], done: { total: number; scannedBytes: number; error?: string }): void {
    part.done = true;
    part.found = done.total;
    this.searchHandlers.delete(part.agentSearchId);
    s.scannedBytes += done.scannedBytes;
    if (done.error && !s.error) s.error = s.parts.length > 1 ? `${part.hostId}/${part.name || part.id}: ${done.error}` : done.error;
    if (s.parts.every((p) => p.done)) this.endSearch(s, {});
  }

  private endSearch(s: Search, o: { cancelled?: boolean; silent?: boolean }): void {
    if (this.searches.get(s.searchId) !== s) return;
    this.searches.delete(s.searchId);
    for (const p of s.parts) {
      this.searchHandlers.delete(p.agentSearchId);
      if (!p.done) void this.agents.command(p.hostId, { op: 'logs.search.cancel', searchId: p.agentSearchId });
    }
    if (o.silent) return;
    const total = s.parts.reduce((n, p) => n + p.found, 0);
    s.socket.emit('logs:searchDone', { searchId: s.searchId, total, sent: s.sent, scannedBytes: s.scannedBytes, ...(s.error ? { error: s.error } : {}), ...(o.cancelled ? { cancelled: true } : {}) });
  }
}

/** The sources of a download or search as "hostId/containerId[/kept]" strings. */
export function parseSourceParam(v: string): LogSource | undefined {
  const parts = v.split('/');
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1] || (parts.length === 3 && parts[2] !== 'kept')) return undefined;
  return { hostId: parts[0], containerId: parts[1], ...(parts[2] === 'kept' ? { kept: true } : {}) };
}

export function logRelay(agents: AgentHub): LogRelay {
  return berthGlobal('logRelay', () => new LogRelay(agents));
}
