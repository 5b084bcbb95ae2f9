// Rows that must exist from the first boot.
import type { PrismaClient } from '../../generated/prisma/client';

export const DEFAULT_TEAM = 'Default';

export async function ensureDefaultTeam(prisma: PrismaClient): Promise<string> {
  const team = await prisma.team.upsert({ where: { name: DEFAULT_TEAM }, update: {}, create: { name: DEFAULT_TEAM } });
  return team.id;
}
