// Whether the Next build in .next is older than the sources it was built from, and
// how to rebuild it. Shared by `npm start` and the tests that serve the real app.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// What the web app is built from. The browser bundle and the server code Next compiles
// import only these (test/unit/next-build-inputs.test.ts holds them to it), so nothing
// under agent/ can make the build stale.
export const BUILD_DIRS = ['app', 'server', 'public', 'protocol', 'generated'];
const BUILD_CONFIG = ['next.config.ts', 'postcss.config.mjs', 'package.json', 'tsconfig.json'];

function newestMtime(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(p)) {
    if (e === 'node_modules' || e.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(path.join(p, e)));
  }
  return newest;
}

export function buildIsStale(): boolean {
  const id = path.join(root, '.next', 'BUILD_ID');
  if (!existsSync(id)) return true;
  const built = statSync(id).mtimeMs;
  return [...BUILD_DIRS, ...BUILD_CONFIG].some((p) => newestMtime(path.join(root, p)) > built);
}

export function buildNext(stdio: 'inherit' | 'pipe' = 'inherit'): void {
  console.error('berth: building the web app (next build) …');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'next', 'dist', 'bin', 'next'), 'build'], {
    cwd: root,
    stdio,
    encoding: 'utf8',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  });
  if (r.status !== 0) {
    const out = stdio === 'pipe' ? `\n${r.stdout}\n${r.stderr}` : '';
    throw new Error(`next build failed (exit ${r.status ?? r.signal})${out}`);
  }
}

// Two builds writing one .next at once leave a broken build behind (tests and
// `npm start` may both decide to build), so builds take a lock: a directory made
// atomically, holding the builder's pid so a crashed builder's lock can be taken over.
const LOCK = path.join(os.tmpdir(), `berth-next-build-${createHash('sha256').update(root).digest('hex').slice(0, 12)}.lock`);

function tryLock(): boolean {
  try {
    mkdirSync(LOCK);
    writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create ${LOCK}: ${(err as Error).message}`);
    let pid = 0;
    try {
      pid = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8'));
    } catch {
      // not written yet, or the holder died before writing it
    }
    if (!pid) {
      const st = statSync(LOCK, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 30_000) rmSync(LOCK, { recursive: true, force: true });
      return false;
    }
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(LOCK, { recursive: true, force: true });
    }
    return false;
  }
}

export function ensureFreshBuild(stdio: 'inherit' | 'pipe' = 'inherit'): void {
  const waitUntil = Date.now() + 15 * 60_000;
  while (buildIsStale()) {
    if (tryLock()) {
      try {
        // Someone else may have finished a build while we waited for the lock.
        if (buildIsStale()) buildNext(stdio);
      } finally {
        rmSync(LOCK, { recursive: true, force: true });
      }
      return;
    }
    if (Date.now() > waitUntil) throw new Error(`waited 15 minutes for another next build (lock ${LOCK})`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
}
