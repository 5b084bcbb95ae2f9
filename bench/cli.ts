// The real docker CLI pointed at one daemon's socket (Berth's agent or a Docker daemon),
// and a few numbers about processes from /proc. Shared by the benchmarks.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';

export interface DockerCli {
  sock: string;
  /** `docker -H unix://SOCK ARGS…`, bounded by `timeout -k 5`. */
  run(args: string[], opts?: { timeoutSec?: number; input?: string }): SpawnSyncReturns<string>;
  /** Like run(), but a failure throws with the CLI's stderr. */
  ok(args: string[]): string;
  /** Wall-clock milliseconds of one call, which must succeed. */
  time(args: string[]): number;
}

export function dockerCli(sock: string, configDir: string, describe: () => string = () => ''): DockerCli {
  const run: DockerCli['run'] = (args, opts = {}) =>
    spawnSync('timeout', ['-k', '5', String(opts.timeoutSec ?? 120), 'docker', '-H', `unix://${sock}`, ...args], {
      encoding: 'utf8',
      input: opts.input,
      maxBuffer: 64 << 20,
      // A config dir of our own: no credential helpers, contexts or hints from the machine's.
      env: { ...process.env, DOCKER_CONFIG: configDir, DOCKER_CLI_HINTS: 'false' },
    });
  const ok = (args: string[]) => {
    const r = run(args);
    if (r.status !== 0) throw new Error(`docker -H unix://${sock} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.trim()}${describe()}`);
    return r.stdout;
  };
  return {
    sock,
    run,
    ok,
    time(args) {
      const t = performance.now();
      ok(args);
      return performance.now() - t;
    },
  };
}

/** Resolves true once GET /_ping on the unix socket answers 200. */
export function ping(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: sock, path: '/_ping' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Polls /_ping until it answers; returns the milliseconds since `since` (a performance.now()). */
export async function waitForPing(sock: string, since: number, isAlive: () => boolean, what: string, timeoutMs = 60_000): Promise<number> {
  for (;;) {
    if (await ping(sock)) return performance.now() - since;
    if (!isAlive()) throw new Error(`${what} exited before answering /_ping`);
    if (performance.now() - since > timeoutMs) throw new Error(`${what} did not answer /_ping within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const statusField = (pid: number, field: string): number | undefined => {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
};

export const rssKb = (pid: number): number => statusField(pid, 'VmRSS') ?? 0;
export const ppidOf = (pid: number): number | undefined => statusField(pid, 'PPid');

/** Proportional set size: each shared page split among the processes that map it. */
export function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** `pid` and every process below it. */
export function subtree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const parent = ppidOf(Number(name));
    if (parent === undefined) continue;
    children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Pids of processes whose command line contains `needle` (by pid, never by name). */
export function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
