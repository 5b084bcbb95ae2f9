// How long audit rows are kept, and the background task that deletes older ones: the
// only code that ever deletes an audit row. A team's own setting wins; otherwise
// BERTH_AUDIT_RETENTION_DAYS; with neither, rows are kept for ever.
import type { PrismaClient } from '../../generated/prisma/client';
import { db } from '../db';

export const MAX_RETENTION_DAYS = 36_500;
const DAY_MS = 24 * 3600 * 1000;
const EVERY_MS = 3600 * 1000;

/** The environment's retention in days; null for "keep for ever". A bad value is refused at start, not ignored. */
export function envRetentionDays(env: Record<string, string | undefined> = process.env): number | null {
  const raw = env.BERTH_AUDIT_RETENTION_DAYS?.trim();
  if (!raw) return null;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_RETENTION_DAYS) {
    throw new Error(`BERTH_AUDIT_RETENTION_DAYS=${JSON.stringify(raw)}: a whole number of days from 1 to ${MAX_RETENTION_DAYS}`);
  }
  return Number(raw);
}

/**
 * Deletes the rows older than their team's retention (rows of no team, and of teams
 * without a setting, by the environment's). Returns how many went.
 */
export async function pruneAudit(prisma: PrismaClient, now = new Date(), envDays = envRetentionDays()): Promise<number> {
  let deleted = 0;
  const teams = await prisma.team.findMany({ select: { id: true, auditRetentionDays: true } });
  const own = teams.filter((t) => t.auditRetentionDays !== null);
  for (const t of own) {
    const before = new Date(now.getTime() - t.auditRetentionDays! * DAY_MS);
    deleted += (await prisma.auditLog.deleteMany({ where: { teamId: t.id, createdAt: { lt: before } } })).count;
  }
  if (envDays !== null) {
    const before = new Date(now.getTime() - envDays * DAY_MS);
    const keepOwn = own.map((t) => t.id);
    deleted += (await prisma.auditLog.deleteMany({ where: { createdAt: { lt: before }, OR: [{ teamId: null }, { teamId: { notIn: keepOwn } }] } })).count;
  }
  return deleted;
}

/** Prunes now and then every hour; the returned function stops it. */
export function startAuditRetention(prisma: () => PrismaClient = db): () => void {
  envRetentionDays();
  const run = () =>
    pruneAudit(prisma()).then(
      (n) => n && console.log(`audit: retention removed ${n} rows`),
      (err: unknown) => console.error(`audit: retention: ${(err as Error).message}`),
    );
  void run();
  const timer = setInterval(run, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
