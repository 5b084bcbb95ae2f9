// The control plane's image commands (agent/link/commands.ts) on a real engine and real
// registries: login (checked with the registry, kept 0600), push with progress, tag,
// inspect, prune, logout; and the strict schema refusing what it does not know.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cgroupParentFor, openEngine, type BerthEngine } from '../../agent/engine/index';
import { Terminals } from '../../agent/link/terminal';
import { runCommand, type CommandContext } from '../../agent/link/commands';
import type { CommandResult } from '../../protocol/agent-link';
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

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-link-images-'));
    engine = await openEngine({ root: path.join(tmp, 'root') });
    ctx = { engine, onPullProgress: (p) => progress.push(p), sendLogs: async () => undefined, subscriptions: new Map(), terminals: new Terminals(engine, async () => {}) };
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

  it('prune takes unused images; unknown fields are refused by name', async () => {
    const r = await run<{ deleted: Array<{ Deleted?: string }> }>({ op: 'pruneImages', all: true });
    assert.ok(r.ok && r.result!.deleted.some((d) => d.Deleted), JSON.stringify(r));
    assert.deepEqual(engine.listImages(), []);
    const bad = await run({ op: 'push', ref: 'x', allTags: true });
    assert.ok(!bad.ok && bad.status === 400 && /does not support allTags/.test(bad.error), JSON.stringify(bad));
  });
});
