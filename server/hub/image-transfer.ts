// Image archives between the browser and an agent, streamed through the control plane:
//   GET  /api/images/save?hostId=H&ref=R[&ref=R2…]  → the docker-archive tar as a download
//   POST /api/images/load?hostId=H   body: an archive → { images: [{ id, tags }] }
//   POST /api/images/build?hostId=H&tag=T…[&dockerfile=P&target=S&nocache=1&buildarg=K=V…]
//        body: the context tar → the builder's output as JSON lines, then {"result":{"id"}} or {"error"}
// Plain Node handlers in front of Next (server/main.ts), so a piece of the archive goes on
// only once the other side has taken the last one: the server holds one piece at a time,
// whatever the archive's size. Both need the operator role and leave an audit row, refusals too.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { COMMAND_TIMEOUT_MS, IMAGE_CHUNK_BYTES, PULL_TIMEOUT_MS, type ImageDataChunk, type ImageLoadResult } from '../../protocol/agent-link';
import { AccessError, hostFor } from '../auth/access';
import { actingUserId } from '../auth/session';
import { db } from '../db';
import { berthGlobal } from '../global';
import { originAllowed } from '../http/origin';
import { writeAudit } from '../trpc/host-ops';
import { HUB_OFFLINE, HUB_TIMEOUT, type AgentHub } from './agents';

export const SAVE_PATH = '/api/images/save';
export const LOAD_PATH = '/api/images/load';
export const BUILD_PATH = '/api/images/build';

interface SaveSink {
  hostId: string;
  res: ServerResponse;
  /** Settles once the answer's head is written (the agent's pieces may come before its ack does). */
  ready: Promise<boolean>;
  finish: (result: string) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The engine's and the hub's statuses as HTTP ones. */
function httpStatus(status: number | undefined): number {
  if (status === HUB_OFFLINE) return 503;
  if (status === HUB_TIMEOUT) return 504;
  return status && status >= 400 && status < 600 ? status : 500;
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify({ error: message }));
}

/** A name for the download: the first reference, with nothing a file name or header could trip on. */
export function archiveFileName(refs: string[]): string {
  const base = (refs[0] ?? 'images').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(0, 100) || 'images';
  return `${base}${refs.length > 1 ? `-and-${refs.length - 1}-more` : ''}.tar`;
}

/** A build runs its steps before the agent answers the upload's end; a long one may take this long. */
const BUILD_TIMEOUT_MS = 60 * 60_000;
const BUILD_PARAMS = new Set(['hostId', 'tag', 'dockerfile', 'target', 'nocache', 'buildarg']);

export class ImageTransfers {
  private readonly saves = new Map<string, SaveSink>();

  constructor(private readonly hub: AgentHub) {
    hub.imageDataSink = (hostId, chunk) => this.onData(hostId, chunk);
    hub.offlineListeners.add((hostId) => {
      for (const [id, s] of this.saves) {
        if (s.hostId !== hostId) continue;
        this.saves.delete(id);
        s.res.destroy();
        s.finish('error: the host went offline during the download');
      }
    });
  }

  /** True when the request was one of ours (and is being answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== SAVE_PATH && url.pathname !== LOAD_PATH && url.pathname !== BUILD_PATH) return false;
    const isSave = url.pathname === SAVE_PATH;
    if (req.method !== (isSave ? 'GET' : 'POST')) {
      res.setHeader('Allow', isSave ? 'GET' : 'POST');
      sendError(res, 405, `${url.pathname} takes ${isSave ? 'GET' : 'POST'}`);
      return true;
    }
    const run = isSave ? this.save(req, res, url) : url.pathname === LOAD_PATH ? this.load(req, res, url) : this.build(req, res, url);
    run.catch((err: unknown) => {
      if (!(err instanceof HttpError)) console.error(`${url.pathname}: ${(err as Error)?.stack ?? err}`);
      sendError(res, err instanceof HttpError ? err.status : 500, err instanceof HttpError ? err.message : 'internal error');
      if (!isSave) req.resume();
    });
    return true;
  }

  /** The signed-in user and the host, with the operator role; a refusal is an audit row. */
  private async authorize(req: IncomingMessage, url: URL, action: string, target: string) {
    const userId = await actingUserId(req.headers.cookie);
    if (!userId) throw new HttpError(401, 'sign in first');
    // A page of another site may not make our user's browser send or fetch archives.
    if (req.headers['sec-fetch-site'] === 'cross-site' || (req.method !== 'GET' && !originAllowed(req.headers.origin, req.headers.host))) {
      throw new HttpError(403, 'refused: a request from another site cannot move images here');
    }
    const hostId = url.searchParams.get('hostId') ?? '';
    const ctx = { prisma: db(), user: { id: userId } };
    try {
      const { host } = await hostFor(userId, hostId, 'operator');
      return { ctx, host, audit: (result: string, t = target) => writeAudit(ctx, { action, hostId: host.id, teamId: host.teamId, target: t }, result) };
    } catch (err) {
      if (!(err instanceof AccessError)) throw err;
      const row = err.kind === 'forbidden' ? await db().host.findUnique({ where: { id: hostId }, select: { id: true, teamId: true } }) : null;
      await writeAudit(ctx, row ? { action, hostId: row.id, teamId: row.teamId, target } : { action, target: `${target} (host ${hostId})` }, `error: ${err.kind === 'forbidden' ? 'FORBIDDEN' : 'NOT_FOUND'}: ${err.message}`);
      throw new HttpError(err.kind === 'forbidden' ? 403 : 404, err.message);
    }
  }

  /**
   * Registers where a stream's pieces from the agent go (a save's archive, a build's output):
   * audited once when it ends; a browser that goes away before the end cancels it on the agent.
   */
  private openSink(streamId: string, hostId: string, res: ServerResponse, ready: Promise<boolean>, audit: (result: string) => Promise<unknown>, cancelOp: 'images.save.cancel' | 'images.load.cancel', goneResult: string): SaveSink {
    let settled = false;
    const sink: SaveSink = {
      hostId,
      res,
      ready,
      finish: (result) => {
        if (settled) return;
        settled = true;
        void audit(result);
      },
    };
    this.saves.set(streamId, sink);
    res.on('close', () => {
      if (this.saves.get(streamId) !== sink) return;
      this.saves.delete(streamId);
      void this.hub.command(hostId, { op: cancelOp, streamId });
      sink.finish(goneResult);
    });
    return sink;
  }

  private async save(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const refs = url.searchParams.getAll('ref').map((r) => r.trim()).filter(Boolean);
    const target = refs.join(' ').slice(0, 500) || '(none)';
    const { host, audit } = await this.authorize(req, url, 'images.save', target);
    if (!refs.length || refs.length > 100 || refs.some((r) => r.length > 512)) {
      await audit('error: BAD_REQUEST: one to 100 image references are needed');
      throw new HttpError(400, 'name one to 100 images to save (ref=…)');
    }
    const streamId = randomUUID();
    let open: (ok: boolean) => void = () => {};
    const ready = new Promise<boolean>((r) => (open = r));
    const sink = this.openSink(streamId, host.id, res, ready, audit, 'images.save.cancel', 'error: the download was cancelled before its end');
    const started = await this.hub.command(host.id, { op: 'images.save', streamId, refs }, PULL_TIMEOUT_MS);
    if (!started.ok) {
      this.saves.delete(streamId);
      open(false);
      sink.finish(`error: ${started.error}`);
      throw new HttpError(httpStatus(started.status), started.error);
    }
    if (this.saves.get(streamId) !== sink) return open(false);
    res.writeHead(200, {
      'Content-Type': 'application/x-tar',
      'Content-Disposition': `attachment; filename="${archiveFileName(refs)}"`,
      'Cache-Control': 'no-store',
    });
    open(true);
  }

  private async onData(hostId: string, chunk: ImageDataChunk): Promise<void> {
    const sink = this.saves.get(chunk.streamId);
    if (!sink || sink.hostId !== hostId) {
      if (!sink) void this.hub.command(hostId, { op: 'images.save.cancel', streamId: chunk.streamId });
      return;
    }
    if (!(await sink.ready) || this.saves.get(chunk.streamId) !== sink) return;
    const { res } = sink;
    if (chunk.error) {
      this.saves.delete(chunk.streamId);
      // Cut, not ended: the browser must see a failed download, not a short archive.
      res.destroy();
      return sink.finish(`error: ${chunk.error}`);
    }
    if (chunk.data instanceof Uint8Array && chunk.data.length && !res.write(chunk.data)) {
      await new Promise<void>((resolve) => {
        const go = () => {
          res.off('drain', go);
          res.off('close', go);
          resolve();
        };
        res.on('drain', go);
        res.on('close', go);
      });
    }
    if (chunk.done) {
      this.saves.delete(chunk.streamId);
      res.end();
      sink.finish('ok');
    }
  }

  private async load(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { host, audit } = await this.authorize(req, url, 'images.load', 'archive upload');
    const streamId = randomUUID();
    const fail = async (status: number | undefined, error: string): Promise<never> => {
      await audit(`error: ${error}`);
      throw new HttpError(httpStatus(status), error);
    };
    const opened = await this.hub.command(host.id, { op: 'images.load', streamId });
    if (!opened.ok) await fail(opened.status, opened.error);
    await this.upload(req, host.id, streamId, audit, fail);
    const done = await this.hub.command<ImageLoadResult>(host.id, { op: 'images.load.end', streamId }, PULL_TIMEOUT_MS);
    if (!done.ok) await fail(done.status, done.error);
    const result = (done.ok && done.result) || { images: [] };
    const names = result.images.flatMap((i) => (i.tags.length ? i.tags : [i.id]));
    await audit('ok', `archive upload: ${names.join(', ') || 'no images'}`.slice(0, 500));
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(result));
  }

  /** The request's body to the agent's open upload `streamId`, a piece at a time, each after the agent took the last. */
  private async upload(req: IncomingMessage, hostId: string, streamId: string, audit: (result: string) => Promise<void>, fail: (status: number | undefined, error: string) => Promise<never>): Promise<void> {
    const host = { id: hostId };
    let bytes = 0;
    try {
      for await (const part of req as AsyncIterable<Buffer>) {
        for (let at = 0; at < part.length; at += IMAGE_CHUNK_BYTES) {
          const data = part.subarray(at, at + IMAGE_CHUNK_BYTES);
          const sent = await this.hub.command(host.id, { op: 'images.load.chunk', streamId, data }, COMMAND_TIMEOUT_MS);
          if (!sent.ok) await fail(sent.status, sent.error);
          bytes += data.length;
        }
      }
    } catch (err) {
      if (err instanceof HttpError) {
        void this.hub.command(host.id, { op: 'images.load.cancel', streamId });
        throw err;
      }
      // The upload broke off: the agent drops what it took so far.
      void this.hub.command(host.id, { op: 'images.load.cancel', streamId });
      await audit(`error: the upload broke off after ${bytes} bytes`);
      throw new HttpError(400, `the upload broke off after ${bytes} bytes: ${(err as Error).message}`);
    }
  }

  /**
   * A build: the context goes up as a load's archive does; the builder's output comes down as
   * the answer, JSON lines as the Docker API's /build prints them, and a last line with the
   * image's id or the error. The answer starts once the agent has opened the build.
   */
  private async build(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const q = url.searchParams;
    const tags = q.getAll('tag').map((t) => t.trim()).filter(Boolean);
    const { host, audit } = await this.authorize(req, url, 'images.build', tags.join(' ').slice(0, 500) || '(untagged)');
    // An option this endpoint does not know is refused by its name, never dropped.
    const unknown = [...new Set(q.keys())].filter((k) => !BUILD_PARAMS.has(k));
    if (unknown.length) {
      await audit(`error: BAD_REQUEST: unknown build options ${unknown.join(', ')}`);
      throw new HttpError(400, `Berth's build does not take ${unknown.map((k) => JSON.stringify(k)).join(', ')} (it takes ${[...BUILD_PARAMS].join(', ')})`);
    }
    const buildArgs: Record<string, string> = {};
    for (const a of q.getAll('buildarg')) {
      const eq = a.indexOf('=');
      if (eq < 1) {
        await audit(`error: BAD_REQUEST: build argument ${a} is not NAME=VALUE`);
        throw new HttpError(400, `build argument ${JSON.stringify(a)} is not NAME=VALUE`);
      }
      buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
    }
    const streamId = randomUUID();
    const fail = async (status: number | undefined, error: string): Promise<never> => {
      await audit(`error: ${error}`);
      throw new HttpError(httpStatus(status), error);
    };
    const opened = await this.hub.command(host.id, {
      op: 'images.build',
      streamId,
      ...(tags.length ? { tags } : {}),
      ...(q.get('dockerfile') ? { dockerfile: q.get('dockerfile')! } : {}),
      ...(q.get('target') ? { target: q.get('target')! } : {}),
      ...(q.get('nocache') === '1' ? { noCache: true } : {}),
      ...(Object.keys(buildArgs).length ? { buildArgs } : {}),
    });
    if (!opened.ok) await fail(opened.status, opened.error);
    const sink = this.openSink(streamId, host.id, res, Promise.resolve(true), audit, 'images.load.cancel', 'error: the page went away before the build ended');
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store' });
    res.flushHeaders();
    try {
      await this.upload(req, host.id, streamId, async () => {}, async (_s, error) => {
        throw new HttpError(400, error);
      });
    } catch (err) {
      this.saves.delete(streamId);
      res.end(`${JSON.stringify({ error: (err as Error).message })}\n`);
      return sink.finish(`error: ${(err as Error).message}`);
    }
    const done = await this.hub.command<{ id: string }>(host.id, { op: 'images.load.end', streamId }, BUILD_TIMEOUT_MS);
    if (this.saves.get(streamId) !== sink) return;
    this.saves.delete(streamId);
    if (done.ok) {
      res.end(`${JSON.stringify({ result: { id: done.result?.id ?? '' } })}\n`);
      sink.finish('ok');
    } else {
      res.end(`${JSON.stringify({ error: done.error })}\n`);
      sink.finish(`error: ${done.error}`);
    }
  }
}

export function imageTransfers(hub: AgentHub): ImageTransfers {
  return berthGlobal('imageTransfers', () => new ImageTransfers(hub));
}
