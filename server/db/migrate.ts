// Applies prisma/migrations/*/migration.sql in name order, each once, each in its own
// transaction. Prisma's own migrate needs a schema-engine binary that cannot be
// downloaded on an offline machine, so the SQL is hand-written and applied here.
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sqliteFile } from './config';

export function migrationsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../prisma/migrations'), path.resolve(process.cwd(), 'prisma/migrations')];
  const found = candidates.find((d) => existsSync(d));
  if (!found) throw new Error(`migrations directory not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Returns the names of the migrations applied by this call. */
export function migrate(): string[] {
  const file = sqliteFile();
  // The database holds password and credential hashes: a file made here is the owner's
  // alone (SQLite gives its -wal and -shm files the same mode).
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.exec(`CREATE TABLE IF NOT EXISTS "_berth_migrations" (
      "name" TEXT NOT NULL PRIMARY KEY,
      "appliedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
    )`);
    const done = new Set(db.prepare('SELECT name FROM "_berth_migrations"').all().map((r) => (r as { name: string }).name));
    const dir = migrationsDir();
    const names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(path.join(dir, d.name, 'migration.sql')))
      .map((d) => d.name)
      .sort();
    const applied: string[] = [];
    for (const name of names) {
      if (done.has(name)) continue;
      const sql = readFileSync(path.join(dir, name, 'migration.sql'), 'utf8');
      const apply = db.transaction(() => {
        db.exec(sql);
        db.prepare('INSERT INTO "_berth_migrations" (name) VALUES (?)').run(name);
      });
      try {
        apply.immediate();
      } catch (err) {
        throw new Error(`migration ${name} failed on ${file}: ${(err as Error).message}`);
      }
      applied.push(name);
    }
    return applied;
  } finally {
    db.close();
  }
}
