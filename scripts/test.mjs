#!/usr/bin/env node
// The whole suite in one run of node's test runner, so its closing summary counts
// everything: unit tests first, then integration (real containers, root), then e2e, then the
// fault tests (test/faults: kills, network cuts, full disks, with real processes).
// Files run one at a time: integration and e2e tests share the machine's cgroups,
// mounts and ports.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kinds = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const selected = kinds.length ? kinds : ['unit', 'integration', 'e2e', 'faults'];

const files = selected.flatMap((kind) => {
  const dir = join(root, 'test', kind);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join('test', kind, f));
});

if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
