// The host credential lives in the agent's root: readable by root only, and written
// atomically so a crash mid-write never leaves a half credential that locks the host out.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../engine/atomic-write';

export interface StoredCredential {
  server: string;
  hostId: string;
  credential: string;
  /** The server certificate this host was enrolled under (--server-fingerprint); later starts keep to it. */
  serverFingerprint?: string;
}

export const credentialPath = (root: string) => path.join(root, 'credential.json');

export function readCredential(root: string): StoredCredential | undefined {
  let text: string;
  try {
    text = fs.readFileSync(credentialPath(root), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${credentialPath(root)}: ${(err as Error).message}`);
  }
  let c: Partial<StoredCredential> | null;
  try {
    c = JSON.parse(text) as Partial<StoredCredential> | null;
  } catch {
    c = null;
  }
  if (typeof c?.hostId !== 'string' || typeof c.credential !== 'string') {
    throw new Error(`${credentialPath(root)} is damaged (no hostId/credential); delete it and enrol again with --token`);
  }
  if (c.serverFingerprint !== undefined && typeof c.serverFingerprint !== 'string') {
    throw new Error(`${credentialPath(root)} is damaged (serverFingerprint is not a string); delete it and enrol again with --token`);
  }
  return { server: c.server ?? '', hostId: c.hostId, credential: c.credential, ...(c.serverFingerprint ? { serverFingerprint: c.serverFingerprint } : {}) };
}

export function writeCredential(root: string, cred: StoredCredential): void {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  writeFileAtomic(credentialPath(root), JSON.stringify(cred, null, 2) + '\n', { mode: 0o600 });
}
