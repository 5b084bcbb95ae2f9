// The host's git, run by the control plane for stacks from a Git repository. One bare cache
// repository per Git stack under the data dir; each check is a shallow fetch of the one
// branch, and the files are read from that commit's tree (no work tree, nothing checked
// out). git never prompts (GIT_TERMINAL_PROMPT=0, an askpass that answers nothing), reads
// no system or user configuration, speaks only http, https and file, and is killed after a
// timeout. Credentials go to git as an http.extraHeader through its environment
// (GIT_CONFIG_COUNT …), never in a URL or an argument: not on disk, not in the process list.
import { spawn } from 'node:child_process';
import { mkdirSync, existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { STACK_FILE_MAX } from '../../protocol/stacks';
import { dataDir } from '../db/config';

export const GIT_TIMEOUT_MS = 120_000;
const OUTPUT_MAX = STACK_FILE_MAX + 64 * 1024;

/** A refusal or failure worth showing the user as it is. */
export class GitSourceError extends Error {}

export interface GitSource {
  url: string;
  branch: string;
  composePath: string;
  envPath?: string | null;
  username?: string | null;
  /** In clear, only for the one run. */
  token?: string | null;
}

/** Refuses what Berth does not fetch; returns the URL as git will get it. */
export function checkRepoUrl(raw: string, env: Record<string, string | undefined> = process.env): string {
  const url = raw.trim();
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // scp-like "git@host:repo" is SSH.
    if (/^[^/:]+@[^/:]+:/.test(url)) throw new GitSourceError(`${url}: SSH repository URLs are not supported (use an https:// URL and a token)`);
    throw new GitSourceError(`${JSON.stringify(url.slice(0, 200))} is not a repository URL (https://host/owner/repo.git)`);
  }
  const scheme = u.protocol.slice(0, -1);
  if (scheme === 'ssh' || scheme === 'git+ssh') throw new GitSourceError(`${scheme} URLs are not supported (use an https:// URL and a token)`);
  if (u.protocol === 'file:') {
    if (env.BERTH_GIT_FILE_URLS !== '1') throw new GitSourceError('file:// URLs read the control plane\'s own disk and are refused unless BERTH_GIT_FILE_URLS=1 is set');
    if (u.host) throw new GitSourceError('a file:// URL names a path on the control plane (file:///path), not a host');
    return url;
  }
  if (scheme !== 'https' && scheme !== 'http') throw new GitSourceError(`${scheme} URLs are not supported: only https:// and http:// repositories`);
  if (u.username || u.password) throw new GitSourceError('put the username and token in the credential fields, not in the URL (a URL is shown and logged)');
  if (u.search || u.hash) throw new GitSourceError('a repository URL has no ?query or #fragment');
  return url;
}

/** A branch name as git allows one (git check-ref-format's rules, the ones that matter here). */
export function checkBranch(branch: string): string {
  const b = branch.trim().replace(/^refs\/heads\//, '');
  if (!b || b.length > 255 || /[\s~^:?*[\\\x00-\x1f\x7f]|\.\.|@\{|\/\/|^[-/.]|[/.]$|\.lock$|^@$/.test(b)) throw new GitSourceError(`${JSON.stringify(branch.slice(0, 100))} is not a branch name`);
  return b;
}

/** A file's path in the repository: relative, no "..", no leading "/". */
export function checkRepoPath(p: string, what: string): string {
  const s = p.trim().replace(/^\.\//, '');
  if (!s || s.length > 1024 || s.startsWith('/') || s.split('/').some((c) => c === '..' || c === '' || c === '.') || /[\x00-\x1f]/.test(s)) {
    throw new GitSourceError(`${what} ${JSON.stringify(p.slice(0, 200))}: a path inside the repository, like deploy/compose.yaml`);
  }
  return s;
}

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function gitEnv(src: Pick<GitSource, 'username' | 'token'>, home: string): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: home,
    LANG: 'C',
    LC_ALL: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ALLOW_PROTOCOL: 'http:https:file',
    GIT_CONFIG_COUNT: '0',
  };
  if (src.token) {
    const basic = Buffer.from(`${src.username || 'git'}:${src.token}`).toString('base64');
    // No redirects with a token: the header would go wherever the server sends git.
    Object.assign(env, { GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`, GIT_CONFIG_KEY_1: 'http.followRedirects', GIT_CONFIG_VALUE_1: 'false' });
  }
  return env;
}

function run(args: string[], env: Record<string, string | undefined>, cwd: string, timeoutMs = GIT_TIMEOUT_MS): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let outLen = 0;
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      outLen += d.length;
      if (outLen <= OUTPUT_MAX) out.push(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 8000) stderr += d.toString();
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new GitSourceError(`cannot run git: ${err.message} (is git installed on the control plane?)`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) return reject(new GitSourceError(`git ${args[0]} took longer than ${Math.round(timeoutMs / 1000)} s and was stopped`));
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** git's own words, without its "fatal: " and with any URL's userinfo cut (there should be none). */
function said(r: Run): string {
  if (/could not read (Username|Password)|Authentication failed/i.test(r.stderr)) return 'authentication failed: the repository wants a username and token, or refused the ones given';
  return r.stderr.replace(/^(fatal|error|remote): /gm, '').replace(/\/\/[^/@\s]*@/g, '//…@').trim().split('\n').slice(-3).join('; ') || `exit ${r.code}`;
}

export function cacheDir(id: string): string {
  return path.join(dataDir(), 'git-cache', id);
}

export function removeCache(id: string): void {
  rmSync(cacheDir(id), { recursive: true, force: true });
}

async function ensureCache(id: string, env: Record<string, string | undefined>): Promise<string> {
  const dir = cacheDir(id);
  if (!existsSync(path.join(dir, 'HEAD'))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const r = await run(['init', '--bare', '--quiet', dir], env, dir);
    if (r.code !== 0) throw new GitSourceError(`cannot make the cache repository ${dir}: ${said(r)}`);
  }
  return dir;
}

/** The commit the branch names in the repository now (ls-remote: nothing is downloaded). */
export async function remoteCommit(id: string, src: GitSource): Promise<string> {
  const url = checkRepoUrl(src.url);
  const branch = checkBranch(src.branch);
  const env = gitEnv(src, await ensureCache(id, gitEnv({}, cacheDir(id))));
  const r = await run(['ls-remote', '--heads', '--', url, `refs/heads/${branch}`], env, cacheDir(id));
  if (r.code !== 0) throw new GitSourceError(`cannot reach ${url}: ${said(r)}`);
  const line = r.stdout.toString().split('\n').find((l) => l.endsWith(`\trefs/heads/${branch}`));
  if (!line) throw new GitSourceError(`branch ${branch} not found in ${url}`);
  return line.split('\t')[0];
}

export interface FetchedFiles {
  commit: string;
  compose: string;
  /** Undefined without an envPath. */
  env?: string;
}

async function readBlob(dir: string, env: Record<string, string | undefined>, commit: string, file: string, what: string): Promise<string> {
  const spec = `${commit}:${file}`;
  const type = await run(['cat-file', '-t', spec], env, dir);
  if (type.code !== 0) throw new GitSourceError(`${what} ${file} not found at commit ${commit.slice(0, 12)}`);
  if (type.stdout.toString().trim() !== 'blob') throw new GitSourceError(`${what} ${file} is a ${type.stdout.toString().trim()} at commit ${commit.slice(0, 12)}, not a file`);
  const size = await run(['cat-file', '-s', spec], env, dir);
  const bytes = Number(size.stdout.toString().trim());
  if (size.code !== 0 || !Number.isFinite(bytes)) throw new GitSourceError(`cannot read the size of ${file}: ${said(size)}`);
  if (bytes > STACK_FILE_MAX) throw new GitSourceError(`${what} ${file} has ${bytes} bytes at commit ${commit.slice(0, 12)}: a stack's file has at most ${STACK_FILE_MAX}`);
  const blob = await run(['cat-file', 'blob', spec], env, dir);
  if (blob.code !== 0) throw new GitSourceError(`cannot read ${file}: ${said(blob)}`);
  const text = blob.stdout.toString('utf8');
  if (text.includes('\uFFFD') || text.includes('\0')) throw new GitSourceError(`${what} ${file} is not UTF-8 text`);
  return text;
}

/** Shallow-fetches the branch into the stack's cache and reads its files at that commit. */
export async function fetchFiles(id: string, src: GitSource): Promise<FetchedFiles> {
  const url = checkRepoUrl(src.url);
  const branch = checkBranch(src.branch);
  const composePath = checkRepoPath(src.composePath, 'compose file');
  const envPath = src.envPath ? checkRepoPath(src.envPath, '.env file') : undefined;
  const dir = await ensureCache(id, gitEnv({}, cacheDir(id)));
  const env = gitEnv(src, dir);
  const ref = `refs/berth/${branch}`;
  const f = await run(['fetch', '--quiet', '--no-tags', '--no-recurse-submodules', '--depth', '1', '--force', '--', url, `+refs/heads/${branch}:${ref}`], env, dir);
  if (f.code !== 0) {
    if (/couldn't find remote ref/i.test(f.stderr)) throw new GitSourceError(`branch ${branch} not found in ${url}`);
    throw new GitSourceError(`cannot fetch ${branch} from ${url}: ${said(f)}`);
  }
  const rev = await run(['rev-parse', '--verify', `${ref}^{commit}`], env, dir);
  if (rev.code !== 0) throw new GitSourceError(`the fetched ${branch} names no commit: ${said(rev)}`);
  const commit = rev.stdout.toString().trim();
  const compose = await readBlob(dir, env, commit, composePath, 'compose file');
  const envText = envPath ? await readBlob(dir, env, commit, envPath, '.env file') : undefined;
  return { commit, compose, ...(envText !== undefined ? { env: envText } : {}) };
}
