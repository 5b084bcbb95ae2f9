// Image updates against a real registry on loopback, with real containers: "update
// available" appears only once another image is pushed under the container's tag (and a
// cached answer is not asked again until "check now"); the update recreates the container
// from the new image with the same name, environment, ports and volumes, and the new image's
// own defaults; an image whose healthcheck fails is rolled back, the old container running
// again with its old image. Needs root. Published ports need the engine's bridge, which it
// makes only outside the machine's own network namespace: the file runs itself again inside
// a namespace of its own (registry included), and the outer run reports how that went.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import { BUSYBOX_PATH_ENV, pushBusyboxImage } from '../fixtures/busybox-image';
import { collect } from '../fixtures/collect';
import { freePort } from '../fixtures/free-port';
import { removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { eventually } from '../fixtures/wait';
import { createNetns } from '../fixtures/netns';

const isRoot = process.getuid?.() === 0;
const INNER = process.env.BERTH_UPDATES_IN_NETNS === '1';

if (!INNER) {
  describe('image updates, run in a network namespace of their own', { skip: !isRoot && 'needs root', timeout: 6 * 60_000 }, () => {
    test('check, update and rollback pass there', () => {
      const ns = createNetns('upd');
      try {
        const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
        void _ctx;
        const r = spawnSync('timeout', ['-k', '5', '330', 'nsenter', `--net=${ns.path}`, '--', process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', import.meta.filename], {
          env: { ...env, BERTH_UPDATES_IN_NETNS: '1' },
          encoding: 'utf8',
        });
        console.log(r.stdout);
        assert.equal(r.status, 0, `the run in ${ns.name} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
      } finally {
        ns.remove();
      }
    });
  });
}
const LOOP = 'echo "version $VERSION"; trap "exit 0" TERM; while true; do sleep 0.2; done';

describe('image updates: check, recreate, roll back', { skip: !INNER && 'runs inside the namespace the outer run makes', timeout: 5 * 60_000 }, () => {
  let tmp: string;
  let engine: BerthEngine;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ref: string;
  let hostPort: number;
  const cgroupParent = `berth-test-upd-${process.pid}`;
  const push = (version: string, config: Record<string, unknown> = {}) =>
    pushBusyboxImage(registry.url, 'upd/app', 'stable', { config: { Env: [BUSYBOX_PATH_ENV, `VERSION=${version}`], Cmd: ['sh', '-c', LOOP], Labels: { 'org.example.version': version }, ...config } });
  const stateOf = async (force = false) => (await engine.imageUpdates({ ids: ['web'], force })).containers[0];
  const logText = async (id: string) => (await collect(engine.logs(id))).map((e) => e.line).join('');

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-upd-'));
    registry = await startRegistry();
    ({ ref } = await push('1'));
    engine = await openEngine({ root: join(tmp, 'root'), cgroupParent });
    await engine.pullImage(ref);
    hostPort = await freePort();
  });

  after(async () => {
    for (const c of engine.list({ all: true })) await engine.remove(c.id, { force: true });
    for (const v of engine.listVolumes()) await engine.removeVolume(v.name, { force: true });
    await engine.close();
    await registry.stop();
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(tmp), 'nothing left mounted');
    removeCgroupParent(cgroupParent);
    await rm(tmp, { recursive: true, force: true });
  });

  let v1Id: string;
  let v2ImageId: string;
  let v2ContainerId: string;

  test('a container of v1 is up to date; a v2 pushed under its tag is an update, once the registry is asked again', async () => {
    const c = await engine.createContainer({
      name: 'web',
      image: ref,
      labels: { team: 'web' },
      process: { env: ['FOO=bar baz'] },
      network: { ports: [{ containerPort: 8080, hostIp: '127.0.0.1', hostPort }] },
      storage: { mounts: [{ type: 'volume', source: 'web-data', target: '/data' }] },
      restart: { policy: 'unless-stopped' },
    });
    v1Id = c.id;
    await engine.start(c.id);
    writeFileSync(join(engine.inspectVolume('web-data').mountpoint, 'kept.txt'), 'written by v1\n');
    await eventually('v1 says its version', async () => (await logText(c.id)).includes('version 1'), 10_000);

    const first = await stateOf();
    assert.equal(first.state, 'up-to-date', JSON.stringify(first));
    assert.ok(first.checkedAt && first.remoteDigest);

    const v2 = await push('2');
    v2ImageId = v2.configDigest;
    // The answer is cached for its TTL: nothing changes until someone asks for a check now.
    assert.equal((await stateOf()).state, 'up-to-date', 'a cached answer is kept');
    const now = await stateOf(true);
    assert.equal(now.state, 'update-available', JSON.stringify(now));
    assert.equal(now.remoteDigest, v2.manifestDigest);
  });

  test('the update runs v2 under the same name, with the same env, ports, volume, labels and restart policy', async () => {
    const out = await engine.updateContainerImage('web');
    assert.equal(out.outcome, 'updated', out.message);
    const rec = engine.inspect('web');
    v2ContainerId = rec.id;
    assert.notEqual(rec.id, v1Id, 'a new container');
    assert.equal(rec.imageId, v2ImageId);
    assert.equal(rec.state.running, true);
    assert.ok(rec.spec.process.env.includes('FOO=bar baz'), rec.spec.process.env.join(' '));
    assert.ok(rec.spec.process.env.includes('VERSION=2'), "the new image's own env replaces the old image's");
    assert.ok(!rec.spec.process.env.includes('VERSION=1'));
    assert.equal(rec.spec.labels.team, 'web');
    assert.equal(rec.spec.labels['org.example.version'], '2');
    assert.equal(rec.spec.restart.policy, 'unless-stopped');
    assert.deepEqual(rec.spec.network.ports.map((p) => [p.hostIp, p.hostPort, p.containerPort]), [['127.0.0.1', hostPort, 8080]]);
    assert.deepEqual(rec.networkState?.ports.map((p) => p.hostPort), [hostPort]);
    const vol = rec.spec.storage.mounts.find((m) => m.target === '/data');
    assert.equal(vol?.source, 'web-data');
    assert.equal(readFileSync(join(engine.inspectVolume('web-data').mountpoint, 'kept.txt'), 'utf8'), 'written by v1\n');
    await eventually('v2 says its version', async () => (await logText(rec.id)).includes('version 2'), 10_000);
    assert.deepEqual(engine.list({ all: true }).map((c) => c.name), ['web'], 'the old container is gone');
    assert.equal((await stateOf(true)).state, 'up-to-date');
  });

  test('an image whose healthcheck fails is rolled back: the v2 container runs again with its image', async (t) => {
    await push('3', { Healthcheck: { Test: ['CMD-SHELL', 'exit 1'], Interval: 200_000_000, Retries: 2 } });
    assert.equal((await stateOf(true)).state, 'update-available');
    const out = await engine.updateContainerImage('web', { healthTimeoutSec: 20 });
    assert.equal(out.outcome, 'rolled-back');
    assert.match(out.message, /^rolled back: new container unhealthy after \d+ s \(\d+ failed probes, the last exited 1\)$/);
    t.diagnostic(out.message);
    const rec = engine.inspect('web');
    assert.equal(rec.id, v2ContainerId, 'the old container, not a new one');
    assert.equal(rec.imageId, v2ImageId);
    assert.equal(rec.state.running, true);
    assert.deepEqual(engine.list({ all: true }).map((c) => c.name), ['web'], 'the failed container is gone, nothing left renamed');
    assert.equal(engine.findImage(ref)?.id, v2ImageId, 'the tag names the old image again');
    assert.deepEqual(rec.networkState?.ports.map((p) => p.hostPort), [hostPort]);
    const report = await engine.imageUpdates({ ids: ['web'] });
    assert.equal(report.containers[0].state, 'update-available', 'the failed image is still what the registry has');
    const job = report.jobs.find((j) => j.name === 'web');
    assert.equal(job?.phase, 'rolled-back');
    assert.match(job?.message ?? '', /rolled back/);
  });

  test('a new container that exits, or is not healthy in time, is rolled back too, saying so; a --rm container is refused', async (t) => {
    const before = engine.inspect('web');
    await push('4', { Cmd: ['sh', '-c', 'exit 3'] });
    const exited = await engine.updateContainerImage('web');
    assert.equal(exited.outcome, 'rolled-back');
    assert.match(exited.message, /^rolled back: new container exited \(code 3\)/);
    await push('5', { Healthcheck: { Test: ['CMD-SHELL', 'sleep 30'], Interval: 200_000_000, Timeout: 60_000_000_000 } });
    const slow = await engine.updateContainerImage('web', { healthTimeoutSec: 2 });
    assert.equal(slow.outcome, 'rolled-back');
    assert.match(slow.message, /^rolled back: new container not healthy after 2 s \(still starting\)/);
    t.diagnostic(exited.message);
    t.diagnostic(slow.message);
    const now = engine.inspect('web');
    assert.deepEqual([now.id, now.imageId, now.state.running], [before.id, before.imageId, true]);

    const rm = await engine.createContainer({ name: 'once', image: ref, restart: { autoRemove: true } });
    await assert.rejects(engine.updateContainerImage('once'), /cannot update once: it was started with --rm/);
    await engine.remove(rm.id, { force: true });
  });

  test('an agent that stops in the middle of an update rolls it back when it starts again', async (t) => {
    const before = engine.inspect('web');
    await push('6', { Healthcheck: { Test: ['CMD-SHELL', 'sleep 30'], Interval: 200_000_000, Timeout: 60_000_000_000 } });
    const running = engine.updateContainerImage('web', { healthTimeoutSec: 120 });
    // It rejects while engine.close() is awaited: handled from here, or the runner counts an
    // unhandled rejection as this test's failure before assert.rejects below looks at it.
    running.catch(() => {});
    const job = await eventually('the update waits for the new container', async () => (await engine.imageUpdates({ ids: [] })).jobs.find((j) => j.name === 'web' && j.phase === 'waiting'), 30_000);
    assert.ok(job.newContainerId);
    const journal = join(tmp, 'root', 'updates', 'web.json');
    assert.equal(JSON.parse(readFileSync(journal, 'utf8')).newId, job.newContainerId, 'the journal names the new container');
    await engine.close();
    await assert.rejects(running, /the agent stopped during the update of web/);
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      engine = await openEngine({ root: join(tmp, 'root'), cgroupParent });
    } finally {
      console.log = log;
    }
    const said = lines.find((l) => /update of web/.test(l));
    t.diagnostic(said ?? '(nothing said)');
    assert.match(said ?? '', /update of web was cut short \(the agent stopped\): rolled back to [0-9a-f]{12}, running again/);
    const now = engine.inspect('web');
    assert.deepEqual([now.id, now.imageId, now.state.running], [before.id, before.imageId, true]);
    assert.deepEqual(engine.list({ all: true }).map((c) => c.name), ['web'], 'the new container is gone');
    assert.equal(engine.findImage(ref)?.id, before.imageId);
    assert.equal(existsSync(journal), false, 'the journal is done with');
  });

  test('a container pinned by digest or made from a local image is not compared', async () => {
    const img = engine.findImage(ref)!;
    const pinned = await engine.createContainer({ name: 'pinned', image: img.repoDigests[0] });
    const byId = await engine.createContainer({ name: 'by-id', image: img.id });
    const report = await engine.imageUpdates({ ids: ['pinned', 'by-id'] });
    assert.deepEqual(report.containers.map((c) => [c.name, c.state]).sort(), [['by-id', 'unknown'], ['pinned', 'unknown']]);
    await engine.remove(pinned.id, { force: true });
    await engine.remove(byId.id, { force: true });
  });
});
