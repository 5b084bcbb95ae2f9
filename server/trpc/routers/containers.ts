import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { ContainerLive } from '../../../protocol/agent-link';
import type { ContainerRecord, ContainerSpec } from '../../../protocol/container';
import { runOptionsProblems, runOptionsShape, runOptionsSpec, type RunOptions } from '../../../protocol/run-form';
import { ShellSyntaxError, splitShellWords } from '../../../protocol/shell-words';
import { parseMemorySize } from '../../parse/size';
import { callAgent, host, hostMutation } from '../host-ops';
import { authedProcedure, router } from '../init';
import { teamLogin } from './images';

const hostId = z.string().min(1).max(100);
const target = z.object({ hostId, id: z.string().trim().min(1).max(200) });

/** A page asks for one reading at a time; more than this at once from one user is a runaway page or abuse, and each costs the agent cgroup reads. */
export const MAX_LIVE_READINGS_PER_USER = 8;
/** A reading that comes later than this is worth nothing to a chart that moves every second. */
const LIVE_TIMEOUT_MS = 10_000;
const liveInFlight = new Map<string, number>();

/** Signals by name as `docker kill -s` takes them ("SIGHUP", "HUP") or by number; the engine says which it knows. */
const signal = z.union([
  z.string().trim().regex(/^(SIG)?[A-Z][A-Z0-9+-]{0,15}$/, 'a signal name such as SIGTERM, or its number'),
  z.number().int().min(1).max(64),
]);

/** Turns the form's fields into an engine spec. Parsing what was typed is ours (BAD_REQUEST
 *  naming the field); whether the spec makes sense (names, limits) is the engine's, once. */
export function runSpec(input: { image: string; command?: string; name?: string; memory?: string; options?: RunOptions }): ContainerSpec {
  const spec: ContainerSpec = { image: input.image };
  if (input.options) {
    // The browser checked these with the same schema; a call that did not come from the form gets the same words.
    const problems = runOptionsProblems(input.options);
    if (problems.length) throw new TRPCError({ code: 'BAD_REQUEST', message: problems.map((p) => p.message).join('; ') });
    const { env, ...sections } = runOptionsSpec(input.options);
    Object.assign(spec, sections);
    if (env) spec.process = { env };
  }
  try {
    if (input.command?.trim()) spec.process = { ...spec.process, cmd: splitShellWords(input.command) };
    if (input.memory?.trim()) spec.resources = { memory: parseMemorySize(input.memory) };
  } catch (err) {
    if (err instanceof ShellSyntaxError) throw new TRPCError({ code: 'BAD_REQUEST', message: `command: ${err.message}` });
    if (err instanceof RangeError) throw new TRPCError({ code: 'BAD_REQUEST', message: `memory: ${err.message}` });
    throw err;
  }
  if (input.name?.trim()) spec.name = input.name.trim();
  return spec;
}

export const containersRouter = router({
  run: authedProcedure
    .input(
      z.object({
        hostId,
        image: z.string().trim().min(1).max(512),
        command: z.string().max(8192).optional(),
        name: z.string().max(128).optional(),
        memory: z.string().max(32).optional(),
        /** Ports, mounts, network, environment and restart policy, as the form's rows hold them. */
        options: runOptionsShape.optional(),
      }),
    )
    .mutation(({ ctx, input }) =>
      hostMutation(ctx, input.hostId, 'operator', { action: 'containers.run', target: input.name || input.image }, async () => {
        const spec = runSpec(input);
        const auth = await teamLogin(ctx, input.hostId, spec.image);
        const res = await callAgent<{ id: string } | ContainerRecord>(ctx, input.hostId, { op: 'run', spec, ...(auth ? { auth } : {}) });
        if (!res?.id) throw new TRPCError({ code: 'BAD_GATEWAY', message: 'the agent did not say which container it made' });
        return { id: res.id };
      }),
    ),

  start: authedProcedure.input(target).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'containers.start', target: input.id }, async () => {
      await callAgent(ctx, input.hostId, { op: 'start', id: input.id });
      return { ok: true as const };
    }),
  ),

  stop: authedProcedure.input(target.extend({ timeoutSec: z.number().int().min(0).max(600).optional() })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'containers.stop', target: input.id }, async () => {
      await callAgent(ctx, input.hostId, { op: 'stop', id: input.id, timeoutSec: input.timeoutSec }, (input.timeoutSec ?? 10) * 1000 + 30_000);
      return { ok: true as const };
    }),
  ),

  remove: authedProcedure.input(target.extend({ force: z.boolean().optional() })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'containers.remove', target: input.id }, async () => {
      await callAgent(ctx, input.hostId, { op: 'remove', id: input.id, force: input.force });
      return { ok: true as const };
    }),
  ),

  restart: authedProcedure.input(target.extend({ timeoutSec: z.number().int().min(0).max(600).optional() })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'containers.restart', target: input.id }, async () => {
      await callAgent(ctx, input.hostId, { op: 'restart', id: input.id, timeoutSec: input.timeoutSec }, (input.timeoutSec ?? 10) * 1000 + 30_000);
      return { ok: true as const };
    }),
  ),

  /** Default SIGKILL, as `docker kill`. The audit names any other signal. */
  kill: authedProcedure.input(target.extend({ signal: signal.optional() })).mutation(({ ctx, input }) =>
    hostMutation(
      ctx,
      input.hostId,
      'operator',
      { action: 'containers.kill', target: input.signal === undefined ? input.id : `${input.id} (signal ${input.signal})` },
      async () => {
        await callAgent(ctx, input.hostId, { op: 'kill', id: input.id, ...(input.signal === undefined ? {} : { signal: input.signal }) });
        return { ok: true as const };
      },
    ),
  ),

  pause: authedProcedure.input(target).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'containers.pause', target: input.id }, async () => {
      await callAgent(ctx, input.hostId, { op: 'pause', id: input.id });
      return { ok: true as const };
    }),
  ),

  unpause: authedProcedure.input(target).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'containers.unpause', target: input.id }, async () => {
      await callAgent(ctx, input.hostId, { op: 'unpause', id: input.id });
      return { ok: true as const };
    }),
  ),

  inspect: authedProcedure.input(target).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<ContainerRecord>(ctx, input.hostId, { op: 'inspect', id: input.id });
  }),

  /** One live reading (state, health, stats). The container page asks about once a second, and only while it is open and visible. */
  live: authedProcedure.input(target).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    const n = liveInFlight.get(ctx.user.id) ?? 0;
    if (n >= MAX_LIVE_READINGS_PER_USER) {
      throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `too many live readings under way for this user (at most ${MAX_LIVE_READINGS_PER_USER}); close some pages` });
    }
    liveInFlight.set(ctx.user.id, n + 1);
    try {
      return await callAgent<ContainerLive>(ctx, input.hostId, { op: 'stats', id: input.id }, LIVE_TIMEOUT_MS);
    } finally {
      const left = (liveInFlight.get(ctx.user.id) ?? 1) - 1;
      if (left > 0) liveInFlight.set(ctx.user.id, left);
      else liveInFlight.delete(ctx.user.id);
    }
  }),
});
