// Reads the next-auth session straight from a Cookie header, so tRPC (a fetch Request)
// and the '/ui' socket.io handshake (a Node request) authenticate the same way.
import { decode } from 'next-auth/jwt';
import { authSecret } from '../db/config';
import { liveSession, type SessionRef, type SessionUser } from './sessions';

const BASE = 'next-auth.session-token';

export function parseCookies(header: string | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // keep the raw value; decode() will reject it if it is garbage
    }
    if (name && !out.has(name)) out.set(name, value);
  }
  return out;
}

/** The raw session JWT; next-auth splits one over 4 KB into name.0, name.1, … */
export function sessionTokenFrom(cookies: Map<string, string>): string | null {
  for (const name of [`__Secure-${BASE}`, BASE]) {
    const whole = cookies.get(name);
    if (whole) return whole;
    const chunks: string[] = [];
    for (let i = 0; cookies.has(`${name}.${i}`); i++) chunks.push(cookies.get(`${name}.${i}`)!);
    if (chunks.length) return chunks.join('');
  }
  return null;
}

/** The session a cookie names, as its JWT says (not checked against the database). */
export async function sessionRefFromCookieHeader(header: string | null | undefined): Promise<SessionRef | null> {
  const token = sessionTokenFrom(parseCookies(header));
  if (!token) return null;
  try {
    const jwt = await decode({ token, secret: authSecret() });
    if (!jwt || typeof jwt.sub !== 'string' || typeof jwt.sid !== 'string') return null;
    if (typeof jwt.exp === 'number' && jwt.exp * 1000 < Date.now()) return null;
    return { userId: jwt.sub, sessionId: jwt.sid };
  } catch {
    return null;
  }
}

/** The signed-in session and its user, or null for no / an invalid / an expired / a revoked one. */
export async function sessionFromCookieHeader(header: string | null | undefined): Promise<(SessionRef & { user: SessionUser }) | null> {
  const ref = await sessionRefFromCookieHeader(header);
  const user = ref && (await liveSession(ref));
  return ref && user ? { ...ref, user } : null;
}

/** The user of a live session who may act (not held at "choose a new password"), or null. For the faces besides tRPC. */
export async function actingUserId(header: string | null | undefined): Promise<string | null> {
  const session = await sessionFromCookieHeader(header);
  return session && !session.user.mustChangePassword ? session.userId : null;
}
