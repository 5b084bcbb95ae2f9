// The hand-written migration against the generated Prisma client and the
// better-sqlite3 adapter: if the SQL drifted from schema.prisma, these queries fail.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { createPrisma } from '../../server/db';
import { migrate } from '../../server/db/migrate';
import { ensureDefaultTeam } from '../../server/db/seed';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-db-'));
process.env.BERTH_DATA_DIR = dir;
delete process.env.DATABASE_URL;
const prisma = createPrisma();

after(async () => {
  await prisma.$disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('migrations apply once, in order, and are recorded', () => {
  assert.deepEqual(migrate(), ['0001_init']);
  assert.deepEqual(migrate(), []);
  const db = new Database(path.join(dir, 'berth.db'), { readonly: true });
  try {
    const names = db.prepare('SELECT name FROM "_berth_migrations"').all() as Array<{ name: string }>;
    assert.deepEqual(names.map((n) => n.name), ['0001_init']);
  } finally {
    db.close();
  }
});

test('the generated client reads and writes every model of the migrated database', async () => {
  const teamId = await ensureDefaultTeam(prisma);
  assert.equal(await ensureDefaultTeam(prisma), teamId, 'the Default team is made once');
  const user = await prisma.user.create({
    data: { email: 'a@example.test', name: 'A', passwordHash: 'h', memberships: { create: { teamId, role: 'owner' } } },
  });
  const seen = new Date('2026-01-02T03:04:05.678Z');
  const host = await prisma.host.create({ data: { teamId, name: 'h1', hostname: 'h1.local', credentialHash: 'c', info: '{"cpus":2}', lastSeen: seen } });
  const expires = new Date(Date.now() + 60_000);
  await prisma.joinToken.create({ data: { tokenHash: 'th', teamId, name: 'h1', expiresAt: expires, createdById: user.id, hostId: host.id } });
  await prisma.auditLog.create({ data: { userId: user.id, teamId, hostId: host.id, action: 'test', target: 't', result: 'ok' } });

  const back = await prisma.user.findUniqueOrThrow({ where: { email: 'a@example.test' }, include: { memberships: { include: { team: true } } } });
  assert.equal(back.memberships[0].role, 'owner');
  assert.equal(back.memberships[0].team.name, 'Default');
  const h = await prisma.host.findUniqueOrThrow({ where: { id: host.id }, include: { joinTokens: true, auditLogs: true } });
  assert.equal(h.lastSeen?.toISOString(), seen.toISOString());
  assert.equal(h.revokedAt, null);
  assert.equal(h.joinTokens[0].expiresAt.getTime(), expires.getTime());
  assert.equal(h.auditLogs[0].action, 'test');
  assert.ok(h.createdAt instanceof Date && Math.abs(h.createdAt.getTime() - Date.now()) < 60_000);
});

test('unique constraints and cascades hold', async () => {
  await assert.rejects(prisma.user.create({ data: { email: 'a@example.test', name: 'dup', passwordHash: 'h' } }), /Unique constraint/i);
  const teamId = await ensureDefaultTeam(prisma);
  const user = await prisma.user.findUniqueOrThrow({ where: { email: 'a@example.test' } });
  await assert.rejects(prisma.membership.create({ data: { userId: user.id, teamId, role: 'viewer' } }), /Unique constraint/i);
  // Deleting a user keeps the audit trail (who becomes null) and drops the memberships.
  await prisma.user.delete({ where: { id: user.id } });
  assert.equal(await prisma.membership.count({ where: { userId: user.id } }), 0);
  const audit = await prisma.auditLog.findFirstOrThrow({ where: { action: 'test' } });
  assert.equal(audit.userId, null);
});
