// The team a procedure works on when the caller names none: the session's current team.
import { TRPCError } from '@trpc/server';
import { currentTeam, type CurrentTeam } from '../auth/current-team';
import { hasRole, type Role } from '../../protocol/roles';
import type { AuthedContext } from './init';

/** The named team, or the session's current one, with the caller's role there at least `min`. */
export async function teamOf(ctx: AuthedContext, teamId: string | undefined, min: Role): Promise<CurrentTeam> {
  let team: CurrentTeam | null;
  if (teamId) {
    const m = await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: ctx.user.id, teamId } }, include: { team: { select: { name: true } } } });
    team = m ? { id: m.teamId, name: m.team.name, role: m.role as Role } : null;
    if (!team) throw new TRPCError({ code: 'NOT_FOUND', message: `No such team: ${teamId}` });
  } else {
    team = await currentTeam(ctx.user.id, ctx.sessionId, ctx.prisma);
    if (!team) throw new TRPCError({ code: 'FORBIDDEN', message: 'you are in no team: ask for an invitation, or create a team' });
  }
  if (!hasRole(team.role, min)) throw new TRPCError({ code: 'FORBIDDEN', message: `The ${team.role} role cannot do this; ${min} or above is needed` });
  return team;
}
