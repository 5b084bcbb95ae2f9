// The one atomic-write helper (agent/engine/atomic-write.ts): modes, a failed write that
// leaves the old file, readers that never see half a file, and the order of the syscalls
// that makes the result durable (file fsync before the rename, directory fsync after it).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeFileAtomic } from '../../agent/engine/atomic-write';
import { traceFileCalls } from '../fixtures/strace';

const isRoot = process.getuid?.() === 0;
const helper = resolve(import.meta.dirname, '../../agent/engine/atomic-write.ts');
const mode = (p: string) => statSync(p).mode & 0o7777;

describe('writeFileAtomic', () => {
  let tmp = '';
  before(() => (tmp = mkdtempSync(join(os.tmpdir(), 'berth-atomic-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('writes the whole content with the mode asked for, whatever the umask and the old file had', () => {
    const f = join(tmp, 'record.json');
    const old = process.umask(0o077);
    try {
      writeFileAtomic(f, '{"a":1}', { mode: 0o644 });
      assert.equal(mode(f), 0o644, 'the umask does not take bits off');
    } finally {
      process.umask(old);
    }
    writeFileAtomic(f, Buffer.from('{"a":2}'), { mode: 0o600 });
    assert.equal(readFileSync(f, 'utf8'), '{"a":2}');
    assert.equal(mode(f), 0o600, 'the new mode, not the replaced file’s');
    assert.deepEqual(readdirSync(tmp), ['record.json'], 'no temp file left beside it');
  });

  test('a write into a missing directory fails naming the file, and creates nothing', () => {
    const f = join(tmp, 'missing', 'x.json');
    assert.throws(() => writeFileAtomic(f, 'x', { mode: 0o600 }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT' && e.message.startsWith(`cannot write ${f} (create the temp file): ENOENT`));
    assert.ok(!existsSync(join(tmp, 'missing')));
  });

  describe('on a full filesystem', { skip: !isRoot && 'mounting a small tmpfs needs root' }, () => {
    let dir = '';
    before(() => {
      dir = join(tmp, 'small');
      mkdirSync(dir);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'berth-test-atomic', dir]);
    });
    after(() => execFileSync('umount', [dir]));

    test('a write that runs out of space leaves the old content and no temp file', () => {
      const f = join(dir, 'credential.json');
      writeFileAtomic(f, 'old and complete\n', { mode: 0o600 });
      const big = Buffer.alloc(1024 * 1024, 'n');
      assert.throws(() => writeFileAtomic(f, big, { mode: 0o600 }), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC' && e.message.startsWith(`cannot write ${f} (write): ENOSPC`));
      assert.equal(readFileSync(f, 'utf8'), 'old and complete\n');
      assert.equal(mode(f), 0o600);
      assert.deepEqual(readdirSync(dir), ['credential.json']);
      // And a file that was not there stays absent.
      assert.throws(() => writeFileAtomic(join(dir, 'new.json'), big, { mode: 0o600 }), /ENOSPC/);
      assert.deepEqual(readdirSync(dir), ['credential.json']);
    });
  });

  test('a reader, and a writer killed mid-way, only ever leave a complete version', async () => {
    // Versions of 1 MiB, each one byte repeated: a torn file would mix two or be short.
    const f = join(tmp, 'torn.bin');
    const SIZE = 1024 * 1024;
    const writer = spawn(
      process.execPath,
      ['--import', 'tsx', '-e', `const { writeFileAtomic } = require(${JSON.stringify(helper)}); for (let i = 0; ; i++) { writeFileAtomic(${JSON.stringify(f)}, Buffer.alloc(${SIZE}, 65 + (i % 26)), { mode: 0o600 }); process.stdout.write(i + '\\n'); }`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const seen = new Set<number>();
    let written = 0;
    writer.stdout.on('data', (d: Buffer) => (written = Number(d.toString().trim().split('\n').at(-1))));
    const check = () => {
      let data: Buffer;
      try {
        data = readFileSync(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // absent: before the first rename
        throw e;
      }
      assert.equal(data.length, SIZE, 'a whole version');
      assert.ok(data.every((b) => b === data[0]), 'one version, not two mixed');
      seen.add(data[0]);
    };
    try {
      while (written < 30) {
        check();
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      writer.kill('SIGKILL');
      await new Promise((r) => writer.once('close', r));
    }
    check();
    assert.ok(seen.size >= 2, `the reader saw the file change (${seen.size} versions)`);
    // A killed writer may leave its temp file behind; it is dot-named, never the target.
    for (const n of readdirSync(tmp)) assert.ok(n === 'torn.bin' || n === 'record.json' || n === 'small' || n.startsWith('.torn.bin.'), n);
  });

  test('fsyncs the file before renaming it into place, and the directory after', () => {
    const dir = join(tmp, 'traced');
    mkdirSync(dir);
    const f = join(dir, 'config.json');
    const calls = traceFileCalls(process.execPath, ['--import', 'tsx', '-e', `require(${JSON.stringify(helper)}).writeFileAtomic(${JSON.stringify(f)}, 'x', { mode: 0o600 })`], (p) =>
      p === dir ? 'dir' : p === f ? 'config.json' : p.startsWith(dir + '/') && p.endsWith('.tmp') ? 'temp' : undefined,
    );
    assert.deepEqual(calls, ['open temp', 'fsync temp', 'close temp', 'rename temp → config.json', 'open dir', 'fsync dir', 'close dir'], calls.join('\n'));
  });
});
