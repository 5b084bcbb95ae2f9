// The control plane's image commands (agent/link/commands.ts) on a real engine and real
// registries: login (checked with the registry, kept 0600), push with progress, tag,
// inspect, prune, logout; save and load as streams over the link (one piece in flight, each
// no bigger than IMAGE_CHUNK_BYTES); and the strict schema refusing what it does not know.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cgroupParentFor, openEngine, type BerthEngine } from '../../agent/engine/index';
import { Terminals } from '../../agent/link/terminal';
import { runCommand, type CommandContext } from '../../agent/link/commands';
import { IMAGE_CHUNK_BYTES, type CommandResult, type ImageDataChunk, type ImageLoadResult } from '../../protocol/agent-link';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { removeCgroupParent } from '../fixtures/processes';
import { startRegistry } from '../fixtures/registry';

const isRoot = process.getuid?.() === 0;

describe('image commands over the link', { skip: !isRoot && 'needs root', timeout: 120_000 }, () => {
  let tmp: string;
  let engine: BerthEngine;
  let ctx: CommandContext;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let authed: Awaited<ReturnType<typeof startRegistry>>;
  const progress: Array<{ ref: string; status: string }> = [];
  const creds = { username: 'bob', password: 'hunter2' };
  const run = <T>(cmd: unknown) => runCommand(ctx, cmd) as Promise<CommandResult<T>>;
  /** What the server's acks would do: each piece taken after a pause, counting how many were ever unacked at once. */
  const received: ImageDataChunk[] = [];
  let unacked = 0;
  let mostUnacked = 0;
  let streamEnded: () => void = () => {};

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-link-images-'));
    engine = await openEngine({ root: path.join(tmp, 'root') });
    ctx = {
      engine,
      onPullProgress: (p) => progress.push(p),
      sendLogs: async () => undefined,
      subscriptions: new Map(),
      saves: new Map(),
      loads: new Map(),
      terminals: new Terminals(engine, async () => {}),
      sendImageData: async (chunk) => {
        mostUnacked = Math.max(mostUnacked, ++unacked);
        received.push(chunk);
        await new Promise((r) => setTimeout(r, 2));
        unacked--;
        if (chunk.done || chunk.error) streamEnded();
      },
    };
    registry = await startRegistry();
    authed = await startRegistry({ auth: creds });
  });

  after(async () => {
    await engine?.close();
    removeCgroupParent(cgroupParentFor(path.join(tmp, 'root')));
    rmSync(tmp, { recursive: true, force: true });
    await registry?.stop();
    await authed?.stop();
  });

  it('login with wrong credentials is a 401 and stores nothing; right ones are kept 0600 and listed', async () => {
    const bad = await run({ op: 'login', server: authed.url, username: creds.username, password: 'nope' });
    assert.ok(!bad.ok && bad.status === 401, JSON.stringify(bad));
    assert.deepEqual((await run<{ registries: string[] }>({ op: 'logins' })).ok && engine.logins(), []);
    const good = await run<{ registry: string }>({ op: 'login', server: `http://${authed.url}/`, ...creds });
    assert.ok(good.ok && good.result!.registry === authed.url, JSON.stringify(good));
    assert.equal(statSync(path.join(tmp, 'root/images/registry-auth.json')).mode & 0o777, 0o600);
    const list = await run<{ registries: string[] }>({ op: 'logins' });
    assert.ok(list.ok);
    assert.deepEqual(list.result!.registries, [authed.url]);
    assert.ok(!JSON.stringify(list).includes(creds.password), 'the secret never goes back');
  });

  it('pull, tag and push with the stored login; progress goes out as pull progress; inspect shows the pushed digest', async () => {
    const src = await pushBusyboxImage(registry.url, 'busybox', 'v1');
    assert.ok((await run({ op: 'pull', ref: src.ref })).ok);
    const target = `${authed.url}/team/busybox:v1`;
    assert.ok((await run({ op: 'tag', source: src.ref, target })).ok);
    progress.length = 0;
    const pushed = await run<{ digest: string }>({ op: 'push', ref: target });
    assert.ok(pushed.ok, JSON.stringify(pushed));
    assert.equal(pushed.result!.digest, src.manifestDigest);
    assert.ok(progress.some((p) => p.ref === target && p.status === 'Pushed'), JSON.stringify(progress));
    const img = await run<{ repoDigests: string[] }>({ op: 'inspectImage', ref: target });
    assert.ok(img.ok && img.result!.repoDigests.includes(`${authed.url}/team/busybox@${src.manifestDigest}`), JSON.stringify(img));
  });

  it('logout forgets the login: the next push to that registry is refused', async () => {
    const out = await run<{ removed: boolean }>({ op: 'logout', server: authed.url });
    assert.ok(out.ok && out.result!.removed);
    const again = await run({ op: 'push', ref: `${authed.url}/team/busybox:v1` });
    assert.ok(!again.ok && /unauthorized/.test(again.error), JSON.stringify(again));
  });

  it('save streams a docker-archive one acked piece at a time; load takes it back in pieces; bad input is refused in the engine\'s words', async () => {
    const src = await pushBusyboxImage(registry.url, 'saved/busybox', 'v2');
    assert.ok((await run({ op: 'pull', ref: src.ref })).ok);
    const unknown = await run({ op: 'images.save', streamId: 'save-unknown', refs: ['nope:nope'] });
    assert.ok(!unknown.ok && unknown.status === 404 && /reference does not exist: nope:nope/.test(unknown.error), JSON.stringify(unknown));
    assert.equal(received.length, 0, 'nothing is sent for a refused save');

    const ended = new Promise<void>((r) => (streamEnded = r));
    assert.ok((await run({ op: 'images.save', streamId: 'save-1', refs: [src.ref] })).ok);
    await ended;
    assert.equal(mostUnacked, 1, 'the next piece waits for the ack of the last');
    assert.ok(received.every((c) => c.streamId === 'save-1' && !c.error), JSON.stringify(received.filter((c) => c.error)));
    assert.ok(received.at(-1)!.done);
    const pieces = received.filter((c) => c.data).map((c) => Buffer.from(c.data!));
    assert.ok(pieces.length > 1 && pieces.every((p) => p.length <= IMAGE_CHUNK_BYTES), `${pieces.length} pieces: ${pieces.map((p) => p.length).join(' ')}`);
    const archive = path.join(tmp, 'saved.tar');
    writeFileSync(archive, Buffer.concat(pieces));
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[] }>;
    assert.deepEqual(manifest.map((m) => m.RepoTags), [[src.ref]]);

    assert.ok((await run({ op: 'removeImage', ref: src.ref })).ok);
    assert.ok((await run({ op: 'images.load', streamId: 'load-1' })).ok);
    const again = await run({ op: 'images.load', streamId: 'load-1' });
    assert.ok(!again.ok && again.status === 409, JSON.stringify(again));
    for (const p of pieces) assert.ok((await run({ op: 'images.load.chunk', streamId: 'load-1', data: p })).ok);
    // Zero blocks past the archive's end (a file padded out, as tar pads its records) are taken, however many.
    for (let i = 0; i < 12; i++) {
      const pad = await run({ op: 'images.load.chunk', streamId: 'load-1', data: Buffer.alloc(IMAGE_CHUNK_BYTES) });
      assert.ok(pad.ok, JSON.stringify(pad));
    }
    const loaded = await run<ImageLoadResult>({ op: 'images.load.end', streamId: 'load-1' });
    assert.ok(loaded.ok, JSON.stringify(loaded));
    assert.deepEqual(loaded.result!.images.map((i) => i.tags), [[src.ref]]);
    assert.equal(engine.findImage(src.ref)?.id, `sha256:${src.configDigest.replace(/^sha256:/, '')}`);
    assert.ok(ctx.loads.size === 0 && ctx.saves.size === 0, 'nothing left open');

    // Not an archive: the engine's refusal comes back on a chunk or at the end, and nothing is listed.
    const before = engine.listImages().length;
    assert.ok((await run({ op: 'images.load', streamId: 'load-bad' })).ok);
    const chunk = await run({ op: 'images.load.chunk', streamId: 'load-bad', data: Buffer.alloc(4096, 7) });
    const end = chunk.ok ? await run({ op: 'images.load.end', streamId: 'load-bad' }) : chunk;
    assert.ok(!end.ok && end.status === 400, JSON.stringify(end));
    assert.equal(engine.listImages().length, before);
    const gone = await run({ op: 'images.load.chunk', streamId: 'load-bad', data: Buffer.alloc(1) });
    assert.ok(!gone.ok && gone.status === 404, JSON.stringify(gone));
  });

  it('prune takes unused images; unknown fields are refused by name', async () => {
    const r = await run<{ deleted: Array<{ Deleted?: string }> }>({ op: 'pruneImages', all: true });
    assert.ok(r.ok && r.result!.deleted.some((d) => d.Deleted), JSON.stringify(r));
    assert.deepEqual(engine.listImages(), []);
    const bad = await run({ op: 'push', ref: 'x', allTags: true });
    assert.ok(!bad.ok && bad.status === 400 && /does not support allTags/.test(bad.error), JSON.stringify(bad));
  });
});
