// Removed containers' logs, kept under the agent's root for the retention the admin sets:
//   ROOT/kept-logs/NAME-ID/ID-json.log (+ .1, .2 …, .index)   the log files, moved, not copied
//   ROOT/kept-logs/NAME-ID/meta.json                            who it was (KeptLog)
//   ROOT/kept-logs/retention.json                               LogRetention
// The files keep their names and inodes (a rename), so LOG.index still places them and a kept
// log reads, pages and searches exactly as it did while its container lived. Pruned oldest
// first, by age and by the total size, whenever one is kept, the retention changes, the agent
// starts, and every hour.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../atomic-write';
import type { ContainerRecord } from '../types';
import { EngineError } from '../errors';
import { LOG_RETENTION_DEFAULT, LOG_RETENTION_MAX_AGE, LOG_RETENTION_MAX_BYTES, type KeptLog, type LogRetention } from '../../../protocol/logs';

export interface KeptEntry {
  meta: KeptLog;
  dir: string;
  /** The kept log's current file, as LogSource.path. */
  path: string;
}

const PRUNE_EVERY_MS = 60 * 60_000;

/** A directory name from a container name: nothing a path could trip on. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[._-]+/, '').slice(0, 100) || 'container';
}

function dirSize(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) {
    try {
      n += statSync(join(dir, f)).size;
    } catch {
      // Pruned meanwhile.
    }
  }
  return n;
}

export class KeptLogs {
  private entries: Map<string, KeptEntry> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly dir: string,
    private readonly now: () => number = Date.now,
  ) {}

  private load(): Map<string, KeptEntry> {
    if (this.entries) return this.entries;
    const m = new Map<string, KeptEntry>();
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const n of names) {
      const dir = join(this.dir, n);
      let meta: KeptLog;
      try {
        meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as KeptLog;
      } catch {
        // Not one of ours, or one whose keeping did not finish (no meta.json yet): left alone.
        continue;
      }
      m.set(meta.containerId, { meta: { ...meta, size: dirSize(dir) }, dir, path: join(dir, `${meta.containerId}-json.log`) });
    }
    return (this.entries = m);
  }

  retention(): LogRetention {
    try {
      const r = JSON.parse(readFileSync(join(this.dir, 'retention.json'), 'utf8')) as LogRetention;
      if (Number.isInteger(r.maxAgeSeconds) && Number.isInteger(r.maxBytes)) return { maxAgeSeconds: r.maxAgeSeconds, maxBytes: r.maxBytes };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') console.error(`berth: ${join(this.dir, 'retention.json')}: ${(err as Error).message}; using the defaults`);
    }
    return { ...LOG_RETENTION_DEFAULT };
  }

  setRetention(r: LogRetention): LogRetention {
    if (!Number.isInteger(r.maxAgeSeconds) || r.maxAgeSeconds < 0 || r.maxAgeSeconds > LOG_RETENTION_MAX_AGE) {
      throw new EngineError(400, `maxAgeSeconds must be a whole number from 0 to ${LOG_RETENTION_MAX_AGE}`);
    }
    if (!Number.isInteger(r.maxBytes) || r.maxBytes < 0 || r.maxBytes > LOG_RETENTION_MAX_BYTES) {
      throw new EngineError(400, `maxBytes must be a whole number from 0 to ${LOG_RETENTION_MAX_BYTES}`);
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const value = { maxAgeSeconds: r.maxAgeSeconds, maxBytes: r.maxBytes };
    writeFileAtomic(join(this.dir, 'retention.json'), JSON.stringify(value) + '\n', { mode: 0o600 });
    this.prune();
    return value;
  }

  /**
   * Moves a removed container's log files here (called before its directory goes). A failure
   * is reported and the removal goes on: a container that cannot be removed because its log
   * could not be kept would be worse than the lost log.
   */
  keep(rec: ContainerRecord): void {
    if (!rec.logPath) return;
    const r = this.retention();
    if (r.maxAgeSeconds === 0 || r.maxBytes === 0) return;
    const src = dirname(rec.logPath);
    const base = basename(rec.logPath);
    let files: string[];
    try {
      files = readdirSync(src).filter((f) => f === base || f === `${base}.index` || (f.startsWith(`${base}.`) && /^\d+$/.test(f.slice(base.length + 1))));
    } catch (err) {
      console.error(`berth: keeping the log of ${rec.id.slice(0, 12)}: ${(err as Error).message}`);
      return;
    }
    if (!files.includes(base)) return;
    const dir = join(this.dir, `${safeName(rec.name)}-${rec.id}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // The index last: until it is there, the rotated files it places are not read.
      for (const f of files.sort((a, b) => Number(a.endsWith('.index')) - Number(b.endsWith('.index')))) renameSync(join(src, f), join(dir, f));
      const meta: KeptLog = {
        containerId: rec.id,
        name: rec.name,
        image: rec.image,
        created: rec.created,
        startedAt: rec.state.startedAt,
        finishedAt: rec.state.finishedAt,
        removedAt: new Date(this.now()).toISOString(),
        size: 0,
      };
      meta.size = dirSize(dir);
      writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(meta) + '\n', { mode: 0o600 });
      this.load().set(rec.id, { meta, dir, path: join(dir, base) });
    } catch (err) {
      console.error(`berth: keeping the log of ${rec.id.slice(0, 12)} in ${dir}: ${(err as Error).message}`);
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    this.prune();
  }

  /** Newest first. */
  list(): KeptLog[] {
    return [...this.load().values()].map((e) => e.meta).sort((a, b) => b.removedAt.localeCompare(a.removedAt));
  }

  /** By full id, or a unique id prefix, or the name (the most recently removed of that name). */
  find(idOrName: string): KeptEntry | undefined {
    const m = this.load();
    const exact = m.get(idOrName);
    if (exact) return exact;
    const all = [...m.values()].sort((a, b) => b.meta.removedAt.localeCompare(a.meta.removedAt));
    const named = all.find((e) => e.meta.name === idOrName.replace(/^\//, ''));
    if (named) return named;
    if (/^[0-9a-f]{1,63}$/.test(idOrName)) {
      const hits = all.filter((e) => e.meta.containerId.startsWith(idOrName));
      if (hits.length > 1) throw new EngineError(400, `multiple kept logs found with provided prefix: ${idOrName}`);
      return hits[0];
    }
    return undefined;
  }

  /** Drops what is past the retention: too old, then the oldest until the rest fits. Returns the ids dropped. */
  prune(): string[] {
    const r = this.retention();
    const m = this.load();
    const oldestFirst = [...m.values()].sort((a, b) => a.meta.removedAt.localeCompare(b.meta.removedAt));
    let total = oldestFirst.reduce((n, e) => n + e.meta.size, 0);
    const cutoff = this.now() - r.maxAgeSeconds * 1000;
    const dropped: string[] = [];
    for (const e of oldestFirst) {
      if (Date.parse(e.meta.removedAt) >= cutoff && total <= r.maxBytes) break;
      try {
        rmSync(e.dir, { recursive: true, force: true });
      } catch (err) {
        console.error(`berth: pruning the kept log ${e.dir}: ${(err as Error).message}`);
        continue;
      }
      m.delete(e.meta.containerId);
      total -= e.meta.size;
      dropped.push(e.meta.containerId);
    }
    return dropped;
  }

  start(): void {
    this.prune();
    this.timer = setInterval(() => this.prune(), PRUNE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
