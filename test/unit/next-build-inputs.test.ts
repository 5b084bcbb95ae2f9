// `npm start` and the tests rebuild the Next app when its sources are newer than the build.
// Its sources are a fixed set of directories: the app, the server, the wire contracts in
// protocol/ and the generated Prisma client. That holds only while nothing there imports
// from elsewhere (agent/ above all), which this checks by following every relative import.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BUILD_DIRS } from '../../scripts/next-build';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORT = /(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]|import\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.')) return [];
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.tsx?$/.test(e.name) ? [p] : [];
  });
}

test('the web app and the control plane import nothing from outside their build inputs', () => {
  const inside = (f: string) => BUILD_DIRS.some((d) => f.startsWith(path.join(root, d) + path.sep));
  const files = BUILD_DIRS.flatMap((d) => sources(path.join(root, d)));
  assert.ok(files.some((f) => f.includes(`${path.sep}protocol${path.sep}`)), 'protocol/ was walked');
  const outside: string[] = [];
  for (const file of files) {
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), m[1] ?? m[2]);
      const found = [target, `${target}.ts`, `${target}.tsx`, path.join(target, 'index.ts')].find((c) => existsSync(c) && statSync(c).isFile());
      if (found && !inside(found)) outside.push(`${path.relative(root, file)} → ${path.relative(root, found)}`);
    }
  }
  assert.deepEqual(outside, []);
});

test('protocol/ is neutral: it imports neither side', () => {
  for (const file of sources(path.join(root, 'protocol'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = path.resolve(path.dirname(file), m[1] ?? m[2]);
      assert.ok(target.startsWith(path.join(root, 'protocol')), `${path.relative(root, file)} imports ${m[1] ?? m[2]}`);
    }
  }
});
