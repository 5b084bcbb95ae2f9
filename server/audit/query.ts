// The audit log as owners and admins read it: one team's rows, filtered by who, which
// host, which action and when; pages for the screen and a streamed CSV for export. The
// application only ever adds rows; the retention task (./retention) is the one deleter.
import { z } from 'zod';
import type { PrismaClient } from '../../generated/prisma/client';

const id = z.string().min(1).max(100);
const when = z.iso.datetime({ offset: true });

export const auditFilterShape = z.strictObject({
  userId: id.optional(),
  hostId: id.optional(),
  /** An action ("containers.run") or a domain of them ("containers."). */
  action: z.string().trim().min(1).max(100).regex(/^[A-Za-z.]+$/, 'letters and dots, as "containers.run" or "containers."').optional(),
  /** From this time on, inclusive (ISO 8601). */
  from: when.optional(),
  /** Before this time (ISO 8601). */
  to: when.optional(),
});
export type AuditFilter = z.infer<typeof auditFilterShape>;

export function auditWhere(teamId: string, f: AuditFilter) {
  if (f.from && f.to && Date.parse(f.from) >= Date.parse(f.to)) throw new RangeError('to: must be after from');
  return {
    teamId,
    ...(f.userId ? { userId: f.userId } : {}),
    ...(f.hostId ? { hostId: f.hostId } : {}),
    ...(f.action ? (f.action.endsWith('.') ? { action: { startsWith: f.action } } : { action: f.action }) : {}),
    ...(f.from || f.to ? { createdAt: { ...(f.from ? { gte: new Date(f.from) } : {}), ...(f.to ? { lt: new Date(f.to) } : {}) } } : {}),
  };
}

export interface AuditRow {
  id: string;
  at: string;
  action: string;
  target: string | null;
  result: string;
  teamId: string | null;
  hostId: string | null;
  hostName: string | null;
  userId: string | null;
  userEmail: string | null;
  userName: string | null;
  /** Where it came from. */
  address: string | null;
}

/** Newest first; `cursor` is the last id of the page before. */
export async function auditPage(prisma: PrismaClient, teamId: string, f: AuditFilter, take: number, cursor?: string): Promise<{ rows: AuditRow[]; nextCursor: string | null }> {
  const rows = await prisma.auditLog.findMany({
    where: auditWhere(teamId, f),
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: take + 1,
    ...(cursor ? { cursor: { id: cursor }, skip: 1 } : {}),
    include: { user: { select: { email: true, name: true } }, host: { select: { name: true } } },
  });
  const more = rows.length > take;
  const page = rows.slice(0, take).map((r) => ({
    id: r.id,
    at: r.createdAt.toISOString(),
    action: r.action,
    target: r.target,
    result: r.result,
    teamId: r.teamId,
    hostId: r.hostId,
    hostName: r.host?.name ?? null,
    userId: r.userId,
    userEmail: r.user?.email ?? null,
    userName: r.user?.name ?? null,
    address: r.address,
  }));
  return { rows: page, nextCursor: more ? page[page.length - 1].id : null };
}

/**
 * RFC 4180: a field with a comma, quote, CR or LF is quoted, its quotes doubled. A field
 * that starts like a formula (= + - @, tab, CR) gets a leading apostrophe: audit targets
 * hold what strangers typed (a failed sign-in's email, a container's name), and a
 * spreadsheet opening the export would otherwise run `=HYPERLINK(…)` or `=cmd|…` as a formula.
 */
export function csvField(v: string | null | undefined): string {
  const raw = v ?? '';
  const s = /^[=+\-@\t\r]/.test(raw) ? `'${raw}` : raw;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CSV_HEADER = ['time', 'user', 'user id', 'from', 'action', 'host', 'host id', 'target', 'result'];

export function csvLine(r: AuditRow): string {
  return [r.at, r.userEmail, r.userId, r.address, r.action, r.hostName, r.hostId, r.target, r.result].map(csvField).join(',') + '\r\n';
}

/** The whole filtered log as CSV, read a page at a time so a long log never sits in memory. */
export async function* auditCsv(prisma: PrismaClient, teamId: string, f: AuditFilter, pageSize = 500): AsyncGenerator<string> {
  yield CSV_HEADER.map(csvField).join(',') + '\r\n';
  let cursor: string | undefined;
  for (;;) {
    const { rows, nextCursor } = await auditPage(prisma, teamId, f, pageSize, cursor);
    if (rows.length) yield rows.map(csvLine).join('');
    if (!nextCursor) return;
    cursor = nextCursor;
  }
}
