// Small request/response helpers: the Docker API is simple enough that a framework
// would cost more than it saves, and the hijacked attach needs the raw socket anyway.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EngineError } from '../engine/errors';

export type Query = URLSearchParams;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/** Docker's status for an error: EngineError and HttpError carry theirs, anything else is the engine's fault. */
export function statusOf(err: unknown): number {
  if (err instanceof EngineError || err instanceof HttpError) return err.status;
  return 500;
}

/** Docker's list endpoints give times as whole unix seconds. */
export function unixSeconds(rfc3339: string): number {
  const ms = Date.parse(rfc3339);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const status = statusOf(err);
  if (status === 500 && !(err instanceof EngineError)) console.error('docker api: internal error:', err);
  if (res.headersSent) {
    // Too late for a status code: the best we can do is end the stream.
    res.destroy();
    return;
  }
  sendJson(res, status, { message: messageOf(err) });
}

export async function readBody(req: IncomingMessage, limit = 4 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function readJson<T>(req: IncomingMessage): Promise<T | undefined> {
  const body = await readBody(req);
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch (err) {
    throw new HttpError(400, `invalid JSON in request body: ${messageOf(err)}`);
  }
}

/** Docker accepts 1/true/True for booleans in queries. */
export function boolParam(q: Query, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return v === '1' || v.toLowerCase() === 'true';
}

export function intParam(q: Query, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new HttpError(400, `invalid value for ${name}: ${JSON.stringify(v)}`);
  return n;
}
