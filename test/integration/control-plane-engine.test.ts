// The control plane with the real agent and engine: pull from a real registry and run a
// container through tRPC, then read its log over the browser's '/ui' socket.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { ServerToUi, UiToServer } from '../../protocol/ui-socket';
import { splitShellWords } from '../../protocol/shell-words';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { isStopped, tcpConnectionsOf } from '../fixtures/tcp';
import { Child, codeOf, ensureNextBuild, eventually, removeDir, ROOT, signIn, spawnTsx, startControlPlane, trpc, type ControlPlane } from './support/control-plane';

const ADMIN = { email: 'ops@example.test', name: 'Ops', password: 'ops-pass-123' };
// Waits below end on the event they are about; this only keeps a broken run from hanging.
const PATIENCE_MS = 120_000;

/** Seqs are only compared (what they count is the engine's business): each one above the one before. */
function assertIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seq ${seqs[i]} after ${seqs[i - 1]}`);
}

describe('control plane with the real agent', { timeout: 300_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let pushed: Awaited<ReturnType<typeof pushBusyboxImage>>;
  let cp: ControlPlane;
  let agent: Child;
  let second: Child | undefined;
  let tmp: string;
  let agentRoot: string;
  let cookie: string;
  let hostId: string;
  let api: ReturnType<typeof trpc>;
  let ui: Socket<ServerToUi, UiToServer> | undefined;
  const made: string[] = [];

  const ourMounts = () => (tmp ? mountsUnder(tmp) : []);

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    pushed = await pushBusyboxImage(registry.url, 'cp/busybox', 'v1');
    cp = await startControlPlane();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-cp-agent-'));
    agentRoot = path.join(tmp, 'root');
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    cookie = (await signIn(cp.url, ADMIN.email, ADMIN.password))!;
    api = trpc(cp.url, cookie);
    const { command } = await api.hosts.createJoinToken.mutate({ name: 'real-agent' });
    // The pasted line's flags, with our own root and socket.
    const token = /--token (\S+)/.exec(command)![1];
    const server = /--server (\S+)/.exec(command)![1];
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', path.join(tmp, 'docker.sock'), '--server', server, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
  });

  after(async () => {
    try {
      ui?.disconnect();
      // Containers outlive their agent on purpose: remove ours while it still answers.
      for (const id of made) await api.containers.remove.mutate({ hostId, id, force: true }).catch(() => {});
    } finally {
      // A stopped process takes SIGTERM only once it runs again.
      if (second && second.proc.exitCode === null && second.proc.signalCode === null) process.kill(second.proc.pid!, 'SIGCONT');
      await second?.kill('SIGTERM');
      await agent?.kill('SIGTERM');
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      if (tmp) {
        const left = ourMounts();
        if (!left.length) removeDir(tmp);
        else console.error(`mounts left under ${tmp}, not deleting ${tmp}:\n${left.join('\n')}`);
      }
    }
  });

  test('the enrolled host is online with its real facts', async () => {
    const h = await eventually('online', async () => {
      const got = await api.hosts.get.query({ hostId });
      return got.online && got.info ? got : undefined;
    }, PATIENCE_MS);
    assert.equal(h.name, 'real-agent');
    assert.equal(h.info?.hostname, os.hostname());
    assert.equal(h.info?.root, agentRoot);
    assert.equal(h.info?.cpus, os.cpus().length);
  });

  test('pull through tRPC: a bad reference is a clear BAD_REQUEST, a good one lands on the host', async () => {
    await assert.rejects(api.images.pull.mutate({ hostId, ref: 'Not/Valid' }), (err: unknown) => {
      assert.equal(codeOf(err), 'BAD_REQUEST');
      assert.match((err as Error).message, /invalid reference format/);
      return true;
    });
    const img = await api.images.pull.mutate({ hostId, ref: pushed.ref });
    assert.equal(img.id, pushed.configDigest);
    assert.ok(img.repoTags.includes(pushed.ref), JSON.stringify(img.repoTags));
    await eventually('image in the snapshot', async () => (await api.hosts.get.query({ hostId })).images.some((i) => i.id === pushed.configDigest), PATIENCE_MS);
  });

  test('run through tRPC, then read its log lines over the /ui socket', async () => {
    const { id } = await api.containers.run.mutate({
      hostId,
      image: pushed.ref,
      name: 'cp-logs',
      memory: '64m',
      command: `sh -c 'echo "hello from berth"; echo second\\ line >&2; sleep 1; echo "last: done"'`,
    });
    made.push(id);
    assert.match(id, /^[0-9a-f]{64}$/);
    const rec = await api.containers.inspect.query({ hostId, id: 'cp-logs' });
    assert.equal(rec.id, id);
    assert.deepEqual(rec.spec.process.cmd, ['sh', '-c', `echo "hello from berth"; echo second\\ line >&2; sleep 1; echo "last: done"`]);
    assert.equal(rec.spec.resources.memory, 64 * 1024 * 1024);

    ui = io(`${cp.url}/ui`, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie } });
    const entries: Array<{ seq: number; stream: string; line: string }> = [];
    ui.on('logs', (b) => entries.push(...b.entries));
    await new Promise<void>((resolve, reject) => {
      ui!.once('connect', resolve);
      ui!.once('connect_error', reject);
    });
    const sub = await ui.emitWithAck('logs:subscribe', { hostId, containerId: id, tail: 100 });
    assert.equal(sub.ok, true, sub.error);
    await eventually('the last log line', async () => entries.some((e) => e.line === 'last: done\n'), PATIENCE_MS, 100);
    assert.deepEqual(
      entries.map((e) => [e.stream, e.line]),
      [
        ['stdout', 'hello from berth\n'],
        ['stderr', 'second line\n'],
        ['stdout', 'last: done\n'],
      ],
    );
    assertIncreasing(entries.map((e) => e.seq));

    const view = await eventually('exited in the snapshot', async () => {
      const c = (await api.hosts.get.query({ hostId })).containers.find((x) => x.id === id);
      return c && c.state === 'exited' ? c : undefined;
    }, PATIENCE_MS);
    assert.equal(view.exitCode, 0);
    assert.equal(view.name, 'cp-logs');
    // The hosts page's rows: the host's counts, which follow the container, and none of its lists.
    const [row] = await api.hosts.overview.query();
    const full = await api.hosts.get.query({ hostId });
    assert.equal(row.id, hostId);
    assert.deepEqual(row.info?.containers, full.info?.containers);
    assert.equal(row.info?.containers.total, full.containers.length);
    assert.ok(!('containers' in row) && !('images' in row), 'no container or image lists in the overview');
  });

  test('a log stream survives an agent restart: the server resumes after the last line the browser got', async () => {
    const { id } = await api.containers.run.mutate({
      hostId,
      image: pushed.ref,
      name: 'cp-counter',
      command: `sh -c 'i=1; while [ $i -le 40 ]; do echo line $i; i=$((i+1)); sleep 0.1; done'`,
    });
    made.push(id);
    const batches: Array<{ subId: string; entries: Array<{ seq: number; line: string }> }> = [];
    ui!.on('logs', (b) => batches.push(b));
    const sub = await ui!.emitWithAck('logs:subscribe', { hostId, containerId: id, tail: 100 });
    assert.equal(sub.ok, true, sub.error);
    const entries = () => batches.filter((b) => b.subId === sub.subId).flatMap((b) => b.entries);
    await eventually('a few lines', async () => entries().length >= 3, PATIENCE_MS, 50);

    // The container keeps running without its agent; a new agent process takes over.
    await agent.kill('SIGKILL');
    await eventually('offline', async () => !(await api.hosts.get.query({ hostId })).online, PATIENCE_MS, 100);
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', path.join(tmp, 'docker.sock'), '--server', cp.url], {}, 'agent');
    assert.match(await agent.waitFor(/connected to .* as host \S+/, 60_000), new RegExp(`as host ${hostId}`));

    await eventually('line 40', async () => entries().some((e) => e.line === 'line 40\n'), PATIENCE_MS, 100);
    assert.deepEqual(entries().map((e) => e.line), Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`), 'every line once, in order');
    assertIncreasing(entries().map((e) => e.seq));
  });

  test('remove through tRPC; afterwards the container is unknown, and it is all in the audit log', async () => {
    const id = made.shift()!;
    await api.containers.remove.mutate({ hostId, id });
    await assert.rejects(api.containers.inspect.query({ hostId, id }), (err: unknown) => codeOf(err) === 'NOT_FOUND' && /No such container/.test((err as Error).message));
    const audit = await api.audit.list.query();
    const actions = audit.filter((a) => a.hostId === hostId).map((a) => `${a.action} ${a.result.split(':')[0]}`);
    for (const want of ['hosts.enroll ok', 'images.pull error', 'images.pull ok', 'containers.run ok', 'containers.remove ok']) {
      assert.ok(actions.includes(want), `${want} missing from ${JSON.stringify(actions)}`);
    }
  });

  test('a second agent started from the "add a host" command line is listed online, with its real facts', async (t) => {
    const name = 'second-agent';
    const { command } = await api.hosts.createJoinToken.mutate({ name });
    const words = splitShellWords(command);
    assert.equal(words[0], 'bin/berth-agent', command);
    // The line exactly as pasted, but with a root and socket of this test's own.
    const args = words.slice(1);
    const secondRoot = path.join(tmp, 'second-root');
    const secondSock = path.join(tmp, 'second-docker.sock');
    for (const [flag, value] of [['--root', secondRoot], ['--docker-socket', secondSock]]) {
      const i = args.indexOf(flag);
      assert.ok(i >= 0 && i + 1 < args.length, `${flag} in ${command}`);
      args[i + 1] = value;
    }
    assert.ok(args.includes('--token') && args.includes('--server'), command);
    const before = await api.hosts.list.query();
    assert.equal(before.length, 1);

    // Run in the checkout as pasted: bin/berth-agent runs setup, then execs node on the
    // compiled bundle, so the pid held here is the agent itself.
    const t0 = Date.now();
    second = new Child(spawn(path.join(ROOT, words[0]), args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }), 'second-agent');
    const listed = await eventually('a second host online', async () => {
      const hosts = await api.hosts.list.query();
      const h = hosts.find((x) => x.name === name);
      return hosts.length === 2 && h?.online && h.info ? h : undefined;
    }, PATIENCE_MS, 100);
    t.diagnostic(`listed online ${Date.now() - t0} ms after the agent was started`);
    assert.notEqual(listed.id, hostId);
    assert.equal(listed.info?.hostname, os.hostname());
    assert.equal(listed.info?.kernel, os.release());
    assert.equal(listed.info?.root, secondRoot);
    assert.ok((await api.hosts.list.query()).find((h) => h.id === hostId)?.online, 'the first host is still online');
    assert.ok(existsSync(secondSock), 'the second agent serves its Docker API socket');
  });

  test('the second agent frozen (SIGSTOP) goes offline by the heartbeat and comes back when resumed', async (t) => {
    assert.ok(second, 'the second agent runs');
    const pid = second.proc.pid!;
    const secondId = (await api.hosts.list.query()).find((h) => h.name === 'second-agent')!.id;
    const t0 = Date.now();
    process.kill(pid, 'SIGSTOP');
    try {
      await eventually('offline', async () => !(await api.hosts.get.query({ hostId: secondId })).online, PATIENCE_MS, 100);
      t.diagnostic(`offline ${Date.now() - t0} ms after the freeze`);
      // Frozen, the agent closed nothing: its end of the link is still open, so only missing heartbeats can have told the server.
      assert.ok(isStopped(pid), 'the agent is still stopped');
      const link = tcpConnectionsOf(pid).filter((c) => c.remotePort === cp.port);
      assert.ok(link.some((c) => c.state === 'ESTABLISHED' || c.state === 'CLOSE_WAIT'), `the agent's link to port ${cp.port}: ${JSON.stringify(link)}`);
      t.diagnostic(`the frozen agent's end of its link: ${link.map((c) => c.state).join(', ')}`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await eventually('online again', async () => (await api.hosts.get.query({ hostId: secondId })).online, PATIENCE_MS, 100);
  });

  test('the second agent stopped (SIGTERM) shows offline and leaves no socket file', async (t) => {
    assert.ok(second, 'the second agent runs');
    const secondId = (await api.hosts.list.query()).find((h) => h.name === 'second-agent')!.id;
    assert.ok((await api.hosts.get.query({ hostId: secondId })).online);
    const sock = path.join(tmp, 'second-docker.sock');
    const t0 = Date.now();
    process.kill(second.proc.pid!, 'SIGTERM');
    await eventually('offline', async () => !(await api.hosts.get.query({ hostId: secondId })).online, PATIENCE_MS, 100);
    t.diagnostic(`offline ${Date.now() - t0} ms after SIGTERM`);
    assert.equal(await second.exited, 0, 'a clean exit');
    assert.ok(!existsSync(sock), 'the Docker API socket file is removed');
    const hosts = await api.hosts.list.query();
    assert.equal(hosts.length, 2, 'an offline host stays listed');
    assert.ok(hosts.find((h) => h.id === hostId)?.online, 'the first host is untouched');
  });
});
