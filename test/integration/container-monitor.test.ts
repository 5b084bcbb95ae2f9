// The monitor as a parent the agent talks to: its control socket, its own cgroups and OOM
// guard, what happens when it dies, signals that cannot reach a process that reused a
// pid, and the mount plan it carries out (exactly the plan, contained in the root even
// when the image's paths are hostile symlinks). Real containers; needs root.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import { EngineError } from '../../agent/engine/errors';
import { defaultMountPlan } from '../../agent/engine/containers/mount-plan';
import type { ImageStore } from '../../agent/engine/types';
import type { TarWriteEntry } from '../fixtures/tar';
import { collect } from '../fixtures/collect';
import { busyboxStore } from '../fixtures/local-image';
import { alive, removeCgroupParent } from '../fixtures/processes';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;
const canLowerOom = ((BigInt('0x' + /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]) >> 24n) & 1n) === 1n;

/** hierarchy (controllers or "" for v2) → path, from /proc/PID/cgroup. */
function cgroupsOf(pid: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, ctrls, path] = /^\d+:([^:]*):(.*)$/.exec(l)!;
    m.set(ctrls, path);
  }
  return m;
}

/** One raw request on a container's control socket, the way any client speaks it. Its full
 *  path is longer than a socket address may be: reached through a descriptor of its dir. */
function control(runDir: string, request: string): Promise<string> {
  const fd = openSync(runDir, 'r');
  return new Promise<string>((resolve, reject) => {
    const sock = net.createConnection({ path: `/proc/self/fd/${fd}/control.sock` });
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) {
        sock.destroy();
        resolve(got);
      }
    });
    sock.on('error', reject);
    sock.write(request + '\n');
  }).finally(() => closeSync(fd));
}

describe('the container monitor', { skip: !isRoot && 'needs root' }, () => {
  let tmp: string;
  let root: string;
  let engine: BerthEngine;
  let images: ImageStore;
  const cgroupParent = `berth-test-mon-${process.pid}`;
  const strays: number[] = [];
  const open = (r = root, store = images) => openEngine({ root: r, images: store, cgroupParent });
  const runDir = (id: string, r = root) => join(r, 'containers', id, 'run');
  const monitorPid = (id: string, r = root) => Number(readFileSync(join(runDir(id, r), 'monitor.pid'), 'utf8'));
  const start = async (cmd: string[], e = engine) => {
    const c = await e.createContainer({ image: 'busybox:test', process: { cmd } });
    await e.start(c.id);
    return c;
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-mon-'));
    root = join(tmp, 'root');
    ({ store: images } = await busyboxStore(join(root, 'images')));
    engine = await open();
  });

  after(async () => {
    for (const p of strays) if (alive(p)) process.kill(p, 'SIGKILL');
    const e = await open();
    for (const c of e.list({ all: true })) await e.remove(c.id, { force: true });
    await e.close();
    await engine.close();
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(tmp), 'no mounts left under the test root');
    removeCgroupParent(cgroupParent);
    await rm(tmp, { recursive: true, force: true });
  });

  test('a control socket only root can reach: state, and unknown requests refused by name', async () => {
    const c = await start(['sleep', '1000']);
    const dir = runDir(c.id);
    const st = statSync(join(dir, 'control.sock'));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
    const { pid } = engine.inspect(c.id).state;
    assert.equal(await control(dir, 'state'), `ok running ${pid}\n`);
    assert.equal(await control(dir, 'frobnicate'), 'error unknown request "frobnicate"\n');
    assert.equal(await control(dir, 'resize 24 80'), 'error the container has no TTY\n');
    assert.equal(await control(dir, 'stdin'), 'error stdin is not open\n');
    assert.equal(await control(dir, 'kill nine'), 'error kill: "nine" is not a signal number\n');
    assert.equal(await control(dir, 'state now'), 'error state takes no argument\n');
    assert.equal(await control(dir, 'start'), 'error already started\n');
    await engine.stop(c.id, 0);
    assert.equal(engine.inspect(c.id).state.exitCode, 137);
    assert.ok(!existsSync(join(dir, 'control.sock')), 'the socket goes with the monitor');
  });

  test('the monitor lives in cgroups of its own in every hierarchy, guarded against the OOM killer; the init is back at 0', async () => {
    const c = await start(['sleep', '1000']);
    const mon = monitorPid(c.id);
    const { pid } = engine.inspect(c.id).state;
    const own = cgroupsOf(mon);
    const agent = cgroupsOf(process.pid);
    assert.deepEqual([...own.keys()].sort(), [...agent.keys()].sort(), 'the same hierarchies as the agent');
    for (const [h, path] of own) assert.equal(path, `/${cgroupParent}/${c.id}-monitor`, `monitor's group in "${h}"`);
    // The init: the container's groups where it has them, its monitor's elsewhere; never the agent's.
    const containerHier = new Set(engine.cgroups.paths(c.id).map((d) => d.split('/').slice(0, -2).join('/')));
    for (const [h, path] of cgroupsOf(pid)) {
      assert.notEqual(path, agent.get(h) === '/' ? undefined : agent.get(h), `init not in the agent's group in "${h}"`);
      assert.ok(path === `/${cgroupParent}/${c.id}` || path === `/${cgroupParent}/${c.id}-monitor`, `init in "${h}": ${path}`);
    }
    assert.ok(containerHier.size > 0);
    const agentAdj = readFileSync('/proc/self/oom_score_adj', 'utf8').trim();
    assert.equal(readFileSync(`/proc/${mon}/oom_score_adj`, 'utf8').trim(), canLowerOom ? '-1000' : agentAdj);
    assert.equal(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim(), '0');
    // exec joins every group the init is in.
    const p = engine.exec(c.id, { cmd: ['cat', '/proc/self/oom_score_adj'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    assert.equal(await new Promise((r) => p.on('close', r)), 0);
    assert.equal(out.trim(), '0');

    await engine.stop(c.id, 0);
    for (const d of [...engine.cgroups.paths(c.id), ...engine.cgroups.monitorPaths(c.id)]) assert.ok(!existsSync(d), `${d} removed when the container stopped`);
  });

  test('a monitor killed with SIGKILL takes its init with it, and the container is recorded as exited with an error', async () => {
    const c = await start(['sleep', '1000']);
    const { pid } = engine.inspect(c.id).state;
    const died = new Promise<number | undefined>((r) => engine.on('container', (e) => e.id === c.id && e.action === 'die' && r(e.exitCode)));
    process.kill(monitorPid(c.id), 'SIGKILL');
    assert.equal(await died, 255);
    const st = engine.inspect(c.id).state;
    assert.equal(st.running, false);
    assert.equal(st.status, 'exited');
    assert.match(st.error, /monitor exited without recording an exit code/);
    await eventually('the orphaned init to be gone', () => !alive(pid), 5000, 50);
    for (const d of [...engine.cgroups.paths(c.id), ...engine.cgroups.monitorPaths(c.id)]) assert.ok(!existsSync(d), `${d} removed`);
    await assert.rejects(engine.kill(c.id), (e: unknown) => e instanceof EngineError && e.status === 409);
  });

  test('kill and stop go through the monitor: a live unrelated process written in as the pid is never signalled', async () => {
    const c = await start(['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.05; done']);
    const realPid = engine.inspect(c.id).state.pid;
    const stray = Number(spawnSync('sh', ['-c', 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' }).stdout.trim());
    strays.push(stray);
    await engine.close();
    // Both places a pid is kept now name the unrelated process.
    writeFileSync(join(runDir(c.id), 'pid'), `${stray}\n`);
    const recPath = join(root, 'containers', c.id, 'config.json');
    const rec = JSON.parse(readFileSync(recPath, 'utf8'));
    assert.equal(rec.state.pid, realPid);
    rec.state.pid = stray;
    writeFileSync(recPath, JSON.stringify(rec));
    engine = await open();
    assert.equal(engine.inspect(c.id).state.pid, stray);
    await engine.kill(c.id, 'SIGTERM');
    assert.equal((await engine.wait(c.id)).exitCode, 7, 'the container got the signal');
    assert.ok(alive(stray), 'the unrelated process did not');
    assert.ok(!alive(realPid));
  });

  test('a pid reused after the init exited is never signalled, even by an engine whose record still says running', async () => {
    const c = await start(['sh', '-c', 'sleep 0.3']);
    const { pid } = engine.inspect(c.id).state;
    await engine.close(); // stops watching: the record keeps saying running
    try {
      await eventually('the exit file', () => existsSync(join(runDir(c.id), 'exit')), 10_000, 50);
      await eventually('the monitor to exit', () => !alive(monitorPid(c.id)), 10_000, 50);
      // Make an unrelated process take the init's pid number: ns_last_pid names the pid before the next one.
      let reused = 0;
      for (let i = 0; i < 50 && !reused; i++) {
        const p = Number(
          spawnSync('sh', ['-c', `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid; sleep 1000 </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' }).stdout.trim(),
        );
        strays.push(p);
        if (p === pid) reused = p;
        else process.kill(p, 'SIGKILL');
      }
      assert.equal(reused, pid, 'an unrelated process has the old init pid');
      assert.equal(engine.inspect(c.id).state.running, true);
      await assert.rejects(engine.kill(c.id, 'SIGKILL'), (e: unknown) => e instanceof EngineError && e.status === 409 && /not running/.test(e.message));
      assert.ok(alive(reused), 'the process that reused the pid is alive');
    } finally {
      engine = await open();
    }
    assert.equal(engine.inspect(c.id).state.status, 'exited');
  });

  test('exec joins by pidfd and says when the container is not running', async () => {
    const c = await start(['sleep', '1000']);
    // The agent's pid check is bypassed on purpose: the helper asks the monitor itself.
    const bin = (await import('../../agent/native/binary')).monitorBinary();
    const conf = join(tmp, 'exec.conf');
    writeFileSync(conf, ['user=0', 'cwd=/', 'arg=hostname'].map((e) => e + '\0').join(''));
    const ok = spawnSync(bin, ['exec', runDir(c.id), conf], { encoding: 'utf8' });
    assert.deepEqual([ok.status, ok.stdout], [0, c.id.slice(0, 12) + '\n']);
    await engine.stop(c.id, 0);
    const gone = spawnSync(bin, ['exec', runDir(c.id), conf], { encoding: 'utf8' });
    assert.deepEqual([gone.status, gone.stderr], [126, 'berth-monitor: container is not running (its monitor is gone)\n']);
  });

  test('the container gets exactly the default mount plan: /sys read-only, masked paths empty, read-only paths read-only', async () => {
    // The /etc sources are the container's own files, known once it exists.
    let plan = defaultMountPlan({ hostname: '/h', hosts: '/h', resolvConf: '/h' });
    const exists = [...plan.maskedPaths, ...plan.readonlyPaths].map((p) => `[ -e ${p} ] && echo "exists ${p}"`);
    // A masked file reads as nothing, a masked directory lists nothing.
    const masked = plan.maskedPaths.map((p) => `if [ -d ${p} ]; then echo "dir ${p} $(ls -A ${p} | wc -l)"; elif [ -e ${p} ]; then echo "file ${p} $(wc -c < ${p})"; fi`);
    const c = await start([
      'sh',
      '-c',
      ['cat /proc/self/mountinfo', 'echo ==', ...exists, ...masked, 'touch /sys/x 2>/dev/null || echo sys-ro', 'stat -c "%n %a %t:%T" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty',
        'stat -c "%n %a" /dev/shm /dev', 'readlink /dev/fd', 'readlink /dev/ptmx', 'true'].join('; '),
    ]);
    assert.equal((await engine.wait(c.id)).exitCode, 0);
    const dir = engine.containerDir(c.id);
    plan = defaultMountPlan({ hostname: join(dir, 'hostname'), hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf') });
    const out = (await collect(engine.logs(c.id))).map((l) => l.line.replace(/\n$/, ''));
    const sep = out.indexOf('==');
    const mounts = out.slice(0, sep).map((l) => {
      const [pre, post] = l.split(' - ');
      const f = pre.split(' ');
      return { root: f[3], at: f[4], opts: f[5].split(','), type: post.split(' ')[0], superOpts: post.split(' ')[2].split(',') };
    });
    const rest = out.slice(sep + 1);
    const existing = rest.filter((l) => l.startsWith('exists ')).map((l) => l.slice(7));
    const want = ['/', ...plan.mounts.map((m) => m.destination), ...existing];
    assert.deepEqual(mounts.map((m) => m.at).sort(), want.sort(), 'one mount per plan entry, and nothing else');
    const at = (p: string) => mounts.find((m) => m.at === p)!;
    for (const m of plan.mounts) {
      const got = at(m.destination);
      if (m.type !== 'bind') assert.equal(got.type, m.type, m.destination);
      else assert.equal(got.root, m.source, `${m.destination} is bound from ${m.source}`);
      for (const o of ['nosuid', 'nodev', 'noexec']) if (m.type !== 'bind') assert.equal(got.opts.includes(o), m.options.includes(o), `${m.destination} ${o}: ${got.opts}`);
      assert.equal(got.opts[0], m.options.includes('ro') ? 'ro' : 'rw', m.destination);
    }
    assert.ok(!at('/dev').opts.some((o) => o === 'relatime' || o === 'noatime'), '/dev strictatime');
    assert.ok(at('/dev').superOpts.includes('size=65536k') && at('/dev').superOpts.includes('mode=755'), at('/dev').superOpts.join(','));
    assert.ok(at('/dev/shm').superOpts.includes('size=65536k'), at('/dev/shm').superOpts.join(','));
    assert.ok(['ptmxmode=666', 'mode=620', 'gid=5'].every((o) => at('/dev/pts').superOpts.includes(o)), at('/dev/pts').superOpts.join(','));
    for (const p of plan.readonlyPaths.filter((x) => existing.includes(x))) assert.equal(at(p).opts[0], 'ro', p);
    const maskedHere = plan.maskedPaths.filter((x) => existing.includes(x));
    assert.ok(maskedHere.length >= 2 && existing.includes('/sys/firmware'), existing.join(' '));
    for (const p of maskedHere) {
      const line = rest.find((l) => l.startsWith(`file ${p} `) || l.startsWith(`dir ${p} `));
      assert.ok(line && line.endsWith(' 0'), `${p} is empty: ${line}`);
      // Files get the container's /dev/null, directories a read-only tmpfs of their own.
      if (line.startsWith('file ')) assert.deepEqual([at(p).root, at(p).type], ['/null', 'tmpfs'], p);
      else assert.deepEqual([at(p).opts[0], at(p).type], ['ro', 'tmpfs'], p);
    }
    assert.ok(rest.includes('sys-ro'));
    const hex = (n: number) => n.toString(16);
    assert.deepEqual(
      rest.filter((l) => l.startsWith('/dev')),
      [
        ...[['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]].map(([n, a, b]) => `/dev/${n} 666 ${hex(a as number)}:${hex(b as number)}`),
        '/dev/shm 1777',
        '/dev 755',
      ],
    );
    assert.ok(rest.includes('/proc/self/fd') && rest.includes('pts/ptmx'), 'the /dev symlinks');
  });

  describe('hostile images', () => {
    /** An image whose `path` is a symlink to `target`, with the host dirs on the way made in the image too. */
    const linkImage = async (name: string, path: string, target: string, dirs: string[] = []) => {
      const parts = dirs.flatMap((d) => {
        const p = d.split('/').filter(Boolean);
        return p.map((_, i) => ({ path: p.slice(0, i + 1).join('/'), type: 'directory' as const, mode: 0o755 }));
      });
      const layer: TarWriteEntry[] = [...parts, { path, type: 'symlink', linkpath: target }];
      const { store } = await busyboxStore(join(tmp, `images-${name}`), { extraLayers: [layer], tags: ['busybox:test'] });
      return { store, root: join(tmp, `root-${name}`) };
    };
    const hostDir = async (name: string) => {
      const d = join(tmp, `host-${name}`);
      await mkdir(d);
      return d;
    };

    test('/proc as a symlink to a host path is refused, and nothing is mounted there', async () => {
      const target = await hostDir('proc');
      const { store, root: r } = await linkImage('proc', 'proc', target, [target]);
      const e = await open(r, store);
      try {
        const c = await e.createContainer({ image: 'busybox:test', process: { cmd: ['true'] } });
        await assert.rejects(e.start(c.id), (err: unknown) => err instanceof EngineError && /proc.*symlink.*refused/.test(err.message));
        assert.deepEqual(readdirSync(target), []);
        assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(target));
      } finally {
        for (const c of e.list({ all: true })) await e.remove(c.id, { force: true });
        await e.close();
      }
    });

    test('/dev as a symlink to a host path lands inside the root: no nodes or mounts on the host', async () => {
      const target = await hostDir('dev');
      const { store, root: r } = await linkImage('dev', 'dev', target, [target]);
      const e = await open(r, store);
      try {
        const c = await e.createContainer({ image: 'busybox:test', process: { cmd: ['sh', '-c', 'echo x > /dev/null && readlink /dev && ls /dev/shm /dev/pts >/dev/null && echo dev-ok'] } });
        await e.start(c.id);
        assert.equal((await e.wait(c.id)).exitCode, 0);
        assert.deepEqual((await collect(e.logs(c.id))).map((l) => l.line), [target + '\n', 'dev-ok\n']);
        assert.deepEqual(readdirSync(target), [], 'the host directory is untouched');
        assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(target));
      } finally {
        for (const c of e.list({ all: true })) await e.remove(c.id, { force: true });
        await e.close();
      }
    });

    test('/etc/resolv.conf and /etc/hostname as symlinks to host files (absolute and climbing) leave the host files alone', async () => {
      const dir = await hostDir('etcfiles');
      const hostResolv = join(dir, 'resolv.conf');
      const hostName = join(dir, 'hostname');
      await writeFile(hostResolv, 'host resolv\n');
      await writeFile(hostName, 'host hostname\n');
      const climbing = '../'.repeat(12) + hostName.slice(1);
      const parts = dir.split('/').filter(Boolean);
      const layer: TarWriteEntry[] = [
        ...parts.map((_, i) => ({ path: parts.slice(0, i + 1).join('/'), type: 'directory' as const, mode: 0o755 })),
        { path: 'etc/resolv.conf', type: 'symlink', linkpath: hostResolv },
        { path: 'etc/hostname', type: 'symlink', linkpath: climbing },
      ];
      const { store } = await busyboxStore(join(tmp, 'images-etcfiles'), { extraLayers: [layer], tags: ['busybox:test'] });
      const e = await open(join(tmp, 'root-etcfiles'), store);
      try {
        const c = await e.createContainer({ image: 'busybox:test', process: { cmd: ['sh', '-c', 'cat /etc/hostname; grep -c . /etc/resolv.conf >/dev/null; cat /etc/resolv.conf | head -1'] } });
        await e.start(c.id);
        assert.equal((await e.wait(c.id)).exitCode, 0);
        const out = (await collect(e.logs(c.id))).map((l) => l.line);
        assert.equal(out[0], c.id.slice(0, 12) + '\n', 'the runtime\'s hostname file, through the link, inside the root');
        assert.notEqual(out[1], 'host resolv\n');
        assert.equal(readFileSync(hostResolv, 'utf8'), 'host resolv\n');
        assert.equal(readFileSync(hostName, 'utf8'), 'host hostname\n');
        assert.deepEqual(readdirSync(dir).sort(), ['hostname', 'resolv.conf']);
        assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(dir));
      } finally {
        for (const c of e.list({ all: true })) await e.remove(c.id, { force: true });
        await e.close();
      }
    });
  });
});
