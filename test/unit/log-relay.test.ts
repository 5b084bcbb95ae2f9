// The control plane's log relay (server/hub/logs.ts) between fake browsers and fake agents:
// what goes to which agent, what reaches the browser, and when. A merged view's first batches
// come interleaved; a source on an offline host waits and starts when the host is back, then
// resumes after its last seq; a browser that takes nothing is told it fell behind and its
// streams are stopped; a search over two hosts comes back as one, with "n of m".
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import type { AgentCommand, CommandResult, LogBatch, LogSearchChunk } from '../../protocol/agent-link';
import { HUB_OFFLINE, type AgentHub } from '../../server/hub/agents';
import { LogRelay } from '../../server/hub/logs';

class FakeHub {
  commands: Array<{ hostId: string; cmd: AgentCommand }> = [];
  offline = new Set<string>();
  logSink?: (hostId: string, b: LogBatch) => Promise<void>;
  logSearchSink?: (hostId: string, c: LogSearchChunk) => Promise<void>;
  offlineListeners = new Set<(hostId: string) => void>();
  async command<T>(hostId: string, cmd: AgentCommand): Promise<CommandResult<T>> {
    this.commands.push({ hostId, cmd });
    if (this.offline.has(hostId)) return { ok: false, status: HUB_OFFLINE, error: 'host is offline' };
    if (cmd.op === 'logs.subscribe') return { ok: true, result: { subId: cmd.subId, containerId: `${cmd.id}-full`, name: cmd.id } as T };
    if (cmd.op === 'logs.search') return { ok: true, result: { containerId: `${cmd.id}-full`, name: cmd.id } as T };
    return { ok: true };
  }
  ops(op: string) {
    return this.commands.filter((c) => c.cmd.op === op);
  }
}

class FakeConn extends EventEmitter {
  writeBuffer: unknown[] = [];
  readyState = 'open';
}

class FakeSocket extends EventEmitter {
  data = { userId: 'u1' };
  connected = true;
  conn = new FakeConn();
  sent: Array<[string, unknown]> = [];
  override emit(event: string, ...args: unknown[]): boolean {
    // Handlers registered with on() are the server's; what it emits goes "to the browser".
    if (this.listenerCount(event) && event.includes(':') && typeof args[args.length - 1] === 'function') return super.emit(event, ...args);
    this.sent.push([event, args[0]]);
    return true;
  }
  /** As the browser sends an event with an ack. */
  ask<T>(event: string, req: unknown): Promise<T> {
    return new Promise((resolve) => super.emit(event, req, resolve));
  }
  got(event: string) {
    return this.sent.filter(([e]) => e === event).map(([, p]) => p);
  }
}

const entry = (seq: number, ms: number, line = `l${seq}\n`) => ({ seq, stream: 'stdout' as const, time: new Date(ms).toISOString(), line });
const setup = (opts: { behindMs?: number } = {}) => {
  const hub = new FakeHub();
  const relay = new LogRelay(hub as unknown as AgentHub, { authorize: async () => ({}), behindMs: opts.behindMs ?? 60_000, mergeFirstMs: 60_000 });
  relay.attach();
  const socket = new FakeSocket();
  relay.bind(socket as never);
  return { hub, relay, socket };
};

describe('log relay', () => {
  test('one log: the agent is asked for the tail under the browser\'s subId; lines reach the browser once, with their source', async () => {
    const { hub, socket } = setup();
    const ack = await socket.ask<{ ok: boolean; subId: string }>('logs:subscribe', { hostId: 'h1', containerId: 'web', tail: 10 });
    assert.equal(ack.ok, true);
    assert.deepEqual(hub.ops('logs.subscribe')[0].cmd, { op: 'logs.subscribe', subId: ack.subId, id: 'web', tail: 10 });
    await hub.logSink!('h1', { subId: ack.subId, entries: [entry(5, 1000), entry(9, 2000)] });
    await hub.logSink!('h1', { subId: ack.subId, entries: [entry(9, 2000), entry(12, 3000)], done: true });
    const batches = socket.got('logs') as Array<{ entries: Array<{ seq: number; name: string; hostId: string; containerId: string }>; done?: boolean }>;
    assert.deepEqual(batches.map((b) => b.entries.map((e) => e.seq)), [[5, 9], [12]]);
    assert.deepEqual(batches[0].entries[0], { ...entry(5, 1000), hostId: 'h1', containerId: 'web-full', name: 'web' });
    assert.equal(batches[1].done, true);
  });

  test('merged: the first batches of all sources come as one, by time; later lines as they come; done when all are', async () => {
    const { hub, socket } = setup();
    const ack = await socket.ask<{ ok: boolean; subId: string }>('logs:subscribe', { sources: [{ hostId: 'h1', containerId: 'a' }, { hostId: 'h2', containerId: 'b' }], tail: 3 });
    assert.equal(ack.ok, true);
    const [a, b] = hub.ops('logs.subscribe').map((c) => c.cmd as { subId: string; tail: number });
    assert.deepEqual([a.subId, b.subId, a.tail], [`${ack.subId}/0`, `${ack.subId}/1`, 3]);
    const firstA = hub.logSink!('h1', { subId: a.subId, entries: [entry(1, 1000), entry(2, 3000)] });
    // A's batch is held (its ack too) until B's first batch comes.
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(socket.got('logs').length, 0);
    await hub.logSink!('h2', { subId: b.subId, entries: [entry(7, 2000)] });
    await firstA;
    const first = socket.got('logs')[0] as { entries: Array<{ name: string; seq: number }> };
    assert.deepEqual(first.entries.map((e) => `${e.name}${e.seq}`), ['a1', 'b7', 'a2']);
    await hub.logSink!('h2', { subId: b.subId, entries: [entry(8, 4000)], done: true });
    await hub.logSink!('h1', { subId: a.subId, entries: [], done: true });
    const rest = socket.got('logs').slice(1) as Array<{ entries: Array<{ seq: number }>; ended?: Array<{ containerId: string }>; done?: boolean }>;
    assert.deepEqual(rest.map((x) => [x.entries.map((e) => e.seq), x.ended?.map((e) => e.containerId) ?? [], !!x.done]), [
      [[8], [], false],
      [[], ['b-full'], false],
      [[], ['a-full'], true],
    ]);
  });

  test('a source on an offline host waits; when the host is back it starts, and after a reconnect resumes after its last seq', async () => {
    const { hub, relay, socket } = setup();
    hub.offline.add('h2');
    const ack = await socket.ask<{ ok: boolean; subId: string; waiting?: unknown }>('logs:subscribe', { hostId: 'h2', containerId: 'c', afterSeq: 40 });
    assert.deepEqual(ack, { ok: true, subId: ack.subId, waiting: [{ hostId: 'h2', containerId: 'c' }] });
    hub.offline.delete('h2');
    relay.resume('h2');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(hub.ops('logs.subscribe').map((c) => (c.cmd as { afterSeq?: number }).afterSeq), [40, 40]);
    await hub.logSink!('h2', { subId: ack.subId, entries: [entry(50, 1000), entry(60, 2000)] });
    relay.resume('h2');
    await new Promise((r) => setImmediate(r));
    assert.equal((hub.ops('logs.subscribe').at(-1)!.cmd as { afterSeq?: number }).afterSeq, 60);
  });

  test('a browser that takes nothing is told it fell behind, with its last seqs, and the agent stops reading', async () => {
    const { hub, socket } = setup({ behindMs: 100 });
    const ack = await socket.ask<{ ok: boolean; subId: string }>('logs:subscribe', { hostId: 'h1', containerId: 'web', tail: 10 });
    // Its connection still holds what was sent before, and never drains.
    socket.conn.writeBuffer.push('unsent');
    await hub.logSink!('h1', { subId: ack.subId, entries: [entry(3, 1000), entry(7, 2000)] });
    assert.deepEqual(socket.got('logs:behind'), [{ subId: ack.subId, lastSeq: [{ hostId: 'h1', containerId: 'web-full', seq: 7 }] }]);
    assert.deepEqual(hub.ops('logs.unsubscribe').map((c) => c.cmd), [{ op: 'logs.unsubscribe', subId: ack.subId }]);
    // Later batches of that stream go nowhere and tell the agent again to stop.
    await hub.logSink!('h1', { subId: ack.subId, entries: [entry(9, 3000)] });
    assert.equal(socket.got('logs').length, 1);
  });

  test('a search over two hosts: hits of both with their source, a running count, one end with the total', async () => {
    const { hub, socket } = setup();
    const ack = await socket.ask<{ ok: boolean; searchId: string }>('logs:search', { sources: [{ hostId: 'h1', containerId: 'a' }, { hostId: 'h2', containerId: 'b', kept: true }], query: 'err', maxHits: 100 });
    assert.equal(ack.ok, true);
    const [sa, sb] = hub.ops('logs.search').map((c) => c.cmd as { searchId: string; kept?: boolean; query: string; maxHits: number });
    assert.deepEqual([sb.kept, sa.query, sa.maxHits], [true, 'err', 100]);
    const hit = (seq: number) => ({ ...entry(seq, 1000, 'an err\n'), ranges: [[3, 6]] as Array<[number, number]> });
    await hub.logSearchSink!('h1', { searchId: sa.searchId, hits: [hit(1), hit(2)], found: 2 });
    await hub.logSearchSink!('h2', { searchId: sb.searchId, hits: [hit(5)], found: 1, done: { total: 1, sent: 1, scannedBytes: 100 } });
    assert.equal(socket.got('logs:searchDone').length, 0, 'not done while one host still searches');
    await hub.logSearchSink!('h1', { searchId: sa.searchId, hits: [], found: 7, done: { total: 7, sent: 2, scannedBytes: 900 } });
    const batches = socket.got('logs:searchBatch') as Array<{ hits: Array<{ name: string; hostId: string; seq: number }>; found: number }>;
    assert.deepEqual(batches.map((b) => [b.hits.map((h) => `${h.hostId}:${h.name}:${h.seq}`), b.found]), [
      [['h1:a:1', 'h1:a:2'], 2],
      [['h2:b:5'], 3],
    ]);
    assert.deepEqual(socket.got('logs:searchDone'), [{ searchId: ack.searchId, total: 8, sent: 3, scannedBytes: 1000 }]);
  });

  test('a bad regex or a bad field is refused before any agent is asked', async () => {
    const { hub, socket } = setup();
    const bad = await socket.ask<{ ok: boolean; error: string }>('logs:search', { sources: [{ hostId: 'h1', containerId: 'a' }], query: '(x', regex: true });
    assert.equal(bad.ok, false);
    assert.match(bad.error, /^query: bad regular expression: /);
    const extra = await socket.ask<{ ok: boolean; error: string }>('logs:search', { sources: [{ hostId: 'h1', containerId: 'a' }], query: 'x', fuzzy: true });
    assert.deepEqual(extra, { ok: false, error: 'unknown field fuzzy' });
    assert.equal(hub.ops('logs.search').length, 0);
  });

  test('a host that goes offline mid-search ends it with that said', async () => {
    const { hub, socket } = setup();
    const ack = await socket.ask<{ ok: boolean; searchId: string }>('logs:search', { sources: [{ hostId: 'h1', containerId: 'a' }], query: 'x' });
    for (const l of hub.offlineListeners) l('h1');
    assert.deepEqual(socket.got('logs:searchDone'), [{ searchId: ack.searchId, total: 0, sent: 0, scannedBytes: 0, error: 'host went offline' }]);
  });
});
