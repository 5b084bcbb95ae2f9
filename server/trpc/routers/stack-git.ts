// Stacks from a Git repository (server/stacks-git): anyone who may see the host reads a
// stack's Git source (never its token or webhook secret: only whether a token is set);
// operators and up make one, change its settings, redeploy it, rotate its webhook secret
// and detach it (it becomes an editor stack with the files last deployed). The webhook's
// secret is shown once, when made or rotated. Every change is an audit row; deploys are
// the editor's deploy (routers/stacks.ts deployFiles), audited with the compose diff.
import { randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { stackNameSchema, type StackDetail } from '../../../protocol/stacks';
import { GIT_POLL_MAX_SECONDS, GIT_POLL_MIN_SECONDS, type GitStackInfo, type GitSyncResult } from '../../../protocol/stacks-git';
import { checkBranch, checkRepoPath, checkRepoUrl, fetchFiles, GitSourceError, removeCache } from '../../stacks-git/git';
import { gitInfo, sealToken, sealWebhookSecret, syncGitStack } from '../../stacks-git/service';
import { callAgent, host, hostMutation } from '../host-ops';
import { authedProcedure, router, type AuthedContext } from '../init';

const hostId = z.string().min(1).max(100);
const name = stackNameSchema;
const url = z.string().min(1).max(2000);
const branch = z.string().min(1).max(255);
const repoPath = z.string().min(1).max(1024);
const username = z.string().max(255);
const credential = z.string().min(1).max(4096);
const pollSeconds = z.number().int().min(0).max(GIT_POLL_MAX_SECONDS);

function bad(err: unknown): never {
  if (err instanceof GitSourceError) throw new TRPCError({ code: 'BAD_REQUEST', message: err.message });
  throw err;
}

function checkPoll(s: number): number {
  if (s !== 0 && s < GIT_POLL_MIN_SECONDS) throw new TRPCError({ code: 'BAD_REQUEST', message: `pollSeconds: 0 (off) or at least ${GIT_POLL_MIN_SECONDS}` });
  return s;
}

const newWebhookSecret = () => randomBytes(24).toString('base64url');

async function gitRow(ctx: AuthedContext, hostIdValue: string, stack: string) {
  const row = await ctx.prisma.gitStack.findUnique({ where: { hostId_name: { hostId: hostIdValue, name: stack } } });
  if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `stack ${stack} is not from a Git repository` });
  return row;
}

export const stackGitRouter = router({
  /** The stack's Git source, or null for a stack that is not from Git. */
  get: authedProcedure.input(z.object({ hostId, name })).query(async ({ ctx, input }): Promise<GitStackInfo | null> => {
    await host(ctx, input.hostId, 'viewer');
    const row = await ctx.prisma.gitStack.findUnique({ where: { hostId_name: { hostId: input.hostId, name: input.name } } });
    return row ? gitInfo(row) : null;
  }),

  /** Fetches the branch, deploys the compose file at the path as a new stack, and keeps the source; answers with the webhook secret, shown this once. */
  create: authedProcedure
    .input(z.object({ hostId, name, url, branch, composePath: repoPath, envPath: repoPath.optional(), username: username.optional(), token: credential.optional(), pollSeconds: pollSeconds.default(0) }))
    .mutation(({ ctx, input }) =>
      hostMutation(ctx, input.hostId, 'operator', { action: 'stackGit.create', target: `${input.name} from ${input.url.slice(0, 300)} (${input.branch.slice(0, 100)}: ${input.composePath.slice(0, 200)})` }, async () => {
        let src;
        try {
          src = { url: checkRepoUrl(input.url), branch: checkBranch(input.branch), composePath: checkRepoPath(input.composePath, 'compose file'), envPath: input.envPath ? checkRepoPath(input.envPath, '.env file') : null, username: input.username?.trim() || null, token: input.token ?? null };
        } catch (err) {
          bad(err);
        }
        checkPoll(input.pollSeconds);
        if (src.username && !src.token) throw new TRPCError({ code: 'BAD_REQUEST', message: 'a username without a token: give the token (or password) too' });
        if (!ctx.hub.isOnline(input.hostId)) throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'host is offline' });
        if (await ctx.prisma.gitStack.findUnique({ where: { hostId_name: { hostId: input.hostId, name: input.name } } })) throw new TRPCError({ code: 'CONFLICT', message: `stack ${input.name} is already from Git on this host` });
        const existing = await callAgent<StackDetail>(ctx, input.hostId, { op: 'stacks.get', name: input.name }).catch((err: unknown) => {
          if (err instanceof TRPCError && err.code === 'NOT_FOUND') return undefined;
          throw err;
        });
        if (existing) throw new TRPCError({ code: 'CONFLICT', message: `a stack named ${input.name} exists on this host already: pick another name` });
        const id = `g${randomBytes(12).toString('hex')}`;
        // Checked before anything is kept: an unknown branch or a missing file is the answer to this call.
        try {
          await fetchFiles(id, src);
        } catch (err) {
          removeCache(id);
          bad(err);
        }
        const webhookSecret = newWebhookSecret();
        await ctx.prisma.gitStack.create({
          data: { id, hostId: input.hostId, name: input.name, url: src.url, branch: src.branch, composePath: src.composePath, envPath: src.envPath, username: src.username, token: src.token ? sealToken(id, src.token) : null, pollSeconds: input.pollSeconds, webhookSecret: sealWebhookSecret(id, webhookSecret) },
        });
        const result = await syncGitStack({ prisma: ctx.prisma, hub: ctx.hub }, id, 'user', { force: true, user: ctx.user, address: ctx.address });
        if (result.outcome !== 'deployed') {
          await ctx.prisma.gitStack.delete({ where: { id } }).catch(() => {});
          removeCache(id);
          throw new TRPCError({ code: 'BAD_REQUEST', message: result.error ?? `the deploy did not run (${result.outcome})` });
        }
        const row = await ctx.prisma.gitStack.findUniqueOrThrow({ where: { id } });
        return { info: gitInfo(row), webhookSecret, result };
      }),
    ),

  /** Changes where the stack comes from and how often it is checked; the next check (or "Redeploy now") deploys what it names. */
  update: authedProcedure
    .input(z.object({ hostId, name, url: url.optional(), branch: branch.optional(), composePath: repoPath.optional(), envPath: repoPath.nullable().optional(), username: username.nullable().optional(), token: credential.nullable().optional(), pollSeconds: pollSeconds.optional() }))
    .mutation(({ ctx, input }) =>
      hostMutation(ctx, input.hostId, 'operator', { action: 'stackGit.update', target: input.name }, async (entry) => {
        const row = await gitRow(ctx, input.hostId, input.name);
        const data: Record<string, unknown> = {};
        try {
          if (input.url !== undefined) data.url = checkRepoUrl(input.url);
          if (input.branch !== undefined) data.branch = checkBranch(input.branch);
          if (input.composePath !== undefined) data.composePath = checkRepoPath(input.composePath, 'compose file');
          if (input.envPath !== undefined) data.envPath = input.envPath === null ? null : checkRepoPath(input.envPath, '.env file');
        } catch (err) {
          bad(err);
        }
        // The token is write-only: sent to another server, it would be read there. A new address takes its own.
        if (typeof data.url === 'string' && row.token && input.token === undefined && new URL(data.url).origin !== new URL(row.url).origin) {
          throw new TRPCError({ code: 'BAD_REQUEST', message: `a repository on another server (${new URL(data.url).origin}): give its token too, or remove the token` });
        }
        if (input.pollSeconds !== undefined) data.pollSeconds = checkPoll(input.pollSeconds);
        if (input.username !== undefined) data.username = input.username?.trim() || null;
        if (input.token !== undefined) data.token = input.token === null ? null : sealToken(row.id, input.token);
        // The settings form sends every field: what is as stored is no change (a token given is always one).
        for (const k of Object.keys(data)) if (k !== 'token' && data[k] === row[k as keyof typeof row]) delete data[k];
        const username = data.username !== undefined ? data.username : row.username;
        const token = data.token !== undefined ? data.token : row.token;
        if (username && !token) throw new TRPCError({ code: 'BAD_REQUEST', message: 'a username without a token: give the token (or password) too, or clear the username' });
        const changed = Object.keys(data);
        if (!changed.length) throw new TRPCError({ code: 'BAD_REQUEST', message: 'nothing to change' });
        entry.target = `${input.name}: ${changed.map((k) => (k === 'token' ? `token ${input.token === null ? 'removed' : 'set'}` : `${k} ${JSON.stringify(data[k])}`)).join(', ')}`.slice(0, 1000);
        // A new source is checked at once; the deployed commit stays what it was until then.
        const updated = await ctx.prisma.gitStack.update({ where: { id: row.id }, data: { ...data, nextCheckAt: null, failures: 0, updatedAt: new Date() } });
        return gitInfo(updated);
      }),
    ),

  /** Fetches now and deploys the branch's commit, even when it is the one deployed. */
  redeploy: authedProcedure.input(z.object({ hostId, name })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'stackGit.redeploy', target: input.name }, async (): Promise<GitSyncResult> => {
      const row = await gitRow(ctx, input.hostId, input.name);
      const result = await syncGitStack({ prisma: ctx.prisma, hub: ctx.hub }, row.id, 'user', { force: true, user: ctx.user, address: ctx.address });
      if (result.outcome === 'busy') throw new TRPCError({ code: 'CONFLICT', message: `stack ${input.name} is being synced from Git right now; try again when it is done` });
      if (result.outcome === 'error') throw new TRPCError({ code: 'BAD_REQUEST', message: result.error ?? 'the sync failed' });
      return result;
    }),
  ),

  /** A new webhook secret, shown this once; the old one stops working at once. */
  rotateSecret: authedProcedure.input(z.object({ hostId, name })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'stackGit.rotateSecret', target: input.name }, async () => {
      const row = await gitRow(ctx, input.hostId, input.name);
      const webhookSecret = newWebhookSecret();
      await ctx.prisma.gitStack.update({ where: { id: row.id }, data: { webhookSecret: sealWebhookSecret(row.id, webhookSecret), updatedAt: new Date() } });
      return { webhookSecret };
    }),
  ),

  /** Forgets the Git source: the stack stays as deployed, and is edited in the editor from now on. */
  detach: authedProcedure.input(z.object({ hostId, name })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'stackGit.detach', target: input.name }, async () => {
      const row = await gitRow(ctx, input.hostId, input.name);
      await ctx.prisma.gitStack.delete({ where: { id: row.id } });
      removeCache(row.id);
      return { ok: true as const };
    }),
  ),
});
