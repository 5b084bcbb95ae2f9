// The Docker Engine API (1.24 to 1.50, a subset) on a unix socket, so the real `docker` CLI and
// dockerode can drive Berth's engine. attach and exec start are hijacked connections
// (hijack.ts); they arrive as upgrades, or as plain requests from older clients.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Engine } from '../engine/types';
import * as archive from './archive';
import * as builder from './build';
import * as commit from './commit';
import * as containers from './containers';
import * as ops from './container-ops';
import * as exec from './exec';
import { jsonBody, readUpgradeBody } from './hijack';
import { HttpError, sendError, type Query } from './http';
import * as images from './images';
import * as networks from './networks';
import { attach, containerLogs, rawHttpError } from './logs';
import { API_VERSION, events, info, ping, pingHeaders, version } from './system';
import { requestVersion } from './api-version';
import * as volumes from './volumes';

/** `version`: the API version the request speaks (api-version.ts), for shapes that changed between versions. */
type Handler = (ctx: { engine: Engine; req: IncomingMessage; res: ServerResponse; q: Query; params: string[]; version: string }) => unknown;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const EXEC_START = /^\/exec\/([^/]+)\/start$/;

// Names may hold slashes ("127.0.0.1:5000/busybox:latest"), so image routes match greedily.
const routes: Route[] = [
  { method: 'GET', pattern: /^\/_ping$/, handler: ({ req, res }) => ping(req, res) },
  { method: 'HEAD', pattern: /^\/_ping$/, handler: ({ req, res }) => ping(req, res) },
  { method: 'GET', pattern: /^\/version$/, handler: ({ engine, res }) => version(engine, res) },
  { method: 'GET', pattern: /^\/info$/, handler: ({ engine, res, version: v }) => info(engine, res, v) },
  { method: 'GET', pattern: /^\/events$/, handler: ({ engine, req, res, q }) => events(engine, req, res, q) },
  { method: 'POST', pattern: /^\/images\/create$/, handler: ({ engine, req, res, q }) => images.createImage(engine, req, res, q) },
  { method: 'POST', pattern: /^\/auth$/, handler: ({ engine, req, res }) => images.login(engine, req, res) },
  { method: 'POST', pattern: /^\/images\/prune$/, handler: ({ engine, res, q }) => images.pruneImages(engine, res, q) },
  { method: 'POST', pattern: /^\/images\/load$/, handler: ({ engine, req, res, q }) => images.loadImages(engine, req, res, q) },
  { method: 'GET', pattern: /^\/images\/get$/, handler: ({ engine, res, q }) => images.saveImages(engine, res, q.getAll('names')) },
  { method: 'GET', pattern: /^\/images\/(.+)\/get$/, handler: ({ engine, res, params }) => images.saveImages(engine, res, [params[0]]) },
  { method: 'GET', pattern: /^\/images\/(.+)\/history$/, handler: ({ engine, res, params }) => images.imageHistory(engine, res, params[0]) },
  { method: 'POST', pattern: /^\/images\/(.+)\/push$/, handler: ({ engine, req, res, params, q }) => images.pushImage(engine, req, res, params[0], q) },
  { method: 'GET', pattern: /^\/images\/json$/, handler: ({ engine, res, q, version: v }) => images.listImages(engine, res, q, v) },
  { method: 'POST', pattern: /^\/images\/(.+)\/tag$/, handler: ({ engine, res, params, q }) => images.tagImage(engine, res, params[0], q) },
  { method: 'GET', pattern: /^\/images\/(.+)\/json$/, handler: ({ engine, res, params, version: v }) => images.inspectImage(engine, res, params[0], v) },
  { method: 'DELETE', pattern: /^\/images\/(.+)$/, handler: ({ engine, res, params, q }) => images.deleteImage(engine, res, params[0], q) },
  { method: 'POST', pattern: /^\/build$/, handler: ({ engine, req, res, q }) => builder.build(engine, req, res, q) },
  { method: 'POST', pattern: /^\/build\/prune$/, handler: ({ engine, res, q }) => builder.pruneBuildCache(engine, res, q) },
  { method: 'POST', pattern: /^\/commit$/, handler: ({ engine, req, res, q }) => commit.commitContainer(engine, req, res, q) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)\/changes$/, handler: ({ engine, res, params }) => commit.containerChanges(engine, res, params[0]) },
  { method: 'POST', pattern: /^\/containers\/create$/, handler: ({ engine, req, res, q, version: v }) => containers.createContainer(engine, req, res, q, v) },
  { method: 'POST', pattern: /^\/containers\/prune$/, handler: ({ engine, res, q }) => containers.pruneContainers(engine, res, q) },
  { method: 'GET', pattern: /^\/containers\/json$/, handler: ({ engine, res, q, version: v }) => containers.listContainers(engine, res, q, v) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)\/json$/, handler: ({ engine, res, params, q, version: v }) => containers.inspectContainer(engine, res, params[0], q, v) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/start$/, handler: ({ engine, res, params }) => containers.startContainer(engine, res, params[0]) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/stop$/, handler: ({ engine, res, params, q, version: v }) => containers.stopContainer(engine, res, params[0], q, v) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/restart$/, handler: ({ engine, res, params, q, version: v }) => containers.restartContainer(engine, res, params[0], q, v) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/kill$/, handler: ({ engine, res, params, q }) => containers.killContainer(engine, res, params[0], q) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/wait$/, handler: ({ engine, req, res, params, q, version: v }) => containers.waitContainer(engine, req, res, params[0], q, v) },
  { method: 'DELETE', pattern: /^\/containers\/([^/]+)$/, handler: ({ engine, res, params, q }) => containers.removeContainer(engine, res, params[0], q) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)\/export$/, handler: ({ engine, res, params }) => containers.exportContainer(engine, res, params[0]) },
  { method: 'HEAD', pattern: /^\/containers\/([^/]+)\/archive$/, handler: ({ engine, res, params, q }) => archive.headArchive(engine, res, params[0], q) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)\/archive$/, handler: ({ engine, res, params, q }) => archive.getArchive(engine, res, params[0], q) },
  { method: 'PUT', pattern: /^\/containers\/([^/]+)\/archive$/, handler: ({ engine, req, res, params, q }) => archive.putArchive(engine, req, res, params[0], q) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/pause$/, handler: ({ engine, res, params }) => ops.pauseContainer(engine, res, params[0]) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/unpause$/, handler: ({ engine, res, params }) => ops.unpauseContainer(engine, res, params[0]) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/rename$/, handler: ({ engine, res, params, q }) => ops.renameContainer(engine, res, params[0], q) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/update$/, handler: ({ engine, req, res, params }) => ops.updateContainer(engine, req, res, params[0]) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)\/top$/, handler: ({ engine, res, params, q }) => ops.topContainer(engine, res, params[0], q) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)\/stats$/, handler: ({ engine, req, res, params, q }) => ops.containerStats(engine, req, res, params[0], q) },
  { method: 'GET', pattern: /^\/containers\/([^/]+)\/logs$/, handler: ({ engine, res, params, q, version: v }) => containerLogs(engine, res, params[0], q, v) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/resize$/, handler: ({ engine, res, params, q }) => exec.resizeContainer(engine, res, params[0], q) },
  { method: 'POST', pattern: /^\/containers\/([^/]+)\/exec$/, handler: ({ engine, req, res, params, version: v }) => exec.createExec(engine, req, res, params[0], v) },
  { method: 'POST', pattern: EXEC_START, handler: ({ engine, req, res, params, version: v }) => exec.startExec(engine, req, res, params[0], v) },
  { method: 'POST', pattern: /^\/exec\/([^/]+)\/resize$/, handler: ({ engine, res, params, q }) => exec.resizeExec(engine, res, params[0], q) },
  { method: 'GET', pattern: /^\/exec\/([^/]+)\/json$/, handler: ({ engine, res, params }) => exec.inspectExec(engine, res, params[0]) },
  { method: 'GET', pattern: /^\/networks$/, handler: ({ engine, res, q, version: v }) => networks.listNetworks(engine, res, q, v) },
  { method: 'POST', pattern: /^\/networks\/create$/, handler: ({ engine, req, res, version: v }) => networks.createNetwork(engine, req, res, v) },
  { method: 'POST', pattern: /^\/networks\/prune$/, handler: ({ engine, res, q }) => networks.pruneNetworks(engine, res, q) },
  { method: 'POST', pattern: /^\/networks\/([^/]+)\/connect$/, handler: ({ engine, req, res, params }) => networks.connectNetwork(engine, req, res, params[0]) },
  { method: 'POST', pattern: /^\/networks\/([^/]+)\/disconnect$/, handler: ({ engine, req, res, params }) => networks.disconnectNetwork(engine, req, res, params[0]) },
  { method: 'GET', pattern: /^\/networks\/([^/]+)$/, handler: ({ engine, res, params, q, version: v }) => networks.inspectNetwork(engine, res, params[0], q, v) },
  { method: 'DELETE', pattern: /^\/networks\/([^/]+)$/, handler: ({ engine, res, params }) => networks.removeNetwork(engine, res, params[0]) },
  { method: 'GET', pattern: /^\/volumes$/, handler: ({ engine, res, q }) => volumes.listVolumes(engine, res, q) },
  { method: 'POST', pattern: /^\/volumes\/create$/, handler: ({ engine, req, res }) => volumes.createVolume(engine, req, res) },
  { method: 'POST', pattern: /^\/volumes\/prune$/, handler: ({ engine, res, q, version: v }) => volumes.pruneVolumes(engine, res, q, v) },
  { method: 'GET', pattern: /^\/volumes\/([^/]+)$/, handler: ({ engine, res, params }) => volumes.inspectVolume(engine, res, params[0]) },
  { method: 'DELETE', pattern: /^\/volumes\/([^/]+)$/, handler: ({ engine, res, params, q }) => volumes.removeVolume(engine, res, params[0], q) },
  { method: 'GET', pattern: /^\/system\/df$/, handler: ({ engine, res, version: v }) => volumes.systemDf(engine, res, v) },
];

const ATTACH = /^\/containers\/([^/]+)\/attach$/;

/** Splits "/v1.41/containers/json?all=1" into the unversioned path, query and the version it speaks (refused when out of range). */
export function parseTarget(rawUrl: string): { path: string; q: Query; version: string } {
  const url = new URL(rawUrl, 'http://docker');
  let p = url.pathname;
  const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(p);
  const version = requestVersion(m?.[1]);
  if (m) p = m[2];
  // Image names arrive percent-encoded ("127.0.0.1%3A5000%2Fbusybox"); match on the decoded form.
  let decoded: string;
  try {
    decoded = decodeURIComponent(p);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in ${JSON.stringify(p)}`);
  }
  return { path: decoded.replace(/\/+$/, '') || '/', q: url.searchParams, version };
}

async function handle(engine: Engine, req: IncomingMessage, res: ServerResponse): Promise<void> {
  pingHeaders(res);
  res.setHeader('Server', `Berth/${API_VERSION}`);
  try {
    const { path: p, q, version: v } = parseTarget(req.url ?? '/');
    const attachMatch = ATTACH.exec(p);
    if (attachMatch && req.method === 'POST') {
      // A client that did not ask to upgrade still gets the raw stream on the same connection.
      await attach(engine, req.socket, attachMatch[1], q, false, v);
      return;
    }
    let methodMismatch = false;
    for (const r of routes) {
      const m = r.pattern.exec(p);
      if (!m) continue;
      if (r.method !== req.method) {
        methodMismatch = true;
        continue;
      }
      await r.handler({ engine, req, res, q, params: m.slice(1), version: v });
      return;
    }
    throw new HttpError(methodMismatch ? 405 : 404, methodMismatch ? `method ${req.method} not allowed for ${p}` : `page not found`);
  } catch (err) {
    sendError(res, err);
  }
}

async function handleUpgrade(engine: Engine, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => {});
  try {
    const { path: p, q, version: v } = parseTarget(req.url ?? '/');
    if (req.method !== 'POST') throw new HttpError(404, 'page not found');
    const start = EXEC_START.exec(p);
    if (start) {
      // The body (Detach, Tty) comes first on the upgraded connection; what follows is stdin.
      const body = jsonBody(await readUpgradeBody(req, socket, head));
      await exec.startExecAttached(engine, socket, start[1], body, true, v);
      return;
    }
    const m = ATTACH.exec(p);
    if (!m) throw new HttpError(404, 'page not found');
    // attach takes no body; one that was sent all the same is not stdin.
    await readUpgradeBody(req, socket, head);
    await attach(engine, socket, m[1], q, true, v);
  } catch (err) {
    rawHttpError(socket, err);
  }
}

export interface DockerApiServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

/** Refuses to take over a socket another live server still answers on; removes a stale one. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`${socketPath} is in use by another running server`);
  fs.unlinkSync(socketPath);
}

/**
 * Who may use the API socket, as dockerd decides: members of `group` when the system has it
 * (0660, that group), else root alone (0600). Looked up with getent, so groups from NSS count.
 */
export function socketAccess(group = 'docker'): { mode: number; gid?: number } {
  let line: string;
  try {
    line = execFileSync('getent', ['group', group], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    // getent's exit status 2: no such group.
    if ((e as { status?: number }).status === 2) return { mode: 0o600 };
    throw new Error(`cannot look up group ${group} for the Docker API socket: ${(e as Error).message}`, { cause: e });
  }
  const gid = line.split(':')[2];
  if (!/^\d+$/.test(gid ?? '')) throw new Error(`getent group ${group} gave no group id: ${JSON.stringify(line.trim())}`);
  return { mode: 0o660, gid: Number(gid) };
}

export async function startDockerApi(opts: { engine: Engine; socketPath: string; /** default "docker" */ group?: string }): Promise<DockerApiServer> {
  const { engine, socketPath } = opts;
  fs.mkdirSync(path.dirname(socketPath), { recursive: true });
  await clearStaleSocket(socketPath);
  const server = http.createServer((req, res) => void handle(engine, req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void handleUpgrade(engine, req, socket, head));
  // Long log follows and waits are normal here; Node's default timeouts would cut them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 60_000;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const access = socketAccess(opts.group);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // listen() binds synchronously: under this umask the socket is never, even briefly, open to others.
    const umask = process.umask(0o177);
    try {
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    } finally {
      process.umask(umask);
    }
  });
  if (access.gid !== undefined) fs.chownSync(socketPath, -1, access.gid);
  fs.chmodSync(socketPath, access.mode);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        // server.close unlinks the socket file; make sure even if it did not.
        fs.rmSync(socketPath, { force: true });
      }),
  };
}
