// Compose stacks run by Berth's own engine, through the link's commands, in a network
// namespace of the test's own, with Debian's docker-compose 1.29 as the other client on the
// same agent socket: a stack Berth deploys is one docker-compose sees as its project (the
// labels, names and network are compose's), and a project docker-compose started shows up
// as an external stack Berth can stop, start and take down but not redeploy. An edit
// recreates only the changed service; what Berth does not implement is refused by name.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cgroupParentFor } from '../../agent/engine/index';
import type { CommandResult } from '../../protocol/agent-link';
import type { StackDetail, StackPlan, StackSummary } from '../../protocol/stacks';
import net from 'node:net';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { busyboxLayer, createNetns, type Netns } from '../fixtures/netns';
import { startRegistry } from '../fixtures/registry';
import { mountsUnder, removeCgroupParent } from '../fixtures/processes';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const haveCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
const repoRoot = path.resolve(import.meta.dirname, '../..');

const stackFile = (greeting: string) => `services:
  db:
    image: bb:test
    init: true
    command: ["sh", "-c", "echo $$DB_GREETING > /data/greeting && exec nc -ll -p 7000 -e cat /data/greeting"]
    env_file: db.env
    volumes: ["dbdata:/data"]
    healthcheck:
      test: ["CMD-SHELL", "test -s /data/greeting"]
      interval: 300ms
      retries: 100
  web:
    image: bb:test
    init: true
    environment:
      GREETING: "${greeting}"
      TAG: \${TAG:-none}
    command: ["sh", "-c", "mkdir -p /www && echo $$GREETING-$$TAG:$$(nc db 7000) > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["8080:80"]
    volumes: ["./site:/site:ro"]
    depends_on:
      db: {condition: service_healthy}
    labels: {team: blue}
volumes:
  dbdata:
`;

describe('stacks on the engine, and docker-compose 1.29 on the same socket', { skip: (!isRoot && 'needs root') || (!haveCompose && 'needs docker-compose'), timeout: 600_000 }, () => {
  let ns: Netns;
  let agent: ChildProcessWithoutNullStreams;
  let log = '';
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-stacks-'));
  const root = path.join(tmp, 'root');
  const sock = path.join(tmp, 'docker.sock');
  const cliDir = path.join(tmp, 'cli');
  const waiting = new Map<number, (r: CommandResult) => void>();
  let asked = 0;

  const command = <T>(cmd: object): Promise<CommandResult<T>> =>
    new Promise((resolve) => {
      const n = ++asked;
      waiting.set(n, resolve as (r: CommandResult) => void);
      agent.stdin.write(JSON.stringify({ n, cmd }) + '\n');
    });
  const ok = async <T>(cmd: object): Promise<T> => {
    const r = await command<T>(cmd);
    if (!r.ok) throw new Error(`${JSON.stringify(cmd).slice(0, 200)} failed (${r.status}): ${r.error}\nagent log:\n${log.slice(-3000)}`);
    return r.result as T;
  };
  const docker = (args: string[]) => {
    const r = spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${sock}`, ...args], { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'dcfg') } });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const compose = (project: string, args: string[], cwd = cliDir) => {
    const r = spawnSync('timeout', ['-k', '5', '120', 'docker-compose', '--ansi', 'never', '-p', project, ...args], { cwd, encoding: 'utf8', env: { ...process.env, DOCKER_HOST: `unix://${sock}` } });
    if (r.status !== 0) throw new Error(`docker-compose ${args.join(' ')} (${r.status}): ${r.stdout}${r.stderr}\nagent log:\n${log.slice(-3000)}`);
    return r.stdout + r.stderr;
  };
  const inspect = (name: string) =>
    JSON.parse(docker(['inspect', name]))[0] as { Id: string; Name: string; State: { StartedAt: string; Running: boolean }; Config: { Labels: Record<string, string>; Env: string[] }; NetworkSettings: { Networks: Record<string, unknown> }; Mounts: Array<{ Type: string; Source: string; Destination: string; Name?: string; RW: boolean }> };
  const curl = (url: string) => {
    const r = spawnSync('nsenter', [`--net=${ns.path}`, '--', 'curl', '-sf', '-m', '2', url], { encoding: 'utf8', timeout: 10_000 });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };

  before(async () => {
    ns = createNetns('stacks');
    agent = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '--import', 'tsx', path.join(repoRoot, 'test/integration/support/stacks-agent.ts'), '--root', root, '--sock', sock], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let buf = '';
    agent.stderr.on('data', (d) => (log += d));
    agent.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.startsWith('RESULT ')) {
          const { n, res } = JSON.parse(line.slice(7)) as { n: number; res: CommandResult };
          waiting.get(n)?.(res);
          waiting.delete(n);
        }
        else log += line + '\n';
      }
    });
    await eventually('the agent to be ready', () => log.includes('READY'), 60_000);
    spawnSync('docker', ['-H', `unix://${sock}`, 'import', '-c', 'CMD ["sh"]', '-', 'bb:test'], { input: await busyboxLayer(), env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'dcfg') } });
  });

  after(async () => {
    try {
      if (agent && agent.exitCode === null) {
        for (const p of ['shop', 'cliproj', 'pulled', 'slow']) await command({ op: 'stacks.down', name: p, volumes: true });
        spawnSync('docker', ['-H', `unix://${sock}`, 'rm', '-f', ...docker(['ps', '-aq']).split('\n').filter(Boolean)]);
        spawnSync('docker', ['-H', `unix://${sock}`, 'network', 'prune', '-f']);
        spawnSync('docker', ['-H', `unix://${sock}`, 'volume', 'prune', '-f']);
        const gone = new Promise((r) => agent.once('exit', r));
        agent.kill('SIGTERM');
        await gone;
        assert.deepEqual(mountsUnder(root), []);
        removeCgroupParent(cgroupParentFor(root));
      }
    } finally {
      ns?.remove();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('refuses a key Berth does not implement by its path and line, and stores nothing', async () => {
    const r = await command({ op: 'stacks.deploy', name: 'shop', compose: 'services:\n  web:\n    image: bb:test\n    deploy:\n      resources: {limits: {cpus: "1"}}\n' });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.status, 400);
    assert.match(!r.ok ? r.error : '', /line 4: services\.web\.deploy: not supported by Berth/);
    const v = await ok<Array<{ path: string; line?: number }>>({ op: 'stacks.validate', name: 'shop', compose: 'services:\n  web:\n    image: bb:test\n    env_file: missing.env\n' });
    assert.deepEqual(v.map((i) => i.path), ['services.web.env_file']);
    assert.deepEqual(await ok<StackSummary[]>({ op: 'stacks.list' }), []);
  });

  it('deploys a two-service stack in dependency order with compose\'s names and labels, and docker-compose sees it as its project', async () => {
    // The env_file and the bind mount's source are relative to the stack's directory in the agent's root.
    // The env_file is not there yet: the deploy says so and changes nothing.
    const missing = await command({ op: 'stacks.deploy', name: 'shop', compose: stackFile('hello'), env: 'TAG=v1\n' });
    assert.match(!missing.ok ? missing.error : '', /services\.db\.env_file: cannot read db\.env/);
    assert.deepEqual(await ok<StackSummary[]>({ op: 'stacks.list' }), []);
    const dir = path.join(root, 'stacks', 'shop');
    spawnSync('mkdir', ['-p', dir]);
    writeFileSync(path.join(dir, 'db.env'), 'DB_GREETING=from-db\n');
    const plan0 = await ok<StackPlan>({ op: 'stacks.plan', name: 'shop', compose: stackFile('hello'), env: 'TAG=v1\n' });
    assert.deepEqual(plan0.services.map((s) => `${s.service}:${s.action}`), ['db:create', 'web:create']);
    assert.deepEqual(plan0.networks, [{ name: 'shop_default', action: 'create' }]);
    assert.deepEqual(plan0.volumes, [{ name: 'shop_dbdata', action: 'create' }]);
    await ok({ op: 'stacks.deploy', name: 'shop', compose: stackFile('hello'), env: 'TAG=v1\n' });
    assert.equal(readFileSync(path.join(dir, 'compose.yaml'), 'utf8'), stackFile('hello'));
    assert.equal(readFileSync(path.join(dir, '.env'), 'utf8'), 'TAG=v1\n');
    assert.equal(statSync(path.join(dir, 'compose.yaml')).mode & 0o777, 0o600);

    const db = inspect('shop-db-1');
    const web = inspect('shop-web-1');
    const imageId = JSON.parse(docker(['image', 'inspect', 'bb:test']))[0].Id as string;
    const { 'com.docker.compose.config-hash': hash, ...labels } = web.Config.Labels;
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(labels, {
      team: 'blue',
      'com.docker.compose.project': 'shop',
      'com.docker.compose.service': 'web',
      'com.docker.compose.container-number': '1',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.project.working_dir': dir,
      'com.docker.compose.project.config_files': path.join(dir, 'compose.yaml'),
      'com.docker.compose.image': imageId,
      'com.docker.compose.version': labels['com.docker.compose.version'],
      'com.docker.compose.depends_on': 'db:service_healthy:false',
    });
    assert.deepEqual(Object.keys(web.NetworkSettings.Networks), ['shop_default']);
    assert.ok(web.Config.Env.includes('GREETING=hello') && web.Config.Env.includes('TAG=v1'), web.Config.Env.join(' '));
    assert.ok(db.Config.Env.includes('DB_GREETING=from-db'));
    assert.deepEqual(
      web.Mounts.map((m) => [m.Type, m.Source, m.Destination, m.RW]),
      [['bind', path.join(dir, 'site'), '/site', false]],
    );
    assert.equal(db.Mounts[0].Name, 'shop_dbdata');
    // web started only once db was healthy, so its page has db's greeting, reached by service name.
    await eventually('the published port to serve the page', () => curl('http://127.0.0.1:8080/index.html') === 'hello-v1:from-db', 20_000);

    // The other way round: docker-compose, given the same file in the stack's directory, knows the project.
    const ps = compose('shop', ['ps'], dir);
    assert.match(ps, /shop-db-1 .* Up \(healthy\)/);
    assert.match(ps, /shop-web-1 .* Up +0\.0\.0\.0:8080->80\/tcp/);
    assert.deepEqual(compose('shop', ['ps', '--services'], dir).trim().split('\n').sort(), ['db', 'web']);
    assert.match(JSON.parse(docker(['network', 'inspect', 'shop_default']))[0].Labels['com.docker.compose.network'], /^default$/);
    assert.equal(JSON.parse(docker(['volume', 'inspect', 'shop_dbdata']))[0].Labels['com.docker.compose.volume'], 'dbdata');

    const list = await ok<StackSummary[]>({ op: 'stacks.list' });
    assert.deepEqual(list.map((s) => [s.name, s.source, s.status, s.services, s.running]), [['shop', 'berth', 'running', 2, 2]]);
  });

  it('a redeploy after an edit recreates only the changed service; the plan says so first', async () => {
    const before = { db: inspect('shop-db-1'), web: inspect('shop-web-1') };
    const same = await ok<StackPlan>({ op: 'stacks.plan', name: 'shop' });
    assert.deepEqual(same.services.map((s) => `${s.service}:${s.action}`), ['db:unchanged', 'web:unchanged']);
    const plan = await ok<StackPlan>({ op: 'stacks.plan', name: 'shop', compose: stackFile('bonjour'), env: 'TAG=v1\n' });
    assert.deepEqual(plan.services.map((s) => `${s.service}:${s.action}:${s.reason}`), ['db:unchanged:running', 'web:recreate:its definition changed']);
    await ok({ op: 'stacks.deploy', name: 'shop', compose: stackFile('bonjour'), env: 'TAG=v1\n' });
    const afterDb = inspect('shop-db-1');
    assert.equal(afterDb.Id, before.db.Id);
    assert.equal(afterDb.State.StartedAt, before.db.State.StartedAt);
    assert.notEqual(inspect('shop-web-1').Id, before.web.Id);
    await eventually('the new page', () => curl('http://127.0.0.1:8080/index.html') === 'bonjour-v1:from-db', 20_000);
    // A change to .env alone is a change to what web runs with.
    const envPlan = await ok<StackPlan>({ op: 'stacks.plan', name: 'shop', compose: stackFile('bonjour'), env: 'TAG=v2\n' });
    assert.deepEqual(envPlan.services.map((s) => `${s.service}:${s.action}`), ['db:unchanged', 'web:recreate']);
    // A service gone from the file is removed.
    const fewer = await ok<StackPlan>({ op: 'stacks.plan', name: 'shop', compose: 'services:\n  db:\n' + stackFile('x').split('  db:\n')[1].split('  web:\n')[0] + 'volumes:\n  dbdata:\n' });
    assert.deepEqual(fewer.services.map((s) => `${s.service}:${s.action}`), ['db:unchanged', 'web:remove']);
    const detail = await ok<StackDetail>({ op: 'stacks.get', name: 'shop' });
    assert.equal(detail.operation?.kind, 'deploy');
    assert.ok(detail.operation?.steps.some((s) => s.text === 'create shop-web-1'));
    assert.ok(!detail.operation?.steps.some((s) => s.text === 'create shop-db-1'), 'the redeploy created db again');
  });

  it('stop, start, restart and a service restart act on the project\'s containers', async () => {
    const web0 = inspect('shop-web-1');
    await ok({ op: 'stacks.stop', name: 'shop' });
    assert.equal(inspect('shop-web-1').State.Running, false);
    assert.equal((await ok<StackDetail>({ op: 'stacks.get', name: 'shop' })).status, 'stopped');
    await ok({ op: 'stacks.start', name: 'shop' });
    assert.equal(inspect('shop-db-1').State.Running, true);
    const db1 = inspect('shop-db-1');
    await ok({ op: 'stacks.restartService', name: 'shop', service: 'web' });
    assert.equal(inspect('shop-db-1').State.StartedAt, db1.State.StartedAt);
    assert.notEqual(inspect('shop-web-1').State.StartedAt, web0.State.StartedAt);
    assert.equal(inspect('shop-web-1').Id, web0.Id);
    const r = await command({ op: 'stacks.restartService', name: 'shop', service: 'nope' });
    assert.equal(!r.ok && r.status, 404);
  });

  it('a project docker-compose started is an external stack: listed, stopped and taken down by Berth, not redeployed', async () => {
    spawnSync('mkdir', ['-p', cliDir]);
    writeFileSync(path.join(cliDir, 'docker-compose.yml'), 'version: "2.4"\nservices:\n  app:\n    image: bb:test\n    init: true\n    command: ["sleep", "600"]\n');
    compose('cliproj', ['up', '-d']);
    const list = await ok<StackSummary[]>({ op: 'stacks.list' });
    assert.deepEqual(list.find((s) => s.name === 'cliproj'), { name: 'cliproj', source: 'external', status: 'running', services: 1, containers: 1, running: 1 });
    const d = await ok<StackDetail>({ op: 'stacks.get', name: 'cliproj' });
    assert.equal(d.compose, undefined);
    assert.equal(d.workingDir, cliDir);
    assert.deepEqual(d.configFiles, [path.join(cliDir, 'docker-compose.yml')]);
    assert.deepEqual(d.serviceList.map((s) => [s.name, s.containers.map((c) => c.name)]), [['app', ['cliproj_app_1']]]);
    const re = await command({ op: 'stacks.deploy', name: 'cliproj' });
    assert.equal(!re.ok && re.status, 409);
    assert.match(!re.ok ? re.error : '', /external/);
    await ok({ op: 'stacks.stop', name: 'cliproj' });
    assert.match(compose('cliproj', ['ps']), /cliproj_app_1 .* Exit/);
    await ok({ op: 'stacks.down', name: 'cliproj' });
    assert.equal(compose('cliproj', ['ps', '-q']).trim(), '');
    assert.ok(!docker(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes('cliproj_default'));
  });

  it('pull-and-redeploy pulls every image again and recreates only the service whose tag now names another image', async () => {
    const registry = await startRegistry();
    // The registry listens on this machine's loopback; the agent reaches it at the same address
    // in its namespace through a forwarder there and a unix socket (paths are not per namespace).
    const port = Number(registry.url.split(':')[1]);
    const relaySock = path.join(tmp, 'registry.sock');
    const relay = net.createServer((c) => {
      const u = net.connect(port, '127.0.0.1');
      c.on('error', () => u.destroy());
      u.on('error', () => c.destroy());
      c.pipe(u).pipe(c);
    });
    await new Promise<void>((r) => relay.listen(relaySock, r));
    const fwd = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', `require('node:net').createServer((c) => { const u = require('node:net').connect(${JSON.stringify(relaySock)}); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); c.pipe(u).pipe(c); }).listen(${port}, '127.0.0.1', () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => fwd.stdout.once('data', r));
      const one = await pushBusyboxImage(registry.url, 'one', '1', { config: { Cmd: ['sleep', '600'] } });
      await pushBusyboxImage(registry.url, 'two', '1', { config: { Cmd: ['sleep', '600'] } });
      const file = `services:\n  one:\n    image: ${registry.url}/one:1\n    init: true\n  two:\n    image: ${registry.url}/two:1\n    init: true\n`;
      await ok({ op: 'stacks.deploy', name: 'pulled', compose: file });
      const before = { one: inspect('pulled-one-1'), two: inspect('pulled-two-1') };
      // A new image under the same tag of one only.
      const newer = await pushBusyboxImage(registry.url, 'one', '1', { config: { Cmd: ['sleep', '600'], Labels: { build: '2' } } });
      assert.notEqual(newer.configDigest, one.configDigest);
      const applied = await ok<StackPlan>({ op: 'stacks.deploy', name: 'pulled', pull: true });
      assert.deepEqual(applied.services.map((s) => `${s.service}:${s.action}`), ['one:recreate', 'two:unchanged']);
      assert.match(applied.services[0].reason, /its image changed/);
      const after = { one: inspect('pulled-one-1'), two: inspect('pulled-two-1') };
      assert.notEqual(after.one.Id, before.one.Id);
      assert.equal(after.one.Config.Labels['com.docker.compose.image'], newer.configDigest);
      assert.equal(after.two.Id, before.two.Id);
      assert.equal(after.two.State.StartedAt, before.two.State.StartedAt);
      const d = await ok<StackDetail>({ op: 'stacks.get', name: 'pulled' });
      assert.equal(d.operation?.kind, 'pull-redeploy');
      assert.ok(d.operation?.steps.some((s) => s.text === `pull ${registry.url}/two:1`));
      await ok({ op: 'stacks.down', name: 'pulled', forget: true });
    } finally {
      fwd.kill('SIGTERM');
      relay.close();
      await registry.stop();
    }
  });

  it('a deploy under way shows its steps to whoever asks, and another operation on the stack meanwhile is refused as busy', async () => {
    // db becomes healthy only once its file is there, 2 s after it starts: web waits for it.
    const file = 'services:\n  db:\n    image: bb:test\n    init: true\n    command: ["sh", "-c", "sleep 2; touch /ready; exec sleep 600"]\n    healthcheck: {test: ["CMD", "test", "-e", "/ready"], interval: 200ms, retries: 100}\n  web:\n    image: bb:test\n    init: true\n    command: ["sleep", "600"]\n    depends_on: {db: {condition: service_healthy}}\n';
    const deploying = command<StackPlan>({ op: 'stacks.deploy', name: 'slow', compose: file });
    const during = await eventually('the deploy to wait for db', async () => {
      const r = await command<StackDetail>({ op: 'stacks.get', name: 'slow' });
      return r.ok && r.result?.operation?.steps.some((s) => s.text === 'web: wait for db to be healthy') ? r.result : undefined;
    }, 20_000, 50);
    assert.equal(during.busy, 'deploy');
    assert.equal(during.operation?.finishedAt, undefined);
    assert.deepEqual((await ok<StackSummary[]>({ op: 'stacks.list' })).find((s) => s.name === 'slow')?.busy, 'deploy');
    const meanwhile = await command({ op: 'stacks.stop', name: 'slow' });
    assert.equal(!meanwhile.ok && meanwhile.status, 409);
    assert.match(!meanwhile.ok ? meanwhile.error : '', /stack slow is busy: its deploy is under way/);
    const done = await deploying;
    assert.ok(done.ok, JSON.stringify(done));
    const after = await ok<StackDetail>({ op: 'stacks.get', name: 'slow' });
    assert.equal(after.busy, undefined);
    assert.ok(after.operation?.finishedAt);
    assert.equal(after.operation?.steps.at(-1)?.text, 'done');
    assert.equal(after.status, 'running');
    await ok({ op: 'stacks.down', name: 'slow', forget: true });
  });

  it('down keeps the named volumes unless asked, and the files unless told to forget them', async () => {
    await ok({ op: 'stacks.down', name: 'shop' });
    assert.equal(docker(['ps', '-aq', '--filter', 'label=com.docker.compose.project=shop']).trim(), '');
    assert.ok(docker(['volume', 'ls', '-q']).split('\n').includes('shop_dbdata'));
    assert.equal((await ok<StackDetail>({ op: 'stacks.get', name: 'shop' })).status, 'down');
    await ok({ op: 'stacks.deploy', name: 'shop' });
    assert.equal(inspect('shop-web-1').State.Running, true);
    await ok({ op: 'stacks.down', name: 'shop', volumes: true, forget: true });
    assert.ok(!docker(['volume', 'ls', '-q']).split('\n').includes('shop_dbdata'));
    assert.ok(!docker(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes('shop_default'));
    const gone = await command({ op: 'stacks.get', name: 'shop' });
    assert.equal(!gone.ok && gone.status, 404);
  });
});
