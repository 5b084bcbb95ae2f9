// The compose file's diff in a deploy's audit row: `diff -u`'s format, bounded, and a .env
// noted as changed without its values.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { unifiedDiff } from '../../protocol/unified-diff';
import { AUDIT_DIFF_MAX, deployTarget } from '../../server/trpc/routers/stacks';

test('the hunks are the ones GNU diff -u prints', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-diff-'));
  try {
    const a = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    const cases: Array<[string[], string[]]> = [
      [a, a.map((l, i) => (i === 5 || i === 25 ? `${l} changed` : l))],
      [a, [...a.slice(0, 10), 'inserted', ...a.slice(10)]],
      [a, a.filter((_, i) => i !== 0 && i !== 29)],
      [[], ['new']],
      [['old'], []],
    ];
    for (const [x, y] of cases) {
      const before = x.length ? `${x.join('\n')}\n` : '';
      const after = y.length ? `${y.join('\n')}\n` : '';
      writeFileSync(path.join(dir, 'a'), before);
      writeFileSync(path.join(dir, 'b'), after);
      const gnu = spawnSync('diff', ['-u', '--label', 'a', '--label', 'b', 'a', 'b'], { cwd: dir, encoding: 'utf8' }).stdout;
      assert.equal(unifiedDiff(before, after), gnu);
    }
    assert.equal(unifiedDiff('same\n', 'same\n'), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a deploy's audit target: the name, the compose diff, the .env only as changed, bounded", () => {
  const t = deployTarget('shop', { compose: 'services:\n  a:\n    image: x:1\n', env: 'SECRET=one\n' }, { compose: 'services:\n  a:\n    image: x:2\n', env: 'SECRET=two\n' });
  assert.equal(t, 'shop\n--- shop/compose.yaml\n+++ shop/compose.yaml\n@@ -1,3 +1,3 @@\n services:\n   a:\n-    image: x:1\n+    image: x:2\n\n.env changed (its values are not recorded)');
  assert.doesNotMatch(t, /SECRET/);
  assert.match(deployTarget('new', undefined, { compose: 'services: {}\n', env: '' }), /^new\n--- \/dev\/null\n/);
  const big = deployTarget('big', undefined, { compose: 'x\n'.repeat(20_000), env: '' });
  assert.ok(big.length <= AUDIT_DIFF_MAX + 100);
  assert.match(big, /diff cut at 8000 characters/);
});
