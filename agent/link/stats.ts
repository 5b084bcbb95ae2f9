// The container page's live reading: the engine's statistics boiled down to what the
// dashboard charts, with the health state beside them (a probe's result changes nothing a
// snapshot carries until the status flips, but the page shows every probe).
import { EngineError } from '../engine/errors';
import type { ContainerStats, Engine } from '../engine/types';
import type { ContainerLive, ContainerStatsSample } from '../../protocol/agent-link';

/** Read and write bytes over every device; v1 says "Read"/"Write", v2 "read"/"write" (as the docker CLI adds them up). */
function blockBytes(s: ContainerStats): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const e of s.ioServiceBytes) {
    const op = e.op.toLowerCase();
    if (op === 'read') read += e.value;
    else if (op === 'write') write += e.value;
  }
  return { read, write };
}

/**
 * Usage as `docker stats` shows it: the page cache the kernel can drop at once (inactive
 * file pages) does not count. v1 names it total_inactive_file, v2 inactive_file.
 */
export function memoryUsage(s: Pick<ContainerStats, 'memoryUsage' | 'memoryStat'>): number {
  const inactive = s.memoryStat.total_inactive_file ?? s.memoryStat.inactive_file ?? 0;
  return inactive > 0 && inactive < s.memoryUsage ? s.memoryUsage - inactive : s.memoryUsage;
}

export function statsSample(s: ContainerStats): ContainerStatsSample {
  const nets = Object.values(s.networks);
  const block = blockBytes(s);
  return {
    read: s.read,
    cpuUsageNs: s.cpuUsageNs,
    systemCpuNs: s.systemCpuNs,
    onlineCpus: s.onlineCpus,
    memoryUsage: memoryUsage(s),
    memoryLimit: s.memoryLimit < 0 ? -1 : s.memoryLimit,
    pids: s.pids,
    pidsLimit: s.pidsLimit > 0 ? s.pidsLimit : 0,
    networkInterfaces: nets.length,
    netRxBytes: nets.reduce((a, n) => a + n.rxBytes, 0),
    netTxBytes: nets.reduce((a, n) => a + n.txBytes, 0),
    blockReadBytes: block.read,
    blockWriteBytes: block.write,
  };
}

export async function containerLive(engine: Engine, idOrName: string): Promise<ContainerLive> {
  const rec = engine.inspect(idOrName);
  let stats: ContainerStats | undefined;
  try {
    stats = await engine.stats(rec.id);
  } catch (err) {
    // It stopped between the look at its state and the read of its cgroups: no reading, not an error.
    const now = engine.inspect(rec.id);
    if (now.state.running && !(err instanceof EngineError && err.status === 404)) throw err;
  }
  const cur = engine.inspect(rec.id);
  return {
    id: cur.id,
    status: cur.state.status,
    restartCount: cur.restartCount,
    ...(cur.state.health ? { health: cur.state.health } : {}),
    stats: stats && cur.state.running ? statsSample(stats) : null,
  };
}
