// Layers unpack on worker threads: what a pull sees of it is the files, the diff ID, and
// errors that say what went wrong (with their kind kept across the thread), after which
// nothing more is written and the next layer unpacks as well.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { LayerTooLargeError, UnsafeLayerError } from '../../agent/engine/layers/extract';
import { unpackLayer } from '../../agent/engine/layers/unpack';
import { tarBuffer, type TarWriteEntry } from '../fixtures/tar';

let base: string;
let n = 0;
before(() => {
  base = mkdtempSync(join(tmpdir(), 'berth-unpack-'));
});
after(() => rmSync(base, { recursive: true, force: true }));

function freshDir(): string {
  const d = join(base, `l${n++}`);
  mkdirSync(d);
  return d;
}

const file = (path: string, data: Buffer, mode = 0o644): TarWriteEntry => ({ path, type: 'file', data, mode, mtime: 1_700_000_000 });

/** The buffer in pieces of `size`, as a socket would hand them over. */
async function* pieces(buf: Buffer, size = 16 * 1024): AsyncGenerator<Buffer> {
  for (let off = 0; off < buf.length; off += size) yield buf.subarray(off, off + size);
}

describe('unpacking a layer on a worker thread', () => {
  it('writes every file of a gzip layer and returns the diff ID of the uncompressed tar', async () => {
    const many = Array.from({ length: 300 }, (_, i) => file(`many/f${i}.txt`, Buffer.from(`file ${i}\n`.repeat(i + 1))));
    const big = randomBytes(3 << 20);
    const tar = tarBuffer([{ path: 'many', type: 'directory', mode: 0o755 }, ...many, file('bin/tool', big, 0o755)]);
    const dir = freshDir();
    const progress: number[] = [];
    const res = await unpackLayer(pieces(gzipSync(tar)), dir, { label: 'layer test', onProgress: (b) => progress.push(b) });
    assert.equal(res.diffId, 'sha256:' + createHash('sha256').update(tar).digest('hex'));
    assert.equal(res.tarSize, tar.length);
    assert.equal(readdirSync(join(dir, 'many')).length, 300);
    assert.equal(readFileSync(join(dir, 'many/f7.txt'), 'utf8'), 'file 7\n'.repeat(8));
    assert.ok(readFileSync(join(dir, 'bin/tool')).equals(big));
    assert.equal(statSync(join(dir, 'bin/tool')).mode & 0o777, 0o755);
    assert.ok(progress.length >= 1, 'progress is reported while it unpacks');
  });

  it('refuses an escaping entry as an UnsafeLayerError, and the next layer unpacks on a reused thread', async () => {
    const bad = tarBuffer([file('ok.txt', Buffer.from('ok')), file('../escaped.txt', Buffer.from('x'))]);
    const dir = freshDir();
    await assert.rejects(unpackLayer(pieces(bad), dir, { label: 'layer bad' }), (e: Error) => e instanceof UnsafeLayerError && /\.\./.test(e.message));
    assert.deepEqual(readdirSync(base).filter((f) => f === 'escaped.txt'), []);
    const good = freshDir();
    const res = await unpackLayer(pieces(tarBuffer([file('a.txt', Buffer.from('a'))])), good, { label: 'layer good' });
    assert.equal(readFileSync(join(good, 'a.txt'), 'utf8'), 'a');
    assert.equal(res.tarSize > 0, true);
  });

  it('refuses a layer past maxBytes as a LayerTooLargeError', async () => {
    const tar = tarBuffer([file('zeros', Buffer.alloc(4 << 20))]);
    await assert.rejects(unpackLayer(pieces(gzipSync(tar)), freshDir(), { label: 'layer bomb', maxBytes: 1 << 20 }), (e: Error) => e instanceof LayerTooLargeError && /layer bomb/.test(e.message));
  });

  it("a download that fails midway rejects with the download's error, and nothing is written after that", async () => {
    const tar = tarBuffer(Array.from({ length: 2000 }, (_, i) => file(`f${i}`, randomBytes(2048))));
    async function* failing(): AsyncGenerator<Buffer> {
      let sent = 0;
      for await (const c of pieces(tar, 64 * 1024)) {
        yield c;
        if ((sent += c.length) > tar.length / 2) throw new Error('connection reset by the registry');
      }
    }
    const dir = freshDir();
    await assert.rejects(unpackLayer(failing(), dir, { label: 'layer cut' }), /connection reset by the registry/);
    const after = readdirSync(dir).length;
    assert.ok(after < 2000, `only part of the layer was written (${after} files)`);
    await sleep(300);
    assert.equal(readdirSync(dir).length, after, 'the thread has stopped writing by the time the pull sees the error');
  });

  it('reports bad gzip data by the layer name', async () => {
    const gz = gzipSync(tarBuffer([file('a', randomBytes(100_000))]));
    const broken = Buffer.concat([gz.subarray(0, 2000), randomBytes(5000)]);
    await assert.rejects(unpackLayer(pieces(broken), freshDir(), { label: 'layer sha256:feed' }), /layer sha256:feed/);
  });
});
