// Trading a one-time join token for a long-lived host credential.
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { ENROLL_PATH, type EnrollRequest, type EnrollResponse } from '../../protocol/agent-link';
import { credentialPath, readCredential, writeCredential, type StoredCredential } from './credential';
import { PinMismatchError, serverAgent, type ServerTrust } from './server-tls';

/** Enrolment failed for a reason the operator must fix (bad token, wrong server): print and exit. */
export class EnrollError extends Error {
  constructor(
    message: string,
    /** The server could not be reached or failed (5xx): worth trying again later, unlike a refused token. */
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'EnrollError';
  }
}

/** One POST with a JSON body; the status and the answer's text. Node's http client, not fetch, so the server's certificate is checked by `agent` (./server-tls). */
function postJson(url: string, body: string, agent: https.Agent | undefined, signal: AbortSignal): Promise<{ status: number; statusText: string; text: string }> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? https.request : http.request;
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, signal, ...(agent ? { agent } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `timeoutMs` bounds the whole exchange: a server that takes the connection and never answers is retried, not waited on forever. */
export async function enroll(server: string, token: string, hostname = os.hostname(), timeoutMs = 30_000, trust: ServerTrust = {}): Promise<EnrollResponse> {
  const url = server + ENROLL_PATH;
  const body: EnrollRequest = { token, hostname };
  const signal = AbortSignal.timeout(timeoutMs);
  let res: { status: number; statusText: string; text: string };
  try {
    res = await postJson(url, JSON.stringify(body), serverAgent(server, trust), signal);
  } catch (err) {
    // A certificate that is not the pinned one is final: retrying would only knock on the impostor's door again.
    if (err instanceof PinMismatchError) throw new EnrollError(err.message);
    const why = signal.aborted ? `no answer within ${timeoutMs / 1000} s` : (err as Error).message;
    throw new EnrollError(`cannot reach ${url}: ${why}`, true);
  }
  const { text } = res;
  const ok = res.status >= 200 && res.status < 300;
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // A proxy's HTML error page, say: show its start below.
  }
  if (!ok) {
    const why = typeof json.error === 'string' ? json.error : typeof json.message === 'string' ? json.message : text.slice(0, 200) || res.statusText;
    throw new EnrollError(`enrolment refused by ${server} (HTTP ${res.status}): ${why}`, res.status >= 500);
  }
  if (typeof json.hostId !== 'string' || typeof json.credential !== 'string') {
    throw new EnrollError(`enrolment answer from ${server} lacks hostId/credential: ${text.slice(0, 200)}`);
  }
  return { hostId: json.hostId, credential: json.credential };
}

/**
 * The stored credential, enrolling first when there is none and a token was given. The pin
 * given now (--server-fingerprint) wins over the stored one and replaces it (the server's
 * certificate was renewed); without one, the stored pin holds, so a restart keeps to it.
 */
export async function ensureCredential(opts: {
  root: string;
  server: string;
  token?: string;
  hostname?: string;
  pin?: string;
  ca?: Buffer;
  log?: (msg: string) => void;
}): Promise<StoredCredential> {
  const stored = readCredential(opts.root);
  if (stored) {
    const pin = opts.pin ?? stored.serverFingerprint;
    if (pin && !opts.server.startsWith('https:')) {
      throw new EnrollError(`${credentialPath(opts.root)} pins the server's certificate (${pin}), but --server ${opts.server} is not https://: a pinned host talks TLS only`);
    }
    if (opts.pin && opts.pin !== stored.serverFingerprint) {
      opts.log?.(stored.serverFingerprint ? `server certificate pin changed from ${stored.serverFingerprint} to ${opts.pin} (--server-fingerprint)` : `pinning the server's certificate to ${opts.pin} from now on`);
      const updated = { ...stored, serverFingerprint: opts.pin };
      writeCredential(opts.root, updated);
      return updated;
    }
    return stored;
  }
  if (!opts.token) {
    throw new EnrollError(`this host is not enrolled yet (no credential.json in ${opts.root}): start it once with --token TOKEN from the dashboard`);
  }
  // An agent may well start before its control plane is up; only a refusal is final.
  let delay = 1_000;
  let result: EnrollResponse | undefined;
  while (!result) {
    try {
      result = await enroll(opts.server, opts.token, opts.hostname, undefined, { pin: opts.pin, ca: opts.ca });
    } catch (err) {
      if (!(err instanceof EnrollError && err.retryable)) throw err;
      opts.log?.(`${err.message}; retrying in ${Math.round(delay / 1000)} s`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  }
  const { hostId, credential } = result;
  const cred: StoredCredential = { server: opts.server, hostId, credential, ...(opts.pin ? { serverFingerprint: opts.pin } : {}) };
  writeCredential(opts.root, cred);
  return cred;
}
