// The database: one connection per process, opened once by openDatabase() when the
// server starts. It migrates the schema over that connection and then hands the same
// connection to the Prisma client; no other code opens the file. For SQLite this is what
// keeps acknowledged writes: POSIX locks belong to the process, and closing any
// descriptor of berth.db drops all of them, after which an outside client (sqlite3, a
// backup) believes it is alone, checkpoints and deletes our -wal and -shm, and what we
// write next goes into a deleted file.
//
// DATABASE_URL=postgresql://… opens a pool instead, migrates over one of its connections
// and hands the pool to the PostgreSQL client (generated/prisma-pg: the same models,
// compiled for that provider; scripts/prisma-generate.mjs makes both).
import { PrismaClient } from '../generated/prisma/client';
import { databaseTarget } from './db/config';
import { migrate } from './db/migrate';
import { connectSqlite } from './db/sqlite';
import { berthGlobal } from './global';

export type { PrismaClient };

type AdapterFactory = NonNullable<ConstructorParameters<typeof PrismaClient>[0]['adapter']>;
type Adapter = Awaited<ReturnType<AdapterFactory['connect']>>;

interface DatabaseState {
  client?: PrismaClient;
  opening?: Promise<PrismaClient>;
}

const state = () => berthGlobal<DatabaseState>('database', () => ({}));

/**
 * A factory whose first connection is the one already open and migrated. Prisma asks
 * for another only after $disconnect closed that one, when nothing else holds the file.
 */
function handOver(factory: AdapterFactory, open: Adapter): AdapterFactory {
  let first: Adapter | undefined = open;
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect() {
      const conn = first;
      first = undefined;
      return conn ? Promise.resolve(conn) : factory.connect();
    },
  };
}

async function connectPostgresClient(url: string): Promise<PrismaClient> {
  // Loaded only here: a SQLite control plane never loads pg.
  const { connectPostgres, redactUrl } = await import('./db/postgres');
  const { factory, pool, withConnection } = await connectPostgres(url);
  try {
    const applied = await withConnection((conn) => migrate(conn));
    if (applied.length) console.log(`database: applied ${applied.join(', ')}`);
    const { PrismaClient: PostgresClient } = await import('../generated/prisma-pg/client');
    // Same schema, other provider: the two clients' model APIs are the same.
    return new PostgresClient({ adapter: factory }) as unknown as PrismaClient;
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Error(`${redactUrl(url)}: ${(err as Error).message}`);
  }
}

async function connect(): Promise<PrismaClient> {
  const target = databaseTarget();
  if (target.kind === 'postgresql') return connectPostgresClient(target.url);
  const file = target.file;
  const { factory, adapter } = await connectSqlite(file);
  try {
    const applied = await migrate(adapter);
    if (applied.length) console.log(`database: applied ${applied.join(', ')}`);
  } catch (err) {
    await adapter.dispose();
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  return new PrismaClient({ adapter: handOver(factory, adapter) });
}

/** Opens (and migrates) the database once per process; later calls get the same client. */
export function openDatabase(): Promise<PrismaClient> {
  const s = state();
  if (s.client) return Promise.resolve(s.client);
  s.opening ??= connect().then(
    (client) => {
      s.client = client;
      s.opening = undefined;
      return client;
    },
    (err: unknown) => {
      s.opening = undefined;
      throw err;
    },
  );
  return s.opening;
}

/** The open client. Route handlers run inside the server process, which opened it at start. */
export function db(): PrismaClient {
  const client = state().client;
  if (!client) throw new Error('the database is not open: openDatabase() runs when the control plane starts');
  return client;
}

export async function closeDatabase(): Promise<void> {
  const s = state();
  const client = s.client ?? (await s.opening?.catch(() => undefined));
  s.client = undefined;
  await client?.$disconnect();
}
