// next-auth configuration: email + password against our User table, JWT sessions,
// sign-in back-off (./throttle) and an audit row for every sign-in attempt.
import type { NextAuthOptions } from 'next-auth';
import CredentialsProvider from 'next-auth/providers/credentials';
import type { PrismaClient } from '../../generated/prisma/client';
import { authSecret } from '../db/config';
import { db } from '../db';
import { addressKey } from '../http/client-address';
import { hashPassword, verifyPassword } from './password';
import { SESSION_MAX_AGE_S, createSession } from './sessions';
import { SignInThrottle, accountKey, addressThrottleKey } from './throttle';

/** What a throttled sign-in says; the login page shows it as it is. */
export class SignInThrottled extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`Too many failed sign-ins. Try again in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s.`);
    this.name = 'SignInThrottled';
  }
}

// Verifying against a throwaway hash when the email is unknown keeps the answer time
// the same, so sign-in cannot be used to find out which emails have accounts.
let decoy: Promise<string> | undefined;

export interface SignInDeps {
  prisma: PrismaClient;
  throttle: SignInThrottle;
  verify: (password: string, stored: string) => Promise<boolean>;
}

function defaultDeps(): SignInDeps {
  const prisma = db();
  return { prisma, throttle: new SignInThrottle(prisma), verify: verifyPassword };
}

type KnownUser = { id: string; email: string; name: string };

/**
 * Audit rows for a sign-in attempt. The audit page shows a team's rows to its admins,
 * so an attempt on a known account gets one row per team of that user: each team's
 * admins see their member's sign-ins, failures and lock-outs, and no other team does.
 * An attempt on an email nobody has gets one row with no team: it belongs to no team
 * (listing it to every team's admins would show them what strangers typed), and stays
 * in the table for whoever runs the server.
 */
async function auditSignIn(prisma: PrismaClient, user: KnownUser | null, email: string, address: string, result: string): Promise<void> {
  try {
    const teams = user ? await prisma.membership.findMany({ where: { userId: user.id }, select: { teamId: true } }) : [];
    const target = `${email} from ${address}`.slice(0, 400);
    const rows = (teams.length ? teams.map((t) => t.teamId) : [null]).map((teamId) => ({ userId: user?.id ?? null, teamId, action: 'auth.signin', target, result, address: address.slice(0, 100) }));
    await prisma.auditLog.createMany({ data: rows });
  } catch (err) {
    console.error(`audit auth.signin: cannot write: ${(err as Error).message}`);
  }
}

/**
 * The user for a right email and password, null for a wrong one; throws SignInThrottled
 * without checking anything when the account or the address has to wait.
 */
export async function checkCredentials(emailInput: string, password: string, address: string, deps: SignInDeps = defaultDeps()) {
  const email = emailInput.trim().toLowerCase();
  const { prisma, throttle, verify } = deps;
  const keys = { account: accountKey(email), address: addressThrottleKey(addressKey(address)) };
  const user = await prisma.user.findUnique({ where: { email } });
  const known: KnownUser | null = user && { id: user.id, email: user.email, name: user.name };

  const admission = await throttle.admit([keys.account, keys.address]);
  if (!admission.admitted) {
    if (admission.firstInBlock) {
      const which = admission.key === keys.account.key ? 'this account' : 'this address';
      await auditSignIn(prisma, known, email, address, `error: throttled: too many failed sign-ins for ${which}; refused for ${Math.ceil(admission.retryAfterMs / 1000)} s`);
    }
    throw new SignInThrottled(admission.retryAfterMs);
  }

  let ok: boolean;
  if (!user) {
    decoy ??= hashPassword('decoy password that matches nothing');
    await verify(password, await decoy);
    ok = false;
  } else {
    ok = await verify(password, user.passwordHash);
  }
  if (ok) {
    await throttle.succeeded(keys.account, keys.address);
    await auditSignIn(prisma, known, email, address, 'ok');
    return user;
  }
  await throttle.failed([keys.account, keys.address]);
  await auditSignIn(prisma, known, email, address, user ? 'error: wrong password' : 'error: no account with this email');
  return null;
}

export function authOptions(clientAddress: string, userAgent = ''): NextAuthOptions {
  return {
    secret: authSecret(),
    session: { strategy: 'jwt', maxAge: SESSION_MAX_AGE_S },
    pages: { signIn: '/login' },
    providers: [
      CredentialsProvider({
        name: 'Email',
        credentials: {
          email: { label: 'Email', type: 'email' },
          password: { label: 'Password', type: 'password' },
        },
        async authorize(credentials) {
          const email = credentials?.email;
          const password = credentials?.password;
          if (typeof email !== 'string' || typeof password !== 'string' || !email || !password) return null;
          // Longer than setup ever accepts: no account can match, so nothing to hash or count.
          if (email.length > 320 || password.length > 1024) return null;
          // A thrown error's message reaches the page as signIn()'s `error`.
          const user = await checkCredentials(email, password, clientAddress);
          return user ? { id: user.id, email: user.email, name: user.name } : null;
        },
      }),
    ],
    callbacks: {
      async jwt({ token, user }) {
        // A sign-in: the JWT names a session row, which revocation can end (./sessions).
        if (user) {
          token.sub = user.id;
          token.sid = await createSession(user.id, clientAddress, userAgent);
        }
        return token;
      },
      session({ session, token }) {
        if (session.user && token.sub) (session.user as { id?: string }).id = token.sub;
        return session;
      },
    },
  };
}
