// Resolves a host for a user and checks the user's role in the team that owns it, and
// the narrowing of that role to some hosts. Plain errors (not TRPCError) because the
// socket hub uses this too.
import type { PrismaClient } from '../../generated/prisma/client';
import { db } from '../db';
import { accessTo, isRole, type Role } from '../../protocol/roles';

export class AccessError extends Error {
  constructor(
    readonly kind: 'not-found' | 'forbidden',
    message: string,
  ) {
    super(message);
    this.name = 'AccessError';
  }
}

export interface Member {
  membershipId: string;
  teamId: string;
  role: Role;
  /** The hosts a narrowed membership may see; null: every host of the team. */
  hostIds: Set<string> | null;
}

/** The user's membership in the team, with its narrowing; null for a stranger (or an unknown role). */
export async function member(userId: string, teamId: string, prisma: PrismaClient = db()): Promise<Member | null> {
  const m = await prisma.membership.findUnique({ where: { userId_teamId: { userId, teamId } }, include: { hosts: { select: { hostId: true } } } });
  if (!m || !isRole(m.role)) return null;
  return { membershipId: m.id, teamId, role: m.role, hostIds: m.narrowed ? new Set(m.hosts.map((h) => h.hostId)) : null };
}

export async function teamRole(userId: string, teamId: string): Promise<Role | null> {
  return (await member(userId, teamId))?.role ?? null;
}

/** True when the member may see the host (a narrowed role sees only its hosts). */
export function seesHost(m: Member | null, hostId: string): boolean {
  return !!m && (m.hostIds === null || m.hostIds.has(hostId));
}

/** The user's role on one host: their team role, or null when they are not in its team or narrowed away from it. */
export async function hostRole(userId: string, host: { id: string; teamId: string }, prisma: PrismaClient = db()): Promise<Role | null> {
  const m = await member(userId, host.teamId, prisma);
  return seesHost(m, host.id) ? m!.role : null;
}

/** The (not revoked) host with the caller's role in its team; a stranger, or a member narrowed to other hosts, gets "No such host", like a missing one. */
export async function hostFor(userId: string, hostId: string, min: Role) {
  const host = await db().host.findUnique({ where: { id: hostId } });
  const role = host && !host.revokedAt ? await hostRole(userId, host) : null;
  const access = accessTo(role, min);
  if (!host || access === 'none') throw new AccessError('not-found', `No such host: ${hostId}`);
  if (access === 'forbidden') throw new AccessError('forbidden', `The ${role} role cannot do this; ${min} or above is needed`);
  return { host, role: role as Role };
}

/** Prisma's filter for the hosts of `teamId` the user may see (none for a stranger). */
export async function visibleHostsWhere(userId: string, teamId: string | null, prisma: PrismaClient = db()) {
  const m = teamId ? await member(userId, teamId, prisma) : null;
  if (!m) return { id: { in: [] as string[] } };
  return { teamId: m.teamId, revokedAt: null, ...(m.hostIds ? { id: { in: [...m.hostIds] } } : {}) };
}
