// Containers from a pulled multi-layer image: overlay layering and whiteouts, copy-on-write
// into the container's own upper dir, and the image config (Entrypoint, Cmd, Env,
// WorkingDir, StopSignal) applied Docker's way. Needs root.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openEngine, type BerthEngine } from '../../agent/engine/index';
import type { LogEntry } from '../../agent/engine/types';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { collect } from '../fixtures/collect';
import { removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';

const isRoot = process.getuid?.() === 0;

const lines = async (it: AsyncIterable<LogEntry>) => (await collect(it)).map((e) => e.line);

describe('containers from a pulled image', { skip: !isRoot && 'needs root' }, () => {
  let tmp: string;
  let engine: BerthEngine;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let ref: string;
  const cgroupParent = `berth-test-img-${process.pid}`;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-rtimg-'));
    registry = await startRegistry();
    ({ ref } = await pushBusyboxImage(registry.url, 'rt', 'v1', {
      extraLayers: [
        [
          { path: 'app/', type: 'directory', mode: 0o755 },
          { path: 'app/hello.txt', type: 'file', data: 'hello from layer 2\n', mode: 0o644 },
          { path: 'etc/.wh.group', type: 'file', data: '' },
        ],
      ],
      config: {
        Entrypoint: ['sh', '-c'],
        Cmd: ['echo default'],
        WorkingDir: '/app',
        Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'FOO=from-image', 'BAR=image'],
        StopSignal: 'SIGUSR1',
      },
    }));
    engine = await openEngine({ root: join(tmp, 'root'), cgroupParent });
    await engine.pullImage(ref);
  });

  after(async () => {
    for (const c of engine.list({ all: true })) await engine.remove(c.id, { force: true });
    await engine.close();
    await registry.stop();
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes(tmp), 'nothing left mounted');
    removeCgroupParent(cgroupParent);
    await rm(tmp, { recursive: true, force: true });
  });

  const runToEnd = async (spec: Parameters<BerthEngine['createContainer']>[0]) => {
    const c = await engine.createContainer(spec);
    await engine.start(c.id);
    const { exitCode } = await engine.wait(c.id);
    return { id: c.id, exitCode, out: await lines(engine.logs(c.id)) };
  };

  test("the image's Entrypoint and Cmd run by default", async () => {
    const r = await runToEnd({ image: ref });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.out, ['default\n']);
    const rec = engine.inspect(r.id);
    assert.deepEqual(rec.spec.process.entrypoint, ['sh', '-c']);
    assert.deepEqual(rec.spec.process.cmd, ['echo default']);
    // HOME comes from the user's passwd entry; HOSTNAME from the container.
    const who = await runToEnd({ image: ref, process: { cmd: ['echo $HOME $HOSTNAME; id -un'] } });
    assert.deepEqual(who.out, [`/root ${who.id.slice(0, 12)}\n`, 'root\n']);
  });

  test('layers stack with whiteouts; writes land in the container, not in the image', async () => {
    const r = await runToEnd({
      image: ref,
      process: {
        cmd: ['pwd; cat hello.txt; echo $FOO $BAR; test -e /etc/group || echo no-group; echo mine > /app/new; cat /etc/hostname'],
        env: ['FOO=spec'],
      },
    });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(r.out, ['/app\n', 'hello from layer 2\n', 'spec image\n', 'no-group\n', r.id.slice(0, 12) + '\n']);
    const upper = join(engine.containerDir(r.id), 'upper');
    assert.equal(readFileSync(join(upper, 'app', 'new'), 'utf8'), 'mine\n');
    const img = engine.inspectImage(ref);
    for (const layer of engine.imageLayerDirs(img)) assert.ok(!existsSync(join(layer, 'app', 'new')));

    // Another container from the same image starts from the image, not from the first one's changes.
    const other = await runToEnd({ image: ref, process: { cmd: ['test -e /app/new && echo leaked || echo clean'] } });
    assert.deepEqual(other.out, ['clean\n']);
    // A container keeps its own changes across a restart.
    const counter = await runToEnd({ image: ref, process: { cmd: ['echo x >> /app/count; wc -l < /app/count'] } });
    await engine.start(counter.id);
    await engine.wait(counter.id);
    assert.deepEqual((await lines(engine.logs(counter.id))).map((l) => l.trim()), ['1', '2']);
  });

  test('an empty entrypoint override runs the given command', async () => {
    const r = await runToEnd({ image: ref, process: { entrypoint: [], cmd: ['echo', 'plain'] } });
    assert.deepEqual(r.out, ['plain\n']);
  });

  test("stop sends the image's StopSignal", async () => {
    const c = await engine.createContainer({
      image: ref,
      process: { cmd: ['trap "echo got-usr1; exit 0" USR1; echo ready; while :; do sleep 0.05; done'] },
    });
    await engine.start(c.id);
    const ac = new AbortController();
    for await (const e of engine.logs(c.id, { follow: true, signal: ac.signal })) if (e.line === 'ready\n') break;
    await engine.stop(c.id, 10);
    // Exit code 0 and the trap's line: the image's signal ended it, not the SIGKILL after the timeout (137).
    assert.equal(engine.inspect(c.id).state.exitCode, 0);
    assert.deepEqual(await lines(engine.logs(c.id)), ['ready\n', 'got-usr1\n']);
  });
});
