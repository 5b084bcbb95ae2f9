// The images page's pure parts: folding the agent's progress messages into one bar per layer
// (as the docker CLI draws them), and the rows, search and pages the images router cuts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_PROGRESS, foldProgress } from '../../app/lib/image-progress';
import { imageRows, pageOf } from '../../server/trpc/routers/images';

test('a pull\'s messages become a bar per layer that ends at 100%; lines about no layer are kept apart', () => {
  const msgs = [
    { status: 'Pulling from team/app', id: 'v1' },
    { status: 'Pulling fs layer', id: 'aaa' },
    { status: 'Already exists', id: 'bbb' },
    { status: 'Downloading', id: 'aaa', current: 250, total: 1000 },
    { status: 'Downloading', id: 'aaa', current: 500, total: 1000 },
    { status: 'Download complete', id: 'aaa' },
    { status: 'Extracting', id: 'aaa', current: 100, total: 1000 },
    { status: 'Pull complete', id: 'aaa' },
    // A byte count that arrives late (sent unreliably) must not pull the bar back.
    { status: 'Extracting', id: 'aaa', current: 900, total: 1000 },
    { status: 'Digest: sha256:0123' },
    { status: 'Status: Downloaded newer image for team/app:v1' },
  ];
  const seen: string[] = [];
  let s = EMPTY_PROGRESS;
  for (const m of msgs) {
    s = foldProgress(s, m);
    const a = s.layers.find((l) => l.id === 'aaa');
    if (a) seen.push(`${a.status} ${a.percent}`);
  }
  assert.deepEqual(seen, ['Pulling fs layer 0', 'Pulling fs layer 0', 'Downloading 25', 'Downloading 50', 'Download complete 100', 'Extracting 10', 'Pull complete 100', 'Pull complete 100', 'Pull complete 100', 'Pull complete 100']);
  assert.deepEqual(s.layers.map((l) => [l.id, l.percent, l.done]), [['aaa', 100, true], ['bbb', 100, true]]);
  assert.deepEqual(s.messages, ['v1: Pulling from team/app', 'Digest: sha256:0123', 'Status: Downloaded newer image for team/app:v1']);
});

test('a push ends each layer at Pushed, Layer already exists or Mounted from', () => {
  let s = EMPTY_PROGRESS;
  for (const m of [
    { status: 'The push refers to repository [r/x]' },
    { status: 'Preparing', id: 'l1' },
    { status: 'Preparing', id: 'l2' },
    { status: 'Preparing', id: 'l3' },
    { status: 'Pushing', id: 'l1', current: 10, total: 40 },
    { status: 'Pushed', id: 'l1' },
    { status: 'Layer already exists', id: 'l2' },
    { status: 'Mounted from team/base', id: 'l3' },
    { status: 'v2: digest: sha256:ab size: 527' },
  ]) s = foldProgress(s, m);
  assert.deepEqual(s.layers.map((l) => `${l.id} ${l.status} ${l.percent}`), ['l1 Pushed 100', 'l2 Layer already exists 100', 'l3 Mounted from team/base 100']);
  assert.equal(s.messages.length, 2);
});

test('rows count the containers of each image; search and pages are cut on the server side', () => {
  const img = (id: string, tags: string[]) => ({ id, repoTags: tags, size: 1, created: '2026-01-01T00:00:00Z' });
  const container = (imageId: string) => ({ imageId }) as never;
  const a = imageRows({ id: 'h1', name: 'alpha', online: true, images: [img('sha256:111', ['web:1']), img('sha256:222', [])], containers: [container('sha256:111'), container('sha256:111')] });
  const b = imageRows({ id: 'h2', name: 'beta', online: true, images: [img('sha256:333', ['db:2', 'db:latest'])], containers: [] });
  assert.deepEqual(a.map((r) => [r.id, r.containers, r.hostName]), [['sha256:111', 2, 'alpha'], ['sha256:222', 0, 'alpha']]);
  const all = [...b, ...a];
  // By host, then by first tag; untagged images last within their host.
  assert.deepEqual(pageOf(all, undefined, 1, 10).rows.map((r) => r.id), ['sha256:111', 'sha256:222', 'sha256:333']);
  assert.deepEqual(pageOf(all, 'DB:LATE', 1, 10).rows.map((r) => r.id), ['sha256:333']);
  assert.deepEqual(pageOf(all, '222', 1, 10).rows.map((r) => r.id), ['sha256:222']);
  assert.deepEqual(pageOf(all, 'beta', 1, 10).rows.map((r) => r.id), ['sha256:333']);
  const p2 = pageOf(all, undefined, 2, 2);
  assert.deepEqual([p2.total, p2.page, p2.rows.map((r) => r.id)], [3, 2, ['sha256:333']]);
  // A page past the end is the last one (the list shrank while someone was on page 5).
  assert.equal(pageOf(all, undefined, 5, 2).page, 2);
  assert.deepEqual(pageOf([], 'x', 3, 2), { rows: [], total: 0, page: 1, pageSize: 2 });
});
