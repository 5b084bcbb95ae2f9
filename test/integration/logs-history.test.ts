// Log history through the control plane with a real agent and real containers (made with the
// real docker CLI against the agent's socket, so --log-opt rotates them): pages across rotated
// files, search over them, a merged view of two containers, the download line for line (and
// audited), a removed container's kept log listed, read, searched and downloaded, the
// retention an admin's to change, and streams that come back by themselves after a
// control-plane restart and after an agent restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { LogSearchBatch, LogSearchDone, LogsEvent, SourcedLogEntry } from '../../protocol/logs';
import type { ServerToUi, UiToServer } from '../../protocol/ui-socket';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { mountsUnder } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { addUser, codeOf, ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from './support/control-plane';

const ADMIN = { email: 'logs-admin@example.test', name: 'Logs', password: 'logs-pass-123' };
const VIEWER = { email: 'logs-viewer@example.test', password: 'viewer-pass-12' };
// Only keeps a broken run from hanging; every wait ends on the event it is about.
const PATIENCE_MS = 120_000;
const LINES = 3000;
const expected = Array.from({ length: LINES }, (_, i) => `line ${i} ${'0'.repeat(40)}\n`);

describe('log history through the control plane', { timeout: 400_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image: string;
  let cp: ControlPlane;
  let agent: Child;
  let tmp: string;
  let agentRoot: string;
  let sock: string;
  let hostId: string;
  let adminCookie: string;
  let viewerCookie: string;
  let api: ReturnType<typeof trpc>;
  let viewer: ReturnType<typeof trpc>;
  const sockets: Socket[] = [];
  let histId: string;

  const docker = (...args: string[]) => {
    const r = spawnSync('timeout', ['-k', '5', '120', 'docker', '-H', `unix://${sock}`, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const startAgent = (extra: string[]) =>
    spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', sock, '--server', cp.url, ...extra], {}, 'agent');
  const uiSocket = (cookie: string, reconnection = false): Socket<ServerToUi, UiToServer> => {
    const s = io(`${cp.url}/ui`, { transports: ['websocket'], reconnection, reconnectionDelay: 200, reconnectionDelayMax: 1000, extraHeaders: { cookie }, forceNew: true });
    sockets.push(s);
    return s;
  };
  const connected = (s: Socket) =>
    new Promise<void>((resolve, reject) => {
      if (s.connected) return resolve();
      s.once('connect', () => resolve());
      s.once('connect_error', reject);
    });
  const download = (query: string, cookie = viewerCookie) => fetch(`${cp.url}/api/logs/download?${query}`, { headers: { cookie } });
  /** Runs a search over the socket to its end. */
  const search = async (s: Socket<ServerToUi, UiToServer>, req: Parameters<UiToServer['logs:search']>[0]) => {
    const hits: LogSearchBatch['hits'] = [];
    let done: LogSearchDone | undefined;
    const onBatch = (b: LogSearchBatch) => void hits.push(...b.hits);
    const onDone = (d: LogSearchDone) => void (done = d);
    s.on('logs:searchBatch', onBatch);
    s.on('logs:searchDone', onDone);
    try {
      const ack = await s.emitWithAck('logs:search', req);
      if (!ack.ok) return { ack, hits, done };
      await eventually('search done', () => done?.searchId === ack.searchId, PATIENCE_MS, 20);
      return { ack, hits: hits.filter(() => true), done: done! };
    } finally {
      s.off('logs:searchBatch', onBatch);
      s.off('logs:searchDone', onDone);
    }
  };

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'logs/busybox', 'v1')).ref;
    cp = await startControlPlane();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-logs-history-'));
    agentRoot = path.join(tmp, 'root');
    sock = path.join(tmp, 'docker.sock');
    await trpc(cp.url).auth.setup.mutate(ADMIN);
    adminCookie = (await signIn(cp.url, ADMIN.email, ADMIN.password))!;
    api = trpc(cp.url, adminCookie);
    await addUser(cp, VIEWER.email, VIEWER.password, 'viewer');
    viewerCookie = (await signIn(cp.url, VIEWER.email, VIEWER.password))!;
    viewer = trpc(cp.url, viewerCookie);
    const { command } = await api.hosts.createJoinToken.mutate({ name: 'logs-agent' });
    agent = startAgent(['--token', /--token (\S+)/.exec(command)![1]]);
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    await api.images.pull.mutate({ hostId, ref: image });
    // 3000 lines of about 100 bytes each in the file, rotated every 20 kB: some 15 files, all kept.
    histId = docker('run', '-d', '--name', 'hist', '--log-opt', 'max-size=20k', '--log-opt', 'max-file=100', image, 'sh', '-c', `i=0; while [ $i -lt ${LINES} ]; do echo "line $i ${'0'.repeat(40)}"; i=$((i+1)); done`);
    docker('wait', 'hist');
  });

  after(async () => {
    try {
      for (const s of sockets) s.disconnect();
      for (const name of ['hist', 'tick-a', 'tick-b', 'ticker']) spawnSync('timeout', ['-k', '5', '60', 'docker', '-H', `unix://${sock}`, 'rm', '-f', name], { encoding: 'utf8' });
    } finally {
      await agent?.kill('SIGTERM');
      await cp?.stop();
      if (cp) removeDir(cp.dataDir);
      await registry?.stop();
      if (tmp) {
        const left = mountsUnder(tmp);
        if (!left.length) removeDir(tmp);
        else console.error(`mounts left under ${tmp}, not deleting it:\n${left.join('\n')}`);
      }
    }
  });

  test('a viewer pages back through the whole rotated history, every line once, in order', async (t) => {
    const files = readdirSync(path.join(agentRoot, 'containers', histId)).filter((f) => f.startsWith(`${histId}-json.log.`) && /\.\d+$/.test(f));
    assert.ok(files.length >= 5, `rotated into ${files.length + 1} files`);
    const source = { hostId, containerId: 'hist' };
    let page = await viewer.logs.page.query({ source, limit: 400 });
    assert.equal(page.containerId, histId);
    assert.equal(page.name, 'hist');
    assert.equal(page.hasAfter, false);
    const seen = [...page.entries];
    while (page.hasBefore) {
      page = await viewer.logs.page.query({ source, before: page.entries[0].seq, limit: 400 });
      seen.unshift(...page.entries);
    }
    t.diagnostic(`${seen.length} lines over ${files.length + 1} files`);
    assert.deepEqual(seen.map((e) => e.line), expected);
    // Forwards from the start and from a time in the middle.
    const first = await viewer.logs.page.query({ source, after: 0, limit: 3 });
    assert.deepEqual(first.entries.map((e) => e.line), expected.slice(0, 3));
    const mid = seen[1500];
    const atTime = await viewer.logs.page.query({ source, at: Date.parse(mid.time) / 1000, limit: 5 });
    assert.ok(atTime.entries.length === 5 && Date.parse(atTime.entries[0].time) >= Date.parse(mid.time) - 1);
    assert.ok(atTime.entries[0].seq <= mid.seq, 'the first line at that time (lines share milliseconds) is at or before the one it was taken from');
    const around = await viewer.logs.page.query({ source, around: mid.seq, limit: 5 });
    assert.deepEqual(around.entries.map((e) => e.line), expected.slice(1498, 1503));
    await assert.rejects(viewer.logs.page.query({ source, before: 5, after: 5 }), (err: unknown) => codeOf(err) === 'BAD_REQUEST' && /at most one of before, after, around, at/.test((err as Error).message));
  });

  test('a search over the rotated files: hits with ranges, n of m, a bad regex refused in words', async () => {
    const s = uiSocket(viewerCookie);
    await connected(s);
    const r = await search(s, { sources: [{ hostId, containerId: 'hist' }], query: 'line 1\\d\\d\\d ', regex: true, maxHits: 5000 });
    assert.equal(r.ack.ok, true, r.ack.error);
    assert.equal(r.done?.total, 1000);
    assert.equal(r.done?.sent, 1000);
    assert.equal(r.done?.error, undefined);
    assert.deepEqual(r.hits.map((h) => h.line), expected.slice(1000, 2000));
    assert.equal(r.hits[0].name, 'hist');
    assert.equal(r.hits[0].containerId, histId);
    assert.deepEqual(r.hits[0].ranges, [[0, 10]]);
    // Bounded: 10 sent, all counted.
    const few = await search(s, { sources: [{ hostId, containerId: 'hist' }], query: 'LINE', maxHits: 10 });
    assert.equal(few.hits.length, 10);
    assert.equal(few.done?.total, LINES);
    const bad = await s.emitWithAck('logs:search', { sources: [{ hostId, containerId: 'hist' }], query: 'line (', regex: true });
    assert.equal(bad.ok, false);
    assert.match(bad.error ?? '', /^query: bad regular expression: .*Unterminated group/);
  });

  test('the download is the log line for line, for a viewer, streamed as text or JSON lines, filtered, and audited', async () => {
    const text = await download(`source=${hostId}/hist`);
    assert.equal(text.status, 200);
    assert.match(text.headers.get('content-disposition') ?? '', /attachment; filename="hist\.log"/);
    assert.equal(await text.text(), expected.join(''));
    const jsonl = await download(`source=${hostId}/hist&format=jsonl&q=${encodeURIComponent('line 2999 ')}`);
    const rows = (await jsonl.text()).trim().split('\n').map((l) => JSON.parse(l) as SourcedLogEntry);
    assert.deepEqual(rows.map((r) => [r.line, r.name, r.containerId, r.hostId]), [[expected[2999], 'hist', histId, hostId]]);
    const ts = (await (await download(`source=${hostId}/hist&timestamps=1&q=${encodeURIComponent('line 7 ')}`)).text()).split(' ');
    assert.ok(!Number.isNaN(Date.parse(ts[0])), ts[0]);
    const unknown = await download(`source=${hostId}/hist&tail=5`);
    assert.equal(unknown.status, 400);
    assert.deepEqual(await unknown.json(), { error: 'unsupported option: tail' });
    assert.equal((await download(`source=${hostId}/hist`, '')).status, 401);
    const rowsOf = async () => (await api.audit.list.query()).filter((a) => a.action === 'logs.download' && a.userEmail === VIEWER.email);
    const audit = await rowsOf();
    assert.ok(audit.some((a) => a.result === `ok: ${LINES} lines` && a.target === `${hostId}/hist`), JSON.stringify(audit));
    assert.ok(audit.some((a) => a.result === 'error: BAD_REQUEST: unsupported option: tail'));
  });

  test('a merged view of two containers: the lines of both, each with its name, in time order', async () => {
    const script = (tag: string) => `i=0; while [ $i -lt 50 ]; do echo "${tag} $i"; i=$((i+1)); sleep 0.1; done`;
    docker('run', '-d', '--name', 'tick-a', image, 'sh', '-c', script('A'));
    docker('run', '-d', '--name', 'tick-b', image, 'sh', '-c', script('B'));
    docker('wait', 'tick-a');
    docker('wait', 'tick-b');
    const s = uiSocket(viewerCookie);
    await connected(s);
    const got: SourcedLogEntry[] = [];
    let done = false;
    s.on('logs', (b: LogsEvent) => {
      got.push(...b.entries);
      if (b.done) done = true;
    });
    const ack = await s.emitWithAck('logs:subscribe', { sources: [{ hostId, containerId: 'tick-a' }, { hostId, containerId: 'tick-b' }], tail: 100 });
    assert.equal(ack.ok, true, ack.error);
    await eventually('both streams done', () => done, PATIENCE_MS, 20);
    assert.deepEqual(got.filter((e) => e.name === 'tick-a').map((e) => e.line), Array.from({ length: 50 }, (_, i) => `A ${i}\n`));
    assert.deepEqual(got.filter((e) => e.name === 'tick-b').map((e) => e.line), Array.from({ length: 50 }, (_, i) => `B ${i}\n`));
    const times = got.map((e) => Date.parse(e.time));
    assert.deepEqual(times, [...times].sort((a, b) => a - b), 'interleaved by time');
    assert.ok(new Set(got.slice(0, 10).map((e) => e.name)).size === 2, 'the two really are interleaved');
    // And merged in a download, each line with its container's name.
    const body = await (await download(`source=${hostId}/tick-a&source=${hostId}/tick-b`)).text();
    const lines = body.trim().split('\n');
    assert.equal(lines.length, 100);
    assert.deepEqual(lines.filter((l) => l.startsWith('tick-b | ')), Array.from({ length: 50 }, (_, i) => `tick-b | B ${i}`));
  });

  test('a removed container\'s log is kept: listed, paged, searched and downloaded like a live one', async () => {
    docker('rm', 'hist');
    const kept = await viewer.logs.kept.query({ hostId });
    const k = kept.find((x) => x.containerId === histId);
    assert.ok(k, JSON.stringify(kept));
    assert.equal(k.name, 'hist');
    assert.equal(k.image, image);
    assert.ok(k.size > 200_000, `${k.size} bytes kept`);
    // The live name is gone; the kept log answers by id or name.
    await assert.rejects(viewer.logs.page.query({ source: { hostId, containerId: 'hist' } }), (err: unknown) => codeOf(err) === 'NOT_FOUND');
    const page = await viewer.logs.page.query({ source: { hostId, containerId: 'hist', kept: true }, after: 0, limit: LINES });
    assert.deepEqual(page.entries.map((e) => e.line), expected);
    // A view opened on the live container (by full id) goes on working after the removal.
    assert.equal((await viewer.logs.page.query({ source: { hostId, containerId: histId }, limit: 1 })).entries[0].line, expected[LINES - 1]);
    const s = uiSocket(viewerCookie);
    await connected(s);
    const r = await search(s, { sources: [{ hostId, containerId: histId, kept: true }], query: 'line 42 ' });
    assert.deepEqual(r.hits.map((h) => h.line), [expected[42]]);
    assert.equal(await (await download(`source=${hostId}/${histId}/kept&q=${encodeURIComponent('line 2 ')}`)).text(), expected[2]);
  });

  test('the retention is an admin\'s to set, audited; a viewer reads it', async () => {
    assert.deepEqual(await viewer.logs.retention.query({ hostId }), { maxAgeSeconds: 7 * 86400, maxBytes: 2 ** 30 });
    await assert.rejects(viewer.logs.setRetention.mutate({ hostId, maxAgeSeconds: 60, maxBytes: 1000 }), (err: unknown) => codeOf(err) === 'FORBIDDEN');
    await assert.rejects(api.logs.setRetention.mutate({ hostId, maxAgeSeconds: -1, maxBytes: 1000 }), (err: unknown) => codeOf(err) === 'BAD_REQUEST');
    // Smaller than the kept log: it goes at once.
    assert.deepEqual(await api.logs.setRetention.mutate({ hostId, maxAgeSeconds: 3600, maxBytes: 1000 }), { maxAgeSeconds: 3600, maxBytes: 1000 });
    assert.equal((await viewer.logs.kept.query({ hostId })).some((x) => x.containerId === histId), false);
    const rows = (await api.audit.list.query()).filter((a) => a.action === 'logs.retention');
    assert.ok(rows.some((a) => a.userEmail === ADMIN.email && a.result === 'ok' && a.target === 'max age 3600 s, max 1000 bytes'), JSON.stringify(rows));
    assert.ok(rows.some((a) => a.userEmail === VIEWER.email && a.result.startsWith('error: FORBIDDEN')));
    await api.logs.setRetention.mutate({ hostId, maxAgeSeconds: 7 * 86400, maxBytes: 2 ** 30 });
  });

  test('an open stream comes back by itself after a control-plane restart and after an agent restart, nothing lost or repeated', async (t) => {
    docker('run', '-d', '--name', 'ticker', image, 'sh', '-c', 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.05; done');
    const s = uiSocket(viewerCookie, true);
    await connected(s);
    const got: SourcedLogEntry[] = [];
    let subId = '';
    s.on('logs', (b: LogsEvent) => {
      if (b.subId === subId) got.push(...b.entries);
    });
    const subscribe = async () => {
      const last = got.length ? got[got.length - 1].seq : undefined;
      const ack = await s.emitWithAck('logs:subscribe', last === undefined ? { hostId, containerId: 'ticker', tail: 5 } : { hostId, containerId: 'ticker', afterSeq: last });
      assert.equal(ack.ok, true, ack.error);
      subId = ack.subId!;
      return ack;
    };
    await subscribe();
    await eventually('lines before the restart', () => got.length >= 10, PATIENCE_MS, 20);

    // The control plane restarts on the same address and database; the page's socket reconnects and resubscribes after its last seq.
    const port = cp.port;
    const dataDir = cp.dataDir;
    await cp.stop();
    const reconnected = new Promise<void>((r) => s.io.once('reconnect', () => r()));
    cp = await startControlPlane(dataDir, { port });
    await reconnected;
    const ack = await subscribe();
    t.diagnostic(`resubscribed ${ack.waiting ? 'while the agent was still away (waiting)' : 'with the agent back already'}`);
    const mark = got.length;
    await eventually('lines after the control-plane restart', () => got.length >= mark + 10, PATIENCE_MS, 20);

    // The agent restarts (its containers go on): the server resumes the stream after its last seq.
    await agent.kill('SIGTERM');
    agent = startAgent([]);
    await agent.waitFor(/connected to .* as host/, 60_000);
    const mark2 = got.length;
    await eventually('lines after the agent restart', () => got.length >= mark2 + 10, PATIENCE_MS, 20);

    const n = got.map((e) => Number(/^tick (\d+)\n$/.exec(e.line)![1]));
    for (let i = 1; i < n.length; i++) assert.equal(n[i], n[i - 1] + 1, `line ${i}: tick ${n[i]} after tick ${n[i - 1]}`);
    t.diagnostic(`${n.length} lines, tick ${n[0]} to tick ${n[n.length - 1]}, none missing or repeated`);
    docker('rm', '-f', 'ticker');
  });
});
