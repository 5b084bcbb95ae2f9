// The agent's bundle is rebuilt exactly when something it was built from changed, so a
// host never runs yesterday's agent after `git pull`, and a start builds nothing needlessly.
import assert from 'node:assert/strict';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { agentBundle, agentBundleStale, ensureAgentBundle } from '../../scripts/agent-bundle.mjs';

const repoRoot = path.resolve(import.meta.dirname, '../..');

before(async () => {
  await ensureAgentBundle(() => {});
});

test('a fresh bundle is up to date, and lists the agent\'s sources and npm packages as its inputs', () => {
  assert.equal(agentBundleStale(), undefined);
  const inputs = Object.keys(JSON.parse(readFileSync(agentBundle.replace(/\.mjs$/, '.meta.json'), 'utf8')).inputs);
  for (const want of ['agent/main.ts', 'agent/native/binary.ts', 'agent/dockerapi/server.ts']) assert.ok(inputs.includes(want), want);
  assert.ok(inputs.some((p) => p.startsWith('node_modules/socket.io-client/')), 'npm packages are inside the bundle');
});

test('a source newer than the bundle makes it stale, naming the file; its old time makes it fresh again', () => {
  const file = path.join(repoRoot, 'agent/native/binary.ts');
  const { atime, mtime } = statSync(file);
  const built = statSync(agentBundle).mtime;
  try {
    utimesSync(file, atime, new Date(built.getTime() + 1000));
    assert.equal(agentBundleStale(), 'agent/native/binary.ts changed');
  } finally {
    utimesSync(file, atime, mtime);
  }
  assert.equal(agentBundleStale(), undefined);
});

test('a changed package-lock.json makes it stale (npm packages are compiled in)', () => {
  const file = path.join(repoRoot, 'package-lock.json');
  const { atime, mtime } = statSync(file);
  const built = statSync(agentBundle).mtime;
  try {
    utimesSync(file, atime, new Date(built.getTime() + 1000));
    assert.equal(agentBundleStale(), 'package-lock.json changed');
  } finally {
    utimesSync(file, atime, mtime);
  }
});
