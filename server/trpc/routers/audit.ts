// The audit log for a team's owners and admins: filtered pages (the CSV export streams
// past tRPC: app/api/audit/export), and the team's retention, which only owners set.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { auditFilterShape, auditPage, type AuditFilter } from '../../audit/query';
import { MAX_RETENTION_DAYS, envRetentionDays } from '../../audit/retention';
import { audited } from '../host-ops';
import { authedProcedure, router, type AuthedContext } from '../init';
import { teamOf } from '../team-scope';

const teamId = z.string().min(1).max(100).optional();

async function search(ctx: AuthedContext, input: AuditFilter & { teamId?: string; take: number; cursor?: string }) {
  const { teamId: named, take, cursor, ...filter } = input;
  const team = await teamOf(ctx, named, 'admin').catch((err: unknown) => {
    if (err instanceof TRPCError && err.code === 'FORBIDDEN') throw new TRPCError({ code: 'FORBIDDEN', message: 'only an owner or admin can read the audit log' });
    throw err;
  });
  try {
    return { teamId: team.id, ...(await auditPage(ctx.prisma, team.id, filter, take, cursor)) };
  } catch (err) {
    if (err instanceof RangeError) throw new TRPCError({ code: 'BAD_REQUEST', message: err.message });
    throw err;
  }
}

export const auditRouter = router({
  /** The latest `take` records (200 by default) of the current team (or `teamId`), filtered, newest first. */
  list: authedProcedure
    .input(auditFilterShape.extend({ teamId, take: z.number().int().min(1).max(500).default(200) }).optional())
    .query(async ({ ctx, input }) => (await search(ctx, input ?? { take: 200 })).rows),

  /** The same, a page at a time: `cursor` is the `nextCursor` of the page before. */
  search: authedProcedure
    .input(auditFilterShape.extend({ teamId, take: z.number().int().min(1).max(500).default(100), cursor: z.string().min(1).max(100).optional() }))
    .query(({ ctx, input }) => search(ctx, input)),

  /** Who and which hosts appear in the team's log, for the filter menus. */
  facets: authedProcedure.input(z.object({ teamId }).optional()).query(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input?.teamId, 'admin');
    const [users, hosts, actions] = await Promise.all([
      ctx.prisma.user.findMany({ where: { auditLogs: { some: { teamId: team.id } } }, select: { id: true, email: true }, orderBy: { email: 'asc' } }),
      ctx.prisma.host.findMany({ where: { auditLogs: { some: { teamId: team.id } } }, select: { id: true, name: true }, orderBy: { name: 'asc' } }),
      ctx.prisma.auditLog.findMany({ where: { teamId: team.id }, distinct: ['action'], select: { action: true }, orderBy: { action: 'asc' } }),
    ]);
    const t = await ctx.prisma.team.findUniqueOrThrow({ where: { id: team.id }, select: { auditRetentionDays: true } });
    return { users, hosts, actions: actions.map((a) => a.action), retentionDays: t.auditRetentionDays, defaultRetentionDays: envRetentionDays() };
  }),

  /** Days the team's audit rows are kept (null: the server's default). Older rows are deleted by the hourly retention task. */
  setRetention: authedProcedure.input(z.object({ teamId, days: z.number().int().min(1).max(MAX_RETENTION_DAYS).nullable() })).mutation(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input.teamId, 'viewer');
    return audited(ctx, { action: 'audit.setRetention', teamId: team.id, target: input.days === null ? 'server default' : `${input.days} days` }, async () => {
      if (team.role !== 'owner') throw new TRPCError({ code: 'FORBIDDEN', message: `The ${team.role} role cannot do this; owner or above is needed` });
      await ctx.prisma.team.update({ where: { id: team.id }, data: { auditRetentionDays: input.days } });
      return { ok: true as const };
    });
  }),
});
