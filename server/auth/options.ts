// next-auth configuration: email + password against our User table, and the outside
// providers the environment configures (./external-*), JWT sessions naming our Session
// rows, sign-in back-off for passwords (./throttle) and an audit row for every attempt.
import type { NextAuthOptions } from 'next-auth';
import CredentialsProvider from 'next-auth/providers/credentials';
import type { PrismaClient } from '../../generated/prisma/client';
import { authSecret } from '../db/config';
import { db } from '../db';
import { addressKey } from '../http/client-address';
import { hashPassword, verifyPassword } from './password';
import { SESSION_MAX_AGE_S, createSession } from './sessions';
import { externalConfig, providerName } from './external-config';
import { externalProviders, personFromProfile } from './external-providers';
import { ExternalSignInRefused, provisionExternal, type Provisioned } from './external-users';
import { auditSignIn, type KnownUser } from './sign-in-audit';
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
  await auditSignIn(prisma, known, email, address, !user ? 'error: no account with this email' : user.passwordHash ? 'error: wrong password' : 'error: this account has no password (it signs in with OpenID Connect or GitHub)');
  return null;
}

/** What went wrong in an outside sign-in, for the audit row: the underlying error's message (openid-client's "aud mismatch, expected …"). */
function failureText(metadata: unknown): string {
  const m = metadata as { error?: unknown; error_description?: unknown; message?: unknown } | undefined;
  const err = (m && typeof m === 'object' && 'error' in m ? m.error : m) as { message?: unknown } | undefined;
  const message = typeof err?.message === 'string' ? err.message : String(err ?? 'unknown error');
  const description = typeof m?.error_description === 'string' ? `: ${m.error_description}` : '';
  return `${message}${description}`.replace(/\s+/g, ' ').slice(0, 500);
}

/**
 * `callbackProvider` is the provider id of a /api/auth/callback/<id> request, so a callback
 * that fails before next-auth names its provider is still audited with it.
 */
export function authOptions(clientAddress: string, userAgent = '', callbackProvider?: string): NextAuthOptions {
  const external = externalConfig();
  const prisma = () => db();
  // From the signIn callback to the jwt callback of the same request (options are made per request).
  const signedIn = new Map<string, Provisioned>();
  return {
    secret: authSecret(),
    session: { strategy: 'jwt', maxAge: SESSION_MAX_AGE_S },
    // Errors land on the login page too (?error=CODE), which says in words what happened.
    pages: { signIn: '/login', error: '/login' },
    logger: {
      error(code, metadata) {
        console.error(`next-auth ${code}: ${failureText(metadata)}`);
        // A callback the provider or next-auth refused (bad signature, wrong audience, expired, replayed state …):
        // next-auth sends the browser to ?error=OAuthCallback; the audit row keeps the reason.
        // OAUTH_CALLBACK_HANDLER_ERROR with a providerId is the provider's own ?error=…, which OAUTH_CALLBACK_ERROR reports next;
        // without one it is a failure after the provider's answer was accepted (the session could not be written, say).
        const handlerFailure = code === 'OAUTH_CALLBACK_HANDLER_ERROR' && !(metadata && typeof metadata === 'object' && 'providerId' in metadata);
        if (code === 'OAUTH_CALLBACK_ERROR' || handlerFailure) {
          const id = (metadata as { providerId?: string } | undefined)?.providerId ?? callbackProvider;
          void auditSignIn(prisma(), null, '(identity not verified)', clientAddress, `error: ${failureText(metadata)}`, providerName(external, id));
        }
      },
      warn(code) {
        console.warn(`next-auth warning ${code}`);
      },
      debug() {},
    },
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
      ...externalProviders(external),
    ],
    callbacks: {
      /** An outside sign-in, its ID token checked already: the Berth user for it, made or linked on the first one. */
      async signIn({ account, profile }) {
        if (!account || account.provider === 'credentials') return true;
        const via = providerName(external, account.provider);
        const person = personFromProfile(account.provider, profile, external);
        if (!person) {
          await auditSignIn(prisma(), null, '(unknown)', clientAddress, `error: ${via} is not configured`, via);
          throw new Error('BerthNotConfigured');
        }
        try {
          const map = account.provider === 'oidc' ? (external.oidc?.teamMap ?? []) : [];
          const p = await provisionExternal(prisma(), person, map);
          signedIn.set(`${account.provider}\0${person.subject}`, p);
          return true;
        } catch (err) {
          if (err instanceof ExternalSignInRefused) {
            await auditSignIn(prisma(), null, person.email ?? '(no email)', clientAddress, `error: ${err.message}`, via);
            throw new Error(err.code);
          }
          await auditSignIn(prisma(), null, person.email ?? '(no email)', clientAddress, `error: ${(err as Error).message}`, via);
          console.error(`sign-in with ${via}: ${(err as Error).stack ?? err}`);
          // The message would travel in the URL; the page has its own words for this code.
          throw new Error('Callback');
        }
      },
      async jwt({ token, user, account }) {
        // A sign-in: the JWT names a session row, which revocation can end (./sessions).
        if (user && account && account.provider !== 'credentials') {
          const p = signedIn.get(`${account.provider}\0${account.providerAccountId}`);
          if (!p) throw new Error(`sign-in with ${account.provider}: no provisioned user for this identity`);
          token.sub = p.userId;
          token.sid = await createSession(p.userId, clientAddress, userAgent);
          const notes = [p.how === 'created' ? 'new account' : p.how === 'linked' ? 'linked to the account with this email' : null, p.joined.length ? `joined ${p.joined.join(', ')}` : null, p.missingTeams.length ? `mapped teams missing in Berth: ${p.missingTeams.join(', ')}` : null].filter(Boolean);
          await auditSignIn(prisma(), { id: p.userId, email: p.email, name: p.name }, p.email, clientAddress, 'ok', providerName(external, account.provider), notes.join('; '));
        } else if (user) {
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
