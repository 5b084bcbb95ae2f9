// Real containers from a busybox rootfs: namespaces, cgroups, logs, exit codes, stop,
// and monitors that outlive the engine. Needs root.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import { EngineError } from '../../agent/engine/errors';
import type { ContainerSpec, ImageRecord, ImageStore, LogEntry } from '../../agent/engine/types';
import { collect } from '../fixtures/collect';
import { busyboxStore } from '../fixtures/local-image';
import { alive, removeCgroupParent } from '../fixtures/processes';
import { eventually } from '../fixtures/wait';

const isRoot = process.getuid?.() === 0;

function cgroupFile(pid: number, controller: string, v1file: string, v2file: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1].split(',').includes(controller));
  if (v1) return join('/sys/fs/cgroup', controller, v1.split(':')[2], v1file);
  const v2 = lines.find((l) => l.startsWith('0::'))!;
  return join('/sys/fs/cgroup', v2.slice(3), v2file);
}

describe('container runtime', { skip: !isRoot && 'needs root' }, () => {
  let tmp: string;
  let root: string;
  let marker: string;
  let engine: BerthEngine;
  let images: ImageStore;
  let image: ImageRecord;
  const cgroupParent = `berth-test-${process.pid}`;
  const monitorPids: number[] = [];
  const ids: string[] = [];

  const run = async (cmd: string[], extra: Omit<ContainerSpec, 'image'> = {}) => {
    const c = await engine.createContainer({ image: 'busybox:test', ...extra, process: { ...extra.process, cmd } });
    ids.push(c.id);
    return c;
  };
  const rememberMonitor = (id: string) => {
    const f = join(root, 'containers', id, 'run', 'monitor.pid');
    if (existsSync(f)) monitorPids.push(Number(readFileSync(f, 'utf8')));
  };

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-rt-'));
    root = join(tmp, 'root');
    marker = join(tmp, 'host-marker-file');
    await writeFile(marker, 'only on the host\n');
    ({ store: images, image } = await busyboxStore(join(root, 'images')));
    engine = await openEngine({ root, images, cgroupParent });
  });

  after(async () => {
    const e = await openEngine({ root, images, cgroupParent });
    for (const c of e.list({ all: true })) {
      rememberMonitor(c.id);
      await e.remove(c.id, { force: true });
    }
    await e.close();
    await engine.close();
    // What must be left: nothing mounted, no cgroups, no monitors.
    const mounts = readFileSync('/proc/mounts', 'utf8');
    assert.ok(!mounts.includes(tmp), 'no mounts left under the test root');
    for (const id of ids) for (const d of e.cgroups.paths(id)) assert.ok(!existsSync(d), `cgroup ${d} removed`);
    await new Promise((r) => setTimeout(r, 200));
    for (const p of monitorPids) assert.ok(!alive(p), `monitor ${p} gone`);
    removeCgroupParent(cgroupParent);
    await rm(tmp, { recursive: true, force: true });
  });

  test('runs the command as PID 1 in its own namespaces, with its own hostname and rootfs', async () => {
    const c = await run(['sh', '-c', `echo $$; hostname; ls /; cat ${marker} || echo no-marker; echo oops >&2; exit 3`]);
    const events: string[] = [];
    const onEvent = (ev: { action: string; id: string }) => ev.id === c.id && events.push(ev.action);
    engine.on('container', onEvent);
    await engine.start(c.id);
    const { exitCode } = await engine.wait(c.id);
    assert.equal(exitCode, 3);
    engine.off('container', onEvent);
    assert.deepEqual(events, ['start', 'die']);
    const info = engine.inspect(c.id);
    assert.equal(info.state.status, 'exited');
    assert.equal(info.state.exitCode, 3);
    assert.equal(info.spec.network.hostname, c.id.slice(0, 12));
    const logs = await collect(engine.logs(c.id));
    const out = logs.filter((l) => l.stream === 'stdout').map((l) => l.line);
    const err = logs.filter((l) => l.stream === 'stderr').map((l) => l.line);
    assert.equal(out[0], '1\n', 'the command is PID 1');
    assert.equal(out[1], c.id.slice(0, 12) + '\n');
    const ls = out.slice(2, -1).map((l) => l.trim());
    // The root is the image's: its top level, nothing of the host's.
    const imageTop = new Set(images.layerDirs(image).flatMap((d) => readdirSync(d)));
    assert.deepEqual(ls.sort(), [...imageTop].sort());
    assert.ok(['bin', 'dev', 'etc', 'proc', 'sys'].every((d) => imageTop.has(d)), [...imageTop].join(' '));
    assert.equal(out.at(-1), 'no-marker\n', 'host files are not visible');
    assert.equal(err.length, 2);
    assert.match(err[0], /No such file or directory/);
    assert.equal(err[1], 'oops\n');
    // A seq is where the line ends in the log file: the lines' json-file lengths add up to it.
    const { logPath } = engine.inspect(c.id);
    const file = readFileSync(logPath, 'utf8').split('\n').slice(0, -1);
    assert.deepEqual(logs.map((l) => l.seq), file.map((_, i) => Buffer.byteLength(file.slice(0, i + 1).join('\n')) + 1));
    for (const l of logs) assert.match(l.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });

  test('exit codes: 0, and 127 for a missing command with the reason in the log', async () => {
    const ok = await run(['true']);
    await engine.start(ok.id);
    assert.equal((await engine.wait(ok.id)).exitCode, 0);

    const missing = await run(['no-such-command']);
    await assert.rejects(engine.start(missing.id), (e: unknown) => e instanceof EngineError && e.status === 400 && /executable file not found/.test(e.message));
    const info = engine.inspect(missing.id);
    assert.equal(info.state.exitCode, 127);
    assert.equal(info.state.running, false);
    assert.match(info.state.error, /no-such-command/);
    const logs = await collect(engine.logs(missing.id));
    assert.equal(logs.length, 1);
    assert.equal(logs[0].stream, 'stderr');
    assert.match(logs[0].line, /exec: "no-such-command": executable file not found in \$PATH/);

    const notExec = await run(['/etc/passwd']);
    await assert.rejects(engine.start(notExec.id), (e: unknown) => e instanceof EngineError && e.status === 400);
    assert.equal(engine.inspect(notExec.id).state.exitCode, 126);
  });

  test('memory and pids limits are in the container cgroups; stop kills after the timeout', async () => {
    const c = await run(['sleep', '1000'], { resources: { memory: 64 * 1024 * 1024, pidsLimit: 20, cpuShares: 512, nanoCpus: 0.5e9 } });
    await engine.start(c.id);
    const { pid } = engine.inspect(c.id).state;
    assert.ok(pid > 0 && alive(pid));
    const mem = readFileSync(cgroupFile(pid, 'memory', 'memory.limit_in_bytes', 'memory.max'), 'utf8').trim();
    assert.equal(mem, String(64 * 1024 * 1024));
    const pids = readFileSync(cgroupFile(pid, 'pids', 'pids.max', 'pids.max'), 'utf8').trim();
    assert.equal(pids, '20');
    const quota = readFileSync(cgroupFile(pid, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), 'utf8').trim();
    assert.ok(quota === '50000' || quota === '50000 100000', quota);
    const shares = readFileSync(cgroupFile(pid, 'cpu', 'cpu.shares', 'cpu.weight'), 'utf8').trim();
    assert.ok(shares === '512' || shares === '20', shares);
    const stats = await engine.stats(c.id);
    assert.ok(stats && stats.memoryUsage > 0 && stats.memoryLimit === 64 * 1024 * 1024 && stats.pids === 1, JSON.stringify(stats));
    assert.equal(engine.list().some((x) => x.id === c.id), true, 'listed as running');

    await assert.rejects(engine.remove(c.id), (e: unknown) => e instanceof EngineError && e.status === 409);
    const t0 = Date.now();
    // sleep as PID 1 has no SIGTERM handler, so only the SIGKILL after 1 s ends it.
    await engine.stop(c.id, 1);
    const took = Date.now() - t0;
    // The bounds are the semantics, not the machine: it waited out the 1 s grace, and not the default 10 s.
    assert.ok(took >= 900 && took < 10_000, `stop -t 1 took ${took} ms`);
    const info = engine.inspect(c.id);
    assert.equal(info.state.status, 'exited');
    assert.equal(info.state.exitCode, 137);
    assert.ok(!alive(pid));
    assert.equal(engine.list().some((x) => x.id === c.id), false);
  });

  test('a container over its memory limit is OOM-killed and says so', async () => {
    const c = await run(['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo survived'], { resources: { memory: 16 * 1024 * 1024 } });
    await engine.start(c.id);
    const { exitCode } = await engine.wait(c.id);
    const st = engine.inspect(c.id).state;
    assert.equal(st.oomKilled, true);
    assert.notEqual(exitCode, 0);
    assert.ok(!(await collect(engine.logs(c.id))).some((l) => l.line === 'survived\n'));
  });

  test('a shell that traps SIGTERM stops at once with its own code', async () => {
    const c = await run(['sh', '-c', 'trap "echo bye; exit 0" TERM; echo ready; while :; do sleep 0.05; done']);
    await engine.start(c.id);
    const ac = new AbortController();
    for await (const l of engine.logs(c.id, { follow: true, signal: ac.signal })) if (l.line === 'ready\n') break;
    await engine.stop(c.id, 10);
    // 0 and "bye": the trap ran, so SIGTERM ended it, not the SIGKILL after the timeout (137).
    assert.equal(engine.inspect(c.id).state.exitCode, 0);
    const lines = (await collect(engine.logs(c.id))).map((l) => l.line);
    assert.deepEqual(lines, ['ready\n', 'bye\n']);
  });

  test('logs follow as lines appear and can resume after a seq', async () => {
    // Each next line is printed only once the follower has shown the last one (the test sends
    // the signal that prints it), so the follow can only finish if it delivers live.
    const c = await run(['sh', '-c', 'trap "echo two >&2" USR1; trap "echo three; exit 0" USR2; echo one; while :; do sleep 0.05; done']);
    const seen: Array<[LogEntry, number]> = [];
    let started: Promise<void> | undefined;
    const follow = (async () => {
      for await (const l of engine.logs(c.id, { follow: true })) {
        seen.push([l, Date.now()]);
        // A line may come before start() has recorded the container as running.
        await started;
        if (l.line === 'one\n') await engine.kill(c.id, 'USR1');
        if (l.line === 'two\n') await engine.kill(c.id, 'USR2');
      }
    })();
    // Following a created container waits for it to start.
    started = engine.start(c.id);
    await started;
    await follow;
    assert.deepEqual(seen.map(([l]) => l.line), ['one\n', 'two\n', 'three\n']);
    assert.deepEqual(seen.map(([l]) => l.stream), ['stdout', 'stderr', 'stdout']);
    const resumed = await collect(engine.logs(c.id, { afterSeq: seen[0][0].seq }));
    assert.deepEqual(resumed.map((l) => l.seq), [seen[1][0].seq, seen[2][0].seq]);
    assert.deepEqual((await collect(engine.logs(c.id, { tail: 1 }))).map((l) => l.line), ['three\n']);
    assert.deepEqual((await collect(engine.logs(c.id, { stderr: false }))).map((l) => l.line), ['one\n', 'three\n']);
    const t2 = Date.parse(seen[1][0].time) / 1000;
    assert.deepEqual((await collect(engine.logs(c.id, { since: t2 - 0.001 }))).map((l) => l.line), ['two\n', 'three\n']);
    assert.deepEqual((await collect(engine.logs(c.id, { until: t2 - 0.001 }))).map((l) => l.line), ['one\n']);
  });

  test('json escaping, partial last lines and a user switch survive the round trip', async () => {
    const c = await run(['sh', '-c', String.raw`printf 'q"uote\\back\ttab\001ctl é\n'; id -u; printf 'no newline'`], { process: { user: 'nobody' } });
    await engine.start(c.id);
    await engine.wait(c.id);
    const lines = (await collect(engine.logs(c.id))).map((l) => l.line);
    assert.deepEqual(lines, ['q"uote\\back\ttab\u0001ctl é\n', '65534\n', 'no newline']);
  });

  test('a very long line is split into 16 KiB pieces that join back to what was printed', async () => {
    const c = await run(['sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" x; echo; echo after']);
    await engine.start(c.id);
    await engine.wait(c.id);
    const pieces = (await collect(engine.logs(c.id))).map((l) => l.line);
    assert.deepEqual(pieces.map((p) => p.length), [16384, 16384, 40000 - 2 * 16384 + 1, 6]);
    assert.equal(pieces.slice(0, 3).join(''), 'x'.repeat(40000) + '\n');
    assert.equal(pieces[3], 'after\n');
  });

  test('own network namespace with loopback up by default; the host network with networkMode host', async () => {
    const ifaces = (text: string) =>
      text.split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean).sort();
    const own = await run(['sh', '-c', 'cat /proc/net/dev; ip -o link show lo; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok']);
    await engine.start(own.id);
    assert.equal((await engine.wait(own.id)).exitCode, 0);
    const ownOut = (await collect(engine.logs(own.id))).map((l) => l.line).join('');
    assert.deepEqual(ifaces(ownOut.split(/\d+: lo:/)[0]), ['lo']);
    assert.match(ownOut, /\d+: lo: <[^>]*\bUP\b/);
    assert.match(ownOut, /ping-ok/);

    const host = await run(['cat', '/proc/net/dev'], { network: { mode: 'host' } });
    await engine.start(host.id);
    await engine.wait(host.id);
    const hostOut = (await collect(engine.logs(host.id))).map((l) => l.line).join('');
    assert.deepEqual(ifaces(hostOut), ifaces(readFileSync('/proc/net/dev', 'utf8')));
  });

  test('a minimal /dev, a read-only /sys, /proc of its own pid namespace', async () => {
    const c = await run([
      'sh',
      '-c',
      'ls /dev; echo x > /dev/null && echo null-ok; head -c 4 /dev/urandom | wc -c; touch /sys/x 2>/dev/null || echo sys-ro; echo /proc/[0-9]*; readlink /dev/ptmx',
    ]);
    await engine.start(c.id);
    assert.equal((await engine.wait(c.id)).exitCode, 0);
    const out = (await collect(engine.logs(c.id))).map((l) => l.line.trim());
    const devs = out.slice(0, out.indexOf('null-ok'));
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'ptmx', 'fd', 'stdin', 'stdout', 'stderr'])
      assert.ok(devs.includes(d), `/dev/${d}`);
    assert.ok(!devs.includes('sda') && !devs.includes('vda') && !devs.includes('kmsg'), 'no host devices');
    assert.deepEqual(out.slice(out.indexOf('null-ok')), ['null-ok', '4', 'sys-ro', '/proc/1', 'pts/ptmx']);
  });

  test("root in a container has Docker's default capabilities and cannot reach host knobs or disks", async () => {
    const disk = readdirSync('/sys/block').map((b) => join('/sys/block', b, 'dev')).find((f) => existsSync(f) && !/\/(loop|ram)/.test(f));
    const [maj, min] = disk ? readFileSync(disk, 'utf8').trim().split(':') : ['8', '0'];
    const script = [
      'grep -E "^Cap(Eff|Bnd)" /proc/self/status',
      // Writes back the value already there, so even a failure here changes nothing on the host.
      'v=$(cat /proc/sys/kernel/pid_max) && (echo $v > /proc/sys/kernel/pid_max) 2>/dev/null && echo sysctl-written || echo sysctl-refused',
      'echo -n "timer_list:"; wc -c < /proc/timer_list',
      'mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo mount-refused',
      `mknod /disk b ${maj} ${min} && (head -c 1 /disk >/dev/null 2>&1 && echo disk-read || echo disk-refused)`,
      'echo hi > /dev/null && echo devnull-ok',
    ].join('; ');
    const c = await run(['sh', '-c', script]);
    await engine.start(c.id);
    await engine.wait(c.id);
    const out = (await collect(engine.logs(c.id))).map((l) => l.line.trim());
    const cgroupsConfineDevices = engine.cgroups.confinesDevices;
    const want = cgroupsConfineDevices ? '00000000a80425fb' : '00000000a00425fb';
    assert.deepEqual(out.slice(0, 2).map((l) => l.replace(/\s+/g, ' ')), [`CapEff: ${want}`, `CapBnd: ${want}`]);
    assert.ok(out.includes('sysctl-refused'), out.join(' | '));
    if (existsSync('/proc/timer_list')) assert.ok(out.includes('timer_list:0'), out.join(' | '));
    assert.ok(out.includes('mount-refused'), out.join(' | '));
    assert.ok(!out.includes('disk-read'), out.join(' | '));
    assert.ok(out.includes('devnull-ok'));

    const user = await run(['grep', '-E', '^Cap(Eff|Bnd)', '/proc/self/status'], { process: { user: '65534' } });
    await engine.start(user.id);
    await engine.wait(user.id);
    const caps = (await collect(engine.logs(user.id))).map((l) => l.line.trim().replace(/\s+/g, ' '));
    assert.deepEqual(caps, ['CapEff: 0000000000000000', `CapBnd: ${want}`]);
  });

  test('exec runs a command inside a running container, with stdin, user and exit code', async () => {
    const c = await run(['sleep', '1000'], { process: { env: ['FROM_CONTAINER=yes'] } });
    await engine.start(c.id);
    const execOut = async (opts: Parameters<BerthEngine['exec']>[1], input?: string) => {
      const p = engine.exec(c.id, opts);
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      if (input !== undefined) p.stdin.end(input);
      const code = await new Promise<number>((r) => p.on('close', (code) => r(code ?? -1)));
      return { out, err, code };
    };
    const a = await execOut({ cmd: ['sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "; echo; echo $FROM_CONTAINER $EXTRA; id -u; pwd; test -e ' + marker + ' || echo no-marker'], env: ['EXTRA=x'], user: 'nobody', workingDir: '/etc' });
    assert.equal(a.code, 0, a.err);
    assert.deepEqual(a.out.split('\n'), [c.id.slice(0, 12), 'sleep 1000 ', 'yes x', '65534', '/etc', 'no-marker', '']);
    // In the container's cgroups (and cgroup namespace), every hierarchy it joined reads as its root.
    const cg = await execOut({ cmd: ['cat', '/proc/self/cgroup'] });
    for (const ctrl of ['memory', 'pids', 'cpu']) {
      const line = cg.out.split('\n').find((l) => l.split(':')[1]?.split(',').includes(ctrl));
      if (line) assert.equal(line.split(':')[2], '/', cg.out);
    }
    const b = await execOut({ cmd: ['cat'] }, 'through stdin\n');
    assert.deepEqual([b.code, b.out], [0, 'through stdin\n']);
    const missing = await execOut({ cmd: ['nope'] });
    assert.equal(missing.code, 127);
    assert.match(missing.err, /executable file not found/);
    assert.equal((await execOut({ cmd: ['sh', '-c', 'exit 9'] })).code, 9);
    await engine.stop(c.id, 0);
    assert.throws(() => engine.exec(c.id, { cmd: ['true'] }), (e: unknown) => e instanceof EngineError && e.status === 409);
  });

  test('a paused container refuses exec (it would freeze with it) and takes one again once unpaused', async () => {
    const c = await run(['sleep', '1000']);
    await engine.start(c.id);
    await engine.pause(c.id);
    assert.throws(() => engine.exec(c.id, { cmd: ['true'] }), (e: unknown) => e instanceof EngineError && e.status === 409 && /is paused, unpause the container before exec/.test(e.message));
    // Frozen, not gone: ps still lists the process.
    const top = await engine.top(c.id, '-o pid,comm');
    assert.deepEqual(top.processes.map((p) => p[1]), ['sleep']);
    await engine.unpause(c.id);
    const p = engine.exec(c.id, { cmd: ['true'] });
    assert.equal(await new Promise<number | null>((r) => p.on('close', r)), 0);
    await engine.remove(c.id, { force: true });
  });

  test('exec is refused once the init has exited, even before the engine has noticed', async () => {
    const c = await run(['sh', '-c', 'sleep 0.3']);
    await engine.start(c.id);
    await engine.close(); // stops watching: the record still says running after the exit
    try {
      const exitFile = join(root, 'containers', c.id, 'run', 'exit');
      for (let i = 0; i < 100 && !existsSync(exitFile); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(exitFile));
      assert.equal(engine.inspect(c.id).state.running, true);
      assert.throws(() => engine.exec(c.id, { cmd: ['true'] }), (e: unknown) => e instanceof EngineError && e.status === 409);
    } finally {
      engine = await openEngine({ root, images, cgroupParent });
    }
    assert.equal(engine.inspect(c.id).state.running, false);
  });

  test('mountReadOnly shows layers merged, whiteouts applied, and refuses writes', async () => {
    const { mountReadOnly, unmountOverlay, isMounted } = await import('../../agent/engine/mounts/overlay');
    const base = join(tmp, 'ovl');
    await mkdir(join(base, 'low1'), { recursive: true });
    await mkdir(join(base, 'top'), { recursive: true });
    await writeFile(join(base, 'low1', 'a'), 'from low1');
    await writeFile(join(base, 'low1', 'b'), 'low1 b');
    await writeFile(join(base, 'low1', 'gone'), 'deleted above');
    await writeFile(join(base, 'top', 'b'), 'top b');
    // An overlay whiteout, as a container's upper dir holds one for a deleted file.
    execFileSync('mknod', [join(base, 'top', 'gone'), 'c', '0', '0']);
    const target = join(base, 'merged');
    await mountReadOnly([join(base, 'top'), join(base, 'low1')], target);
    try {
      assert.ok(await isMounted(target));
      assert.equal(readFileSync(join(target, 'a'), 'utf8'), 'from low1');
      assert.equal(readFileSync(join(target, 'b'), 'utf8'), 'top b', 'the first layer given is on top');
      assert.ok(!existsSync(join(target, 'gone')), 'the whiteout hides the file below');
      await assert.rejects(writeFile(join(target, 'c'), 'new'), (e: NodeJS.ErrnoException) => e.code === 'EROFS');
    } finally {
      await unmountOverlay(target);
    }
    assert.ok(!(await isMounted(target)));
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(target));
    await unmountOverlay(target); // unmounting twice is fine
  });

  test('names are unique, ids resolve by prefix, unknown containers are 404', async () => {
    const a = await run(['true'], { name: 'rt-named' });
    assert.equal(engine.inspect('rt-named').id, a.id);
    assert.equal(engine.inspect(a.id.slice(0, 10)).id, a.id);
    await assert.rejects(run(['true'], { name: 'rt-named' }), (e: unknown) => e instanceof EngineError && e.status === 409);
    await assert.rejects(run(['true'], { name: 'bad name!' }), (e: unknown) => e instanceof EngineError && e.status === 400);
    assert.throws(() => engine.inspect('does-not-exist'), (e: unknown) => e instanceof EngineError && e.status === 404 && e.message === 'No such container: does-not-exist');
    const b = await run(['true']);
    assert.match(b.name, /^[a-z]+_[a-z]+\d*$/);
    await engine.remove(a.id);
    assert.throws(() => engine.inspect(a.id), (e: unknown) => e instanceof EngineError && e.status === 404);
    assert.ok(!existsSync(join(root, 'containers', a.id)));
  });

  test('autoRemove removes the container once it exits', async () => {
    const c = await run(['sh', '-c', 'exit 2'], { restart: { autoRemove: true } });
    const removed = engine.wait(c.id, 'removed');
    const nextExit = engine.wait(c.id, 'next-exit');
    await engine.start(c.id);
    assert.equal((await nextExit).exitCode, 2);
    assert.equal((await removed).exitCode, 2);
    assert.throws(() => engine.inspect(c.id), (e: unknown) => e instanceof EngineError && e.status === 404);
  });

  test('autoRemove removes a container whose monitor failed before it could detach', async () => {
    const c = await run(['true'], { restart: { autoRemove: true } });
    const removed = engine.wait(c.id, 'removed');
    // A log the monitor cannot open: it fails before it ever forks away from the agent.
    await rm(c.logPath);
    await mkdir(c.logPath);
    await assert.rejects(engine.start(c.id), (e: unknown) => e instanceof EngineError && /open log/.test(e.message));
    await removed;
    assert.throws(() => engine.inspect(c.id), (e: unknown) => e instanceof EngineError && e.status === 404);
  });

  test('containers outlive the engine; a new engine on the same root sees them and their exit', async () => {
    const long = await run(['sh', '-c', 'sleep 1.5; echo done; exit 4']);
    const short = await run(['sh', '-c', 'sleep 0.3; exit 6']);
    await engine.start(long.id);
    await engine.start(short.id);
    const pid = engine.inspect(long.id).state.pid;
    await engine.close();

    // The short one exits while no engine watches: its monitor still records the exit.
    await eventually('the short container\'s exit file', () => existsSync(join(root, 'containers', short.id, 'run', 'exit')), 15_000, 50);
    assert.ok(alive(pid), 'the container kept running without an engine');
    const again = await openEngine({ root, images, cgroupParent });
    engine = again;
    // The short one exited while no engine watched: reconciled from the monitor's exit file.
    const s = again.inspect(short.id).state;
    assert.equal(s.status, 'exited');
    assert.equal(s.exitCode, 6);
    const l = again.inspect(long.id).state;
    assert.equal(l.status, 'running');
    assert.equal(l.pid, pid);
    assert.equal((await again.wait(long.id)).exitCode, 4);
    assert.deepEqual((await collect(again.logs(long.id))).map((x) => x.line), ['done\n']);
    for (const id of [long.id, short.id]) for (const d of again.cgroups.paths(id)) assert.ok(!existsSync(d));
  });

  test('a prestart hook sees the init before it runs, can rewrite its files, and can refuse it', async () => {
    let fail = false;
    let seen: { pid: number; inCgroup: boolean } | undefined;
    const hooked = await openEngine({
      root: join(tmp, 'root-hooks'),
      images,
      cgroupParent,
      hooks: {
        prestart: async (c, ctx) => {
          const procs = hooked.cgroups.paths(c.id).map((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8'));
          seen = { pid: ctx.pid, inCgroup: procs.every((p) => p.split('\n').includes(String(ctx.pid))) };
          if (fail) throw new Error('boom');
          // A name no hex container id (the hostname, also in /etc/hosts) can contain.
          await writeFile(join(ctx.dir, 'hosts'), '10.1.2.3\tpostgres\n', { flag: 'a' });
        },
      },
    });
    try {
      const ok = await hooked.createContainer({ image: 'busybox:test', process: { cmd: ['grep', 'postgres', '/etc/hosts'] } });
      await hooked.start(ok.id);
      assert.equal((await hooked.wait(ok.id)).exitCode, 0);
      assert.deepEqual((await collect(hooked.logs(ok.id))).map((l) => l.line), ['10.1.2.3\tpostgres\n']);
      assert.ok(seen && seen.inCgroup && seen.pid > 0);

      fail = true;
      const refused = await hooked.createContainer({ image: 'busybox:test', process: { cmd: ['true'] } });
      const t0 = Date.now();
      await assert.rejects(hooked.start(refused.id), (e: unknown) => e instanceof EngineError && /prestart: boom/.test(e.message));
      const monitor = Number(readFileSync(join(tmp, 'root-hooks', 'containers', refused.id, 'run', 'monitor.pid'), 'utf8'));
      while (alive(monitor) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!alive(monitor), 'the monitor gave up at once');
      assert.ok(!alive(seen!.pid));
      for (const d of hooked.cgroups.paths(refused.id)) assert.ok(!existsSync(d));
      assert.equal(hooked.inspect(refused.id).state.running, false);
    } finally {
      for (const c of hooked.list({ all: true })) await hooked.remove(c.id, { force: true });
      await hooked.close();
    }
  });

  test("an image whose /etc is a symlink to a host path cannot make the runtime touch that path", async () => {
    // The rootfs is set up before pivot_root, where an absolute link still names the host's file.
    const hostDir = join(tmp, 'host-etc');
    await mkdir(hostDir);
    await symlink('/nowhere', join(hostDir, 'hosts'));
    const parts = hostDir.split('/').filter(Boolean);
    const layer = [
      ...parts.map((_, i) => ({ path: parts.slice(0, i + 1).join('/'), type: 'directory' as const, mode: 0o755 })),
      { path: 'etc', type: 'symlink' as const, linkpath: hostDir },
    ];
    const { store } = await busyboxStore(join(tmp, 'images-etc-link'), { extraLayers: [layer], tags: ['etclink:test'] });
    const linked = await openEngine({ root: join(tmp, 'root-etc-link'), images: store, cgroupParent });
    try {
      const c = await linked.createContainer({ image: 'etclink:test', process: { cmd: ['sh', '-c', 'cat /etc/hostname; ls /etc'] } });
      await linked.start(c.id);
      assert.equal((await linked.wait(c.id)).exitCode, 0);
      assert.deepEqual(readdirSync(hostDir), ['hosts'], 'nothing created in the host directory');
      assert.ok(lstatSync(join(hostDir, 'hosts')).isSymbolicLink(), 'the host symlink is still there');
      // Inside, the link resolves in the container's own root, where its files are bound.
      const out = (await collect(linked.logs(c.id))).map((l) => l.line.trim());
      assert.deepEqual(out, [c.id.slice(0, 12), 'hostname', 'hosts', 'resolv.conf']);
    } finally {
      for (const c of linked.list({ all: true })) await linked.remove(c.id, { force: true });
      await linked.close();
    }
  });

  test('a container removed while it is starting is gone for good, not brought back by the start', async () => {
    const raceRoot = join(tmp, 'root-race');
    let entered!: () => void;
    const inHook = new Promise<void>((r) => (entered = r));
    const slow = await openEngine({
      root: raceRoot,
      images,
      cgroupParent,
      hooks: {
        prestart: async () => {
          entered();
          await new Promise((r) => setTimeout(r, 300));
        },
      },
    });
    try {
      const c = await slow.createContainer({ image: 'busybox:test', process: { cmd: ['sleep', '1000'] } });
      const starting = slow.start(c.id);
      await inHook;
      await assert.rejects(slow.remove(c.id), (e: unknown) => e instanceof EngineError && e.status === 409);
      await slow.remove(c.id, { force: true });
      await starting.catch(() => undefined);
      assert.throws(() => slow.inspect(c.id), (e: unknown) => e instanceof EngineError && e.status === 404);
      assert.ok(!existsSync(join(raceRoot, 'containers', c.id)), 'its directory is gone');
      const reopened = await openEngine({ root: raceRoot, images, cgroupParent });
      assert.deepEqual(reopened.list({ all: true }), []);
      await reopened.close();
    } finally {
      for (const c of slow.list({ all: true })) await slow.remove(c.id, { force: true });
      await slow.close();
    }
  });

  test('removing a container cgroup that still has a task fails loudly, and works once it is empty', async () => {
    const id = 'f'.repeat(64);
    const dirs = await engine.cgroups.create(id, { memory: 0, memorySwap: 0, nanoCpus: 0, cpuShares: 0, pidsLimit: 0 });
    const { spawn } = await import('node:child_process');
    const sleeper = spawn('sleep', ['100'], { stdio: 'ignore' });
    try {
      await writeFile(join(dirs[0], 'cgroup.procs'), String(sleeper.pid));
      await assert.rejects(engine.cgroups.remove(id), /still has tasks/);
    } finally {
      sleeper.kill('SIGKILL');
      await new Promise((r) => sleeper.once('exit', r));
    }
    await engine.cgroups.remove(id);
    for (const d of dirs) assert.ok(!existsSync(d), `${d} removed`);
  });

  test('info reports real host facts', async () => {
    const info = await engine.info();
    assert.equal(info.cgroupVersion, existsSync('/sys/fs/cgroup/cgroup.controllers') ? 2 : 1);
    assert.equal(info.kernel, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
    assert.ok(info.cpus >= 1 && info.memTotal > 0);
    assert.equal(info.containers.total, engine.list({ all: true }).length);
  });
});
