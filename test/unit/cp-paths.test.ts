// docker cp's path rules on a directory tree standing in for a container's root: every
// symlink is resolved inside that root, whatever it names, and Docker's names and mode bits.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { absPathOf, goBase, goFileMode, PathError, resolveInRoot } from '../../agent/engine/containers/archive';

describe('docker cp paths', () => {
  let root = '';
  /** A directory outside the root that links in it name; resolution must never land there. */
  let outside = '';
  const inside = (p: string, followLast = false) => resolveInRoot(root, p, { followLast }).inside;
  const fails = (p: string, code: string, followLast = false) => assert.throws(() => resolveInRoot(root, p, { followLast }), (e: unknown) => e instanceof PathError && e.code === code);

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-cp-root-'));
    outside = mkdtempSync(join(tmpdir(), 'berth-cp-outside-'));
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'data/sub'), { recursive: true });
    writeFileSync(join(root, 'data/sub/f'), 'f');
    // The outside directory's path exists inside the root as well.
    mkdirSync(join(root, outside), { recursive: true });
    symlinkSync(outside, join(root, 'abs'));
    symlinkSync('../'.repeat(10) + outside.slice(1), join(root, 'data/climb'));
    symlinkSync('/etc', join(root, 'etclink'));
    symlinkSync('sub/f', join(root, 'data/rel'));
    symlinkSync('/missing/deeper', join(root, 'dangling'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
  });

  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('follows symlinks on the way inside the root: absolute ones from its top, `..` stopping there', () => {
    assert.equal(inside('/abs/.'), outside);
    assert.equal(inside('/abs/..'), dirname(outside), "`..` after a link is the link target's parent");
    assert.equal(resolveInRoot(root, '/abs/', { followLast: false }).host, join(root, outside));
    assert.equal(inside('/data/climb/'), outside);
    assert.equal(inside('/etclink/.'), '/etc');
    assert.equal(inside('/../../..'), '/');
    assert.equal(inside('../etc'), '/etc', 'a relative path counts from the root');
  });

  it('leaves a final symlink alone unless asked or the path ends in "/"', () => {
    assert.equal(inside('/data/rel'), '/data/rel');
    assert.equal(inside('/data/rel', true), '/data/sub/f');
    assert.equal(inside('/etclink'), '/etclink');
    assert.equal(inside('/etclink/'), '/etc');
  });

  it('fails as the kernel would: missing, not a directory, a loop', () => {
    fails('/nope', 'ENOENT');
    fails('/data/sub/f/', 'ENOTDIR');
    fails('/data/sub/f/x', 'ENOTDIR');
    fails('/data/rel/', 'ENOTDIR');
    fails('/loop1', 'ELOOP', true);
    fails('/dangling', 'ENOENT', true);
  });

  it("a dangling link's target is kept as written, as Docker's linkTarget shows it", () => {
    assert.equal(resolveInRoot(root, '/dangling', { followLast: true, lenient: true }).inside, '/missing/deeper');
  });

  it("names and absolute paths as Docker's GET computes them", () => {
    assert.deepEqual(['/', '/data', '/data/', '/data/.', 'data', ''].map(goBase), ['/', 'data', 'data', '.', 'data', '.']);
    assert.deepEqual(['data', '/data/', '/data/.', '/a/../b', '/', '.', '/x/./'].map(absPathOf), ['/data', '/data/', '/data/.', '/b', '/', '/.', '/x/./']);
  });

  it("mode bits are Go's os.FileMode", () => {
    assert.equal(goFileMode({ mode: 0o040755 }), 2 ** 31 + 0o755);
    assert.equal(goFileMode({ mode: 0o120777 }), 2 ** 27 + 0o777);
    assert.equal(goFileMode({ mode: 0o100644 }), 0o644);
    assert.equal(goFileMode({ mode: 0o104755 }), 2 ** 23 + 0o755, 'setuid');
    assert.equal(goFileMode({ mode: 0o041777 }), 2 ** 31 + 2 ** 20 + 0o777, 'sticky directory');
    assert.equal(goFileMode({ mode: 0o020666 }), 2 ** 26 + 2 ** 21 + 0o666, 'character device');
    assert.equal(goFileMode({ mode: 0o010644 }), 2 ** 25 + 0o644, 'fifo');
  });
});
