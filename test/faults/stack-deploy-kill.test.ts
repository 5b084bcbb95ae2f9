// The agent is killed with SIGKILL in the middle of a stack deploy and started again on the
// same root: while the deploy waits for a dependency to be healthy, while it stops the old
// container of a service it recreates, and as it creates a container. Each time, afterwards:
// every container the engine reports exists and is in its real state (running ⇔ its process
// is alive), there is no half-created container (no record-less directory, no process of a
// container the engine does not list), the stack's summary (what the link's snapshot carries)
// and its detail (the stack page) show what is there and say the interrupted deploy did not
// finish, the stored compose file is the one deployed, and a redeploy finishes the job.
// The agent is the link's command handler over stdin (test/integration/support/stacks-agent.ts),
// the same path the control plane's stack commands take.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cgroupParentFor } from '../../agent/engine/index';
import type { CommandResult } from '../../protocol/agent-link';
import type { StackDetail, StackPlan, StackSummary } from '../../protocol/stacks';
import { busyboxLayer, createNetns, type Netns } from '../fixtures/netns';
import { alive, mountsUnder, removeCgroupParent } from '../fixtures/processes';
import { eventually } from '../fixtures/wait';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const NAME = 'shop';

/** Three services: web waits for db to be healthy (which it is once /tmp/ready exists), worker starts after web. `tag` changes web's and worker's definitions. */
const stackFile = (tag: string) => `services:
  db:
    image: bb:test
    command: ["sleep", "3610"]
    healthcheck:
      test: ["CMD-SHELL", "test -e /tmp/ready"]
      interval: 200ms
      retries: 100000
  web:
    image: bb:test
    command: ["sleep", "3611"]
    environment: {TAG: "${tag}"}
    stop_grace_period: 5s
    depends_on:
      db: {condition: service_healthy}
  worker:
    image: bb:test
    command: ["sleep", "3612"]
    environment: {TAG: "${tag}"}
    depends_on: [web]
`;

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
  Name: string;
  State: { Status: string; Running: boolean; Pid: number };
  Config: { Labels: Record<string, string> };
}

describe('the agent is SIGKILLed in the middle of a stack deploy', { skip: process.getuid?.() !== 0 && 'needs root', timeout: 6 * 60_000 }, () => {
  let ns: Netns;
  let agent: ChildProcessWithoutNullStreams | undefined;
  let log = '';
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-stack-kill-'));
  const root = path.join(tmp, 'root');
  const sock = path.join(tmp, 'docker.sock');
  let waiting = new Map<number, (r: CommandResult) => void>();
  let asked = 0;

  const launch = async () => {
    const child = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '--import', 'tsx', path.join(repoRoot, 'test/integration/support/stacks-agent.ts'), '--root', root, '--sock', sock], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    agent = child;
    waiting = new Map();
    let buf = '';
    let ready = false;
    child.stderr.on('data', (d) => (log += d));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('RESULT ')) {
          const { n, res } = JSON.parse(line.slice(7)) as { n: number; res: CommandResult };
          waiting.get(n)?.(res);
          waiting.delete(n);
        } else if (line === 'READY') ready = true;
        else log += line + '\n';
      }
    });
    await eventually('the agent to be ready', () => ready || child.exitCode !== null, 60_000);
    if (!ready) throw new Error(`the agent exited (${child.exitCode}):\n${log.slice(-3000)}`);
  };
  /** SIGKILL: no clean-up of any kind; then a new agent on the same root. */
  const killAndRestart = async () => {
    const a = agent!;
    const gone = new Promise((r) => a.once('exit', r));
    a.kill('SIGKILL');
    await gone;
    await launch();
  };
  const command = <T>(cmd: object): Promise<CommandResult<T>> =>
    new Promise((resolve) => {
      const n = ++asked;
      waiting.set(n, resolve as (r: CommandResult) => void);
      agent!.stdin.write(JSON.stringify({ n, cmd }) + '\n');
    });
  const ok = async <T>(cmd: object): Promise<T> => {
    const r = await command<T>(cmd);
    if (!r.ok) throw new Error(`${JSON.stringify(cmd).slice(0, 200)} failed (${r.status}): ${r.error}\nagent log:\n${log.slice(-3000)}`);
    return r.result as T;
  };
  const docker = (args: string[]) => {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${sock}`, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'dcfg'), DOCKER_CLI_HINTS: 'false' } });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}\nagent log:\n${log.slice(-3000)}`);
    return r.stdout;
  };
  const all = (): Inspected[] => {
    const ids = docker(['ps', '-aq', '--no-trunc']).split('\n').filter(Boolean);
    return ids.length ? (JSON.parse(docker(['inspect', ...ids])) as Inspected[]) : [];
  };
  /** Starts a deploy (it is never answered: the agent dies under it) and waits until its last step (with `any`: some step) matches `re`; the last step then. */
  const deployUntil = async (compose: string, re: RegExp, any = false) => {
    void command({ op: 'stacks.deploy', name: NAME, compose });
    let last = '';
    await eventually(`the deploy at a step matching ${re}`, async () => {
      const d = await ok<StackDetail>({ op: 'stacks.get', name: NAME }).catch(() => undefined);
      const steps = d?.operation?.steps.map((x) => x.text) ?? [];
      last = steps.at(-1) ?? '';
      return any ? steps.some((x) => re.test(x)) : re.test(last);
    }, 60_000, 5);
    return last;
  };

  /**
   * What must hold after any kill: each listed container is in its real state, its processes
   * are the ones of listed containers only, nothing record-less is left in the root, and the
   * stack's summary and page agree with the engine and say the deploy was cut short.
   */
  const checkTrueState = async (compose: string) => {
    const cs = all();
    for (const c of cs) {
      if (c.State.Running) assert.ok(c.State.Pid > 0 && alive(c.State.Pid), `${c.Name} is running with a live pid (${c.State.Pid})`);
      else assert.equal(c.State.Pid, 0, `${c.Name} is ${c.State.Status}, with no pid`);
    }
    const listed = new Map(cs.map((c) => [c.Config.Labels['com.docker.compose.service'], c]));
    for (const [svc, argv] of [['db', ['sleep', '3610']], ['web', ['sleep', '3611']], ['worker', ['sleep', '3612']]] as const) {
      const c = listed.get(svc);
      const want = c?.State.Running ? 1 : 0;
      assert.equal(pidsOf([...argv]).length, want, `${svc}: ${want} process of it (its container ${c ? c.State.Status : 'not listed'})`);
    }
    assert.equal(new Set(cs.map((c) => c.Config.Labels['com.docker.compose.service'])).size, cs.length, 'one container per service, no duplicate');
    const dirs = readdirSync(path.join(root, 'containers')).filter((d) => /^[0-9a-f]{64}$/.test(d));
    assert.deepEqual(dirs.sort(), cs.map((c) => c.Id).sort(), 'a directory in the root for each listed container, and none else (no half-created one)');

    const detail = await ok<StackDetail>({ op: 'stacks.get', name: NAME });
    assert.equal(detail.compose, compose, 'the stored compose file is the one deployed');
    const onPage = detail.serviceList.flatMap((s) => s.containers.map((c) => `${s.name} ${c.id} ${c.state}`)).sort();
    assert.deepEqual(onPage, cs.map((c) => `${c.Config.Labels['com.docker.compose.service']} ${c.Id} ${c.State.Status}`).sort(), "the stack page's containers are the engine's, in their states");
    assert.equal(detail.busy, undefined, 'no operation is shown as under way');
    assert.equal(detail.operation?.kind, 'deploy', 'the page shows the last operation');
    assert.match(detail.operation?.error ?? '', /interrupted/, 'and that it did not finish');
    const [summary] = (await ok<StackSummary[]>({ op: 'stacks.list' })).filter((s) => s.name === NAME);
    assert.deepEqual(
      { containers: summary.containers, running: summary.running, services: summary.services, busy: summary.busy },
      // The summary counts the services that have containers (the page lists the file's too).
      { containers: cs.length, running: cs.filter((c) => c.State.Running).length, services: listed.size, busy: undefined },
      "the snapshot's stack summary counts what is there",
    );
    return cs;
  };

  /** A redeploy of the stored files: all three running, one container each, their processes the only ones. */
  const redeployFinishes = async (tag: string) => {
    const plan = await ok<StackPlan>({ op: 'stacks.deploy', name: NAME });
    const cs = all();
    assert.deepEqual(cs.map((c) => c.Config.Labels['com.docker.compose.service']).sort(), ['db', 'web', 'worker']);
    for (const c of cs) assert.ok(c.State.Running && alive(c.State.Pid), `${c.Name} runs`);
    for (const argv of [['sleep', '3610'], ['sleep', '3611'], ['sleep', '3612']]) assert.equal(pidsOf(argv).length, 1, `one ${argv.join(' ')}`);
    const env = (JSON.parse(docker(['inspect', `${NAME}-worker-1`])) as Array<{ Config: { Env: string[] } }>)[0].Config.Env;
    assert.ok(env.includes(`TAG=${tag}`), `worker has the deployed definition (${env.join(' ')})`);
    const d = await ok<StackDetail>({ op: 'stacks.get', name: NAME });
    assert.equal(d.status, 'running');
    assert.equal(d.operation?.error, undefined, 'the redeploy finished');
    return plan;
  };

  before(async () => {
    ns = createNetns('stackkill');
    await launch();
    const r = spawnSync('docker', ['-H', `unix://${sock}`, 'import', '-c', 'CMD ["sh"]', '-', 'bb:test'], { input: await busyboxLayer(), env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'dcfg') } });
    assert.equal(r.status, 0, r.stderr?.toString());
  });

  after(async () => {
    try {
      if (agent && agent.exitCode === null) {
        await command({ op: 'stacks.down', name: NAME, volumes: true, forget: true });
        const left = docker(['ps', '-aq']).split('\n').filter(Boolean);
        if (left.length) spawnSync('docker', ['-H', `unix://${sock}`, 'rm', '-f', ...left]);
        const a = agent;
        const gone = new Promise((r) => a.once('exit', r));
        a.kill('SIGTERM');
        await gone;
        assert.deepEqual(mountsUnder(root), []);
      }
    } finally {
      removeCgroupParent(cgroupParentFor(root));
      ns?.remove();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('killed while the deploy waits for a dependency to be healthy', async (t) => {
    const compose = stackFile('one');
    await deployUntil(compose, /web: wait for db to be healthy/);
    const dbPid = (all()[0] as Inspected).State.Pid;
    await killAndRestart();
    const cs = await checkTrueState(compose);
    assert.deepEqual(cs.map((c) => `${c.Name} ${c.State.Status}`), ['/shop-db-1 running'], 'db, the one container made, runs on');
    assert.equal(cs[0].State.Pid, dbPid, 'the same process all along');
    docker(['exec', `${NAME}-db-1`, 'touch', '/tmp/ready']);
    const plan = await redeployFinishes('one');
    assert.deepEqual(plan.services.map((s) => `${s.service}: ${s.action}`), ['db: unchanged', 'web: create', 'worker: create']);
    t.diagnostic(`after the kill: ${cs.map((c) => `${c.Name} ${c.State.Status}`).join(', ')}`);
  });

  test('killed while the deploy stops the old container of a service it recreates', async (t) => {
    const compose = stackFile('two');
    const webBefore = all().find((c) => c.Name === '/shop-web-1')!;
    // sleep as a pid namespace's init ignores SIGTERM: the stop waits out web's 5 s grace period.
    await deployUntil(compose, /^stop and remove shop-web-1$/);
    await killAndRestart();
    const cs = await checkTrueState(compose);
    const web = cs.find((c) => c.Name === '/shop-web-1');
    // The agent died before its SIGKILL: the old web runs on (or, if the stop got that far, is exited).
    if (web) assert.equal(web.Id, webBefore.Id, 'web is still the old container');
    const plan = await redeployFinishes('two');
    assert.deepEqual(plan.services.map((s) => `${s.service}: ${s.action}`), ['db: unchanged', `web: ${web ? 'recreate' : 'create'}`, 'worker: recreate']);
    t.diagnostic(`after the kill: ${cs.map((c) => `${c.Name} ${c.State.Status}`).join(', ')}`);
  });

  test('killed as the deploy creates and starts a container', async (t) => {
    const compose = stackFile('three');
    const workerBefore = all().find((c) => c.Name === '/shop-worker-1')!;
    // Creating takes milliseconds: the kill lands as soon as it is seen begun (in the create, the start, or the stop of the old worker after them).
    const last = await deployUntil(compose, /^create shop-web-1$/, true);
    await killAndRestart();
    const cs = await checkTrueState(compose);
    assert.equal(cs.find((c) => c.Name === '/shop-worker-1')?.Id, workerBefore.Id, 'worker, which comes after web, is still the old one');
    await redeployFinishes('three');
    assert.deepEqual(readdirSync(path.join(root, 'stacks', NAME)), ['compose.yaml'], "the stack's directory holds its file and nothing half-written");
    t.diagnostic(`killed at "${last}"; after the kill: ${cs.map((c) => `${c.Name} ${c.State.Status}`).join(', ')}`);
  });
});
