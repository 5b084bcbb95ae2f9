import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { hasRole } from '../../../protocol/roles';
import { member, visibleHostsWhere } from '../../auth/access';
import { accessChanged } from '../../auth/sessions';
import { hashSecret, newSecret } from '../../auth/tokens';
import { publicUrl } from '../../db/config';
import { serverTls } from '../../http/tls';
import { RotationError, rotateCredential } from '../../hub/rotate';
import { audited, host, hostMutation, writeAudit } from '../host-ops';
import { authedProcedure, router } from '../init';
import { teamOf } from '../team-scope';
import { parseLabels } from '../../hub/fleet';
import { keyValueLines } from './volumes';

/** Labels one host may have. */
const HOST_LABELS_MAX = 50;

const hostId = z.string().min(1).max(100);

export const JOIN_TOKEN_TTL_MS = 60 * 60 * 1000;

/**
 * The line an admin pastes on the new host, in a checkout of Berth (bin/berth-agent leaves only
 * node running). Under TLS it pins this server's certificate, so the agent trusts exactly it.
 */
export function agentCommandLine(server: string, token: string, fingerprint?: string): string {
  const pin = fingerprint && server.startsWith('https:') ? ` --server-fingerprint ${fingerprint}` : '';
  return `bin/berth-agent --root /var/lib/berth --docker-socket /run/berth/docker.sock --server ${server}${pin} --token ${token}`;
}

export const hostsRouter = router({
  /** The hosts of the current team the caller may see (a narrowed role: only its hosts). */
  list: authedProcedure.query(async ({ ctx }) => {
    const team = await teamOf(ctx, undefined, 'viewer').catch(() => null);
    if (!team) return [];
    const rows = await ctx.prisma.host.findMany({ where: await visibleHostsWhere(ctx.user.id, team.id, ctx.prisma), orderBy: { createdAt: 'asc' } });
    return rows.map((r) => ctx.hub.view(r));
  }),

  /** The hosts page's rows: each host's facts and counts without its containers and images,
   *  which made the whole list grow with the fleet (8.8 MB for 300 simulated hosts, bench/fleet.ts). */
  overview: authedProcedure.query(async ({ ctx }) => {
    const team = await teamOf(ctx, undefined, 'viewer').catch(() => null);
    if (!team) return [];
    const rows = await ctx.prisma.host.findMany({ where: await visibleHostsWhere(ctx.user.id, team.id, ctx.prisma), orderBy: { createdAt: 'asc' } });
    return rows.map((r) => {
      const { containers: _containers, images: _images, ...rest } = ctx.hub.view(r);
      return rest;
    });
  }),

  get: authedProcedure.input(z.object({ hostId })).query(async ({ ctx, input }) => {
    const { host: h, role } = await host(ctx, input.hostId, 'viewer');
    return { ...ctx.hub.view(h), role, labels: parseLabels(h.labels) };
  }),

  /** The host's labels, one key=value per line (the fleet overview filters by them); replaces the ones it had. */
  setLabels: authedProcedure.input(z.object({ hostId, labels: z.string().max(8192) })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'admin', { action: 'hosts.setLabels', target: input.labels.trim().split('\n').map((l) => l.trim()).filter(Boolean).join(', ').slice(0, 500) || '(none)' }, async () => {
      const labels = keyValueLines(input.labels, 'labels') ?? {};
      if (Object.keys(labels).length > HOST_LABELS_MAX) throw new TRPCError({ code: 'BAD_REQUEST', message: `labels: at most ${HOST_LABELS_MAX}` });
      for (const [k, v] of Object.entries(labels)) {
        if (k.length > 100 || v.length > 200) throw new TRPCError({ code: 'BAD_REQUEST', message: `labels: ${k.slice(0, 100)}: a key has at most 100 characters and a value 200` });
      }
      const row = await ctx.prisma.host.update({ where: { id: input.hostId }, data: { labels: Object.keys(labels).length ? JSON.stringify(labels) : null } });
      ctx.hub.notifyTeam(row.teamId);
      return { labels };
    }),
  ),

  createJoinToken: authedProcedure
    .input(z.object({ name: z.string().trim().min(1).max(100), teamId: z.string().min(1).max(100).optional() }))
    .mutation(({ ctx, input }) =>
      audited(ctx, { action: 'hosts.createJoinToken', target: input.name }, async (entry) => {
        // The named team, or the one this browser works in.
        const team = await teamOf(ctx, input.teamId, 'viewer');
        entry.teamId = team.id;
        if (!hasRole(team.role, 'admin')) throw new TRPCError({ code: 'FORBIDDEN', message: 'only an owner or admin can add hosts' });
        const token = newSecret('bjt');
        const expiresAt = new Date(Date.now() + JOIN_TOKEN_TTL_MS);
        await ctx.prisma.joinToken.create({
          data: { tokenHash: hashSecret(token), teamId: team.id, name: input.name, expiresAt, createdById: ctx.user.id },
        });
        const server = publicUrl();
        const fingerprint = serverTls()?.fingerprint;
        return { token, expiresAt: expiresAt.toISOString(), server, ...(fingerprint ? { fingerprint } : {}), command: agentCommandLine(server, token, fingerprint) };
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

  /** A new credential for the host over its live link; the old one is refused once the agent has stored the new one (server/hub/rotate.ts). */
  rotateCredential: authedProcedure.input(z.object({ hostId })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'admin', { action: 'hosts.rotateCredential', target: input.hostId }, async () => {
      try {
        await rotateCredential(ctx.prisma, ctx.hub, input.hostId);
      } catch (err) {
        if (!(err instanceof RotationError)) throw err;
        throw new TRPCError({ code: err.kind === 'offline' || err.kind === 'busy' ? 'PRECONDITION_FAILED' : err.kind === 'unconfirmed' ? 'TIMEOUT' : 'INTERNAL_SERVER_ERROR', message: err.message });
      }
      return { ok: true as const };
    }),
  ),

  /**
   * Moves a host to another team: the caller must be an admin of both. Members of the old
   * team lose it at once (their open sockets are checked again); narrowings to it end.
   * One audit row in each team.
   */
  move: authedProcedure.input(z.object({ hostId, teamId: z.string().min(1).max(100) })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'admin', { action: 'hosts.move', target: `${input.hostId} → team ${input.teamId}` }, async () => {
      const row = await ctx.prisma.host.findUniqueOrThrow({ where: { id: input.hostId } });
      if (row.teamId === input.teamId) throw new TRPCError({ code: 'BAD_REQUEST', message: 'teamId: the host is in that team already' });
      const there = await member(ctx.user.id, input.teamId, ctx.prisma);
      if (!there) throw new TRPCError({ code: 'NOT_FOUND', message: `No such team: ${input.teamId}` });
      if (!hasRole(there.role, 'admin')) throw new TRPCError({ code: 'FORBIDDEN', message: `you are ${there.role} in the other team; moving a host there needs admin in both` });
      const oldMembers = (await ctx.prisma.membership.findMany({ where: { teamId: row.teamId }, select: { userId: true } })).map((m) => m.userId);
      await ctx.prisma.$transaction([
        ctx.prisma.membershipHost.deleteMany({ where: { hostId: row.id } }),
        ctx.prisma.host.update({ where: { id: row.id }, data: { teamId: input.teamId } }),
      ]);
      await writeAudit(ctx, { action: 'hosts.moveIn', teamId: input.teamId, hostId: row.id, target: `${row.name} from team ${row.teamId}` }, 'ok');
      for (const u of oldMembers) accessChanged(u);
      ctx.hub.notifyTeam(row.teamId);
      ctx.hub.notifyTeam(input.teamId);
      return { ok: true as const };
    }),
  ),
});
