// Live logs under load, through the whole path: N containers each printing about R lines a
// second (bursts of R/10 every 100 ms, each line a number one above the last), B browsers
// (socket.io clients with a signed-in session) each following all of them. Measured: the
// delay from a line's stamp (the monitor's read time) to its arrival in each browser, p50 and
// p99; every browser's lines per container checked for gaps and repeats; the agent's and the
// control plane's CPU over the measured window. One machine: the clock is the same for all.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emptyRunOptions } from '../protocol/run-form';
import { agentBundle, ensureAgentBundle } from '../scripts/agent-bundle.mjs';
import { cgroupParentFor } from '../agent/engine/index';
import { pushBusyboxImage } from '../test/fixtures/busybox-image';
import { removeCgroupParent } from '../test/fixtures/processes';
import { startRegistry } from '../test/fixtures/registry';
import { ensureNextBuild, signIn, startControlPlane, trpc } from '../test/integration/support/control-plane';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface LogsFanoutBench {
  containers: number;
  rate: number;
  browsers: number;
  seconds: number;
  lines: number;
  p50: number;
  p99: number;
  max: number;
  missing: number;
  repeated: number;
  agentCpu: number;
  serverCpu: number;
  /** The busiest client process's CPU (one "browser"). */
  clientCpu: number;
}

/** utime + stime of a process and its children that were waited for, in seconds. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

export async function benchLogsFanout(opts: { containers: number; rate: number; browsers: number; seconds: number }): Promise<LogsFanoutBench> {
  ensureNextBuild();
  await ensureAgentBundle();
  const tmp = mkdtempSync(path.join(tmpdir(), 'berth-bench-logs-fanout-'));
  const root = path.join(tmp, 'root');
  const registry = await startRegistry();
  const cp = await startControlPlane();
  let agent: ChildProcess | undefined;
  const ids: string[] = [];
  let api: ReturnType<typeof trpc> | undefined;
  let hostId = '';
  try {
    const image = (await pushBusyboxImage(registry.url, 'fanout/busybox', 'v1')).ref;
    const admin = { email: 'fanout@example.test', name: 'Fanout', password: 'fanout-pass-123' };
    await trpc(cp.url).auth.setup.mutate(admin);
    const cookie = (await signIn(cp.url, admin.email, admin.password))!;
    api = trpc(cp.url, cookie);
    const { command } = await api.hosts.createJoinToken.mutate({ name: 'fanout' });
    const fd = openSync(path.join(tmp, 'agent.log'), 'a');
    agent = spawn(process.execPath, [agentBundle, '--root', root, '--docker-socket', path.join(tmp, 'docker.sock'), '--bridge', 'none', '--server', cp.url, '--token', /--token (\S+)/.exec(command)![1]], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    for (let i = 0; i < 600 && !/as host \S+/.test(readFileSync(path.join(tmp, 'agent.log'), 'utf8')); i++) await new Promise((r) => setTimeout(r, 100));
    hostId = /as host (\S+)/.exec(readFileSync(path.join(tmp, 'agent.log'), 'utf8'))?.[1] ?? '';
    if (!hostId) throw new Error(`the agent did not connect:\n${readFileSync(path.join(tmp, 'agent.log'), 'utf8').slice(-2000)}`);
    await api.images.pull.mutate({ hostId, ref: image });
    const burst = Math.max(1, Math.round(opts.rate / 10));
    for (let c = 0; c < opts.containers; c++) {
      const { id } = await api.containers.run.mutate({ hostId, image, options: { ...emptyRunOptions(), network: 'none' }, command: `sh -c 'i=0; while true; do seq $i $((i+${burst - 1})); i=$((i+${burst})); sleep 0.1; done'` });
      ids.push(id);
    }

    // Each browser is a process of its own (bench/logs-fanout-client.ts), following every container.
    const warmupMs = 2000;
    const agentPid = agent.pid!;
    const serverPid = cp.child.proc.pid!;
    const clients = Array.from({ length: opts.browsers }, () =>
      spawn(process.execPath, ['--import', 'tsx', path.join(here, 'logs-fanout-client.ts'), cp.url, cookie, hostId, String(warmupMs), String(opts.seconds), ...ids], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    const outputs = clients.map(
      (c) =>
        new Promise<string>((resolve, reject) => {
          let out = '';
          c.stdout!.on('data', (d) => (out += d));
          c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`a fan-out client exited with ${code}`))));
        }),
    );
    // The window the clients measure: after their subscriptions and warm-up (a client takes about a second to start).
    await new Promise((r) => setTimeout(r, 1500 + warmupMs));
    const a0 = cpuSeconds(agentPid);
    const s0 = cpuSeconds(serverPid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    const wall = (performance.now() - t0) / 1000;
    const agentCpu = (cpuSeconds(agentPid) - a0) / wall;
    const serverCpu = (cpuSeconds(serverPid) - s0) / wall;
    const results = (await Promise.all(outputs)).map((o) => JSON.parse(o) as { histogram: Record<string, number>; lines: number; missing: number; repeated: number; cpu: number });
    const delays: number[] = [];
    for (const r of results) for (const [ms, n] of Object.entries(r.histogram)) for (let i = 0; i < n; i++) delays.push(Number(ms));
    delays.sort((x, y) => x - y);
    const lines = results.reduce((n, r) => n + r.lines, 0);
    const missing = results.reduce((n, r) => n + r.missing, 0);
    const repeated = results.reduce((n, r) => n + r.repeated, 0);
    const clientCpu = Math.max(...results.map((r) => r.cpu));
    return {
      ...opts,
      lines,
      p50: quantile(delays, 0.5),
      p99: quantile(delays, 0.99),
      max: delays[delays.length - 1] ?? NaN,
      missing,
      repeated,
      agentCpu,
      serverCpu,
      clientCpu,
    };
  } finally {
    if (api) for (const id of ids) await api.containers.remove.mutate({ hostId, id, force: true }).catch(() => {});
    if (agent && agent.exitCode === null) {
      const gone = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await gone;
    }
    removeCgroupParent(cgroupParentFor(root));
    await cp.stop();
    rmSync(cp.dataDir, { recursive: true, force: true });
    await registry.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function printLogsFanoutBench(b: LogsFanoutBench): void {
  console.log(
    `live logs: ${b.containers} containers × ~${b.rate} lines/s, ${b.browsers} browsers each following all, ${b.seconds} s measured: ${b.lines.toLocaleString('en')} lines received, print → browser p50 ${b.p50.toFixed(0)} ms, p99 ${b.p99.toFixed(0)} ms (max ${b.max.toFixed(0)}), ${b.missing} missing, ${b.repeated} repeated; CPU agent ${(b.agentCpu * 100).toFixed(0)}%, control plane ${(b.serverCpu * 100).toFixed(0)}%, busiest browser ${(b.clientCpu * 100).toFixed(0)}% (of one core; ${os.cpus().length} cores in all)`,
  );
}
