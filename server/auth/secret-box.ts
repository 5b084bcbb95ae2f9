// Secrets kept at rest (registry passwords): AES-256-GCM under a key from BERTH_SECRET_KEY
// (32 bytes, hex or base64) or, without it, one generated once into the data dir (0600).
// Each ciphertext is bound to what it belongs to (the associated data), so a row's secret
// copied into another row does not decrypt there.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dataDir } from '../db/config';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SECRET_KEY_FILE = 'secret-box.key';

function parseKey(raw: string, where: string): Buffer {
  const s = raw.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(s) ? Buffer.from(s, 'hex') : Buffer.from(s, 'base64');
  if (key.length !== 32) throw new Error(`${where}: must be 32 bytes, as 64 hex digits or base64 (e.g. \`openssl rand -hex 32\`)`);
  return key;
}

/** The key, read (or made) on every call: cheap, and a test can change the environment between calls. */
export function secretKey(env: Record<string, string | undefined> = process.env): Buffer {
  if (env.BERTH_SECRET_KEY) return parseKey(env.BERTH_SECRET_KEY, 'BERTH_SECRET_KEY');
  const dir = dataDir();
  const file = path.join(dir, SECRET_KEY_FILE);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot write ${file}: ${(err as Error).message}`);
    }
  }
  // Whatever made the file, nobody but us reads it.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  return parseKey(readFileSync(file, 'utf8'), file);
}

export function seal(plain: string, aad: string, key: Buffer = secretKey()): string {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `${VERSION}:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
}

export class SecretBoxError extends Error {}

export function open(sealed: string, aad: string, key: Buffer = secretKey()): string {
  const [version, b64] = sealed.split(':', 2);
  if (version !== VERSION || !b64) throw new SecretBoxError('not a sealed secret');
  const buf = Buffer.from(b64, 'base64');
  if (buf.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError('sealed secret too short');
  const d = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES));
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(buf.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([d.update(buf.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString('utf8');
  } catch {
    throw new SecretBoxError('cannot decrypt: the key is not the one it was sealed with (BERTH_SECRET_KEY or the data dir\'s key changed), or the data was altered');
  }
}
