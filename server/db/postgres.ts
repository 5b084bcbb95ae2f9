// The PostgreSQL side of opening the database: a pool for the Prisma client, and one of its
// connections for the migrator first.
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import type { MigrationConnection } from './migrate';

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:…@');
}

/** One pooled client as the migrator's connection: every script runs in one session, in one round trip. */
function migrationConnection(client: pg.PoolClient): MigrationConnection {
  return {
    provider: 'postgres',
    async executeScript(script) {
      await client.query(script);
    },
    async queryRaw(query) {
      const res = await client.query({ text: query.sql, values: query.args, rowMode: 'array' });
      return { rows: res.rows as unknown[][] };
    },
  };
}

export interface PostgresConnection {
  factory: PrismaPg;
  pool: pg.Pool;
  /** Runs `fn` over one connection of the pool, given back afterwards. */
  withConnection<T>(fn: (conn: MigrationConnection) => Promise<T>): Promise<T>;
}

export async function connectPostgres(url: string): Promise<PostgresConnection> {
  const max = Number(process.env.BERTH_PG_POOL_SIZE || 10);
  if (!Number.isInteger(max) || max < 1) throw new Error(`BERTH_PG_POOL_SIZE: ${JSON.stringify(process.env.BERTH_PG_POOL_SIZE)} is not a positive whole number`);
  // Columns are TIMESTAMP(3) without a zone, as Prisma makes them, and Prisma reads and
  // writes them as UTC: the session's zone is UTC too, so that the database's own
  // CURRENT_TIMESTAMP defaults agree with what Prisma writes.
  const pool = new pg.Pool({ connectionString: url, max, options: '-c TimeZone=UTC' });
  pool.on('error', (err) => console.error(`database: idle connection to ${redactUrl(url)}: ${err.message}`));
  const withConnection = async <T>(fn: (conn: MigrationConnection) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await fn(migrationConnection(client));
    } finally {
      client.release();
    }
  };
  try {
    await withConnection((c) => c.queryRaw({ sql: 'SELECT 1', args: [], argTypes: [] }));
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`cannot connect to ${redactUrl(url)}: ${(err as Error).message}`);
  }
  const factory = new PrismaPg(pool, {
    disposeExternalPool: true,
    onPoolError: (err) => console.error(`database: ${redactUrl(url)}: ${err.message}`),
  });
  return { factory, pool, withConnection };
}
