// Personal access tokens: what a `berth_pat_…` may do, worked out afresh on every request from
// the token's row and its owner's membership now, so a revoked token, a lowered role or a member
// who left the team takes the token's power away at the next call (open streams are cut by
// server/proxy/docker-proxy.ts when told).
import type { PrismaClient } from '../../generated/prisma/client';
import { hashSecret } from '../auth/tokens';
import { member } from '../auth/access';
import { db } from '../db';
import { berthGlobal } from '../global';
import { isRole, roleRank, type Role } from '../../protocol/roles';

export const TOKEN_PREFIX = 'berth_pat';
/** lastUsedAt is for people reading the account page: a write a minute per token is plenty. */
const USED_EVERY_MS = 60_000;

export class TokenError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

export interface TokenAccess {
  tokenId: string;
  tokenName: string;
  userId: string;
  teamId: string;
  /** The lower of the token's ceiling and its owner's role in the team now. */
  role: Role;
  /** Host ids the token is narrowed to; null = every host of the team. */
  hostIds: string[] | null;
  /** Host ids its owner's membership is narrowed to now (an admin may narrow them after the token was made); null = every host. */
  memberHostIds: Set<string> | null;
}

/** Whether the token reaches the host: its own narrowing and its owner's both let it. */
export function reaches(access: TokenAccess, hostId: string): boolean {
  return (!access.hostIds || access.hostIds.includes(hostId)) && (!access.memberHostIds || access.memberHostIds.has(hostId));
}

export function lowerRole(a: Role, b: Role): Role {
  return roleRank(a) <= roleRank(b) ? a : b;
}

export function parseHostIds(text: string | null): string[] | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    // A row this code did not write: it reaches nothing rather than everything.
    return [];
  }
}

/** The Bearer token of an Authorization header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1] : null;
}

type TokenRow = NonNullable<Awaited<ReturnType<typeof findToken>>>;

function findToken(prisma: PrismaClient, where: { tokenHash: string } | { id: string }) {
  return prisma.accessToken.findUnique({ where, include: { user: { select: { mustChangePassword: true } }, team: { select: { name: true } } } });
}

async function accessOf(prisma: PrismaClient, row: TokenRow | null): Promise<TokenAccess> {
  if (!row) throw new TokenError(401, "this access token is not valid (mistyped, or deleted); make a new one on Berth's account page");
  if (row.revokedAt) throw new TokenError(401, `access token "${row.name}" was revoked; make a new one on Berth's account page`);
  if (row.expiresAt.getTime() <= Date.now()) throw new TokenError(401, `access token "${row.name}" expired on ${row.expiresAt.toISOString()}; make a new one on Berth's account page`);
  if (row.user.mustChangePassword) throw new TokenError(401, `access token "${row.name}": its owner must choose a new password on Berth's account page first`);
  const m = await member(row.userId, row.teamId, prisma);
  if (!m) throw new TokenError(401, `access token "${row.name}": its owner is no longer a member of team ${row.team.name}`);
  const ceiling: Role = isRole(row.role) ? row.role : 'viewer';
  return { tokenId: row.id, tokenName: row.name, userId: row.userId, teamId: row.teamId, role: lowerRole(ceiling, m.role), hostIds: parseHostIds(row.hostIds), memberHostIds: m.hostIds };
}

/** What the token may do now; a TokenError(401) in words the docker CLI prints when it may do nothing. */
export async function tokenAccess(secret: string | null, prisma: PrismaClient = db()): Promise<TokenAccess> {
  if (!secret) throw new TokenError(401, `no access token: send "Authorization: Bearer ${TOKEN_PREFIX}_…" (for the docker CLI, in config.json's HttpHeaders); make one on Berth's account page`);
  const row = secret.startsWith(`${TOKEN_PREFIX}_`) ? await findToken(prisma, { tokenHash: hashSecret(secret) }) : null;
  const access = await accessOf(prisma, row);
  if (row && (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > USED_EVERY_MS)) {
    await prisma.accessToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => {});
  }
  return access;
}

/** The same check again for a token already in use (an open stream, after its owner's access changed). */
export async function tokenAccessById(tokenId: string, prisma: PrismaClient = db()): Promise<TokenAccess> {
  return accessOf(prisma, await findToken(prisma, { id: tokenId }));
}

/**
 * The host `ref` (an id, or a name within the token's team) if the token reaches it. A host of
 * another team, or one the token is not narrowed to, is "No such host" like a missing one (404,
 * not 403), so a token does not learn which hosts exist.
 */
export async function tokenHost(access: TokenAccess, ref: string, prisma: PrismaClient = db()): Promise<{ id: string; name: string; teamId: string }> {
  const hosts = await prisma.host.findMany({ where: { teamId: access.teamId, revokedAt: null, OR: [{ id: ref }, { name: ref }] }, select: { id: true, name: true, teamId: true } });
  const byId = hosts.find((h) => h.id === ref && reaches(access, h.id));
  if (byId) return byId;
  const named = hosts.filter((h) => h.name === ref && reaches(access, h.id));
  if (named.length > 1) throw new TokenError(400, `several hosts are named ${ref}: use the host's id (${named.map((h) => h.id).join(', ')})`);
  if (!named.length) throw new TokenError(404, `No such host: ${ref}`);
  return named[0];
}

/** Told when tokens are revoked, so streams open with them end at once (tRPC runs in Next's bundle, the proxy in the server's). */
export function onTokensRevoked(fn: (tokenIds: string[]) => void): () => void {
  const set = berthGlobal('tokensRevoked', () => new Set<(ids: string[]) => void>());
  set.add(fn);
  return () => set.delete(fn);
}

export function announceTokensRevoked(tokenIds: string[]): void {
  for (const fn of berthGlobal('tokensRevoked', () => new Set<(ids: string[]) => void>())) fn(tokenIds);
}
