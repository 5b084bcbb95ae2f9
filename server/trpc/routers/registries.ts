// A team's registry logins: admins add, rotate and remove them; the list shows the server,
// the username and that a secret is set, never the secret. Every change is an audit row.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { registryServer, sealSecret } from '../../registries';
import { audited } from '../host-ops';
import { authedProcedure, router } from '../init';
import { teamOf } from '../team-scope';

const teamId = z.string().min(1).max(100).optional();
const server = z.string().trim().min(1).max(255);
const username = z.string().trim().min(1).max(255);
const secret = z.string().min(1).max(4096);

function serverOf(input: string): string {
  const s = registryServer(input);
  if (!s) throw new TRPCError({ code: 'BAD_REQUEST', message: `server: ${JSON.stringify(input.slice(0, 100))} is not a registry host (as "registry.example.com" or "127.0.0.1:5000")` });
  return s;
}

async function row(ctx: Parameters<typeof teamOf>[0], registryId: string) {
  const r = await ctx.prisma.registry.findUnique({ where: { id: registryId } });
  const m = r && (await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: ctx.user.id, teamId: r.teamId } } }));
  if (!r || !m) throw new TRPCError({ code: 'NOT_FOUND', message: `No such registry: ${registryId}` });
  return r;
}

export const registriesRouter = router({
  list: authedProcedure.input(z.object({ teamId }).optional()).query(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input?.teamId, 'admin');
    const rows = await ctx.prisma.registry.findMany({ where: { teamId: team.id }, orderBy: { server: 'asc' } });
    return rows.map((r) => ({ id: r.id, server: r.server, username: r.username, secretSet: r.secret.length > 0, updatedAt: r.updatedAt.toISOString() }));
  }),

  add: authedProcedure.input(z.object({ teamId, server, username, secret })).mutation(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input.teamId, 'viewer');
    return audited(ctx, { action: 'registries.add', teamId: team.id, target: `${input.username}@${input.server}` }, async (entry) => {
      await teamOf(ctx, team.id, 'admin');
      const host = serverOf(input.server);
      entry.target = `${input.username}@${host}`;
      if (await ctx.prisma.registry.findUnique({ where: { teamId_server: { teamId: team.id, server: host } } })) {
        throw new TRPCError({ code: 'CONFLICT', message: `the team has a login for ${host} already: rotate it or remove it first` });
      }
      const r = await ctx.prisma.registry.create({ data: { teamId: team.id, server: host, username: input.username, secret: sealSecret(team.id, host, input.secret) } });
      return { id: r.id, server: r.server };
    });
  }),

  /** A new secret (and, if given, username) for a login; the old secret is gone. */
  rotate: authedProcedure.input(z.object({ registryId: z.string().min(1).max(100), username: username.optional(), secret })).mutation(async ({ ctx, input }) => {
    const r = await row(ctx, input.registryId);
    return audited(ctx, { action: 'registries.rotate', teamId: r.teamId, target: `${input.username ?? r.username}@${r.server}` }, async () => {
      await teamOf(ctx, r.teamId, 'admin');
      await ctx.prisma.registry.update({ where: { id: r.id }, data: { secret: sealSecret(r.teamId, r.server, input.secret), ...(input.username ? { username: input.username } : {}), updatedAt: new Date() } });
      return { ok: true as const };
    });
  }),

  remove: authedProcedure.input(z.object({ registryId: z.string().min(1).max(100) })).mutation(async ({ ctx, input }) => {
    const r = await row(ctx, input.registryId);
    return audited(ctx, { action: 'registries.remove', teamId: r.teamId, target: `${r.username}@${r.server}` }, async () => {
      await teamOf(ctx, r.teamId, 'admin');
      await ctx.prisma.registry.delete({ where: { id: r.id } });
      return { ok: true as const };
    });
  }),
});
