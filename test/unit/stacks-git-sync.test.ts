// Syncing Git stacks with more than one actor: the real database (SQLite in a temp dir), a
// real bare repository, and in place of the agent a recorder of the commands a sync sends
// (what is checked here is who acts, not the engine). Two syncs of one stack at once: one
// deploys, the other is told the stack is busy. Two control-plane processes polling: only
// the one the host is connected to acts. A webhook during a sync makes the holder run once
// more and deploy the newer commit. A failing repository is recorded with a backoff, and
// the poll goes on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AgentCommand, CommandResult } from '../../protocol/agent-link';
import { makeRepo, type Repo } from '../fixtures/git-repo';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-git-sync-'));
process.env.BERTH_DATA_DIR = path.join(tmp, 'data');
process.env.BERTH_GIT_FILE_URLS = '1';
delete process.env.DATABASE_URL;
delete process.env.BERTH_SECRET_KEY;
const { openDatabase, closeDatabase } = await import('../../server/db');
const { pollOnce, sealWebhookSecret, syncGitStack } = await import('../../server/stacks-git/service');

const compose = (word: string) => `services:\n  web:\n    image: bb:test\n    environment:\n      WORD: ${word}\n`;

/** Stands in for the agent hub: answers stacks.get with what was deployed last, records deploys, and may hold a deploy until released. */
class Recorder {
  deploys: Array<{ hostId: string; compose: string }> = [];
  stored = new Map<string, string>();
  hold: Promise<void> | undefined;
  onDeploy: (() => void) | undefined;
  constructor(private readonly local: Set<string>) {}
  isLocal(hostId: string): boolean {
    return this.local.has(hostId);
  }
  async command<T>(hostId: string, cmd: AgentCommand): Promise<CommandResult<T>> {
    const c = cmd as { op: string; name: string; compose?: string; env?: string };
    if (c.op === 'stacks.get') {
      const text = this.stored.get(`${hostId}/${c.name}`);
      return text === undefined ? { ok: false, status: 404, error: 'no such stack' } : { ok: true, result: { name: c.name, source: 'berth', compose: text, env: '' } as T };
    }
    if (c.op === 'stacks.deploy') {
      this.onDeploy?.();
      await this.hold;
      this.deploys.push({ hostId, compose: c.compose! });
      this.stored.set(`${hostId}/${c.name}`, c.compose!);
      return { ok: true, result: { services: [], networks: [], volumes: [] } as T };
    }
    return { ok: false, error: `unexpected ${c.op}` };
  }
}

describe('Git stack syncs with several actors', () => {
  let prisma: Awaited<ReturnType<typeof openDatabase>>;
  let repo: Repo;
  let hostId: string;
  let n = 0;
  const newStack = async (data: { url?: string; pollSeconds?: number } = {}) =>
    (await prisma.gitStack.create({ data: { id: `gtest${++n}abcdefgh`, hostId, name: `s${n}`, url: data.url ?? repo.fileUrl, branch: 'main', composePath: 'compose.yaml', pollSeconds: data.pollSeconds ?? 0, webhookSecret: sealWebhookSecret(`gtest${n}abcdefgh`, 'x') } })).id;

  before(async () => {
    prisma = await openDatabase();
    const team = await prisma.team.create({ data: { name: 'sync team' } });
    hostId = (await prisma.host.create({ data: { teamId: team.id, name: 'h1', hostname: 'h1', credentialHash: 'x' } })).id;
    repo = makeRepo(path.join(tmp, 'repos'), 'shop', { 'compose.yaml': compose('one') });
  });
  after(async () => {
    await closeDatabase();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('two syncs of one stack at once: one deploys, the other is told it is busy; the audit has the one deploy', async () => {
    const id = await newStack();
    const hub = new Recorder(new Set([hostId]));
    let release!: () => void;
    hub.hold = new Promise((r) => (release = r));
    const started = new Promise<void>((r) => (hub.onDeploy = r));
    const first = syncGitStack({ prisma, hub }, id, 'webhook');
    await started;
    const second = await syncGitStack({ prisma, hub }, id, 'poll');
    assert.deepEqual(second, { outcome: 'busy' });
    release();
    assert.deepEqual(await first, { outcome: 'deployed', commit: repo.head() });
    assert.equal(hub.deploys.length, 1);
    assert.equal(hub.deploys[0].compose, compose('one'));
    const row = await prisma.gitStack.findUniqueOrThrow({ where: { id } });
    assert.equal(row.lastCommit, repo.head());
    assert.equal(row.lockedUntil, null);
    const audits = await prisma.auditLog.findMany({ where: { action: 'stacks.deploy', target: { startsWith: `s${n} (git` } } });
    assert.equal(audits.length, 1);
    assert.equal(audits[0].userId, null);
    assert.equal(audits[0].address, 'webhook');
    assert.match(audits[0].target!, /^s\d+ \(git [0-9a-f]{12} by webhook\)\n--- \/dev\/null\n/);
  });

  test('two control-plane processes polling: only the one the host is connected to acts, once per new commit', async () => {
    const id = await newStack({ pollSeconds: 10 });
    const here = new Recorder(new Set([hostId]));
    const elsewhere = new Recorder(new Set());
    // Both see the same stored files: one agent.
    elsewhere.stored = here.stored;
    // The other process goes first, and leaves it alone: the host is not connected there.
    await pollOnce({ prisma, hub: elsewhere });
    assert.equal(elsewhere.deploys.length, 0);
    assert.equal((await prisma.gitStack.findUniqueOrThrow({ where: { id } })).lastCheckAt, null);
    await Promise.all([pollOnce({ prisma, hub: here }), pollOnce({ prisma, hub: elsewhere })]);
    assert.equal(here.deploys.filter((d) => d.compose === compose('one')).length, 1);
    assert.equal(elsewhere.deploys.length, 0);
    const next = repo.commit({ 'compose.yaml': compose('two') }, 'two');
    // Not due yet: nobody looks.
    await Promise.all([pollOnce({ prisma, hub: here }), pollOnce({ prisma, hub: elsewhere })]);
    assert.equal(here.deploys.length, 1);
    // Due (as 10 s later), checked and deployed once.
    const later = Date.now() + 11_000;
    await pollOnce({ prisma, hub: elsewhere, now: () => later });
    assert.equal(elsewhere.deploys.length, 0);
    await Promise.all([pollOnce({ prisma, hub: here, now: () => later }), pollOnce({ prisma, hub: elsewhere, now: () => later })]);
    assert.deepEqual(here.deploys.map((d) => d.compose), [compose('one'), compose('two')]);
    assert.equal(elsewhere.deploys.length, 0);
    assert.equal((await prisma.gitStack.findUniqueOrThrow({ where: { id } })).lastCommit, next);
    await prisma.gitStack.update({ where: { id }, data: { pollSeconds: 0 } });
  });

  test('a webhook during a sync: the holder runs once more and deploys the commit it announced', async () => {
    const id = await newStack();
    const hub = new Recorder(new Set([hostId]));
    let release!: () => void;
    hub.hold = new Promise((r) => (release = r));
    const started = new Promise<void>((r) => (hub.onDeploy = r));
    const first = syncGitStack({ prisma, hub }, id, 'user', { force: true });
    await started;
    hub.onDeploy = undefined;
    const newer = repo.commit({ 'compose.yaml': compose('three') }, 'three');
    // What the webhook route does: mark the request, then try (and find it held).
    await prisma.gitStack.update({ where: { id }, data: { requestedAt: new Date() } });
    assert.deepEqual(await syncGitStack({ prisma, hub }, id, 'webhook'), { outcome: 'busy' });
    release();
    await first;
    assert.equal(hub.deploys.at(-1)!.compose, compose('three'));
    const row = await prisma.gitStack.findUniqueOrThrow({ where: { id } });
    assert.equal(row.lastCommit, newer);
    assert.equal(row.requestedAt, null);
  });

  test('a repository that fails: the error is kept, the next check backs off, and polling carries on', async () => {
    const id = await newStack({ url: `file://${path.join(tmp, 'repos', 'gone.git')}`, pollSeconds: 30 });
    const hub = new Recorder(new Set([hostId]));
    const t0 = Date.now();
    const out = await pollOnce({ prisma, hub, now: () => t0 });
    assert.equal(out.find((o) => o.id === id)?.result.outcome, 'error');
    let row = await prisma.gitStack.findUniqueOrThrow({ where: { id } });
    assert.match(row.lastError ?? '', /cannot fetch main from file:\/\/.*gone\.git/);
    assert.equal(row.failures, 1);
    assert.equal(row.nextCheckAt?.getTime(), t0 + 60_000);
    await pollOnce({ prisma, hub, now: () => t0 + 61_000 });
    row = await prisma.gitStack.findUniqueOrThrow({ where: { id } });
    assert.equal(row.failures, 2);
    assert.equal(row.nextCheckAt?.getTime(), t0 + 61_000 + 120_000);
    assert.equal(hub.deploys.length, 0);
    // Recorded in the audit once, not at every failed poll.
    assert.equal((await prisma.auditLog.findMany({ where: { target: `s${n} (git, by poll)` } })).length, 1);
  });
});
