// The host's CPU and memory in use, for the fleet overview's small charts: read from
// /proc every USAGE_EVERY_MS and sent as one small 'usage' event (volatile: a lost reading
// is superseded by the next), about 6 bytes a second on the wire.
import { readFile } from 'node:fs/promises';

export const USAGE_EVERY_MS = 10_000;

export interface CpuTimes {
  busy: number;
  total: number;
}

/** The first line of /proc/stat as busy and total jiffies (iowait counts as idle, as top does). */
export function cpuTimes(stat: string): CpuTimes | null {
  const line = stat.split('\n', 1)[0];
  if (!line.startsWith('cpu ')) return null;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return null;
  // user nice system idle iowait irq softirq steal (guest is inside user already)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** MemTotal − MemAvailable, in bytes. */
export function memUsed(meminfo: string): number | null {
  const kb = (k: string) => {
    const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(meminfo);
    return m ? Number(m[1]) * 1024 : null;
  };
  const total = kb('MemTotal');
  const avail = kb('MemAvailable');
  return total === null || avail === null ? null : total - avail;
}

/** Reads usage every interval and hands it on; the share of CPU is since the reading before. */
export function startUsage(send: (u: { cpu: number; mem: number }) => void, log: (m: string) => void, everyMs = USAGE_EVERY_MS): () => void {
  let last: CpuTimes | null = null;
  let failed = false;
  const read = async () => {
    try {
      const [stat, meminfo] = await Promise.all([readFile('/proc/stat', 'utf8'), readFile('/proc/meminfo', 'utf8')]);
      const now = cpuTimes(stat);
      const mem = memUsed(meminfo);
      if (now && last && now.total > last.total && mem !== null) send({ cpu: Math.min(1, Math.max(0, (now.busy - last.busy) / (now.total - last.total))), mem });
      last = now;
      failed = false;
    } catch (err) {
      // Said once, not every ten seconds.
      if (!failed) log(`cannot read the host's CPU and memory use: ${(err as Error).message}`);
      failed = true;
    }
  };
  void read();
  const t = setInterval(() => void read(), everyMs);
  t.unref();
  return () => clearInterval(t);
}
