// The host page's Networks tab: list and inspect for anyone who may see the host; create,
// remove and prune for operators and up, each mutation an audit row. The agent's engine
// checks names, subnets and gateways (Docker's rules and words), and refuses removing a
// built-in network or one with running containers.
import { z } from 'zod';
import type { NetworkInfo } from '../../../protocol/network';
import { callAgent, host, hostMutation } from '../host-ops';
import { authedProcedure, router } from '../init';
import { keyValueLines } from './volumes';

const hostId = z.string().min(1).max(100);
/** An id, a name or a unique id prefix, as `docker network inspect` takes. */
const idOrName = z.string().trim().min(1).max(255);
/** The form's text fields: blank means "not given". */
const optional = z.string().trim().max(64).optional();

export const networksRouter = router({
  list: authedProcedure.input(z.object({ hostId })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<NetworkInfo[]>(ctx, input.hostId, { op: 'networks.list' });
  }),

  inspect: authedProcedure.input(z.object({ hostId, id: idOrName })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<NetworkInfo>(ctx, input.hostId, { op: 'networks.inspect', id: input.id });
  }),

  /** `labels` as the form has them: one key=value per line. Subnet and gateway: blank for the engine's choice. */
  create: authedProcedure
    .input(z.object({ hostId, name: z.string().trim().min(1).max(255), subnet: optional, gateway: optional, internal: z.boolean().optional(), labels: z.string().max(8192).optional() }))
    .mutation(({ ctx, input }) =>
      hostMutation(ctx, input.hostId, 'operator', { action: 'networks.create', target: input.name }, async () => {
        const labels = keyValueLines(input.labels ?? '', 'labels');
        return callAgent<NetworkInfo>(ctx, input.hostId, {
          op: 'networks.create',
          network: {
            name: input.name,
            ...(input.subnet ? { subnet: input.subnet } : {}),
            ...(input.gateway ? { gateway: input.gateway } : {}),
            ...(input.internal ? { internal: true } : {}),
            ...(labels ? { labels } : {}),
          },
        });
      }),
    ),

  remove: authedProcedure.input(z.object({ hostId, id: idOrName })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'networks.remove', target: input.id }, async () => {
      await callAgent(ctx, input.hostId, { op: 'networks.remove', id: input.id });
      return { ok: true as const };
    }),
  ),

  /** Every user network no running container is on, as `docker network prune`. */
  prune: authedProcedure.input(z.object({ hostId })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'networks.prune', target: 'unused networks' }, async () => {
      return callAgent<{ deleted: string[] }>(ctx, input.hostId, { op: 'networks.prune' });
    }),
  ),
});
