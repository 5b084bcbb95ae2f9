import NextAuth from 'next-auth';
import { authOptions } from '../../../../server/auth/options';

export const dynamic = 'force-dynamic';

// Options are built per request: the secret may come from a file the server writes at start.
type Ctx = { params: Promise<{ nextauth: string[] }> };
function handler(req: Request, ctx: Ctx) {
  return NextAuth(req as never, ctx as never, authOptions());
}

export { handler as GET, handler as POST };
