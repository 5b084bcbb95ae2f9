// The data dir holds password hashes, credential hashes and the session secret: what
// the control plane creates there must not be readable by other users of the machine.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { authSecret } from '../../server/db/config';
import { closeDatabase, openDatabase } from '../../server/db';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-perm-'));
const dir = path.join(tmp, 'data');
process.env.BERTH_DATA_DIR = dir;
delete process.env.DATABASE_URL;
delete process.env.NEXTAUTH_SECRET;

after(async () => {
  await closeDatabase();
  rmSync(tmp, { recursive: true, force: true });
});

const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

test('a fresh data dir, its database and its secret are the owner\'s alone', async () => {
  const old = process.umask(0o022);
  try {
    await openDatabase();
    authSecret();
  } finally {
    process.umask(old);
  }
  assert.equal(mode(dir), '700');
  assert.equal(mode(path.join(dir, 'berth.db')), '600');
  assert.equal(mode(path.join(dir, 'secret')), '600');
  for (const f of ['berth.db-wal', 'berth.db-shm']) {
    try {
      assert.equal(mode(path.join(dir, f)), '600', f);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
});
