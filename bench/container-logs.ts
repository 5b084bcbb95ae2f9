// A container's long log through Berth's Docker socket: `seq 1 N` captured, then
// `docker logs --tail 10` and `docker logs | wc -l`, interleaved with GNU tail and wc on the
// same json-file (the floor: no daemon, no CLI, no framing). When `dockerd` is installed
// the same three run against a real Docker daemon too; without it that column is skipped.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pushBusyboxImage } from '../test/fixtures/busybox-image';
import { startRegistry } from '../test/fixtures/registry';

const repoRoot = resolve(import.meta.dirname, '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

export interface LogsBench {
  lines: number;
  captureMs: number;
  /** `docker logs --tail 10` through the CLI, and the same request straight to the socket (no CLI start-up). */
  tailCliMs: number;
  tailApiMs: number;
  gnuTailMs: number;
  /** `docker --version`: the CLI starting and exiting, no daemon asked; the floor under every CLI number. */
  cliStartMs: number;
  /** `docker logs | wc -l`, and the same request straight to the socket (the agent's part of it). */
  readBackMs: number;
  readBackApiMs: number;
  gnuWcMs: number;
  docker?: { captureMs: number; tailCliMs: number; readBackMs: number };
}

function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): { ms: number; stdout: string } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, env: env ?? process.env });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

function apiGet(sock: string, path: string): Promise<number> {
  return new Promise((ok, fail) => {
    const t = performance.now();
    const req = http.request({ socketPath: sock, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? ok(performance.now() - t) : fail(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('error', fail);
    req.end();
  });
}

async function waitForSocket(sock: string, alive: () => boolean, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!alive()) throw new Error(`the daemon exited: ${log()}`);
    try {
      await apiGet(sock, '/_ping');
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`no answer on ${sock}: ${log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** One engine behind a socket: capture N lines in a fresh container, then time tail and read-back against GNU. */
async function measure(sock: string, ref: string, lines: number, rounds: number, env: NodeJS.ProcessEnv) {
  const d = (...args: string[]) => run('docker', ['-H', `unix://${sock}`, ...args], env);
  d('pull', ref);
  const name = `bench-logs-${process.pid}`;
  const t = performance.now();
  d('run', '-d', '--name', name, ref, 'seq', '1', String(lines));
  const code = d('wait', name).stdout.trim();
  const captureMs = performance.now() - t;
  if (code !== '0') throw new Error(`seq exited ${code}`);
  const logPath = d('inspect', '--format', '{{.LogPath}}', name).stdout.trim();
  const tailCli: number[] = [];
  const tailApi: number[] = [];
  const gnuTail: number[] = [];
  const cliStart: number[] = [];
  const readBack: number[] = [];
  const readBackApi: number[] = [];
  const gnuWc: number[] = [];
  const want = Array.from({ length: 10 }, (_, i) => `${lines - 9 + i}\n`).join('');
  for (let r = 0; r < rounds; r++) {
    const tail = d('logs', '--tail', '10', name);
    if (tail.stdout !== want) throw new Error(`docker logs --tail 10 printed ${JSON.stringify(tail.stdout.slice(0, 200))}`);
    tailCli.push(tail.ms);
    tailApi.push(await apiGet(sock, `/containers/${name}/logs?stdout=1&stderr=1&tail=10`));
    gnuTail.push(run('tail', ['-n', '10', logPath]).ms);
    cliStart.push(run('docker', ['--version'], env).ms);
    const back = run('sh', ['-c', `docker -H unix://${sock} logs ${name} | wc -l`], env);
    if (Number(back.stdout.trim()) !== lines) throw new Error(`docker logs | wc -l printed ${back.stdout.trim()}`);
    readBack.push(back.ms);
    readBackApi.push(await apiGet(sock, `/containers/${name}/logs?stdout=1&stderr=1`));
    gnuWc.push(run('wc', ['-l', logPath]).ms);
  }
  d('rm', '-f', name);
  return {
    captureMs,
    tailCliMs: median(tailCli),
    tailApiMs: median(tailApi),
    gnuTailMs: median(gnuTail),
    cliStartMs: median(cliStart),
    readBackMs: median(readBack),
    readBackApiMs: median(readBackApi),
    gnuWcMs: median(gnuWc),
  };
}

function hasDockerd(): boolean {
  return spawnSync('sh', ['-c', 'command -v dockerd'], { stdio: 'ignore' }).status === 0;
}

export async function benchContainerLogs(lines = 1_000_000, rounds = 5): Promise<LogsBench> {
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-logs-'));
  const registry = await startRegistry();
  const env = { ...process.env, DOCKER_CONFIG: join(work, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  const stops: Array<() => Promise<void>> = [];
  try {
    const { ref } = await pushBusyboxImage(registry.url, 'busybox', 'latest');

    const sock = join(work, 'berth.sock');
    const agent = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'agent/main.ts'), '--root', join(work, 'berth'), '--docker-socket', sock], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let agentLog = '';
    agent.stdout.on('data', (b) => (agentLog += b));
    agent.stderr.on('data', (b) => (agentLog += b));
    stops.push(() => stopProcess(agent));
    await waitForSocket(sock, () => agent.exitCode === null, () => agentLog);
    const berth = await measure(sock, ref, lines, rounds, env);

    let docker: LogsBench['docker'];
    if (hasDockerd()) {
      const dsock = join(work, 'docker.sock');
      const config = join(work, 'daemon.json');
      writeFileSync(config, '{}\n');
      // Its own everything, and nothing of the host's: no bridge, firewall, forwarding or
      // masquerading changes, and its containers' cgroups under a parent removed afterwards.
      const cgroupParent = `berth-bench-logs-docker-${process.pid}`;
      const dockerd = spawn(
        'dockerd',
        [
          ...['--host', `unix://${dsock}`, '--config-file', config, '--data-root', join(work, 'docker'), '--exec-root', join(work, 'docker-exec')],
          ...['--pidfile', join(work, 'docker.pid'), '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false'],
          ...['--cgroup-parent', `/${cgroupParent}`, '--exec-opt', 'native.cgroupdriver=cgroupfs', '--log-level', 'warn'],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let dlog = '';
      dockerd.stdout.on('data', (b) => (dlog += b));
      dockerd.stderr.on('data', (b) => (dlog += b));
      stops.push(async () => {
        await stopProcess(dockerd);
        removeCgroupDirs(cgroupParent);
      });
      await waitForSocket(dsock, () => dockerd.exitCode === null, () => dlog.slice(-2000));
      const m = await measure(dsock, ref, lines, rounds, env);
      docker = { captureMs: m.captureMs, tailCliMs: m.tailCliMs, readBackMs: m.readBackMs };
    }
    return { lines, ...berth, docker };
  } finally {
    for (const stop of stops.reverse()) await stop();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function stopProcess(child: ReturnType<typeof spawn>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const gone = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  await gone;
}

/** The (empty, once dockerd is gone) cgroup `name` in every hierarchy under /sys/fs/cgroup. */
function removeCgroupDirs(name: string): void {
  const base = '/sys/fs/cgroup';
  const dirs = [join(base, name), ...readdirSync(base).map((h) => join(base, h, name))];
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    try {
      rmdirSync(d);
    } catch (err) {
      console.error(`bench: could not remove cgroup ${d}: ${(err as Error).message}`);
    }
  }
}
