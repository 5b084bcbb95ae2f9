// Stacks from a Git repository, end to end below the browser: the real control plane and a
// real agent (each in a namespace of the test's own), bare repositories made here with the
// host's git, read by file:// and served over smart HTTP on the control plane's loopback
// with basic auth. A stack is made from the repository; a pushed commit that changes one
// service reaches the host through the webhook (a bad secret and an unknown id refused)
// and only that service is recreated; polling finds the next commit by itself; the audit
// has each redeploy with who ("webhook", "poll"), the commit and the compose diff; an
// unknown branch is refused at creation and recorded as the last error on a stack whose
// branch went away; the editor's deploy is refused for a Git-managed stack.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { StackDetail } from '../../protocol/stacks';
import { startGitHttp, type GitHttp } from '../fixtures/git-http';
import { makeRepo, type Repo } from '../fixtures/git-repo';
import { API_CSP } from '../../server/http/security-headers';
import { codeOf, eventually, trpc } from './support/control-plane';
import { startGitStackWorld, type GitStackWorld } from './support/git-stacks';

const isRoot = process.getuid?.() === 0;
const PATIENCE_MS = 120_000;

/** Two services; `word` is web's only difference between versions. */
const composeFile = (word: string) => `services:
  db:
    image: bb:test
    init: true
    command: ["sh", "-c", "echo db up; exec sleep 100000"]
  web:
    image: bb:test
    init: true
    environment:
      WORD: ${word}
    command: ["sh", "-c", "echo web says $$WORD; exec sleep 100000"]
`;

describe('stacks from a Git repository', { skip: !isRoot && 'needs root', timeout: 15 * 60_000 }, () => {
  let w: GitStackWorld;
  let repo: Repo;
  let git: GitHttp;
  let webhookPath = '';
  let secret = '';
  let firstCommit = '';
  const info = (name: string) => w.owner.stackGit.get.query({ hostId: w.hostId, name });
  /** Waits for a check of the stack after `since` (ms) to be recorded. */
  const checkedAfter = (name: string, since: number) => eventually(`a check of ${name}`, async () => ((await info(name))?.lastCheckAt?.getTime() ?? 0) > since, PATIENCE_MS);
  const containers = async (name: string) => {
    const d = await w.owner.stacks.get.query({ hostId: w.hostId, name });
    return Object.fromEntries((d as StackDetail).serviceList.map((s) => [s.name, s.containers[0]]));
  };
  const inspect = (name: string) => JSON.parse(w.agent.ok(['inspect', name]))[0] as { Id: string; State: { StartedAt: string; Running: boolean }; Config: { Env: string[] } };
  const hook = (opts: { path?: string; body?: string; headers?: Record<string, string>; method?: string } = {}) =>
    fetch(`${w.cp.url}${opts.path ?? webhookPath}`, { method: opts.method ?? 'POST', headers: { 'content-type': 'application/json', ...opts.headers }, ...(opts.method === 'GET' ? {} : { body: opts.body ?? '{}' }) });

  before(async () => {
    w = await startGitStackWorld('stkgit', '10.215.0');
    repo = makeRepo(path.join(w.tmp, 'repos'), 'shop', { 'deploy/compose.yaml': composeFile('one'), 'README': 'shop\n' });
    git = await startGitHttp({ root: path.join(w.tmp, 'repos'), user: 'deployer', password: 'tok-9f8e7d', netns: w.cpNs });
  });

  after(async () => {
    try {
      for (const name of ['shop', 'secure']) await w?.owner.stacks.down.mutate({ hostId: w.hostId, name, volumes: true, forget: true }).catch(() => {});
      await git?.stop();
    } finally {
      await w?.close();
    }
  });

  test('an unknown branch or a missing file is refused at creation, and nothing is kept', async () => {
    const base = { hostId: w.hostId, name: 'shop', url: repo.fileUrl, branch: 'main', composePath: 'deploy/compose.yaml' };
    await assert.rejects(w.operator.stackGit.create.mutate({ ...base, branch: 'nope' }), (e: unknown) => codeOf(e) === 'BAD_REQUEST' && /branch nope not found in file:\/\//.test((e as Error).message));
    await assert.rejects(w.operator.stackGit.create.mutate({ ...base, composePath: 'compose.yaml' }), /compose file compose\.yaml not found at commit [0-9a-f]{12}/);
    await assert.rejects(w.operator.stackGit.create.mutate({ ...base, url: 'git@example.test:o/r.git' }), /SSH repository URLs are not supported/);
    assert.equal(await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'shop' }), null);
    await assert.rejects(w.owner.stacks.get.query({ hostId: w.hostId, name: 'shop' }), (e: unknown) => codeOf(e) === 'NOT_FOUND');
  });

  test('made from the repository: both services run the file at the branch commit; the editor may not deploy it', async () => {
    const made = await w.operator.stackGit.create.mutate({ hostId: w.hostId, name: 'shop', url: repo.fileUrl, branch: 'main', composePath: 'deploy/compose.yaml' });
    assert.equal(made.info.lastCommit, repo.head());
    assert.equal(made.result.outcome, 'deployed');
    assert.match(made.webhookSecret, /^[A-Za-z0-9_-]{32}$/);
    webhookPath = made.info.webhookPath;
    firstCommit = made.info.lastCommit!;
    secret = made.webhookSecret;
    assert.match(webhookPath, /^\/api\/stacks\/webhook\/g[0-9a-f]{24}$/);
    const info = await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'shop' });
    assert.equal(info?.tokenSet, false);
    assert.ok(!JSON.stringify(info).includes(secret), 'the webhook secret is read back');
    await eventually('both running', () => ['shop-db-1', 'shop-web-1'].every((n) => inspect(n).State.Running), PATIENCE_MS);
    assert.ok(inspect('shop-web-1').Config.Env.includes('WORD=one'));
    await assert.rejects(w.operator.stacks.deploy.mutate({ hostId: w.hostId, name: 'shop', compose: composeFile('edited') }), (e: unknown) => codeOf(e) === 'CONFLICT' && /is Git-managed .*change it in the repository, or detach it/.test((e as Error).message));
  });

  test('the webhook: unknown id 404, GET 405, no or a wrong secret 401, GitHub-signed 202; the pushed commit recreates only web', async () => {
    const db0 = inspect('shop-db-1');
    const web0 = inspect('shop-web-1');
    const commit = repo.commit({ 'deploy/compose.yaml': composeFile('two') }, 'web says two');
    const body = JSON.stringify({ ref: 'refs/heads/main', after: commit });
    assert.equal((await hook({ path: '/api/stacks/webhook/gffffffffffffffffffffffff', body })).status, 404);
    assert.equal((await hook({ method: 'GET' })).status, 405);
    assert.equal((await hook({ body })).status, 401);
    assert.equal((await hook({ body, headers: { 'x-hub-signature-256': `sha256=${createHmac('sha256', 'wrong').update(body).digest('hex')}` } })).status, 401);
    assert.equal((await hook({ body, headers: { 'x-gitlab-token': 'wrong' } })).status, 401);
    // Nothing moved for the refused calls.
    assert.equal((await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'shop' }))?.lastCommit, firstCommit);
    const res = await hook({ body, headers: { 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` } });
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { queued: true });
    // No session was needed, and the answer has the API's headers as every /api/ answer does.
    assert.equal(res.headers.get('content-security-policy'), API_CSP);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    // Everything else stays behind the session: the same stack through tRPC, signed out.
    await assert.rejects(trpc(w.cp.url).stackGit.get.query({ hostId: w.hostId, name: 'shop' }), (e: unknown) => codeOf(e) === 'UNAUTHORIZED');
    await eventually('the new commit deployed', async () => (await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'shop' }))?.lastCommit === commit, PATIENCE_MS);
    const db1 = inspect('shop-db-1');
    const web1 = inspect('shop-web-1');
    assert.equal(db1.Id, db0.Id, 'db was recreated');
    assert.equal(db1.State.StartedAt, db0.State.StartedAt, 'db was restarted');
    assert.notEqual(web1.Id, web0.Id, 'web was not recreated');
    assert.ok(web1.Config.Env.includes('WORD=two'));
    const rows = (await w.owner.audit.list.query()).filter((a) => a.action === 'stacks.deploy' && a.target?.includes('by webhook'));
    assert.equal(rows.length, 1, JSON.stringify(rows));
    assert.equal(rows[0].result, 'ok');
    assert.equal(rows[0].userEmail, null);
    assert.match(rows[0].address ?? '', /^webhook from /);
    assert.match(rows[0].target ?? '', new RegExp(`^shop \\(git ${commit.slice(0, 12)} by webhook\\)\\n--- shop/compose\\.yaml\\n\\+\\+\\+ shop/compose\\.yaml\\n[\\s\\S]*-      WORD: one\\n\\+      WORD: two\\n`));
    // A GitLab-style token and ?secret= work too; the same commit again changes nothing.
    for (const how of [{ headers: { 'x-gitlab-token': secret } }, { path: `${webhookPath}?secret=${encodeURIComponent(secret)}` }]) {
      const since = (await info('shop'))!.lastCheckAt!.getTime();
      assert.equal((await hook(how)).status, 202);
      await checkedAfter('shop', since);
    }
    assert.equal(inspect('shop-web-1').Id, web1.Id);
    assert.equal((await w.owner.audit.list.query()).filter((a) => a.action === 'stacks.deploy' && a.target?.includes('by webhook')).length, 1);
  });

  test('polling: with an interval set, the next pushed commit is deployed without a webhook, and audited "by poll"', async () => {
    const web0 = inspect('shop-web-1');
    const db0 = inspect('shop-db-1');
    await w.operator.stackGit.update.mutate({ hostId: w.hostId, name: 'shop', pollSeconds: 10 });
    const commit = repo.commit({ 'deploy/compose.yaml': composeFile('three') }, 'web says three');
    await eventually('the poll to deploy it', async () => (await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'shop' }))?.lastCommit === commit, PATIENCE_MS);
    assert.ok(inspect('shop-web-1').Config.Env.includes('WORD=three'));
    assert.notEqual(inspect('shop-web-1').Id, web0.Id);
    assert.equal(inspect('shop-db-1').Id, db0.Id);
    const rows = (await w.owner.audit.list.query()).filter((a) => a.action === 'stacks.deploy' && a.target?.startsWith(`shop (git ${commit.slice(0, 12)} by poll)`));
    assert.equal(rows.length, 1);
    assert.match(rows[0].target ?? '', /-      WORD: two\n\+      WORD: three\n/);
    await w.operator.stackGit.update.mutate({ hostId: w.hostId, name: 'shop', pollSeconds: 0 });
  });

  test('a branch that is gone: Redeploy now is refused with it, and the stack shows it as its last error', async () => {
    await w.operator.stackGit.update.mutate({ hostId: w.hostId, name: 'shop', branch: 'release' });
    await assert.rejects(w.operator.stackGit.redeploy.mutate({ hostId: w.hostId, name: 'shop' }), (e: unknown) => codeOf(e) === 'BAD_REQUEST' && /branch release not found/.test((e as Error).message));
    const info = await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'shop' });
    assert.match(info?.lastError ?? '', /branch release not found in file:\/\//);
    assert.ok(inspect('shop-web-1').Config.Env.includes('WORD=three'), 'the stack as it was');
    await w.operator.stackGit.update.mutate({ hostId: w.hostId, name: 'shop', branch: 'main' });
    const ok = await w.operator.stackGit.redeploy.mutate({ hostId: w.hostId, name: 'shop' });
    assert.equal(ok.outcome, 'deployed');
    assert.equal((await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'shop' }))?.lastError, null);
  });

  test('over HTTP with basic auth: refused without the token, deployed with it; a rotated secret retires the old one', async () => {
    const url = `${git.url}/shop.git`;
    const base = { hostId: w.hostId, name: 'secure', url, branch: 'main', composePath: 'deploy/compose.yaml' };
    await assert.rejects(w.operator.stackGit.create.mutate(base), /authentication failed: the repository wants a username and token/);
    await assert.rejects(w.operator.stackGit.create.mutate({ ...base, username: 'deployer', token: 'wrong' }), /authentication failed/);
    const made = await w.operator.stackGit.create.mutate({ ...base, username: 'deployer', token: 'tok-9f8e7d' });
    assert.equal(made.info.lastCommit, repo.head());
    assert.equal(made.info.tokenSet, true);
    assert.ok(!JSON.stringify(await w.owner.stackGit.get.query({ hostId: w.hostId, name: 'secure' })).includes('tok-9f8e7d'));
    await eventually('secure running', () => inspect('secure-web-1').State.Running, PATIENCE_MS);
    // The token is not sent to another server by a change of address alone.
    await assert.rejects(w.operator.stackGit.update.mutate({ hostId: w.hostId, name: 'secure', url: 'https://elsewhere.example.test/shop.git' }), /another server \(https:\/\/elsewhere\.example\.test\): give its token too/);
    const { webhookSecret } = await w.operator.stackGit.rotateSecret.mutate({ hostId: w.hostId, name: 'secure' });
    assert.notEqual(webhookSecret, made.webhookSecret);
    assert.equal((await hook({ path: made.info.webhookPath, headers: { 'x-gitlab-token': made.webhookSecret } })).status, 401);
    const since = (await info('secure'))!.lastCheckAt!.getTime();
    assert.equal((await hook({ path: made.info.webhookPath, headers: { 'x-gitlab-token': webhookSecret } })).status, 202);
    await checkedAfter('secure', since);
    // Detached, it is an editor stack again: the editor deploys, the webhook is gone.
    await w.operator.stackGit.detach.mutate({ hostId: w.hostId, name: 'secure' });
    assert.equal((await hook({ path: made.info.webhookPath, headers: { 'x-gitlab-token': webhookSecret } })).status, 404);
    await w.operator.stacks.deploy.mutate({ hostId: w.hostId, name: 'secure', compose: composeFile('local') });
    assert.ok(inspect('secure-web-1').Config.Env.includes('WORD=local'));
  });

  test('taken down with its files removed, a Git stack forgets its source and its cache: the webhook is gone', async () => {
    const id = webhookPath.split('/').at(-1)!;
    assert.ok(existsSync(path.join(w.cp.dataDir, 'git-cache', id)));
    await w.operator.stacks.down.mutate({ hostId: w.hostId, name: 'shop', volumes: true, forget: true });
    assert.equal(await info('shop'), null);
    assert.equal(existsSync(path.join(w.cp.dataDir, 'git-cache', id)), false);
    assert.equal((await hook({ headers: { 'x-gitlab-token': secret } })).status, 404);
  });
});
