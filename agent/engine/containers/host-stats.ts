// The parts of a container's statistics that are not in its cgroups: the host's CPU time
// (what a container's CPU time is a share of) and the traffic of its network namespace.
import { readFile } from 'node:fs/promises';

export interface NetworkCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** USER_HZ: /proc/stat counts in hundredths of a second on every Linux Docker supports. */
const CLOCK_TICKS = 100;

/** The host's CPU time in nanoseconds (the first line of /proc/stat, user to softirq) and the CPUs counted. */
export function parseProcStat(text: string): { systemNs: number; onlineCpus: number } {
  let systemNs = 0;
  let onlineCpus = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'cpu') {
      // user nice system idle iowait irq softirq, the fields dockerd adds up.
      const ticks = f.slice(1, 8).reduce((a, v) => a + (Number(v) || 0), 0);
      systemNs = (ticks * 1e9) / CLOCK_TICKS;
    } else if (/^cpu\d+$/.test(f[0])) onlineCpus++;
  }
  return { systemNs, onlineCpus };
}

export async function systemCpu(): Promise<{ systemNs: number; onlineCpus: number }> {
  return parseProcStat(await readFile('/proc/stat', 'utf8'));
}

/** /proc/PID/net/dev as Docker reports a sandbox's interfaces: every one but loopback. */
export function parseNetDev(text: string): Record<string, NetworkCounters> {
  const out: Record<string, NetworkCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === 'lo') continue;
    const n = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    out[name] = { rxBytes: n[0], rxPackets: n[1], rxErrors: n[2], rxDropped: n[3], txBytes: n[8], txPackets: n[9], txErrors: n[10], txDropped: n[11] };
  }
  return out;
}

export async function netnsCounters(pid: number): Promise<Record<string, NetworkCounters>> {
  return parseNetDev(await readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => ''));
}
