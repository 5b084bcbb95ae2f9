// The agent's link to the control plane, with a real engine and real containers. The
// control plane here is a small socket.io server speaking agent/link/protocol.ts, so the
// test can hold acks back and cut connections at will.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Server, type Namespace, type Socket } from 'socket.io';
import { openEngine } from '../../agent/engine/index';
import { startDockerApi } from '../../agent/dockerapi/server';
import type { Engine, ImageEvent, LogEntry, PullProgress } from '../../agent/engine/types';
import { startLink, type Link } from '../../agent/link/client';
import { EnrollError } from '../../agent/link/enroll';
import { buildSnapshot } from '../../agent/link/snapshot';
import { applySnapshotDelta } from '../../protocol/snapshot-delta';
import {
  AGENT_NAMESPACE,
  ENROLL_PATH,
  type AgentCommand,
  type AgentToServer,
  type CommandResult,
  type ContainerLive as Live,
  type ContainerSummary,
  type HostSnapshot,
  type LogBatch,
  type ServerToAgent,
} from '../../protocol/agent-link';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { freePort } from '../fixtures/free-port';
import { startRegistry } from '../fixtures/registry';
import { eventually, sleep } from '../fixtures/wait';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const GOOD_TOKEN = 'join-token-ok';
const CREDENTIAL = 'cred-' + Math.random().toString(36).slice(2);
const HOST_ID = 'host-1';

type AgentSocket = Socket<AgentToServer, ServerToAgent>;

/** A stand-in control plane: enrolment over HTTP, '/agent' namespace with handshake auth. */
class FakeControlPlane {
  readonly http = http.createServer((req, res) => void this.onHttp(req, res));
  readonly io = new Server(this.http, { transports: ['websocket'] });
  readonly nsp: Namespace<AgentToServer, ServerToAgent> = this.io.of(AGENT_NAMESPACE);
  enrolments: Array<{ token: string; hostname: string }> = [];
  /** The states the agent sent, whole or rebuilt from its deltas. */
  snapshots: HostSnapshot[] = [];
  /** As the real control plane does: ack whole states with `deltas`, apply deltas (off: a server that predates them). */
  takesDeltas = false;
  /** Refuse the next delta with `resync`, as the real one does when it misses one. */
  refuseNextDelta = false;
  wholes = 0;
  deltas = 0;
  progress: Array<{ ref: string } & PullProgress> = [];
  batches: LogBatch[] = [];
  /** When set, log batches are not acked until release() is called. */
  holdAcks = false;
  private held: Array<() => void> = [];
  socket: AgentSocket | undefined;
  connections = 0;
  revoked = false;
  url = '';

  constructor() {
    this.nsp.use((socket, next) => {
      const auth = socket.handshake.auth as { hostId?: string; credential?: string };
      if (this.revoked || auth.hostId !== HOST_ID || auth.credential !== CREDENTIAL) return next(new Error('unauthorized'));
      next();
    });
    this.nsp.on('connection', (socket) => {
      this.connections++;
      this.socket = socket;
      socket.on('snapshot', (s, ack) => {
        this.wholes++;
        this.snapshots.push(s);
        if (this.takesDeltas) ack?.({ deltas: true });
      });
      socket.on('snapshotDelta', (d, ack) => {
        this.deltas++;
        const held = this.snapshots.at(-1);
        if (this.refuseNextDelta || !held || held.rev !== d.base) {
          this.refuseNextDelta = false;
          return ack({ resync: true });
        }
        this.snapshots.push(applySnapshotDelta(held, d));
        ack({});
      });
      socket.on('pullProgress', (p) => this.progress.push(p));
      socket.on('logs', (batch, ack) => {
        this.batches.push(batch);
        if (this.holdAcks) this.held.push(ack);
        else ack();
      });
    });
  }

  async listen(port = 0): Promise<void> {
    await new Promise<void>((r) => this.http.listen(port, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  private async onHttp(req: http.IncomingMessage, res: http.ServerResponse) {
    if (req.method !== 'POST' || req.url !== ENROLL_PATH) return void res.writeHead(404).end();
    let body = '';
    for await (const c of req) body += c;
    const { token, hostname } = JSON.parse(body) as { token: string; hostname: string };
    this.enrolments.push({ token, hostname });
    res.setHeader('content-type', 'application/json');
    if (token !== GOOD_TOKEN) return void res.writeHead(401).end(JSON.stringify({ error: 'join token not recognised' }));
    res.end(JSON.stringify({ hostId: HOST_ID, credential: CREDENTIAL }));
  }

  release(): void {
    for (const ack of this.held.splice(0)) ack();
  }

  command<T = unknown>(cmd: AgentCommand, timeoutMs = 60_000): Promise<CommandResult<T>> {
    assert.ok(this.socket?.connected, 'no agent connected');
    return this.socket.timeout(timeoutMs).emitWithAck('command', cmd) as Promise<CommandResult<T>>;
  }

  entries(subId: string): LogEntry[] {
    return this.batches.filter((b) => b.subId === subId).flatMap((b) => b.entries);
  }

  async close(): Promise<void> {
    this.io.close();
    await new Promise((r) => this.http.close(r));
  }
}

// The link's events come quickly: poll often.
const until = <T>(what: string, fn: () => T | undefined | false, timeoutMs = 15_000) => eventually(what, fn, timeoutMs, 25);

describe('agent ⇄ control plane link', { timeout: 180_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ref = '';
  let tmp = '';
  let root = '';
  let engine: Engine;
  let cp: FakeControlPlane;
  let link: Link | undefined;
  const quiet = () => {};

  before(async () => {
    registry = await startRegistry();
    ({ ref } = await pushBusyboxImage(registry.url, 'linkbox', 'v1'));
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-link-'));
    root = path.join(tmp, 'root');
    engine = await openEngine({ root });
    cp = new FakeControlPlane();
    await cp.listen();
  });

  after(async () => {
    link?.close();
    if (engine) {
      for (const c of engine.list({ all: true })) await engine.remove(c.id, { force: true });
      await engine.close();
    }
    await cp?.close();
    await registry?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a refused join token makes the agent print the server’s reason and exit non-zero', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'agent/main.ts', '--root', path.join(tmp, 'other-root'), '--docker-socket', path.join(tmp, 'other.sock'), '--server', cp.url, '--token', 'wrong'],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.notEqual(code, 0);
    assert.match(stderr, /join token not recognised/);
    assert.throws(() => statSync(path.join(tmp, 'other-root', 'credential.json')));
    await assert.rejects(startLink({ engine, root, server: cp.url, token: 'wrong', log: quiet }), EnrollError);
  });

  it('waits for a control plane that is not up yet, then enrols and connects', async () => {
    const port = await freePort();
    const lateRoot = path.join(tmp, 'late-root');
    const sock = path.join(tmp, 'late.sock');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'agent/main.ts', '--root', lateRoot, '--docker-socket', sock, '--server', `http://127.0.0.1:${port}`, '--token', GOOD_TOKEN],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const late = new FakeControlPlane();
    try {
      await until('a failed enrolment attempt', () => /retrying/.test(out), 20_000);
      assert.equal(child.exitCode, null, `the agent gave up: ${out}`);
      await late.listen(port);
      await until('enrolment and a snapshot', () => late.snapshots.length > 0, 40_000);
      assert.equal(late.enrolments.length, 1);
      assert.equal(JSON.parse(readFileSync(path.join(lateRoot, 'credential.json'), 'utf8')).hostId, HOST_ID);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
      assert.equal(await exited, 0, out);
      await late.close();
    }
    assert.equal(existsSync(sock), false);
  });

  it('without a credential and without a token it says how to enrol', async () => {
    await assert.rejects(startLink({ engine, root, server: cp.url, log: quiet }), /--token/);
  });

  it('enrols, stores the credential privately, connects and sends a snapshot', async () => {
    cp.enrolments = [];
    link = await startLink({ engine, root, server: cp.url, token: GOOD_TOKEN, hostname: 'edge-7', log: quiet });
    assert.deepEqual(cp.enrolments, [{ token: GOOD_TOKEN, hostname: 'edge-7' }]);
    const file = path.join(root, 'credential.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(stored.hostId, HOST_ID);
    assert.equal(stored.credential, CREDENTIAL);
    const snap = await until('a snapshot', () => cp.snapshots.at(-1));
    assert.equal(snap.info.hostname, os.hostname());
    assert.deepEqual(snap.containers, []);
    assert.deepEqual(snap.images, []);
  });

  it('pulls on command, reporting progress, and the next snapshot lists the image', async () => {
    const res = await cp.command<{ id: string; repoTags: string[] }>({ op: 'pull', ref });
    assert.ok(res.ok, JSON.stringify(res));
    assert.match(res.result!.id, /^sha256:[0-9a-f]{64}$/);
    assert.ok(cp.progress.length > 0 && cp.progress.every((p) => p.ref === ref));
    await until('a snapshot with the image', () => cp.snapshots.at(-1)?.images.some((i) => i.repoTags.includes(ref)));
  });

  it('answers errors with the engine’s status', async () => {
    const unknown = await cp.command({ op: 'inspect', id: 'no-such-container' });
    assert.equal(unknown.ok, false);
    assert.equal(!unknown.ok && unknown.status, 404);
    const badRef = await cp.command({ op: 'pull', ref: 'Not A Reference' });
    assert.equal(badRef.ok, false);
    assert.equal(!badRef.ok && badRef.status, 400);
  });

  it('refuses, naming it, a command field or a spec field it does not know, and runs nothing', async () => {
    const before = engine.list({ all: true }).length;
    const extra = await cp.command({ op: 'stop', id: 'x', signal: 'KILL' } as unknown as AgentCommand);
    assert.ok(!extra.ok && extra.status === 400 && /does not support signal/.test(extra.error), JSON.stringify(extra));
    const op = await cp.command({ op: 'frobnicate' } as unknown as AgentCommand);
    assert.ok(!op.ok && op.status === 400 && /unknown command/.test(op.error), JSON.stringify(op));
    const spec = await cp.command({ op: 'run', spec: { image: ref, mounts: [{ source: '/', target: '/host' }] } } as unknown as AgentCommand);
    assert.ok(!spec.ok && spec.status === 400 && /does not support mounts/.test(spec.error), JSON.stringify(spec));
    assert.equal(engine.list({ all: true }).length, before);
  });

  let id = '';

  it('runs a container; the snapshot shows it up with a human status', async () => {
    const res = await cp.command<ContainerSummary>({
      op: 'run',
      spec: { image: ref, name: 'ticker', process: { cmd: ['sh', '-c', 'i=1; while true; do echo tick $i; i=$((i+1)); sleep 0.02; done'] }, resources: { memory: 32 << 20 } },
    });
    assert.ok(res.ok, JSON.stringify(res));
    id = res.result!.id;
    assert.match(id, /^[0-9a-f]{64}$/);
    const c = await until('a snapshot with the running container', () => cp.snapshots.at(-1)?.containers.find((x) => x.id === id && x.state === 'running'));
    assert.equal(c.name, 'ticker');
    assert.match(c.status, /^Up /);
    assert.equal(c.memoryLimit, 32 << 20);
    const inspected = await cp.command<{ state: { running: boolean; pid: number } }>({ op: 'inspect', id: 'ticker' });
    assert.ok(inspected.ok && inspected.result!.state.running && inspected.result!.state.pid > 0);
  });

  it('answers stats with one live reading: state, health and the cgroups\' numbers; none once it stops', async () => {
    const res = await cp.command<ContainerSummary>({
      op: 'run',
      spec: {
        image: ref,
        name: 'gauged',
        process: { cmd: ['sh', '-c', 'while true; do sleep 0.1; done'] },
        resources: { memory: 16 << 20, pidsLimit: 20 },
        health: { test: ['CMD-SHELL', 'echo fine'], intervalNs: 200e6 },
      },
    });
    assert.ok(res.ok, JSON.stringify(res));
    const gid = res.result!.id;
    try {
      const first = await cp.command<Live>({ op: 'stats', id: 'gauged' });
      assert.ok(first.ok, JSON.stringify(first));
      const live = first.result!;
      assert.equal(live.id, gid, 'found by name, answered with the id');
      assert.equal(live.status, 'running');
      assert.equal(live.restartCount, 0);
      const s = live.stats!;
      assert.ok(s, 'a running container has a reading');
      assert.equal(s.memoryLimit, 16 << 20);
      assert.equal(s.pidsLimit, 20);
      assert.ok(s.pids >= 1 && s.pids <= 20, `pids ${s.pids}`);
      assert.ok(s.memoryUsage > 0 && s.memoryUsage < 16 << 20, `memory ${s.memoryUsage}`);
      assert.ok(s.cpuUsageNs > 0 && s.systemCpuNs > s.cpuUsageNs, JSON.stringify(s));
      assert.equal(s.onlineCpus, os.cpus().length);
      // Its own network namespace has only loopback, which is not counted.
      assert.deepEqual([s.networkInterfaces, s.netRxBytes, s.netTxBytes], [0, 0, 0]);
      // Counters only grow between two readings of one run.
      const healthy = await eventually('a healthy reading', async () => {
        const r = await cp.command<Live>({ op: 'stats', id: gid });
        return r.ok && r.result!.health?.status === 'healthy' ? r.result! : undefined;
      }, 15_000, 50);
      assert.ok(healthy.stats!.cpuUsageNs >= s.cpuUsageNs && Date.parse(healthy.stats!.read) > Date.parse(s.read));
      assert.equal(healthy.health!.failingStreak, 0);
      assert.equal(healthy.health!.log.at(-1)!.output, 'fine\n');

      assert.ok((await cp.command({ op: 'stop', id: gid, timeoutSec: 0 })).ok);
      const stopped = await cp.command<Live>({ op: 'stats', id: gid });
      assert.ok(stopped.ok, JSON.stringify(stopped));
      assert.equal(stopped.result!.status, 'exited');
      assert.equal(stopped.result!.stats, null, 'no reading of a stopped container');

      const unknown = await cp.command({ op: 'stats', id: 'no-such-container' });
      assert.deepEqual([unknown.ok, !unknown.ok && unknown.status], [false, 404]);
      const extra = await cp.command({ op: 'stats', id: gid, stream: true } as unknown as AgentCommand);
      assert.ok(!extra.ok && extra.status === 400 && /does not support stream/.test(extra.error), JSON.stringify(extra));
    } finally {
      assert.ok((await cp.command({ op: 'remove', id: gid, force: true })).ok);
    }
  });

  it('streams logs with at most one unacknowledged batch, and resumes after a seq', async () => {
    // Enough output that tail 5 has something to cut.
    for (let n = 0; n < 10; ) {
      n = 0;
      for await (const _ of engine.logs(id, {})) n++;
      if (n < 10) await sleep(50);
    }
    cp.holdAcks = true;
    // The ticker numbers its lines: a line's number says where it is in the log.
    const tickOf = (e: LogEntry) => Number(/^tick (\d+)\n$/.exec(e.line)?.[1]);
    const linesNow = async () => {
      let last = 0;
      for await (const e of engine.logs(id, { tail: 1 })) last = tickOf(e);
      return last;
    };
    const before = await linesNow();
    const sub = await cp.command({ op: 'logs.subscribe', subId: 's1', id, tail: 5 });
    assert.ok(sub.ok, JSON.stringify(sub));
    const acked = await linesNow();
    await until('the first batch', () => cp.batches.some((b) => b.subId === 's1'));
    // The container keeps printing, but nothing more may come until the batch is acked.
    await sleep(400);
    assert.equal(cp.batches.filter((b) => b.subId === 's1').length, 1);
    const first = cp.entries('s1');
    // tail 5 starts five lines before the end as it was when the subscription began.
    assert.ok(tickOf(first[0]) >= before - 4 && tickOf(first[0]) <= acked - 4, `first line ${first[0].line}, log had ${before}..${acked} lines`);
    assert.ok(first.length <= 200);
    cp.holdAcks = false;
    cp.release();
    await until('more batches after the ack', () => cp.entries('s1').length > 30);
    const all = cp.entries('s1');
    for (const b of cp.batches) assert.ok(b.entries.length <= 200);
    all.forEach((e, i) => {
      assert.equal(e.line, `tick ${tickOf(all[0]) + i}\n`, 'no line lost or repeated across batches');
      if (i) assert.ok(e.seq > all[i - 1].seq, 'seqs increase');
    });

    assert.ok((await cp.command({ op: 'logs.unsubscribe', subId: 's1' })).ok);
    await sleep(200);
    const frozen = cp.entries('s1').length;
    await sleep(300);
    assert.equal(cp.entries('s1').length, frozen, 'batches kept coming after unsubscribe');

    const last = cp.entries('s1').at(-1)!;
    assert.ok((await cp.command({ op: 'logs.subscribe', subId: 's2', id, afterSeq: last.seq })).ok);
    await until('resumed batch', () => cp.entries('s2').length > 0);
    assert.equal(cp.entries('s2')[0].line, `tick ${tickOf(last) + 1}\n`, 'the resumed stream starts with the line after the last one seen');
    assert.ok(cp.entries('s2')[0].seq > last.seq);
  });

  it('ends a log stream with done when the container stops', async () => {
    const res = await cp.command({ op: 'stop', id, timeoutSec: 1 });
    assert.ok(res.ok, JSON.stringify(res));
    await until('the final batch', () => cp.batches.some((b) => b.subId === 's2' && b.done)).catch((err) => {
      console.error(engine.inspect(id).state, cp.batches.filter((b) => b.subId === 's2').map((b) => [b.entries.length, b.done]));
      throw err;
    });
    const c = await until('a snapshot with the stopped container', () => cp.snapshots.at(-1)?.containers.find((x) => x.id === id && x.state === 'exited'));
    assert.match(c.status, /^Exited \(\d+\) /);
  });

  it('reconnects after the server drops it, and sends a fresh snapshot', async () => {
    const before = cp.connections;
    const snaps = cp.snapshots.length;
    cp.socket!.disconnect(true);
    await until('a reconnect', () => cp.connections > before && cp.socket?.connected, 20_000);
    await until('a snapshot after reconnect', () => cp.snapshots.length > snaps);
  });

  it('starts, removes containers and images on command', async () => {
    assert.ok((await cp.command({ op: 'start', id })).ok);
    await until('running again', () => engine.inspect(id).state.running);
    // The dashboard's buttons: pause, unpause, restart, kill; each shows in the next snapshot.
    assert.ok((await cp.command({ op: 'pause', id })).ok);
    const paused = await until('a paused snapshot', () => cp.snapshots.at(-1)?.containers.find((x) => x.id === id && x.state === 'paused'));
    assert.match(paused.status, /^Up .* \(Paused\)$/);
    const again = await cp.command({ op: 'pause', id });
    assert.deepEqual(again, { ok: false, status: 409, error: `Container ${id} is already paused` });
    assert.ok((await cp.command({ op: 'unpause', id })).ok);
    await until('a running snapshot', () => cp.snapshots.at(-1)?.containers.find((x) => x.id === id && x.state === 'running'));
    const pid = engine.inspect(id).state.pid;
    assert.ok((await cp.command({ op: 'restart', id, timeoutSec: 0 })).ok);
    assert.notEqual(engine.inspect(id).state.pid, pid, 'a new process after restart');
    assert.ok((await cp.command({ op: 'kill', id, signal: 'SIGKILL' })).ok);
    assert.deepEqual([engine.inspect(id).state.status, engine.inspect(id).state.exitCode], ['exited', 137]);
    const bad = await cp.command({ op: 'kill', id: 'x', signal: 'SIGKILL', force: true } as unknown as AgentCommand);
    assert.equal(!bad.ok && bad.status, 400, 'an unknown field is refused');
    assert.ok((await cp.command({ op: 'start', id })).ok);
    const busy = await cp.command({ op: 'remove', id });
    assert.equal(busy.ok, false);
    assert.equal(!busy.ok && busy.status, 409);
    assert.ok((await cp.command({ op: 'remove', id, force: true })).ok);
    await until('a snapshot without the container', () => cp.snapshots.at(-1)?.containers.length === 0);
    const rmi = await cp.command<Array<{ Untagged?: string; Deleted?: string }>>({ op: 'removeImage', ref });
    assert.ok(rmi.ok, JSON.stringify(rmi));
    assert.ok(rmi.result!.some((r) => r.Deleted));
    await until('a snapshot without the image', () => cp.snapshots.at(-1)?.images.length === 0);
  });

  it('a pull and an rmi through the Docker API reach the server as snapshots at once, from engine image events', async (t) => {
    // No periodic refresh: only the engine's events can make these snapshots.
    link?.close();
    link = await startLink({ engine, root, server: cp.url, log: quiet, snapshotDelayMs: 50, refreshMs: 600_000 });
    await until('connected', () => cp.socket?.connected && link!.socket.connected);
    const sock = path.join(tmp, 'api.sock');
    const api = await startDockerApi({ engine, socketPath: sock });
    const seen: ImageEvent[] = [];
    const onImage = (e: ImageEvent) => seen.push(e);
    engine.on('image', onImage);
    const docker = (...args: string[]) =>
      new Promise<number>((resolve, reject) => {
        const child = spawn('docker', ['-H', `unix://${sock}`, ...args], { stdio: 'ignore', env: { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker-config') } });
        child.on('error', reject);
        child.on('close', (code) => resolve(code ?? -1));
      });
    try {
      assert.ok(!engine.findImage(ref), 'the image is gone before this test');
      const before = cp.snapshots.length;
      assert.equal(await docker('pull', ref), 0);
      let t0 = Date.now();
      await until('a snapshot with the pulled image', () => cp.snapshots.slice(before).some((s) => s.images.some((i) => i.repoTags.includes(ref))), 5_000);
      const pullLatency = Date.now() - t0;
      const id = engine.findImage(ref)!.id;
      assert.deepEqual(seen, [{ action: 'pull', id, ref }]);

      assert.equal(await docker('rmi', ref), 0);
      t0 = Date.now();
      await until('a snapshot without the image', () => cp.snapshots.at(-1)?.images.length === 0, 5_000);
      const rmiLatency = Date.now() - t0;
      assert.deepEqual(
        seen.slice(1).map((e) => `${e.action} ${e.id}`),
        [...seen.slice(1, -1).map(() => `untag ${id}`), `delete ${id}`],
      );
      assert.ok(seen.some((e) => e.action === 'untag' && e.ref === ref), JSON.stringify(seen));
      // With the periodic refresh off, these snapshots can only have come from the engine's events.
      t.diagnostic(`snapshots came ${pullLatency} ms after the pull and ${rmiLatency} ms after the rmi`);
    } finally {
      engine.off('image', onImage);
      await api.close();
    }
  });

  it('to a server that takes deltas, changes go as deltas that rebuild the agent’s state; a refused one brings the whole state again', async () => {
    link?.close();
    cp.takesDeltas = true;
    const wholes = cp.wholes;
    link = await startLink({ engine, root, server: cp.url, log: quiet, snapshotDelayMs: 50, refreshMs: 600_000 });
    try {
      await until('the whole state of the new connection', () => cp.wholes > wholes && link!.socket.connected);
      const sameState = async () => {
        const now = await buildSnapshot(engine);
        const held = cp.snapshots.at(-1)!;
        const plain = (s: HostSnapshot) => ({ info: s.info, images: s.images, containers: s.containers.map((c) => ({ ...c, status: c.status.replace(/\d+ seconds?|Less than a second/, 'N') })) });
        assert.deepEqual(plain(held), plain(now));
      };
      assert.ok((await cp.command({ op: 'pull', ref })).ok);
      const run = await cp.command<ContainerSummary>({ op: 'run', spec: { image: ref, name: 'by-delta', process: { cmd: ['sleep', '1000'] } } });
      assert.ok(run.ok, JSON.stringify(run));
      const cid = run.result!.id;
      await until('the running container, by delta', () => cp.snapshots.at(-1)?.containers.find((c) => c.id === cid && c.state === 'running'));
      assert.equal(cp.wholes, wholes + 1, 'one whole state, when it connected');
      assert.ok(cp.deltas >= 1, 'the image and the container came as deltas');
      await sameState();

      cp.refuseNextDelta = true;
      const deltas = cp.deltas;
      assert.ok((await cp.command({ op: 'stop', id: cid, timeoutSec: 0 })).ok);
      await until('the stopped container, in the whole state sent after the refusal', () => cp.wholes > wholes + 1 && cp.snapshots.at(-1)?.containers.find((c) => c.id === cid && c.state === 'exited'));
      assert.ok(cp.deltas > deltas, 'the stop came as a delta first');
      await sameState();

      assert.ok((await cp.command({ op: 'remove', id: cid, force: true })).ok);
      assert.ok((await cp.command({ op: 'removeImage', ref })).ok);
      await until('no container and no image, by delta', () => cp.snapshots.at(-1)?.containers.length === 0 && cp.snapshots.at(-1)?.images.length === 0);
      await sameState();
    } finally {
      cp.takesDeltas = false;
    }
  });

  it('reuses the stored credential without enrolling again', async () => {
    link?.close();
    cp.enrolments = [];
    const before = cp.connections;
    link = await startLink({ engine, root, server: cp.url, log: quiet });
    await until('a connection', () => cp.connections > before);
    assert.deepEqual(cp.enrolments, []);
    link.close();
    link = undefined;
  });
});
