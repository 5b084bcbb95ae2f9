// Where the monitor binary lives, building it on first use (and again when its sources are
// newer, so an updated checkout never runs an old binary that lacks a subcommand).
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Set by esbuild in the agent's bundle (scripts/agent-bundle.mjs), where import.meta.url is
// the bundle's own file: the relative way from there to this directory.
declare const BERTH_NATIVE_DIR_FROM_BUNDLE: string | undefined;
const here = dirname(fileURLToPath(import.meta.url));
const nativeDir = typeof BERTH_NATIVE_DIR_FROM_BUNDLE === 'string' ? resolve(here, BERTH_NATIVE_DIR_FROM_BUNDLE) : here;
let checked: string | undefined;

function stale(bin: string): boolean {
  const built = statSync(bin, { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) return true;
  return readdirSync(nativeDir).some((n) => (/\.[ch]$/.test(n) || n === 'Makefile') && statSync(join(nativeDir, n)).mtimeMs > built);
}

export function monitorBinary(): string {
  if (checked) return checked;
  const bin = process.env.BERTH_MONITOR || join(nativeDir, 'build', 'berth-monitor');
  if (!process.env.BERTH_MONITOR && stale(bin)) {
    try {
      execFileSync('make', ['-s', '-C', nativeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const err = (e as { stderr?: Buffer }).stderr?.toString() ?? String(e);
      throw new Error(`cannot build the berth monitor (make -C ${nativeDir}): ${err}`);
    }
  }
  checked = bin;
  return bin;
}
