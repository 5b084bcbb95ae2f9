// The SQLite side of opening the database: the file, its mode, the connection's pragmas.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';

export async function connectSqlite(file: string) {
  // The database holds password and credential hashes: a file made here is the owner's
  // alone (SQLite gives its -wal and -shm files the same mode). This runs before any
  // connection exists; only then is closing a descriptor of the file harmless.
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create ${file}: ${(err as Error).message}`);
  }
  const factory = new PrismaBetterSqlite3({ url: file, timeout: 5000 });
  const adapter = await factory.connect();
  try {
    // WAL lets readers (a backup, the sqlite3 CLI) work beside the server. synchronous=FULL
    // fsyncs the WAL at every commit: the build's default for WAL (NORMAL) may lose the
    // last acknowledged writes when the machine, not only the process, goes down.
    await adapter.executeScript('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;');
  } catch (err) {
    await adapter.dispose();
    throw new Error(`cannot open ${file}: ${(err as Error).message}`);
  }
  return { factory, adapter };
}
