// A command exec'd into a running container runs under the container's own isolation, as
// in Docker (the exec joins its capabilities, seccomp filter, no_new_privs and rlimits),
// never the agent's. Through the engine, which the dashboard's link and (later) the Docker
// API's exec objects both call; the container's spec here is the engine's own, as the
// dashboard sends it. Needs root.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import type { ContainerSpec, ImageStore } from '../../agent/engine/types';
import { busyboxStore } from '../fixtures/local-image';
import { removeCgroupParent } from '../fixtures/processes';

const isRoot = process.getuid?.() === 0;

describe('exec under the container\'s isolation', { skip: !isRoot && 'needs root' }, () => {
  let tmp: string;
  let engine: BerthEngine;
  let images: ImageStore;
  const cgroupParent = `berth-test-iso-${process.pid}`;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-iso-exec-'));
    ({ store: images } = await busyboxStore(join(tmp, 'root', 'images')));
    engine = await openEngine({ root: join(tmp, 'root'), images, cgroupParent });
  });

  after(async () => {
    for (const c of engine.list({ all: true })) await engine.remove(c.id, { force: true });
    await engine.close();
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(tmp), 'no mounts left under the test root');
    removeCgroupParent(cgroupParent);
    await rm(tmp, { recursive: true, force: true });
  });

  const execOut = async (id: string, cmd: string[]) => {
    const p = engine.exec(id, { cmd });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number>((r) => p.on('close', (c) => r(c ?? -1)));
    return { out, err, code };
  };
  const running = async (extra: Omit<ContainerSpec, 'image'>) => {
    const c = await engine.createContainer({ image: 'busybox:test', ...extra, process: { cmd: ['sleep', '1000'] } });
    await engine.start(c.id);
    return c.id;
  };

  test('capabilities, no_new_privs, rlimits and the seccomp filter are the container\'s', async () => {
    const id = await running({ security: { capDrop: ['CHOWN'], noNewPrivileges: true }, kernel: { ulimits: [{ name: 'nofile', soft: 512, hard: 1024 }] } });
    const r = await execOut(id, ['sh', '-c', 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; ulimit -n; unshare -U true 2>&1; echo unshare=$?']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(
      r.out.split('\n').map((l) => l.replace(/\s+/g, ' ')),
      ['CapEff: 00000000a80425fa', 'CapBnd: 00000000a80425fa', 'NoNewPrivs: 1', 'Seccomp: 2', '512', 'unshare: unshare(0x10000000): Operation not permitted', 'unshare=1', ''],
    );
    await engine.stop(id, 0);
  });

  test('a container without a filter gives its exec none either', async () => {
    const id = await running({ security: { seccomp: 'unconfined' } });
    const r = await execOut(id, ['sh', '-c', 'grep Seccomp: /proc/self/status; unshare -U true && echo unshared']);
    assert.deepEqual([r.code, r.out.replace(/\s+/g, ' ')], [0, 'Seccomp: 0 unshared ']);
    await engine.stop(id, 0);
  });
});
