import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { humanStatus, summaryStatus } from '../../protocol/docker-words';
import { formatBytes, isLoopbackUrl, shellJoin, shortId, timeAgo } from '../../app/lib/format';
import { redirectFor } from '../../app/lib/routing';
import { singleFileTar } from '../../app/lib/tar';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

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

test('an invitation link opens signed in or not; after a password reset only the account page does', () => {
  assert.equal(redirectFor('/invite/binv_x', { needsSetup: false, signedIn: false }), null);
  assert.equal(redirectFor('/invite/binv_x', { needsSetup: false, signedIn: true }), null);
  assert.equal(redirectFor('/', { needsSetup: false, signedIn: true, mustChangePassword: true }), '/account');
  assert.equal(redirectFor('/hosts/abc', { needsSetup: false, signedIn: true, mustChangePassword: true }), '/account');
  assert.equal(redirectFor('/account', { needsSetup: false, signedIn: true, mustChangePassword: true }), null);
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
  assert.equal(summaryStatus({ ...base, state: 'running' }, now), 'Up 3 seconds');
  assert.equal(summaryStatus({ ...base, state: 'running', startedAt: '2026-11-22T11:59:00Z' }, now), 'Up About a minute');
  assert.equal(summaryStatus({ ...base, state: 'paused', startedAt: '2026-11-22T09:00:00Z' }, now), 'Up 3 hours (Paused)');
  assert.equal(summaryStatus({ ...base, state: 'exited', exitCode: 137, finishedAt: '2026-11-22T11:55:00Z' }, now), 'Exited (137) 5 minutes ago');
  assert.equal(
    summaryStatus({ ...base, state: 'restarting', exitCode: 1, finishedAt: '2026-11-22T11:59:50Z' }, now),
    'Restarting (1) 10 seconds ago',
  );
  assert.equal(summaryStatus({ ...base, state: 'created' }, now), 'Created');
  assert.equal(summaryStatus({ ...base, state: 'dead', finishedAt: '2026-11-22T11:00:00Z' }, now), 'Dead');
  assert.equal(summaryStatus({ ...base, state: 'running', startedAt: '0001-01-01T00:00:00Z' }, now), 'stale', 'no start time: the agent string');
  assert.equal(summaryStatus({ ...base, state: 'exited' }, now), 'stale', 'no finish time: the agent string');
});

test('the dashboard and the agent word a container the same way', () => {
  // The agent's snapshot status and the page's recomputation at the same instant must agree.
  const now = Date.parse('2026-11-22T12:00:00Z');
  const facts = [
    { status: 'running' as const, running: true, paused: false, exitCode: 0, startedAt: '2026-11-22T10:30:00Z', finishedAt: '0001-01-01T00:00:00Z' },
    { status: 'paused' as const, running: true, paused: true, exitCode: 0, startedAt: '2026-11-01T12:00:00Z', finishedAt: '0001-01-01T00:00:00Z' },
    { status: 'exited' as const, running: false, paused: false, exitCode: 2, startedAt: '2026-11-22T11:00:00Z', finishedAt: '2026-11-22T11:58:59Z' },
  ];
  for (const f of facts) {
    const agent = humanStatus(f, now);
    const page = summaryStatus({ state: f.status, status: 'stale', exitCode: f.exitCode, startedAt: f.startedAt, finishedAt: f.finishedAt }, now);
    assert.equal(page, agent, f.status);
  }
  assert.deepEqual(
    facts.map((f) => humanStatus(f, now)),
    ['Up 2 hours', 'Up 3 weeks (Paused)', 'Exited (2) About a minute ago'],
  );
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

test('the join page warns about a server address only this machine can reach', () => {
  for (const u of ['http://localhost:3000', 'http://127.0.0.1:3000', 'http://127.1.2.3', 'http://[::1]:3000', 'http://app.localhost']) {
    assert.equal(isLoopbackUrl(u), true, u);
  }
  for (const u of ['http://berth.example.com', 'https://10.0.0.5:3000', 'http://127.example.com', 'not a url']) {
    assert.equal(isLoopbackUrl(u), false, u);
  }
});

test('the one-file tar of a pasted Dockerfile is one GNU tar reads back exactly', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-tar-'));
  try {
    const text = 'FROM busybox\nRUN echo "héllo" > /x\n'.repeat(40);
    const file = path.join(dir, 'ctx.tar');
    writeFileSync(file, singleFileTar('Dockerfile', new TextEncoder().encode(text), 1_700_000_000));
    const list = spawnSync('tar', ['-tvf', file], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^-rw-r--r-- 0\/0 +\d+ 2023-11-1\d \d\d:\d\d Dockerfile\n$/);
    assert.equal(spawnSync('tar', ['-xOf', file, 'Dockerfile'], { encoding: 'utf8' }).stdout, text);
    assert.throws(() => singleFileTar('../x', new Uint8Array()), /not a file name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
