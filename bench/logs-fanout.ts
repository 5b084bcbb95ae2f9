// Live logs under load, through the whole path: N containers each printing about R lines a
// second (bursts of R/10 every 100 ms, each line a number one above the last), B browsers
// (socket.io clients with a signed-in session) each following all of them. Measured: the
// delay from a line's stamp (the monitor's read time) to its arrival in each browser, p50 and
// p99; every browser's lines per container checked for gaps and repeats; the agent's and the
// control plane's CPU over the measured window. One machine: the clock is the same for all.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import type { LogsEvent } from '../protocol/logs';
import { emptyRunOptions } from '../protocol/run-form';
import type { ServerToUi, UiToServer } from '../protocol/ui-socket';
import { agentBundle, ensureAgentBundle } from '../scripts/agent-bundle.mjs';
import { cgroupParentFor } from '../agent/engine/index';
import { pushBusyboxImage } from '../test/fixtures/busybox-image';
import { removeCgroupParent } from '../test/fixtures/processes';
import { startRegistry } from '../test/fixtures/registry';
import { ensureNextBuild, signIn, startControlPlane, trpc } from '../test/integration/support/control-plane';
import { MAX_LOG_STREAMS_PER_SOCKET } from '../server/hub/logs';

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

const timeMs = (t: string) => {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(t);
  return m ? Date.parse(m[1] + 'Z') + (m[2] ? Number(m[2]) * 1000 : 0) : Date.parse(t);
};

export async function benchLogsFanout(opts: { containers: number; rate: number; browsers: number; seconds: number }): Promise<LogsFanoutBench> {
  ensureNextBuild();
  await ensureAgentBundle();
  const tmp = mkdtempSync(path.join(tmpdir(), 'berth-bench-logs-fanout-'));
  const root = path.join(tmp, 'root');
  const registry = await startRegistry();
  const cp = await startControlPlane();
  let agent: ChildProcess | undefined;
  const sockets: Socket[] = [];
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

    // Each browser follows every container, in as many connections as the per-connection bound takes.
    const perSocket = MAX_LOG_STREAMS_PER_SOCKET;
    const delays: number[] = [];
    let measuring = false;
    // browser → container → last number seen
    const last = Array.from({ length: opts.browsers }, () => new Map<string, number>());
    let missing = 0;
    let repeated = 0;
    let lines = 0;
    for (let b = 0; b < opts.browsers; b++) {
      for (let from = 0; from < ids.length; from += perSocket) {
        const s = io(`${cp.url}/ui`, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie }, forceNew: true }) as unknown as Socket<ServerToUi, UiToServer>;
        sockets.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('connect', () => resolve());
          s.once('connect_error', reject);
        });
        s.on('logs', (ev: LogsEvent) => {
          const now = Date.now();
          const seen = last[b];
          for (const e of ev.entries) {
            const n = Number(e.line);
            const prev = seen.get(e.containerId);
            if (measuring) {
              lines++;
              delays.push(now - timeMs(e.time));
              if (prev !== undefined && n <= prev) repeated++;
              else if (prev !== undefined && n > prev + 1) missing += n - prev - 1;
            }
            seen.set(e.containerId, Math.max(prev ?? -1, n));
          }
        });
        const ack = await s.emitWithAck('logs:subscribe', { sources: ids.slice(from, from + perSocket).map((containerId) => ({ hostId, containerId })), tail: 0 });
        if (!ack.ok) throw new Error(`subscribe: ${ack.error}`);
      }
    }
    // Let every stream start, then measure.
    await new Promise((r) => setTimeout(r, 2000));
    const agentPid = agent.pid!;
    const serverPid = cp.child.proc.pid!;
    const a0 = cpuSeconds(agentPid);
    const s0 = cpuSeconds(serverPid);
    const t0 = performance.now();
    measuring = true;
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    measuring = false;
    const wall = (performance.now() - t0) / 1000;
    const agentCpu = (cpuSeconds(agentPid) - a0) / wall;
    const serverCpu = (cpuSeconds(serverPid) - s0) / wall;
    delays.sort((x, y) => x - y);
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
    };
  } finally {
    for (const s of sockets) s.disconnect();
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
    `live logs: ${b.containers} containers × ~${b.rate} lines/s, ${b.browsers} browsers each following all, ${b.seconds} s measured: ${b.lines.toLocaleString('en')} lines received, print → browser p50 ${b.p50.toFixed(0)} ms, p99 ${b.p99.toFixed(0)} ms (max ${b.max.toFixed(0)}), ${b.missing} missing, ${b.repeated} repeated; CPU agent ${(b.agentCpu * 100).toFixed(0)}%, control plane ${(b.serverCpu * 100).toFixed(0)}% (of one core)`,
  );
}
