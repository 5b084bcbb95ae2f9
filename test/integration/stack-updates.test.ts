// Stack-level image updates with the real engine, the real stack engine and a real registry
// on loopback: a stack of two services (web depends on db) deployed from a compose file; newer
// images pushed under both tags, web's failing its healthcheck: the stack update rolls both
// back (db had come up, and is put back too: same containers, old images, the tags naming them
// again). Then a good web: both are updated together, keeping their compose labels and config
// hash, the image label naming the new image, so a plan and a redeploy afterwards leave both
// alone. A stack update is one of the stack's operations: a deploy meanwhile is refused. Needs root. A stack's network needs the engine's bridge, which it makes only outside
// the machine's own network namespace: the file runs itself again inside a namespace of its
// own (registry included), and the outer run reports how that went.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import { Stacks } from '../../agent/engine/stacks/index';
import { BUSYBOX_PATH_ENV, pushBusyboxImage } from '../fixtures/busybox-image';
import { removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';
import { createNetns } from '../fixtures/netns';

const isRoot = process.getuid?.() === 0;
const INNER = process.env.BERTH_STACK_UPDATES_IN_NETNS === '1';

if (!INNER) {
  describe('stack image updates, run in a network namespace of their own', { skip: !isRoot && 'needs root', timeout: 6 * 60_000 }, () => {
    test('together and rolled back together there', () => {
      const ns = createNetns('stu');
      try {
        const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
        void _ctx;
        const r = spawnSync('timeout', ['-k', '5', '330', 'nsenter', `--net=${ns.path}`, '--', process.execPath, '--import', 'tsx', '--test', '--test-reporter=spec', import.meta.filename], {
          env: { ...env, BERTH_STACK_UPDATES_IN_NETNS: '1' },
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
const FAILING = { Healthcheck: { Test: ['CMD-SHELL', 'exit 1'], Interval: 200_000_000, Retries: 2 } };

describe('stack image updates: together, rolled back together', { skip: !INNER && 'runs inside the namespace the outer run makes', timeout: 5 * 60_000 }, () => {
  let tmp: string;
  let engine: BerthEngine;
  let stacks: Stacks;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  const refs: Record<string, string> = {};
  const cgroupParent = `berth-test-stackupd-${process.pid}`;
  const push = (svc: 'db' | 'web', version: string, config: Record<string, unknown> = {}) =>
    pushBusyboxImage(registry.url, `stackupd/${svc}`, 'stable', { config: { Env: [BUSYBOX_PATH_ENV, `VERSION=${version}`], Cmd: ['sh', '-c', LOOP], ...config } });
  const svc = (name: string) => engine.list({ all: true }).find((c) => c.spec.labels?.['com.docker.compose.service'] === name)!;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-stackupd-'));
    registry = await startRegistry();
    refs.db = (await push('db', '1')).ref;
    refs.web = (await push('web', '1')).ref;
    engine = await openEngine({ root: join(tmp, 'root'), cgroupParent });
    stacks = new Stacks(engine, join(tmp, 'root'));
    const compose = `services:\n  db:\n    image: ${refs.db}\n  web:\n    image: ${refs.web}\n    environment:\n      KEEP: me\n    depends_on: [db]\n`;
    await stacks.deploy('shop', { compose, env: '' });
  });

  after(async () => {
    for (const c of engine.list({ all: true })) await engine.remove(c.id, { force: true });
    await engine.close();
    await registry.stop();
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(tmp), 'nothing left mounted');
    removeCgroupParent(cgroupParent);
    await rm(tmp, { recursive: true, force: true });
  });

  test('nothing newer: every service is up to date, nothing is made again', async () => {
    const before = [svc('db').id, svc('web').id];
    const out = await engine.updateStack('shop');
    assert.equal(out.outcome, 'up-to-date', out.message);
    assert.deepEqual(out.services.map((s) => [s.service, s.outcome]), [['db', 'up-to-date'], ['web', 'up-to-date']]);
    assert.deepEqual([svc('db').id, svc('web').id], before);
  });

  test('web failing its healthcheck rolls the whole stack back: db too, to its container and image', async (t) => {
    const db0 = svc('db');
    const web0 = svc('web');
    await push('db', '2');
    await push('web', '2', FAILING);
    // As the link's updates.stack runs it: one of the stack's operations, so a deploy meanwhile is refused.
    const updating = stacks.updateImages('shop', { healthTimeoutSec: 20 });
    await assert.rejects(stacks.deploy('shop'), /stack shop is busy: its image-update is under way/);
    assert.equal(stacks.list().find((s) => s.name === 'shop')?.busy, 'image-update');
    const out = await updating;
    t.diagnostic(out.message);
    const op = stacks.get('shop').operation!;
    assert.equal(op.kind, 'image-update');
    assert.ok(op.finishedAt && !op.error, 'the operation ended; a rollback is its outcome, not its failure');
    assert.ok(op.steps.some((s) => /^web: rolled-back/.test(s.text)), op.steps.map((s) => s.text).join(' | '));
    assert.equal(out.outcome, 'rolled-back');
    assert.match(out.message, /^rolled back: web: new container unhealthy after \d+ s/);
    assert.deepEqual(out.services.map((s) => [s.service, s.outcome]), [['db', 'rolled-back'], ['web', 'rolled-back']]);
    assert.match(out.services[0].message, /rolled back with the stack \(web did not come up\)/);
    const db1 = svc('db');
    const web1 = svc('web');
    assert.deepEqual([db1.id, db1.imageId, db1.state.running, db1.name], [db0.id, db0.imageId, true, db0.name], 'db: the same container, its old image, running');
    assert.deepEqual([web1.id, web1.imageId, web1.state.running], [web0.id, web0.imageId, true]);
    assert.equal(engine.list({ all: true }).length, 2, 'nothing new or renamed left');
    assert.equal(engine.findImage(refs.db)?.id, db0.imageId, "db's tag names its old image again");
    assert.equal(engine.findImage(refs.web)?.id, web0.imageId);
    assert.deepEqual(stacks.plan('shop').services.map((s) => [s.service, s.action]), [['db', 'unchanged'], ['web', 'unchanged']]);
  });

  test('with a good web both are updated together; their compose labels stay, so a redeploy recreates nothing', async () => {
    const db0 = svc('db');
    const web0 = svc('web');
    const web3 = await push('web', '3');
    const out = await engine.updateStack('shop', { healthTimeoutSec: 20 });
    assert.equal(out.outcome, 'updated', out.message);
    assert.equal(out.message, 'updated db, web; 0 up to date');
    const db1 = svc('db');
    const web1 = svc('web');
    assert.notEqual(db1.id, db0.id);
    assert.notEqual(web1.id, web0.id);
    assert.equal(web1.imageId, web3.configDigest);
    assert.equal(web1.name, web0.name);
    assert.ok(web1.spec.process.env.includes('KEEP=me'));
    assert.ok(web1.spec.process.env.includes('VERSION=3'));
    for (const [now, was] of [[db1, db0], [web1, web0]] as const) {
      for (const k of ['com.docker.compose.project', 'com.docker.compose.service', 'com.docker.compose.config-hash', 'com.docker.compose.depends_on', 'com.docker.compose.project.config_files']) {
        assert.equal(now.spec.labels?.[k], was.spec.labels?.[k], `${now.name}: ${k} kept`);
      }
      assert.equal(now.spec.labels?.['com.docker.compose.image'], now.imageId, `${now.name}: the image label names the new image`);
      assert.equal(now.state.running, true);
    }
    assert.equal(engine.list({ all: true }).length, 2, 'the old containers are gone');
    assert.deepEqual(stacks.plan('shop').services.map((s) => [s.service, s.action]), [['db', 'unchanged'], ['web', 'unchanged']]);
    await stacks.deploy('shop');
    assert.deepEqual([svc('db').id, svc('web').id], [db1.id, web1.id], 'a redeploy leaves both alone');
  });
});
