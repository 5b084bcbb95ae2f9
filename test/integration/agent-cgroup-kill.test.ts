// A service manager stopping the agent kills every process in the agent's cgroup
// (systemd's default KillMode=control-group). Monitors live in groups of their own, so
// the containers keep running, and the next agent finds them with their true state and
// can stop them. A real agent process, the real docker CLI; needs root.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { cgroupParentFor } from '../../agent/engine/index';
import { busyboxStore } from '../fixtures/local-image';
import { alive, removeCgroupParent } from '../fixtures/processes';
import { eventually } from '../fixtures/wait';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
// The unit the test plays: a group in the named systemd hierarchy (what systemd kills),
// in a v1 controller, and in the unified tree where one is mounted.
const hybrid = ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified'].filter((h) => existsSync(path.join(h, 'cgroup.procs')));
const unitGroups = (hybrid.length ? hybrid : ['/sys/fs/cgroup']).map((h) => path.join(h, `berth-test-unit-${process.pid}`));

let tmp = '';
const agents: ChildProcess[] = [];

after(() => {
  for (const a of agents) if (a.exitCode === null && a.signalCode === null) a.kill('SIGKILL');
  for (const g of unitGroups) if (existsSync(g)) rmdirSync(g);
  if (tmp) {
    removeCgroupParent(cgroupParentFor(path.join(tmp, 'root')));
    rmSync(tmp, { recursive: true, force: true });
  }
});

function ping(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: sock, path: '/_ping' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

test('killing the agent\'s whole cgroup leaves containers running; the next agent sees and stops them', { skip: !isRoot && 'needs root', timeout: 120_000 }, async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-unitkill-'));
  const root = path.join(tmp, 'root');
  const sock = path.join(tmp, 'docker.sock');
  await busyboxStore(path.join(root, 'images'));
  for (const g of unitGroups) mkdirSync(g);

  let log = '';
  const startAgent = async (inUnit: boolean) => {
    // A shell joins the unit's groups, then becomes the agent: everything it starts is in the unit.
    const join = inUnit ? unitGroups.map((g) => `echo $$ > ${g}/cgroup.procs || exit 99; `).join('') : '';
    const a = spawn('sh', ['-c', `${join}exec "$@"`, 'sh', process.execPath, '--import', 'tsx', path.join(repoRoot, 'agent/main.ts'), '--root', root, '--docker-socket', sock], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agents.push(a);
    a.stdout?.on('data', (d) => (log += d));
    a.stderr?.on('data', (d) => (log += d));
    await eventually('the agent to answer /_ping', async () => a.exitCode === null && (await ping(sock)), 30_000, 100).catch((e) => {
      throw new Error(`${(e as Error).message}; agent log:\n${log}`);
    });
    return a;
  };
  const docker = (...args: string[]) => {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${sock}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    assert.equal(r.status, 0, `docker ${args.join(' ')}: ${r.stderr}\nagent log:\n${log.slice(-2000)}`);
    return r.stdout.trim();
  };
  const procs = (g: string) => readFileSync(path.join(g, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

  const first = await startAgent(true);
  const id = docker('run', '-d', '--network', 'none', 'busybox:test', 'sleep', '1000');
  const pid = Number(docker('inspect', '-f', '{{.State.Pid}}', id));
  const monitor = Number(readFileSync(path.join(root, 'containers', id, 'run', 'monitor.pid'), 'utf8'));
  for (const g of unitGroups) {
    const inUnit = procs(g);
    assert.ok(inUnit.includes(first.pid!), `the agent is in ${g}`);
    assert.ok(!inUnit.includes(monitor) && !inUnit.includes(pid), `neither the monitor nor the container is in ${g}`);
  }

  // What systemd does on stop: SIGKILL to every process in the unit until none is left.
  await eventually(
    'the unit to be empty',
    () => {
      const left = unitGroups.flatMap(procs);
      for (const p of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      return left.length === 0;
    },
    10_000,
    50,
  );
  await eventually('the killed agent to be reaped', () => first.exitCode !== null || first.signalCode !== null, 5000, 50);
  assert.ok(alive(monitor), 'the monitor survived');
  assert.ok(alive(pid), 'the container survived');

  const second = await startAgent(false);
  assert.equal(docker('ps', '-q', '--no-trunc'), id);
  assert.equal(docker('inspect', '-f', '{{.State.Status}} {{.State.Pid}}', id), `running ${pid}`);
  // sleep as PID 1 ignores SIGTERM: the SIGKILL after the timeout, through the monitor, ends it.
  docker('stop', '-t', '1', id);
  assert.equal(docker('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id), 'exited 137');
  assert.ok(!alive(pid) && !alive(monitor));
  docker('rm', id);
  const gone = new Promise((r) => second.once('exit', r));
  second.kill('SIGTERM');
  await gone;
});
