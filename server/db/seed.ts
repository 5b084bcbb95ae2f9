// Rows that must exist from the first boot.
import type { PrismaClient } from '../../generated/prisma/client';

export const DEFAULT_TEAM = 'Default';

export async function ensureDefaultTeam(prisma: PrismaClient): Promise<string> {
  try {
    const team = await prisma.team.upsert({ where: { name: DEFAULT_TEAM }, update: {}, create: { name: DEFAULT_TEAM } });
    return team.id;
  } catch (err) {
    // Prisma's upsert is a read, then a write: replicas starting together on one
    // PostgreSQL both read nothing, and the slower one's insert fails on the name.
    if ((err as { code?: string }).code !== 'P2002') throw err;
    return (await prisma.team.findUniqueOrThrow({ where: { name: DEFAULT_TEAM } })).id;
  }
}
