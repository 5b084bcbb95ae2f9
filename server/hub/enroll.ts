// Trades a single-use join token for a host and its long-lived credential.
import type { EnrollResponse } from '../../protocol/agent-link';
import { hashSecret, newSecret } from '../auth/tokens';
import type { PrismaClient } from '../db';

export class EnrollError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnrollError';
  }
}

export async function enroll(prisma: PrismaClient, token: string, hostname: string): Promise<EnrollResponse & { teamId: string }> {
  const credential = newSecret('bhc');
  const now = new Date();
  return prisma.$transaction(async (tx) => {
    const jt = await tx.joinToken.findUnique({ where: { tokenHash: hashSecret(token) } });
    if (!jt) throw new EnrollError('join token not recognised: create a new one in the dashboard (Hosts → Add host)');
    if (jt.usedAt) throw new EnrollError('join token was used already: each token enrols one host; create a new one');
    if (jt.expiresAt <= now) throw new EnrollError(`join token expired at ${jt.expiresAt.toISOString()}; create a new one`);
    // Conditional update: of two agents racing with one token, exactly one wins.
    const claimed = await tx.joinToken.updateMany({ where: { id: jt.id, usedAt: null }, data: { usedAt: now } });
    if (claimed.count !== 1) throw new EnrollError('join token was used already: each token enrols one host; create a new one');
    const host = await tx.host.create({
      data: { teamId: jt.teamId, name: jt.name || hostname, hostname, credentialHash: hashSecret(credential), lastSeen: now },
    });
    await tx.joinToken.update({ where: { id: jt.id }, data: { hostId: host.id } });
    await tx.auditLog.create({
      data: { userId: jt.createdById, teamId: jt.teamId, hostId: host.id, action: 'hosts.enroll', target: hostname, result: 'ok' },
    });
    return { hostId: host.id, credential, teamId: jt.teamId };
  });
}
