// Isolation, checked from inside real containers started by the real docker CLI against a
// real agent, the way a user compares Berth with Docker: the Cap*, NoNewPrivs and Seccomp
// lines of /proc/self/status hold Docker's values, what the default seccomp profile and
// the capability set forbid really fails (mount, unshare -U, clone with namespace flags,
// chown after --cap-drop CHOWN …), and every option changes what it says and nothing else.
// The syscall probe (test/fixtures/syscall-probe.c) makes the calls busybox cannot.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_MASKED_PATHS } from '../../agent/engine/containers/mount-plan';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { startRegistry } from '../fixtures/registry';
import { syscallProbeLayer } from '../fixtures/syscall-probe';

const isRoot = process.getuid?.() === 0;

let agent: AgentProcess;
let registry: Awaited<ReturnType<typeof startRegistry>> | undefined;
let image = '';
let stopSignalImage = '';

/** `docker run --rm FLAGS IMAGE CMD…` */
const run = (flags: string[], cmd: string[], img = image) => agent.docker(['run', '--rm', ...flags, img, ...cmd]);
/** The same, which must succeed; its stdout. */
const out = (flags: string[], cmd: string[]) => {
  const r = run(flags, cmd);
  assert.equal(r.status, 0, `docker run ${flags.join(' ')} ${cmd.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}\nagent log:\n${agent.log().slice(-2000)}`);
  return r.stdout;
};
const sh = (flags: string[], script: string) => out(flags, ['sh', '-c', script]);
/** The container's /proc/self/status lines of interest, as a map. */
const status = (flags: string[]) =>
  Object.fromEntries(
    sh(flags, 'grep -E "^(Cap|NoNewPrivs|Seccomp)" /proc/self/status')
      .trim()
      .split('\n')
      .map((l) => l.split(/:\s+/)),
  ) as Record<string, string>;
const refused = (flags: string[], words: RegExp) => {
  const r = run(flags, ['true']);
  assert.notEqual(r.status, 0, `accepted: ${flags.join(' ')}`);
  assert.match(r.stderr, words);
};
const PROBES = ['clone', 'clone-newuser', 'clone-newns', 'clone3', 'personality-query', 'personality-linux32', 'personality-bsd', 'socket-unix', 'socket-alg', 'socket-vsock'];
const probe = (flags: string[]) => Object.fromEntries(out(flags, ['syscall-probe', ...PROBES]).trim().split('\n').map((l) => l.split('='))) as Record<string, string>;

/** This process's effective capabilities: what the agent (its child) has to hand out. */
const ownCaps = () => /^CapEff:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1];
const hostNs = (ns: string) => readlinkSync(`/proc/self/ns/${ns}`);
const DOCKER_DEFAULT_CAPS = '00000000a80425fb';

function api(method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: agent.sock, path: p, method, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('isolation through the docker CLI, checked inside the container', { skip: !isRoot && 'needs root' }, () => {
  before(async () => {
    agent = await startAgentProcess('isolation');
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'busybox', 'isolation', { extraLayers: [syscallProbeLayer()] })).ref;
    stopSignalImage = (await pushBusyboxImage(registry.url, 'busybox', 'stopsignal', { config: { StopSignal: 'SIGUSR2' } })).ref;
    agent.ok(['pull', '-q', image]);
    agent.ok(['pull', '-q', stopSignalImage]);
  });

  after(async () => {
    const left = agent?.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean) ?? [];
    if (left.length) agent.docker(['rm', '-f', ...left]);
    await agent?.stop();
    await registry?.stop();
  });

  describe('by default, as Docker', () => {
    it('has Docker\'s capabilities, no inheritable ones, no_new_privs off and one seccomp filter', () => {
      assert.deepEqual(status([]), {
        CapInh: '0000000000000000',
        CapPrm: DOCKER_DEFAULT_CAPS,
        CapEff: DOCKER_DEFAULT_CAPS,
        CapBnd: DOCKER_DEFAULT_CAPS,
        CapAmb: '0000000000000000',
        NoNewPrivs: '0',
        Seccomp: '2',
        Seccomp_filters: '1',
      });
    });

    it('refuses mount and unshare -U', () => {
      const o = sh([], 'mkdir /mnt; mount -t tmpfs none /mnt 2>&1; echo mount=$?; unshare -U true 2>&1; echo unshare=$?');
      assert.match(o, /mount: permission denied.*\nmount=[1-9]/);
      assert.match(o, /unshare: unshare\(0x10000000\): Operation not permitted\nunshare=1/);
    });

    it('filters clone by its flags, answers clone3 with ENOSYS, allows only Docker\'s personalities and socket families', () => {
      assert.deepEqual(probe([]), {
        clone: 'ok',
        'clone-newuser': 'EPERM',
        'clone-newns': 'EPERM',
        clone3: 'ENOSYS',
        'personality-query': 'ok',
        'personality-linux32': 'ok',
        'personality-bsd': 'EPERM',
        'socket-unix': 'ok',
        'socket-alg': 'EPERM',
        'socket-vsock': 'EPERM',
      });
    });

    it('masks Docker\'s masked paths (empty) and keeps /proc/sys read-only', () => {
      const o = sh(
        [],
        `for p in ${DEFAULT_MASKED_PATHS.join(' ')}; do if [ -d $p ]; then echo "$p $(ls -A $p | wc -l)"; elif [ -e $p ]; then echo "$p $(wc -c < $p)"; fi; done; ` +
          'echo 1 > /proc/sys/kernel/printk 2>&1 || echo sys-refused; echo h > /proc/sysrq-trigger || echo sysrq-refused',
      );
      const sizes = o.split('\n').filter((l) => l.startsWith('/'));
      assert.ok(sizes.length >= 2, `some masked paths exist on this kernel: ${o}`);
      for (const l of sizes) assert.match(l, / 0$/, l);
      // A masked file that has contents on the host really is hidden.
      if (readFileSync('/proc/interrupts', 'utf8').length) assert.ok(sizes.includes('/proc/interrupts 0'), o);
      assert.match(o, /sys-refused/);
      assert.match(o, /sysrq-refused/);
    });

    it('sets Docker\'s default sysctls in the container\'s own network namespace', () => {
      assert.equal(sh([], 'cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start'), '0\t2147483647\n0\n');
    });
  });

  describe('seccomp and no_new_privs', () => {
    it('--security-opt seccomp=unconfined: no filter, so unshare -U, clone3 and any personality work', () => {
      assert.equal(status(['--security-opt', 'seccomp=unconfined']).Seccomp, '0');
      assert.equal(sh(['--security-opt', 'seccomp=unconfined'], 'unshare -U true && echo unshared'), 'unshared\n');
      const p = probe(['--security-opt', 'seccomp=unconfined']);
      assert.deepEqual([p['clone-newuser'], p.clone3, p['personality-bsd']], ['ok', 'ok', 'ok']);
      assert.notEqual(p['socket-vsock'], 'EPERM');
    });

    it('--security-opt seccomp=PROFILE.json: the file\'s rules, read by the CLI, sent to the agent, and shown by inspect', () => {
      const file = path.join(agent.tmp, 'deny-mkdir.json');
      const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
      writeFileSync(file, JSON.stringify(profile));
      const o = sh(['--security-opt', `seccomp=${file}`], 'grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; touch /tmp/f && echo touched');
      assert.match(o, /Seccomp:\s+2/);
      assert.match(o, /mkdir: can't create directory '\/tmp\/d': Permission denied/);
      assert.match(o, /touched/);
      // The default profile would have refused unshare; this one allows it.
      assert.equal(sh(['--security-opt', `seccomp=${file}`], 'unshare -U true && echo unshared'), 'unshared\n');
      const id = agent.ok(['create', '--security-opt', `seccomp=${file}`, image, 'true']).trim();
      assert.deepEqual(JSON.parse(agent.ok(['inspect', '-f', '{{json .HostConfig.SecurityOpt}}', id])), [`seccomp=${JSON.stringify(profile)}`]);
      agent.ok(['rm', id]);
    });

    it('a profile Berth cannot honour is refused at create, naming what', () => {
      const file = path.join(agent.tmp, 'typo.json');
      writeFileSync(file, '{"defaultAction":"SCMP_ACT_ERRNO","syscals":[]}');
      refused(['--security-opt', `seccomp=${file}`], /seccomp profile: unknown field "syscals"/);
      writeFileSync(file, '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}');
      refused(['--security-opt', `seccomp=${file}`], /Berth does not support SCMP_ACT_NOTIFY/);
    });

    it('--security-opt no-new-privileges: NoNewPrivs 1, the filter still on, and a setuid program gains nothing', () => {
      const s = status(['--security-opt', 'no-new-privileges']);
      assert.deepEqual([s.NoNewPrivs, s.Seccomp], ['1', '2']);
      assert.equal(out(['-u', 'nobody'], ['suid-probe', 'euid']), 'euid=0\n');
      assert.equal(out(['-u', 'nobody', '--security-opt', 'no-new-privileges'], ['suid-probe', 'euid']), 'euid=65534\n');
    });

    it('the compiled default filter is kept in the agent\'s root, and a damaged copy is compiled again', () => {
      const dir = path.join(agent.root, 'seccomp-cache');
      const files = readdirSync(dir).filter((f) => f.endsWith('.bpf'));
      assert.ok(files.length >= 1, `cached programs: ${files.join(' ')}`);
      for (const f of files) writeFileSync(path.join(dir, f), 'junk');
      assert.equal(probe([])['clone-newuser'], 'EPERM');
      assert.equal(status([]).Seccomp, '2');
      const sizes = readdirSync(dir).filter((f) => f.endsWith('.bpf')).map((f) => statSync(path.join(dir, f)).size);
      assert.ok(sizes.some((n) => n > 8 && n % 8 === 0), `a whole program was written back: ${sizes.join(' ')}`);
    });

    it('other --security-opt values are refused by name', () => {
      refused(['--security-opt', 'apparmor=unconfined'], /Berth does not support --security-opt apparmor yet/);
      refused(['--security-opt', 'label=disable'], /Berth does not support --security-opt label yet/);
    });
  });

  describe('capabilities', () => {
    it('--cap-drop CHOWN: the bit is gone and chown fails (it works without the drop)', () => {
      assert.equal(status(['--cap-drop', 'CHOWN']).CapEff, '00000000a80425fa');
      assert.match(sh(['--cap-drop', 'CHOWN'], 'touch /tmp/x; chown nobody /tmp/x 2>&1; echo chown=$?'), /Operation not permitted\nchown=1/);
      assert.equal(sh([], 'touch /tmp/x; chown nobody /tmp/x; echo chown=$?'), 'chown=0\n');
    });

    it('--cap-drop ALL --cap-add chown (lower case): only CAP_CHOWN, in every set', () => {
      const s = status(['--cap-drop', 'ALL', '--cap-add', 'chown']);
      assert.deepEqual([s.CapEff, s.CapPrm, s.CapBnd], ['0000000000000001', '0000000000000001', '0000000000000001']);
    });

    it('--cap-add NET_ADMIN (with or without CAP_): the bit is there and the network can be changed', () => {
      for (const name of ['NET_ADMIN', 'CAP_NET_ADMIN']) assert.equal(status(['--cap-add', name]).CapEff, '00000000a80435fb', name);
      assert.equal(sh(['--cap-add', 'NET_ADMIN'], 'ip link set lo mtu 1280 && cat /sys/class/net/lo/mtu'), '1280\n');
      assert.match(sh([], 'ip link set lo mtu 1280 2>&1; echo ip=$?'), /ip=[1-9]/);
    });

    it('--cap-add SYS_ADMIN: the profile\'s CAP_SYS_ADMIN rules let mount, namespaced clone and clone3 through', () => {
      assert.equal(sh(['--cap-add', 'SYS_ADMIN'], 'mkdir /mnt && mount -t tmpfs none /mnt && grep -c " /mnt " /proc/mounts'), '1\n');
      const p = probe(['--cap-add', 'SYS_ADMIN']);
      assert.deepEqual([p['clone-newns'], p.clone3, p['socket-vsock']], ['ok', 'ok', 'EPERM']);
    });

    it('--cap-add ALL: everything the engine has, still under the seccomp filter', () => {
      const s = status(['--cap-add', 'ALL']);
      assert.deepEqual([s.CapEff, s.CapBnd, s.Seccomp], [ownCaps(), ownCaps(), '2']);
    });

    it('an unknown capability is Docker\'s error', () => {
      refused(['--cap-add', 'FOO'], /unknown capability: "CAP_FOO"/);
    });

    it('inspect shows the normalised names', () => {
      const id = agent.ok(['create', '--cap-add', 'net_admin', '--cap-drop', 'MKNOD', image, 'true']).trim();
      assert.equal(agent.ok(['inspect', '-f', '{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}', id]), '["CAP_NET_ADMIN"] ["CAP_MKNOD"]\n');
      agent.ok(['rm', id]);
    });
  });

  describe('--privileged', () => {
    it('every capability, no seccomp filter, /sys writable, nothing masked', () => {
      const s = status(['--privileged']);
      assert.deepEqual([s.CapEff, s.CapBnd, s.Seccomp, s.NoNewPrivs], [ownCaps(), ownCaps(), '0', '0']);
      const o = sh(['--privileged'], 'grep " /sys " /proc/mounts; wc -c < /proc/interrupts; cat /proc/self/mountinfo');
      assert.match(o, /^sysfs \/sys sysfs rw,/m);
      assert.ok(Number(o.split('\n')[1]) > 0, 'a masked path has its contents');
      for (const p of DEFAULT_MASKED_PATHS) assert.ok(!o.split('\n').some((l) => l.split(' ')[4] === p), `${p} is not mounted over`);
      assert.ok(!/ \/proc\/sys ro,/.test(o), '/proc/sys is not read-only');
    });

    it('the host\'s devices are in /dev with their numbers, and a host disk opens (the devices cgroup allows all)', () => {
      const hostDev = readdirSync('/dev')
        .map((n) => `/dev/${n}`)
        .find((p) => lstatSync(p).isCharacterDevice() && !['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/console', '/dev/ptmx'].includes(p));
      assert.ok(hostDev, 'the host has a character device besides the defaults');
      const rdev = statSync(hostDev).rdev;
      const o = sh(['--privileged'], `stat -c "%t:%T" ${hostDev}`);
      assert.equal(o.trim(), `${((rdev >> 8) & 0xfff).toString(16)}:${((rdev & 0xff) | ((rdev >> 12) & 0xfff00)).toString(16)}`);
      assert.match(sh([], `ls ${hostDev} 2>&1; true`), /No such file or directory/);
      // Opening a block device (count=0 moves no byte) is what the devices cgroup would refuse an unprivileged container.
      const block = readdirSync('/dev').map((n) => `/dev/${n}`).find((p) => lstatSync(p).isBlockDevice());
      if (block) assert.match(sh(['--privileged'], `dd if=${block} of=/dev/null count=0 2>&1 && echo opened`), /opened/);
    });

    it('a seccomp profile given explicitly still applies, as Docker loads it', () => {
      const file = path.join(agent.tmp, 'allow-all.json');
      writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdirat', 'mkdir'], action: 'SCMP_ACT_ERRNO' }] }));
      assert.match(sh(['--privileged', '--security-opt', `seccomp=${file}`], 'grep Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; true'), /Seccomp:\s+2\n.*Operation not permitted/);
    });
  });

  describe('filesystem', () => {
    it('--read-only: the rootfs and the /etc files refuse writes; /dev/shm does not; a missing -w dir is made first', () => {
      const o = sh(['--read-only', '-w', '/work/here'], 'pwd; touch /x 2>&1; touch /tmp/x 2>&1; touch /etc/hosts 2>&1; touch /dev/shm/ok && echo shm-ok; grep -E " / | /etc/hosts " /proc/mounts');
      assert.match(o, /^\/work\/here$/m);
      assert.match(o, /touch: \/x: Read-only file system/);
      assert.match(o, /touch: \/tmp\/x: Read-only file system/);
      assert.match(o, /touch: \/etc\/hosts: Read-only file system/);
      assert.match(o, /shm-ok/);
      assert.match(o, /^overlay \/ overlay ro,/m);
      assert.match(o, /^\S+ \/etc\/hosts \S+ ro,/m);
    });

    it('--tmpfs PATH[:opts]: Docker\'s noexec,nosuid,nodev under the given options, writable on a read-only rootfs', () => {
      assert.equal(sh(['--tmpfs', '/run:size=1m'], 'grep " /run " /proc/mounts'), 'tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k 0 0\n');
      assert.equal(sh(['--tmpfs', '/run:exec,mode=700'], 'grep " /run " /proc/mounts; stat -c %a /run'), 'tmpfs /run tmpfs rw,nosuid,nodev,relatime,mode=700 0 0\n700\n');
      assert.equal(sh(['--read-only', '--tmpfs', '/scratch'], 'echo hi > /scratch/f && cat /scratch/f'), 'hi\n');
    });

    it('--shm-size sets /dev/shm\'s size (Docker\'s 64 MiB otherwise)', () => {
      assert.match(sh(['--shm-size', '128m'], 'grep " /dev/shm " /proc/mounts'), /size=131072k/);
      assert.match(sh([], 'grep " /dev/shm " /proc/mounts'), /size=65536k/);
    });
  });

  describe('kernel settings', () => {
    it('--ulimit sets soft and hard limits before the command runs', () => {
      assert.equal(sh(['--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=500'], 'ulimit -n; ulimit -Hn; ulimit -u'), '1024\n2048\n500\n');
    });

    it('--sysctl: namespaced values inside, the host\'s untouched', () => {
      const hostForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
      const hostShmmni = readFileSync('/proc/sys/kernel/shmmni', 'utf8');
      const want = hostForward.trim() === '1' ? '0' : '1';
      assert.equal(sh(['--sysctl', `net.ipv4.ip_forward=${want}`, '--sysctl', 'kernel.shmmni=1234'], 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni'), `${want}\n1234\n`);
      assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostForward);
      assert.equal(readFileSync('/proc/sys/kernel/shmmni', 'utf8'), hostShmmni);
    });

    it('a sysctl the container does not own is refused, as Docker (runc) refuses it', async () => {
      refused(['--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1'], /sysctl "net.ipv4.ip_forward" not allowed in host network namespace/);
      refused(['--ipc', 'host', '--sysctl', 'kernel.shmmax=1'], /not allowed in the hosts ipc namespace/);
      // The CLI itself refuses names outside its list; through the API the engine does.
      const r = await api('POST', '/v1.41/containers/create', { Image: image, Cmd: ['true'], HostConfig: { Sysctls: { 'vm.swappiness': '1' } } });
      assert.equal(r.status, 400);
      assert.match(r.body, /sysctl \\?"vm.swappiness\\?" is not in a separate kernel namespace/);
    });
  });

  describe('devices', () => {
    const v1Devices = existsSync('/sys/fs/cgroup/devices/cgroup.procs');
    // A block device of the host's that Docker's default rules do not open (a loop device here); dd count=0 opens it and moves no byte.
    const block = existsSync('/dev') ? readdirSync('/dev').map((n) => `/dev/${n}`).find((p) => lstatSync(p).isBlockDevice()) : undefined;
    it('--device HOST:CTR:r makes the node, readable but not writable through the devices cgroup', { skip: (!v1Devices && 'no v1 devices controller on this host') || (!block && 'no block device on this host') }, () => {
      const rdev = statSync(block!).rdev;
      const o = sh(['--device', `${block}:/dev/mydisk:r`], 'stat -c "%F %t:%T" /dev/mydisk; dd if=/dev/mydisk of=/dev/null count=0 2>&1 && echo read-ok; dd if=/dev/zero of=/dev/mydisk count=0 2>&1; echo write=$?');
      assert.match(o, new RegExp(`^block special file ${((rdev >> 8) & 0xfff).toString(16)}:${(rdev & 0xff).toString(16)}$`, 'm'));
      assert.match(o, /read-ok/);
      assert.match(o, /Operation not permitted\nwrite=1/);
      assert.match(sh(['--device', `${block}:/dev/mydisk:rw`], 'dd if=/dev/zero of=/dev/mydisk count=0 2>&1 && echo write-ok'), /write-ok/);
      // Without --device the node is not there, and one made with mknod cannot be opened.
      assert.match(sh([], `mknod /dev/mydisk b ${(rdev >> 8) & 0xfff} ${rdev & 0xff} && dd if=/dev/mydisk of=/dev/null count=0 2>&1; true`), /Operation not permitted/);
    });

    it('a device that does not exist fails the start with Docker\'s words, and --rm still removes the container', () => {
      refused(['--device', '/dev/no-such-device'], /error gathering device information while adding custom device "\/dev\/no-such-device": no such file or directory/);
      assert.equal(agent.ok(['ps', '-aq']), '');
    });
  });

  describe('namespaces', () => {
    it('by default the pid, ipc and uts namespaces are the container\'s own', () => {
      const o = sh([], 'readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname').split('\n');
      assert.notEqual(o[0], hostNs('pid'));
      assert.notEqual(o[1], hostNs('ipc'));
      assert.notEqual(o[2], hostNs('uts'));
      assert.notEqual(o[3], os.hostname());
    });

    it('--pid host --ipc host --uts host: the host\'s namespaces, its processes, its name and its /dev/shm', () => {
      const marker = `berth-isolation-${randomBytes(4).toString('hex')}`;
      writeFileSync(`/dev/shm/${marker}`, 'x');
      try {
        const o = sh(['--pid', 'host', '--ipc', 'host', '--uts', 'host'], `readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname; cat /proc/1/comm; ls /dev/shm/${marker}`).split('\n');
        assert.deepEqual(o.slice(0, 6), [hostNs('pid'), hostNs('ipc'), hostNs('uts'), os.hostname(), readFileSync('/proc/1/comm', 'utf8').trim(), `/dev/shm/${marker}`]);
      } finally {
        rmSync(`/dev/shm/${marker}`, { force: true });
      }
    });

    it('--pid host: what the command leaves running is killed when it ends, as Docker does, and the run returns', () => {
      // With the host's PID namespace $! is a host pid.
      const r = run(['--pid', 'host'], ['sh', '-c', 'sleep 1234 & echo $!'], image);
      assert.equal(r.status, 0, r.stderr);
      const pid = Number(r.stdout.trim());
      assert.ok(pid > 1, r.stdout);
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        // gone: as it should be
      }
      assert.notEqual(cmd, 'sleep\x001234\x00', `the container's sleep ${pid} is still running`);
    });

    it('--ipc none has no /dev/shm; --ipc shareable is a namespace of its own with one', () => {
      assert.match(sh(['--ipc', 'none'], 'ls /dev/shm 2>&1; true'), /No such file or directory/);
      const o = sh(['--ipc', 'shareable'], 'readlink /proc/self/ns/ipc; grep -c " /dev/shm " /proc/mounts').split('\n');
      assert.deepEqual([o[0] !== hostNs('ipc'), o[1]], [true, '1']);
    });

    it('joining another container\'s namespace is refused by name', () => {
      refused(['--ipc', 'container:other'], /Berth does not support --ipc container:NAME yet/);
      refused(['--pid', 'container:other'], /Berth does not support --pid container:NAME yet/);
    });
  });

  describe('--init, --stop-signal, --stop-timeout', () => {
    it('--init: docker-init is PID 1 and runs the command as its child', () => {
      const o = sh(['--init'], 'cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/1/comm; echo $$');
      assert.deepEqual(o.split('\n').slice(0, 3), ['/sbin/docker-init -- sh -c cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/1/comm; echo $$ ', 'docker-init', '2']);
    });

    it('--init reaps orphans: a finished background child leaves no zombie behind', () => {
      const o = sh(['--init'], 'sh -c "sleep 0.1 &"; sleep 1; ps -o stat,comm');
      assert.ok(!/^Z/m.test(o), o);
    });

    it('--init passes docker stop\'s SIGTERM on: the command dies of it (143); as PID 1 without --init it ignores it until SIGKILL (137)', () => {
      const withInit = agent.ok(['run', '-d', '--init', image, 'sleep', '100']).trim();
      agent.ok(['stop', '-t', '30', withInit]);
      assert.equal(agent.ok(['inspect', '-f', '{{.State.ExitCode}}', withInit]), '143\n');
      const without = agent.ok(['run', '-d', image, 'sleep', '100']).trim();
      agent.ok(['stop', '-t', '1', without]);
      assert.equal(agent.ok(['inspect', '-f', '{{.State.ExitCode}}', without]), '137\n');
      agent.ok(['rm', withInit, without]);
    });

    it('--init with a command that does not exist exits 127 with the reason', () => {
      const r = run(['--init'], ['no-such-command']);
      assert.equal(r.status, 127);
      assert.match(r.stderr, /no-such-command.*not found/);
    });

    it('--stop-signal is what docker stop sends, over the image\'s STOPSIGNAL, which is used otherwise', () => {
      const trap = 'trap "echo got-usr1; exit 7" USR1; trap "echo got-usr2; exit 9" USR2; while :; do sleep 0.1; done';
      const own = agent.ok(['run', '-d', '--stop-signal', 'USR1', stopSignalImage, 'sh', '-c', trap]).trim();
      const img = agent.ok(['run', '-d', stopSignalImage, 'sh', '-c', trap]).trim();
      agent.ok(['stop', own, img]);
      assert.equal(agent.ok(['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopSignal}}', own]), '7 USR1\n');
      assert.equal(agent.ok(['logs', own]), 'got-usr1\n');
      assert.equal(agent.ok(['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopSignal}}', img]), '9 SIGUSR2\n');
      agent.ok(['rm', own, img]);
    });

    it('--stop-timeout: docker stop kills that many seconds after the signal, unless -t says otherwise', () => {
      // The handler takes 3 s: killed after 1 s it cannot finish; given 30 s it exits 3.
      const trap = 'trap "sleep 3; exit 3" TERM; while :; do sleep 0.1; done';
      const a = agent.ok(['run', '-d', '--stop-timeout', '1', image, 'sh', '-c', trap]).trim();
      const b = agent.ok(['run', '-d', '--stop-timeout', '1', image, 'sh', '-c', trap]).trim();
      agent.ok(['stop', a]);
      agent.ok(['stop', '-t', '30', b]);
      assert.equal(agent.ok(['inspect', '-f', '{{.State.ExitCode}} {{.Config.StopTimeout}}', a]), '137 1\n');
      assert.equal(agent.ok(['inspect', '-f', '{{.State.ExitCode}}', b]), '3\n');
      agent.ok(['rm', a, b]);
    });
  });

  it('inspect reports the options as Docker does', () => {
    const id = agent
      .ok(['create', '--privileged', '--read-only', '--shm-size', '128m', '--tmpfs', '/run:size=1m', '--ulimit', 'nofile=10:20', '--sysctl', 'net.ipv4.ip_forward=1', '--uts', 'host', '--ipc', 'shareable', '--init', '--security-opt', 'no-new-privileges', '--device', '/dev/zero:/dev/z:r', image, 'true'])
      .trim();
    const hc = JSON.parse(agent.ok(['inspect', '-f', '{{json .HostConfig}}', id]));
    assert.deepEqual(
      {
        Privileged: hc.Privileged,
        ReadonlyRootfs: hc.ReadonlyRootfs,
        ShmSize: hc.ShmSize,
        Tmpfs: hc.Tmpfs,
        Ulimits: hc.Ulimits,
        Sysctls: hc.Sysctls,
        UTSMode: hc.UTSMode,
        IpcMode: hc.IpcMode,
        Init: hc.Init,
        SecurityOpt: hc.SecurityOpt,
        Devices: hc.Devices,
        MaskedPaths: hc.MaskedPaths,
      },
      {
        Privileged: true,
        ReadonlyRootfs: true,
        ShmSize: 134217728,
        Tmpfs: { '/run': 'size=1m' },
        Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 20 }],
        Sysctls: { 'net.ipv4.ip_forward': '1' },
        UTSMode: 'host',
        IpcMode: 'shareable',
        Init: true,
        SecurityOpt: ['no-new-privileges'],
        Devices: [{ PathOnHost: '/dev/zero', PathInContainer: '/dev/z', CgroupPermissions: 'r' }],
        MaskedPaths: null,
      },
    );
    agent.ok(['rm', id]);
    assert.ok(existsSync(agent.sock));
  });
});
