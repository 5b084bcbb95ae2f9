// next-auth configuration: email + password against our User table, JWT sessions.
import type { NextAuthOptions } from 'next-auth';
import CredentialsProvider from 'next-auth/providers/credentials';
import { authSecret } from '../db/config';
import { db } from '../db';
import { hashPassword, verifyPassword } from './password';

// Verifying against a throwaway hash when the email is unknown keeps the answer time
// the same, so sign-in cannot be used to find out which emails have accounts.
let decoy: Promise<string> | undefined;

export async function checkCredentials(email: string, password: string) {
  const user = await db().user.findUnique({ where: { email: email.trim().toLowerCase() } });
  if (!user) {
    decoy ??= hashPassword('decoy password that matches nothing');
    await verifyPassword(password, await decoy);
    return null;
  }
  return (await verifyPassword(password, user.passwordHash)) ? user : null;
}

export function authOptions(): NextAuthOptions {
  return {
    secret: authSecret(),
    session: { strategy: 'jwt', maxAge: 7 * 24 * 3600 },
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
          const user = await checkCredentials(email, password);
          return user ? { id: user.id, email: user.email, name: user.name } : null;
        },
      }),
    ],
    callbacks: {
      jwt({ token, user }) {
        if (user) token.sub = user.id;
        return token;
      },
      session({ session, token }) {
        if (session.user && token.sub) (session.user as { id?: string }).id = token.sub;
        return session;
      },
    },
  };
}
