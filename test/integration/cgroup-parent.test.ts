// An agent owns one cgroup parent, named after its root, and removes it when it closes
// with no container left in it: tests and second agents leave no groups behind, and two
// agents on one machine never share a parent. Needs root.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cgroupParentFor, openEngine } from '../../agent/engine/index';
import { busyboxStore } from '../fixtures/local-image';
import { removeCgroupParent } from '../fixtures/processes';

const root = process.getuid?.() === 0;
let tmp = '';
const parents: string[] = [];

after(async () => {
  for (const p of parents) removeCgroupParent(p);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The parent's directory in the memory hierarchy (v1) or the unified tree (v2). */
function parentDir(parent: string): string {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') ? join('/sys/fs/cgroup', parent) : join('/sys/fs/cgroup/memory', parent);
}

test('parents differ per root, and "berth" is the default root\'s', () => {
  assert.equal(cgroupParentFor('/var/lib/berth'), 'berth');
  assert.equal(cgroupParentFor('/var/lib/berth/'), 'berth');
  assert.match(cgroupParentFor('/srv/agent-a'), /^berth-[0-9a-f]{12}$/);
  assert.notEqual(cgroupParentFor('/srv/agent-a'), cgroupParentFor('/srv/agent-b'));
});

test('the parent stays while a container runs, and goes with the last container', { skip: !root && 'needs root', timeout: 60_000 }, async () => {
  tmp = await mkdtemp(join(tmpdir(), 'berth-cgparent-'));
  const engineRoot = join(tmp, 'root');
  const parent = cgroupParentFor(engineRoot);
  parents.push(parent);
  const { store } = await busyboxStore(join(tmp, 'images'));

  let engine = await openEngine({ root: engineRoot, images: store });
  const c = await engine.createContainer({ image: 'busybox:test', process: { cmd: ['sleep', '1000'] }, resources: { memory: 32 << 20 } });
  await engine.start(c.id);
  assert.ok(existsSync(join(parentDir(parent), c.id)), 'the container has its group under the parent');
  await engine.close();
  assert.ok(existsSync(parentDir(parent)), 'a running container keeps the parent');

  engine = await openEngine({ root: engineRoot, images: store });
  assert.equal(engine.inspect(c.id).state.running, true);
  await engine.remove(c.id, { force: true });
  await engine.close();
  assert.ok(!existsSync(parentDir(parent)), `closing with no container left removes ${parentDir(parent)}`);
});
