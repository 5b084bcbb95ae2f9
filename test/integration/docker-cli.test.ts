// The real `docker` CLI (v28, client only) against Berth's agent: everything here is what
// a user would type, checked the way they would read the answer.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';

const repoRoot = path.resolve(import.meta.dirname, '../..');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let registry: Awaited<ReturnType<typeof startRegistry>>;
let ref = '';
let tmp = '';
let root = '';
let sock = '';
let agent: ChildProcess | undefined;
let agentLog = '';

function docker(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['-H', `unix://${sock}`, ...args], {
      env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`docker ${args.join(' ')} took over ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await docker(args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} failed (${r.code}): ${r.stderr}\nagent log:\n${agentLog.slice(-2000)}`);
  return r.stdout;
}

function ping(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: sock, path: '/_ping', method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

const until = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000) => eventually(what, fn, timeoutMs, 100);

const ourMounts = () => mountsUnder(root);

/** The memory limit the kernel enforces on a process, read from its cgroup on the host (v1 or v2). */
function memoryLimitOf(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  for (const line of lines) {
    const [, controllers, cgPath] = line.split(':');
    if (controllers.split(',').includes('memory')) {
      return Number(readFileSync(path.join('/sys/fs/cgroup/memory', cgPath, 'memory.limit_in_bytes'), 'utf8'));
    }
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  assert.ok(v2, `no memory cgroup for pid ${pid}: ${lines.join(' | ')}`);
  const base = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
  return Number(readFileSync(path.join(base, v2.slice(3), 'memory.max'), 'utf8'));
}

async function startAgent(): Promise<void> {
  agentLog = '';
  agent = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'agent/main.ts'), '--root', root, '--docker-socket', sock], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  agent.stdout?.on('data', (d) => (agentLog += d));
  agent.stderr?.on('data', (d) => (agentLog += d));
  await until('the agent to answer /_ping', async () => agent?.exitCode === null && (await ping()), 30_000).catch((err) => {
    throw new Error(`${(err as Error).message}; agent log:\n${agentLog}`);
  });
}

async function stopAgent(): Promise<number | null> {
  assert.ok(agent?.pid);
  const exited = new Promise<number | null>((r) => agent!.once('exit', (code) => r(code)));
  process.kill(agent.pid, 'SIGTERM');
  return exited;
}

/** `docker events ARGS` running against the agent; what it printed so far, and a way to end it. */
async function watchEvents(args: string[]): Promise<{ events: () => string; stop: () => Promise<void> }> {
  const listeners = async () => Number((await ok(['info', '--format', '{{.NEventsListener}}'])).trim());
  const before = await listeners();
  const watcher = spawn('docker', ['-H', `unix://${sock}`, 'events', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config') },
  });
  let out = '';
  watcher.stdout.on('data', (d) => (out += d));
  const gone = new Promise((r) => watcher.once('close', r));
  // The CLI subscribes asynchronously: events made before the agent counts it as a listener would be lost.
  await until('the agent to count the new events listener', async () => (await listeners()) > before);
  return {
    events: () => out,
    async stop() {
      if (watcher.exitCode === null && watcher.signalCode === null) process.kill(watcher.pid!, 'SIGKILL');
      await gone;
    },
  };
}

const LOOP = 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done';

describe('docker CLI against the Berth agent', { timeout: 240_000 }, () => {
  before(async () => {
    registry = await startRegistry();
    ({ ref } = await pushBusyboxImage(registry.url, 'busybox', 'latest'));
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-docker-cli-'));
    root = path.join(tmp, 'root');
    sock = path.join(tmp, 'docker.sock');
    await startAgent();
  });

  after(async () => {
    try {
      if (agent?.exitCode === null && sock) {
        // Running containers outlive the agent on purpose, so remove ours while it still answers.
        const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
        if (ids.length) await docker(['rm', '-f', ...ids]);
      }
    } finally {
      if (agent?.pid && agent.exitCode === null) {
        const exited = new Promise((r) => agent!.once('exit', r));
        process.kill(agent.pid, 'SIGTERM');
        await exited;
      }
      await registry?.stop();
      if (tmp) {
        const left = ourMounts();
        if (!left.length) rmSync(tmp, { recursive: true, force: true });
        else console.error(`mounts left under ${root}, not deleting ${tmp}:\n${left.join('\n')}`);
      }
    }
  });

  it('answers version and info as a 1.50 engine', async () => {
    const v = await ok(['version', '--format', '{{.Server.APIVersion}} {{.Server.Os}} {{.Server.MinAPIVersion}}']);
    assert.equal(v.trim(), '1.50 linux 1.24');
    const full = await ok(['version']);
    assert.match(full, /Server: Berth Engine/);
    const info = await ok(['info', '--format', '{{.OSType}} {{.NCPU}} {{.DockerRootDir}} {{.Images}}']);
    assert.equal(info.trim(), `linux ${os.cpus().length} ${root} 0`);
  });

  it('pulls from a registry and lists the image', async () => {
    const out = await ok(['pull', ref]);
    assert.match(out, new RegExp(`Status: Downloaded newer image for ${ref.replace(/[.]/g, '\\.')}`));
    assert.match(out, /Digest: sha256:[0-9a-f]{64}/);
    const images = await ok(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.match(images, new RegExp(`^${ref.replace(/[.]/g, '\\.')} [0-9a-f]{12}$`, 'm'));
    const inspect = JSON.parse(await ok(['image', 'inspect', ref]));
    assert.deepEqual(inspect[0].Config.Cmd, ['sh']);
    assert.equal((await ok(['info', '--format', '{{.Images}}'])).trim(), '1');
    // An image is not created before or after itself; filters Berth does not know are refused, not ignored.
    assert.equal(await ok(['images', '-q', '--filter', `before=${ref}`]), '');
    assert.equal(await ok(['images', '-q', '--filter', `reference=${ref}`]), `${inspect[0].Id.slice(7, 19)}\n`);
    const unknown = await docker(['images', '--filter', 'bogus=1']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /invalid filter 'bogus'/);
    assert.match((await docker(['images', '--filter', 'since=no-such-image'])).stderr, /No such image: no-such-image/);
  });

  it('runs a command in the foreground and prints exactly its output', async () => {
    const r = await docker(['run', '--rm', ref, 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    assert.equal((await ok(['ps', '-aq'])).trim(), '', '--rm left a container behind');
  });

  it('passes the exit code and stderr of a foreground container through', async () => {
    const r = await docker(['run', '--rm', ref, 'sh', '-c', 'echo out; echo oops >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'oops\n');
  });

  it('runs a container in the background: ps, logs, logs -f, stop, start, rm', async () => {
    const id = (await ok(['run', '-d', '--name', 'looper', ref, 'sh', '-c', LOOP])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = await ok(['ps', '-a', '--format', '{{.ID}} {{.Names}} {{.Status}}']);
    assert.match(ps, new RegExp(`^${id.slice(0, 12)} looper Up `, 'm'));

    await until('three log lines', async () => (await ok(['logs', 'looper'])).includes('line 2\n'));
    const logs = await ok(['logs', 'looper']);
    assert.ok(logs.startsWith('line 0\nline 1\nline 2\n'), logs);

    // logs -f keeps printing lines written after it started.
    const seen = Number(/line (\d+)\n$/.exec(await ok(['logs', '--tail', '1', 'looper']))?.[1]);
    const follower = spawn('docker', ['-H', `unix://${sock}`, 'logs', '-f', '--tail', '1', 'looper'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follower.stdout.on('data', (d) => (followed += d));
    try {
      await until('logs -f to stream three new lines', async () => {
        const nums = [...followed.matchAll(/line (\d+)/g)].map((m) => Number(m[1]));
        return nums.filter((n) => n > seen).length >= 3;
      });
    } finally {
      const gone = new Promise((r) => follower.once('close', r));
      process.kill(follower.pid!, 'SIGKILL');
      await gone;
    }
    const nums = [...followed.matchAll(/line (\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(nums, nums.map((_, i) => nums[0] + i), `lines out of order or missing: ${followed}`);

    const t0 = Date.now();
    await ok(['stop', '-t', '1', 'looper']);
    // The shell as PID 1 ignores SIGTERM, so the SIGKILL after -t ended it: 137, and before
    // the default 10 s timeout would have (a bound from the semantics, not the machine).
    assert.ok(Date.now() - t0 < 10_000, 'stop -t 1 waited for the default timeout');
    assert.match(await ok(['ps', '-a', '--filter', 'name=looper', '--format', '{{.Status}}']), /^Exited \(137\) /);
    assert.equal((await ok(['ps', '-q'])).trim(), '', 'a stopped container shows in ps without -a');

    await ok(['start', 'looper']);
    assert.match(await ok(['ps', '--format', '{{.Names}} {{.Status}}']), /^looper Up /m);
    assert.equal((await ok(['inspect', '--format', '{{.State.Running}} {{.Name}}', 'looper'])).trim(), 'true /looper');

    const refused = await docker(['rm', 'looper']);
    assert.notEqual(refused.code, 0, 'rm of a running container without -f must fail');
    assert.match(refused.stderr, /running container .*force remove/);
    await ok(['rm', '-f', 'looper']);
    assert.equal((await ok(['ps', '-aq'])).trim(), '');
  });

  it('streams container events to docker events', async () => {
    const watcher = await watchEvents(['--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}']);
    try {
      await ok(['run', '--rm', '--name', 'evented', ref, 'true']);
      await until('create, start and die events', async () => /container die evented/.test(watcher.events()));
      // The CLI attaches before it starts the container, and Docker says so: attach comes between.
      assert.match(watcher.events(), /^container create evented\ncontainer attach evented\ncontainer start evented\ncontainer die evented\n/m);
    } finally {
      await watcher.stop();
    }
  });

  it('shows image pulls and removals in docker events, filtered by type', async () => {
    const other = await pushBusyboxImage(registry.url, 'evbox', 'v1', { config: { Labels: { 'berth.test': 'events' } } });
    const watcher = await watchEvents(['--filter', 'type=image', '--format', '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}} {{index .Actor.Attributes "berth.test"}}']);
    try {
      await ok(['pull', other.ref]);
      await until('the pull event', async () => /image pull /.test(watcher.events()));
      await ok(['run', '--rm', ref, 'true']);
      await ok(['rmi', other.ref]);
      await until('the delete event', async () => /image delete /.test(watcher.events()));
      const id = other.configDigest;
      // the tag and its digest name both go, as with Docker
      assert.deepEqual(
        watcher.events().split('\n').map((l) => l.trimEnd()),
        [`image pull ${other.ref} ${other.ref.replace(/:v1$/, '')} events`, `image untag ${id} ${id}`, `image untag ${id} ${id}`, `image delete ${id} ${id}`, ''],
        'container events are filtered out; a pull names the reference (with the image labels), untag and delete the id',
      );
    } finally {
      await watcher.stop();
    }
  });

  it('ends docker events at --until', async () => {
    const past = await docker(['events', '--until', '1s'], 10_000);
    assert.equal(past.code, 0, past.stderr);
    const t0 = Date.now();
    const soon = await docker(['events', '--until', String(Math.floor(Date.now() / 1000) + 2)], 10_000);
    assert.equal(soon.code, 0, soon.stderr);
    assert.ok(Date.now() - t0 >= 900, 'a future --until ended the feed early');
  });

  it('prunes stopped containers and leaves running ones', async () => {
    await ok(['run', '--name', 'done-one', ref, 'true']);
    const kept = (await ok(['create', '--label', 'keep=1', ref, 'true'])).trim();
    assert.match(kept, /^[0-9a-f]{64}$/);
    const running = (await ok(['run', '-d', ref, 'sleep', '30'])).trim();
    // Filters narrow what goes, and one Berth does not know stops the prune instead of being ignored.
    assert.equal(await ok(['container', 'prune', '-f', '--filter', 'until=1h']), 'Total reclaimed space: 0B\n');
    const unknown = await docker(['container', 'prune', '-f', '--filter', 'bogus=1']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /invalid filter 'bogus'/);
    assert.equal((await ok(['ps', '-aq'])).trim().split('\n').length, 3, 'a refused or narrowed prune removed containers');
    const some = await ok(['container', 'prune', '-f', '--filter', 'label!=keep']);
    assert.match(some, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.ok(!some.includes(kept), 'label!=keep pruned the container labelled keep');
    await ok(['rm', kept]);
    await ok(['run', '--name', 'done-two', ref, 'true']);
    const out = await ok(['container', 'prune', '-f']);
    assert.match(out, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.equal((await ok(['ps', '-aq', '--no-trunc'])).trim(), running);
    await ok(['rm', '-f', running]);
  });

  it('start -a prints the output of every run, the second one included', async () => {
    const id = (await ok(['create', '--name', 'again', ref, 'sh', '-c', 'echo run; echo err >&2'])).trim();
    for (let i = 0; i < 2; i++) {
      const r = await docker(['start', '-a', 'again']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([r.stdout, r.stderr], ['run\n', 'err\n'], `run ${i + 1}`);
    }
    await ok(['rm', id]);
  });

  it('lists containers as docker ps does with -n, -l, before/since, and refuses filters it does not know', async () => {
    const first = (await ok(['run', '-d', '--name', 'first', ref, 'sleep', '30'])).trim();
    await ok(['run', '--name', 'second', ref, 'true']);
    await ok(['run', '-d', '--name', 'third', ref, 'sleep', '30']);
    await ok(['stop', '-t', '0', 'third']);
    try {
      // -n and -l reach stopped containers without -a, newest first.
      assert.equal(await ok(['ps', '-l', '--format', '{{.Names}}']), 'third\n');
      assert.equal(await ok(['ps', '-n', '2', '--format', '{{.Names}}']), 'third\nsecond\n');
      assert.equal(await ok(['ps', '--format', '{{.Names}}']), 'first\n');
      assert.equal(await ok(['ps', '-a', '--filter', 'before=third', '--format', '{{.Names}}']), 'second\nfirst\n');
      assert.equal(await ok(['ps', '-a', '--filter', `since=${first.slice(0, 12)}`, '--format', '{{.Names}}']), 'third\nsecond\n');
      assert.equal(await ok(['ps', '--filter', 'status=exited', '--format', '{{.Names}}']), 'third\nsecond\n');
      for (const filter of ['network=bridge', 'bogus=1']) {
        const r = await docker(['ps', '-a', '--filter', filter]);
        assert.notEqual(r.code, 0, `--filter ${filter} was ignored: ${r.stdout}`);
        assert.match(r.stderr, new RegExp(`invalid filter '${filter.split('=')[0]}'`));
      }
      const unknown = await docker(['ps', '-a', '--filter', 'before=no-such-box']);
      assert.match(unknown.stderr, /No such container: no-such-box/);
    } finally {
      await ok(['rm', '-f', 'first', 'second', 'third']);
    }
  });

  it('isolates the container: PID 1, its own hostname, none of the host files', async () => {
    assert.equal((await ok(['run', '--rm', ref, 'sh', '-c', 'echo $$'])).trim(), '1');

    const id = (await ok(['run', '-d', ref, 'hostname'])).trim();
    assert.equal((await ok(['wait', id])).trim(), '0');
    assert.equal((await ok(['logs', id])).trim(), id.slice(0, 12));
    await ok(['rm', id]);
    assert.equal((await ok(['run', '--rm', '--hostname', 'boxy', ref, 'hostname'])).trim(), 'boxy');

    const marker = path.join(tmp, 'host-only-marker');
    writeFileSync(marker, 'secret');
    const r = await docker(['run', '--rm', ref, 'cat', marker]);
    assert.notEqual(r.code, 0, `a host file was readable inside the container: ${r.stdout}`);
    const top = (await ok(['run', '--rm', ref, 'ls', '/'])).split('\n');
    assert.ok(!top.includes('work') && !top.includes('home'), `host directories inside the container: ${top.join(' ')}`);
  });

  it('enforces -m 64m in the container cgroup on the host', async () => {
    const id = (await ok(['run', '-d', '-m', '64m', ref, 'sleep', '30'])).trim();
    const pid = Number((await ok(['inspect', '--format', '{{.State.Pid}}', id])).trim());
    assert.ok(pid > 1, `no pid for ${id}`);
    assert.equal(memoryLimitOf(pid), 64 * 1024 * 1024);
    assert.equal((await ok(['inspect', '--format', '{{.HostConfig.Memory}}', id])).trim(), String(64 * 1024 * 1024));
    await ok(['rm', '-f', id]);
  });

  it('gives clear errors for a missing image, a bad reference and an unknown container', async () => {
    const missing = await docker(['run', '--rm', `${registry.url}/no-such-repo:1`, 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Unable to find image/);
    assert.match(missing.stderr, /not found|unknown/i);

    const bad = await docker(['run', '--rm', 'UPPER/Case!', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid reference format/);

    const badName = await docker(['run', '--rm', '--name', 'b@d', ref, 'true']);
    assert.notEqual(badName.code, 0);
    assert.match(badName.stderr, /Invalid container name \(b@d\)/);

    for (const args of [['logs', '0123456789ab'], ['stop', 'no-such-box'], ['inspect', 'no-such-box'], ['rm', 'no-such-box']]) {
      const r = await docker(args);
      assert.notEqual(r.code, 0, `docker ${args.join(' ')} succeeded`);
      assert.match(r.stderr, /No such (container|object): (0123456789ab|no-such-box)/, r.stderr);
    }
    assert.equal((await ok(['ps', '-aq'])).trim(), '');
  });

  it('removes the image with rmi', async () => {
    const out = await ok(['rmi', ref]);
    assert.match(out, new RegExp(`Untagged: ${ref.replace(/[.]/g, '\\.')}`));
    assert.match(out, /Deleted: sha256:[0-9a-f]{64}/);
    assert.equal((await ok(['images', '-q'])).trim(), '');
    const again = await docker(['rmi', ref]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /No such image/);
  });

  it('shuts down on SIGTERM, removing its socket; containers keep running and are found again', async () => {
    const id = (await ok(['run', '-d', '--name', 'survivor', ref, 'sh', '-c', LOOP])).trim();
    const pid = Number((await ok(['inspect', '--format', '{{.State.Pid}}', id])).trim());
    assert.ok(pid > 1);
    assert.equal(await stopAgent(), 0);
    assert.equal(existsSync(sock), false, 'the socket file is still there');
    assert.ok(existsSync(`/proc/${pid}`), 'the container died with the agent');

    await startAgent();
    assert.match(await ok(['ps', '--format', '{{.Names}} {{.Status}}']), /^survivor Up /m);
    assert.equal((await ok(['inspect', '--format', '{{.State.Pid}}', id])).trim(), String(pid));
    await ok(['rm', '-f', id]);
    assert.equal(existsSync(`/proc/${pid}`), false, 'rm -f left the process running');
    assert.equal(await stopAgent(), 0);
    assert.deepEqual(ourMounts(), []);
  });
});
