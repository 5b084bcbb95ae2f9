import NextAuth from 'next-auth';
import { authOptions } from '../../../../server/auth/options';
import { CLIENT_ADDRESS_HEADER } from '../../../../server/http/client-address';

export const dynamic = 'force-dynamic';

// Options are built per request: the secret may come from a file the server writes at
// start, and the sign-in back-off needs the client's address, which the custom server
// (server/main.ts) puts in a header of its own on every request.
type Ctx = { params: Promise<{ nextauth: string[] }> };
async function handler(req: Request, ctx: Ctx) {
  const [action, provider] = (await ctx.params).nextauth ?? [];
  return NextAuth(req as never, ctx as never, authOptions(req.headers.get(CLIENT_ADDRESS_HEADER) ?? 'unknown', req.headers.get('user-agent') ?? '', action === 'callback' ? provider : undefined));
}

export { handler as GET, handler as POST };
