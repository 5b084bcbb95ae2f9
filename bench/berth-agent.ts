// Berth's agent for the benchmarks, started as a host runs it: the compiled bundle
// (build/agent/berth-agent.mjs, which setup builds) under plain node, with a root and a
// Docker API socket in a temp dir. Its output goes to a file, not a pipe, so a benchmark
// blocked in a synchronous docker CLI call can never stall the agent on a full pipe.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cgroupParentFor } from '../agent/engine/index';
import { agentBundle } from '../scripts/agent-bundle.mjs';
import { removeCgroupParent } from '../test/fixtures/processes';
import { alive, dockerCli, pssKb, rssKb, waitForPing, type DockerCli } from './cli';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BerthAgent {
  pid: number;
  cli: DockerCli;
  /** From spawn to the first /_ping answer. */
  startMs: number;
  rssKb(): number;
  pssKb(): number;
  log(): string;
  /** SIGTERM and wait. Containers must be gone by then if `removeCgroups`. */
  stop(opts?: { removeCgroups?: boolean }): Promise<void>;
}

/** `via: 'tsx'` runs the sources through tsx instead, the way the agent ran before it was compiled.
 *  `netns`: a network namespace path (/run/netns/NAME) to run it in, with nsenter (the agent's pid stays its own). */
export async function startBerthAgent(dir: string, opts: { via?: 'bundle' | 'tsx'; netns?: string } = {}): Promise<BerthAgent> {
  const root = path.join(dir, 'root');
  const sock = path.join(dir, 'docker.sock');
  const logFile = path.join(dir, 'agent.log');
  const logFd = openSync(logFile, 'a');
  const script = opts.via === 'tsx' ? ['--import', 'tsx', path.join(repoRoot, 'agent', 'main.ts')] : [agentBundle];
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const t0 = performance.now();
  // In the machine's own namespace the agent gets no bridge (as the benchmark's dockerd, --bridge=none):
  // a container on the default network (a build's RUN) must not touch the machine's network setup.
  const argv = [process.execPath, ...script, '--root', root, '--docker-socket', sock, ...(opts.netns ? [] : ['--bridge', 'none'])];
  const [cmd, ...args] = opts.netns ? ['nsenter', `--net=${opts.netns}`, '--', ...argv] : argv;
  const child: ChildProcess = spawn(cmd, args, { cwd: repoRoot, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const pid = child.pid!;
  const startMs = await waitForPing(sock, t0, () => alive(pid), 'the Berth agent').catch((e: Error) => {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    throw new Error(`${e.message}\nagent log:\n${log().slice(-3000)}`);
  });
  return {
    pid,
    cli: dockerCli(sock, path.join(dir, 'cli'), () => `\nagent log:\n${log().slice(-2000)}`),
    startMs,
    rssKb: () => rssKb(pid),
    pssKb: () => pssKb(pid),
    log,
    async stop({ removeCgroups = true } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        process.kill(pid, 'SIGTERM');
        await gone;
      }
      if (removeCgroups) removeCgroupParent(cgroupParentFor(root));
    },
  };
}
