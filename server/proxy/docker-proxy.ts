// Each host's Docker Engine API at /docker/<host id or name>/…, for a user's own docker CLI,
// dockerode or docker-compose: `-H tcp://SERVER/docker/HOST` and config.json's HttpHeaders
// carrying "Authorization: Bearer berth_pat_…" (or at / with an X-Berth-Host header, for
// dockerode, which cannot keep a path in its host URL). Every request is checked afresh (the
// token, its owner's role in the team now, the host narrowing, the route's role in ./routes), then
// relayed over the agent's link through a byte tunnel to the agent's own Docker API socket.
// Plain requests go through Node's HTTP client over the tunnel (so the request and answer are
// framed as HTTP, streamed both ways with backpressure); hijacked ones (attach, exec start)
// are raw bytes both ways after the request's head. A revoked token or a changed membership
// ends the calls it carries at once, streams included.
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { onSessionsEnded } from '../auth/sessions';
import { db } from '../db';
import { berthGlobal } from '../global';
import type { AgentHub } from '../hub/agents';
import { writeAudit } from '../trpc/host-ops';
import { hasRole } from '../../protocol/roles';
import { bearerToken, onTokensRevoked, reaches, tokenAccess, tokenAccessById, tokenHost, TokenError, type TokenAccess } from './access-tokens';
import { apiTarget, classify, commandsOf, type Classified } from './routes';
import { TunnelError, tunnels, type Tunnel, type Tunnels } from './tunnel';

export const PROXY_PREFIX = '/docker/';
/**
 * The host for a client that cannot keep a path in its host URL (dockerode resolves every call's
 * path against the root, dropping /docker/HOST): the Docker API at the server's root, this header naming the host.
 */
export const HOST_HEADER = 'x-berth-host';

/** Set on every answer the proxy gives itself (not the agent), so a client or test can tell them apart. */
export const PROXY_HEADER = 'X-Berth-Proxy';

/** Whether the proxy answers this request (the rest is socket.io's or Next's). */
export function isProxied(req: IncomingMessage): boolean {
  return !!req.url?.startsWith(PROXY_PREFIX) || typeof req.headers[HOST_HEADER] === 'string';
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Never passed to the agent: the token and a browser's cookies are the control plane's business. */
const PRIVATE = new Set(['authorization', 'cookie', HOST_HEADER]);
/** Node answers a client's Expect itself; the agent must not be asked to as well. */
const ANSWERED_HERE = new Set(['expect']);

class ProxyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Admitted {
  access: TokenAccess;
  host: { id: string; name: string; teamId: string };
  cls: Classified;
  /** The path and query for the agent: the client's, without /docker/HOST. */
  forward: string;
  /** For audit rows: method, unversioned path. */
  what: string;
}

interface LiveCall {
  access: TokenAccess;
  hostId: string;
  cls: Classified;
  end(why: string): void;
}

/** 'refused' for the proxy's own no (401, 403, 404), 'error' when it could not carry the call. */
function proxyVerdict(status: number): string {
  return status === 401 || status === 403 || status === 404 ? 'refused' : 'error';
}

/** Open calls per token at once; a docker CLI makes a few, compose one per service it follows. */
export const MAX_CALLS_PER_TOKEN = 64;

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})/;

export class DockerProxy {
  private readonly tunnels: Tunnels;
  private readonly live = new Set<LiveCall>();
  /** Per token, calls whose tunnel is being opened. */
  private readonly opening = new Map<string, number>();

  constructor(hub: AgentHub) {
    this.tunnels = tunnels(hub);
    onTokensRevoked((ids) => {
      for (const c of [...this.live]) if (ids.includes(c.access.tokenId)) c.end('its access token was revoked');
    });
    // accessChanged (a membership removed, a role lowered), and sessions ended (an admin's password
    // reset ends them and holds the user at "choose a new password"): check that user's calls again.
    onSessionsEnded(({ userId }) => void this.recheck(userId));
  }

  private async recheck(userId: string): Promise<void> {
    for (const c of [...this.live]) {
      if (c.access.userId !== userId) continue;
      try {
        const now = await tokenAccessById(c.access.tokenId);
        if (!hasRole(now.role, c.cls.need)) c.end(`the token's role is ${now.role} now; this call needs ${c.cls.need}`);
        else if (!reaches(now, c.hostId)) c.end('the token no longer reaches this host');
      } catch (err) {
        c.end(err instanceof TokenError ? err.message : 'the token could not be checked again');
      }
    }
  }

  /** True when the request was one of ours (and is being answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (!isProxied(req)) return false;
    void this.plain(req, res).catch((err: unknown) => {
      if (!(err instanceof ProxyError)) console.error(`docker proxy ${req.method} ${req.url}: ${(err as Error)?.stack ?? err}`);
      const status = err instanceof ProxyError ? err.status : 500;
      const message = err instanceof ProxyError ? err.message : 'internal error in the control plane';
      if (res.headersSent) return void res.destroy();
      res.writeHead(status, { 'Content-Type': 'application/json', [PROXY_HEADER]: proxyVerdict(status), 'Cache-Control': 'no-store' });
      res.end(`${JSON.stringify({ message })}\n`);
      req.resume();
    });
    return true;
  }

  /** The same for an upgrade (attach, exec start): true when it was ours. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (!isProxied(req)) return false;
    socket.on('error', () => {});
    void this.hijacked(req, socket, head).catch((err: unknown) => {
      if (!(err instanceof ProxyError)) console.error(`docker proxy upgrade ${req.method} ${req.url}: ${(err as Error)?.stack ?? err}`);
      const status = err instanceof ProxyError ? err.status : 500;
      const body = `${JSON.stringify({ message: err instanceof ProxyError ? err.message : 'internal error in the control plane' })}\n`;
      if (!socket.writable) return void socket.destroy();
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\n${PROXY_HEADER}: ${proxyVerdict(status)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    return true;
  }

  private audit(a: Pick<Admitted, 'access' | 'what'> & { hostId?: string; teamId?: string; routeId?: string }, result: string): Promise<void> {
    return writeAudit(
      { prisma: db(), user: { id: a.access.userId } },
      { action: `docker.${a.routeId ?? 'api'}`, teamId: a.teamId ?? a.access.teamId, hostId: a.hostId ?? null, target: `${a.what} (token "${a.access.tokenName}")`.slice(0, 500) },
      result,
    );
  }

  /** Who, which host, which route, and whether the token's role allows it; refusals are audited. */
  private async admit(req: IncomingMessage): Promise<Admitted> {
    const url = new URL(req.url ?? '/', 'http://berth');
    const m = /^\/docker\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const header = req.headers[HOST_HEADER];
    let hostRef: string;
    let rest: string;
    if (m) {
      try {
        hostRef = decodeURIComponent(m[1]);
      } catch {
        throw new ProxyError(400, `malformed host name in ${JSON.stringify(m[1])}`);
      }
      rest = m[2] ?? '/';
    } else if (typeof header === 'string' && header.trim()) {
      hostRef = header.trim();
      rest = url.pathname;
    } else {
      throw new ProxyError(404, 'the Docker API is at /docker/<host id or name>/… (e.g. docker -H tcp://SERVER/docker/HOST), or at / with an X-Berth-Host header naming the host');
    }
    const forward = `${rest}${url.search}`;
    const method = req.method ?? 'GET';
    const target = apiTarget(forward);
    if (!target) throw new ProxyError(400, `malformed percent-encoding in ${JSON.stringify(rest)}`);
    const what = `${method} ${target.path}`;

    let access: TokenAccess;
    try {
      access = await tokenAccess(bearerToken(req.headers.authorization));
    } catch (err) {
      if (err instanceof TokenError) throw new ProxyError(err.status, err.message);
      throw err;
    }
    let host: Admitted['host'];
    try {
      host = await tokenHost(access, hostRef);
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      await this.audit({ access, what: `${what} on host ${hostRef}` }, `error: ${err.status} ${err.message}`);
      throw new ProxyError(err.status, err.message);
    }
    const cls = classify(method, target);
    const at = { access, what, hostId: host.id, teamId: host.teamId };
    if (!cls) {
      const message = `Berth's Docker API proxy does not allow ${what}: it lets through only the calls it knows (see Berth's README, "The docker CLI through the control plane")`;
      await this.audit(at, `error: 403 ${message}`);
      throw new ProxyError(403, message);
    }
    const routeId = cls.routes[0].id;
    if (!hasRole(access.role, cls.need)) {
      const message = `the ${access.role} role cannot do this on ${host.name}: ${what} (${commandsOf(cls.routes[0])}) needs ${cls.need} or above`;
      await this.audit({ ...at, routeId }, `error: 403 ${message}`);
      throw new ProxyError(403, message);
    }
    return { access, host, cls, forward, what };
  }

  /** Calls of the token that are open or opening. */
  private callsOf(tokenId: string): number {
    let n = this.opening.get(tokenId) ?? 0;
    for (const c of this.live) if (c.access.tokenId === tokenId) n++;
    return n;
  }

  private async openTunnel(a: Admitted): Promise<Tunnel> {
    const id = a.access.tokenId;
    // One token must not take all of an agent's tunnels (MAX_TUNNELS) from everyone else.
    if (this.callsOf(id) >= MAX_CALLS_PER_TOKEN) {
      throw new ProxyError(429, `access token "${a.access.tokenName}" has ${MAX_CALLS_PER_TOKEN} calls open already (streams such as logs -f and events count until they end)`);
    }
    this.opening.set(id, (this.opening.get(id) ?? 0) + 1);
    try {
      return await this.tunnels.connect(a.host.id);
    } catch (err) {
      if (err instanceof TunnelError) throw new ProxyError(err.status >= 400 && err.status < 600 ? err.status : 502, err.status === 503 ? 'the host is offline' : err.message);
      throw err;
    } finally {
      const left = (this.opening.get(id) ?? 1) - 1;
      if (left > 0) this.opening.set(id, left);
      else this.opening.delete(id);
    }
  }

  /** Registers a call while it runs, so a revocation can end it; returns the unregister. */
  private track(a: Admitted, end: (why: string) => void): () => void {
    const call: LiveCall = {
      access: a.access,
      hostId: a.host.id,
      cls: a.cls,
      end: (why) => {
        this.live.delete(call);
        // A read stream cut short is worth a row too: it says when the token's power ended.
        void this.audit({ ...a, hostId: a.host.id, teamId: a.host.teamId, routeId: a.cls.routes[0].id }, `error: ended by the control plane: ${why}`);
        end(why);
      },
    };
    this.live.add(call);
    return () => this.live.delete(call);
  }

  private async plain(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let gone = false;
    res.once('close', () => (gone = true));
    const a = await this.admit(req);
    const tunnel = await this.openTunnel(a);
    // The client left while the token and the host were checked: nobody would read the answer.
    if (gone) return void tunnel.destroy();
    const auditAt = { ...a, hostId: a.host.id, teamId: a.host.teamId, routeId: a.cls.routes[0].id };
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers as IncomingHttpHeaders)) {
      if (v === undefined || HOP_BY_HOP.has(k) || PRIVATE.has(k) || ANSWERED_HERE.has(k)) continue;
      headers[k] = v;
    }
    headers.connection = 'close';
    const upstream = http.request({ createConnection: () => tunnel as never, method: req.method, path: a.forward, headers });
    let done = false;
    const untrack = this.track(a, () => {
      done = true;
      upstream.destroy();
      tunnel.destroy();
      res.destroy();
    });
    const finish = (result: string) => {
      if (done) return;
      done = true;
      untrack();
      if (a.cls.mutating) void this.audit(auditAt, result);
    };
    let answered = 0;
    upstream.on('response', (answer) => {
      const status = answer.statusCode ?? 502;
      answered = status;
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(status, out);
      // Streams (events, logs -f, pull progress) must show their head before their first piece.
      res.flushHeaders();
      let errorText = '';
      if (status >= 400) answer.on('data', (d: Buffer) => (errorText = (errorText + d.toString('utf8')).slice(0, 300)));
      answer.pipe(res);
      answer.on('end', () => {
        let message = errorText.trim();
        try {
          message = (JSON.parse(message) as { message?: string }).message ?? message;
        } catch {
          // not JSON: the text as it came
        }
        finish(status < 400 ? `ok (HTTP ${status})` : `error: ${status} ${message}`);
      });
    });
    upstream.on('error', (err) => {
      tunnel.destroy();
      if (done) return;
      finish(`error: 502 ${err.message}`);
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'Content-Type': 'application/json', [PROXY_HEADER]: 'error' });
      res.end(`${JSON.stringify({ message: `the host's Docker API connection failed: ${err.message}` })}\n`);
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        // `docker cp` out of a container stops reading at the tar's end marker and hangs up: the call went through.
        finish(answered && answered < 400 ? `ok (HTTP ${answered}; the client hung up before the answer's end)` : `error: ${answered || 'no answer'}: the client hung up before the answer's end`);
        upstream.destroy();
        tunnel.destroy();
      }
    });
    req.pipe(upstream);
  }

  private async hijacked(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const a = await this.admit(req);
    const tunnel = await this.openTunnel(a);
    if (socket.destroyed) return void tunnel.destroy();
    const auditAt = { ...a, hostId: a.host.id, teamId: a.host.teamId, routeId: a.cls.routes[0].id };
    const lines = [`${req.method} ${a.forward} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i];
      if (PRIVATE.has(name.toLowerCase()) || name.toLowerCase().startsWith('proxy-')) continue;
      lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
    }
    let done = false;
    const untrack = this.track(a, () => {
      done = true;
      tunnel.destroy();
      socket.destroy();
    });
    let status = 0;
    const finish = (result: string) => {
      if (done) return;
      done = true;
      untrack();
      if (a.cls.mutating) void this.audit(auditAt, result);
    };
    tunnel.once('data', (first: Buffer) => {
      status = Number(STATUS_LINE.exec(first.subarray(0, 16).toString('latin1'))?.[1] ?? 0);
    });
    tunnel.on('error', () => socket.destroy());
    socket.on('close', () => {
      tunnel.destroy();
      finish(status && status < 400 ? `ok (HTTP ${status})` : `error: ${status || 'no answer'}`);
    });
    tunnel.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (head.length) tunnel.write(head);
    socket.pipe(tunnel);
    tunnel.pipe(socket);
  }
}

export function dockerProxy(hub: AgentHub): DockerProxy {
  return berthGlobal('dockerProxy', () => new DockerProxy(hub));
}
