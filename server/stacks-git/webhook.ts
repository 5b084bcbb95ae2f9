// POST /api/stacks/webhook/<id>: a Git host announcing a push. No session: the secret is
// the credential, shown once when the Git stack is made (or its secret rotated). Accepted:
// GitHub's X-Hub-Signature-256 (HMAC-SHA256 of the body), Gitea's and Gogs' X-Gitea-Signature
// / X-Gogs-Signature (the same HMAC, bare hex), GitLab's X-Gitlab-Token, an Authorization
// Bearer token, or ?secret= (for a Git host that can only call a URL). Compared in constant
// time. 404 for an id that names no Git stack, 401 for a missing or wrong secret, 429 when
// called too often, 202 when a sync is queued (it runs here, and the audit row says
// "by webhook"). Plain Node in front of Next (server/main.ts), like the log downloads.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GIT_WEBHOOK_PATH } from '../../protocol/stacks-git';
import { open } from '../auth/secret-box';
import { addressKey, CLIENT_ADDRESS_HEADER } from '../http/client-address';
import { syncGitStack, webhookAad, type GitDeps } from './service';

const BODY_MAX = 5 * 1024 * 1024;
const ID = /^[a-z0-9]{10,40}$/;
/** Calls per stack, and per client address, in a minute. */
const PER_STACK = 30;
const PER_ADDRESS = 120;
const WINDOW_MS = 60_000;

function send(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

const same = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** Whether the request carries `secret` in one of the accepted ways; false when it carries none. */
export function secretMatches(secret: string, body: Buffer, headers: IncomingMessage['headers'], query: URLSearchParams): boolean {
  const hmac = createHmac('sha256', secret).update(body).digest('hex');
  const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const offered: Array<[string, string]> = [];
  const hub = one(headers['x-hub-signature-256']);
  if (hub) offered.push([hub.trim().toLowerCase(), `sha256=${hmac}`]);
  for (const h of ['x-gitea-signature', 'x-gogs-signature']) {
    const v = one(headers[h]);
    if (v) offered.push([v.trim().toLowerCase(), hmac]);
  }
  const gitlab = one(headers['x-gitlab-token']);
  if (gitlab) offered.push([gitlab, secret]);
  const auth = one(headers.authorization);
  const bearer = auth && /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
  if (bearer) offered.push([bearer, secret]);
  const q = query.get('secret');
  if (q) offered.push([q, secret]);
  // Every one offered is compared (no early exit on the first mismatch), and one right one is enough.
  let ok = false;
  for (const [got, want] of offered) ok = same(got, want) || ok;
  return ok;
}

class Window {
  private counts = new Map<string, { start: number; n: number }>();
  constructor(private readonly max: number) {}
  hit(key: string, now: number): boolean {
    const c = this.counts.get(key);
    if (!c || now - c.start >= WINDOW_MS) {
      if (this.counts.size > 10_000) this.counts.clear();
      this.counts.set(key, { start: now, n: 1 });
      return true;
    }
    c.n++;
    return c.n <= this.max;
  }
}

export interface GitWebhooks {
  /** True when it took the request. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export function gitWebhooks(deps: GitDeps): GitWebhooks {
  const perStack = new Window(PER_STACK);
  const perAddress = new Window(PER_ADDRESS);
  const serve = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const id = url.pathname.slice(GIT_WEBHOOK_PATH.length);
    if (req.method !== 'POST') return send(res, 405, { error: 'a webhook is a POST' }, { Allow: 'POST' });
    const now = (deps.now ?? Date.now)();
    const address = String(req.headers[CLIENT_ADDRESS_HEADER] ?? req.socket.remoteAddress ?? '');
    // Counted as sign-ins are: an IPv6 client by its /64, which it can pick addresses within.
    if (!perAddress.hit(addressKey(address), now)) return send(res, 429, { error: 'too many webhook calls from this address; try again in a minute' }, { 'Retry-After': '60' });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > BODY_MAX) return send(res, 413, { error: `a webhook body has at most ${BODY_MAX} bytes` }, { Connection: 'close' });
      chunks.push(c);
    }
    const row = ID.test(id) ? await deps.prisma.gitStack.findUnique({ where: { id }, select: { id: true, webhookSecret: true } }) : null;
    if (!row) return send(res, 404, { error: 'no such Git stack' });
    if (!perStack.hit(id, now)) return send(res, 429, { error: 'too many webhook calls for this stack; try again in a minute' }, { 'Retry-After': '60' });
    let secret: string;
    try {
      secret = open(row.webhookSecret, webhookAad(row.id));
    } catch (err) {
      return send(res, 500, { error: `the webhook secret cannot be read: ${(err as Error).message}` });
    }
    if (!secretMatches(secret, Buffer.concat(chunks), req.headers, url.searchParams)) return send(res, 401, { error: 'the webhook secret is missing or wrong' });
    await deps.prisma.gitStack.update({ where: { id }, data: { requestedAt: new Date(now) } });
    send(res, 202, { queued: true });
    // Busy: the sync under way sees requestedAt and runs again (here or in the process holding it).
    void syncGitStack(deps, id, 'webhook', { address: `webhook from ${address}` }).catch((err: unknown) => console.error(`git stack ${id}: webhook sync: ${(err as Error).message}`));
  };
  return {
    handle(req, res) {
      if (!req.url?.startsWith(GIT_WEBHOOK_PATH)) return false;
      const url = new URL(req.url, 'http://localhost');
      if (!url.pathname.startsWith(GIT_WEBHOOK_PATH)) return false;
      serve(req, res, url).catch((err: unknown) => {
        console.error(`webhook ${url.pathname}: ${(err as Error).message}`);
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.end();
      });
      return true;
    },
  };
}
