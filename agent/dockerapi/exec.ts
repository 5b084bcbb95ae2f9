// Docker's exec endpoints: POST /containers/{id}/exec (create), POST /exec/{id}/start
// (hijacked, or Detach), POST /exec/{id}/resize, GET /exec/{id}/json; and the container's
// POST /containers/{id}/resize. Fields Berth does not do are refused by name.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import type { Engine, ExecInfo, TtySize } from '../engine/types';
import { pumpSession, streamHeader } from './hijack';
import { HttpError, readJson, sendEmpty, sendJson, type Query } from './http';
import { apiAtLeast, streamContentType } from './api-version';
import { DOCKER_API_VERSION as API_VERSION } from '../../protocol/docker-api';
import { rawHttpError } from './logs';

// Go decodes null as the zero value; so does this. Unknown fields are dropped as dockerd's decoder drops them.
const consoleSize = z
  .array(z.number().int().min(0).max(65535))
  .length(2)
  .nullish()
  .transform((v): TtySize | undefined => (v && v[0] > 0 && v[1] > 0 ? { rows: v[0], cols: v[1] } : undefined));

const createBody = z.object({
  AttachStdin: z.boolean().nullish(),
  AttachStdout: z.boolean().nullish(),
  AttachStderr: z.boolean().nullish(),
  DetachKeys: z.string().nullish(),
  Tty: z.boolean().nullish(),
  ConsoleSize: consoleSize,
  Env: z.array(z.string()).nullish(),
  Cmd: z.union([z.array(z.string()), z.string().transform((s) => [s])]).nullish(),
  Privileged: z.boolean().nullish(),
  User: z.string().nullish(),
  WorkingDir: z.string().nullish(),
});

const startBody = z.object({
  Detach: z.boolean().nullish(),
  Tty: z.boolean().nullish(),
  ConsoleSize: consoleSize,
});

function parse<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new HttpError(400, `invalid ${what}: ${issue.path.join('.') || 'body'}: ${issue.message}`);
}

/** ConsoleSize came with API 1.42: dockerd ignores an older client's, and so does Berth. */
const consoleSizeFor = (size: TtySize | undefined, version: string) => (apiAtLeast(version, '1.42') ? size : undefined);

export async function createExec(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string, version: string = API_VERSION): Promise<void> {
  const b = parse(createBody, await readJson<unknown>(req), 'exec config');
  if (!b.Cmd?.length) throw new HttpError(400, 'No exec command specified');
  const info = engine.execCreate(id, {
    cmd: b.Cmd,
    env: b.Env ?? undefined,
    user: b.User || undefined,
    workingDir: b.WorkingDir || undefined,
    tty: !!b.Tty,
    privileged: !!b.Privileged,
    attachStdin: !!b.AttachStdin,
    attachStdout: !!b.AttachStdout,
    attachStderr: !!b.AttachStderr,
    detachKeys: b.DetachKeys || undefined,
    consoleSize: consoleSizeFor(b.ConsoleSize, version),
  });
  sendJson(res, 201, { Id: info.id });
}

/**
 * POST /exec/{id}/start, attached: the connection becomes the process's stdio until it has
 * exited and everything it printed is out (its exit code is recorded by then, so the
 * CLI's inspect right after finds it). Output framing follows the start's Tty, as dockerd's.
 */
export async function startExecAttached(engine: Engine, socket: Duplex, id: string, body: unknown, upgraded: boolean, version: string = API_VERSION): Promise<void> {
  let tty: boolean;
  let session;
  try {
    const b = parse(startBody, body, 'exec start config');
    const consoleSize = consoleSizeFor(b.ConsoleSize, version);
    if (b.Detach) {
      engine.execStart(id, { detach: true, consoleSize });
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    tty = !!b.Tty;
    session = engine.execStart(id, { consoleSize });
  } catch (err) {
    rawHttpError(socket, err);
    return;
  }
  socket.write(streamHeader(upgraded, streamContentType(tty, version)));
  if (session) await pumpSession(socket, session, { raw: tty, input: upgraded });
  else socket.end();
}

function sizeParams(q: Query): TtySize {
  const n = (k: string) => {
    const v = q.get(k) ?? '';
    if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) throw new HttpError(400, `invalid resize ${k === 'h' ? 'height' : 'width'} ${JSON.stringify(v)}`);
    return Math.min(Number(v), 65535);
  };
  return { rows: n('h'), cols: n('w') };
}

export async function resizeExec(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  await engine.execResize(id, sizeParams(q));
  sendEmpty(res, 200);
}

export async function resizeContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  await engine.resize(id, sizeParams(q));
  sendEmpty(res, 200);
}

/** Docker's ExecInspectResponse. */
export function execJson(e: ExecInfo): Record<string, unknown> {
  return {
    ID: e.id,
    Running: e.running,
    ExitCode: e.exitCode,
    ProcessConfig: { tty: e.tty, entrypoint: e.entrypoint, arguments: e.args, privileged: e.privileged, user: e.user },
    OpenStdin: e.openStdin,
    OpenStderr: e.openStderr,
    OpenStdout: e.openStdout,
    CanRemove: e.canRemove,
    ContainerID: e.containerId,
    DetachKeys: e.detachKeys,
    Pid: e.pid,
  };
}

export function inspectExec(engine: Engine, res: ServerResponse, id: string): void {
  sendJson(res, 200, execJson(engine.execInspect(id)));
}

/**
 * POST /exec/{id}/start on a connection that was not upgraded: the body is read the HTTP
 * way; with Detach the answer is an empty 200 (as dockerd's), else the socket carries the
 * output (input cannot be read there: Node's HTTP parser still owns the socket).
 */
export async function startExec(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string, version: string = API_VERSION): Promise<void> {
  const body = await readJson<unknown>(req);
  const b = parse(startBody, body, 'exec start config');
  if (b.Detach) {
    engine.execStart(id, { detach: true, consoleSize: consoleSizeFor(b.ConsoleSize, version) });
    res.writeHead(200, { 'Content-Length': 0 }).end();
    return;
  }
  await startExecAttached(engine, req.socket, id, body, false, version);
}
