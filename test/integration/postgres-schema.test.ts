// The PostgreSQL side of the database, against a real PostgreSQL server (Debian's
// package, started here on a loopback port): every migration has its SQL for both
// databases, the migrated schema is the one prisma/schema.prisma describes (every model's
// table, every field's column with its type and nullability, every unique and index),
// racing migrators apply each migration once, and the PostgreSQL client reads and writes
// every model through openDatabase() as the control plane does with DATABASE_URL.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { closeDatabase, openDatabase, type PrismaClient } from '../../server/db';
import { MIGRATION_FILES, migrate, migrationNames, migrationsDir } from '../../server/db/migrate';
import { connectPostgres } from '../../server/db/postgres';
import { ensureDefaultTeam } from '../../server/db/seed';
import { startPostgres, type Postgres } from '../fixtures/postgres';

interface Field {
  name: string;
  type: string;
  optional: boolean;
}
interface Model {
  name: string;
  fields: Field[];
  uniques: string[][];
  indexes: string[][];
}

// Prisma's PostgreSQL column types for its scalars (information_schema's names for them).
const SCALARS: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  Boolean: 'boolean',
  DateTime: 'timestamp without time zone',
  Float: 'double precision',
  BigInt: 'bigint',
  Bytes: 'bytea',
  Json: 'jsonb',
  Decimal: 'numeric',
};

/** The models of schema.prisma: scalar fields (relations left out), @unique, @@unique and @@index. */
function prismaModels(): Model[] {
  const text = readFileSync(path.join(migrationsDir(), '..', 'schema.prisma'), 'utf8');
  const models: Model[] = [];
  const modelNames = new Set([...text.matchAll(/^model (\w+) \{/gm)].map((m) => m[1]));
  for (const m of text.matchAll(/^model (\w+) \{\n([\s\S]*?)^\}/gm)) {
    const model: Model = { name: m[1], fields: [], uniques: [], indexes: [] };
    for (const raw of m[2].split('\n')) {
      const line = raw.replace(/\/\/.*$/, '').trim();
      if (!line) continue;
      const block = /^@@(unique|index)\(\[([^\]]+)\]/.exec(line);
      if (block) {
        (block[1] === 'unique' ? model.uniques : model.indexes).push(block[2].split(',').map((s) => s.trim()));
        continue;
      }
      const f = /^(\w+)\s+(\w+)(\?|\[\])?/.exec(line);
      if (!f || modelNames.has(f[2])) continue;
      if (!SCALARS[f[2]] || f[3] === '[]') throw new Error(`${model.name}.${f[1]}: type ${f[2]}${f[3] ?? ''} unknown to this test: add its PostgreSQL column type to SCALARS`);
      model.fields.push({ name: f[1], type: f[2], optional: f[3] === '?' });
      if (/@unique\b/.test(line)) model.uniques.push([f[1]]);
    }
    models.push(model);
  }
  return models;
}

describe('PostgreSQL', { timeout: 5 * 60_000 }, () => {
  let server: Postgres;
  let tmp: string;

  before(async () => {
    server = await startPostgres();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-pg-test-'));
  });

  after(async () => {
    await closeDatabase();
    await server?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('every migration directory holds the SQL for both databases', () => {
    const dir = migrationsDir();
    const dirs = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    assert.ok(dirs.length >= 3, `migrations: ${dirs.join(', ')}`);
    assert.deepEqual(MIGRATION_FILES.sort(), ['migration.sql', 'postgresql.sql']);
    for (const name of dirs) for (const file of MIGRATION_FILES) assert.ok(existsSync(path.join(dir, name, file)), `${name}/${file} exists`);
    assert.deepEqual(migrationNames(), dirs.sort());
  });

  test('racing migrators apply each migration once; the schema is the Prisma schema, column by column', async (t) => {
    const url = await server.createDatabase('race');
    const a = await connectPostgres(url);
    const b = await connectPostgres(url);
    try {
      const [first, second] = await Promise.all([a.withConnection((c) => migrate(c)), b.withConnection((c) => migrate(c))]);
      assert.deepEqual([...first, ...second].sort(), migrationNames(), 'each migration applied by exactly one of them');
      assert.deepEqual(await a.withConnection((c) => migrate(c)), []);
      const q = async (sql: string, values: unknown[] = []) => (await a.pool.query(sql, values)).rows as Array<Record<string, unknown>>;
      const applied = await q('SELECT name FROM "_berth_migrations" ORDER BY name');
      assert.deepEqual(applied.map((r) => r.name), migrationNames());

      const models = prismaModels();
      assert.ok(models.length >= 9, `models parsed: ${models.map((m) => m.name).join(', ')}`);
      const tables = (await q(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`)).map((r) => r.table_name as string);
      for (const m of models) assert.ok(tables.includes(m.name), `table ${m.name} exists (tables: ${tables.join(', ')})`);
      let columns = 0;
      for (const m of models) {
        const cols = await q(`SELECT column_name, data_type, is_nullable, datetime_precision FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`, [m.name]);
        const byName = new Map(cols.map((c) => [c.column_name as string, c]));
        assert.deepEqual([...byName.keys()].sort(), m.fields.map((f) => f.name).sort(), `${m.name}: the columns are the model's scalar fields`);
        for (const f of m.fields) {
          const c = byName.get(f.name)!;
          assert.equal(c.data_type, SCALARS[f.type], `${m.name}.${f.name} is ${SCALARS[f.type]}`);
          assert.equal(c.is_nullable, f.optional ? 'YES' : 'NO', `${m.name}.${f.name} nullable = ${f.optional}`);
          if (f.type === 'DateTime') assert.equal(c.datetime_precision, 3, `${m.name}.${f.name} keeps milliseconds`);
          columns++;
        }
        // Index names as Prisma makes them, so a later `prisma migrate diff` finds nothing to change.
        const idx = await q(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1`, [m.name]);
        const names = new Map(idx.map((i) => [i.indexname as string, i.indexdef as string]));
        assert.ok(names.has(`${m.name}_pkey`), `${m.name} has its primary key`);
        for (const u of m.uniques) {
          const def = names.get(`${m.name}_${u.join('_')}_key`);
          assert.ok(def && /UNIQUE/.test(def), `${m.name}: unique index on ${u.join(', ')} (${[...names.keys()].join(', ')})`);
        }
        for (const i of m.indexes) assert.ok(names.has(`${m.name}_${i.join('_')}_idx`), `${m.name}: index on ${i.join(', ')} (${[...names.keys()].join(', ')})`);
      }
      t.diagnostic(`${models.length} models, ${columns} columns checked against information_schema`);
    } finally {
      await a.pool.end();
      await b.pool.end();
    }
  });

  test('a migration without postgresql.sql is refused by name; a failing one leaves nothing behind', async () => {
    const url = await server.createDatabase('broken');
    const conn = await connectPostgres(url);
    const dir = path.join(tmp, 'migrations');
    mkdirSync(path.join(dir, '0001_ok'), { recursive: true });
    writeFileSync(path.join(dir, '0001_ok', 'migration.sql'), 'CREATE TABLE "A" ("id" TEXT PRIMARY KEY);');
    writeFileSync(path.join(dir, '0001_ok', 'postgresql.sql'), 'CREATE TABLE "A" ("id" TEXT PRIMARY KEY);');
    mkdirSync(path.join(dir, '0002_broken'));
    writeFileSync(path.join(dir, '0002_broken', 'migration.sql'), 'SELECT 1;');
    writeFileSync(path.join(dir, '0002_broken', 'postgresql.sql'), 'CREATE TABLE "B" ("id" TEXT PRIMARY KEY);\nCREATE TABLE "A" ("id" TEXT);');
    mkdirSync(path.join(dir, '0003_sqlite_only'));
    writeFileSync(path.join(dir, '0003_sqlite_only', 'migration.sql'), 'SELECT 1;');
    try {
      await assert.rejects(conn.withConnection((c) => migrate(c, dir)), /migration 0002_broken failed: .*already exists/);
      const tables = await conn.pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('A', 'B') ORDER BY 1`);
      assert.deepEqual(tables.rows.map((r) => r.table_name), ['A'], "the broken migration's first table was rolled back");
      rmSync(path.join(dir, '0002_broken'), { recursive: true });
      await assert.rejects(conn.withConnection((c) => migrate(c, dir)), /migration 0003_sqlite_only has no postgresql\.sql/);
      const rows = await conn.pool.query('SELECT name FROM "_berth_migrations" ORDER BY name');
      assert.deepEqual(rows.rows.map((r) => r.name), ['0001_ok']);
    } finally {
      await conn.pool.end();
    }
  });

  test('openDatabase with DATABASE_URL=postgresql:// migrates, and the client reads and writes every model', async () => {
    process.env.DATABASE_URL = server.url;
    let prisma: PrismaClient;
    try {
      prisma = await openDatabase();
    } finally {
      delete process.env.DATABASE_URL;
    }
    const teamId = await ensureDefaultTeam(prisma);
    assert.equal(await ensureDefaultTeam(prisma), teamId, 'the Default team is made once');
    const user = await prisma.user.create({ data: { email: 'a@example.test', name: 'A', passwordHash: 'h', memberships: { create: { teamId, role: 'owner' } } } });
    const seen = new Date('2026-01-02T03:04:05.678Z');
    const host = await prisma.host.create({ data: { teamId, name: 'h1', hostname: 'h1.local', credentialHash: 'c', info: '{"cpus":2}', lastSeen: seen } });
    const expires = new Date(Date.now() + 60_000);
    await prisma.joinToken.create({ data: { tokenHash: 'th', teamId, name: 'h1', expiresAt: expires, createdById: user.id, hostId: host.id } });
    await prisma.auditLog.create({ data: { userId: user.id, teamId, hostId: host.id, action: 'test', target: 't', result: 'ok' } });
    const session = await prisma.session.create({ data: { userId: user.id, address: '127.0.0.1', userAgent: 'test', expiresAt: expires } });
    await prisma.invitation.create({ data: { tokenHash: 'ih', teamId, role: 'viewer', createdById: user.id, expiresAt: expires } });
    await prisma.signInThrottle.create({ data: { key: 'account:a@example.test', failures: 3, lastFailure: seen, blockedUntil: expires } });

    const back = await prisma.user.findUniqueOrThrow({ where: { email: 'a@example.test' }, include: { memberships: true, sessions: true, invitations: true, joinTokens: true, auditLogs: true } });
    assert.equal(back.mustChangePassword, false);
    assert.equal(back.memberships[0].role, 'owner');
    assert.equal(back.sessions[0].id, session.id);
    assert.equal(back.invitations[0].role, 'viewer');
    assert.equal(back.joinTokens[0].expiresAt.getTime(), expires.getTime(), 'a DateTime keeps its milliseconds');
    assert.equal(back.auditLogs[0].action, 'test');
    assert.equal((await prisma.host.findUniqueOrThrow({ where: { id: host.id } })).lastSeen?.toISOString(), seen.toISOString());
    assert.equal((await prisma.signInThrottle.findUniqueOrThrow({ where: { key: 'account:a@example.test' } })).failures, 3);
    // A default the database fills in (not Prisma) is UTC too, as Prisma reads it.
    const before = Date.now();
    await prisma.$executeRawUnsafe(`INSERT INTO "Team" ("id", "name") VALUES ('t-db-default', 'db default')`);
    const made = (await prisma.team.findUniqueOrThrow({ where: { id: 't-db-default' } })).createdAt.getTime();
    assert.ok(Math.abs(made - before) < 60_000, `createdAt by the database's default is now (${new Date(made).toISOString()} vs ${new Date(before).toISOString()})`);
    // Foreign keys: deleting the team cascades to its hosts and memberships, and nulls the audit row's team.
    await prisma.team.delete({ where: { id: teamId } });
    assert.equal(await prisma.host.count(), 0);
    assert.equal(await prisma.membership.count(), 0);
    assert.equal((await prisma.auditLog.findFirstOrThrow()).teamId, null);
    await closeDatabase();
    // A second start finds everything applied.
    const c = new pg.Client({ connectionString: server.url });
    await c.connect();
    try {
      assert.deepEqual((await c.query('SELECT name FROM "_berth_migrations" ORDER BY name')).rows.map((r) => r.name), migrationNames());
    } finally {
      await c.end();
    }
  });
});
