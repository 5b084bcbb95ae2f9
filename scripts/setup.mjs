#!/usr/bin/env node
// Brings a fresh machine to the point where `npm start`, `npm run agent` (bin/berth-agent),
// `npm test` and `npm run bench` work: Debian packages, npm dependencies, the native
// monitor, the agent's bundle, the Prisma client.
// Each step checks first and does nothing when there is nothing to do, so it is cheap
// to run before every command.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODES = ['test', 'agent', 'bench'];
const mode = MODES.find((m) => process.argv.includes(`--${m}`)) ?? 'start';

const log = (msg) => console.error(`[setup] ${msg}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    log(`failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

// Debian packages: what the product needs to run containers, plus, for tests and the
// benchmark, the real parts they drive (registry, browser, and for `npm run bench` a
// Docker daemon to measure against; the product itself never runs Docker).
function debianPackages() {
  const want = [
    ['busybox-static', '/bin/busybox', ['test', 'bench']],
    ['docker-registry', '/usr/bin/docker-registry', ['test', 'bench']],
    // The other tool image tests and the benchmark move images with (push, pull, docker-archive).
    ['skopeo', '/usr/bin/skopeo', ['test', 'bench']],
    // zstd-compressed layers are unpacked with the host's zstd.
    ['zstd', '/usr/bin/zstd', 'all'],
    // Stacks from a Git repository: the control plane fetches them with the host's git.
    ['git', '/usr/bin/git', 'all'],
    ['strace', '/usr/bin/strace', ['test']],
    ['chromium', '/usr/bin/chromium', ['test']],
    ['sqlite3', '/usr/bin/sqlite3', ['test']],
    // The scale-out tests' real parts: a PostgreSQL server and Redis, started by the tests themselves.
    ['postgresql', '/usr/lib/postgresql', ['test']],
    ['redis-server', '/usr/bin/redis-server', ['test']],
    // The Python Docker SDK and a terminal to drive `docker run -it` in, for the stdio tests.
    ['python3-docker', '/usr/lib/python3/dist-packages/docker/__init__.py', ['test']],
    ['tmux', '/usr/bin/tmux', ['test']],
    // The TLS tests make their certificates with it.
    ['openssl', '/usr/bin/openssl', ['test']],
    // Compose 1.29 (Python, on python3-docker), driven against the agent's socket.
    ['docker-compose', '/usr/bin/docker-compose', ['test']],
    // The fault tests: a link cut by a DROP rule in a test's namespace, and a host's clock moved under its agent.
    ['iptables', '/usr/sbin/iptables', ['test']],
    ['faketime', '/usr/bin/faketime', ['test']],
    ['docker.io', '/usr/sbin/dockerd', ['bench']],
    ['iproute2', '/usr/sbin/ip', 'all'],
    ['make', '/usr/bin/make', 'all'],
    ['gcc', '/usr/bin/gcc', 'all'],
    // The monitor builds containers' seccomp filters with it, linked statically.
    ['libseccomp-dev', '/usr/include/seccomp.h', 'all'],
  ];
  const missing = want.filter(([, path, when]) => (when === 'all' || when.includes(mode)) && !existsSync(path)).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    log(`missing Debian packages: ${missing.join(' ')} — run as root or: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  run('apt-get', ['update', '-qq']);
  const install = () =>
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const daemons = missing.filter((pkg) => pkg in SYSTEM_UNITS);
  if (daemons.length) withoutServiceStarts(install, daemons);
  else install();
}

/** Packages whose system daemons Debian starts and enables on install, and their units. */
const SYSTEM_UNITS = {
  'docker.io': ['docker.service', 'docker.socket', 'containerd.service'],
  // The scale-out tests start their own servers on loopback ports in temp dirs.
  postgresql: ['postgresql.service'],
  'redis-server': ['redis-server.service'],
};

/**
 * Debian's docker.io and containerd start their system daemons when installed (which sets
 * up a bridge and firewall rules) and enable them at boot, as postgresql and redis-server
 * start theirs on the standard ports. The benchmark starts a private dockerd of its own and
 * the tests their own PostgreSQL and Redis, so for the install a policy-rc.d refuses every
 * service start, and on a systemd machine the units are disabled again afterwards.
 */
function withoutServiceStarts(install, daemons) {
  const policy = '/usr/sbin/policy-rc.d';
  const ours = !existsSync(policy);
  if (ours) writeFileSync(policy, '#!/bin/sh\n# written by berth scripts/setup.mjs for the length of an apt-get install\nexit 101\n', { mode: 0o755 });
  try {
    install();
  } finally {
    if (ours) rmSync(policy, { force: true });
  }
  if (existsSync('/run/systemd/system')) {
    const units = daemons.flatMap((pkg) => SYSTEM_UNITS[pkg]);
    log(`disabling the services Debian enabled (${units.join(', ')}): Berth's benchmark and tests run their own`);
    spawnSync('systemctl', ['disable', ...units], { stdio: 'inherit' });
  }
}

function npmDependencies() {
  const stamp = join(root, 'node_modules', '.package-lock.json');
  if (mtime(stamp) >= Math.max(mtime(join(root, 'package-lock.json')), mtime(join(root, 'package.json')))) return;
  log('installing npm dependencies');
  // Not `npm ci`: npm here writes lock files without other platforms' optional
  // packages (next's and tailwind's native builds), which `npm ci` then calls out of sync.
  run('npm', ['install', '--no-audit', '--no-fund']);
}

function nativeMonitor() {
  if (!existsSync(join(root, 'agent/native/Makefile'))) return;
  run('make', ['-s', '-C', 'agent/native']);
}

// After the monitor: a bundle that starts builds nothing at run time.
async function agentBundle() {
  const { ensureAgentBundle } = await import('./agent-bundle.mjs');
  try {
    await ensureAgentBundle(log);
  } catch (err) {
    // esbuild has printed the errors with their places already.
    log(`cannot build the agent: ${err.message.split('\n')[0]}`);
    process.exit(1);
  }
}

function prismaClient() {
  const script = join(root, 'scripts/prisma-generate.mjs');
  if (mode === 'agent' || mode === 'bench' || !existsSync(script)) return;
  run(process.execPath, [script]);
}

debianPackages();
npmDependencies();
nativeMonitor();
await agentBundle();
prismaClient();
