// The hand-written migrations against the generated Prisma client and the
// better-sqlite3 adapter: if the SQL drifted from schema.prisma, these queries fail.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { closeDatabase, openDatabase, type PrismaClient } from '../../server/db';
import { migrate, migrationNames } from '../../server/db/migrate';
import { connectSqlite } from '../../server/db/sqlite';
import { ensureDefaultTeam } from '../../server/db/seed';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-db-'));
process.env.BERTH_DATA_DIR = dir;
delete process.env.DATABASE_URL;
let prisma: PrismaClient;

after(async () => {
  await closeDatabase();
  rmSync(dir, { recursive: true, force: true });
});

test('migrations apply once, in order, and are recorded; racing migrators apply each once', async () => {
  const file = path.join(dir, 'scratch.db');
  const a = await connectSqlite(file);
  const b = await connectSqlite(file);
  try {
    const all = migrationNames();
    assert.equal(all[0], '0001_init');
    // Two connections to one file at once, as two replicas starting together would be.
    const [first, second] = await Promise.all([migrate(a.adapter), migrate(b.adapter)]);
    assert.deepEqual([...first, ...second].sort(), all, 'each migration applied by exactly one of them');
    assert.deepEqual(await migrate(a.adapter), []);
    const { rows } = await a.adapter.queryRaw({ sql: 'SELECT name FROM "_berth_migrations" ORDER BY name', args: [], argTypes: [] });
    assert.deepEqual(rows.map((r) => r[0]), all);
  } finally {
    await a.adapter.dispose();
    await b.adapter.dispose();
  }
});

test('a failing migration leaves nothing behind and names itself', async () => {
  const migrations = path.join(dir, 'broken-migrations');
  mkdirSync(path.join(migrations, '0001_ok'), { recursive: true });
  writeFileSync(path.join(migrations, '0001_ok', 'migration.sql'), 'CREATE TABLE "A" ("id" TEXT PRIMARY KEY);');
  mkdirSync(path.join(migrations, '0002_broken'));
  writeFileSync(path.join(migrations, '0002_broken', 'migration.sql'), 'CREATE TABLE "B" ("id" TEXT PRIMARY KEY);\nCREATE TABLE "A" ("id" TEXT);');
  const { adapter } = await connectSqlite(path.join(dir, 'broken.db'));
  try {
    await assert.rejects(migrate(adapter, migrations), /migration 0002_broken failed: .*already exists/);
    const tables = await adapter.queryRaw({ sql: `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('A', 'B') ORDER BY name`, args: [], argTypes: [] });
    assert.deepEqual(tables.rows.map((r) => r[0]), ['A'], 'the broken migration\'s first table was rolled back');
    const { rows } = await adapter.queryRaw({ sql: 'SELECT name FROM "_berth_migrations"', args: [], argTypes: [] });
    assert.deepEqual(rows.map((r) => r[0]), ['0001_ok']);
  } finally {
    await adapter.dispose();
  }
});

test('openDatabase migrates once per process and hands out one client', async () => {
  const [p1, p2] = await Promise.all([openDatabase(), openDatabase()]);
  assert.equal(p1, p2);
  prisma = p1;
  const rows = await prisma.$queryRawUnsafe<Array<{ name: string }>>('SELECT name FROM "_berth_migrations" ORDER BY name');
  assert.deepEqual(rows.map((r) => r.name), migrationNames());
  assert.deepEqual(await prisma.$queryRawUnsafe('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
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
