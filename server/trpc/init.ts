// tRPC setup: context from the next-auth session cookie, and the procedure kinds.
import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { userIdFromCookieHeader } from '../auth/session';
import { db } from '../db';
import { agentHub } from '../hub/agents';

export async function createContext(req: Request) {
  const userId = await userIdFromCookieHeader(req.headers.get('cookie'));
  const user = userId ? await db().user.findUnique({ where: { id: userId }, select: { id: true, email: true, name: true } }) : null;
  return { user, prisma: db(), hub: agentHub() };
}

export type Context = Awaited<ReturnType<typeof createContext>>;

const t = initTRPC.context<Context>().create({ transformer: superjson });

export const router = t.router;
export const publicProcedure = t.procedure;

export const authedProcedure = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'sign in first' });
  return next({ ctx: { ...ctx, user: ctx.user } });
});

export type AuthedContext = Context & { user: NonNullable<Context['user']> };
