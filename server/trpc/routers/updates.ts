// Image updates of one host's containers: what the agent found asking the registries (with
// the team's logins, handed over per command as for pulls), "check now", and an update
// with rollback, audited with how it ended.
import { z } from 'zod';
import { UPDATE_TIMEOUT_MS, type ContainerSummary } from '../../../protocol/agent-link';
import type { UpdateResultEvent } from '../../../protocol/alerts';
import type { StackUpdateOutcome, UpdateOutcome, UpdateReport } from '../../../protocol/updates';
import { stackNameSchema } from '../../../protocol/stacks';
import { alertService } from '../../alerts/service';
import { registryAuthFor } from '../../registries';
import { teamAuths } from '../../updates/auths';
import { callAgent, host, hostForAudit, toTRPCError, writeAudit } from '../host-ops';
import { NOT_BEGUN } from '../../updates/began';
import { authedProcedure, router, type AuthedContext } from '../init';

const hostId = z.string().min(1).max(100);
const ids = z.array(z.string().trim().min(1).max(200)).max(1000).optional();
/** Registries may be slow; the page shows "checking" for what did not answer by then. */
const STATUS_TIMEOUT_MS = 30_000;

async function report(ctx: AuthedContext, input: { hostId: string; ids?: string[] }, force: boolean): Promise<UpdateReport> {
  const { host: h } = await host(ctx, input.hostId, force ? 'operator' : 'viewer');
  const images = ctx.hub.view(h).containers.map((c) => c.image);
  const auths = await teamAuths(ctx.prisma, h.teamId, images);
  return callAgent<UpdateReport>(ctx, input.hostId, { op: 'updates.status', ...(Object.keys(auths).length ? { auths } : {}), ...(force ? { force } : {}), ...(input.ids ? { ids: input.ids } : {}) }, STATUS_TIMEOUT_MS);
}


/** Hands an update's end to alerting; a failure there is logged, never the update's. */
export async function alertUpdate(hostId: string, e: UpdateResultEvent): Promise<void> {
  await alertService()
    .updateResult(hostId, e)
    .catch((err: Error) => console.error(`alerts: update of ${e.name} on host ${hostId}: ${err.message}`));
}

export const updatesRouter = router({
  /** Cached answers (asked again once older than the agent's TTL). */
  status: authedProcedure.input(z.object({ hostId, ids })).query(({ ctx, input }) => report(ctx, input, false)),

  /** "Check now": the registries are asked again, cache or not (a registry's 429 still holds). */
  check: authedProcedure.input(z.object({ hostId, ids })).mutation(({ ctx, input }) => report(ctx, input, true)),

  /**
   * Pull, recreate, roll back unless the new container comes up. Runs to its end on the agent
   * even when the browser goes away (the page finds it again in status().jobs); the audit
   * record says how it ended: updated, up to date, or rolled back and why.
   */
  update: authedProcedure
    .input(z.object({ hostId, id: z.string().trim().min(1).max(200), healthTimeoutSec: z.number().int().min(1).max(3600).optional() }))
    .mutation(async ({ ctx, input }) => {
      const entry = { action: 'containers.updateImage', target: input.id, hostId: null as string | null, teamId: null as string | null };
      // Set once the caller may update on the host: from then on a failure is the update's.
      let started: { hostId: string; c?: ContainerSummary } | undefined;
      try {
        const h = await hostForAudit(ctx, input.hostId, 'operator', entry);
        const c = ctx.hub.view(h).containers.find((x) => x.id === input.id || x.name === input.id);
        if (c) entry.target = `${c.name} (${c.image})`;
        started = { hostId: h.id, c };
        const auth = c ? await registryAuthFor(ctx.prisma, h.teamId, c.image) : undefined;
        const out = await callAgent<UpdateOutcome>(
          ctx,
          input.hostId,
          { op: 'updates.apply', id: input.id, ...(auth ? { auth } : {}), ...(input.healthTimeoutSec ? { healthTimeoutSec: input.healthTimeoutSec } : {}) },
          UPDATE_TIMEOUT_MS,
        );
        await writeAudit(ctx, entry, out.outcome === 'rolled-back' ? out.message : `ok: ${out.message}`);
        await alertUpdate(h.id, { name: out.name, image: c?.image ?? '', containerId: out.containerId, labels: c?.labels, automatic: false, outcome: out.outcome, message: out.message });
        return out;
      } catch (err) {
        const t = toTRPCError(err);
        await writeAudit(ctx, entry, `error: ${t.code}: ${t.message}`);
        if (started && !NOT_BEGUN.has(t.code)) {
          const c = started.c;
          await alertUpdate(started.hostId, { name: c?.name ?? input.id, image: c?.image ?? '', containerId: c?.id, labels: c?.labels, automatic: false, outcome: 'failed', message: `error: ${t.message}` });
        }
        throw t;
      }
    }),

  /**
   * Updates a stack's services together on the agent: pulled, the changed ones made again from
   * their new images in dependency order, all of them put back if one does not come up. One
   * audit row with a summary per service; the service that did not come up raises the
   * update-failed alert, the updated ones resolve theirs.
   */
  updateStack: authedProcedure
    .input(z.object({ hostId, name: stackNameSchema, healthTimeoutSec: z.number().int().min(1).max(3600).optional() }))
    .mutation(async ({ ctx, input }) => {
      const entry = { action: 'stacks.updateImages', target: input.name, hostId: null as string | null, teamId: null as string | null };
      let started: { hostId: string; containers: ContainerSummary[] } | undefined;
      try {
        const h = await hostForAudit(ctx, input.hostId, 'operator', entry);
        const containers = ctx.hub.view(h).containers.filter((c) => c.labels?.['com.docker.compose.project'] === input.name);
        started = { hostId: h.id, containers };
        const auths = await teamAuths(ctx.prisma, h.teamId, containers.map((c) => c.image));
        const out = await callAgent<StackUpdateOutcome>(
          ctx,
          input.hostId,
          { op: 'updates.stack', project: input.name, ...(Object.keys(auths).length ? { auths } : {}), ...(input.healthTimeoutSec ? { healthTimeoutSec: input.healthTimeoutSec } : {}) },
          UPDATE_TIMEOUT_MS,
        );
        const summary = out.services.map((s) => `${s.service} (${s.image}): ${s.outcome}: ${s.message}`).join('; ');
        await writeAudit(ctx, entry, `${out.outcome === 'rolled-back' ? out.message : `ok: ${out.message}`}${summary ? ` — ${summary}` : ''}`.slice(0, 4000));
        for (const s of out.services) {
          if (!s.failed && s.outcome !== 'updated' && s.outcome !== 'up-to-date') continue;
          const c = containers.find((x) => x.name === s.name);
          await alertUpdate(h.id, { name: s.name, image: s.image, containerId: s.containerId, labels: c?.labels, automatic: false, outcome: s.failed ? 'rolled-back' : s.outcome === 'updated' ? 'updated' : 'up-to-date', message: s.message, stack: input.name });
        }
        return out;
      } catch (err) {
        const t = toTRPCError(err);
        await writeAudit(ctx, entry, `error: ${t.code}: ${t.message}`);
        if (started && !NOT_BEGUN.has(t.code)) {
          for (const c of started.containers) await alertUpdate(started.hostId, { name: c.name, image: c.image, containerId: c.id, labels: c.labels, automatic: false, outcome: 'failed', message: `error: stack ${input.name}: ${t.message}`, stack: input.name });
        }
        throw t;
      }
    }),
});
