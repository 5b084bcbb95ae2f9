// The agent's root is closed to other users (issue 5, section 1): what a local user who is
// not root can do with the store, tried as `nobody` with setpriv against a real pulled image
// and real containers. Needs root.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startDockerApi } from '../../agent/dockerapi/server';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import { openImageStore, type DiskImageStore } from '../../agent/engine/images/store';
import type { Engine, ImageRecord } from '../../agent/engine/types';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { collect } from '../fixtures/collect';
import { mountsUnder, removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const repoRoot = resolve(import.meta.dirname, '../..');
const SUID = 'usr/local/bin/euid';
const DEVICE = 'dev/zero-standin';

interface Run {
  code: number | null;
  out: string;
}

/** `args` run as uid/gid 65534 with no supplementary groups (and, from its execve on, no capabilities); stdout and stderr together. */
function asNobody(args: string[]): Run {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', ...args], { encoding: 'utf8' });
  return { code: r.status, out: (r.stdout + r.stderr).trim() };
}

/** What nobody gets when trying `path`: stat it, run it, read it. Each must fail with EACCES. */
function assertUnreachable(t: TestContext, path: string, how: Array<'stat' | 'exec' | 'open'>): void {
  const tries = how.map((h) => {
    // Exec from a shell that runs as nobody: setpriv itself still holds root's capabilities when it execs its argument.
    const r = h === 'stat' ? asNobody(['stat', '-c', '%A %U', path]) : h === 'exec' ? asNobody(['/bin/sh', '-c', 'exec "$0"', path]) : asNobody(['od', '-An', '-N2', '-tx1', path]);
    t.diagnostic(`nobody ${h} ${path}: exit ${r.code}: ${r.out}`);
    return { h, ...r };
  });
  for (const r of tries) {
    assert.notEqual(r.code, 0, `nobody could ${r.h} ${path}: ${r.out}`);
    assert.match(r.out, /Permission denied/, `${r.h} ${path}`);
  }
}

const mode = (p: string) => statSync(p).mode & 0o7777;

describe('the agent root is closed to other users', { skip: !isRoot && 'needs root', timeout: 240_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ref = '';
  let tmp = '';
  let root = '';
  let images: DiskImageStore;
  let image: ImageRecord;
  let engine: BerthEngine | undefined;
  const cgroupParent = `berth-test-perm-${process.pid}`;

  before(async () => {
    tmp = mkdtempSync(join(os.tmpdir(), 'berth-perm-'));
    // Only the agent's own modes may stand between nobody and the store.
    chmodSync(tmp, 0o755);
    writeFileSync(join(tmp, 'euid.c'), '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("euid=%d\\n", (int)geteuid()); return 0; }\n');
    execFileSync('gcc', ['-static', '-O', '-o', join(tmp, 'euid'), join(tmp, 'euid.c')]);
    registry = await startRegistry();
    ({ ref } = await pushBusyboxImage(registry.url, 'suid', 'latest', {
      extraLayers: [
        [
          { path: 'usr/local', type: 'directory', mode: 0o755 },
          { path: 'usr/local/bin', type: 'directory', mode: 0o755 },
          // What a careless or hostile image ships: a setuid-root program, and a device node anyone may open.
          { path: SUID, type: 'file', mode: 0o4755, uid: 0, gid: 0, data: readFileSync(join(tmp, 'euid')) },
          { path: DEVICE, type: 'char', mode: 0o666, devmajor: 1, devminor: 5 },
        ],
      ],
    }));
    root = join(tmp, 'root');
    engine = await openEngine({ root, cgroupParent });
    images = await openImageStore(join(root, 'images'));
    image = await images.pull(ref);
    await engine.close();
    engine = await openEngine({ root, images, cgroupParent });
  });

  after(async () => {
    if (engine) {
      for (const c of engine.list({ all: true })) await engine.remove(c.id, { force: true });
      await engine.close();
    }
    removeCgroupParent(cgroupParent);
    await registry?.stop();
    if (tmp) {
      const left = mountsUnder(tmp);
      if (left.length) console.error(`mounts left under ${tmp}, not deleting it:\n${left.join('\n')}`);
      else rmSync(tmp, { recursive: true, force: true });
    }
  });

  const topLayer = () => images.layerDirs(image).at(-1)!;

  test('the root, images/ and containers/ are 0700 root:root', (t) => {
    for (const d of [root, join(root, 'images'), join(root, 'images', 'layers'), join(root, 'containers')]) {
      const st = statSync(d);
      t.diagnostic(`${d}: ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      assert.equal(st.mode & 0o7777, 0o700, d);
      assert.deepEqual([st.uid, st.gid], [0, 0], d);
    }
  });

  test('a setuid binary from a pulled layer cannot be reached or run by another user', (t) => {
    const suid = join(topLayer(), SUID);
    // The image's data is kept as it is: only the directories above it are closed.
    const st = statSync(suid);
    assert.equal(st.mode & 0o7777, 0o4755);
    assert.equal(st.uid, 0);
    assertUnreachable(t, suid, ['stat', 'exec']);
  });

  test('a device node from a layer cannot be opened by another user', (t) => {
    const dev = join(topLayer(), DEVICE);
    assert.ok(statSync(dev).isCharacterDevice());
    assertUnreachable(t, dev, ['stat', 'open']);
  });

  test('a setuid binary planted from inside a running container cannot be reached or run', async (t) => {
    const c = await engine!.createContainer({ image: ref, process: { cmd: ['sh', '-c', `cp /${SUID} /planted && chmod 4755 /planted && echo planted && exec sleep 600`] } });
    await engine!.start(c.id);
    const planted = join(root, 'containers', c.id, 'upper', 'planted');
    await eventually('the container to plant its binary', () => existsSync(planted) && mode(planted) === 0o4755, 15_000, 50);
    assertUnreachable(t, planted, ['stat', 'exec']);
    await engine!.remove(c.id, { force: true });
  });

  test('containers still run as root, as -u 1000 and as -u nobody, and exec works as a non-root user', async (t) => {
    const script = `id -u; stat -c %a /${SUID}; echo written > /tmp/f && cat /tmp/f; ls /bin/busybox`;
    for (const [user, uid] of [['', '0'], ['1000', '1000'], ['nobody', '65534']]) {
      const c = await engine!.createContainer({ image: ref, process: { cmd: ['sh', '-c', script], user } });
      await engine!.start(c.id);
      assert.equal((await engine!.wait(c.id)).exitCode, 0);
      const out = (await collect(engine!.logs(c.id))).map((l) => l.line).join('');
      t.diagnostic(`-u ${user || '(image default)'}: ${JSON.stringify(out)}`);
      assert.equal(out, `${uid}\n4755\nwritten\n/bin/busybox\n`);
      await engine!.remove(c.id);
    }
    const c = await engine!.createContainer({ image: ref, process: { cmd: ['sleep', '600'], user: '1000' } });
    await engine!.start(c.id);
    for (const user of ['1000', 'nobody']) {
      const p = engine!.exec(c.id, { cmd: ['sh', '-c', `id -u; cat /etc/passwd | wc -l; echo x > /tmp/by-${user} && ls /tmp`], user });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      const code = await new Promise<number | null>((r) => p.on('close', r));
      t.diagnostic(`exec -u ${user}: ${JSON.stringify(out)}`);
      assert.equal(code, 0, out);
      assert.equal(out.split('\n')[0], user === 'nobody' ? '65534' : '1000');
      assert.match(out, new RegExp(`by-${user}`));
    }
    await engine!.remove(c.id, { force: true });
  });
});

describe('a root made by an earlier version is repaired when the agent opens it', { skip: !isRoot && 'needs root', timeout: 240_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ref = '';
  let tmp = '';
  let root = '';
  let sock = '';
  let agent: ChildProcess | undefined;
  let agentLog = '';

  const docker = (args: string[]) =>
    spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${sock}`, ...args], {
      encoding: 'utf8',
      env: { ...process.env, DOCKER_CONFIG: join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
  const ping = () =>
    new Promise<boolean>((r) => {
      const req = http.request({ socketPath: sock, path: '/_ping' }, (res) => (res.resume(), r(res.statusCode === 200)));
      req.on('error', () => r(false));
      req.end();
    });

  async function startAgent(): Promise<string> {
    const logStart = agentLog.length;
    agent = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'agent/main.ts'), '--root', root, '--docker-socket', sock], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout?.on('data', (d) => (agentLog += d));
    agent.stderr?.on('data', (d) => (agentLog += d));
    await eventually('the agent to answer /_ping', async () => agent?.exitCode === null && (await ping()), 30_000, 100).catch((e) => {
      throw new Error(`${(e as Error).message}; agent log:\n${agentLog}`);
    });
    return agentLog.slice(logStart);
  }
  async function stopAgent(): Promise<void> {
    if (!agent?.pid || agent.exitCode !== null) return;
    const exited = new Promise((r) => agent!.once('exit', r));
    process.kill(agent.pid, 'SIGTERM');
    await exited;
  }

  before(async () => {
    tmp = mkdtempSync(join(os.tmpdir(), 'berth-perm-old-'));
    chmodSync(tmp, 0o755);
    root = join(tmp, 'root');
    sock = join(tmp, 'docker.sock');
    registry = await startRegistry();
    ({ ref } = await pushBusyboxImage(registry.url, 'busybox', 'latest'));
  });

  after(async () => {
    try {
      if (agent?.exitCode === null) {
        const ids = docker(['ps', '-aq']).stdout.split('\n').filter(Boolean);
        if (ids.length) docker(['rm', '-f', ...ids]);
      }
    } finally {
      await stopAgent();
      await registry?.stop();
      if (tmp) {
        const left = mountsUnder(tmp);
        if (left.length) console.error(`mounts left under ${tmp}, not deleting it:\n${left.join('\n')}`);
        else rmSync(tmp, { recursive: true, force: true });
      }
    }
  });

  test('opens an old-style store, closes it, says so once, and its image still runs as nobody', async (t) => {
    // A store as earlier versions left it: an image, a container, and directories others may enter.
    await startAgent();
    assert.equal(docker(['pull', ref]).status, 0);
    const created = docker(['create', ref, 'true']);
    assert.equal(created.status, 0, created.stderr);
    await stopAgent();
    const old: Array<[string, number]> = [
      [root, 0o755],
      [join(root, 'images'), 0o711],
      [join(root, 'images', 'layers'), 0o711],
      [join(root, 'containers'), 0o755],
    ];
    for (const [d, m] of old) chmodSync(d, m);
    const layer = join(root, 'images', 'layers', firstLayer(join(root, 'images', 'layers')));
    const before = asNobody(['stat', '-c', '%A', join(layer, 'bin', 'busybox')]);
    t.diagnostic(`before the agent starts, nobody stat ${layer}/bin/busybox: exit ${before.code}: ${before.out}`);
    assert.equal(before.code, 0, 'the old-style store is open to nobody (else this test proves nothing)');

    const log = await startAgent();
    const repair = log.split('\n').filter((l) => /closed .* to other users/.test(l));
    t.diagnostic(`agent log: ${JSON.stringify(repair)}`);
    assert.equal(repair.length, 1, log);
    for (const [d, m] of old) {
      const rel = d === root ? root : d.slice(root.length + 1);
      assert.ok(repair[0].includes(`${rel} ${m.toString(8)}→700`), `${repair[0]} names ${rel}`);
      assert.equal(mode(d), 0o700, d);
    }
    assertUnreachable(t, join(layer, 'bin', 'busybox'), ['stat', 'exec']);

    // The socket: group `docker` when the machine has one, else root only; nobody is in neither.
    const st = statSync(sock);
    const dockerGroup = dockerGid();
    t.diagnostic(`socket ${sock}: ${(st.mode & 0o777).toString(8)} ${st.uid}:${st.gid} (docker group: ${dockerGroup ?? 'none'})`);
    assert.deepEqual([st.mode & 0o777, st.gid], dockerGroup === undefined ? [0o600, 0] : [0o660, dockerGroup]);
    const r = asNobody([process.execPath, '-e', connectScript(sock)]);
    t.diagnostic(`nobody connect ${sock}: exit ${r.code}: ${r.out}`);
    assert.notEqual(r.code, 0);
    assert.match(r.out, /EACCES/);

    for (const [user, uid] of [['nobody', '65534'], ['1000', '1000']]) {
      const r = docker(['run', '--rm', '-u', user, ref, 'sh', '-c', 'id -u; ls /bin/busybox']);
      assert.equal(r.status, 0, `${r.stderr}\nagent log:\n${agentLog.slice(-2000)}`);
      assert.equal(r.stdout, `${uid}\n/bin/busybox\n`);
    }
    const started = docker(['start', '-a', created.stdout.trim()]);
    assert.equal(started.status, 0, started.stderr);

    // Nothing left to repair: nothing said.
    await stopAgent();
    const again = await startAgent();
    assert.doesNotMatch(again, /to other users/);
  });
});

describe('the Docker API socket', { skip: !isRoot && 'needs root' }, () => {
  let tmp = '';
  before(() => {
    tmp = mkdtempSync(join(os.tmpdir(), 'berth-sock-'));
    chmodSync(tmp, 0o755);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  // The API only answers /_ping here; who may connect is what is under test.
  const engine = {} as unknown as Engine;
  // Not spawnSync: the server under test runs in this process and must keep answering.
  const pingAs = (sock: string, gid: number) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn('setpriv', ['--reuid=65534', `--regid=${gid}`, '--clear-groups', '--', process.execPath, '-e', pingScript(sock)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('error', reject);
      p.on('close', () => resolve(out.trim()));
    });

  test('is 0660 with the group when the group exists, and only its members get in', async (t) => {
    const sock = join(tmp, 'group.sock');
    const api = await startDockerApi({ engine, socketPath: sock, group: 'nogroup' });
    try {
      const st = statSync(sock);
      t.diagnostic(`${sock}: ${(st.mode & 0o777).toString(8)} gid ${st.gid}`);
      assert.deepEqual([st.mode & 0o777, st.gid], [0o660, 65534]);
      const member = await pingAs(sock, 65534);
      const other = await pingAs(sock, 1000);
      t.diagnostic(`uid 65534 gid 65534 (a member): ${member}; uid 65534 gid 1000: ${other}`);
      assert.equal(member, '200');
      assert.equal(other, 'EACCES');
    } finally {
      await api.close();
    }
  });

  test('is 0600 when there is no such group', async (t) => {
    const sock = join(tmp, 'nogroup.sock');
    const group = `berth-no-such-group-${process.pid}`;
    const api = await startDockerApi({ engine, socketPath: sock, group });
    try {
      const st = statSync(sock);
      t.diagnostic(`${sock}: ${(st.mode & 0o777).toString(8)} ${st.uid}:${st.gid}`);
      assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o600, 0, 0]);
      assert.equal(await pingAs(sock, 65534), 'EACCES');
    } finally {
      await api.close();
    }
  });
});

const pingScript = (sock: string) =>
  `require('http').get({ socketPath: ${JSON.stringify(sock)}, path: '/_ping' }, (r) => { console.log(r.statusCode); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;

function firstLayer(dir: string): string {
  const names = execFileSync('ls', [dir], { encoding: 'utf8' }).split('\n');
  const hex = names.find((n) => /^[a-f0-9]{64}$/.test(n));
  assert.ok(hex, `no layer in ${dir}`);
  return hex;
}

function dockerGid(): number | undefined {
  const r = spawnSync('getent', ['group', 'docker'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split(':')[2]) : undefined;
}

const connectScript = (sock: string) =>
  `require('net').connect(${JSON.stringify(sock)}).on('connect', () => process.exit(0)).on('error', (e) => { console.error(e.code); process.exit(1); })`;
