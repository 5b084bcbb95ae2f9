// Trading a one-time join token for a long-lived host credential.
import os from 'node:os';
import { ENROLL_PATH, type EnrollRequest, type EnrollResponse } from './protocol';
import { readCredential, writeCredential, type StoredCredential } from './credential';

/** Enrolment failed for a reason the operator must fix (bad token, wrong server): print and exit. */
export class EnrollError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnrollError';
  }
}

export async function enroll(server: string, token: string, hostname = os.hostname()): Promise<EnrollResponse> {
  const url = server + ENROLL_PATH;
  const body: EnrollRequest = { token, hostname };
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  } catch (err) {
    const cause = (err as { cause?: Error }).cause;
    throw new EnrollError(`cannot reach ${url}: ${cause?.message ?? (err as Error).message}`);
  }
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // A proxy's HTML error page, say: show its start below.
  }
  if (!res.ok) {
    const why = typeof json.error === 'string' ? json.error : typeof json.message === 'string' ? json.message : text.slice(0, 200) || res.statusText;
    throw new EnrollError(`enrolment refused by ${server} (HTTP ${res.status}): ${why}`);
  }
  if (typeof json.hostId !== 'string' || typeof json.credential !== 'string') {
    throw new EnrollError(`enrolment answer from ${server} lacks hostId/credential: ${text.slice(0, 200)}`);
  }
  return { hostId: json.hostId, credential: json.credential };
}

/** The stored credential, enrolling first when there is none and a token was given. */
export async function ensureCredential(opts: { root: string; server: string; token?: string; hostname?: string }): Promise<StoredCredential> {
  const stored = readCredential(opts.root);
  if (stored) return stored;
  if (!opts.token) {
    throw new EnrollError(`this host is not enrolled yet (no credential.json in ${opts.root}): start it once with --token TOKEN from the dashboard`);
  }
  const { hostId, credential } = await enroll(opts.server, opts.token, opts.hostname);
  const cred = { server: opts.server, hostId, credential };
  writeCredential(opts.root, cred);
  return cred;
}
