// The engine's isolation decisions without a container: which seccomp rules apply for which
// capabilities and architectures (Docker's setupSeccomp), Docker's capability arithmetic,
// which sysctls and ulimits are accepted, what the mount plan becomes, and how the Docker
// face reads --security-opt, --pid/--ipc/--uts and the rest of the create body. The real
// effect inside containers is test/integration/docker-cli-isolation.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createSpec } from '../../agent/dockerapi/containers';
import { HttpError } from '../../agent/dockerapi/http';
import { defaultMountPlan, mergeTmpfsOptions, type PlanDevice } from '../../agent/engine/containers/mount-plan';
import { DEFAULT_SECCOMP_PROFILE, parseSeccompProfile, resolveSeccomp, seccompEntries, SeccompProfileError } from '../../agent/engine/containers/seccomp-profile';
import { agentCapabilities, capMask, containerCapabilities, DEFAULT_CAPABILITIES, isolationDefaults, normalizeCapabilities, securityEntries, withIsolationDefaults } from '../../agent/engine/containers/security';
import { resolveSpec } from '../../agent/engine/containers/spec';
import { EngineError } from '../../agent/engine/errors';

const ID = 'abcdef0123456789'.repeat(4);
const is400 = (words: RegExp) => (e: unknown) => e instanceof EngineError && e.status === 400 && words.test(e.message);
const httpError = (words: RegExp) => (e: unknown) => e instanceof HttpError && e.status === 400 && words.test(e.message);
const resolve = (spec: Parameters<typeof resolveSpec>[1]) => resolveSpec(ID, spec, { Cmd: ['sh'] });

describe('the default seccomp profile, resolved', () => {
  const amd64 = { arch: 'amd64', kernel: [6, 1] as [number, number] };
  const arm64 = { arch: 'arm64', kernel: [6, 1] as [number, number] };
  const rulesFor = (caps: string[], host = amd64) => resolveSeccomp(DEFAULT_SECCOMP_PROFILE, caps, host)!;
  const named = (r: ReturnType<typeof rulesFor>, name: string) => r.rules.filter((x) => x.names.includes(name));

  test('denies with EPERM by default and covers x86_64 with its 32-bit ABIs, aarch64 with arm', () => {
    const r = rulesFor(DEFAULT_CAPABILITIES);
    assert.equal(r.defaultAction, 'errno:1');
    assert.deepEqual(r.architectures, ['x86_64', 'x86', 'x32']);
    assert.deepEqual(rulesFor(DEFAULT_CAPABILITIES, arm64).architectures, ['aarch64', 'arm']);
  });

  test('without CAP_SYS_ADMIN: clone only without namespace flags, clone3 ENOSYS, no mount, unshare or setns', () => {
    const r = rulesFor(DEFAULT_CAPABILITIES);
    assert.deepEqual(named(r, 'clone'), [{ action: 'allow', names: ['clone'], args: ['0:masked_eq:2114060288'] }]);
    assert.deepEqual(named(r, 'clone3'), [{ action: 'errno:38', names: ['clone3'], args: [] }]);
    for (const n of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'kcmp', 'reboot', 'init_module', 'open_by_handle_at']) assert.deepEqual(named(r, n), [], n);
    // chroot comes with the default CAP_SYS_CHROOT.
    assert.equal(named(r, 'chroot').length, 1);
  });

  test('with CAP_SYS_ADMIN: clone, clone3, mount, unshare and setns are allowed outright', () => {
    const r = rulesFor([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    assert.deepEqual(named(r, 'clone').map((x) => x.args), [[]]);
    assert.deepEqual(named(r, 'clone3').map((x) => x.action), ['allow']);
    for (const n of ['mount', 'umount2', 'unshare', 'setns', 'sethostname']) assert.equal(named(r, n).length, 1, n);
  });

  test('capability-conditional rules follow each capability', () => {
    const withCaps = (c: string) => rulesFor([...DEFAULT_CAPABILITIES, c]);
    assert.equal(named(withCaps('CAP_SYS_PTRACE'), 'kcmp').length, 1);
    assert.equal(named(withCaps('CAP_SYS_TIME'), 'settimeofday').length, 1);
    assert.equal(named(withCaps('CAP_SYS_MODULE'), 'finit_module').length, 1);
    assert.equal(named(withCaps('CAP_DAC_READ_SEARCH'), 'open_by_handle_at').length, 1);
    assert.equal(named(rulesFor(DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_SYS_CHROOT')), 'chroot').length, 0);
  });

  test('argument filters: personality values, socket families but AF_ALG and AF_VSOCK', () => {
    const r = rulesFor(DEFAULT_CAPABILITIES);
    assert.deepEqual(named(r, 'personality').map((x) => x.args), [['0:eq:0'], ['0:eq:8'], ['0:eq:131072'], ['0:eq:131080'], ['0:eq:4294967295']]);
    assert.deepEqual(named(r, 'socket').map((x) => x.args), [['0:lt:38'], ['0:eq:39'], ['0:gt:40']]);
  });

  test('architecture rules: arch_prctl and modify_ldt on x86_64 only, the arm calls on aarch64 only', () => {
    const x = rulesFor(DEFAULT_CAPABILITIES);
    const a = rulesFor(DEFAULT_CAPABILITIES, arm64);
    assert.equal(named(x, 'arch_prctl').length, 1);
    assert.equal(named(x, 'modify_ldt').length, 1);
    assert.equal(named(x, 'set_tls').length, 0);
    assert.equal(named(a, 'arch_prctl').length, 0);
    assert.equal(named(a, 'set_tls').length, 1);
    assert.equal(named(a, 'cacheflush').length, 1);
  });

  test('minKernel: ptrace without CAP_SYS_PTRACE only from 4.8', () => {
    assert.equal(named(rulesFor(DEFAULT_CAPABILITIES, { arch: 'amd64', kernel: [4, 4] }), 'ptrace').length, 0);
    assert.equal(named(rulesFor(DEFAULT_CAPABILITIES, { arch: 'amd64', kernel: [4, 8] }), 'ptrace').length, 1);
  });

  test('monitor entries: the default action, architectures, then each rule with its names and arguments', () => {
    const e = seccompEntries({ defaultAction: 'errno:1', architectures: ['x86_64'], flags: ['log'], rules: [{ action: 'allow', names: ['read', 'write'], args: ['0:eq:1'] }] });
    assert.deepEqual(e, ['seccomp=errno:1', 'seccomp.arch=x86_64', 'seccomp.flag=log', 'seccomp.rule=allow', 'seccomp.syscall=read', 'seccomp.syscall=write', 'seccomp.arg=0:eq:1']);
    assert.deepEqual(seccompEntries(undefined), []);
  });
});

describe('seccomp profiles in Docker\'s format', () => {
  test('a small profile resolves; errnoRet and old single "name" rules are read', () => {
    const p = parseSeccompProfile(JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ name: 'mkdir', action: 'SCMP_ACT_ERRNO', errnoRet: 13 }, { names: ['chmod'], action: 'SCMP_ACT_KILL_PROCESS' }] }));
    assert.deepEqual(resolveSeccomp(p, []), {
      defaultAction: 'allow',
      architectures: ['x86_64'],
      flags: [],
      rules: [
        { action: 'errno:13', names: ['mkdir'], args: [] },
        { action: 'kill_process', names: ['chmod'], args: [] },
      ],
    });
  });

  test('an empty profile is no filter at all, as in Docker', () => {
    assert.equal(resolveSeccomp(parseSeccompProfile('{}'), []), undefined);
  });

  test('what cannot be honoured is refused by name: bad JSON, unknown keys, notify, listeners, both arch lists, big values', () => {
    const refused = (json: string, words: RegExp) => assert.throws(() => resolveSeccomp(parseSeccompProfile(json), []), (e: unknown) => e instanceof SeccompProfileError && words.test(e.message), json);
    refused('{', /Decoding seccomp profile failed/);
    refused('{"defaultAction":"SCMP_ACT_ERRNO","syscals":[]}', /unknown field "syscals"/);
    refused('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}', /SCMP_ACT_NOTIFY/);
    refused('{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/run/agent.sock"}', /listenerPath/);
    refused('{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}]}', /both 'architectures' and 'archMap'/);
    refused('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}', /syscalls\.0\.args\.0\.value: Too big/);
    refused('{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}', /errnoRet applies only/);
    refused('{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}', /flag SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV/);
  });
});

describe('capabilities, Docker\'s way', () => {
  const sec = (o: Partial<ReturnType<typeof isolationDefaults>['security']>) => ({ ...isolationDefaults().security, ...o });
  const have = agentCapabilities();
  const has = (c: string) => (have & capMask([c])) !== 0n;

  test('names with or without CAP_, any case, and ALL; unknown ones are Docker\'s error', () => {
    assert.deepEqual(normalizeCapabilities(['net_admin', 'CAP_SYS_TIME', 'Chown', 'all']), ['CAP_NET_ADMIN', 'CAP_SYS_TIME', 'CAP_CHOWN', 'ALL']);
    assert.throws(() => normalizeCapabilities(['FOO']), is400(/unknown capability: "CAP_FOO"/));
  });

  test('the default set, drops, adds, drop ALL, add ALL, privileged', () => {
    assert.equal(containerCapabilities(sec({}), true), 0xa80425fbn);
    assert.equal(containerCapabilities(sec({ capDrop: ['CAP_CHOWN'] }), true), 0xa80425fan);
    assert.equal(containerCapabilities(sec({ capDrop: ['ALL'], capAdd: ['CAP_CHOWN'] }), true), 1n);
    if (has('CAP_NET_ADMIN')) assert.equal(containerCapabilities(sec({ capAdd: ['CAP_NET_ADMIN'] }), true), 0xa80435fbn);
    assert.equal(containerCapabilities(sec({ capAdd: ['ALL'], capDrop: ['CAP_KILL'] }), true), have & ~capMask(['CAP_KILL']));
    assert.equal(containerCapabilities(sec({ privileged: true, capDrop: ['ALL'] }), true), have);
  });

  test('without a devices cgroup CAP_MKNOD is left out of the default set and refused when asked for', () => {
    assert.equal(containerCapabilities(sec({}), false), 0xa80425fbn & ~capMask(['CAP_MKNOD']));
    assert.throws(() => containerCapabilities(sec({ capAdd: ['CAP_MKNOD'] }), false), is400(/does not grant CAP_MKNOD/));
  });

  test('a capability this agent does not have cannot be added', { skip: has('CAP_SYS_RESOURCE') && 'this agent has CAP_SYS_RESOURCE, every capability there is' }, () => {
    assert.throws(() => containerCapabilities(sec({ capAdd: ['CAP_SYS_RESOURCE'] }), true), is400(/not available in the current environment: "CAP_SYS_RESOURCE"/));
  });
});

describe('the spec\'s isolation sections at create', () => {
  test('defaults are Docker\'s, and records written before them read as those defaults', () => {
    const r = resolve({ image: 'x' });
    assert.deepEqual({ security: r.security, filesystem: r.filesystem, namespaces: r.namespaces, kernel: r.kernel }, isolationDefaults());
    const { security: _s, filesystem: _f, namespaces: _n, kernel: _k, ...old } = r;
    const upgraded = withIsolationDefaults({ ...old, process: { ...r.process, init: undefined, stopSignal: undefined, stopTimeout: undefined } } as never);
    assert.deepEqual(upgraded, r);
    assert.equal(withIsolationDefaults(r), r);
  });

  test('sysctls: only namespaced ones, and not in a namespace shared with the host', () => {
    const kernel = (sysctls: Record<string, string>) => ({ sysctls });
    assert.deepEqual(resolve({ image: 'x', kernel: kernel({ 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '20', 'kernel.domainname': 'd' }) }).kernel.sysctls, {
      'net.ipv4.ip_forward': '1',
      'kernel.shmmax': '1',
      'fs.mqueue.msg_max': '20',
      'kernel.domainname': 'd',
    });
    assert.throws(() => resolve({ image: 'x', kernel: kernel({ 'vm.swappiness': '1' }) }), is400(/sysctl "vm.swappiness" is not in a separate kernel namespace/));
    assert.throws(() => resolve({ image: 'x', network: { mode: 'host' }, kernel: kernel({ 'net.ipv4.ip_forward': '1' }) }), is400(/not allowed in host network namespace/));
    assert.throws(() => resolve({ image: 'x', namespaces: { ipc: 'host' }, kernel: kernel({ 'kernel.sem': '1' }) }), is400(/hosts ipc namespace/));
    assert.throws(() => resolve({ image: 'x', namespaces: { uts: 'host' }, kernel: kernel({ 'kernel.domainname': 'd' }) }), is400(/not in a separate kernel namespace/));
    assert.throws(() => resolve({ image: 'x', kernel: kernel({ 'kernel.hostname': 'h' }) }), is400(/--hostname/));
    assert.throws(() => resolve({ image: 'x', kernel: kernel({ 'net/../../x': '1' }) }), is400(/invalid sysctl name/));
  });

  test('ulimits, tmpfs, devices, namespaces, init and the stop signal are checked', () => {
    assert.deepEqual(resolve({ image: 'x', kernel: { ulimits: [{ name: 'NOFILE', soft: 10, hard: 20 }] } }).kernel.ulimits, [{ name: 'nofile', soft: 10, hard: 20 }]);
    assert.throws(() => resolve({ image: 'x', kernel: { ulimits: [{ name: 'files', soft: 1, hard: 1 }] } }), is400(/invalid ulimit type: files/));
    assert.throws(() => resolve({ image: 'x', kernel: { ulimits: [{ name: 'nofile', soft: 30, hard: 20 }] } }), is400(/soft limit must be less than or equal to hard limit/));
    assert.deepEqual(resolve({ image: 'x', filesystem: { tmpfs: { '/run/': 'size=1m' } } }).filesystem.tmpfs, { '/run': 'size=1m' });
    assert.throws(() => resolve({ image: 'x', filesystem: { tmpfs: { run: '' } } }), is400(/must be absolute/));
    assert.throws(() => resolve({ image: 'x', filesystem: { tmpfs: { '/': '' } } }), is400(/destination can't be '\/'/));
    assert.deepEqual(resolve({ image: 'x', security: { devices: [{ hostPath: '/dev/null' }] } }).security.devices, [{ hostPath: '/dev/null', containerPath: '/dev/null', permissions: 'rwm' }]);
    assert.throws(() => resolve({ image: 'x', security: { devices: [{ hostPath: '/dev/null', permissions: 'rx' }] } }), is400(/invalid device mode: rx/));
    assert.throws(() => resolve({ image: 'x', namespaces: { uts: 'host' }, network: { hostname: 'h' } }), is400(/Conflicting options: hostname and the UTS mode/));
    assert.throws(() => resolve({ image: 'x', namespaces: { pid: 'host' }, process: { init: true } }), is400(/--init with --pid host/));
    assert.throws(() => resolve({ image: 'x', process: { stopSignal: 'SIGNOPE' } }), is400(/Invalid signal: SIGNOPE/));
    assert.throws(() => resolve({ image: 'x', security: { seccomp: { profile: '{"defaultAction": 1}' } } }), is400(/seccomp profile: defaultAction/));
  });

  test('monitor entries: exec gets what applies to a process, run also the namespaces and the rootfs', () => {
    const s = { noNewPrivileges: true, rlimits: ['nofile:1:2'], sysctls: ['net.ipv4.ip_forward=1'], pidHost: true, ipcHost: false, utsHost: true, readonlyRootfs: true };
    assert.deepEqual(securityEntries(s, 'exec'), ['no_new_privs=1', 'rlimit=nofile:1:2']);
    assert.deepEqual(securityEntries(s, 'run'), ['no_new_privs=1', 'rlimit=nofile:1:2', 'sysctl=net.ipv4.ip_forward=1', 'rootfs_readonly=1', 'pidns=host', 'utsns=host']);
  });
});

describe('the mount plan\'s options', () => {
  const etc = { hostname: '/h', hosts: '/hs', resolvConf: '/r' };
  const mount = (p: ReturnType<typeof defaultMountPlan>, dest: string) => p.mounts.find((m) => m.destination === dest);

  test('tmpfs options merge over noexec,nosuid,nodev: later words win over their opposites, later keys over earlier ones', () => {
    assert.deepEqual(mergeTmpfsOptions([]), ['noexec', 'nosuid', 'nodev']);
    assert.deepEqual(mergeTmpfsOptions(['exec', 'size=1m', 'size=2m', 'mode=700']), ['nosuid', 'nodev', 'exec', 'size=2m', 'mode=700']);
  });

  test('read-only rootfs: the /etc binds and /sys read-only, /dev, /proc, /dev/shm and tmpfs mounts not', () => {
    const p = defaultMountPlan(etc, { readonlyRootfs: true, tmpfs: [{ destination: '/run', options: [] }] });
    for (const d of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/sys']) assert.ok(mount(p, d)!.options.includes('ro'), d);
    for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/run']) assert.ok(!mount(p, d)!.options.includes('ro'), d);
  });

  test('privileged: /sys writable, nothing masked or read-only; explicit lists still apply', () => {
    const p = defaultMountPlan(etc, { privileged: true });
    assert.ok(!mount(p, '/sys')!.options.includes('ro'));
    assert.deepEqual([p.maskedPaths, p.readonlyPaths], [[], []]);
    assert.deepEqual(defaultMountPlan(etc, { maskedPaths: ['/proc/kcore'], readonlyPaths: [] }).maskedPaths, ['/proc/kcore']);
  });

  test('/dev/shm: its size, the host\'s with --ipc host, none with --ipc none; the init is bound read-only', () => {
    assert.ok(mount(defaultMountPlan(etc, { shmSize: 128 << 20 }), '/dev/shm')!.options.includes(`size=${128 << 20}`));
    assert.deepEqual(mount(defaultMountPlan(etc, { ipc: 'host' }), '/dev/shm'), { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'rprivate'] });
    assert.equal(mount(defaultMountPlan(etc, { ipc: 'none' }), '/dev/shm'), undefined);
    assert.deepEqual(mount(defaultMountPlan(etc, { init: '/x/berth-monitor' }), '/sbin/docker-init'), { destination: '/sbin/docker-init', type: 'bind', source: '/x/berth-monitor', options: ['bind', 'ro'] });
  });

  test('extra devices replace defaults at the same path and give way to the container\'s links (/dev/ptmx)', () => {
    const dev = (path: string, minor: number): PlanDevice => ({ path, type: 'c', major: 9, minor, mode: 0o600, uid: 0, gid: 0 });
    const p = defaultMountPlan(etc, { devices: [dev('/dev/null', 1), dev('/dev/ptmx', 2), dev('/dev/xyz', 3)] });
    assert.deepEqual(p.devices.filter((d) => d.major === 9).map((d) => d.path), ['/dev/null', '/dev/xyz']);
    assert.equal(p.devices.filter((d) => d.path === '/dev/null').length, 1);
  });
});

describe('the Docker face', () => {
  const spec = (hc: Record<string, unknown>, extra: Record<string, unknown> = {}) => createSpec({ Image: 'x', HostConfig: hc, ...extra }, undefined);

  test('--security-opt: seccomp profiles, unconfined, builtin, no-new-privileges (bare and =bool), old colon form', () => {
    assert.deepEqual(spec({ SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}'] }).security?.seccomp, { profile: '{"defaultAction":"SCMP_ACT_ALLOW"}' });
    assert.equal(spec({ SecurityOpt: ['seccomp=unconfined'] }).security?.seccomp, 'unconfined');
    assert.equal(spec({ SecurityOpt: ['seccomp:unconfined'] }).security?.seccomp, 'unconfined');
    assert.equal(spec({ SecurityOpt: ['seccomp=builtin'] }).security?.seccomp, 'default');
    assert.equal(spec({ SecurityOpt: ['no-new-privileges'] }).security?.noNewPrivileges, true);
    assert.equal(spec({ SecurityOpt: ['no-new-privileges=false'] }).security?.noNewPrivileges, false);
    assert.equal(spec({ SecurityOpt: ['no-new-privileges:true'] }).security?.noNewPrivileges, true);
  });

  test('--security-opt values Berth does not do are refused by name; malformed ones as Docker does', () => {
    for (const [opt, words] of [
      ['apparmor=unconfined', /Berth does not support --security-opt apparmor yet/],
      ['label=disable', /Berth does not support --security-opt label yet/],
      ['label:type:svirt_t', /Berth does not support --security-opt label yet/],
      ['writable-cgroups=true', /Berth does not support --security-opt writable-cgroups yet/],
      ['no-new-privileges=maybe', /invalid --security-opt 2: "no-new-privileges=maybe"/],
      ['frobnicate', /invalid --security-opt 1: "frobnicate"/],
      ['frob=1', /invalid --security-opt 2: "frob=1"/],
    ] as const)
      assert.throws(() => spec({ SecurityOpt: [opt] }), httpError(words), opt);
  });

  test('--pid, --ipc, --uts: host and Docker\'s other modes; container:NAME refused by name; nonsense is Docker\'s error', () => {
    assert.deepEqual(spec({ PidMode: 'host', IpcMode: 'shareable', UTSMode: 'host' }).namespaces, { pid: 'host', ipc: 'shareable', uts: 'host' });
    // Docker's "" is the default: the spec then leaves the section out, as for a body without these fields.
    assert.equal(spec({ PidMode: '', IpcMode: '', UTSMode: '' }).namespaces, undefined);
    assert.deepEqual(spec({ IpcMode: 'private' }).namespaces, { ipc: 'private' });
    assert.throws(() => spec({ IpcMode: 'container:db' }), httpError(/Berth does not support --ipc container:NAME yet/));
    assert.throws(() => spec({ PidMode: 'container:db' }), httpError(/Berth does not support --pid container:NAME yet/));
    assert.throws(() => spec({ PidMode: 'private' }), httpError(/invalid PID mode: private/));
    assert.throws(() => spec({ UTSMode: 'container:x' }), httpError(/invalid UTS mode/));
  });

  test('the rest of the body maps one to one; MaskedPaths [] (systempaths=unconfined) is kept apart from null', () => {
    const s = spec(
      {
        Privileged: true,
        CapAdd: ['NET_ADMIN'],
        CapDrop: 'MKNOD',
        ReadonlyRootfs: true,
        Tmpfs: { '/run': 'size=1m' },
        ShmSize: 1 << 27,
        Ulimits: [{ Name: 'nofile', Soft: 1, Hard: 2 }],
        Sysctls: { 'net.ipv4.ip_forward': '1' },
        Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'r' }],
        Init: true,
        MaskedPaths: [],
        ReadonlyPaths: null,
      },
      { StopSignal: 'SIGINT', StopTimeout: 3 },
    );
    assert.deepEqual(s.security, {
      privileged: true,
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      maskedPaths: [],
      devices: [{ hostPath: '/dev/null', containerPath: '/dev/n', permissions: 'r' }],
    });
    assert.deepEqual(s.filesystem, { readonlyRootfs: true, tmpfs: { '/run': 'size=1m' }, shmSize: 1 << 27 });
    assert.deepEqual(s.kernel, { sysctls: { 'net.ipv4.ip_forward': '1' }, ulimits: [{ name: 'nofile', soft: 1, hard: 2 }] });
    assert.deepEqual([s.process?.init, s.process?.stopSignal, s.process?.stopTimeout], [true, 'SIGINT', 3]);
    assert.throws(() => spec({ ShmSize: -1 }), httpError(/SHM size can not be less than 0/));
    // Every field at Docker's "not given" value: no isolation section at all.
    const unset = spec({ Privileged: false, CapAdd: null, CapDrop: null, SecurityOpt: null, ReadonlyRootfs: false, Tmpfs: null, ShmSize: 0, Ulimits: null, Sysctls: null, Devices: [], PidMode: '', IpcMode: '', UTSMode: '', Init: null, MaskedPaths: null, ReadonlyPaths: null }, { StopSignal: '', StopTimeout: null });
    assert.deepEqual([unset.security?.privileged, unset.filesystem?.readonlyRootfs, unset.namespaces, unset.kernel, unset.process?.init], [false, false, undefined, undefined, undefined]);
  });
});
