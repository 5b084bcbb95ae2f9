import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { hashPassword } from '../../auth/password';
import { type Role } from '../../../protocol/roles';
import { currentTeam } from '../../auth/current-team';
import { DEFAULT_TEAM, ensureDefaultTeam } from '../../db/seed';
import { writeAudit } from '../host-ops';
import { publicProcedure, router } from '../init';

export const authRouter = router({
  status: publicProcedure.query(async ({ ctx }) => {
    const users = await ctx.prisma.user.count();
    // The caller's role in the team this browser works in, so pages can hide what the server would refuse anyway.
    const team = ctx.user ? await currentTeam(ctx.user.id, ctx.sessionId, ctx.prisma) : null;
    const role: Role | null = team?.role ?? null;
    return { needsSetup: users === 0, signedIn: !!ctx.user, role, mustChangePassword: ctx.user?.mustChangePassword ?? false };
  }),

  /** Creates the first account, owner of the Default team. Closed for good once any user exists. */
  setup: publicProcedure
    .input(
      z.object({
        email: z.string().trim().toLowerCase().pipe(z.email()),
        name: z.string().trim().min(1).max(100),
        password: z.string().min(8).max(1024),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const passwordHash = await hashPassword(input.password);
      const teamId = await ensureDefaultTeam(ctx.prisma);
      const user = await ctx.prisma.$transaction(async (tx) => {
        if ((await tx.user.count()) > 0) return null;
        return tx.user.create({
          data: { email: input.email, name: input.name, passwordHash, memberships: { create: { teamId, role: 'owner' } } },
        });
      });
      if (!user) throw new TRPCError({ code: 'FORBIDDEN', message: `setup is done already; ask an admin of ${DEFAULT_TEAM} for an account` });
      await writeAudit({ prisma: ctx.prisma, user, address: ctx.address }, { action: 'auth.setup', teamId, target: user.email }, 'ok');
      return { ok: true as const };
    }),
});
