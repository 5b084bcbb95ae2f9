// TLS for the control plane (BERTH_TLS_CERT / BERTH_TLS_KEY, PEM files) and the one place that
// makes its listening server, so the app, tRPC, socket.io and the Docker API proxy share one
// port and one set of timeouts whether it speaks https or plain http.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { berthGlobal } from '../global';

export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  /** "sha256:AB:CD:…": SHA-256 of the leaf certificate's DER, as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string;
}

export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

/** "sha256:AB:CD:…" of a DER certificate. */
export function certFingerprint(der: Buffer): string {
  return 'sha256:' + createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsConfigError(`${variable}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * The TLS settings from the environment, checked: null when neither variable is set (plain
 * http); a TlsConfigError naming what is wrong when only one is set, a file cannot be read
 * or parsed, or the key is not the certificate's.
 */
export function loadTls(env: Record<string, string | undefined> = process.env): ServerTls | null {
  const certFile = env.BERTH_TLS_CERT || '';
  const keyFile = env.BERTH_TLS_KEY || '';
  if (!certFile && !keyFile) return null;
  if (!certFile || !keyFile) {
    const [set, unset] = certFile ? ['BERTH_TLS_CERT', 'BERTH_TLS_KEY'] : ['BERTH_TLS_KEY', 'BERTH_TLS_CERT'];
    throw new TlsConfigError(`${set} is set but ${unset} is not: TLS needs both the certificate and its private key (PEM files), or neither for plain http`);
  }
  const cert = readPem(certFile, 'BERTH_TLS_CERT');
  const key = readPem(keyFile, 'BERTH_TLS_KEY');
  let leaf: X509Certificate;
  try {
    // The first certificate of the file is the server's; any after it are its chain.
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new TlsConfigError(`BERTH_TLS_CERT: ${certFile} is not a PEM certificate: ${(err as Error).message}`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsConfigError(`BERTH_TLS_KEY: ${keyFile} is not a PEM private key (an encrypted key is not supported): ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(`BERTH_TLS_KEY: ${keyFile} is not the private key of the certificate in ${certFile} (${leaf.subject.replace(/\n/g, ', ')})`);
  }
  return { cert, key, certFile, fingerprint: certFingerprint(leaf.raw) };
}

/**
 * The process's TLS settings, read once. main.ts asks first (and refuses to start on a bad
 * setting); the hosts router, in Next's bundle, gets the same through berthGlobal.
 */
export function serverTls(): ServerTls | null {
  return berthGlobal('serverTls', () => loadTls());
}

export interface HttpTimeouts {
  /** Longest wait for a request's head (Node's headersTimeout): a client that opens a connection and never finishes its headers is cut. */
  headersTimeoutMs: number;
  /** Longest silence while a request's body is coming in; reset by every byte. */
  bodyIdleTimeoutMs: number;
  /** How often Node looks for connections past headersTimeout. */
  checkIntervalMs: number;
}

export const DEFAULT_TIMEOUTS: HttpTimeouts = { headersTimeoutMs: 60_000, bodyIdleTimeoutMs: 120_000, checkIntervalMs: 30_000 };

/** BERTH_REQUEST_IDLE_TIMEOUT (seconds) overrides the body idle timeout; anything but a positive number is refused. */
export function timeoutsFromEnv(env: Record<string, string | undefined> = process.env): HttpTimeouts {
  const raw = env.BERTH_REQUEST_IDLE_TIMEOUT;
  if (raw === undefined || raw === '') return DEFAULT_TIMEOUTS;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`BERTH_REQUEST_IDLE_TIMEOUT must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  const ms = Math.round(s * 1000);
  // headersTimeout follows a short idle timeout down (tests), never above its default.
  return { bodyIdleTimeoutMs: ms, headersTimeoutMs: Math.min(DEFAULT_TIMEOUTS.headersTimeoutMs, ms), checkIntervalMs: Math.min(DEFAULT_TIMEOUTS.checkIntervalMs, Math.max(100, Math.round(ms / 4))) };
}

/**
 * Node's requestTimeout (300 s by default) ends any request whose body is not all in by then:
 * a `docker build` context or a `docker load` archive through the proxy over a slow line is
 * longer than that, and the Docker API has no limit. So the whole-request limit is off, and a
 * body is cut only after `bodyIdleTimeoutMs` without a byte. Answers (a `logs -f` of a quiet
 * container, `docker events`) may be silent for hours and get no timeout; a peer that vanished
 * without a FIN is found by TCP keep-alive.
 */
export function createControlPlaneServer(tls: ServerTls | null, timeouts: HttpTimeouts = DEFAULT_TIMEOUTS): http.Server {
  const options: http.ServerOptions = {
    requestTimeout: 0,
    headersTimeout: timeouts.headersTimeoutMs,
    connectionsCheckingInterval: timeouts.checkIntervalMs,
    keepAlive: true,
    keepAliveInitialDelay: 60_000,
  };
  const server = tls ? https.createServer({ ...options, cert: tls.cert, key: tls.key }) : http.createServer(options);
  // Registered first, so it runs before every other 'request' listener has a look at the body.
  server.on('request', (req: IncomingMessage, res: ServerResponse) => guardBodyIdle(req, res, timeouts.bodyIdleTimeoutMs));
  // https.Server is a tls.Server that answers http; the rest of the code knows it by its http face.
  return server as http.Server;
}

/**
 * Ends a request whose body stops coming for `ms` (408, then the connection is closed: the rest
 * of its bytes can no longer be framed). Silence while the handler holds the body back (a
 * paused stream, bytes waiting unread: the agent is slower than the upload) is not the client's
 * and does not count. The socket's byte count is watched, not the body's 'data' events, which
 * would set the body flowing before its handler reads it.
 */
export function guardBodyIdle(req: IncomingMessage, res: ServerResponse, ms: number): void {
  const length = req.headers['content-length'];
  const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody || req.complete) return;
  const socket = req.socket;
  let seen = socket.bytesRead;
  let quietSince = Date.now();
  const check = () => {
    if (req.complete || socket.destroyed) return done();
    const now = Date.now();
    if (socket.bytesRead !== seen || req.readableFlowing === false || req.readableLength > 0) {
      seen = socket.bytesRead;
      quietSince = now;
      return;
    }
    if (now - quietSince < ms) return;
    done();
    console.error(`request ${req.method} ${req.url?.split('?')[0]}: no body bytes for ${ms / 1000} s; ending it`);
    if (!res.headersSent) {
      res.writeHead(408, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ message: `request body stalled: nothing received for ${ms / 1000} s` }));
    }
    // The handler may still be waiting on the body: ending the connection is how it hears of it.
    setTimeout(() => socket.destroy(), 100).unref();
  };
  const timer = setInterval(check, Math.max(50, Math.round(ms / 4)));
  timer.unref();
  function done() {
    clearInterval(timer);
  }
  req.once('end', done);
  req.once('close', done);
  res.once('close', done);
}
