// A container's long log through Berth's Docker socket: `seq 1 N` captured, then
// `docker logs --tail 10` and `docker logs | wc -l`, interleaved with GNU tail and wc on the
// same json-file (the floor: no daemon, no CLI, no framing). When a Docker daemon can
// be had (bench/docker-daemon.ts) the same three run against it too; else that column is skipped.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushBusyboxImage } from '../test/fixtures/busybox-image';
import { startRegistry } from '../test/fixtures/registry';
import { startBerthAgent } from './berth-agent';
import { median } from './cli';
import { dockerUnavailable, startDockerDaemon } from './docker-daemon';

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

export async function benchContainerLogs(lines = 1_000_000, rounds = 5): Promise<LogsBench> {
  const work = mkdtempSync(join(tmpdir(), 'berth-bench-logs-'));
  const registry = await startRegistry();
  const env = { ...process.env, DOCKER_CONFIG: join(work, 'docker-config'), DOCKER_CLI_HINTS: 'false' };
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const { ref } = await pushBusyboxImage(registry.url, 'busybox', 'latest');
    const agent = await startBerthAgent(mkdtempSync(join(work, 'berth-')));
    stops.push(() => agent.stop({ removeCgroups: true }));
    const berth = await measure(agent.cli.sock, ref, lines, rounds, env);

    let docker: LogsBench['docker'];
    if (!dockerUnavailable()) {
      // The shared private daemon: nothing of the host's is touched, everything it made goes.
      const daemon = await startDockerDaemon({ insecureRegistries: [registry.url] });
      stops.push(async () => {
        for (const forced of await daemon.stop()) console.error(`bench: had to ${forced}`);
      });
      const m = await measure(daemon.cli.sock, ref, lines, rounds, env);
      docker = { captureMs: m.captureMs, tailCliMs: m.tailCliMs, readBackMs: m.readBackMs };
    }
    return { lines, ...berth, docker };
  } finally {
    for (const stop of stops.reverse()) await stop();
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
