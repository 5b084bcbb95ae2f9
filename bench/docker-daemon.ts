// A real Docker daemon for the benchmarks to measure Berth against (Debian's docker.io,
// 20.10, installed by `node scripts/setup.mjs --bench`). The product never runs Docker;
// only the benchmark does, and it keeps the daemon to itself: its own containerd,
// data root, exec root, socket, pidfile, cgroup parent and trust key, all in one temp
// dir; no bridge, no iptables, no IP forwarding, no systemd. stop() takes it all away
// again and says what it had to remove by force (processes by pid, mounts under the temp
// dir, cgroups it made, the dirs dockerd insists on creating outside it).
//
// Later benchmarks (networks, pulls, logs) use it the same way:
//   const why = dockerUnavailable(); if (!why) { const d = await startDockerDaemon({ insecureRegistries: [url] }); … await d.stop(); }
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alive, dockerCli, pidsMentioning, pssKb, rssKb, waitForPing, type DockerCli } from './cli';

const DOCKERD = '/usr/sbin/dockerd';
const CONTAINERD = '/usr/bin/containerd';
const CGROUP_BASE = '/sys/fs/cgroup';
// dockerd 20.10 makes its plugin socket dir here whatever its exec root is.
const OUTSIDE_DIRS = ['/run/docker/plugins', '/run/docker'];

export interface DockerDaemon {
  dir: string;
  cli: DockerCli;
  /** The daemon's version, e.g. 20.10.24+dfsg1. */
  version: string;
  /** From spawning dockerd (our containerd already up) to its first /_ping answer. */
  startMs: number;
  /** From spawning containerd to its socket appearing. */
  containerdStartMs: number;
  dockerdPid: number;
  containerdPid: number;
  /** dockerd and containerd together. */
  daemonRssKb(): number;
  daemonPssKb(): number;
  /** The cgroup parent its containers go under (cgroupfs driver). */
  cgroupParent: string;
  /** Removes every container, stops both daemons and removes everything they made: what had to be forced. */
  stop(): Promise<string[]>;
}

/** Why no Docker daemon can be had here, or undefined when one can. */
export function dockerUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  for (const bin of [DOCKERD, CONTAINERD, '/usr/bin/containerd-shim-runc-v2', '/usr/sbin/runc']) {
    if (!existsSync(bin)) return `${bin} is missing (node scripts/setup.mjs --bench installs Debian's docker.io)`;
  }
  return undefined;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function stopChild(child: ChildProcess, what: string, forced: string[], graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  process.kill(child.pid, 'SIGTERM');
  if (await waitExit(child, graceMs)) return;
  forced.push(`${what} (pid ${child.pid}) ignored SIGTERM for ${graceMs / 1000} s: killed`);
  process.kill(child.pid, 'SIGKILL');
  await waitExit(child, 5000);
}

function mountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** The cgroup dirs named `parent` in every hierarchy, and what is still below them (deepest first). */
function cgroupsUnder(parent: string): { tops: string[]; below: string[] } {
  const tops = [path.join(CGROUP_BASE, parent), ...readdirSync(CGROUP_BASE).map((c) => path.join(CGROUP_BASE, c, parent))].filter((d) => existsSync(d));
  const below: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      walk(path.join(d, e.name));
      below.push(path.join(d, e.name));
    }
  };
  for (const t of tops) walk(t);
  return { tops, below };
}

export async function startDockerDaemon(opts: { insecureRegistries?: string[] } = {}): Promise<DockerDaemon> {
  const why = dockerUnavailable();
  if (why) throw new Error(`no Docker daemon for the benchmark: ${why}`);
  // Short: unix socket paths have a 108-byte limit, and containerd nests its own below.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bbd-'));
  const cgroupParent = `berth-bench-docker-${randomBytes(4).toString('hex')}`;
  const outsideBefore = new Set(OUTSIDE_DIRS.filter((d) => existsSync(d)));
  const ipForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const c = path.join(dir, 'containerd');
  mkdirSync(c);
  const containerdSock = path.join(c, 'containerd.sock');
  // Our own containerd rather than the one dockerd would start, so that its plugins'
  // dirs (/opt/containerd by default) and its state stay in the temp dir too.
  writeFileSync(
    path.join(c, 'config.toml'),
    [
      'version = 2',
      `root = "${c}/root"`,
      `state = "${c}/state"`,
      // As dockerd configures the containerd it starts, plus snapshotters Docker 20.10
      // does not use (it has its own overlay2 driver); aufs would try modprobe.
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
      '[grpc]',
      `  address = "${containerdSock}"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${c}/opt"`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(dir, 'daemon.json'),
    JSON.stringify({
      // dockerd 20.10 writes its legacy trust key to /etc/docker/key.json unless told otherwise.
      'deprecated-key-path': path.join(dir, 'key.json'),
      'insecure-registries': opts.insecureRegistries ?? [],
    }),
  );
  const logFd = openSync(path.join(dir, 'daemon.log'), 'a');
  const log = () => {
    try {
      return `\ndaemon log (${path.join(dir, 'daemon.log')}):\n${readFileSync(path.join(dir, 'daemon.log'), 'utf8').slice(-3000)}`;
    } catch {
      return '';
    }
  };
  const cli = dockerCli(path.join(dir, 'docker.sock'), path.join(dir, 'cli'), log);
  const children: Array<{ child: ChildProcess; what: string }> = [];
  const cleanupOnExit = () => {
    for (const { child } of children) if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', cleanupOnExit);

  const stop = async (): Promise<string[]> => {
    const forced: string[] = [];
    process.removeListener('exit', cleanupOnExit);
    const dockerd = children.find((x) => x.what === 'dockerd');
    if (dockerd && dockerd.child.exitCode === null) {
      const ids = cli.run(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (ids.length) {
        forced.push(`${ids.length} container(s) still there: removed`);
        cli.run(['rm', '-f', ...ids]);
      }
    }
    // dockerd first: it tells containerd to stop its containers' tasks on the way out.
    for (const { child, what } of [...children].reverse()) await stopChild(child, what, forced, 20_000);
    // Shims and anything else started with our paths in its command line.
    for (const pid of pidsMentioning(dir)) {
      if (!alive(pid)) continue;
      let cmd = '';
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      } catch {
        // gone meanwhile
      }
      forced.push(`pid ${pid} left running (${cmd.slice(0, 120)}): killed`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    for (const m of mountsUnder(dir)) {
      forced.push(`mount ${m} left behind: unmounted`);
      spawnSync('umount', ['-l', m]);
    }
    // The parents are ours to remove (runc made them for our --cgroup-parent); a
    // container's group still below one was left behind.
    const groups = cgroupsUnder(cgroupParent);
    for (const d of groups.below) forced.push(`cgroup ${d} left behind: removed`);
    for (const d of [...groups.below, ...groups.tops]) {
      try {
        rmdirSync(d);
      } catch (e) {
        forced.push(`cgroup ${d} cannot be removed: ${(e as Error).message}`);
      }
    }
    for (const d of OUTSIDE_DIRS) {
      if (outsideBefore.has(d) || !existsSync(d)) continue;
      try {
        rmdirSync(d);
      } catch (e) {
        forced.push(`${d}, made by dockerd, is not empty: left in place (${(e as Error).message})`);
      }
    }
    const ipForwardNow = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
    if (ipForwardNow !== ipForward) forced.push(`net.ipv4.ip_forward went from ${ipForward.trim()} to ${ipForwardNow.trim()} while this dockerd ran (with --ip-forward=false; something else on the machine may have set it)`);
    closeSync(logFd);
    rmSync(dir, { recursive: true, force: true });
    return forced;
  };

  try {
    const tc = performance.now();
    const containerd = spawn(CONTAINERD, ['--config', path.join(c, 'config.toml'), '--log-level', 'warn'], { stdio: ['ignore', logFd, logFd] });
    children.push({ child: containerd, what: 'containerd' });
    await waitForSocket(containerdSock, () => alive(containerd.pid!), 'containerd', log);
    const containerdStartMs = performance.now() - tc;

    const t0 = performance.now();
    const dockerd = spawn(
      DOCKERD,
      [
        '--config-file', path.join(dir, 'daemon.json'),
        '--containerd', containerdSock,
        '--data-root', path.join(dir, 'data'),
        '--exec-root', path.join(dir, 'exec'),
        '-H', `unix://${cli.sock}`,
        '--pidfile', path.join(dir, 'docker.pid'),
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
        '--ip-forward=false',
        '--cgroup-parent', `/${cgroupParent}`,
        '--exec-opt', 'native.cgroupdriver=cgroupfs',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', logFd, logFd] },
    );
    children.push({ child: dockerd, what: 'dockerd' });
    const startMs = await waitForPing(cli.sock, t0, () => alive(dockerd.pid!), 'dockerd').catch((e: Error) => {
      throw new Error(e.message + log());
    });
    const version = cli.ok(['version', '--format', '{{.Server.Version}}']).trim();
    const pids = () => [dockerd.pid!, containerd.pid!];
    return {
      dir,
      cli,
      version,
      startMs,
      containerdStartMs,
      dockerdPid: dockerd.pid!,
      containerdPid: containerd.pid!,
      cgroupParent,
      daemonRssKb: () => pids().reduce((s, p) => s + rssKb(p), 0),
      daemonPssKb: () => pids().reduce((s, p) => s + pssKb(p), 0),
      stop,
    };
  } catch (e) {
    const forced = await stop();
    if (forced.length) console.error(`docker daemon cleanup after a failed start: ${forced.join('; ')}`);
    throw e;
  }
}

async function waitForSocket(sock: string, isAlive: () => boolean, what: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!existsSync(sock) || !statSync(sock).isSocket()) {
    if (!isAlive()) throw new Error(`${what} exited at start${log()}`);
    if (Date.now() > deadline) throw new Error(`${what} made no socket within 30 s${log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
