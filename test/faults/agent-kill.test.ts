// The agent is killed with SIGKILL in the middle of a pull, a start, a stop and an exec, and
// started again on the same root each time. Meanwhile a container started before all of it
// keeps running (its monitor outlives the agent) and its log goes on unbroken. Afterwards:
// the interrupted pull left no image (and a new pull gives the whole image, its content
// intact), the interrupted start left the container either running for real or not running
// with nothing of it left behind, the container whose stop was interrupted is exited with the
// code it exited with while no agent watched, the interrupted exec's process is gone (a
// detached exec's runs on), and
// `docker ps -a` lists exactly the containers made: no half container, no ghost.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkImageStore } from '../../agent/engine/images/integrity';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { freePort } from '../fixtures/free-port';
import { busyboxLayer } from '../fixtures/netns';
import { alive } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually, sleep } from '../fixtures/wait';
import { countingCommand } from './support/follow';

const BASE = 'faults/busybox:kill';
const BIG = 16 << 20;

/** A TCP front for the registry that sends its answers at `rate` bytes/s (0: as fast as it can), counting what it sent. */
class SlowFront {
  readonly server = net.createServer((c) => this.accept(c));
  sent = 0;
  rate = 2 << 20;
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly target: number) {}

  async listen(): Promise<void> {
    this.port = await freePort();
    await new Promise<void>((r) => this.server.listen(this.port, '127.0.0.1', r));
  }

  private accept(c: net.Socket): void {
    const u = net.connect(this.target, '127.0.0.1');
    for (const s of [c, u]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => (c.destroy(), u.destroy()));
    }
    c.pipe(u);
    u.on('data', (d: Buffer) => {
      this.sent += d.length;
      c.write(d);
      if (!this.rate) return;
      u.pause();
      setTimeout(() => u.resume(), (d.length / this.rate) * 1000);
    });
    u.on('end', () => c.end());
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A docker CLI call left running (the agent dies under it); its exit code and output when it ends. */
function dockerAsync(agent: AgentProcess, args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn('timeout', ['-k', '5', '120', 'docker', '-H', `unix://${agent.sock}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DOCKER_CONFIG: path.join(agent.tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, done: new Promise((r) => child.once('exit', (code) => r({ code, out }))) };
}

/** Pids of the processes whose argv is exactly `argv`. */
function pidsOf(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8') === want) pids.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

interface Inspected {
  Id: string;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number; Error: string };
}

describe('the agent is SIGKILLed mid-pull, mid-start, mid-stop and mid-exec', { timeout: 6 * 60_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let front: SlowFront;
  let agent: AgentProcess;
  let bigRef = '';
  let bigSum = '';
  let keeper = '';
  let keeperPid = 0;
  const made: string[] = [];

  const inspect = (id: string) => (JSON.parse(agent.ok(['inspect', id])) as Inspected[])[0];
  const killAndRestart = async (between?: () => Promise<unknown>) => {
    await agent.kill('SIGKILL');
    await between?.();
    await agent.restart();
  };

  before(async () => {
    registry = await startRegistry();
    const big = randomBytes(BIG);
    bigSum = createHash('sha256').update(big).digest('hex');
    const port = Number(new URL(`http://${registry.url}`).port);
    front = new SlowFront(port);
    await front.listen();
    await pushBusyboxImage(registry.url, 'faults/big', 'v1', { extraLayers: [[{ path: 'big', type: 'file', mode: 0o644, mtime: 1_700_000_000, data: big }]] });
    bigRef = `127.0.0.1:${front.port}/faults/big:v1`;
    agent = await startAgentProcess('fault-kill');
    agent.ok(['import', '-', BASE], { input: await busyboxLayer() });
    keeper = agent.ok(['run', '-d', '--name', 'keeper', BASE, ...countingCommand(100_000, 0.05)]).trim();
    made.push(keeper);
    keeperPid = inspect(keeper).State.Pid;
  });

  after(async () => {
    if (agent) {
      for (const id of agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) agent.docker(['rm', '-f', id]);
      await agent.stop();
    }
    await front?.close();
    await registry?.stop();
  });

  test('a pull: no half image afterwards, and a new pull gives the whole of it', async (t) => {
    front.rate = 2 << 20;
    front.sent = 0;
    const pull = dockerAsync(agent, ['pull', bigRef]);
    await eventually('a third of the big layer sent', () => front.sent > BIG / 3, 60_000, 20);
    const sentAtKill = front.sent;
    await killAndRestart();
    const cli = await pull.done;
    assert.notEqual(cli.code, 0, `the CLI's pull did not claim success: ${cli.out}`);

    const listed = agent.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']).split('\n');
    assert.ok(!listed.includes(bigRef), `no half image listed: ${listed.join(', ')}`);
    assert.notEqual(agent.docker(['image', 'inspect', bigRef]).status, 0, 'no image by that name');
    const report = await checkImageStore(path.join(agent.root, 'images'), { deep: true });
    assert.deepEqual(report.problems, [], 'the image store is consistent');
    assert.deepEqual(report.leftovers, [], "the new agent removed what the killed pull left (its ingest, its unfinished layer)");

    // Through the front, so not with the CLI calls that block this process (and the front with it).
    front.rate = 0;
    const again = await dockerAsync(agent, ['pull', bigRef]).done;
    assert.equal(again.code, 0, `a new pull works: ${again.out}`);
    const sum = agent.ok(['run', '--rm', bigRef, 'sha256sum', '/big']).split(/\s/)[0];
    assert.equal(sum, bigSum, "the re-pulled image's big file is whole");
    t.diagnostic(`killed with ${sentAtKill} of ~${BIG} bytes sent; the CLI said: ${cli.out.trim().split('\n').at(-1)}`);
  });

  test('a start: running for real, or not running with nothing left of it', async (t) => {
    const id = agent.ok(['create', '--name', 'starter', BASE, 'sleep', '3602']).trim();
    made.push(id);
    const conf = path.join(agent.root, 'containers', id, 'run', 'monitor.conf');
    const start = dockerAsync(agent, ['start', id]);
    // The agent writes the monitor's configuration just before it launches it.
    await eventually('the start under way', () => existsSync(conf), 30_000, 2);
    await killAndRestart();
    await start.done;

    const s = inspect(id).State;
    const processes = pidsOf(['sleep', '3602']);
    if (s.Running) {
      assert.ok(alive(s.Pid), `running with a live pid ${s.Pid}`);
      assert.equal(processes.length, 1, 'one process of it');
      agent.ok(['exec', id, 'true']);
    } else {
      assert.deepEqual(processes, [], 'not running, and no process of it left');
      agent.ok(['start', id]);
      assert.equal(inspect(id).State.Running, true, 'it starts now');
    }
    assert.equal(pidsOf(['sleep', '3602']).length, 1, 'exactly one process of it now');
    t.diagnostic(`after the interrupted start: ${s.Status}${s.Error ? ` (${s.Error})` : ''}`);
  });

  test('a stop: exited with the code it exited with while no agent watched', async () => {
    // It takes its time over SIGTERM, then exits with 3.
    const id = agent.ok(['run', '-d', '--name', 'stopper', BASE, 'sh', '-c', "trap 'echo got TERM; sleep 1; exit 3' TERM; while true; do sleep 0.1; done"]).trim();
    made.push(id);
    const logPath = (JSON.parse(agent.ok(['inspect', id])) as Array<{ LogPath: string }>)[0].LogPath;
    const stop = dockerAsync(agent, ['stop', '-t', '30', id]);
    await eventually('SIGTERM delivered', () => readFileSync(logPath, 'utf8').includes('got TERM'), 30_000, 20);
    const pid = inspect(id).State.Pid;
    await killAndRestart(() => eventually('it exited meanwhile', () => !alive(pid), 30_000));
    await stop.done;
    const s = inspect(id).State;
    assert.equal(s.Running, false);
    assert.equal(s.Status, 'exited');
    assert.equal(s.ExitCode, 3, 'the exit code the monitor recorded');
    assert.match(agent.ok(['ps', '-a', '--filter', `id=${id}`, '--format', '{{.Status}}']), /^Exited \(3\)/);
  });

  test("an exec: its process is gone (nobody is left to read it); a detached exec's runs on", async () => {
    agent.ok(['exec', '-d', keeper, 'sleep', '3604']);
    await eventually("the detached exec's process", () => pidsOf(['sleep', '3604']).length === 1, 30_000, 10);
    const exec = dockerAsync(agent, ['exec', keeper, 'sleep', '3603']);
    await eventually("the exec's process", () => pidsOf(['sleep', '3603']).length === 1, 30_000, 10);
    await killAndRestart();
    const cli = await exec.done;
    assert.notEqual(cli.code, 0, `the CLI's exec did not end as if all was well: ${cli.out}`);
    await eventually("the exec's process gone", () => pidsOf(['sleep', '3603']).length === 0, 15_000).catch((err: Error) => {
      throw new Error(`${err.message}: pids ${pidsOf(['sleep', '3603']).join(', ')}`);
    });
    assert.equal(pidsOf(['sleep', '3604']).length, 1, 'the detached one still runs');
  });

  test('the container started before it all ran on, its log unbroken; no ghost, none missing', async () => {
    const s = inspect(keeper).State;
    assert.equal(s.Running, true);
    assert.equal(s.Pid, keeperPid, 'the same process all along');
    const lines = agent.ok(['logs', keeper]).trim().split('\n');
    assert.ok(lines.length > 50, `${lines.length} lines`);
    assert.deepEqual(lines, Array.from({ length: lines.length }, (_, i) => `line ${i + 1}`), 'every line once, in order');
    await sleep(300);
    assert.ok(agent.ok(['logs', '--tail', '1', keeper]).trim() !== lines.at(-1), 'and it goes on');
    const all = agent.ok(['ps', '-aq', '--no-trunc']).trim().split('\n').sort();
    assert.deepEqual(all, [...made].sort(), 'exactly the containers made');
  });
});
