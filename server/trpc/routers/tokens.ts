// Personal access tokens for the docker CLI through the control plane (server/proxy): the
// signed-in person's own, each scoped to one of their teams, optionally to some of its hosts,
// with a role ceiling that is never above their own role (and is checked against it again at
// every use), an expiry, and revocable. Only a hash is kept: the token is shown once.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { visibleHostsWhere } from '../../auth/access';
import { hashSecret, newSecret } from '../../auth/tokens';
import { publicUrl } from '../../db/config';
import { announceTokensRevoked, parseHostIds, TOKEN_PREFIX } from '../../proxy/access-tokens';
import { hasRole, isRole, roleRank, ROLES, type Role } from '../../../protocol/roles';
import { audited } from '../host-ops';
import { authedProcedure, router, type AuthedContext } from '../init';

const id = z.string().min(1).max(100);
export const TOKEN_MAX_DAYS = 365;

/** The lines of ~/.docker/config.json that make the CLI send the token with every request. */
export function dockerConfig(token: string | null): string {
  return JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${token ?? `${TOKEN_PREFIX}_…`}` } }, null, 2);
}

/** What the account page prints for a host: the CLI's context and its config.json lines. */
export function dockerSetup(server: string, host: { id: string; name: string }, token: string | null) {
  const url = new URL(server);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const hostUrl = `tcp://${url.hostname}:${port}/docker/${encodeURIComponent(host.name)}`;
  const contextName = `berth-${host.name}`.replace(/[^A-Za-z0-9_.-]+/g, '-');
  return {
    host: hostUrl,
    context: `docker context create ${contextName} --docker "host=${hostUrl}"`,
    use: `docker --context ${contextName} ps`,
    config: dockerConfig(token),
  };
}

/** The caller's role in the team; NOT_FOUND for a stranger, as for a missing team. */
async function teamRoleOf(ctx: AuthedContext, teamId: string): Promise<Role> {
  const m = await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: ctx.user.id, teamId } } });
  if (!m || !isRole(m.role)) throw new TRPCError({ code: 'NOT_FOUND', message: `No such team: ${teamId}` });
  return m.role;
}

export const tokensRouter = router({
  /** The caller's tokens that were not revoked (expired ones too, marked). */
  list: authedProcedure.query(async ({ ctx }) => {
    const rows = await ctx.prisma.accessToken.findMany({ where: { userId: ctx.user.id, revokedAt: null }, include: { team: { select: { name: true } } }, orderBy: { createdAt: 'desc' } });
    const ids = [...new Set(rows.flatMap((r) => parseHostIds(r.hostIds) ?? []))];
    const names = new Map((await ctx.prisma.host.findMany({ where: { id: { in: ids } }, select: { id: true, name: true } })).map((h) => [h.id, h.name]));
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      hint: `${TOKEN_PREFIX}_…${r.hint}`,
      teamId: r.teamId,
      team: r.team.name,
      role: r.role,
      hosts: parseHostIds(r.hostIds)?.map((h) => ({ id: h, name: names.get(h) ?? '(removed host)' })) ?? null,
      createdAt: r.createdAt.toISOString(),
      expiresAt: r.expiresAt.toISOString(),
      expired: r.expiresAt.getTime() <= Date.now(),
      lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
    }));
  }),

  /** An admin's view of the team's live tokens, everyone's: who holds which, and since when it was used. */
  team: authedProcedure.input(z.object({ teamId: id })).query(async ({ ctx, input }) => {
    const mine = await teamRoleOf(ctx, input.teamId);
    if (!hasRole(mine, 'admin')) throw new TRPCError({ code: 'FORBIDDEN', message: `The ${mine} role cannot see the team's tokens; admin or above is needed` });
    const rows = await ctx.prisma.accessToken.findMany({ where: { teamId: input.teamId, revokedAt: null, expiresAt: { gt: new Date() } }, include: { user: { select: { email: true } } }, orderBy: { createdAt: 'desc' } });
    const ids = [...new Set(rows.flatMap((r) => parseHostIds(r.hostIds) ?? []))];
    const names = new Map((await ctx.prisma.host.findMany({ where: { id: { in: ids } }, select: { id: true, name: true } })).map((h) => [h.id, h.name]));
    const roles = new Map((await ctx.prisma.membership.findMany({ where: { teamId: input.teamId }, select: { userId: true, role: true } })).map((m) => [m.userId, m.role]));
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      hint: `${TOKEN_PREFIX}_…${r.hint}`,
      owner: r.user.email,
      role: r.role,
      hosts: parseHostIds(r.hostIds)?.map((h) => names.get(h) ?? '(removed host)') ?? null,
      expiresAt: r.expiresAt.toISOString(),
      lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
      canRevoke: r.userId === ctx.user.id || roleRank(isRole(roles.get(r.userId)) ? (roles.get(r.userId) as Role) : 'viewer') <= roleRank(mine),
    }));
  }),

  /** For the form: the caller's teams, their role in each, and each team's hosts. */
  options: authedProcedure.query(async ({ ctx }) => {
    const ms = await ctx.prisma.membership.findMany({ where: { userId: ctx.user.id }, include: { team: { select: { name: true } } }, orderBy: { createdAt: 'asc' } });
    const teams = [];
    for (const m of ms.filter((x) => isRole(x.role))) {
      // A member narrowed to some hosts is offered those only.
      const hosts = await ctx.prisma.host.findMany({ where: await visibleHostsWhere(ctx.user.id, m.teamId, ctx.prisma), select: { id: true, name: true }, orderBy: { createdAt: 'asc' } });
      teams.push({ id: m.teamId, name: m.team.name, role: m.role as Role, hosts });
    }
    return { server: publicUrl(), teams };
  }),

  create: authedProcedure
    .input(
      z.object({
        teamId: id,
        name: z.string().trim().min(1).max(100),
        role: z.enum(ROLES as [Role, ...Role[]]),
        /** Absent or empty: every host of the team, those added later too. */
        hostIds: z.array(id).max(100).optional(),
        expiresInDays: z.number().int().min(1).max(TOKEN_MAX_DAYS),
      }),
    )
    .mutation(({ ctx, input }) =>
      audited(ctx, { action: 'token.create', teamId: null, target: `${input.name} (${input.role}${input.hostIds?.length ? `, ${input.hostIds.length} hosts` : ''})` }, async (entry) => {
        const m = await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: ctx.user.id, teamId: input.teamId } } });
        if (!m || !isRole(m.role)) throw new TRPCError({ code: 'NOT_FOUND', message: `No such team: ${input.teamId}` });
        entry.teamId = input.teamId;
        if (roleRank(input.role) > roleRank(m.role)) throw new TRPCError({ code: 'FORBIDDEN', message: `role: a token cannot have more than your own role (${m.role}), and ${input.role} is more` });
        const wanted = [...new Set(input.hostIds ?? [])];
        const visible = await visibleHostsWhere(ctx.user.id, input.teamId, ctx.prisma);
        const hosts = wanted.length ? await ctx.prisma.host.findMany({ where: { AND: [visible, { id: { in: wanted } }] }, select: { id: true, name: true } }) : [];
        const missing = wanted.filter((h) => !hosts.some((x) => x.id === h));
        if (missing.length) throw new TRPCError({ code: 'NOT_FOUND', message: `hostIds: no such host in this team: ${missing.join(', ')}` });
        const token = newSecret(TOKEN_PREFIX);
        const row = await ctx.prisma.accessToken.create({
          data: {
            userId: ctx.user.id,
            teamId: input.teamId,
            name: input.name,
            tokenHash: hashSecret(token),
            hint: token.slice(-4),
            role: input.role,
            hostIds: wanted.length ? JSON.stringify(wanted) : null,
            expiresAt: new Date(Date.now() + input.expiresInDays * 24 * 3600_000),
          },
        });
        entry.target = `${row.name} [${row.id}] (${row.role}${hosts.length ? `, hosts ${hosts.map((h) => h.name).join(', ')}` : ', every host'})`.slice(0, 500);
        const shown = hosts.length ? hosts : await ctx.prisma.host.findMany({ where: visible, select: { id: true, name: true }, orderBy: { createdAt: 'asc' }, take: 20 });
        return { id: row.id, token, expiresAt: row.expiresAt.toISOString(), config: dockerConfig(token), setup: shown.map((h) => ({ ...h, ...dockerSetup(publicUrl(), h, token) })) };
      }),
    ),

  /**
   * Ends a token at once: its next request is a 401, its open streams end now. One's own, or as
   * an admin of its team one of a member's who is not above oneself; another team's is "No such token".
   */
  revoke: authedProcedure.input(z.object({ tokenId: id })).mutation(async ({ ctx, input }) => {
    const row = await ctx.prisma.accessToken.findUnique({ where: { id: input.tokenId }, include: { user: { select: { email: true } } } });
    const mine = row && row.userId !== ctx.user.id ? await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: ctx.user.id, teamId: row.teamId } } }) : null;
    const visible = row && (row.userId === ctx.user.id || (mine && hasRole(mine.role, 'admin')));
    return audited(ctx, { action: 'token.revoke', teamId: visible ? row.teamId : null, target: visible ? `${row.name} [${row.id}] of ${row.user.email}` : input.tokenId }, async () => {
      if (!row || !visible) throw new TRPCError({ code: 'NOT_FOUND', message: `No such token: ${input.tokenId}` });
      if (row.userId !== ctx.user.id) {
        const theirs = await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: row.userId, teamId: row.teamId } } });
        if (theirs && isRole(theirs.role) && roleRank(theirs.role) > roleRank(mine!.role as Role)) throw new TRPCError({ code: 'FORBIDDEN', message: `an ${mine!.role} cannot revoke an ${theirs.role}'s token` });
      }
      const r = await ctx.prisma.accessToken.updateMany({ where: { id: row.id, revokedAt: null }, data: { revokedAt: new Date() } });
      if (!r.count) throw new TRPCError({ code: 'NOT_FOUND', message: `token ${row.name} was revoked already` });
      announceTokensRevoked([row.id]);
      return { ok: true as const };
    });
  }),
});
