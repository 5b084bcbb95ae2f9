// Resolves a host for a user and checks the user's role in the team that owns it.
// Plain errors (not TRPCError) because the socket hub uses this too.
import { db } from '../db';
import { accessTo, type Role } from '../../protocol/roles';

export class AccessError extends Error {
  constructor(
    readonly kind: 'not-found' | 'forbidden',
    message: string,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

export async function teamRole(userId: string, teamId: string): Promise<Role | null> {
  const m = await db().membership.findUnique({ where: { userId_teamId: { userId, teamId } } });
  return (m?.role as Role | undefined) ?? null;
}

/** The (not revoked) host with the caller's role in its team; a stranger gets "No such host", like a missing one. */
export async function hostFor(userId: string, hostId: string, min: Role) {
  const host = await db().host.findUnique({ where: { id: hostId } });
  const role = host && !host.revokedAt ? await teamRole(userId, host.teamId) : null;
  const access = accessTo(role, min);
  if (!host || access === 'none') throw new AccessError('not-found', `No such host: ${hostId}`);
  if (access === 'forbidden') throw new AccessError('forbidden', `The ${role} role cannot do this; ${min} or above is needed`);
  return { host, role: role as Role };
}
