import { TRPCError } from '@trpc/server';
import { authedProcedure, router } from '../init';

export const auditRouter = router({
  /** The latest 200 records of the teams where the caller is admin or owner. */
  list: authedProcedure.query(async ({ ctx }) => {
    const teams = await ctx.prisma.membership.findMany({
      where: { userId: ctx.user.id, role: { in: ['owner', 'admin'] } },
      select: { teamId: true },
    });
    if (!teams.length) {
      throw new TRPCError({ code: 'FORBIDDEN', message: 'only an owner or admin can read the audit log' });
    }
    const rows = await ctx.prisma.auditLog.findMany({
      where: { teamId: { in: teams.map((t) => t.teamId) } },
      orderBy: { createdAt: 'desc' },
      take: 200,
      include: { user: { select: { email: true, name: true } }, host: { select: { name: true } } },
    });
    return rows.map((r) => ({
      id: r.id,
      at: r.createdAt.toISOString(),
      action: r.action,
      target: r.target,
      result: r.result,
      teamId: r.teamId,
      hostId: r.hostId,
      hostName: r.host?.name ?? null,
      userId: r.userId,
      userEmail: r.user?.email ?? null,
      userName: r.user?.name ?? null,
    }));
  }),
});
