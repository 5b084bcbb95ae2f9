// Teams and their people: members and roles, invitation links, password resets. The
// rules: nobody hands out or touches more than their own role; a team always keeps an
// owner; a change of someone's access reaches their open sockets at once.
import { randomBytes } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { PrismaClient } from '../../../generated/prisma/client';
import { hashPassword } from '../../auth/password';
import { switchTeam } from '../../auth/current-team';
import { accessChanged, revokeAllSessions } from '../../auth/sessions';
import { hashSecret, newSecret } from '../../auth/tokens';
import { hasRole, isRole, roleRank, ROLES, type Role } from '../../../protocol/roles';
import { audited, writeAudit } from '../host-ops';
import { authedProcedure, publicProcedure, router, type AuthedContext } from '../init';
import { PASSWORD } from './account';

const id = z.string().min(1).max(100);
const role = z.enum(ROLES as [Role, ...Role[]]);
const INVITE_PREFIX = 'binv';
const TEAM_NAME = z.string().trim().min(1).max(100).regex(/^[^\u0000-\u001f]+$/, 'no control characters');

/** The caller's role in the team: NOT_FOUND for a stranger (as for a missing team), FORBIDDEN below `min`. */
async function callerRole(ctx: AuthedContext, teamId: string, min: Role): Promise<Role> {
  const m = await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: ctx.user.id, teamId } } });
  if (!m || !isRole(m.role)) throw new TRPCError({ code: 'NOT_FOUND', message: `No such team: ${teamId}` });
  if (!hasRole(m.role, min)) throw new TRPCError({ code: 'FORBIDDEN', message: `The ${m.role} role cannot do this; ${min} or above is needed` });
  return m.role;
}

async function owners(prisma: PrismaClient, teamId: string): Promise<number> {
  return prisma.membership.count({ where: { teamId, role: 'owner' } });
}

/** The member `userId` of the team, whom the caller (of role `mine`) may act on: not above the caller. */
async function actOn(ctx: AuthedContext, teamId: string, userId: string, mine: Role) {
  const m = await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId, teamId } }, include: { user: { select: { email: true } } } });
  if (!m || !isRole(m.role)) throw new TRPCError({ code: 'NOT_FOUND', message: `No such member: ${userId}` });
  if (roleRank(m.role) > roleRank(mine)) throw new TRPCError({ code: 'FORBIDDEN', message: `an ${mine} cannot change an ${m.role}` });
  return { ...m, role: m.role };
}

function badLink(why: string): TRPCError {
  return new TRPCError({ code: 'NOT_FOUND', message: `This invitation link ${why}. Ask for a new one.` });
}

/** The invitation a link names, if it can still be used. */
async function usableInvitation(prisma: PrismaClient, token: string) {
  const inv = token.startsWith(`${INVITE_PREFIX}_`) ? await prisma.invitation.findUnique({ where: { tokenHash: hashSecret(token) }, include: { team: { select: { name: true } } } }) : null;
  if (!inv || inv.revokedAt) throw badLink('is not valid');
  if (inv.usedAt) throw badLink('has been used already');
  if (inv.expiresAt.getTime() <= Date.now()) throw badLink('has expired');
  return inv;
}

export const teamRouter = router({
  members: authedProcedure.input(z.object({ teamId: id })).query(async ({ ctx, input }) => {
    const mine = await callerRole(ctx, input.teamId, 'viewer');
    const rows = await ctx.prisma.membership.findMany({ where: { teamId: input.teamId }, include: { user: { select: { email: true, name: true } }, hosts: { select: { hostId: true } } }, orderBy: { createdAt: 'asc' } });
    return {
      myRole: mine,
      members: rows.map((m) => ({
        userId: m.userId,
        email: m.user.email,
        name: m.user.name,
        role: m.role,
        since: m.createdAt.toISOString(),
        me: m.userId === ctx.user.id,
        /** The hosts a narrowed member sees; null: all of the team's. Told to admins and to the member; a narrowed
         *  viewer must not learn the ids of hosts hidden from them through someone else's row. */
        ...(hasRole(mine, 'admin') || m.userId === ctx.user.id ? { hostIds: m.narrowed ? m.hosts.map((h) => h.hostId) : null } : {}),
      })),
    };
  }),

  invitations: authedProcedure.input(z.object({ teamId: id })).query(async ({ ctx, input }) => {
    await callerRole(ctx, input.teamId, 'admin');
    const rows = await ctx.prisma.invitation.findMany({ where: { teamId: input.teamId, usedAt: null, revokedAt: null, expiresAt: { gt: new Date() } }, include: { createdBy: { select: { email: true } } }, orderBy: { createdAt: 'desc' } });
    return rows.map((i) => ({ id: i.id, role: i.role, expiresAt: i.expiresAt.toISOString(), createdBy: i.createdBy?.email ?? null }));
  }),

  /** A single-use link into the team with `role`, never above the inviter's own. The token is shown once. */
  invite: authedProcedure.input(z.object({ teamId: id, role, expiresInHours: z.number().int().min(1).max(24 * 30).default(72) })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.invite', teamId: input.teamId, target: input.role }, async () => {
      const mine = await callerRole(ctx, input.teamId, 'admin');
      if (roleRank(input.role) > roleRank(mine)) throw new TRPCError({ code: 'FORBIDDEN', message: `an ${mine} cannot invite an ${input.role}` });
      const token = newSecret(INVITE_PREFIX);
      const inv = await ctx.prisma.invitation.create({
        data: { tokenHash: hashSecret(token), teamId: input.teamId, role: input.role, createdById: ctx.user.id, expiresAt: new Date(Date.now() + input.expiresInHours * 3600_000) },
      });
      return { id: inv.id, token, path: `/invite/${token}`, expiresAt: inv.expiresAt.toISOString() };
    }),
  ),

  revokeInvitation: authedProcedure.input(z.object({ invitationId: id })).mutation(async ({ ctx, input }) => {
    const inv = await ctx.prisma.invitation.findUnique({ where: { id: input.invitationId } });
    if (!inv) throw new TRPCError({ code: 'NOT_FOUND', message: `No such invitation: ${input.invitationId}` });
    return audited(ctx, { action: 'team.revokeInvitation', teamId: inv.teamId, target: inv.id }, async () => {
      await callerRole(ctx, inv.teamId, 'admin');
      await ctx.prisma.invitation.update({ where: { id: inv.id }, data: { revokedAt: new Date() } });
      return { ok: true as const };
    });
  }),

  /** What a link offers, for the page that accepts it (anyone holding the link may ask). */
  invitation: publicProcedure.input(z.object({ token: z.string().min(1).max(200) })).query(async ({ ctx, input }) => {
    const inv = await usableInvitation(ctx.prisma, input.token);
    return { team: inv.team.name, role: inv.role, expiresAt: inv.expiresAt.toISOString(), signedIn: !!ctx.user };
  }),

  /**
   * Uses a link, once: signed in, the account joins the team; signed out, a new account is
   * made with it (an email that has an account already must sign in first).
   */
  accept: publicProcedure
    .input(z.object({ token: z.string().min(1).max(200), account: z.object({ email: z.string().trim().toLowerCase().pipe(z.email()), name: z.string().trim().min(1).max(100), password: PASSWORD }).optional() }))
    .mutation(async ({ ctx, input }) => {
      const inv = await usableInvitation(ctx.prisma, input.token);
      if (!ctx.user && !input.account) throw new TRPCError({ code: 'BAD_REQUEST', message: 'account: sign in, or give an email, a name and a password for a new account' });
      if (ctx.user && ctx.user.mustChangePassword) throw new TRPCError({ code: 'FORBIDDEN', message: 'choose a new password first (an admin reset yours): Account → Password' });
      const passwordHash = !ctx.user && input.account ? await hashPassword(input.account.password) : null;
      const userId = await ctx.prisma.$transaction(async (tx) => {
        // Single use even when two browsers accept at once: only one update finds it unused.
        const took = await tx.invitation.updateMany({ where: { id: inv.id, usedAt: null, revokedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } });
        if (!took.count) throw badLink('has been used already');
        let uid = ctx.user?.id;
        if (!uid) {
          const acc = input.account!;
          if (await tx.user.findUnique({ where: { email: acc.email } })) throw new TRPCError({ code: 'CONFLICT', message: `${acc.email} has an account already: sign in, then open the link again` });
          uid = (await tx.user.create({ data: { email: acc.email, name: acc.name, passwordHash: passwordHash! } })).id;
        }
        if (await tx.membership.findUnique({ where: { userId_teamId: { userId: uid, teamId: inv.teamId } } })) throw new TRPCError({ code: 'CONFLICT', message: `you are in ${inv.team.name} already` });
        await tx.membership.create({ data: { userId: uid, teamId: inv.teamId, role: inv.role } });
        await tx.invitation.update({ where: { id: inv.id }, data: { usedById: uid } });
        return uid;
      });
      await writeAudit({ prisma: ctx.prisma, user: { id: userId }, address: ctx.address }, { action: 'team.acceptInvitation', teamId: inv.teamId, target: inv.role }, 'ok');
      // Someone signed in who joins a team works in it next: that is why they opened the link.
      if (ctx.user && ctx.sessionId) await switchTeam(userId, ctx.sessionId, inv.teamId, ctx.prisma);
      // Sockets opened before joining do not have the team's room yet.
      accessChanged(userId);
      return { team: inv.team.name, role: inv.role, newAccount: !ctx.user };
    }),

  setRole: authedProcedure.input(z.object({ teamId: id, userId: id, role })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.setRole', teamId: input.teamId, target: `${input.userId} → ${input.role}` }, async () => {
      const mine = await callerRole(ctx, input.teamId, 'admin');
      const m = await actOn(ctx, input.teamId, input.userId, mine);
      if (roleRank(input.role) > roleRank(mine)) throw new TRPCError({ code: 'FORBIDDEN', message: `an ${mine} cannot make anyone ${input.role}` });
      if (m.role === 'owner' && input.role !== 'owner' && (await owners(ctx.prisma, input.teamId)) <= 1) throw new TRPCError({ code: 'CONFLICT', message: 'the last owner cannot be demoted: make someone else owner first' });
      // Admins and owners manage every host of the team: a narrowing does not outlive the promotion.
      const widen = hasRole(input.role, 'admin') && m.narrowed;
      await ctx.prisma.$transaction([
        ctx.prisma.membership.update({ where: { id: m.id }, data: { role: input.role, ...(widen ? { narrowed: false } : {}) } }),
        ...(widen ? [ctx.prisma.membershipHost.deleteMany({ where: { membershipId: m.id } })] : []),
      ]);
      accessChanged(input.userId);
      return { ok: true as const };
    }),
  ),

  removeMember: authedProcedure.input(z.object({ teamId: id, userId: id })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.removeMember', teamId: input.teamId, target: input.userId }, async () => {
      const mine = await callerRole(ctx, input.teamId, 'admin');
      const m = await actOn(ctx, input.teamId, input.userId, mine);
      if (m.role === 'owner' && (await owners(ctx.prisma, input.teamId)) <= 1) throw new TRPCError({ code: 'CONFLICT', message: 'the last owner cannot be removed: make someone else owner first' });
      await ctx.prisma.membership.delete({ where: { id: m.id } });
      accessChanged(input.userId);
      return { ok: true as const };
    }),
  ),

  leave: authedProcedure.input(z.object({ teamId: id })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.leave', teamId: input.teamId, target: ctx.user.email }, async () => {
      const mine = await callerRole(ctx, input.teamId, 'viewer');
      if (mine === 'owner' && (await owners(ctx.prisma, input.teamId)) <= 1) throw new TRPCError({ code: 'CONFLICT', message: 'the last owner cannot leave: make someone else owner first' });
      await ctx.prisma.membership.delete({ where: { userId_teamId: { userId: ctx.user.id, teamId: input.teamId } } });
      accessChanged(ctx.user.id);
      return { ok: true as const };
    }),
  ),

  /** A one-time password for a member (not above the caller), who must choose their own at next sign-in; their sessions end. */
  resetPassword: authedProcedure.input(z.object({ teamId: id, userId: id })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.resetPassword', teamId: input.teamId, target: input.userId }, async () => {
      const mine = await callerRole(ctx, input.teamId, 'admin');
      if (input.userId === ctx.user.id) throw new TRPCError({ code: 'BAD_REQUEST', message: 'change your own password on the account page' });
      await actOn(ctx, input.teamId, input.userId, mine);
      // A one-time password would give a second way in to an account whose sign-in its identity provider owns.
      const target = await ctx.prisma.user.findUniqueOrThrow({ where: { id: input.userId }, select: { passwordHash: true } });
      if (!target.passwordHash) throw new TRPCError({ code: 'BAD_REQUEST', message: 'this member has no password: they sign in with OpenID Connect or GitHub (remove them, or revoke their sessions, to cut them off)' });
      const temporary = randomBytes(12).toString('base64url');
      await ctx.prisma.user.update({ where: { id: input.userId }, data: { passwordHash: await hashPassword(temporary), mustChangePassword: true } });
      await revokeAllSessions(input.userId, undefined, ctx.prisma);
      return { temporaryPassword: temporary };
    }),
  ),
  /** A new team with the caller as its owner; the session switches to it. */
  create: authedProcedure.input(z.object({ name: TEAM_NAME })).mutation(async ({ ctx, input }) => {
    const taken = await ctx.prisma.team.findUnique({ where: { name: input.name } });
    if (taken) {
      await writeAudit(ctx, { action: 'team.create', target: input.name }, 'error: CONFLICT: the name is taken');
      throw new TRPCError({ code: 'CONFLICT', message: `a team named ${input.name} exists already: choose another name` });
    }
    const team = await ctx.prisma.team.create({ data: { name: input.name, memberships: { create: { userId: ctx.user.id, role: 'owner' } } } });
    await switchTeam(ctx.user.id, ctx.sessionId, team.id, ctx.prisma);
    await writeAudit(ctx, { action: 'team.create', teamId: team.id, target: team.name }, 'ok');
    accessChanged(ctx.user.id);
    return { id: team.id, name: team.name };
  }),

  /** The team this browser works in from now on (the header's switcher). */
  switch: authedProcedure.input(z.object({ teamId: id })).mutation(async ({ ctx, input }) => {
    await callerRole(ctx, input.teamId, 'viewer');
    const name = await switchTeam(ctx.user.id, ctx.sessionId, input.teamId, ctx.prisma);
    // In the team switched to: its admins see who came to work in it. A refused switch is the
    // caller's own business (a team they are not in), so it is not written into that team's log.
    await writeAudit(ctx, { action: 'team.switch', teamId: input.teamId, target: name ?? input.teamId }, 'ok');
    return { ok: true as const };
  }),

  /**
   * Deletes the team, owners only, and only once it has no hosts (move them to another team
   * or revoke them first: deleting a team must not cut hosts off as a side effect). Its
   * members, invitations, join tokens and registry logins go; the team's row stays, marked
   * deleted and renamed to free its name, so its audit rows keep their team unchanged.
   */
  delete: authedProcedure.input(z.object({ teamId: id, confirmName: z.string().max(100) })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.delete', teamId: input.teamId, target: input.teamId }, async (entry) => {
      await callerRole(ctx, input.teamId, 'owner');
      const team = await ctx.prisma.team.findUniqueOrThrow({ where: { id: input.teamId } });
      entry.target = `${team.name} (${team.id})`;
      if (input.confirmName !== team.name) throw new TRPCError({ code: 'BAD_REQUEST', message: `confirmName: type the team's name (${team.name}) to delete it` });
      const hosts = await ctx.prisma.host.count({ where: { teamId: team.id, revokedAt: null } });
      if (hosts) throw new TRPCError({ code: 'CONFLICT', message: `${team.name} still has ${hosts} host${hosts === 1 ? '' : 's'}: move ${hosts === 1 ? 'it' : 'them'} to another team or revoke ${hosts === 1 ? 'it' : 'them'} first` });
      const people = (await ctx.prisma.membership.findMany({ where: { teamId: team.id }, select: { userId: true } })).map((m) => m.userId);
      const now = new Date();
      await ctx.prisma.$transaction([
        ctx.prisma.membership.deleteMany({ where: { teamId: team.id } }),
        ctx.prisma.invitation.deleteMany({ where: { teamId: team.id } }),
        ctx.prisma.joinToken.deleteMany({ where: { teamId: team.id } }),
        ctx.prisma.registry.deleteMany({ where: { teamId: team.id } }),
        ctx.prisma.team.update({ where: { id: team.id }, data: { deletedAt: now, name: `${team.name} (deleted ${now.toISOString()})`.slice(0, 200) } }),
      ]);
      for (const u of people) accessChanged(u);
      return { ok: true as const };
    }),
  ),

  /** The caller (an owner) makes another member owner and becomes an admin. */
  transferOwnership: authedProcedure.input(z.object({ teamId: id, userId: id })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.transferOwnership', teamId: input.teamId, target: input.userId }, async () => {
      await callerRole(ctx, input.teamId, 'owner');
      if (input.userId === ctx.user.id) throw new TRPCError({ code: 'BAD_REQUEST', message: 'userId: you own the team already; name another member' });
      const m = await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: input.userId, teamId: input.teamId } } });
      if (!m) throw new TRPCError({ code: 'NOT_FOUND', message: `No such member: ${input.userId}` });
      await ctx.prisma.$transaction([
        ctx.prisma.membershipHost.deleteMany({ where: { membershipId: m.id } }),
        ctx.prisma.membership.update({ where: { id: m.id }, data: { role: 'owner', narrowed: false } }),
        ctx.prisma.membership.update({ where: { userId_teamId: { userId: ctx.user.id, teamId: input.teamId } }, data: { role: 'admin' } }),
      ]);
      accessChanged(input.userId);
      accessChanged(ctx.user.id);
      return { ok: true as const };
    }),
  ),

  /**
   * Narrows an operator's or viewer's role to some of the team's hosts (null: every host again).
   * They then see only those hosts and what runs on them, in lists, pages, sockets and logs.
   * Admins and owners manage the whole team and are not narrowed.
   */
  setHosts: authedProcedure.input(z.object({ teamId: id, userId: id, hostIds: z.array(id).max(1000).nullable() })).mutation(async ({ ctx, input }) =>
    audited(ctx, { action: 'team.setHosts', teamId: input.teamId, target: `${input.userId} → ${input.hostIds === null ? 'all hosts' : input.hostIds.join(', ') || 'no hosts'}` }, async () => {
      const mine = await callerRole(ctx, input.teamId, 'admin');
      const m = await actOn(ctx, input.teamId, input.userId, mine);
      if (hasRole(m.role, 'admin')) throw new TRPCError({ code: 'BAD_REQUEST', message: `an ${m.role} manages every host of the team and cannot be narrowed; lower the role to operator or viewer first` });
      const ids = [...new Set(input.hostIds ?? [])];
      if (ids.length) {
        const found = await ctx.prisma.host.findMany({ where: { id: { in: ids }, teamId: input.teamId, revokedAt: null }, select: { id: true } });
        const missing = ids.filter((h) => !found.some((f) => f.id === h));
        if (missing.length) throw new TRPCError({ code: 'NOT_FOUND', message: `hostIds: no such host in this team: ${missing.join(', ')}` });
      }
      await ctx.prisma.$transaction([
        ctx.prisma.membershipHost.deleteMany({ where: { membershipId: m.id } }),
        ctx.prisma.membership.update({ where: { id: m.id }, data: { narrowed: input.hostIds !== null } }),
        ...(input.hostIds === null ? [] : [ctx.prisma.membershipHost.createMany({ data: ids.map((hostId) => ({ membershipId: m.id, hostId })) })]),
      ]);
      accessChanged(input.userId);
      return { ok: true as const };
    }),
  ),
});
