// The team a browser works in: the one its session picked with the header's switcher,
// while the user is still in it; otherwise their first team. Every list (hosts, images,
// audit, registries) and every "add" (join tokens) is of this team.
import type { PrismaClient } from '../../generated/prisma/client';
import { isRole, type Role } from '../../protocol/roles';
import { db } from '../db';

export interface CurrentTeam {
  id: string;
  name: string;
  role: Role;
}

export async function currentTeam(userId: string, sessionId: string | null, prisma: PrismaClient = db()): Promise<CurrentTeam | null> {
  const session = sessionId ? await prisma.session.findUnique({ where: { id: sessionId }, select: { teamId: true } }) : null;
  const rows = await prisma.membership.findMany({ where: { userId }, include: { team: { select: { name: true } } }, orderBy: { createdAt: 'asc' } });
  const usable = rows.filter((m) => isRole(m.role));
  const pick = usable.find((m) => m.teamId === session?.teamId) ?? usable[0];
  return pick ? { id: pick.teamId, name: pick.team.name, role: pick.role as Role } : null;
}

/** Makes `teamId` the session's team and returns the team's name; null when the user is not in it. */
export async function switchTeam(userId: string, sessionId: string, teamId: string, prisma: PrismaClient = db()): Promise<string | null> {
  const m = await prisma.membership.findUnique({ where: { userId_teamId: { userId, teamId } }, include: { team: { select: { name: true } } } });
  if (!m) return null;
  await prisma.session.updateMany({ where: { id: sessionId, userId }, data: { teamId } });
  return m.team.name;
}
