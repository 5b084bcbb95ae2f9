// Rule evaluation with a clock of the test's own: durations, restart windows, dedupe (one
// open per rule and subject), resolution when the condition clears or its subject goes,
// log rules resolving after a quiet spell, and host-offline grace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerSummary, HostSnapshot } from '../../protocol/agent-link';
import type { HostMetrics } from '../../protocol/alerts';
import { Evaluator, hostOffline, type HostRef, type Transition } from '../../server/alerts/evaluate';
import { parseOptions, type Rule, type RuleKind } from '../../server/alerts/rules';

const host: HostRef = { id: 'h1', name: 'web-1', teamId: 't1' };

function rule(kind: RuleKind, options: Record<string, unknown>, extra: Partial<Rule> = {}): Rule {
  return { id: `r-${kind}`, teamId: 't1', name: kind, kind, options: parseOptions(kind, options), hostIds: null, containers: null, quietSeconds: 0, mutedUntil: null, ...extra } as Rule;
}

function container(over: Partial<ContainerSummary>): ContainerSummary {
  return { id: 'c'.repeat(64), name: 'app', image: 'busybox', imageId: 'sha256:x', command: 'sh', created: '', state: 'running', status: '', exitCode: 0, startedAt: '', finishedAt: '', memoryLimit: 0, restartCount: 0, ...over };
}

function snap(containers: ContainerSummary[]): HostSnapshot {
  return { info: {} as HostSnapshot['info'], containers, images: [] };
}

function metrics(over: Partial<HostMetrics>): HostMetrics {
  return { at: '', cpuPercent: 5, memoryUsed: 1, memoryTotal: 100, rootFree: 50, rootTotal: 100, containers: [], ...over };
}

const summary = (ts: Transition[]) => ts.map((t) => `${t.type} ${t.subject}`);

test('container died: opens once for a non-zero exit, stays open on repeats, resolves when it runs again', () => {
  let now = 1_000_000;
  const ev = new Evaluator(() => now);
  const r = rule('container.died', {});
  ev.snapshot(host, snap([container({ state: 'running' })]));
  assert.deepEqual(ev.evaluate(host, [r]), []);
  ev.snapshot(host, snap([container({ state: 'exited', exitCode: 3 })]));
  const opened = ev.evaluate(host, [r]);
  assert.deepEqual(summary(opened), [`open container:h1/${'c'.repeat(64)}`]);
  assert.equal(opened[0].detail.exitCode, 3);
  assert.equal(opened[0].detail.container, 'app');
  assert.match(opened[0].title, /app on web-1 exited with code 3/);
  now += 60_000;
  ev.snapshot(host, snap([container({ state: 'exited', exitCode: 3 })]));
  assert.deepEqual(ev.evaluate(host, [r]), [], 'the same dead container does not fire again');
  ev.snapshot(host, snap([container({ state: 'running' })]));
  assert.deepEqual(summary(ev.evaluate(host, [r])), [`resolve container:h1/${'c'.repeat(64)}`]);
});

test('container died: exit 0 only with anyExit; a removed container resolves its alert', () => {
  const ev = new Evaluator(() => 0);
  const nonZero = rule('container.died', {});
  const any = { ...rule('container.died', { anyExit: true }), id: 'r-any' } as Rule;
  ev.snapshot(host, snap([container({ state: 'exited', exitCode: 0 })]));
  assert.deepEqual(summary(ev.evaluate(host, [nonZero, any])), [`open container:h1/${'c'.repeat(64)}`]);
  ev.snapshot(host, snap([]));
  assert.deepEqual(summary(ev.evaluate(host, [nonZero, any])), [`resolve container:h1/${'c'.repeat(64)}`]);
});

test('container rules only look at the containers the rule selects (name, label)', () => {
  const ev = new Evaluator(() => 0);
  const byName = rule('container.died', {}, { containers: { names: ['db'] } });
  const byStack = { ...rule('container.died', {}, { containers: { labels: { 'com.docker.compose.project': 'shop' } } }), id: 'r-stack' } as Rule;
  ev.snapshot(host, snap([container({ id: 'a'.repeat(64), name: 'app', state: 'exited', exitCode: 1, labels: { 'com.docker.compose.project': 'shop' } }), container({ id: 'b'.repeat(64), name: 'db', state: 'exited', exitCode: 2 })]));
  const out = ev.evaluate(host, [byName, byStack]);
  assert.deepEqual(
    out.map((t) => `${t.rule.id} ${t.detail.container}`),
    ['r-container.died db', 'r-stack app'],
  );
});

test('restart loop: N restarts within M minutes opens; it resolves once the window has passed them', () => {
  let now = 0;
  const ev = new Evaluator(() => now);
  const r = rule('container.restarts', { count: 3, withinMinutes: 5 });
  for (let n = 0; n <= 2; n++) {
    ev.snapshot(host, snap([container({ restartCount: n })]));
    assert.deepEqual(ev.evaluate(host, [r]), []);
    now += 60_000;
  }
  ev.snapshot(host, snap([container({ restartCount: 3 })]));
  assert.deepEqual(summary(ev.evaluate(host, [r])), [`open container:h1/${'c'.repeat(64)}`]);
  // Time passes with no new restart: the first restart leaves the window after 5 minutes.
  now += 3 * 60_000;
  assert.deepEqual(summary(ev.evaluate(host, [r])), [`resolve container:h1/${'c'.repeat(64)}`]);
});

test('a container that first shows up already restarted counts those restarts, unless it is in the first snapshot after a connect', () => {
  const ev = new Evaluator(() => 0);
  const r = rule('container.restarts', { count: 3, withinMinutes: 5 });
  ev.snapshot(host, snap([container({ id: 'a'.repeat(64), name: 'old', restartCount: 7 })]));
  assert.deepEqual(ev.evaluate(host, [r]), [], 'restarts of unknown age do not count');
  ev.snapshot(host, snap([container({ id: 'a'.repeat(64), name: 'old', restartCount: 7 }), container({ id: 'b'.repeat(64), name: 'new', restartCount: 3 })]));
  assert.deepEqual(
    ev.evaluate(host, [r]).map((t) => t.detail.container),
    ['new'],
  );
});

test("restart counts are each host's own: another host's snapshots and its leaving change nothing here", () => {
  let now = 0;
  const ev = new Evaluator(() => now);
  const other: HostRef = { id: 'h2', name: 'web-2', teamId: 't1' };
  const r = rule('container.restarts', { count: 2, withinMinutes: 5 });
  // The same container id on both hosts (ids are only unique per host).
  ev.snapshot(host, snap([container({ restartCount: 0 })]));
  ev.snapshot(other, snap([container({ restartCount: 0 })]));
  now += 1_000;
  ev.snapshot(host, snap([container({ restartCount: 2 })]));
  ev.snapshot(other, snap([]));
  ev.forgetHost(other.id);
  assert.deepEqual(summary(ev.evaluate(host, [r])), [`open container:h1/${'c'.repeat(64)}`]);
  assert.deepEqual(ev.evaluate(other, [r]), [], 'nothing on the host that left');
  // A container gone from its host's snapshot is forgotten; back later, it is a new one, whose count are restarts since the last snapshot.
  ev.snapshot(host, snap([]));
  assert.deepEqual(summary(ev.evaluate(host, [r])), [`resolve container:h1/${'c'.repeat(64)}`]);
  ev.snapshot(host, snap([container({ restartCount: 2 })]));
  const back = ev.evaluate(host, [r]);
  assert.deepEqual(summary(back), [`open container:h1/${'c'.repeat(64)}`]);
  assert.equal(back[0].detail.restarts, 2);
});

test('restarts spread wider than the window never open', () => {
  let now = 0;
  const ev = new Evaluator(() => now);
  const r = rule('container.restarts', { count: 2, withinMinutes: 1 });
  for (let n = 0; n <= 4; n++) {
    ev.snapshot(host, snap([container({ restartCount: n })]));
    assert.deepEqual(ev.evaluate(host, [r]), [], `restart ${n}`);
    now += 61_000;
  }
});

test('metric for a duration: above the threshold for less than forSeconds does not open; longer does; below resolves', () => {
  let now = 0;
  const ev = new Evaluator(() => now);
  const cpu = rule('metric.cpu', { target: 'host', abovePercent: 80, forSeconds: 60 });
  ev.hostMetrics(host, metrics({ cpuPercent: 95 }));
  assert.deepEqual(ev.evaluate(host, [cpu]), []);
  now += 30_000;
  ev.hostMetrics(host, metrics({ cpuPercent: 20 }));
  assert.deepEqual(ev.evaluate(host, [cpu]), [], 'a dip restarts the duration');
  now += 10_000;
  ev.hostMetrics(host, metrics({ cpuPercent: 90 }));
  assert.deepEqual(ev.evaluate(host, [cpu]), []);
  now += 59_000;
  assert.deepEqual(ev.evaluate(host, [cpu]), [], '59 s is not 60');
  now += 1_000;
  const opened = ev.evaluate(host, [cpu]);
  assert.deepEqual(summary(opened), ['open host:h1']);
  assert.equal(opened[0].detail.value, 90);
  now += 5_000;
  assert.deepEqual(ev.evaluate(host, [cpu]), [], 'stays open without a second firing');
  ev.hostMetrics(host, metrics({ cpuPercent: 10 }));
  assert.deepEqual(summary(ev.evaluate(host, [cpu])), ['resolve host:h1']);
});

test('container memory against its limit (or the host memory without one), and the root disk nearly full', () => {
  const ev = new Evaluator(() => 0);
  const mem = rule('metric.memory', { target: 'container', abovePercent: 50, forSeconds: 0 });
  const disk = rule('host.disk', { freeBelowPercent: 10 });
  ev.snapshot(host, snap([container({ id: 'a'.repeat(64), name: 'limited' }), container({ id: 'b'.repeat(64), name: 'free' })]));
  ev.hostMetrics(
    host,
    metrics({
      memoryTotal: 1000,
      rootFree: 5,
      rootTotal: 100,
      containers: [
        { id: 'a'.repeat(64), cpuPercent: 0, memoryBytes: 60, memoryLimit: 100 },
        { id: 'b'.repeat(64), cpuPercent: 0, memoryBytes: 60, memoryLimit: -1 },
      ],
    }),
  );
  const out = ev.evaluate(host, [mem, disk]);
  assert.deepEqual(
    out.map((t) => `${t.rule.kind} ${t.detail.container ?? t.subject}`),
    ['metric.memory limited', 'host.disk host:h1'],
  );
  assert.equal(out[1].detail.freePercent, 5);
});

test('without a reading yet a metric rule decides nothing (an alert seeded from the database stays open)', () => {
  const ev = new Evaluator(() => 0);
  const disk = rule('host.disk', { freeBelowPercent: 10 });
  ev.seedOpen([{ ruleId: disk.id, subject: 'host:h1', lastAt: new Date(0) }]);
  assert.deepEqual(ev.evaluate(host, [disk]), []);
  ev.hostMetrics(host, metrics({ rootFree: 50, rootTotal: 100 }));
  assert.deepEqual(summary(ev.evaluate(host, [disk])), ['resolve host:h1']);
});

test('log pattern: the first match opens, later ones do not, and it resolves after resolveAfterSeconds without one', () => {
  let now = 0;
  const ev = new Evaluator(() => now);
  const r = rule('log.pattern', { pattern: 'ERROR', resolveAfterSeconds: 60 });
  const m = { ruleId: r.id, containerId: 'c'.repeat(64), containerName: 'app', line: 'ERROR disk', seq: 42, time: '', stream: 'stdout' as const, suppressed: 0 };
  const first = ev.logMatch(host, [r], m);
  assert.deepEqual(summary(first), [`open container:h1/${'c'.repeat(64)}`]);
  assert.equal(first[0].detail.seq, 42);
  assert.equal(first[0].detail.line, 'ERROR disk');
  now += 50_000;
  assert.deepEqual(ev.logMatch(host, [r], { ...m, seq: 50 }), []);
  now += 50_000;
  assert.deepEqual(ev.evaluate(host, [r]), [], '50 s since the last match');
  now += 10_000;
  assert.deepEqual(summary(ev.evaluate(host, [r])), [`resolve container:h1/${'c'.repeat(64)}`]);
  assert.deepEqual(summary(ev.logMatch(host, [r], { ...m, seq: 60 })), [`open container:h1/${'c'.repeat(64)}`], 'a new match after resolving opens again');
});

test('a rule scoped to other hosts does not look at this one', () => {
  const ev = new Evaluator(() => 0);
  const r = rule('container.died', {}, { hostIds: ['h2'] });
  ev.snapshot(host, snap([container({ state: 'exited', exitCode: 1 })]));
  assert.deepEqual(ev.evaluate(host, [r]), []);
  assert.deepEqual(ev.logMatch(host, [rule('log.pattern', { pattern: 'x' }, { hostIds: ['h2'] })], { ruleId: 'r-log.pattern', containerId: 'c', containerName: 'c', line: 'x', seq: 1, time: '', stream: 'stdout', suppressed: 0 }), []);
});

test('host offline: only after the grace period, never while online', () => {
  const r = rule('host.offline', { graceSeconds: 30 }) as Extract<Rule, { kind: 'host.offline' }>;
  const h = { ...host, lastSeen: new Date(100_000), createdAt: new Date(0) };
  assert.equal(hostOffline(r, h, false, 129_999).fire, false);
  assert.equal(hostOffline(r, h, false, 130_000).fire, true);
  assert.equal(hostOffline(r, h, true, 999_999).fire, false);
});

test('options are checked per kind: an unknown option or kind is refused by name, a bad regex too', () => {
  assert.throws(() => parseOptions('container.died', { anyexit: true }), /anyexit/);
  assert.throws(() => parseOptions('container.exploded', {}), /container.exploded/);
  assert.throws(() => parseOptions('log.pattern', { pattern: '(' }), /pattern: not a valid regex/);
  assert.throws(() => parseOptions('metric.cpu', { abovePercent: 50 }), /target/);
});

test('update failed: its options are checked by name; host state never opens or resolves it (update results do)', () => {
  assert.deepEqual(parseOptions('update.failed', {}), { automaticOnly: false });
  assert.throws(() => parseOptions('update.failed', { automatic: true }), /automatic/);
  const t = 0;
  const ev = new Evaluator(() => t);
  const r = rule('update.failed', {});
  ev.seedOpen([{ ruleId: r.id, subject: 'container:h1/app', lastAt: new Date(0) }]);
  ev.snapshot(host, snap([container({ state: 'exited', exitCode: 1 })]));
  assert.deepEqual(summary(ev.evaluate(host, [r])), []);
  ev.snapshot(host, snap([]));
  assert.deepEqual(summary(ev.evaluate(host, [r])), [], 'the container gone from the snapshot does not resolve it');
});
