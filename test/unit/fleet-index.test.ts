// The fleet index (server/hub/fleet.ts): pages, filters and sorts of the overview and of
// every container across hosts, what a narrowed member sees, the counts, and the changed
// hosts the live overview sends; then the size the issue asks for (2,000 hosts × 50).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerSummary, HostSnapshot } from '../../protocol/agent-link';
import { FleetIndex, firstInOrder, type Scope } from '../../server/hub/fleet';

function container(i: number, over: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    id: `c${String(i).padStart(4, '0')}${'0'.repeat(59)}`,
    name: `svc${i}`,
    image: i % 2 ? 'nginx:1' : 'redis:7',
    imageId: 'sha256:x',
    command: 'x',
    created: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    state: 'running',
    status: 'Up',
    exitCode: 0,
    startedAt: '',
    finishedAt: '',
    memoryLimit: 0,
    ...over,
  };
}

function snapshot(containers: ContainerSummary[]): HostSnapshot {
  return { info: { hostname: 'h', kernel: 'k', os: 'o', arch: 'x86_64', cpus: 2, memTotal: 1, engineVersion: 'e', apiVersion: '1.50', cgroupVersion: 1, root: '/', containers: { total: 0, running: 0, paused: 0, stopped: 0 }, images: 3 }, containers, images: [] };
}

const meta = (id: string, teamId: string, name: string) => ({ id, teamId, name, lastSeen: null, info: null });

function world() {
  const ix = new FleetIndex();
  ix.upsert(meta('h1', 'T', 'beta'), { online: true, lastSeen: new Date(), snapshot: snapshot([container(1), container(2, { state: 'exited' }), container(3, { health: 'unhealthy', labels: { tier: 'web' } })]) });
  ix.upsert({ ...meta('h2', 'T', 'alpha'), labels: JSON.stringify({ env: 'prod', gpu: '' }) }, { online: true, lastSeen: new Date(), snapshot: snapshot([container(4, { labels: { tier: 'db', env: 'prod' } }), container(5, { state: 'paused' })]) });
  ix.upsert(meta('h3', 'T', 'gamma'), { online: false, lastSeen: null });
  ix.upsert(meta('x1', 'OTHER', 'alpha-elsewhere'), { online: true, lastSeen: new Date(), snapshot: snapshot([container(9)]) });
  return ix;
}
const all: Scope = { teamId: 'T', hostIds: null };

test('overview: hosts of the team only, in name order, filtered by name and state, with their counts', () => {
  const ix = world();
  const p = ix.hostsPage(all, { page: 1, pageSize: 50 });
  assert.deepEqual(p.rows.map((r) => r.name), ['alpha', 'beta', 'gamma']);
  assert.equal(p.total, 3);
  assert.deepEqual(p.rows[1].counts, { total: 3, running: 2, stopped: 1, paused: 0, unhealthy: 1 });
  assert.deepEqual(ix.hostsPage(all, { text: 'ALP', page: 1, pageSize: 50 }).rows.map((r) => r.name), ['alpha']);
  assert.deepEqual(ix.hostsPage(all, { state: 'offline', page: 1, pageSize: 50 }).rows.map((r) => r.name), ['gamma']);
  assert.deepEqual(ix.hostsPage(all, { label: 'env=prod', page: 1, pageSize: 50 }).rows.map((r) => r.name), ['alpha']);
  assert.deepEqual(ix.hostsPage(all, { label: 'gpu', page: 1, pageSize: 50 }).rows.map((r) => r.name), ['alpha']);
  assert.deepEqual(ix.hostsPage(all, { label: 'env=dev', page: 1, pageSize: 50 }).rows.map((r) => r.name), []);
  assert.deepEqual(p.rows[0].labels, { env: 'prod', gpu: '' });
  assert.deepEqual(ix.hostsPage(all, { state: 'unhealthy', page: 1, pageSize: 50 }).rows.map((r) => r.name), ['beta']);
  assert.deepEqual(ix.hostsPage(all, { sort: 'running', desc: true, page: 1, pageSize: 50 }).rows.map((r) => r.name), ['beta', 'alpha', 'gamma']);
  assert.deepEqual(ix.summary(all), { hosts: 3, online: 2, offline: 1, containers: { total: 5, running: 3, stopped: 1, paused: 1, unhealthy: 1 } });
  // A page past the end is the last page.
  const last = ix.hostsPage(all, { page: 9, pageSize: 2 });
  assert.deepEqual([last.page, last.rows.map((r) => r.name)], [2, ['gamma']]);
});

test('a narrowed member sees only their hosts: in the overview, the summary and the container table', () => {
  const ix = world();
  const narrowed: Scope = { teamId: 'T', hostIds: new Set(['h2']) };
  assert.deepEqual(ix.hostsPage(narrowed, { page: 1, pageSize: 50 }).rows.map((r) => r.id), ['h2']);
  assert.equal(ix.summary(narrowed).hosts, 1);
  assert.deepEqual(ix.containersPage(narrowed, { page: 1, pageSize: 50 }).rows.map((r) => r.name), ['svc4', 'svc5']);
  assert.equal(ix.sees(narrowed, 'h1'), false);
  assert.equal(ix.sees(all, 'x1'), false, "another team's host is never seen");
  assert.deepEqual(ix.lookup(narrowed, [{ hostId: 'h1', id: container(1).id }]), [undefined]);
});

test('containers: pages across hosts, filters by name, image, state, host and label, sorts', () => {
  const ix = world();
  const names = (q: Parameters<FleetIndex['containersPage']>[1]) => ix.containersPage(all, q).rows.map((r) => r.name);
  // Host name order (alpha's before beta's), each host's in name order.
  assert.deepEqual(names({ page: 1, pageSize: 50 }), ['svc4', 'svc5', 'svc1', 'svc2', 'svc3']);
  const p2 = ix.containersPage(all, { page: 2, pageSize: 2 });
  assert.deepEqual([p2.total, p2.rows.map((r) => r.name)], [5, ['svc1', 'svc2']]);
  assert.deepEqual(names({ name: 'svc3', page: 1, pageSize: 50 }), ['svc3']);
  assert.deepEqual(names({ image: 'NGINX', page: 1, pageSize: 50 }), ['svc5', 'svc1', 'svc3']);
  assert.deepEqual(names({ state: 'stopped', page: 1, pageSize: 50 }), ['svc2']);
  assert.deepEqual(names({ state: 'unhealthy', page: 1, pageSize: 50 }), ['svc3']);
  assert.deepEqual(names({ state: 'paused', page: 1, pageSize: 50 }), ['svc5']);
  assert.deepEqual(names({ host: 'beta', page: 1, pageSize: 50 }), ['svc1', 'svc2', 'svc3']);
  assert.deepEqual(names({ host: 'h2', page: 1, pageSize: 50 }), ['svc4', 'svc5']);
  assert.deepEqual(names({ label: 'tier', page: 1, pageSize: 50 }), ['svc4', 'svc3']);
  assert.deepEqual(names({ label: 'tier=web', page: 1, pageSize: 50 }), ['svc3']);
  assert.deepEqual(names({ label: 'env=dev', page: 1, pageSize: 50 }), []);
  assert.deepEqual(names({ text: 'alpha', page: 1, pageSize: 50 }), ['svc4', 'svc5'], 'the text filter matches the host name too');
  assert.deepEqual(names({ sort: 'name', desc: true, page: 1, pageSize: 50 }), ['svc5', 'svc4', 'svc3', 'svc2', 'svc1']);
  assert.deepEqual(names({ sort: 'created', page: 1, pageSize: 3 }), ['svc1', 'svc2', 'svc3']);
  assert.deepEqual(names({ sort: 'state', page: 1, pageSize: 50 }), ['svc2', 'svc5', 'svc4', 'svc1', 'svc3'], 'exited < paused < running, ties in host order');
  const row = ix.containersPage(all, { name: 'svc4', page: 1, pageSize: 1 }).rows[0];
  assert.deepEqual([row.hostId, row.hostName, row.hostOnline, row.labels], ['h2', 'alpha', true, { tier: 'db', env: 'prod' }]);
  assert.ok(!('nameLc' in row), 'the index’s own fields stay in the index');
});

test('changes: a snapshot, going offline and a rename mark the host; a moved or revoked host leaves its team', () => {
  const ix = world();
  ix.drain();
  let told = 0;
  ix.onDirty = () => told++;
  ix.setState('h1', { online: true, lastSeen: new Date(), snapshot: snapshot([container(1), container(2)]) });
  ix.setState('h1', { online: false, lastSeen: new Date() });
  assert.equal(told, 1, 'told once until drained: the watchers coalesce');
  assert.deepEqual([...ix.drain()], ['h1']);
  assert.equal(ix.hostRow('h1')!.online, false);
  assert.deepEqual(ix.hostRow('h1')!.counts, { total: 2, running: 2, stopped: 0, paused: 0, unhealthy: 0 }, 'an offline host keeps what it last reported');
  assert.equal(ix.containersPage(all, { host: 'h1', page: 1, pageSize: 9 }).rows[0].hostOnline, false);
  ix.upsert(meta('h1', 'T', 'beta-renamed'));
  assert.equal(ix.containersPage(all, { host: 'h1', page: 1, pageSize: 9 }).rows[0].hostName, 'beta-renamed');
  ix.setTeam('T', [meta('h2', 'T', 'alpha'), meta('h3', 'T', 'gamma')], () => ({ online: false, lastSeen: null }));
  assert.deepEqual(ix.hostsPage(all, { page: 1, pageSize: 9 }).rows.map((r) => r.id), ['h2', 'h3']);
  ix.upsert({ ...meta('h2', 'OTHER', 'alpha'), labels: null });
  assert.deepEqual(ix.hostRow('h2')!.labels, {}, 'labels taken away are gone');
  assert.deepEqual(ix.hostsPage(all, { page: 1, pageSize: 9 }).rows.map((r) => r.id), ['h3'], 'a host moved to another team leaves this one');
  assert.equal(ix.sees({ teamId: 'OTHER', hostIds: null }, 'h2'), true);
});

test('usage readings are kept to the last 30', () => {
  const ix = world();
  for (let i = 0; i < 40; i++) ix.addUsage('h1', i / 100, i);
  const u = ix.hostRow('h1')!.usage;
  assert.equal(u.cpu.length, 30);
  assert.equal(u.mem[0], 10);
  assert.equal(u.mem[29], 39);
});

test('2,000 hosts × 50 containers: a page of any kind is 50 rows, and the whole fleet never is', () => {
  const ix = new FleetIndex();
  for (let h = 0; h < 2000; h++) {
    const list = Array.from({ length: 50 }, (_, i) => container(h * 50 + i, { name: `h${h}-svc${i}`, state: i % 5 ? 'running' : 'exited', labels: { app: `a${i % 10}` } }));
    ix.upsert(meta(`host${h}`, 'T', `sim-${String(h).padStart(4, '0')}`), { online: true, lastSeen: new Date(), snapshot: snapshot(list) });
  }
  const first = ix.containersPage(all, { page: 1, pageSize: 50 });
  assert.equal(first.total, 100_000);
  assert.equal(first.rows.length, 50);
  assert.equal(first.rows[0].hostName, 'sim-0000');
  const deep = ix.containersPage(all, { page: 1001, pageSize: 50 });
  assert.equal(deep.rows[0].hostName, 'sim-1000', 'a deep page of the default order lands on the right host');
  const filtered = ix.containersPage(all, { state: 'stopped', label: 'app=a0', sort: 'name', page: 1, pageSize: 50 });
  assert.equal(filtered.total, 10_000);
  assert.ok(filtered.rows.every((r) => r.state === 'exited' && r.labels.app === 'a0'));
  assert.equal(ix.hostsPage(all, { page: 1, pageSize: 50 }).rows.length, 50);
  assert.equal(ix.summary(all).containers.total, 100_000);
  assert.ok(JSON.stringify(first).length < 40_000, `a page is small (${JSON.stringify(first).length} bytes)`);
});

test('an early page of a sort keeps only its rows, in the order a full stable sort gives', () => {
  // Many ties (values 0–9), so the order among equals is tested too.
  const xs = Array.from({ length: 5000 }, (_, i) => ({ i, v: (i * 7919) % 10 }));
  const by = (a: { v: number }, b: { v: number }) => a.v - b.v;
  const full = [...xs].sort(by);
  for (const n of [1, 50, 150, 999]) assert.deepEqual(firstInOrder(xs, n, by), full.slice(0, n), `the first ${n}`);
  const desc = (a: { v: number }, b: { v: number }) => b.v - a.v;
  assert.deepEqual(firstInOrder(xs, 100, desc), [...xs].sort(desc).slice(0, 100));
  const ix = new FleetIndex();
  const list = Array.from({ length: 400 }, (_, i) => container(i, { image: `img${i % 7}` }));
  ix.upsert(meta('h', 'T', 'h'), { online: true, lastSeen: null, snapshot: snapshot(list) });
  const byImage = [...list].sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1)).map((c) => c.name);
  assert.deepEqual(ix.containersPage(all, { sort: 'image', page: 2, pageSize: 20 }).rows.map((r) => r.name), byImage.slice(20, 40), 'page 2 by image, ties in name order');
  assert.deepEqual(ix.containersPage(all, { sort: 'image', page: 20, pageSize: 20 }).rows.map((r) => r.name), byImage.slice(380, 400), 'the last page (a full sort)');
});
