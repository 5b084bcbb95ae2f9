// The audit log as CSV, streamed a page at a time: owners and admins of the team only.
// The query string carries the same filters as the audit page (teamId, userId, hostId,
// action, from, to); the export itself is an audit row.
import { member } from '../../../../server/auth/access';
import { currentTeam } from '../../../../server/auth/current-team';
import { sessionFromCookieHeader } from '../../../../server/auth/session';
import { auditCsv, auditFilterShape, auditWhere } from '../../../../server/audit/query';
import { db } from '../../../../server/db';
import { CLIENT_ADDRESS_HEADER } from '../../../../server/http/client-address';
import { writeAudit } from '../../../../server/trpc/host-ops';
import { hasRole } from '../../../../protocol/roles';

export const dynamic = 'force-dynamic';

const refuse = (status: number, error: string) => Response.json({ error }, { status });

export async function GET(req: Request) {
  const session = await sessionFromCookieHeader(req.headers.get('cookie'));
  if (!session) return refuse(401, 'sign in first');
  if (session.user.mustChangePassword) return refuse(403, 'choose a new password first (an admin reset yours): Account → Password');
  const params = Object.fromEntries(new URL(req.url).searchParams);
  const { teamId: named, ...rest } = params;
  const parsed = auditFilterShape.safeParse(rest);
  if (!parsed.success) return refuse(400, parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
  const prisma = db();
  const teamId = named ?? (await currentTeam(session.userId, session.sessionId, prisma))?.id;
  const m = teamId ? await member(session.userId, teamId, prisma) : null;
  if (!teamId || !m) return refuse(404, `No such team: ${named ?? '(you are in none)'}`);
  if (!hasRole(m.role, 'admin')) return refuse(403, 'only an owner or admin can export the audit log');
  try {
    auditWhere(teamId, parsed.data);
  } catch (err) {
    return refuse(400, (err as Error).message);
  }
  await writeAudit({ prisma, user: { id: session.userId }, address: req.headers.get(CLIENT_ADDRESS_HEADER) }, { action: 'audit.export', teamId, target: new URLSearchParams(rest).toString() || 'everything' }, 'ok');
  const rows = auditCsv(prisma, teamId, parsed.data);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await rows.next();
        if (next.done) controller.close();
        else controller.enqueue(new TextEncoder().encode(next.value));
      } catch (err) {
        console.error(`audit export: ${(err as Error).message}`);
        controller.error(err);
      }
    },
    async cancel() {
      await rows.return(undefined);
    },
  });
  const day = new Date().toISOString().slice(0, 10);
  return new Response(body, { headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="berth-audit-${day}.csv"`, 'cache-control': 'no-store' } });
}
