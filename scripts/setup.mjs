#!/usr/bin/env node
// Brings a fresh machine to the point where `npm start`, `npm run agent` and `npm test`
// work: Debian packages, npm dependencies, the native monitor, the Prisma client.
// Each step checks first and does nothing when there is nothing to do, so it is cheap
// to run before every command.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv.includes('--test') ? 'test' : process.argv.includes('--agent') ? 'agent' : 'start';

const log = (msg) => console.error(`[setup] ${msg}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    log(`failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

// Debian packages: what the product needs to run containers, plus, for tests, the
// real parts they drive (registry, browser).
function debianPackages() {
  const want = [
    ['busybox-static', '/bin/busybox', 'test'],
    ['docker-registry', '/usr/bin/docker-registry', 'test'],
    ['strace', '/usr/bin/strace', 'test'],
    ['chromium', '/usr/bin/chromium', 'test'],
    ['sqlite3', '/usr/bin/sqlite3', 'test'],
    ['iproute2', '/usr/sbin/ip', 'all'],
    ['make', '/usr/bin/make', 'all'],
    ['gcc', '/usr/bin/gcc', 'all'],
  ];
  const missing = want.filter(([, path, when]) => (when === 'all' || mode === 'test') && !existsSync(path)).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    log(`missing Debian packages: ${missing.join(' ')} — run as root or: sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  run('apt-get', ['update', '-qq']);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
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

function prismaClient() {
  const script = join(root, 'scripts/prisma-generate.mjs');
  if (mode === 'agent' || !existsSync(script)) return;
  run(process.execPath, [script]);
}

debianPackages();
npmDependencies();
nativeMonitor();
prismaClient();
