// Whether the Next build in .next is older than the sources it was built from, and
// how to rebuild it. Shared by `npm start` and the tests that serve the real app.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_INPUTS = ['app', 'server', 'public', 'agent/link/protocol.ts', 'agent/engine/types.ts', 'agent/engine/errors.ts', 'next.config.ts', 'postcss.config.mjs', 'package.json', 'tsconfig.json'];

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
  return BUILD_INPUTS.some((p) => newestMtime(path.join(root, p)) > built);
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

export function ensureFreshBuild(stdio: 'inherit' | 'pipe' = 'inherit'): void {
  if (buildIsStale()) buildNext(stdio);
}
