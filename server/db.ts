// The database: one connection per process, opened once by openDatabase() when the
// server starts. It migrates the schema over that connection and then hands the same
// connection to the Prisma client; no other code opens the file. For SQLite this is what
// keeps acknowledged writes: POSIX locks belong to the process, and closing any
// descriptor of berth.db drops all of them, after which an outside client (sqlite3, a
// backup) believes it is alone, checkpoints and deletes our -wal and -shm, and what we
// write next goes into a deleted file.
import { PrismaClient } from '../generated/prisma/client';
import { sqliteFile } from './db/config';
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

async function connect(): Promise<PrismaClient> {
  const file = sqliteFile();
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
