// The control plane: one http server carrying the Next.js app and socket.io
// ('/agent' for hosts, '/ui' for browsers) on the same port.
import type { Server as HttpServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import next from 'next';
import { Server as SocketServer } from 'socket.io';
import { externalConfig } from './auth/external-config';
import { authSecret, dataDir, listenPort } from './db/config';
import { ensureDefaultTeam } from './db/seed';
import { closeDatabase, db, openDatabase } from './db';
import { CLIENT_ADDRESS_HEADER, clientAddress, trustedProxyHops } from './http/client-address';
import { originAllowed } from './http/origin';
import { addSocketSecurityHeaders, applySecurityHeaders } from './http/security-headers';
import { TlsConfigError, createControlPlaneServer, serverTls, timeoutsFromEnv } from './http/tls';
import { agentHub } from './hub/agents';
import { imageTransfers } from './hub/image-transfer';
import { logDownloads } from './hub/log-download';
import { dockerProxy } from './proxy/docker-proxy';
import { uiHub } from './hub/ui';
import { startAuditRetention } from './audit/retention';
import { alertService } from './alerts/service';
import { startAutoUpdates } from './updates/auto';
import { startGitPolling } from './stacks-git/service';
import { gitWebhooks } from './stacks-git/webhook';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface StartOptions {
  port?: number;
  hostname?: string;
  dev?: boolean;
}

export interface RunningServer {
  port: number;
  url: string;
  http: HttpServer;
  io: SocketServer;
  close(): Promise<void>;
}

/** Environment defaults every part (route handlers included) reads. */
export function prepareEnvironment(port: number): void {
  process.env.BERTH_DATA_DIR ||= dataDir();
  process.env.PORT = String(port);
  // Under TLS next-auth's cookies get Secure (and the __Secure- prefix) because this URL is https.
  const scheme = serverTls() ? 'https' : 'http';
  if (scheme === 'https' && process.env.NEXTAUTH_URL?.startsWith('http://')) {
    throw new Error(`NEXTAUTH_URL is ${process.env.NEXTAUTH_URL} but BERTH_TLS_CERT makes this server https: set it to the https:// address people use, or unset it`);
  }
  process.env.NEXTAUTH_URL ||= `${scheme}://localhost:${port}`;
  authSecret();
  // A wrong value is refused at start, not found out at the first sign-in.
  trustedProxyHops();
  externalConfig();
}

/** Opens and migrates the database (once per process) and makes sure the Default team exists. */
export async function prepareDatabase(): Promise<void> {
  await ensureDefaultTeam(await openDatabase());
}

export async function startServer(opts: StartOptions = {}): Promise<RunningServer> {
  const port = opts.port ?? listenPort();
  const dev = opts.dev ?? process.env.BERTH_DEV === '1';
  // A bad TLS setting is refused before anything starts (serverTls throws, naming it).
  const tls = serverTls();
  const timeouts = timeoutsFromEnv();
  prepareEnvironment(port);
  const hops = trustedProxyHops();
  await prepareDatabase();

  const http = createControlPlaneServer(tls, timeouts);
  const app = next({ dev, dir: REPO_ROOT, hostname: opts.hostname ?? 'localhost', port, httpServer: http });
  const handle = app.getRequestHandler();
  await app.prepare();
  const transfers = imageTransfers(agentHub());
  const logDownload = logDownloads(agentHub());
  const proxy = dockerProxy(agentHub());
  const webhooks = gitWebhooks({ prisma: db(), hub: agentHub() });
  // Hijacked Docker API calls (attach, exec start) of the proxied hosts; the rest is socket.io's or Next's.
  http.on('upgrade', (req, socket, head) => void proxy.handleUpgrade(req, socket, head));
  http.on('request', (req, res) => {
    // engine.io answers its own requests; everything else is Next's.
    if (req.url?.startsWith('/socket.io/')) return;
    req.headers[CLIENT_ADDRESS_HEADER] = clientAddress(req, hops);
    // The hosts' Docker Engine API for docker CLIs with an access token (server/proxy).
    if (proxy.handle(req, res)) return;
    applySecurityHeaders(req, res, dev);
    // Image archives stream past Next, which would not hold them back to the agent's pace.
    if (transfers.handle(req, res)) return;
    if (logDownload.handle(req, res)) return;
    // Git hosts' push webhooks: no session, the stack's secret is the credential.
    if (webhooks.handle(req, res)) return;
    handle(req, res).catch((err: unknown) => {
      console.error(`request ${req.url}: ${(err as Error)?.stack ?? err}`);
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  });

  // Short ping period so a vanished host shows offline within ~10 s.
  const io = new SocketServer(http, {
    pingInterval: 5000,
    pingTimeout: 5000,
    maxHttpBufferSize: 8 * 1024 * 1024,
    // Next's dev server needs the upgrade requests that are not ours (HMR).
    destroyUpgrade: false,
    // A page on another site must not open a socket with our user's cookie. Agents are
    // not browsers and send no Origin.
    allowRequest: (req, callback) => callback(null, originAllowed(req.headers.origin, req.headers.host)),
  });
  io.engine.on('initial_headers', addSocketSecurityHeaders);
  io.engine.on('headers', addSocketSecurityHeaders);
  const agents = agentHub();
  // REDIS_URL: one of several processes behind one address (server/hub/cluster.ts); loaded only then.
  const cluster = process.env.REDIS_URL ? await (await import('./hub/cluster')).startCluster(io, agents, process.env.REDIS_URL) : undefined;
  agents.attach(io);
  uiHub(agents).attach(io);
  const stopRetention = startAuditRetention();
  alertService().start(agents);
  const stopAutoUpdates = startAutoUpdates({ hub: agents, prisma: db() });
  const stopGitPolling = startGitPolling({ hub: agents, prisma: db() });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, opts.hostname, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const actual = (http.address() as { port: number }).port;
  const url = `${tls ? 'https' : 'http'}://localhost:${actual}`;
  console.log(`berth: control plane on ${url}${dev ? ' (dev)' : ''}${tls ? ` (TLS, certificate ${tls.fingerprint})` : ''}, data in ${process.env.BERTH_DATA_DIR}${cluster ? `, cluster node ${cluster.cluster.node} (Redis)` : ''}`);

  return {
    port: actual,
    url,
    http,
    io,
    async close() {
      stopRetention();
      alertService().stop();
      stopAutoUpdates();
      stopGitPolling();
      const closed = new Promise<void>((resolve) => io.close(() => resolve()));
      // http.close waits for every connection to end: a browser's keep-alive or a frozen
      // agent's socket would hold the shutdown open indefinitely.
      http.closeAllConnections();
      await closed;
      await cluster?.close();
      await app.close?.();
      await closeDatabase();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  startServer().then(
    (s) => {
      const stop = () => {
        // Acknowledged writes are on disk already (SQLite, synchronous=FULL): a shutdown that
        // hangs on a peer is cut short rather than left for the supervisor's SIGKILL.
        setTimeout(() => {
          console.error('berth: shutdown took over 10 s; exiting anyway');
          process.exit(1);
        }, 10_000).unref();
        void s.close().finally(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err: unknown) => {
      // A setting refused by name needs no stack trace.
      console.error(`berth: cannot start: ${err instanceof TlsConfigError ? err.message : ((err as Error)?.stack ?? err)}`);
      process.exit(1);
    },
  );
}
