// Trading a one-time join token for a long-lived host credential.
import os from 'node:os';
import { ENROLL_PATH, type EnrollRequest, type EnrollResponse } from '../../protocol/agent-link';
import { readCredential, writeCredential, type StoredCredential } from './credential';

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

/** `timeoutMs` bounds the whole exchange: a server that takes the connection and never answers is retried, not waited on forever. */
export async function enroll(server: string, token: string, hostname = os.hostname(), timeoutMs = 30_000): Promise<EnrollResponse> {
  const url = server + ENROLL_PATH;
  const body: EnrollRequest = { token, hostname };
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
    text = await res.text();
  } catch (err) {
    const cause = (err as { cause?: Error }).cause;
    const why = signal.aborted ? `no answer within ${timeoutMs / 1000} s` : (cause?.message ?? (err as Error).message);
    throw new EnrollError(`cannot reach ${url}: ${why}`, true);
  }
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // A proxy's HTML error page, say: show its start below.
  }
  if (!res.ok) {
    const why = typeof json.error === 'string' ? json.error : typeof json.message === 'string' ? json.message : text.slice(0, 200) || res.statusText;
    throw new EnrollError(`enrolment refused by ${server} (HTTP ${res.status}): ${why}`, res.status >= 500);
  }
  if (typeof json.hostId !== 'string' || typeof json.credential !== 'string') {
    throw new EnrollError(`enrolment answer from ${server} lacks hostId/credential: ${text.slice(0, 200)}`);
  }
  return { hostId: json.hostId, credential: json.credential };
}

/** The stored credential, enrolling first when there is none and a token was given. */
export async function ensureCredential(opts: {
  root: string;
  server: string;
  token?: string;
  hostname?: string;
  log?: (msg: string) => void;
}): Promise<StoredCredential> {
  const stored = readCredential(opts.root);
  if (stored) return stored;
  if (!opts.token) {
    throw new EnrollError(`this host is not enrolled yet (no credential.json in ${opts.root}): start it once with --token TOKEN from the dashboard`);
  }
  // An agent may well start before its control plane is up; only a refusal is final.
  let delay = 1_000;
  let result: EnrollResponse | undefined;
  while (!result) {
    try {
      result = await enroll(opts.server, opts.token, opts.hostname);
    } catch (err) {
      if (!(err instanceof EnrollError && err.retryable)) throw err;
      opts.log?.(`${err.message}; retrying in ${Math.round(delay / 1000)} s`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  }
  const { hostId, credential } = result;
  const cred = { server: opts.server, hostId, credential };
  writeCredential(opts.root, cred);
  return cred;
}
