// The auth.signin audit rows, for password and outside-provider sign-ins alike.
import type { PrismaClient } from '../../generated/prisma/client';

export type KnownUser = { id: string; email: string; name: string };

/**
 * Audit rows for a sign-in attempt. The audit page shows a team's rows to its admins,
 * so an attempt on a known account gets one row per team of that user: each team's
 * admins see their member's sign-ins, failures and lock-outs, and no other team does.
 * An attempt on an email nobody has gets one row with no team: it belongs to no team
 * (listing it to every team's admins would show them what strangers typed), and stays
 * in the table for whoever runs the server. `via` names an outside provider, `note` what
 * the sign-in did besides (a new account, teams joined).
 */
export async function auditSignIn(prisma: PrismaClient, user: KnownUser | null, email: string, address: string, result: string, via?: string, note?: string): Promise<void> {
  try {
    const teams = user ? await prisma.membership.findMany({ where: { userId: user.id }, select: { teamId: true } }) : [];
    const target = `${email}${via ? ` via ${via}` : ''} from ${address}${note ? `; ${note}` : ''}`.slice(0, 400);
    const rows = (teams.length ? teams.map((t) => t.teamId) : [null]).map((teamId) => ({ userId: user?.id ?? null, teamId, action: 'auth.signin', target, result: result.slice(0, 1000), address: address.slice(0, 100) }));
    await prisma.auditLog.createMany({ data: rows });
  } catch (err) {
    console.error(`audit auth.signin: cannot write: ${(err as Error).message}`);
  }
}
