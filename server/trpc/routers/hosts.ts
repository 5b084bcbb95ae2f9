import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { hasRole, type Role } from '../../../protocol/roles';
import { hashSecret, newSecret } from '../../auth/tokens';
import { publicUrl } from '../../db/config';
import { audited, host, hostMutation } from '../host-ops';
import { authedProcedure, router } from '../init';

const hostId = z.string().min(1).max(100);

export const JOIN_TOKEN_TTL_MS = 60 * 60 * 1000;

/** The line an admin pastes on the new host, in a checkout of Berth (bin/berth-agent leaves only node running). */
export function agentCommandLine(server: string, token: string): string {
  return `bin/berth-agent --root /var/lib/berth --docker-socket /run/berth/docker.sock --server ${server} --token ${token}`;
}

export const hostsRouter = router({
  list: authedProcedure.query(async ({ ctx }) => {
    const rows = await ctx.prisma.host.findMany({
      where: { revokedAt: null, team: { memberships: { some: { userId: ctx.user.id } } } },
      orderBy: { createdAt: 'asc' },
    });
    return rows.map((r) => ctx.hub.view(r));
  }),

  get: authedProcedure.input(z.object({ hostId })).query(async ({ ctx, input }) => {
    const { host: h, role } = await host(ctx, input.hostId, 'viewer');
    return { ...ctx.hub.view(h), role };
  }),

  createJoinToken: authedProcedure
    .input(z.object({ name: z.string().trim().min(1).max(100), teamId: z.string().min(1).max(100).optional() }))
    .mutation(({ ctx, input }) =>
      audited(ctx, { action: 'hosts.createJoinToken', target: input.name }, async (entry) => {
        const memberships = await ctx.prisma.membership.findMany({ where: { userId: ctx.user.id }, orderBy: { createdAt: 'asc' } });
        const pick = input.teamId ? memberships.find((m) => m.teamId === input.teamId) : memberships.find((m) => hasRole(m.role, 'admin'));
        if (input.teamId && !pick) throw new TRPCError({ code: 'NOT_FOUND', message: `No such team: ${input.teamId}` });
        if (!pick || !hasRole(pick.role as Role, 'admin')) {
          throw new TRPCError({ code: 'FORBIDDEN', message: 'only an owner or admin can add hosts' });
        }
        entry.teamId = pick.teamId;
        const token = newSecret('bjt');
        const expiresAt = new Date(Date.now() + JOIN_TOKEN_TTL_MS);
        await ctx.prisma.joinToken.create({
          data: { tokenHash: hashSecret(token), teamId: pick.teamId, name: input.name, expiresAt, createdById: ctx.user.id },
        });
        const server = publicUrl();
        return { token, expiresAt: expiresAt.toISOString(), server, command: agentCommandLine(server, token) };
      }),
    ),

  revoke: authedProcedure.input(z.object({ hostId })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'admin', { action: 'hosts.revoke', target: input.hostId }, async () => {
      const row = await ctx.prisma.host.update({ where: { id: input.hostId }, data: { revokedAt: new Date() } });
      ctx.hub.disconnect(row.id);
      ctx.hub.notifyTeam(row.teamId);
      return { ok: true as const };
    }),
  ),
});
