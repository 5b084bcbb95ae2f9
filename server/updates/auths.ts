// The team's registry logins for the registries some image references name, by registry
// host: what an agent's update checks take (protocol/agent-link.ts updates.status).
import type { PrismaClient } from '../../generated/prisma/client';
import { open } from '../auth/secret-box';
import { referenceRegistry, sealAad } from '../registries';

export async function teamAuths(prisma: PrismaClient, teamId: string, refs: string[]): Promise<Record<string, { username: string; password: string }>> {
  const domains = [...new Set(refs.map(referenceRegistry))];
  if (!domains.length) return {};
  const rows = await prisma.registry.findMany({ where: { teamId, server: { in: domains } } });
  return Object.fromEntries(rows.map((r) => [r.server, { username: r.username, password: open(r.secret, sealAad(teamId, r.server)) }]));
}
