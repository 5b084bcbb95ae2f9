// Applies prisma/migrations/*/migration.sql (SQLite) or postgresql.sql (PostgreSQL) in
// name order, each once, each in its own transaction. Prisma's own migrate needs a
// schema-engine binary that cannot be downloaded on an offline machine, so the SQL is
// hand-written, once per dialect, and applied here.
//
// The migrator opens nothing: it runs over a connection it is given, in the shape of
// Prisma's driver adapters. For SQLite that is the process's one connection, which then
// serves the app. For PostgreSQL it is one client taken from the pool (server/db/postgres.ts):
// @prisma/adapter-pg's own executeScript sends each statement to whichever pooled
// connection is free, which would scatter a BEGIN … COMMIT over several sessions.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the migrator needs of a connection: a subset of Prisma's SqlDriverAdapter. */
export interface MigrationConnection {
  /** The adapter's provider name: 'sqlite', 'postgres', … */
  readonly provider: string;
  /** Runs several statements separated by semicolons. */
  executeScript(script: string): Promise<void>;
  queryRaw(query: { sql: string; args: never[]; argTypes: never[] }): Promise<{ rows: unknown[][] }>;
}

interface Dialect {
  /** The file in each migration directory with this dialect's SQL. */
  file: string;
  /** Starts a transaction that holds the migrators' lock from its first statement. */
  begin: string;
  timestamp: string;
}

// PostgreSQL: a transaction-scoped advisory lock (its number is arbitrary, Berth's own)
// makes replicas starting together take turns, the bookkeeping table's creation included
// (two CREATE TABLE IF NOT EXISTS at once can both try to create it).
const PG_LOCK = 'SELECT pg_advisory_xact_lock(7326871)';

const DIALECTS: Record<string, Dialect> = {
  sqlite: { file: 'migration.sql', begin: 'BEGIN IMMEDIATE', timestamp: 'DATETIME' },
  postgres: { file: 'postgresql.sql', begin: `BEGIN;\n${PG_LOCK}`, timestamp: 'TIMESTAMP(3)' },
};

/** The SQL files each migration directory must hold, one per dialect. */
export const MIGRATION_FILES = Object.values(DIALECTS).map((d) => d.file);

const NAME = /^[0-9A-Za-z][0-9A-Za-z_.-]*$/;

export function migrationsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../prisma/migrations'), path.resolve(process.cwd(), 'prisma/migrations')];
  const found = candidates.find((d) => existsSync(d));
  if (!found) throw new Error(`migrations directory not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Migration directory names in the order they apply. */
export function migrationNames(dir = migrationsDir()): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort();
}

async function appliedNames(conn: MigrationConnection): Promise<Set<string>> {
  const { rows } = await conn.queryRaw({ sql: 'SELECT "name" FROM "_berth_migrations"', args: [], argTypes: [] });
  return new Set(rows.map((r) => String(r[0])));
}

/** Applies what is missing over `conn`; returns the names of the migrations this call applied. */
export async function migrate(conn: MigrationConnection, dir = migrationsDir()): Promise<string[]> {
  const dialect = DIALECTS[conn.provider];
  if (!dialect) throw new Error(`no migrations for database provider ${JSON.stringify(conn.provider)} (SQLite and PostgreSQL only)`);
  await conn.executeScript(`${dialect.begin};
  CREATE TABLE IF NOT EXISTS "_berth_migrations" (
    "name" TEXT NOT NULL PRIMARY KEY,
    "appliedAt" ${dialect.timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP
  );
  COMMIT;`);
  let done = await appliedNames(conn);
  const applied: string[] = [];
  for (const name of migrationNames(dir)) {
    if (done.has(name)) continue;
    // The name goes into the script as a literal: one script is one round trip on any
    // adapter (a pooled one could run separate calls on separate connections).
    if (!NAME.test(name)) throw new Error(`migration directory name ${JSON.stringify(name)}: only letters, digits, '_', '.' and '-'`);
    const file = path.join(dir, name, dialect.file);
    // A migration written for one database only would leave the other's schema behind.
    if (!existsSync(file)) throw new Error(`migration ${name} has no ${dialect.file} (each migration directory needs ${MIGRATION_FILES.join(' and ')})`);
    const sql = readFileSync(file, 'utf8');
    // The bookkeeping row comes first: a second migrator racing this one (another
    // replica starting) blocks on it and then fails on the primary key instead of
    // running the DDL twice.
    const script = `${dialect.begin};\nINSERT INTO "_berth_migrations" ("name") VALUES ('${name}');\n${sql}\n;\nCOMMIT;`;
    try {
      await conn.executeScript(script);
    } catch (err) {
      await conn.executeScript('ROLLBACK').catch(() => {
        // no transaction left open: the failing statement ended it
      });
      done = await appliedNames(conn);
      if (done.has(name)) continue;
      throw new Error(`migration ${name} failed: ${(err as Error).message}`);
    }
    applied.push(name);
  }
  return applied;
}
