// The spec an update makes a container again from: resolved against the same image it gives
// back the same container (so nothing the user set is lost), and against a new image the
// new image's own defaults replace the old image's while the user's settings stay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerRecord, ContainerSpec } from '../../protocol/container';
import { resolveSpec } from '../../agent/engine/containers/spec';
import { specForNewImage } from '../../agent/engine/updates/recreate-spec';
import type { ImageConfig } from '../../agent/engine/types';

const OLD: ImageConfig = {
  Env: ['PATH=/usr/bin:/bin', 'VERSION=1', 'MODE=image'],
  Cmd: ['serve'],
  Entrypoint: ['/entry'],
  WorkingDir: '/app',
  Labels: { 'org.example.version': '1', shared: 'image' },
  ExposedPorts: { '80/tcp': {} },
  Volumes: { '/var/lib/app': {} },
  StopSignal: 'SIGQUIT',
  Healthcheck: { Test: ['CMD', 'check'], Interval: 1_000_000_000, Retries: 3 },
};
const NEW: ImageConfig = { ...OLD, Env: ['PATH=/usr/bin:/bin', 'VERSION=2', 'MODE=image'], Cmd: ['serve', '--v2'], Labels: { 'org.example.version': '2' }, Healthcheck: { Test: ['CMD', 'check2'] } };
const ID = 'a'.repeat(64);

function record(spec: ContainerSpec, img: ImageConfig): ContainerRecord {
  const resolved = resolveSpec(ID, spec, img);
  // What the engine's storage settles at create: the anonymous volume gets a generated name.
  resolved.storage.mounts = resolved.storage.mounts.map((m) => (m.anonymous ? { ...m, source: 'anon-1234' } : m));
  return { id: ID, name: 'web', created: '', image: spec.image, imageId: 'sha256:' + '1'.repeat(64), spec: resolved, state: {} as ContainerRecord['state'], restartCount: 0, logPath: '' };
}

const USER: ContainerSpec = {
  name: 'web',
  image: '127.0.0.1:5000/app:stable',
  labels: { team: 'web', shared: 'mine' },
  process: { env: ['FOO=bar', 'MODE=mine'], user: 'nobody', tty: true, stopTimeout: 30 },
  resources: { memory: 64 << 20, nanoCpus: 500_000_000, pidsLimit: 100 },
  network: { ports: [{ containerPort: 80, hostIp: '127.0.0.1', hostPort: 8080 }], dns: ['10.0.0.53'], extraHosts: ['db:10.0.0.5'], exposedPorts: ['9000/tcp'] },
  restart: { policy: 'on-failure', maxRetries: 3 },
  security: { capDrop: ['NET_RAW'], noNewPrivileges: true },
  filesystem: { readonlyRootfs: true, tmpfs: { '/run': 'size=1m' } },
  storage: { mounts: [{ type: 'volume', source: 'data', target: '/data' }, { type: 'bind', source: '/etc', target: '/conf', readOnly: true }] },
  kernel: { sysctls: { 'net.ipv4.ip_forward': '1' }, ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }] },
  log: { driver: 'json-file', options: { 'max-size': '1m' } },
};

test('against the same image the spec makes the same container', () => {
  const rec = record(USER, OLD);
  const again = resolveSpec(ID, specForNewImage(rec, OLD), OLD);
  const { storage: s1, ...rest1 } = rec.spec;
  const { storage: s2, ...rest2 } = again;
  assert.deepEqual(rest2, rest1);
  // The anonymous volume comes back by its name, so its data goes over.
  assert.deepEqual(s2.mounts.map((m) => [m.type, m.source, m.target, m.readOnly]), [['volume', 'data', '/data', false], ['bind', '/etc', '/conf', true], ['volume', 'anon-1234', '/var/lib/app', false]]);
});

test("against a new image its own defaults replace the old image's; the user's settings stay", () => {
  const spec = specForNewImage(record(USER, OLD), OLD);
  const next = resolveSpec(ID, spec, NEW);
  assert.deepEqual(next.process.cmd, ['serve', '--v2'], "the new image's Cmd");
  assert.ok(next.process.env.includes('VERSION=2') && !next.process.env.includes('VERSION=1'));
  assert.ok(next.process.env.includes('MODE=mine') && next.process.env.includes('FOO=bar'), "the user's env wins over the image's");
  assert.equal(next.labels['org.example.version'], '2');
  assert.equal(next.labels.shared, 'mine');
  assert.equal(next.labels.team, 'web');
  assert.deepEqual(next.health?.test, ['CMD', 'check2'], "the new image's healthcheck");
  assert.equal(next.process.user, 'nobody');
  assert.deepEqual(next.network.ports.map((p) => [p.hostIp, p.hostPort, p.containerPort]), [['127.0.0.1', 8080, 80]]);
  assert.equal(next.network.hostname, ID.slice(0, 12), 'the default hostname is not carried as if the user had set it');
  assert.deepEqual(next.restart, { autoRemove: false, policy: 'on-failure', maxRetries: 3 });
  assert.equal(next.resources.memory, 64 << 20);
});

test('a container the user made without a healthcheck stays without one', () => {
  const rec = record({ ...USER, health: { test: ['NONE'] } }, OLD);
  assert.equal(rec.spec.health, null);
  assert.equal(resolveSpec(ID, specForNewImage(rec, OLD), NEW).health, null);
  // Its own healthcheck over the image's stays its own.
  const own = record({ ...USER, health: { test: ['CMD-SHELL', 'curl -f localhost'], retries: 5 } }, OLD);
  assert.deepEqual(resolveSpec(ID, specForNewImage(own, OLD), NEW).health?.test, ['CMD-SHELL', 'curl -f localhost']);
});
