// Removed containers' logs kept under the agent root (agent/engine/logs/kept.ts): the files are
// moved whole (rotated ones and the index too, so they still read as one log), listed with who
// they were, found by id, prefix or name, and pruned oldest first by age and by total size.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KeptLogs } from '../../agent/engine/logs/kept';
import { readPage } from '../../agent/engine/logs/history';
import type { ContainerRecord } from '../../agent/engine/types';
import { LOG_RETENTION_DEFAULT } from '../../protocol/logs';
import { writeJsonLog } from '../fixtures/json-log';

const T0 = Date.UTC(2026, 0, 1);
let n = 0;

describe('kept logs', () => {
  let root: string;
  let now = T0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-log-kept-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** A container directory with a rotated log of `lines` lines, as the engine leaves it at removal. */
  async function container(name: string, lines: number): Promise<ContainerRecord> {
    const id = (++n).toString(16).padStart(64, 'a');
    const dir = join(root, 'containers', id);
    await mkdir(dir, { recursive: true });
    const logPath = join(dir, `${id}-json.log`);
    await writeJsonLog(logPath, Array.from({ length: lines }, (_, i) => ({ t: now + i, line: `${name} ${i}\n` })), 2000);
    return {
      id,
      name,
      created: new Date(now).toISOString(),
      image: 'busybox:latest',
      imageId: 'sha256:x',
      logPath,
      state: { startedAt: new Date(now).toISOString(), finishedAt: new Date(now + 1000).toISOString() },
    } as unknown as ContainerRecord;
  }

  test('defaults: 7 days, 1 GiB', () => {
    const k = new KeptLogs(join(root, 'd'));
    assert.deepEqual(k.retention(), { maxAgeSeconds: 7 * 86400, maxBytes: 1 << 30 });
    assert.deepEqual(LOG_RETENTION_DEFAULT, k.retention());
  });

  test('a removed container\'s rotated log is moved whole and reads as it did', async () => {
    const k = new KeptLogs(join(root, 'kept-1'), () => now);
    const rec = await container('web', 300);
    const before = await readPage(rec.logPath, { after: 0, limit: 1000 });
    k.keep(rec);
    assert.equal(existsSync(rec.logPath), false, 'moved, not copied');
    const [meta] = k.list();
    assert.equal(meta.containerId, rec.id);
    assert.equal(meta.name, 'web');
    assert.equal(meta.image, 'busybox:latest');
    assert.ok(meta.size > 2000, `${meta.size} bytes`);
    const kept = k.find(rec.id)!;
    assert.deepEqual((await readdir(kept.dir)).sort().slice(0, 2), [`${rec.id}-json.log`, `${rec.id}-json.log.1`]);
    assert.ok(kept.dir.endsWith(`web-${rec.id}`));
    const after = await readPage(kept.path, { after: 0, limit: 1000 });
    assert.deepEqual(after.entries, before.entries);
    assert.equal(after.entries.length, 300);
    // Found by prefix and by name too; a fresh instance finds it on disk.
    assert.equal(k.find(rec.id.slice(0, 12))?.meta.containerId, rec.id);
    assert.equal(new KeptLogs(join(root, 'kept-1')).find('web')?.meta.containerId, rec.id);
  });

  test('pruned oldest first: past the age, then until the total fits', async () => {
    const dir = join(root, 'kept-2');
    const k = new KeptLogs(dir, () => now);
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three', 'four']) {
      const rec = await container(name, 100);
      k.keep(rec);
      ids.push(rec.id);
      now += 3600_000;
    }
    assert.deepEqual(k.list().map((m) => m.name), ['four', 'three', 'two', 'one']);
    const size = k.list()[0].size;
    // Two and a half logs' worth: the two oldest go.
    k.setRetention({ maxAgeSeconds: 86400, maxBytes: Math.floor(size * 2.5) });
    assert.deepEqual(k.list().map((m) => m.name), ['four', 'three']);
    assert.equal(existsSync(join(dir, `one-${ids[0]}`)), false);
    // A day after "three" was removed it is too old; "four" is not yet.
    now = Date.parse(k.find('three')!.meta.removedAt) + 86400_000 + 1;
    k.prune();
    assert.deepEqual(k.list().map((m) => m.name), ['four']);
    // The setting is kept on disk.
    assert.deepEqual(new KeptLogs(dir).retention(), { maxAgeSeconds: 86400, maxBytes: Math.floor(size * 2.5) });
    // 0 keeps nothing: what is there goes, and a new removal keeps nothing.
    k.setRetention({ maxAgeSeconds: 0, maxBytes: 1 << 30 });
    assert.deepEqual(k.list(), []);
    const rec = await container('five', 10);
    k.keep(rec);
    assert.deepEqual(k.list(), []);
  });

  test('bad settings are refused, naming the field', () => {
    const k = new KeptLogs(join(root, 'kept-3'));
    assert.throws(() => k.setRetention({ maxAgeSeconds: -1, maxBytes: 1 }), /maxAgeSeconds must be/);
    assert.throws(() => k.setRetention({ maxAgeSeconds: 1, maxBytes: 1.5 }), /maxBytes must be/);
  });
});
