// Compose stacks on a host: anyone who may see the host reads them (list, get, validate,
// plan); operators and up deploy, redeploy, stop, start, restart and take them down. Every
// change is an audit row, a deploy's with the compose file's diff (the .env only as "changed":
// it holds secrets). The agent does the work (agent/engine/stacks/); a deploy's progress is
// kept there, so a page that was left and opened again finds it in `get`.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { unifiedDiff } from '../../../protocol/unified-diff';
import {
  composeTextSchema,
  envTextSchema,
  STACK_DEPLOY_TIMEOUT_MS,
  stackNameSchema,
  type ComposeIssueInfo,
  type StackDetail,
  type StackPlan,
  type StackSummary,
} from '../../../protocol/stacks';
import { removeCache } from '../../stacks-git/git';
import { callAgent, host, hostMutation } from '../host-ops';
import { authedProcedure, router, type AuthedContext } from '../init';

const hostId = z.string().min(1).max(100);
const name = stackNameSchema;
/** Characters of diff an audit row keeps. */
export const AUDIT_DIFF_MAX = 8000;

/** The audit target of a deploy: the stack's name, then what changed in its files. */
export function deployTarget(stack: string, before: { compose?: string; env?: string } | undefined, after: { compose: string; env: string }): string {
  const diff = unifiedDiff(before?.compose ?? '', after.compose, { from: before?.compose === undefined ? '/dev/null' : `${stack}/compose.yaml`, to: `${stack}/compose.yaml` });
  const envNote = (before?.env ?? '') === after.env ? '' : '\n.env changed (its values are not recorded)';
  let text = `${stack}\n${diff || '(compose file unchanged)'}${envNote}`;
  if (text.length > AUDIT_DIFF_MAX) text = `${text.slice(0, AUDIT_DIFF_MAX)}\n… (diff cut at ${AUDIT_DIFF_MAX} characters)`;
  return text;
}

async function stored(ctx: Pick<AuthedContext, 'hub'>, hostIdValue: string, stack: string): Promise<StackDetail | undefined> {
  try {
    return await callAgent<StackDetail>(ctx as AuthedContext, hostIdValue, { op: 'stacks.get', name: stack });
  } catch (e) {
    if (e instanceof TRPCError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
}

/**
 * A deploy of these files, as the editor's and a Git stack's both are: the stored files are
 * read for the audit's diff, an external stack is refused, and the agent applies the plan
 * (only what changed is recreated). `env` undefined keeps the stored .env. `via` heads the
 * audit target ("git 1a2b3c… by webhook").
 */
export async function deployFiles(ctx: Pick<AuthedContext, 'hub'>, hostIdValue: string, stack: string, files: { compose: string; env?: string }, entry: { target?: string | null }, via?: string): Promise<StackPlan> {
  const before = await stored(ctx, hostIdValue, stack);
  if (before?.source === 'external') throw new TRPCError({ code: 'CONFLICT', message: `stack ${stack} was started by another client (external): its definition is not Berth's to deploy` });
  const env = files.env ?? before?.env ?? '';
  const target = deployTarget(stack, before, { compose: files.compose, env });
  entry.target = via ? target.replace(/^[^\n]*/, `${stack} (${via})`) : target;
  return callAgent<StackPlan>(ctx as AuthedContext, hostIdValue, { op: 'stacks.deploy', name: stack, compose: files.compose, env }, STACK_DEPLOY_TIMEOUT_MS);
}

const simple = (op: 'stacks.stop' | 'stacks.start' | 'stacks.restart') =>
  authedProcedure.input(z.object({ hostId, name })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: op, target: input.name }, async () => {
      await callAgent(ctx, input.hostId, { op, name: input.name }, STACK_DEPLOY_TIMEOUT_MS);
      return { ok: true as const };
    }),
  );

export const stacksRouter = router({
  /** From the host's last snapshot, so an offline host still shows what it ran. */
  list: authedProcedure.input(z.object({ hostId })).query(async ({ ctx, input }) => {
    const { host: h } = await host(ctx, input.hostId, 'viewer');
    const view = ctx.hub.view(h);
    return { online: view.online, stacks: (view.stacks ?? []) as StackSummary[] };
  }),

  get: authedProcedure.input(z.object({ hostId, name })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<StackDetail>(ctx, input.hostId, { op: 'stacks.get', name: input.name });
  }),

  /** The editor's check as one types: [] when it would deploy; each issue with its line where the YAML says it.
   *  A mutation though it changes nothing, as is plan: a query's input travels in the URL, and a compose file outgrows one. */
  validate: authedProcedure.input(z.object({ hostId, name, compose: composeTextSchema, env: envTextSchema.optional() })).mutation(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<ComposeIssueInfo[]>(ctx, input.hostId, { op: 'stacks.validate', name: input.name, compose: input.compose, env: input.env });
  }),

  /** What a deploy of this text (or of the stored files) would change, service by service. */
  plan: authedProcedure.input(z.object({ hostId, name, compose: composeTextSchema.optional(), env: envTextSchema.optional() })).mutation(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<StackPlan>(ctx, input.hostId, { op: 'stacks.plan', name: input.name, ...(input.compose !== undefined ? { compose: input.compose, env: input.env ?? '' } : {}) });
  }),

  /** Stores the files and brings the stack to them (only what changed is recreated); answers with the plan applied. */
  deploy: authedProcedure.input(z.object({ hostId, name, compose: composeTextSchema, env: envTextSchema.default('') })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'stacks.deploy', target: input.name }, async (entry) => {
      const git = await ctx.prisma.gitStack.findUnique({ where: { hostId_name: { hostId: input.hostId, name: input.name } }, select: { url: true, branch: true, composePath: true } });
      if (git) throw new TRPCError({ code: 'CONFLICT', message: `stack ${input.name} is Git-managed (${git.url}, branch ${git.branch}, ${git.composePath}): change it in the repository, or detach it from Git first` });
      return deployFiles(ctx, input.hostId, input.name, { compose: input.compose, env: input.env }, entry);
    }),
  ),

  /** Pulls every image of the stored files again and recreates the services whose image changed. */
  pullRedeploy: authedProcedure.input(z.object({ hostId, name })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'stacks.pullRedeploy', target: input.name }, () =>
      callAgent<StackPlan>(ctx, input.hostId, { op: 'stacks.deploy', name: input.name, pull: true }, STACK_DEPLOY_TIMEOUT_MS),
    ),
  ),

  stop: simple('stacks.stop'),
  start: simple('stacks.start'),
  restart: simple('stacks.restart'),

  /** Containers and networks go; `volumes`: the named volumes too; `forget`: the stored files too. */
  down: authedProcedure.input(z.object({ hostId, name, volumes: z.boolean().default(false), forget: z.boolean().default(false) })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'stacks.down', target: `${input.name}${input.volumes ? ' (with volumes)' : ''}${input.forget ? ' (files removed)' : ''}` }, async () => {
      await callAgent(ctx, input.hostId, { op: 'stacks.down', name: input.name, volumes: input.volumes, forget: input.forget }, STACK_DEPLOY_TIMEOUT_MS);
      // Its files gone, a Git source would bring it back at the next push: it goes too.
      if (input.forget) {
        for (const g of await ctx.prisma.gitStack.findMany({ where: { hostId: input.hostId, name: input.name }, select: { id: true } })) {
          await ctx.prisma.gitStack.delete({ where: { id: g.id } });
          removeCache(g.id);
        }
      }
      return { ok: true as const };
    }),
  ),

  restartService: authedProcedure.input(z.object({ hostId, name, service: z.string().min(1).max(255) })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'stacks.restartService', target: `${input.name}/${input.service}` }, async () => {
      await callAgent(ctx, input.hostId, { op: 'stacks.restartService', name: input.name, service: input.service }, STACK_DEPLOY_TIMEOUT_MS);
      return { ok: true as const };
    }),
  ),
});
