// Layer extraction is a security boundary: these tars are crafted the way an attacker
// would, and the assertions look at the file system outside the target, not at our code.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { EngineError } from '../../agent/engine/errors';
import { decompress, extractLayer, UnsafeLayerError } from '../../agent/engine/layers/extract';
import { readTar } from '../../agent/engine/layers/tar';
import { packDirectory, writeTar, type TarWriteEntry } from '../../agent/engine/layers/tar-write';
import { tarBuffer } from '../fixtures/tar';
import { LayerFixup } from '../../agent/engine/layers/fixup';
import { getXattr, getXattrMany } from '../../agent/engine/layers/xattr';

let base: string;
let root: string;
let outside: string;

before(() => {
  base = mkdtempSync(join(tmpdir(), 'berth-extract-'));
});
after(() => rmSync(base, { recursive: true, force: true }));
beforeEach(() => {
  const d = mkdtempSync(join(base, 't-'));
  root = join(d, 'root');
  outside = join(d, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'original\n');
});

async function* chunks(buf: Buffer, size = 333): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

const extract = (entries: TarWriteEntry[], opts = {}) => extractLayer(chunks(tarBuffer(entries)), root, opts);

/** A raw ustar header written independently of our tar writer (GNU L/K records, odd types). */
function rawHeader(name: string, type: string, size: number, linkname = '', prefix?: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100);
  if (prefix !== undefined) b.write(prefix, 345, 155);
  b.write('0000644\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(size.toString(8).padStart(11, '0') + '\0', 124);
  b.write('14000000000\0', 136);
  b.fill(' ', 148, 156);
  b.write(type, 156);
  b.write(linkname, 157, 100);
  // POSIX ustar magic when a prefix is used (as Go's archive/tar writes), else GNU's
  b.write(prefix !== undefined ? 'ustar\u000000' : 'ustar  \0', 257, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return b;
}
const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

function readXattr(path: string, name: string): Promise<Buffer | undefined> | Buffer | undefined {
  try {
    // An independent reader when python is around; our own helper otherwise.
    const out = execFileSync('python3', ['-c', 'import os,sys\ntry:\n sys.stdout.buffer.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False))\nexcept OSError:\n sys.exit(3)', path, name], { stdio: ['ignore', 'pipe', 'ignore'] });
    return out;
  } catch (e) {
    if ((e as { status?: number }).status === 3) return undefined;
    return getXattr(path, name);
  }
}

const isUnsafe = (re: RegExp) => (e: unknown) => e instanceof UnsafeLayerError && e instanceof EngineError && re.test(e.message);

describe('layer extraction keeps what the tar says', () => {
  it('writes files, dirs, symlinks and hardlinks with owners, modes and mtimes', async () => {
    const long = 'deep/' + 'd'.repeat(80) + '/' + 'f'.repeat(90) + '.txt';
    await extract([
      { path: 'etc', type: 'directory', mode: 0o750, uid: 0, gid: 4, mtime: 1_000_000_000 },
      { path: 'etc/conf', type: 'file', data: 'hello\n', mode: 0o640, uid: 1234, gid: 5678, mtime: 1_234_567_890 },
      { path: 'bin/tool', type: 'file', data: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0, mtime: 1_111_111_111 },
      { path: 'etc/link', type: 'symlink', linkpath: '../../../../outside/secret', uid: 42, gid: 43, mtime: 1_222_222_222 },
      { path: 'etc/hard', type: 'hardlink', linkpath: 'etc/conf' },
      { path: long, type: 'file', data: 'long name', mode: 0o600 },
      { path: 'fifo', type: 'fifo', mode: 0o620 },
    ]);
    const conf = lstatSync(join(root, 'etc/conf'));
    assert.equal(readFileSync(join(root, 'etc/conf'), 'utf8'), 'hello\n');
    assert.equal(conf.mode & 0o7777, 0o640);
    assert.equal(conf.uid, 1234);
    assert.equal(conf.gid, 5678);
    assert.equal(Math.floor(conf.mtimeMs / 1000), 1_234_567_890);
    assert.equal(lstatSync(join(root, 'bin/tool')).mode & 0o7777, 0o4755, 'setuid survives chown');
    const dir = lstatSync(join(root, 'etc'));
    assert.equal(dir.mode & 0o7777, 0o750);
    assert.equal(dir.gid, 4);
    assert.equal(Math.floor(dir.mtimeMs / 1000), 1_000_000_000, 'dir mtime set after its children were written');
    const link = lstatSync(join(root, 'etc/link'));
    assert.ok(link.isSymbolicLink());
    assert.equal(readlinkSync(join(root, 'etc/link')), '../../../../outside/secret');
    assert.equal(link.uid, 42);
    assert.equal(Math.floor(link.mtimeMs / 1000), 1_222_222_222);
    const hard = lstatSync(join(root, 'etc/hard'));
    assert.equal(hard.ino, conf.ino);
    assert.equal(hard.nlink, 2);
    assert.equal(readFileSync(join(root, long), 'utf8'), 'long name');
    assert.ok(lstatSync(join(root, 'fifo')).isFIFO());
    // parents created implicitly are plain 0755 dirs
    assert.equal(lstatSync(join(root, 'bin')).mode & 0o7777, 0o755);
  });

  // Small bodies are written straight from the reader's buffer, bigger ones stream: the
  // bytes on disk must not depend on how the input happened to be cut.
  it('writes the same bytes whether the input comes whole, in small pieces or gzipped', async () => {
    const sizes = [0, 1, 511, 512, 513, 4096, 65_535, 65_537, 300_000];
    const entries: TarWriteEntry[] = sizes.map((n, i) => ({ path: `f${i}`, type: 'file', data: randomBytes(n), mode: 0o640, mtime: 1_600_000_000 + i }));
    const tar = tarBuffer(entries);
    const sources: Array<[string, () => AsyncIterable<Buffer>]> = [
      ['whole', async function* () {
        yield tar;
      }],
      ['333-byte pieces', () => chunks(tar)],
      ['gzip', () => decompress(chunks(gzipSync(tar), 1 << 20))],
    ];
    for (const [how, source] of sources) {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
      const res = await extractLayer(source(), root);
      assert.equal(res.size, sizes.reduce((a, b) => a + b, 0), how);
      for (const [i, e] of entries.entries()) {
        assert.ok(readFileSync(join(root, e.path)).equals(e.data as Buffer), `${how}: ${e.path} (${sizes[i]} bytes)`);
        const st = lstatSync(join(root, e.path));
        assert.equal(st.mode & 0o7777, 0o640, how);
        assert.equal(st.mtimeMs, (1_600_000_000 + i) * 1000, how);
      }
    }
  });

  it('reads GNU long names and long link targets', async () => {
    const name = 'g/' + 'n'.repeat(150);
    const target = 't/' + 'x'.repeat(120);
    const L = Buffer.from(name + '\0');
    const K = Buffer.from(target + '\0');
    const tar = Buffer.concat([
      rawHeader('././@LongLink', 'L', L.length), L, pad(L.length),
      rawHeader('././@LongLink', 'K', K.length), K, pad(K.length),
      rawHeader(name.slice(0, 99), '2', 0, target.slice(0, 99)),
      Buffer.alloc(1024),
    ]);
    await extractLayer(chunks(tar, 100), root);
    assert.equal(readlinkSync(join(root, name)), target);
  });

  it('joins the ustar prefix field', async () => {
    const prefix = 'usr/share/' + 'p'.repeat(100);
    const data = Buffer.from('prefixed');
    const tar = Buffer.concat([rawHeader('name.txt', '0', data.length, '', prefix), data, pad(data.length), Buffer.alloc(1024)]);
    await extractLayer(chunks(tar, 64), root);
    assert.equal(readFileSync(join(root, prefix, 'name.txt'), 'utf8'), 'prefixed');
  });

  it('applies SCHILY xattrs but not overlay ones from the tar', async () => {
    await extract([
      { path: 'f', type: 'file', data: 'x', xattrs: { 'user.color': 'blue', 'trusted.overlay.redirect': '/elsewhere' } },
    ]);
    assert.equal(String(await readXattr(join(root, 'f'), 'user.color')), 'blue');
    assert.equal(await readXattr(join(root, 'f'), 'trusted.overlay.redirect'), undefined);
  });

  it('replaces an earlier entry of the same path, keeping a directory for a directory', async () => {
    await extract([
      { path: 'd/a', type: 'file', data: '1' },
      { path: 'd', type: 'directory', mode: 0o711 },
      { path: 'x', type: 'directory' },
      { path: 'x/child', type: 'file', data: 'c' },
      { path: 'x', type: 'file', data: 'now a file' },
    ]);
    assert.equal(readFileSync(join(root, 'd/a'), 'utf8'), '1');
    assert.equal(lstatSync(join(root, 'd')).mode & 0o777, 0o711);
    assert.equal(readFileSync(join(root, 'x'), 'utf8'), 'now a file');
  });
});

describe('layer extraction refuses escapes', () => {
  it('refuses ../ that climbs out of the root', async () => {
    await assert.rejects(extract([{ path: '../outside/evil', type: 'file', data: 'x' }]), isUnsafe(/escapes the layer root/));
    await assert.rejects(extract([{ path: 'a/../../outside/evil', type: 'file', data: 'x' }]), isUnsafe(/escapes the layer root/));
    assert.deepEqual(readdirSync(outside), ['secret']);
  });

  it('keeps ../ that stays inside the root', async () => {
    await extract([{ path: 'a/../b', type: 'file', data: 'in' }]);
    assert.equal(readFileSync(join(root, 'b'), 'utf8'), 'in');
  });

  it('refuses absolute paths', async () => {
    const target = join(outside, 'abs-evil');
    // our writer strips leading slashes, so the header is crafted by hand
    const data = Buffer.from('x');
    const tar = Buffer.concat([rawHeader(target, '0', 1), data, pad(1), Buffer.alloc(1024)]);
    await assert.rejects(extractLayer(chunks(tar), root), isUnsafe(/absolute path/));
    assert.equal(existsSync(target), false);
  });

  it('never writes through a symlink planted by an earlier entry', async () => {
    for (const linkpath of [outside, '../outside', '../../../../../../' + outside.slice(1)]) {
      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
      await assert.rejects(
        extract([
          { path: 'evil', type: 'symlink', linkpath },
          { path: 'evil/pwned', type: 'file', data: 'x' },
        ]),
        isUnsafe(/goes through "evil", which is a symlink/),
      );
      assert.deepEqual(readdirSync(outside), ['secret'], `via ${linkpath}`);
    }
  });

  it('replaces a symlink rather than writing to what it points at', async () => {
    await extract([
      { path: 'link', type: 'symlink', linkpath: join(outside, 'secret') },
      { path: 'link', type: 'file', data: 'overwritten?' },
    ]);
    assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'original\n');
    assert.equal(readFileSync(join(root, 'link'), 'utf8'), 'overwritten?');
    assert.ok(!lstatSync(join(root, 'link')).isSymbolicLink());
  });

  it('refuses a symlink to a directory used as a parent even when it points inside', async () => {
    await assert.rejects(
      extract([
        { path: 'real', type: 'directory' },
        { path: 'alias', type: 'symlink', linkpath: 'real' },
        { path: 'alias/f', type: 'file', data: 'x' },
      ]),
      isUnsafe(/symlink/),
    );
  });

  it('refuses hardlinks that point outside the layer', async () => {
    await assert.rejects(extract([{ path: 'h', type: 'hardlink', linkpath: '../outside/secret' }]), isUnsafe(/escapes the layer root/));
    const abs = Buffer.concat([rawHeader('h2', '1', 0, join(outside, 'secret')), Buffer.alloc(1024)]);
    await assert.rejects(extractLayer(chunks(abs), root), isUnsafe(/absolute path/));
    await assert.rejects(
      extract([
        { path: 's', type: 'symlink', linkpath: outside },
        { path: 'h3', type: 'hardlink', linkpath: 's/secret' },
      ]),
      isUnsafe(/"s" is not a directory of this layer/),
    );
    await assert.rejects(extract([{ path: 'h4', type: 'hardlink', linkpath: 'missing' }]), isUnsafe(/not in this layer/));
    assert.equal(lstatSync(join(outside, 'secret')).nlink, 1, 'nothing got linked to the outside file');
  });

  it('does not apply late metadata (xattrs, dir mtimes) through a parent later swapped for a symlink', async () => {
    mkdirSync(join(outside, 'sub'));
    writeFileSync(join(outside, 'f'), 'outside file');
    const before = lstatSync(join(outside, 'sub')).mtimeMs;
    await extract([
      { path: 'd', type: 'directory' },
      { path: 'd/f', type: 'file', data: 'x', xattrs: { 'user.planted': 'yes' } },
      { path: 'd/sub', type: 'directory', mtime: 1000 },
      { path: 'd', type: 'symlink', linkpath: outside },
    ]);
    assert.ok(lstatSync(join(root, 'd')).isSymbolicLink());
    assert.equal(await readXattr(join(outside, 'f'), 'user.planted'), undefined);
    assert.equal(lstatSync(join(outside, 'sub')).mtimeMs, before);
  });

  // The extractor remembers which parents it already checked: every way of replacing
  // such a directory must make it check again, however deep the later entry goes.
  it('checks a known directory again once an entry replaced it (symlink, file, hardlink, whiteout)', async () => {
    const replacements: Array<{ name: string; entries: TarWriteEntry[]; refusal: RegExp }> = [
      { name: 'symlink', entries: [{ path: 'a', type: 'symlink', linkpath: outside }], refusal: /goes through "a", which is a symlink/ },
      { name: 'relative symlink', entries: [{ path: 'a', type: 'symlink', linkpath: '../outside' }], refusal: /goes through "a", which is a symlink/ },
      { name: 'file', entries: [{ path: 'a', type: 'file', data: 'now a file' }], refusal: /goes through "a", which is not a directory/ },
      { name: 'hardlink', entries: [{ path: 'f', type: 'file', data: 'f' }, { path: 'a', type: 'hardlink', linkpath: 'f' }], refusal: /goes through "a", which is not a directory/ },
      { name: 'whiteout, then symlink', entries: [{ path: '.wh.a', type: 'file', data: '' }, { path: 'a', type: 'symlink', linkpath: outside }], refusal: /goes through "a", which is a symlink/ },
    ];
    for (const { name, entries, refusal } of replacements) {
      for (const later of ['a/x', 'a/b/x']) {
        rmSync(root, { recursive: true, force: true });
        mkdirSync(root);
        mkdirSync(join(outside, 'b'), { recursive: true });
        await assert.rejects(
          extract([
            { path: 'a', type: 'directory' },
            { path: 'a/b', type: 'directory' },
            { path: 'a/y', type: 'file', data: 'y' },
            { path: 'a/b/y', type: 'file', data: 'y' },
            ...entries,
            { path: later, type: 'file', data: 'pwned' },
          ]),
          isUnsafe(refusal),
          `${name}, then ${later}`,
        );
        assert.deepEqual(readdirSync(outside).sort(), ['b', 'secret'], `${name}, then ${later}`);
        assert.deepEqual(readdirSync(join(outside, 'b')), [], `${name}, then ${later}`);
        assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'original\n');
      }
    }
  });

  it('recreates a directory after an entry replaced it and the tar names it again', async () => {
    await extract([
      { path: 'a', type: 'directory' },
      { path: 'a/y', type: 'file', data: 'y' },
      { path: 'a', type: 'symlink', linkpath: outside },
      { path: 'a', type: 'directory', mode: 0o750 },
      { path: 'a/x', type: 'file', data: 'inside' },
    ]);
    assert.ok(lstatSync(join(root, 'a')).isDirectory());
    assert.equal(lstatSync(join(root, 'a')).mode & 0o777, 0o750);
    assert.equal(readFileSync(join(root, 'a/x'), 'utf8'), 'inside');
    assert.equal(existsSync(join(root, 'a/y')), false, 'the replaced directory is gone, not merged');
    assert.deepEqual(readdirSync(outside), ['secret']);
  });

  it('links to a symlink itself, not to what it points at', async () => {
    await extract([
      { path: 'l', type: 'symlink', linkpath: join(outside, 'secret') },
      { path: 'h', type: 'hardlink', linkpath: 'l' },
    ]);
    assert.ok(lstatSync(join(root, 'h')).isSymbolicLink());
    assert.equal(lstatSync(join(outside, 'secret')).nlink, 1);
  });
});

describe('whiteouts, opaque dirs and devices', () => {
  it('turns .wh. files into 0:0 char devices and .wh..wh..opq into the opaque xattr', async () => {
    const res = await extract([
      { path: 'etc', type: 'directory' },
      { path: 'etc/.wh.gone', type: 'file', data: '' },
      { path: 'var/cache/.wh..wh..opq', type: 'file', data: '' },
      { path: 'var/cache/new', type: 'file', data: 'kept' },
      { path: '.wh..wh.plnk', type: 'directory' },
      { path: '.wh.top', type: 'file' },
    ]);
    const wh = lstatSync(join(root, 'etc/gone'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(Number(wh.rdev), 0);
    assert.equal(existsSync(join(root, 'etc/.wh.gone')), false);
    assert.ok(lstatSync(join(root, 'top')).isCharacterDevice());
    assert.equal(String(await readXattr(join(root, 'var/cache'), 'trusted.overlay.opaque')), 'y');
    assert.equal(await readXattr(join(root, 'etc'), 'trusted.overlay.opaque'), undefined);
    assert.equal(readFileSync(join(root, 'var/cache/new'), 'utf8'), 'kept');
    assert.equal(existsSync(join(root, '.wh..wh.plnk')), false);
    assert.deepEqual(res.whiteouts.sort(), ['etc/gone', 'top']);
    assert.deepEqual(res.opaqueDirs, ['var/cache']);
  });

  it('needs no tool from PATH (no perl, no mknod, no setfattr) for whiteouts, devices and xattrs', async () => {
    await extract([{ path: 'warm', type: 'file', data: '' }]); // the monitor binary is found (or built) with PATH intact
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await extract([
        { path: 'a/.wh.gone', type: 'file' },
        { path: 'a/.wh..wh..opq', type: 'file' },
        { path: 'dev/zero', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 },
        { path: 'f', type: 'file', data: 'x', xattrs: { 'user.k': 'v' } },
      ]);
    } finally {
      process.env.PATH = path;
    }
    assert.ok(lstatSync(join(root, 'a/gone')).isCharacterDevice());
    assert.equal(Number(lstatSync(join(root, 'dev/zero')).rdev), (1 << 8) | 5);
    assert.equal(String(await readXattr(join(root, 'a'), 'trusted.overlay.opaque')), 'y');
    assert.equal(String(await readXattr(join(root, 'f'), 'user.k')), 'v');
  });

  it('refuses a whiteout that names a parent', async () => {
    await assert.rejects(extract([{ path: 'a/.wh...', type: 'file' }]), isUnsafe(/bad whiteout/));
  });

  it('creates device nodes by default, skips or refuses them on request', async () => {
    const dev: TarWriteEntry = { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 };
    await extract([dev]);
    const st = lstatSync(join(root, 'dev/null'));
    assert.ok(st.isCharacterDevice());
    assert.equal(Number(st.rdev), (1 << 8) | 3);
    assert.equal(st.mode & 0o777, 0o666);
    rmSync(join(root, 'dev'), { recursive: true });
    await extract([dev], { devices: 'skip' });
    assert.equal(existsSync(join(root, 'dev/null')), false);
    await assert.rejects(extract([dev], { devices: 'refuse' }), isUnsafe(/device node "dev\/null" is not allowed/));
  });
});

describe('decompression and malformed tars', () => {
  const entries: TarWriteEntry[] = [{ path: 'a', type: 'file', data: 'A' }];

  it('inflates gzip and passes plain tar through', async () => {
    for (const src of [gzipSync(tarBuffer(entries)), tarBuffer(entries)]) {
      const names: string[] = [];
      for await (const e of readTar(decompress(chunks(src, 7)))) names.push(e.header.path);
      assert.deepEqual(names, ['a']);
    }
  });

  const haveZstd = (() => {
    try {
      execFileSync('zstd', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  for (const kind of ['gzip', 'zstd'] as const) {
    it(`lets go of a ${kind} source as soon as its layer is refused`, { skip: kind === 'zstd' && !haveZstd && 'zstd not installed' }, async () => {
      // An unsafe first entry, then megabytes the extractor never needs: the caller's stream
      // (a download, a `docker load` body) must be closed, not left hanging half-read.
      const tar = tarBuffer([{ path: '../escape', type: 'file', data: 'x' }, { path: 'big', type: 'file', data: randomBytes(4 << 20) }]);
      const packed = kind === 'gzip' ? gzipSync(tar) : execFileSync('zstd', ['-c', '-q'], { input: tar, maxBuffer: 64 << 20 });
      let closed = false;
      async function* source(): AsyncGenerator<Buffer> {
        try {
          yield* chunks(packed, 16384);
        } finally {
          closed = true;
        }
      }
      await assert.rejects(extractLayer(decompress(source()), root), UnsafeLayerError);
      for (let i = 0; i < 40 && !closed; i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(closed, 'the source was closed');
    });
  }

  it('unpacks zstd layers with the host zstd tool', { skip: !haveZstd && 'zstd not installed' }, async () => {
    const tar = tarBuffer([{ path: 'z/file', type: 'file', data: 'zstd content' }]);
    const zst = execFileSync('zstd', ['-c', '-q'], { input: tar });
    assert.deepEqual([...zst.subarray(0, 4)], [0x28, 0xb5, 0x2f, 0xfd]);
    await extractLayer(decompress(chunks(zst, 5)), root);
    assert.equal(readFileSync(join(root, 'z/file'), 'utf8'), 'zstd content');
    const broken = Buffer.from(zst);
    broken[broken.length - 3] ^= 0xff;
    await assert.rejects(async () => {
      for await (const _ of decompress(chunks(broken), 'layer sha256:z')) void _;
    }, /layer sha256:z: bad zstd data/);
  });

  it('reports corrupt gzip', async () => {
    const gz = gzipSync(tarBuffer(entries));
    gz[gz.length - 6] ^= 0xff; // break the CRC
    await assert.rejects(async () => {
      for await (const _ of decompress(chunks(gz))) void _;
    }, /bad gzip data/);
  });

  // Writers pad numeric fields differently (leading zeros or spaces, a NUL or a space
  // at the end, or none when the digits fill the field); GNU tar uses base-256 for big ids.
  it('reads numeric header fields however they are padded, and refuses non-octal ones', async () => {
    const withMode = (field: Buffer, patch?: (b: Buffer) => void) => {
      const h = rawHeader('m', '0', 0);
      field.copy(h, 100);
      patch?.(h);
      h.fill(' ', 148, 156);
      let sum = 0;
      for (const x of h) sum += x;
      h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
      return Buffer.concat([h, Buffer.alloc(1024)]);
    };
    const header = async (tar: Buffer) => {
      for await (const e of readTar(chunks(tar))) return e.header;
      throw new Error('no entry');
    };
    for (const field of ['0000755\0', '    755 ', '00000755', '755\0\0\0\0\0', ' 755\0 x ']) {
      assert.equal((await header(withMode(Buffer.from(field, 'latin1')))).mode, 0o755, JSON.stringify(field));
    }
    assert.equal((await header(withMode(Buffer.from('\0\0\0\0\0\0\0\0', 'latin1')))).mode, 0);
    // tabs are whitespace too (trimmed), but only around the digits
    assert.equal((await header(withMode(Buffer.from('\t755\t\0\0\0', 'latin1')))).mode, 0o755);
    for (const field of ['0000758\0', '07 55\0\0\0', '-000755\0']) {
      await assert.rejects(header(withMode(Buffer.from(field, 'latin1'))), /bad octal mode/, JSON.stringify(field));
    }
    // base-256 uid (high bit set), e.g. 2^31 + 5
    const big = Buffer.alloc(8);
    big[0] = 0x80;
    big.writeUInt32BE(2 ** 31 + 5, 4);
    const h = await header(withMode(Buffer.from('0000644\0', 'latin1'), (b) => big.copy(b, 108)));
    assert.equal(h.uid, 2 ** 31 + 5);
    assert.equal(h.mode, 0o644);
  });

  it('rejects a truncated archive and a bad header checksum', async () => {
    const tar = tarBuffer([{ path: 'big', type: 'file', data: Buffer.alloc(5000, 1) }]);
    await assert.rejects(extractLayer(chunks(tar.subarray(0, 2000)), root), /unexpected end of archive/);
    const bad = Buffer.from(tar);
    bad[0] ^= 1;
    await assert.rejects(extractLayer(chunks(bad), join(root)), /checksum mismatch/);
  });
});

describe('archives written by GNU tar', () => {
  for (const format of ['gnu', 'pax', 'ustar']) {
    it(`extracts --format=${format} with long names, links and modes intact`, async () => {
      const src = join(root, '..', 'src-' + format);
      const deep = 'a'.repeat(60) + '/' + 'b'.repeat(60);
      const longName = format === 'ustar' ? 'c'.repeat(90) : 'c'.repeat(200);
      mkdirSync(join(src, deep), { recursive: true });
      writeFileSync(join(src, deep, longName), 'deep file');
      writeFileSync(join(src, 'exec'), '#!/bin/sh\n', { mode: 0o751 });
      execFileSync('chown', ['123:456', join(src, 'exec')]);
      symlinkSync(format === 'ustar' ? 'exec' : 'x'.repeat(150), join(src, 'sym'));
      execFileSync('ln', [join(src, 'exec'), join(src, 'hard')]);
      const tar = execFileSync('tar', ['-C', src, `--format=${format}`, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
      await extractLayer(chunks(tar, 1000), root);
      assert.equal(readFileSync(join(root, deep, longName), 'utf8'), 'deep file');
      const ex = lstatSync(join(root, 'exec'));
      assert.equal(ex.mode & 0o7777, 0o751);
      assert.equal(ex.uid, 123);
      assert.equal(ex.gid, 456);
      assert.equal(lstatSync(join(root, 'hard')).ino, ex.ino);
      assert.equal(readlinkSync(join(root, 'sym')), format === 'ustar' ? 'exec' : 'x'.repeat(150));
    });
  }
});

describe('tar writer', () => {
  it('round-trips a directory through packDirectory and extractLayer', async () => {
    const src = join(root, '..', 'src');
    mkdirSync(join(src, 'sub/deeper'), { recursive: true });
    writeFileSync(join(src, 'sub/file'), 'content');
    writeFileSync(join(src, 'sub/deeper/' + 'z'.repeat(120)), 'long');
    symlinkSync('sub/file', join(src, 'ln'));
    execFileSync('ln', [join(src, 'sub/file'), join(src, 'hard')]);
    const parts: Buffer[] = [];
    for await (const c of writeTar(packDirectory(src))) parts.push(c);
    await extractLayer(chunks(Buffer.concat(parts), 4096), root);
    assert.equal(readFileSync(join(root, 'sub/file'), 'utf8'), 'content');
    assert.equal(readFileSync(join(root, 'sub/deeper/' + 'z'.repeat(120)), 'utf8'), 'long');
    assert.equal(readlinkSync(join(root, 'ln')), 'sub/file');
    assert.equal(lstatSync(join(root, 'hard')).ino, lstatSync(join(root, 'sub/file')).ino);

    // GNU tar reads what we write, long names included
    const out = join(root, '..', 'gnu-out');
    mkdirSync(out);
    execFileSync('tar', ['-C', out, '-xf', '-'], { input: Buffer.concat(parts) });
    assert.equal(readFileSync(join(out, 'sub/deeper/' + 'z'.repeat(120)), 'utf8'), 'long');
    assert.equal(readlinkSync(join(out, 'ln')), 'sub/file');
    assert.equal(lstatSync(join(out, 'hard')).ino, lstatSync(join(out, 'sub/file')).ino);
  });
  it('never archives what a file was swapped for a symlink to after it was listed', async () => {
    // A running container can swap its files while commit packs its upper dir.
    const src = join(root, '..', 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'hello');
    const entries: TarWriteEntry[] = [];
    for await (const e of packDirectory(src)) entries.push(e);
    rmSync(join(src, 'f'));
    symlinkSync(join(outside, 'secret'), join(src, 'f'));
    const parts: Buffer[] = [];
    await assert.rejects(async () => {
      for await (const c of writeTar(entries)) parts.push(c);
    }, /ELOOP|symbolic link/);
    assert.ok(!Buffer.concat(parts).includes('origi'), 'nothing of the link target was written');
  });
});

describe('packing an overlay upper dir (commit)', () => {
  it('turns 0:0 char devices into .wh. files and opaque dirs into .wh..wh..opq', async () => {
    const upper = join(root, '..', 'upper');
    mkdirSync(join(upper, 'etc'), { recursive: true });
    mkdirSync(join(upper, 'var/lib'), { recursive: true });
    writeFileSync(join(upper, 'etc/new'), 'n');
    const fix = new LayerFixup(upper);
    await fix.mknod('etc/gone', 'c', 0, 0, 0);
    fix.setXattr('var/lib', 'trusted.overlay.opaque', Buffer.from('y'));
    await fix.close();
    const names: string[] = [];
    for await (const e of readTar(writeTar(packDirectory(upper, { overlay: true })))) names.push(`${e.header.type} ${e.header.path}`);
    assert.deepEqual(names, ['directory etc/', 'file etc/.wh.gone', 'file etc/new', 'directory var/', 'directory var/lib/', 'file var/lib/.wh..wh..opq']);
    // and back: extraction restores the overlay form
    await extractLayer(writeTar(packDirectory(upper, { overlay: true })), root);
    assert.ok(lstatSync(join(root, 'etc/gone')).isCharacterDevice());
    assert.equal(String(await readXattr(join(root, 'var/lib'), 'trusted.overlay.opaque')), 'y');
    // without the overlay flag the device is archived as it is
    const plain: string[] = [];
    for await (const e of readTar(writeTar(packDirectory(upper)))) plain.push(`${e.header.type} ${e.header.path}`);
    assert.ok(plain.includes('char etc/gone'));
  });
});

describe('the native layer helper (berth-monitor layer-fixup, xattr-get)', () => {
  it('makes nodes with the exact mode and sets xattrs, on the root too', async () => {
    mkdirSync(join(root, 'd'));
    const fix = new LayerFixup(root);
    await fix.mknod('d/null', 'c', 1, 3, 0o666);
    await fix.mknod('d/blk', 'b', 7, 1, 0o600);
    await fix.mknod('d/pipe', 'p', 0, 0, 0o4620);
    fix.setXattr('d', 'user.bin', Buffer.from([0, 1, 0xfe, 0xff]));
    fix.setXattr('', 'trusted.overlay.opaque', Buffer.from('y'));
    await fix.close();
    const nul = lstatSync(join(root, 'd/null'));
    assert.ok(nul.isCharacterDevice());
    assert.equal(Number(nul.rdev), (1 << 8) | 3);
    assert.equal(nul.mode & 0o7777, 0o666, 'no umask applied');
    const blk = lstatSync(join(root, 'd/blk'));
    assert.ok(blk.isBlockDevice());
    assert.equal(Number(blk.rdev), (7 << 8) | 1);
    assert.equal(lstatSync(join(root, 'd/pipe')).mode & 0o7777, 0o4620);
    assert.deepEqual([...((await readXattr(join(root, 'd'), 'user.bin')) ?? [])], [0, 1, 0xfe, 0xff]);
    assert.equal(String(await readXattr(root, 'trusted.overlay.opaque')), 'y');
  });

  it('refuses paths that leave the root through a symlink or ..', async () => {
    symlinkSync(outside, join(root, 'out'));
    for (const [op, rel, re] of [
      ['mknod', 'out/dev', /"out" is not a directory \(a symlink\?\)/],
      ['xattr', 'out/secret', /"out" is not a directory \(a symlink\?\)/],
      ['mknod', '../outside/dev', /"\.\." component/],
      ['xattr', 'a/../../outside/secret', /"\.\." component/],
      ['mknod', '/tmp/abs', /empty, "\." or "\.\." component/],
    ] as const) {
      const fix = new LayerFixup(root, 'layer sha256:t');
      const done = op === 'mknod' ? fix.mknod(rel, 'c', 0, 0, 0) : (fix.setXattr(rel, 'user.planted', Buffer.from('x')), fix.close());
      await assert.rejects(done, (e: unknown) => e instanceof EngineError && /^layer sha256:t: berth-monitor: layer-fixup: refusing path/.test(e.message) && re.test(e.message), `${op} ${rel}`);
      await fix.close().catch(() => undefined);
    }
    assert.deepEqual(readdirSync(outside), ['secret']);
    assert.equal(await readXattr(join(outside, 'secret'), 'user.planted'), undefined);
  });

  it('names the path and the syscall error when a node cannot be made', async () => {
    writeFileSync(join(root, 'taken'), '');
    const fix = new LayerFixup(root);
    await assert.rejects(fix.mknod('taken', 'c', 0, 0, 0), /mknod c 0 0 0 "taken" under .*: File exists/);
    // the helper is gone after a failure: later records fail the same way, at once
    await assert.rejects(fix.mknod('other', 'c', 0, 0, 0), /File exists/);
    await assert.rejects(fix.close(), /File exists/);
  });

  it('reads one attribute of many paths, skipping those without it, symlinks not followed', async () => {
    const fix = new LayerFixup(root);
    mkdirSync(join(root, 'a'));
    mkdirSync(join(root, 'b'));
    writeFileSync(join(root, 'f'), '');
    symlinkSync('a', join(root, 'ln'));
    fix.setXattr('a', 'trusted.overlay.opaque', Buffer.from('y'));
    fix.setXattr('f', 'trusted.overlay.opaque', Buffer.from('long\nvalue with 1 2\n'));
    await fix.close();
    const got = await getXattrMany(['a', 'b', 'f', 'ln', 'a'].map((p) => join(root, p)), 'trusted.overlay.opaque');
    assert.deepEqual([...got.keys()].sort(), [join(root, 'a'), join(root, 'f')]);
    assert.equal(String(got.get(join(root, 'f'))), 'long\nvalue with 1 2\n');
    assert.equal(await getXattr(join(root, 'ln'), 'trusted.overlay.opaque'), undefined);
    assert.equal(String(await getXattr(join(root, 'a'), 'trusted.overlay.opaque')), 'y');
    await assert.rejects(getXattr(join(root, 'missing'), 'user.x'), /lgetxattr user\.x of .*missing: No such file or directory/);
  });
});
