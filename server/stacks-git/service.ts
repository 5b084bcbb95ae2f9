// Syncing a Git stack: fetch the branch, and when its commit is not the one deployed (or
// when asked to), deploy the compose file at the path through the editor's own deploy
// (routers/stacks.ts deployFiles: the plan, only the changed services recreated, the audit
// row with the diff). One sync per stack at a time across every control-plane process: a
// sync holds the row's lockedUntil (claimed with a conditional update, so two processes
// cannot both win); a webhook that finds it held leaves requestedAt set, and the holder
// runs once more when it ends. Polling runs in each process for the hosts connected to it
// only (as the automatic updates do), so with several processes one of them checks a host.
import type { PrismaClient } from '../../generated/prisma/client';
import { STACK_DEPLOY_TIMEOUT_MS } from '../../protocol/stacks';
import { GIT_POLL_MIN_SECONDS, GIT_WEBHOOK_PATH, type GitStackInfo, type GitSyncResult } from '../../protocol/stacks-git';
import { open, seal } from '../auth/secret-box';
import type { AgentHub } from '../hub/agents';
import { writeAudit } from '../trpc/host-ops';
import { deployFiles } from '../trpc/routers/stacks';
import { fetchFiles, GIT_TIMEOUT_MS, remoteCommit, type GitSource } from './git';

export type GitTrigger = 'webhook' | 'poll' | 'user';

export interface GitDeps {
  prisma: PrismaClient;
  hub: Pick<AgentHub, 'command' | 'isLocal'>;
  now?: () => number;
}

/**
 * A sync that died (its process killed) gives the stack back after this: longer than one pass
 * can take (ls-remote, fetch, deploy), and taken again at each pass, so a live sync keeps it.
 */
const LOCK_MS = STACK_DEPLOY_TIMEOUT_MS + 2 * GIT_TIMEOUT_MS + 60_000;
const BACKOFF_MAX_MS = 3600_000;
const TICK_MS = 5_000;

export const tokenAad = (id: string) => `git-token\n${id}`;
export const webhookAad = (id: string) => `git-webhook\n${id}`;
export const sealToken = (id: string, token: string) => seal(token, tokenAad(id));
export const sealWebhookSecret = (id: string, secret: string) => seal(secret, webhookAad(id));

type Row = NonNullable<Awaited<ReturnType<PrismaClient['gitStack']['findUnique']>>>;

export function gitInfo(row: Row): GitStackInfo {
  return {
    id: row.id,
    url: row.url,
    branch: row.branch,
    composePath: row.composePath,
    envPath: row.envPath,
    username: row.username,
    tokenSet: !!row.token,
    pollSeconds: row.pollSeconds,
    webhookPath: `${GIT_WEBHOOK_PATH}${row.id}`,
    lastCommit: row.lastCommit,
    lastDeployAt: row.lastDeployAt,
    lastCheckAt: row.lastCheckAt,
    lastError: row.lastError,
    nextCheckAt: row.nextCheckAt,
  };
}

export function sourceOf(row: Row): GitSource {
  return { url: row.url, branch: row.branch, composePath: row.composePath, envPath: row.envPath, username: row.username, token: row.token ? open(row.token, tokenAad(row.id)) : null };
}

function backoff(pollSeconds: number, failures: number): number {
  const base = Math.max(pollSeconds, GIT_POLL_MIN_SECONDS) * 1000;
  return Math.min(base * 2 ** Math.min(failures, 10), Math.max(BACKOFF_MAX_MS, base));
}

async function claim(deps: GitDeps, id: string, now: number): Promise<boolean> {
  const r = await deps.prisma.gitStack.updateMany({
    where: { id, OR: [{ lockedUntil: null }, { lockedUntil: { lt: new Date(now) } }] },
    data: { lockedUntil: new Date(now + LOCK_MS) },
  });
  return r.count === 1;
}

export interface SyncOptions {
  /** Deploy even when the commit is the one deployed ("Redeploy now"). */
  force?: boolean;
  user?: { id: string } | null;
  address?: string | null;
}

/** One check of the stack, and a deploy when its branch moved (or `force`); never throws for the repository's or the agent's errors: they are the result, and the row's lastError. */
export async function syncGitStack(deps: GitDeps, id: string, trigger: GitTrigger, opts: SyncOptions = {}): Promise<GitSyncResult> {
  const now = () => (deps.now ?? Date.now)();
  if (!(await claim(deps, id, now()))) return { outcome: 'busy' };
  let result: GitSyncResult = { outcome: 'unchanged' };
  let again = true;
  let force = !!opts.force;
  try {
    for (let pass = 0; again; pass++) {
      again = false;
      const started = now();
      if (pass > 0) await deps.prisma.gitStack.updateMany({ where: { id }, data: { lockedUntil: new Date(started + LOCK_MS) } });
      result = await syncOnce(deps, id, trigger, force, opts);
      force = false;
      // A request made before this pass began is answered by it; one made since asks for another.
      await deps.prisma.gitStack.updateMany({ where: { id, requestedAt: { lte: new Date(started) } }, data: { requestedAt: null } });
      // A webhook came while this ran: what it announced may be newer than what was fetched.
      const row = await deps.prisma.gitStack.findUnique({ where: { id }, select: { requestedAt: true } });
      again = !!row?.requestedAt;
    }
  } finally {
    await deps.prisma.gitStack.updateMany({ where: { id }, data: { lockedUntil: null } }).catch((err: unknown) => console.error(`git stack ${id}: cannot release: ${(err as Error).message}`));
  }
  return result;
}

async function syncOnce(deps: GitDeps, id: string, trigger: GitTrigger, force: boolean, opts: SyncOptions): Promise<GitSyncResult> {
  const row = await deps.prisma.gitStack.findUnique({ where: { id }, include: { host: { select: { teamId: true, revokedAt: true } } } });
  if (!row) return { outcome: 'error', error: 'no such Git stack' };
  const at = (deps.now ?? Date.now)();
  const audit = (target: string, res: string) => writeAudit({ prisma: deps.prisma, user: opts.user ?? null, address: opts.address ?? (opts.user ? null : trigger) }, { action: 'stacks.deploy', teamId: row.host.teamId, hostId: row.hostId, target }, res);
  const fail = async (error: string, audited: boolean): Promise<GitSyncResult> => {
    const failures = row.failures + 1;
    await deps.prisma.gitStack.update({ where: { id }, data: { lastError: error.slice(0, 2000), lastCheckAt: new Date(at), failures, nextCheckAt: new Date(at + backoff(row.pollSeconds, failures)) } });
    // A poll failing the same way again is not news; anything asked for is recorded.
    if (!audited && (trigger !== 'poll' || row.lastError !== error)) await audit(`${row.name} (git, by ${trigger})`, `error: ${error}`.slice(0, 1000));
    return { outcome: 'error', error };
  };
  if (row.host.revokedAt) return fail('the host is revoked', false);
  let src: GitSource;
  try {
    src = sourceOf(row);
  } catch (err) {
    return fail(`the stored token cannot be read: ${(err as Error).message}`, false);
  }
  const nextCheckAt = row.pollSeconds ? new Date(at + row.pollSeconds * 1000) : null;
  const unchanged = async (commit: string): Promise<GitSyncResult> => {
    await deps.prisma.gitStack.update({ where: { id }, data: { lastCheckAt: new Date(at), lastError: null, failures: 0, nextCheckAt } });
    return { outcome: 'unchanged', commit };
  };
  try {
    // A poll asks the server for the branch's head first: nothing to fetch when it has not moved.
    if (!force && trigger === 'poll' && row.lastCommit) {
      const head = await remoteCommit(row.id, src);
      if (head === row.lastCommit) return unchanged(head);
    }
    const files = await fetchFiles(row.id, src);
    if (!force && files.commit === row.lastCommit) return unchanged(files.commit);
    const entry: { target?: string | null } = { target: row.name };
    try {
      await deployFiles({ hub: deps.hub as AgentHub }, row.hostId, row.name, { compose: files.compose, env: files.env }, entry, `git ${files.commit.slice(0, 12)} by ${trigger}`);
    } catch (err) {
      const msg = (err as Error).message;
      await audit(entry.target ?? row.name, `error: ${msg}`);
      return fail(`deploy of ${files.commit.slice(0, 12)}: ${msg}`, true);
    }
    await audit(entry.target ?? row.name, 'ok');
    await deps.prisma.gitStack.update({
      where: { id },
      data: { lastCommit: files.commit, lastDeployAt: new Date(at), lastCheckAt: new Date(at), lastError: null, failures: 0, nextCheckAt },
    });
    return { outcome: 'deployed', commit: files.commit };
  } catch (err) {
    return fail((err as Error).message, false);
  }
}

/** The stacks this process should look at now: polling due, or a request left (a webhook whose sync found the stack held, or died). */
export async function pollOnce(deps: GitDeps): Promise<Array<{ id: string; result: GitSyncResult }>> {
  const now = new Date((deps.now ?? Date.now)());
  const due = await deps.prisma.gitStack.findMany({
    where: { OR: [{ pollSeconds: { gt: 0 }, OR: [{ nextCheckAt: null }, { nextCheckAt: { lte: now } }] }, { requestedAt: { not: null } }], AND: [{ OR: [{ lockedUntil: null }, { lockedUntil: { lt: now } }] }] },
    select: { id: true, hostId: true, requestedAt: true },
  });
  const out: Array<{ id: string; result: GitSyncResult }> = [];
  // One at a time (a pass never overlaps the one before): the row's lock keeps other processes off.
  for (const r of due) if (deps.hub.isLocal(r.hostId)) out.push({ id: r.id, result: await syncGitStack(deps, r.id, r.requestedAt ? 'webhook' : 'poll') });
  return out;
}

/** The poll loop (a pass never overlaps the one before); the returned function stops it. */
export function startGitPolling(deps: GitDeps, everyMs = TICK_MS): () => void {
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      await pollOnce(deps);
    } catch (err) {
      console.error(`git stacks: poll: ${(err as Error).message}`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
