import type { EnrollRequest } from '../../../../protocol/agent-link';
import { db } from '../../../../server/db';
import { agentHub } from '../../../../server/hub/agents';
import { enroll, EnrollError } from '../../../../server/hub/enroll';

export const dynamic = 'force-dynamic';

export async function POST(req: Request) {
  let body: Partial<EnrollRequest>;
  try {
    body = (await req.json()) as Partial<EnrollRequest>;
  } catch {
    return Response.json({ error: 'body must be JSON: { "token": "…", "hostname": "…" }' }, { status: 400 });
  }
  const token = typeof body?.token === 'string' ? body.token.trim() : '';
  const hostname = typeof body?.hostname === 'string' ? body.hostname.trim().slice(0, 255) : '';
  if (!token || !hostname) return Response.json({ error: 'token and hostname are required' }, { status: 400 });
  try {
    const { hostId, credential, teamId } = await enroll(db(), token, hostname);
    agentHub().notifyTeam(teamId);
    return Response.json({ hostId, credential });
  } catch (err) {
    if (err instanceof EnrollError) return Response.json({ error: err.message }, { status: 401 });
    console.error(`enroll: ${(err as Error).stack ?? err}`);
    return Response.json({ error: 'enrolment failed on the server' }, { status: 500 });
  }
}
