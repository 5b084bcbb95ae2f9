// Users who sign in with an outside provider: found by the provider's subject (Identity),
// made on their first sign-in, and placed in teams by the groups claim when a map is set.
import type { PrismaClient } from '../../generated/prisma/client';
import { roleRank } from '../../protocol/roles';
import type { ExternalProviderId, TeamMapping } from './external-config';

/** A person as the provider describes them, checked by next-auth already (signature, issuer, audience, nonce, expiry). */
export interface ExternalPerson {
  provider: ExternalProviderId;
  subject: string;
  email: string | null;
  /** Only true when the provider says so (email_verified, GitHub's verified flag). */
  emailVerified: boolean;
  name: string;
  /** The teams claim's values; null when no claim is configured. */
  groups: string[] | null;
}

/**
 * A refused sign-in. `code` travels to the login page in the URL (it shows its own words
 * for it: a URL must not carry text an attacker could write for the page to show);
 * `message` goes to the audit log.
 */
export class ExternalSignInRefused extends Error {
  constructor(readonly code: 'BerthNoEmail' | 'BerthEmailUnverified' | 'BerthNoSubject', message: string) {
    super(message);
    this.name = 'ExternalSignInRefused';
  }
}

export interface Provisioned {
  userId: string;
  email: string;
  name: string;
  /** 'existing': signed in before with this identity; 'linked': joined to the password account of the same email; 'created': a new account. */
  how: 'existing' | 'linked' | 'created';
  /** Teams this sign-in added, "Team as role". */
  joined: string[];
  /** Mapped teams that do not exist in Berth (skipped, said in the audit row). */
  missingTeams: string[];
}

/** The teams claim as a list: an array of strings, or one string of space- or comma-separated names. */
export function groupsOf(claim: unknown): string[] {
  if (Array.isArray(claim)) return claim.filter((g): g is string => typeof g === 'string');
  if (typeof claim === 'string') return claim.split(/[\s,]+/).filter(Boolean);
  return [];
}

/** What the map gives these groups: each team once, with the highest role any of the groups gives. */
export function mappedTeams(groups: string[], map: TeamMapping[]): Map<string, TeamMapping['role']> {
  const out = new Map<string, TeamMapping['role']>();
  for (const m of map) {
    if (!groups.includes(m.group)) continue;
    const had = out.get(m.team);
    if (!had || roleRank(m.role) > roleRank(had)) out.set(m.team, m.role);
  }
  return out;
}

/**
 * The user for this identity, made or linked on first sign-in. Memberships the map gives
 * are added when missing; ones the user has already are left alone (an admin may have
 * changed the role in Berth since, and a group leaving the claim does not remove anyone:
 * removal is an admin's act in Berth, which ends sessions and sockets at once).
 */
export async function provisionExternal(prisma: PrismaClient, person: ExternalPerson, map: TeamMapping[]): Promise<Provisioned> {
  try {
    return await provisionOnce(prisma, person, map);
  } catch (err) {
    // The same person's first sign-in in two browsers at once: the other made the identity; this one finds it.
    if ((err as { code?: string }).code !== 'P2002') throw err;
    return provisionOnce(prisma, person, map);
  }
}

async function provisionOnce(prisma: PrismaClient, person: ExternalPerson, map: TeamMapping[]): Promise<Provisioned> {
  if (!person.subject) throw new ExternalSignInRefused('BerthNoSubject', 'the provider gave no subject (sub / id) for this person');
  const known = await prisma.identity.findUnique({ where: { provider_subject: { provider: person.provider, subject: person.subject } }, include: { user: true } });
  let user: { id: string; email: string; name: string };
  let how: Provisioned['how'];
  if (known) {
    user = known.user;
    how = 'existing';
    await prisma.identity.update({ where: { id: known.id }, data: { lastSignInAt: new Date(), ...(person.email ? { email: person.email } : {}) } });
  } else {
    if (!person.email) throw new ExternalSignInRefused('BerthNoEmail', 'the provider gave no email address (is the email scope granted?)');
    // An unverified address could be anyone's: it must neither open the account that has it nor take it for a new one.
    if (!person.emailVerified) throw new ExternalSignInRefused('BerthEmailUnverified', `the provider does not say ${person.email} is verified`);
    const email = person.email.toLowerCase();
    const result = await prisma.$transaction(async (tx) => {
      const existing = await tx.user.findUnique({ where: { email } });
      const u = existing ?? (await tx.user.create({ data: { email, name: person.name.slice(0, 100) || email, passwordHash: '' } }));
      await tx.identity.create({ data: { userId: u.id, provider: person.provider, subject: person.subject, email } });
      return { u, how: existing ? ('linked' as const) : ('created' as const) };
    });
    user = result.u;
    how = result.how;
  }

  const joined: string[] = [];
  const missingTeams: string[] = [];
  if (person.groups && map.length) {
    for (const [teamName, role] of mappedTeams(person.groups, map)) {
      const team = await prisma.team.findUnique({ where: { name: teamName } });
      if (!team || team.deletedAt) {
        missingTeams.push(teamName);
        continue;
      }
      const had = await prisma.membership.findUnique({ where: { userId_teamId: { userId: user.id, teamId: team.id } } });
      if (had) continue;
      try {
        await prisma.membership.create({ data: { userId: user.id, teamId: team.id, role } });
        joined.push(`${teamName} as ${role}`);
      } catch (err) {
        // Two sign-ins of the same person at once: the other one added it.
        if ((err as { code?: string }).code !== 'P2002') throw err;
      }
    }
  }
  return { userId: user.id, email: user.email, name: user.name, how, joined, missingTeams };
}
