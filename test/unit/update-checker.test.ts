// The registry checks behind "update available", with a fake registry lookup and clock: one
// question per reference however many ask at once, a cached answer until its TTL (or "check
// now"), and a registry that said 429 is not asked again before its Retry-After, not even by
// "check now".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpdateChecker } from '../../agent/engine/updates/checker';
import { RegistryRateLimited, retryAfterMs } from '../../agent/engine/images/registry';

const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);

function fake() {
  let clock = 1_000_000;
  const asked: string[] = [];
  let answer: () => Promise<string> = async () => D1;
  const checker = new UpdateChecker(
    (ref) => {
      asked.push(ref);
      return answer();
    },
    { ttlMs: 60_000, now: () => clock },
  );
  return { checker, asked, tick: (ms: number) => (clock += ms), answer: (f: () => Promise<string>) => (answer = f) };
}

test('one question per reference at a time, and a cached answer until its TTL', async () => {
  const f = fake();
  let release!: (d: string) => void;
  f.answer(() => new Promise((r) => (release = r)));
  const a = f.checker.check('127.0.0.1:5000/app:v1');
  const b = f.checker.check('127.0.0.1:5000/app:v1');
  release(D1);
  assert.deepEqual([(await a).digest, (await b).digest], [D1, D1]);
  assert.equal(f.asked.length, 1, 'two callers, one request');
  f.answer(async () => D2);
  f.tick(30_000);
  assert.equal((await f.checker.check('127.0.0.1:5000/app:v1')).digest, D1, 'fresh: not asked');
  assert.equal((await f.checker.check('127.0.0.1:5000/app:v1', { force: true })).digest, D2, 'check now asks');
  f.tick(61_000);
  await f.checker.check('127.0.0.1:5000/app:v1');
  assert.equal(f.asked.length, 3, 'asked again once stale');
  assert.equal((await f.checker.check('127.0.0.1:5000/app@' + D1)).error, 'not a tag reference');
});

test('a 429 keeps the registry unasked until its Retry-After, even for "check now"', async () => {
  const f = fake();
  await f.checker.check('127.0.0.1:5000/app:v1');
  f.answer(async () => {
    throw new RegistryRateLimited('too many requests', 120_000);
  });
  const limited = await f.checker.check('127.0.0.1:5000/app:v1', { force: true });
  assert.match(limited.error ?? '', /too many requests/);
  assert.equal(f.asked.length, 2);
  f.answer(async () => D2);
  f.tick(60_000);
  const held = await f.checker.check('127.0.0.1:5000/other:v1', { force: true });
  assert.match(held.error ?? '', /429/);
  assert.equal(f.asked.length, 2, 'the whole registry waits, other repositories too');
  f.tick(61_000);
  assert.equal((await f.checker.check('127.0.0.1:5000/other:v1', { force: true })).digest, D2);
  assert.equal(f.asked.length, 3);
});

test('Retry-After in seconds or as a date', () => {
  assert.equal(retryAfterMs('120'), 120_000);
  assert.equal(retryAfterMs('Wed, 02 Dec 2026 10:00:30 GMT', Date.parse('2026-12-02T10:00:00Z')), 30_000);
  assert.equal(retryAfterMs('soon'), undefined);
  assert.equal(retryAfterMs(null), undefined);
});

test("the registry client's check is a HEAD with the manifest Accept headers; a 429 carries its Retry-After", async () => {
  const { createServer } = await import('node:http');
  const { RegistryClient } = await import('../../agent/engine/images/registry');
  const seen: Array<{ method?: string; url?: string; accept?: string }> = [];
  let limited = false;
  const server = createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, accept: req.headers.accept });
    if (limited) {
      res.writeHead(429, { 'retry-after': '7' });
      return res.end();
    }
    res.writeHead(200, { 'docker-content-digest': D2, 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = new RegistryClient(`127.0.0.1:${(server.address() as { port: number }).port}`);
    assert.equal(await client.manifestDigest('team/app', 'v1'), D2);
    assert.equal(seen[0].method, 'HEAD');
    assert.equal(seen[0].url, '/v2/team/app/manifests/v1');
    assert.match(seen[0].accept ?? '', /manifest\.list\.v2\+json/);
    assert.match(seen[0].accept ?? '', /oci\.image\.index\.v1\+json/);
    limited = true;
    await assert.rejects(client.manifestDigest('team/app', 'v1'), (e: unknown) => e instanceof RegistryRateLimited && e.retryAfterMs === 7000 && e.status === 429);
  } finally {
    server.close();
  }
});
