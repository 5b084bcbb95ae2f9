import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { containerStatus, formatBytes, humanDuration, shellJoin, shortId, timeAgo } from '../../app/lib/format';
import { redirectFor } from '../../app/lib/routing';

test('before the first admin exists every page leads to /setup', () => {
  for (const path of ['/', '/login', '/hosts/abc', '/audit']) {
    assert.equal(redirectFor(path, { needsSetup: true, signedIn: false }), '/setup', path);
  }
  assert.equal(redirectFor('/setup', { needsSetup: true, signedIn: false }), null);
});

test('after setup, /setup is closed and signed-out visitors go to /login', () => {
  assert.equal(redirectFor('/setup', { needsSetup: false, signedIn: false }), '/login');
  assert.equal(redirectFor('/setup', { needsSetup: false, signedIn: true }), '/');
  assert.equal(redirectFor('/hosts/abc/containers/def', { needsSetup: false, signedIn: false }), '/login');
  assert.equal(redirectFor('/login', { needsSetup: false, signedIn: false }), null);
});

test('a signed-in user stays where they are, except on the sign-in page', () => {
  assert.equal(redirectFor('/hosts/abc', { needsSetup: false, signedIn: true }), null);
  assert.equal(redirectFor('/', { needsSetup: false, signedIn: true }), null);
  assert.equal(redirectFor('/login', { needsSetup: false, signedIn: true }), '/');
});

test('sizes read like docker prints them', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(64 * 1024 * 1024), '64 MiB');
  assert.equal(formatBytes(4 * 2 ** 30), '4.0 GiB');
  assert.equal(formatBytes(undefined), '—');
});

test('times are relative, and the engine zero time reads as never', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  assert.equal(timeAgo('0001-01-01T00:00:00Z', now), 'never');
  assert.equal(timeAgo('2026-11-22T11:59:58Z', now), 'just now');
  assert.equal(timeAgo('2026-11-22T11:59:30Z', now), '30 seconds ago');
  assert.equal(timeAgo('2026-11-22T11:57:00Z', now), '3 minutes ago');
  assert.equal(timeAgo('2026-11-22T10:00:00Z', now), '2 hours ago');
  assert.equal(timeAgo('2026-11-20T12:00:00Z', now), '2 days ago');
});

test('ids shorten to 12 hex digits without the algorithm', () => {
  assert.equal(shortId('sha256:' + 'ab'.repeat(32)), 'abababababab');
  assert.equal(shortId('0123456789abcdef0123'), '0123456789ab');
});

test('the status column is recomputed from the times, like docker ps', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  const base = { status: 'stale', startedAt: '2026-11-22T11:59:57Z', finishedAt: '0001-01-01T00:00:00Z', exitCode: 0 };
  assert.equal(containerStatus({ ...base, state: 'running' }, now), 'Up 3 seconds');
  assert.equal(containerStatus({ ...base, state: 'running', startedAt: '2026-11-22T11:59:00Z' }, now), 'Up About a minute');
  assert.equal(containerStatus({ ...base, state: 'paused', startedAt: '2026-11-22T09:00:00Z' }, now), 'Up 3 hours (Paused)');
  assert.equal(containerStatus({ ...base, state: 'exited', exitCode: 137, finishedAt: '2026-11-22T11:55:00Z' }, now), 'Exited (137) 5 minutes ago');
  assert.equal(containerStatus({ ...base, state: 'created' }, now), 'Created');
  assert.equal(containerStatus({ ...base, state: 'running', startedAt: '0001-01-01T00:00:00Z' }, now), 'stale', 'no start time: the agent string');
  assert.equal(containerStatus({ ...base, state: 'dead' }, now), 'stale');
  assert.equal(humanDuration(400), 'Less than a second');
  assert.equal(humanDuration(3 * 86_400_000), '3 days');
});

test('a command is shown so that pasting it into a shell runs the same argv', () => {
  const argv = ['sh', '-c', "i=0; echo \"it's $i\""];
  const line = shellJoin(argv);
  assert.equal(line, `sh -c 'i=0; echo "it'\\''s $i"'`);
  // The real test: /bin/sh reads the line back into the same words.
  const out = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${line}`], { encoding: 'utf8' });
  assert.deepEqual(out.stdout.split('\0').slice(0, -1), argv);
  assert.equal(shellJoin(['echo', '']), `echo ''`);
  assert.equal(shellJoin(['/bin/ls', '-la', 'a=b']), '/bin/ls -la a=b');
});
