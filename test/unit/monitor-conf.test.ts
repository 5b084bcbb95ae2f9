// The built berth-monitor refuses a configuration it does not understand instead of skipping
// what it does not know, and says so through the file protocol the agent reads (the `error`
// file, which becomes the start error a docker CLI user sees). Also: its state files are
// written durably (fsync, rename, directory fsync).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeConfig, MonitorRun, DEFAULT_CAPS, type MonitorConfig } from '../../agent/engine/containers/monitor';
import { defaultMountPlan } from '../../agent/engine/containers/mount-plan';
import { DEFAULT_SECCOMP_PROFILE, resolveSeccomp } from '../../agent/engine/containers/seccomp-profile';
import { DEFAULT_CAPABILITIES } from '../../agent/engine/containers/security';
import { monitorBinary } from '../../agent/native/binary';
import { traceFileCalls } from '../fixtures/strace';

/** Every field the agent can send, so a key the monitor does not know would show up. */
const FULL: MonitorConfig = {
  rootfs: '/nonexistent/rootfs',
  overlay: 'lowerdir=/a,upperdir=/b,workdir=/c',
  hostname: 'h',
  user: '1000:1000',
  cwd: '/',
  log: '/nonexistent/x-json.log',
  logMaxSize: 10_000,
  logMaxFile: 3,
  newNetns: true,
  env: ['A=b'],
  argv: ['true'],
  cgroups: ['/nonexistent/cgroup'],
  monitorCgroups: ['/nonexistent/monitor-cgroup'],
  caps: DEFAULT_CAPS,
  oomScoreAdj: 0,
  monitorOomScoreAdj: -1000,
  plan: defaultMountPlan({ hostname: '/nonexistent/hostname', hosts: '/nonexistent/hosts', resolvConf: '/nonexistent/resolv.conf' }),
  security: {
    noNewPrivileges: true,
    seccomp: resolveSeccomp(DEFAULT_SECCOMP_PROFILE, DEFAULT_CAPABILITIES),
    rlimits: ['nofile:1024:2048'],
    sysctls: ['net.ipv4.ip_forward=1'],
    pidHost: true,
    ipcHost: true,
    utsHost: true,
    readonlyRootfs: true,
  },
  tty: true,
  ttySize: { rows: 24, cols: 80 },
  openStdin: true,
  groupAdd: ['audio', '4242'],
};

describe('berth-monitor configuration', () => {
  let tmp = '';
  let n = 0;
  before(() => (tmp = mkdtempSync(join(os.tmpdir(), 'berth-monconf-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  /** A state dir holding `conf` as monitor.conf, after `berth-monitor run` on it. */
  const runWith = (conf: Buffer) => {
    const dir = join(tmp, `state-${++n}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'monitor.conf'), conf);
    const r = spawnSync(monitorBinary(), ['run', dir], { encoding: 'utf8' });
    return { dir, code: r.status, run: new MonitorRun(dir) };
  };
  const entries = (...e: string[]) => Buffer.from(e.map((x) => x + '\0').join(''));

  test('an unknown key fails the start with an error naming it, after every key the agent sends was accepted', () => {
    // The agent's own encoding first: the monitor stops at the first key it does not know.
    const { dir, code, run } = runWith(Buffer.concat([encodeConfig(FULL), entries('memory_swappiness=60')]));
    assert.equal(code, 1);
    assert.equal(run.error(), 'berth-monitor: monitor.conf: unknown configuration key "memory_swappiness"');
    assert.equal(run.exit()?.code, 128);
    assert.ok(!existsSync(join(dir, 'monitor.pid')), 'no container was started');
  });

  test('an entry without "=" is refused, named', () => {
    const { code, run } = runWith(entries('rootfs=/x', 'readonly'));
    assert.equal(code, 1);
    assert.equal(run.error(), 'berth-monitor: monitor.conf: entry "readonly" is not key=value');
  });

  test('values it cannot read are refused, named', () => {
    assert.equal(runWith(entries('rootfs=/x', 'netns=container:abc')).run.error(), 'berth-monitor: monitor.conf: netns=container:abc: not "new" or "host"');
    assert.equal(runWith(entries('rootfs=/x', 'caps=all')).run.error(), 'berth-monitor: monitor.conf: caps=all: not a hex capability mask: Invalid argument');
    assert.equal(runWith(entries('rootfs=/x', 'tty=yes')).run.error(), 'berth-monitor: monitor.conf: tty=yes: not 0 or 1');
    assert.equal(runWith(entries('rootfs=/x', 'tty=1', 'tty_size=24')).run.error(), 'berth-monitor: monitor.conf: tty_size=24: not ROWSxCOLS');
    assert.equal(runWith(entries('rootfs=/x', 'tty=1', 'tty_size=24x99999')).run.error(), 'berth-monitor: monitor.conf: tty_size=99999: not a number in range');
    assert.equal(runWith(entries('rootfs=/x', 'tty_size=24x80')).run.error(), 'berth-monitor: monitor.conf: tty_size= without tty=1 would not apply');
    assert.equal(runWith(entries('rootfs=/x', 'stdin=maybe')).run.error(), 'berth-monitor: monitor.conf: stdin=maybe: not "open" or "null"');
    assert.equal(runWith(entries('rootfs=/x', 'group_add=a:b')).run.error(), 'berth-monitor: monitor.conf: group_add=a:b: not a group name or id');
    assert.equal(runWith(entries('rootfs=/x', 'log=/l', 'log_max_size=0')).run.error(), 'berth-monitor: monitor.conf: log_max_size=0: not a positive number in range');
    assert.equal(runWith(entries('rootfs=/x', 'log=/l', 'log_max_size=1', 'log_max_file=1000001')).run.error(), 'berth-monitor: monitor.conf: log_max_file=1000001: not a positive number in range');
    assert.equal(runWith(entries('rootfs=/x', 'log=/l', 'log_max_file=2')).run.error(), 'berth-monitor: monitor.conf: log_max_file= without log_max_size= would not apply');
    assert.equal(runWith(entries('rootfs=/x', 'log_max_size=100')).run.error(), 'berth-monitor: monitor.conf: log_max_size= or log_max_file= without log= would not apply');
  });

  test('exec refuses an unknown key the same way, on stderr', () => {
    const conf = join(tmp, 'exec.conf');
    writeFileSync(conf, entries('user=0', 'cwd=/', 'arg=true', 'console=1'));
    const r = spawnSync(monitorBinary(), ['exec', tmp, conf], { encoding: 'utf8' });
    assert.equal(r.status, 128);
    assert.equal(r.stderr, `berth-monitor: ${conf}: unknown configuration key "console"\n`);
    // A key only `run` knows would be as lost on exec: refused too, before any container is asked.
    writeFileSync(conf, entries('user=0', 'arg=true', 'mount=/data'));
    const m = spawnSync(monitorBinary(), ['exec', tmp, conf], { encoding: 'utf8' });
    assert.deepEqual([m.status, m.stderr], [128, `berth-monitor: ${conf}: key "mount" does not apply to exec\n`]);
  });

  test('exec into a state dir without a live monitor says the container is not running', () => {
    const conf = join(tmp, 'exec-ok.conf');
    writeFileSync(conf, entries('user=0', 'arg=true'));
    const r = spawnSync(monitorBinary(), ['exec', tmp, conf], { encoding: 'utf8' });
    assert.deepEqual([r.status, r.stderr], [126, 'berth-monitor: container is not running (its monitor is gone)\n']);
  });

  test('the mount plan is checked whole before anything starts: records, attributes, options', () => {
    const refused = (...e: string[]) => runWith(entries('rootfs=/x', ...e)).run.error();
    assert.equal(refused('mount.type=tmpfs'), 'berth-monitor: monitor.conf: mount.type=tmpfs: no mount= entry before it');
    assert.equal(refused('mount=/data'), 'berth-monitor: monitor.conf: mount=/data: has no mount.type');
    assert.equal(refused('mount=data', 'mount.type=tmpfs'), 'berth-monitor: monitor.conf: mount=data: not an absolute path');
    assert.equal(refused('mount=/d', 'mount.type=tmpfs', 'mount.type=proc'), 'berth-monitor: monitor.conf: mount.type=proc: given twice');
    assert.equal(
      refused('mount=/d', 'mount.type=bind', 'mount.source=/tmp', 'mount.options=rbind,mode=755'),
      'berth-monitor: mount=/d: option "mode=755" does not apply to a bind mount',
    );
    assert.equal(refused('mount=/d', 'mount.type=bind'), 'berth-monitor: mount=/d: a bind mount needs an absolute mount.source');
    assert.equal(
      refused('device=/dev/null', 'device.type=c', 'device.mode=666'),
      'berth-monitor: monitor.conf: device=/dev/null: needs device.type, device.mode and (for c and b) device.major and device.minor',
    );
    assert.equal(refused('device=/dev/x', 'device.type=c', 'device.mode=999'), 'berth-monitor: monitor.conf: device.mode=999: not an octal number in range');
    assert.equal(refused('device=/dev/..', 'device.type=p'), 'berth-monitor: monitor.conf: device=/dev/..: does not end in a name');
    assert.equal(refused('symlink=/dev/fd'), 'berth-monitor: monitor.conf: symlink=/dev/fd: has no symlink.target');
    assert.equal(refused('oom_score_adj=-1001'), 'berth-monitor: monitor.conf: oom_score_adj=-1001: not a number from -1000 to 1000');
    assert.equal(refused('hostname=a', 'hostname=b'), 'berth-monitor: monitor.conf: hostname=b: given twice');
  });

  test('isolation settings are checked before anything starts: seccomp rules, rlimits, sysctls, namespaces', () => {
    const refused = (...e: string[]) => runWith(entries('rootfs=/x', ...e)).run.error();
    assert.equal(refused('seccomp=deny'), 'berth-monitor: seccomp=deny: not allow, log, trap, kill_thread, kill_process, errno:N or trace:N');
    assert.equal(refused('seccomp.rule=allow'), 'berth-monitor: monitor.conf: seccomp.rule=allow: no seccomp= entry before it');
    assert.equal(refused('seccomp=errno:1', 'seccomp.syscall=read'), 'berth-monitor: monitor.conf: seccomp.syscall=read: no seccomp.rule= entry before it');
    assert.equal(refused('seccomp=errno:1', 'seccomp.rule=allow'), 'berth-monitor: monitor.conf: seccomp.rule=allow: has no seccomp.syscall');
    assert.equal(refused('seccomp=errno:99999'), 'berth-monitor: seccomp=errno:99999: not a number in range');
    assert.equal(refused('seccomp=errno:1', 'seccomp.arch=vax'), 'berth-monitor: seccomp.arch=vax: an architecture libseccomp does not know');
    assert.equal(refused('seccomp=errno:1', 'seccomp.flag=fast'), 'berth-monitor: seccomp.flag=fast: not log, spec_allow or tsync');
    assert.equal(
      refused('seccomp=errno:1', 'seccomp.rule=allow', 'seccomp.syscall=read', 'seccomp.arg=6:eq:1'),
      'berth-monitor: seccomp.arg=6:eq:1: not a number in range',
    );
    assert.equal(
      refused('seccomp=errno:1', 'seccomp.rule=allow', 'seccomp.syscall=read', 'seccomp.arg=0:like:1'),
      'berth-monitor: seccomp.arg=0:like:1: operator is not ne, lt, le, eq, ge, gt or masked_eq',
    );
    assert.equal(refused('rlimit=nofile:10'), 'berth-monitor: rlimit=nofile:10: not NAME:SOFT:HARD');
    assert.equal(refused('rlimit=files:1:1'), 'berth-monitor: rlimit=files:1:1: unknown resource "files"');
    assert.equal(refused('rlimit=nofile:20:10'), 'berth-monitor: rlimit=nofile:20:10: the soft limit is above the hard one');
    assert.equal(refused('rlimit=nofile:1:1', 'rlimit=nofile:2:2'), 'berth-monitor: rlimit=nofile:2:2: nofile given twice');
    assert.equal(refused('sysctl=net/../../kcore=1'), 'berth-monitor: sysctl=net/../../kcore=1: not a sysctl name');
    assert.equal(refused('no_new_privs=yes'), 'berth-monitor: monitor.conf: no_new_privs=yes: not 1');
    assert.equal(refused('pidns=container:x'), 'berth-monitor: monitor.conf: pidns=container:x: not "new" or "host"');
    assert.equal(refused('utsns=host', 'hostname=h'), 'berth-monitor: monitor.conf: hostname=h: given with utsns=host');
  });

  test('writes error and exit with fsync, rename, then a directory fsync', () => {
    const dir = join(tmp, 'traced');
    mkdirSync(dir);
    writeFileSync(join(dir, 'monitor.conf'), entries('rootfs=/x', 'bogus=1'));
    const role = (p: string) => (p === '.' ? 'dir' : /^(error|exit)(\.tmp)?$/.test(p) ? p : undefined);
    const calls = traceFileCalls(monitorBinary(), ['run', dir], role, { allowExit: [1] });
    const one = (f: string) => [`open ${f}.tmp`, `fsync ${f}.tmp`, `close ${f}.tmp`, `rename ${f}.tmp → ${f}`, 'open dir', 'fsync dir', 'close dir'];
    assert.deepEqual(calls, [...one('error'), ...one('exit')], calls.join('\n'));
    assert.match(readFileSync(join(dir, 'error'), 'utf8'), /"bogus"/);
  });
});
