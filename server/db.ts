// The Prisma client (SQLite through better-sqlite3's driver adapter), one per process.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from '../generated/prisma/client';
import { databaseTarget } from './db/config';
import { berthGlobal } from './global';

export type { PrismaClient };

export function createPrisma(): PrismaClient {
  const target = databaseTarget();
  if (target.kind !== 'sqlite') throw new Error('PostgreSQL is not supported yet: set DATABASE_URL to file:… or leave it unset');
  const adapter = new PrismaBetterSqlite3({ url: target.file, timeout: 5000 });
  return new PrismaClient({ adapter });
}

export function db(): PrismaClient {
  const g = berthGlobal();
  return (g.prisma ??= createPrisma());
}
