// Where the control plane keeps its state, from the environment. Read lazily so the
// custom server can set defaults before anything asks.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function dataDir(): string {
  return path.resolve(/*turbopackIgnore: true*/ process.env.BERTH_DATA_DIR || './data');
}

export type DatabaseTarget = { kind: 'sqlite'; file: string } | { kind: 'postgresql'; url: string };

/** DATABASE_URL wins; otherwise the SQLite file berth.db in the data dir. A relative file: path is taken from the cwd. */
export function databaseTarget(): DatabaseTarget {
  const url = process.env.DATABASE_URL;
  if (!url) return { kind: 'sqlite', file: path.join(dataDir(), 'berth.db') };
  if (url.startsWith('file:')) return { kind: 'sqlite', file: path.resolve(/*turbopackIgnore: true*/ url.slice('file:'.length)) };
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { kind: 'postgresql', url };
  throw new Error(`DATABASE_URL: unsupported scheme in ${JSON.stringify(url.replace(/\/\/[^@]*@/, '//…@'))} (use file:… or postgresql://…)`);
}

/** NEXTAUTH_SECRET, or a random one generated once and kept in the data dir so sessions survive restarts. */
export function authSecret(): string {
  if (process.env.NEXTAUTH_SECRET) return process.env.NEXTAUTH_SECRET;
  const dir = dataDir();
  const file = path.join(dir, 'secret');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot write ${file}: ${(err as Error).message}`);
    }
  }
  const secret = readFileSync(file, 'utf8').trim();
  process.env.NEXTAUTH_SECRET = secret;
  return secret;
}

export function listenPort(): number {
  return Number(process.env.PORT || 3000);
}

/** The URL people (and agents) reach this server at. */
export function publicUrl(): string {
  return (process.env.BERTH_PUBLIC_URL || process.env.NEXTAUTH_URL || `http://localhost:${listenPort()}`).replace(/\/+$/, '');
}
