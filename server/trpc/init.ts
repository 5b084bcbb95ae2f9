// tRPC setup: context from the next-auth session cookie, and the procedure kinds.
import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { sessionFromCookieHeader } from '../auth/session';
import { db } from '../db';
import { CLIENT_ADDRESS_HEADER } from '../http/client-address';
import { originAllowed } from '../http/origin';
import { agentHub } from '../hub/agents';

export async function createContext(req: Request) {
  const session = await sessionFromCookieHeader(req.headers.get('cookie'));
  return {
    user: session?.user ?? null,
    sessionId: session?.sessionId ?? null,
    prisma: db(),
    hub: agentHub(),
    origin: req.headers.get('origin'),
    host: req.headers.get('host'),
    /** Where the request came from, for the audit log: the custom server sets this header, overwriting a client's. */
    address: req.headers.get(CLIENT_ADDRESS_HEADER),
  };
}

export type Context = Awaited<ReturnType<typeof createContext>>;

interface Issue {
  path: PropertyKey[];
  message: string;
}

/** Zod's message is a JSON dump of its issues; people want "email: Invalid email address". */
function inputProblems(cause: unknown): string | null {
  const issues = (cause as { issues?: Issue[] } | undefined)?.issues;
  if (!Array.isArray(issues) || !issues.length) return null;
  return issues.map((i) => (i.path?.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const problems = error.code === 'BAD_REQUEST' ? inputProblems(error.cause) : null;
    return problems ? { ...shape, message: problems } : shape;
  },
});

export const router = t.router;

/**
 * A page on another origin must not act with our user's cookie, nor set up the first
 * account of a fresh install. The same rule as the socket.io handshake's; browsers
 * send Origin with every POST, clients that are not browsers send none.
 */
const sameOriginMutations = t.middleware(({ ctx, type, next }) => {
  if (type === 'mutation' && !originAllowed(ctx.origin, ctx.host)) {
    throw new TRPCError({ code: 'FORBIDDEN', message: `refused: a request from ${ctx.origin?.slice(0, 200)} (another site) cannot change anything here` });
  }
  return next();
});

export const publicProcedure = t.procedure.use(sameOriginMutations);

/** Signed in, whatever the state of the password: the account procedures that change it. */
export const sessionProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user || !ctx.sessionId) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'sign in first' });
  return next({ ctx: { ...ctx, user: ctx.user, sessionId: ctx.sessionId } });
});

/** Signed in with a password of one's own: after an admin's reset, nothing until a new one is chosen. */
export const authedProcedure = sessionProcedure.use(({ ctx, next }) => {
  if (ctx.user.mustChangePassword) throw new TRPCError({ code: 'FORBIDDEN', message: 'choose a new password first (an admin reset yours): Account → Password' });
  return next();
});

export type AuthedContext = Context & { user: NonNullable<Context['user']>; sessionId: string };
