// Container records on disk: ROOT/containers/<id>/config.json, replaced atomically.
import { mkdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write';
import type { ContainerRecord } from '../types';

export class ContainerStore {
  constructor(readonly dir: string) {}

  containerDir(id: string): string {
    return join(this.dir, id);
  }

  async save(rec: ContainerRecord): Promise<void> {
    const d = this.containerDir(rec.id);
    // In line, like the write: a trip through the thread pool for a dir that is there cost more.
    mkdirSync(d, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(d, 'config.json'), JSON.stringify(rec, null, 1), { mode: 0o600 });
  }

  async loadAll(): Promise<ContainerRecord[]> {
    await mkdir(this.dir, { recursive: true });
    const out: ContainerRecord[] = [];
    for (const id of await readdir(this.dir)) {
      if (!/^[0-9a-f]{64}$/.test(id)) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.dir, id, 'config.json'), 'utf8')) as ContainerRecord);
      } catch {
        // A create that died before its first save leaves a dir without a record: nothing to show.
      }
    }
    return out;
  }

  async delete(id: string): Promise<void> {
    await rm(this.containerDir(id), { recursive: true, force: true });
  }
}
