// The host page's Volumes tab: list and inspect for anyone who may see the host, create,
// remove and prune for operators and up, each mutation an audit row. The agent's engine
// checks names and options (Docker's rules and words) and refuses a volume in use.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { VolumeInfo } from '../../../protocol/agent-link';
import { callAgent, host, hostMutation } from '../host-ops';
import { authedProcedure, router } from '../init';

const hostId = z.string().min(1).max(100);
const name = z.string().trim().min(1).max(255);

/** "key=value" lines (blank lines skipped) as a map; a line without "=" is a key with an empty value, as `--label key` is. */
export function keyValueLines(text: string, what: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!key) throw new TRPCError({ code: 'BAD_REQUEST', message: `${what}: "${line}" has no key before "="` });
    if (key in out) throw new TRPCError({ code: 'BAD_REQUEST', message: `${what}: ${key} is given twice` });
    out[key] = eq < 0 ? '' : line.slice(eq + 1);
  }
  return Object.keys(out).length ? out : undefined;
}

export const volumesRouter = router({
  list: authedProcedure.input(z.object({ hostId })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<VolumeInfo[]>(ctx, input.hostId, { op: 'volumes.list' });
  }),

  inspect: authedProcedure.input(z.object({ hostId, name })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<VolumeInfo>(ctx, input.hostId, { op: 'volumes.inspect', name: input.name });
  }),

  /** `labels` and `options` as the form has them: one key=value per line. No name: an anonymous volume. */
  create: authedProcedure
    .input(z.object({ hostId, name: z.string().trim().max(255).optional(), labels: z.string().max(8192).optional(), options: z.string().max(8192).optional() }))
    .mutation(({ ctx, input }) =>
      hostMutation(ctx, input.hostId, 'operator', { action: 'volumes.create', target: input.name || '(anonymous)' }, async () => {
        const labels = keyValueLines(input.labels ?? '', 'labels');
        const options = keyValueLines(input.options ?? '', 'driver options');
        return callAgent<VolumeInfo>(ctx, input.hostId, { op: 'volumes.create', ...(input.name ? { name: input.name } : {}), ...(labels ? { labels } : {}), ...(options ? { options } : {}) });
      }),
    ),

  remove: authedProcedure.input(z.object({ hostId, name })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'volumes.remove', target: input.name }, async () => {
      await callAgent(ctx, input.hostId, { op: 'volumes.remove', name: input.name });
      return { ok: true as const };
    }),
  ),

  /** Every volume no container uses and that has no driver options, as `docker volume prune` with API 1.41. */
  prune: authedProcedure.input(z.object({ hostId })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'volumes.prune', target: 'unused volumes' }, async () => {
      return callAgent<{ deleted: string[]; reclaimed: number }>(ctx, input.hostId, { op: 'volumes.prune' });
    }),
  ),
});
