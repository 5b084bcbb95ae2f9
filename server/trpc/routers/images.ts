import { z } from 'zod';
import { PULL_TIMEOUT_MS } from '../../../protocol/agent-link';
import { callAgent, hostMutation } from '../host-ops';
import { authedProcedure, router } from '../init';

const input = z.object({ hostId: z.string().min(1).max(100), ref: z.string().trim().min(1).max(512) });

export const imagesRouter = router({
  pull: authedProcedure.input(input).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'images.pull', target: input.ref }, async () => {
      const img = await callAgent<{ id: string; repoTags?: string[] }>(ctx, input.hostId, { op: 'pull', ref: input.ref }, PULL_TIMEOUT_MS);
      return { id: img?.id ?? '', repoTags: img?.repoTags ?? [] };
    }),
  ),

  remove: authedProcedure.input(input.extend({ force: z.boolean().optional() })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'images.remove', target: input.ref }, async () => {
      await callAgent(ctx, input.hostId, { op: 'removeImage', ref: input.ref, force: input.force });
      return { ok: true as const };
    }),
  ),
});
