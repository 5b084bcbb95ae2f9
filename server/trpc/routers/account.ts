// The signed-in person's own account: who they are and in which teams, their password,
// their sessions ("sign out everywhere").
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { hashPassword, verifyPassword } from '../../auth/password';
import { revokeAllSessions, revokeSession } from '../../auth/sessions';
import { isRole } from '../../../protocol/roles';
import { currentTeam } from '../../auth/current-team';
import { externalConfig, providerName } from '../../auth/external-config';
import { writeAudit } from '../host-ops';
import { sessionProcedure, router, type AuthedContext } from '../init';

export const PASSWORD = z.string().min(8, 'at least 8 characters').max(1024);

/** Account actions belong to no host; each of the user's teams sees them in its audit log, as sign-ins. */
export async function auditAccount(ctx: Pick<AuthedContext, 'prisma' | 'address'> & { user: { id: string } }, action: string, target: string, result: string): Promise<void> {
  const teams = await ctx.prisma.membership.findMany({ where: { userId: ctx.user.id }, select: { teamId: true } });
  for (const t of teams.length ? teams : [{ teamId: null }]) await writeAudit(ctx, { action, teamId: t.teamId, target }, result);
}

export const accountRouter = router({
  me: sessionProcedure.query(async ({ ctx }) => {
    const memberships = await ctx.prisma.membership.findMany({ where: { userId: ctx.user.id }, include: { team: { select: { name: true } } }, orderBy: { createdAt: 'asc' } });
    const current = await currentTeam(ctx.user.id, ctx.sessionId, ctx.prisma);
    const login = await ctx.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id }, select: { passwordHash: true, identities: { select: { provider: true, email: true }, orderBy: { createdAt: 'asc' } } } });
    const external = externalConfig();
    return {
      /** False for an account made by an outside sign-in: it has no password to change. */
      hasPassword: login.passwordHash !== '',
      identities: login.identities.map((i) => ({ provider: i.provider, name: providerName(external, i.provider), email: i.email })),
      currentTeamId: current?.id ?? null,
      id: ctx.user.id,
      email: ctx.user.email,
      name: ctx.user.name,
      mustChangePassword: ctx.user.mustChangePassword,
      teams: memberships.filter((m) => isRole(m.role)).map((m) => ({ id: m.teamId, name: m.team.name, role: m.role })),
    };
  }),

  sessions: sessionProcedure.query(async ({ ctx }) => {
    const rows = await ctx.prisma.session.findMany({ where: { userId: ctx.user.id, revokedAt: null, expiresAt: { gt: new Date() } }, orderBy: { lastSeenAt: 'desc' } });
    return rows.map((s) => ({ id: s.id, createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString(), address: s.address, userAgent: s.userAgent, current: s.id === ctx.sessionId }));
  }),

  revokeSession: sessionProcedure.input(z.object({ sessionId: z.string().min(1).max(100) })).mutation(async ({ ctx, input }) => {
    const ok = await revokeSession(ctx.user.id, input.sessionId, ctx.prisma);
    await auditAccount(ctx, 'account.revokeSession', input.sessionId, ok ? 'ok' : 'error: no such session');
    if (!ok) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such session (it may have ended already)' });
    return { ok: true as const };
  }),

  /** This session ends (the Sign out button: the cookie alone would stay good until it expires). */
  signOut: sessionProcedure.mutation(async ({ ctx }) => {
    await revokeSession(ctx.user.id, ctx.sessionId, ctx.prisma);
    return { ok: true as const };
  }),

  /** Every session of this account ends, this one too. */
  signOutEverywhere: sessionProcedure.mutation(async ({ ctx }) => {
    const n = await revokeAllSessions(ctx.user.id, undefined, ctx.prisma);
    await auditAccount(ctx, 'account.signOutEverywhere', `${n} sessions`, 'ok');
    return { ended: n };
  }),

  /** The current password, then a new one; the other sessions end (this one stays). */
  changePassword: sessionProcedure.input(z.object({ current: z.string().max(1024), next: PASSWORD })).mutation(async ({ ctx, input }) => {
    const user = await ctx.prisma.user.findUniqueOrThrow({ where: { id: ctx.user.id } });
    if (!user.passwordHash) {
      await auditAccount(ctx, 'account.changePassword', user.email, 'error: the account has no password (it signs in with an outside provider)');
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'this account has no password: it signs in with OpenID Connect or GitHub, and that provider keeps its password' });
    }
    if (!(await verifyPassword(input.current, user.passwordHash))) {
      await auditAccount(ctx, 'account.changePassword', user.email, 'error: wrong current password');
      throw new TRPCError({ code: 'FORBIDDEN', message: 'the current password is not right' });
    }
    if (input.next === input.current) throw new TRPCError({ code: 'BAD_REQUEST', message: 'next: the new password must differ from the current one' });
    await ctx.prisma.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(input.next), mustChangePassword: false } });
    const ended = await revokeAllSessions(user.id, ctx.sessionId, ctx.prisma);
    await auditAccount(ctx, 'account.changePassword', user.email, 'ok');
    return { otherSessionsEnded: ended };
  }),
});
