// Sessions kept in the database, so a cookie can be taken back: a revoked, expired or
// deleted row makes its JWT worthless at once (the JWT alone would live out its maxAge).
// Revocations reach open sockets through the listeners (the UI hub drops them).
import type { PrismaClient } from '../../generated/prisma/client';
import { db } from '../db';
import { berthGlobal } from '../global';

export const SESSION_MAX_AGE_S = 7 * 24 * 3600;
/** lastSeenAt is for people reading the account page: a write a minute per session is plenty. */
const SEEN_EVERY_MS = 60_000;

export interface SessionRef {
  userId: string;
  sessionId: string;
}

type Ended = { userId: string; sessionIds?: string[] };
// tRPC runs in Next's bundle, the socket hub in the custom server's: one set for both.
const listeners = () => berthGlobal('sessionsEnded', () => new Set<(e: Ended) => void>());

/** Called whenever sessions end: all of a user's (sessionIds absent) or the ones named. */
export function onSessionsEnded(fn: (e: Ended) => void): () => void {
  listeners().add(fn);
  return () => listeners().delete(fn);
}

function announce(e: Ended): void {
  for (const fn of listeners()) fn(e);
}

export async function createSession(userId: string, address: string, userAgent: string, prisma: PrismaClient = db()): Promise<string> {
  const s = await prisma.session.create({
    data: { userId, address: address.slice(0, 100), userAgent: userAgent.slice(0, 300), expiresAt: new Date(Date.now() + SESSION_MAX_AGE_S * 1000) },
  });
  return s.id;
}

export interface SessionUser {
  id: string;
  email: string;
  name: string;
  mustChangePassword: boolean;
}

/** The session's user if the session is still good (one query, the user with it); marks it seen now and then. */
export async function liveSession(ref: SessionRef, prisma: PrismaClient = db()): Promise<SessionUser | null> {
  const s = await prisma.session.findUnique({ where: { id: ref.sessionId }, include: { user: { select: { id: true, email: true, name: true, mustChangePassword: true } } } });
  if (!s || s.userId !== ref.userId || s.revokedAt || s.expiresAt.getTime() <= Date.now()) return null;
  if (Date.now() - s.lastSeenAt.getTime() > SEEN_EVERY_MS) {
    await prisma.session.update({ where: { id: s.id }, data: { lastSeenAt: new Date() } }).catch(() => {});
  }
  return s.user;
}

/** Ends one session of the user's; false when it is not theirs or was over already. */
export async function revokeSession(userId: string, sessionId: string, prisma: PrismaClient = db()): Promise<boolean> {
  const r = await prisma.session.updateMany({ where: { id: sessionId, userId, revokedAt: null }, data: { revokedAt: new Date() } });
  if (r.count) announce({ userId, sessionIds: [sessionId] });
  return r.count > 0;
}

/** Ends every session of the user's except `keep`; how many it ended. */
export async function revokeAllSessions(userId: string, keep?: string, prisma: PrismaClient = db()): Promise<number> {
  const where = { userId, revokedAt: null, ...(keep ? { id: { not: keep } } : {}) };
  const ids = (await prisma.session.findMany({ where, select: { id: true } })).map((s) => s.id);
  if (!ids.length) return 0;
  await prisma.session.updateMany({ where: { id: { in: ids } }, data: { revokedAt: new Date() } });
  announce({ userId, sessionIds: ids });
  return ids.length;
}

/** The user's access changed (a membership removed, a role lowered): open sockets must check again. */
export function accessChanged(userId: string): void {
  announce({ userId });
}
