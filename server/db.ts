// The Prisma client (SQLite through better-sqlite3's driver adapter), one per process.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client';
import { sqliteFile } from './db/config';
import { berthGlobal } from './global';

export type { PrismaClient };

export function createPrisma(): PrismaClient {
  const adapter = new PrismaBetterSqlite3({ url: sqliteFile(), timeout: 5000 });
  return new PrismaClient({ adapter });
}

export function db(): PrismaClient {
  const g = berthGlobal();
  return (g.prisma ??= createPrisma());
}
