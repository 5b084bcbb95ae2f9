// Where the monitor binary lives, building it on first use so a fresh checkout just works.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
let checked: string | undefined;

export function monitorBinary(): string {
  if (checked) return checked;
  const bin = process.env.BERTH_MONITOR || join(nativeDir, 'build', 'berth-monitor');
  if (!existsSync(bin)) {
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
