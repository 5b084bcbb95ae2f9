// The control plane's side of stacks from Git, against real repositories made here with the
// host's git: a bare one read by file:// and the same served over smart HTTP on 127.0.0.1
// with basic auth. What a user would check: the compose file at the branch's commit is what
// is read; a new commit is seen; an unknown branch, a missing path, a directory, a file too
// large and URLs Berth does not fetch are refused in words that name them; credentials
// work, are needed, and are on no disk and in no argument list; the webhook's secret is
// accepted in each way Git hosts send it and refused otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGitHttp, type GitHttp } from '../fixtures/git-http';
import { makeRepo, type Repo } from '../fixtures/git-repo';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-git-unit-'));
process.env.BERTH_DATA_DIR = path.join(tmp, 'data');
process.env.BERTH_GIT_FILE_URLS = '1';
const { checkBranch, checkRepoPath, checkRepoUrl, fetchFiles, remoteCommit, cacheDir, GitSourceError } = await import('../../server/stacks-git/git');
const { secretMatches } = await import('../../server/stacks-git/webhook');
const { STACK_FILE_MAX } = await import('../../protocol/stacks');

const compose = (word: string) => `services:\n  web:\n    image: bb:test\n    command: ["echo", "${word}"]\n`;

/** Every file under dir, recursively, as text (the cache repository's whole content). */
function allText(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out += allText(p);
    else if (statSync(p).size < 4 * 1024 * 1024) out += readFileSync(p, 'latin1');
  }
  return out;
}

describe('stacks from Git: fetching', () => {
  let repo: Repo;
  let server: GitHttp;
  let open: GitHttp;
  before(async () => {
    repo = makeRepo(path.join(tmp, 'repos'), 'shop', { 'deploy/compose.yaml': compose('one'), 'deploy/.env': 'A=1\n', 'big.yaml': 'x'.repeat(STACK_FILE_MAX + 1) });
    server = await startGitHttp({ root: path.join(tmp, 'repos'), user: 'deployer', password: 'tok-s3cret-value' });
    open = await startGitHttp({ root: path.join(tmp, 'repos') });
  });
  after(async () => {
    await server?.stop();
    await open?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('reads the compose file and .env at the branch commit over file://, and sees a new commit', async () => {
    const got = await fetchFiles('gfile1', { url: repo.fileUrl, branch: 'main', composePath: 'deploy/compose.yaml', envPath: 'deploy/.env' });
    assert.equal(got.commit, repo.head());
    assert.equal(got.compose, compose('one'));
    assert.equal(got.env, 'A=1\n');
    const second = repo.commit({ 'deploy/compose.yaml': compose('two') }, 'two');
    assert.equal(await remoteCommit('gfile1', { url: repo.fileUrl, branch: 'main', composePath: 'deploy/compose.yaml' }), second);
    const again = await fetchFiles('gfile1', { url: repo.fileUrl, branch: 'main', composePath: 'deploy/compose.yaml' });
    assert.equal(again.commit, second);
    assert.equal(again.compose, compose('two'));
    assert.equal(again.env, undefined);
    // Shallow: the commit fetched comes without its history.
    const shallow = readFileSync(path.join(cacheDir('gfile1'), 'shallow'), 'utf8').trim().split('\n');
    assert.ok(shallow.includes(second), shallow.join(','));
    assert.equal(execFileSync('git', ['rev-list', '--count', 'refs/berth/main'], { cwd: cacheDir('gfile1'), encoding: 'utf8' }).trim(), '1');
  });

  test('refuses an unknown branch, a missing path, a directory and a file too large, naming each', async () => {
    const src = { url: repo.fileUrl, branch: 'main', composePath: 'deploy/compose.yaml' };
    await assert.rejects(fetchFiles('gfile2', { ...src, branch: 'nope' }), (e: Error) => e instanceof GitSourceError && /branch nope not found in file:\/\//.test(e.message));
    await assert.rejects(remoteCommit('gfile2', { ...src, branch: 'nope' }), /branch nope not found/);
    await assert.rejects(fetchFiles('gfile2', { ...src, composePath: 'missing.yaml' }), /compose file missing\.yaml not found at commit [0-9a-f]{12}/);
    await assert.rejects(fetchFiles('gfile2', { ...src, composePath: 'deploy' }), /compose file deploy is a tree at commit/);
    await assert.rejects(fetchFiles('gfile2', { ...src, composePath: 'big.yaml' }), new RegExp(`big\\.yaml has ${STACK_FILE_MAX + 1} bytes .*at most ${STACK_FILE_MAX}`));
    await assert.rejects(fetchFiles('gfile2', { ...src, envPath: 'deploy/missing.env' }), /\.env file deploy\/missing\.env not found/);
  });

  test('refuses URLs, branches and paths it does not fetch', () => {
    const refused = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: Error) => e instanceof GitSourceError && re.test(e.message));
    refused(() => checkRepoUrl('git@github.com:o/r.git'), /SSH repository URLs are not supported/);
    refused(() => checkRepoUrl('ssh://git@host/o/r.git'), /ssh URLs are not supported/);
    refused(() => checkRepoUrl('git://host/o/r.git'), /git URLs are not supported: only https:\/\/ and http:\/\//);
    refused(() => checkRepoUrl('ext::sh -c touch% /tmp/x'), /ext URLs are not supported/);
    refused(() => checkRepoUrl('https://me:tok@host/o/r.git'), /credential fields, not in the URL/);
    refused(() => checkRepoUrl('file:///srv/r.git', {}), /refused unless BERTH_GIT_FILE_URLS=1/);
    assert.equal(checkRepoUrl('https://git.example.test/o/r.git'), 'https://git.example.test/o/r.git');
    refused(() => checkBranch('--upload-pack=x'), /is not a branch name/);
    refused(() => checkBranch('a..b'), /is not a branch name/);
    assert.equal(checkBranch('refs/heads/release/1.2'), 'release/1.2');
    refused(() => checkRepoPath('../etc/passwd', 'compose file'), /a path inside the repository/);
    refused(() => checkRepoPath('/abs.yaml', 'compose file'), /a path inside the repository/);
    assert.equal(checkRepoPath('./deploy/compose.yaml', 'compose file'), 'deploy/compose.yaml');
  });

  test('over HTTP with basic auth: works with the token, is refused without it, and the token is kept nowhere', async () => {
    const url = `${server.url}/shop.git`;
    await assert.rejects(fetchFiles('ghttp1', { url, branch: 'main', composePath: 'deploy/compose.yaml' }), (e: Error) => e instanceof GitSourceError && /cannot fetch main from http:\/\/127\.0\.0\.1:\d+\/shop\.git: .*authentication failed: the repository wants a username and token/.test(e.message));
    await assert.rejects(fetchFiles('ghttp1', { url, branch: 'main', composePath: 'deploy/compose.yaml', username: 'deployer', token: 'wrong' }), /authentication failed: .*refused the ones given/);
    const got = await fetchFiles('ghttp1', { url, branch: 'main', composePath: 'deploy/compose.yaml', username: 'deployer', token: 'tok-s3cret-value' });
    assert.equal(got.commit, repo.head());
    assert.equal(await remoteCommit('ghttp1', { url, branch: 'main', composePath: 'x', username: 'deployer', token: 'tok-s3cret-value' }), repo.head());
    const sent = server.requests().map((r) => r.authorization);
    assert.ok(sent.includes(`Basic ${Buffer.from('deployer:tok-s3cret-value').toString('base64')}`), JSON.stringify(sent));
    const onDisk = allText(cacheDir('ghttp1'));
    assert.ok(!onDisk.includes('tok-s3cret-value') && !onDisk.includes(Buffer.from('deployer:tok-s3cret-value').toString('base64')), 'the token is in the cache repository');
    // A server that redirects elsewhere is not followed with the token: the other end never sees it.
    const redirector = http.createServer((req, res) => {
      res.writeHead(302, { Location: `${open.url}${req.url}` });
      res.end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    try {
      const before = open.requests().length;
      await assert.rejects(fetchFiles('ghttp3', { url: `http://127.0.0.1:${(redirector.address() as { port: number }).port}/shop.git`, branch: 'main', composePath: 'deploy/compose.yaml', username: 'deployer', token: 'tok-s3cret-value' }), /cannot fetch main/);
      assert.ok(open.requests().slice(before).every((r) => r.authorization === ''), JSON.stringify(open.requests().slice(before)));
    } finally {
      redirector.closeAllConnections();
      await new Promise((r) => redirector.close(r));
    }
    // While git talks to the server, no process's argument list has the token (it goes by the environment).
    const seen: string[] = [];
    const watcher = http.createServer((_req, res) => {
      for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ');
          if (/\bgit\b|git-remote/.test(cmd)) seen.push(cmd);
        } catch {
          // gone meanwhile
        }
      }
      res.writeHead(404);
      res.end();
    });
    await new Promise<void>((r) => watcher.listen(0, '127.0.0.1', r));
    try {
      await assert.rejects(fetchFiles('ghttp4', { url: `http://127.0.0.1:${(watcher.address() as { port: number }).port}/shop.git`, branch: 'main', composePath: 'x', username: 'deployer', token: 'tok-s3cret-value' }));
    } finally {
      watcher.closeAllConnections();
      await new Promise((r) => watcher.close(r));
    }
    assert.ok(seen.some((c) => c.includes('fetch')), `git was not seen running: ${JSON.stringify(seen)}`);
    assert.ok(!seen.some((c) => c.includes('tok-s3cret-value') || c.includes(Buffer.from('deployer:tok-s3cret-value').toString('base64'))), JSON.stringify(seen));
    // An anonymous repository needs nothing.
    assert.equal((await fetchFiles('ghttp2', { url: `${open.url}/shop.git`, branch: 'main', composePath: 'deploy/compose.yaml' })).commit, repo.head());
  });
});

describe('stacks from Git: the webhook secret', () => {
  const secret = 'whsec-0123456789';
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const sig = createHmac('sha256', secret).update(body).digest('hex');
  const none = new URLSearchParams();
  test('accepts GitHub, Gitea, GitLab, Bearer and ?secret= forms; refuses wrong, missing and a signature of another body', () => {
    assert.equal(secretMatches(secret, body, { 'x-hub-signature-256': `sha256=${sig}` }, none), true);
    assert.equal(secretMatches(secret, body, { 'x-gitea-signature': sig }, none), true);
    assert.equal(secretMatches(secret, body, { 'x-gitlab-token': secret }, none), true);
    assert.equal(secretMatches(secret, body, { authorization: `Bearer ${secret}` }, none), true);
    assert.equal(secretMatches(secret, body, {}, new URLSearchParams({ secret })), true);
    assert.equal(secretMatches(secret, body, {}, none), false);
    assert.equal(secretMatches(secret, body, { 'x-gitlab-token': 'whsec-wrong' }, none), false);
    assert.equal(secretMatches(secret, Buffer.from('{"ref":"refs/heads/evil"}'), { 'x-hub-signature-256': `sha256=${sig}` }, none), false);
    assert.equal(secretMatches(secret, body, { 'x-hub-signature-256': sig }, none), false);
  });
});
