// Deltas of a host's state (protocol/snapshot-delta.ts): what the agent sends after a change
// must rebuild, on the server and on every other control-plane process, the state the agent
// has; a delta that does not fit the state held is refused, never half applied.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerSummary, HostSnapshot, ImageSummary } from '../../protocol/agent-link';
import type { StackSummary } from '../../protocol/stacks';
import { applySnapshotDelta, diffSnapshot, type SnapshotDelta } from '../../protocol/snapshot-delta';

let serial = 0;
function container(over: Partial<ContainerSummary> = {}): ContainerSummary {
  const n = ++serial;
  return {
    id: `${n.toString(16).padStart(8, '0')}${'a'.repeat(56)}`,
    name: `svc${n}`,
    image: 'nginx:1',
    imageId: 'sha256:x',
    command: 'nginx -g daemon off;',
    created: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)).toISOString(),
    state: 'running',
    status: 'Up 3 seconds',
    exitCode: 0,
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '0001-01-01T00:00:00Z',
    memoryLimit: 0,
    labels: { app: `svc${n}` },
    ...over,
  };
}
const image = (): ImageSummary => ({ id: `sha256:${(++serial).toString(16).padStart(64, '0')}`, repoTags: [`img${serial}:1`], size: serial * 1000, created: '2026-01-01T00:00:00Z' });
const stack = (name: string, running: number): StackSummary => ({ name, source: 'berth', status: running ? 'running' : 'stopped', services: 2, containers: 2, running }) as StackSummary;

function host(containers: ContainerSummary[], images: ImageSummary[], stacks?: StackSummary[]): HostSnapshot {
  return {
    rev: 1,
    info: { hostname: 'h', kernel: 'k', os: 'o', arch: 'x86_64', cpus: 2, memTotal: 1, engineVersion: 'e', apiVersion: '1.50', cgroupVersion: 1, root: '/', containers: { total: containers.length, running: 0, paused: 0, stopped: 0 }, images: images.length },
    containers,
    images,
    ...(stacks ? { stacks } : {}),
  };
}

function roundTrip(prev: HostSnapshot, next: HostSnapshot): { delta: SnapshotDelta | undefined; applied: HostSnapshot } {
  const change = diffSnapshot(prev, next);
  if (!change) return { delta: undefined, applied: prev };
  const delta: SnapshotDelta = { base: prev.rev ?? 0, rev: (prev.rev ?? 0) + 1, ...change };
  // What crosses the wire is JSON (socket.io) or notepack (Redis): no shared objects.
  const applied = applySnapshotDelta(prev, JSON.parse(JSON.stringify(delta)) as SnapshotDelta);
  return { delta, applied };
}

test('one container changed: the delta carries that one, and applying it gives the agent’s state', () => {
  const cs = Array.from({ length: 50 }, () => container());
  const prev = host(cs, Array.from({ length: 30 }, image));
  const changed = { ...cs[17], state: 'exited' as const, status: 'Exited (0) Less than a second ago', exitCode: 0 };
  const next = { ...host(cs.map((c, i) => (i === 17 ? changed : c)), prev.images), info: { ...prev.info, containers: { total: 50, running: 49, paused: 0, stopped: 1 } } };
  const { delta, applied } = roundTrip(prev, next);
  assert.ok(delta);
  assert.deepEqual(delta.containers, { set: [changed] });
  assert.equal(delta.images, undefined);
  assert.deepEqual(delta.info, next.info);
  assert.deepEqual({ ...applied, rev: undefined }, { ...next, rev: undefined });
  assert.equal(applied.rev, 2);
  // Far smaller than the whole state it stands for.
  assert.ok(JSON.stringify(delta).length * 10 < JSON.stringify(next).length, `${JSON.stringify(delta).length} vs ${JSON.stringify(next).length}`);
});

test('only the "Up N seconds" texts aged: nothing to send', () => {
  const cs = [container(), container()];
  const prev = host(cs, []);
  const next = host(
    cs.map((c) => ({ ...c, status: 'Up 4 seconds' })),
    [],
  );
  assert.equal(diffSnapshot(prev, next), undefined);
});

test('created, removed, reordered, images and stacks: every mix rebuilds the agent’s lists exactly', () => {
  // A seeded walk, so a failure names a step that can be replayed.
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let state = host(
    Array.from({ length: 8 }, () => container()),
    Array.from({ length: 4 }, image),
    [stack('shop', 2)],
  );
  for (let step = 0; step < 400; step++) {
    const containers = [...state.containers];
    const images = [...state.images];
    let stacks = state.stacks ? [...state.stacks] : undefined;
    for (let k = 0, n = 1 + rnd(3); k < n; k++) {
      switch (rnd(8)) {
        case 0:
          containers.splice(rnd(containers.length + 1), 0, container());
          break;
        case 1:
          if (containers.length) containers.splice(rnd(containers.length), 1);
          break;
        case 2:
          if (containers.length) {
            const i = rnd(containers.length);
            containers[i] = { ...containers[i], state: containers[i].state === 'running' ? 'exited' : 'running', exitCode: rnd(3) };
          }
          break;
        case 3:
          if (containers.length > 1) containers.push(...containers.splice(rnd(containers.length), 1));
          break;
        case 4:
          if (rnd(2)) images.unshift(image());
          else if (images.length) images.splice(rnd(images.length), 1);
          break;
        case 5:
          stacks = stacks ? (rnd(3) ? stacks.map((s) => ({ ...s, running: rnd(3) })) : undefined) : [stack('shop', 1), stack('blog', 0)];
          break;
        case 6:
          if (containers.length) {
            const i = rnd(containers.length);
            containers[i] = { ...containers[i], labels: { ...containers[i].labels, ['k' + rnd(5)]: String(step) } };
          }
          break;
        default:
          images.reverse();
      }
    }
    const next: HostSnapshot = { ...host(containers, images, stacks), info: { ...state.info, images: images.length } };
    const { applied } = roundTrip(state, next);
    const ids = (s: HostSnapshot) => ({ c: s.containers.map((c) => c.id), i: s.images.map((i) => i.id), s: s.stacks?.map((x) => x.name) ?? [] });
    assert.deepEqual(ids(applied), ids(next), `step ${step}`);
    assert.deepEqual(applied.containers, next.containers, `step ${step}`);
    assert.deepEqual(applied.images, next.images, `step ${step}`);
    assert.deepEqual(applied.stacks ?? [], next.stacks ?? [], `step ${step}`);
    assert.deepEqual(applied.info, next.info, `step ${step}`);
    state = { ...applied, rev: (applied.rev ?? 0) + 0 };
  }
});

test('a delta for another rev, or one that does not fit the lists, is refused and the held state stays as it was', () => {
  const a = container();
  const b = container();
  const held = host([a, b], []);
  const copy = JSON.parse(JSON.stringify(held)) as HostSnapshot;
  assert.throws(() => applySnapshotDelta(held, { base: 5, rev: 6, containers: { remove: [a.id] } }), /delta for rev 5 on rev 1/);
  assert.throws(() => applySnapshotDelta(held, { base: 1, rev: 2, containers: { order: [b.id] } }), /containers: the order names other entries/);
  assert.throws(() => applySnapshotDelta(held, { base: 1, rev: 2, containers: { set: [{ name: 'x' } as unknown as ContainerSummary] } }), /containers: an entry without its key/);
  assert.throws(() => applySnapshotDelta(held, { base: 1, rev: 2, images: { set: 'x' } as never }), /images: set, remove and order must be lists/);
  assert.deepEqual(held, copy);
  const ok = applySnapshotDelta(held, { base: 1, rev: 2, containers: { remove: [a.id] } });
  assert.deepEqual(
    ok.containers.map((c) => c.id),
    [b.id],
  );
  assert.deepEqual(held, copy);
});
