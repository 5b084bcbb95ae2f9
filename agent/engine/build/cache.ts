// The classic builder's layer cache: (parent image, step) → the image config the step made.
// Intermediate images are not kept as image records (they would crowd `docker images`);
// the cache keeps their configs and layers from garbage collection instead, and a hit
// records the image again from its config, which gives the same id.
//
// ROOT/build-cache.json: { "version": 1, "entries": { "<key>": { "config": "sha256:…", "chainIds": [...], "used": "RFC 3339" } } }
//
// Exports: BuildCache, cacheKey.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../atomic-write';

export interface CacheEntry {
  config: string;
  chainIds: string[];
  used: string;
}

/** The key of a step on a parent: the parent image (or scratch) and what the step does, config included. */
export function cacheKey(parentId: string | undefined, step: string): string {
  return createHash('sha256').update(`${parentId ?? 'scratch'}\n${step}`).digest('hex');
}

export class BuildCache {
  private entries = new Map<string, CacheEntry>();

  constructor(readonly path: string) {
    try {
      const raw = JSON.parse(readFileSync(path, 'utf8')) as { entries?: Record<string, CacheEntry> };
      for (const [k, v] of Object.entries(raw.entries ?? {})) {
        if (/^sha256:[a-f0-9]{64}$/.test(v?.config ?? '') && Array.isArray(v.chainIds)) this.entries.set(k, v);
      }
    } catch {
      /* no cache yet, or an unreadable one: builds start cold */
    }
  }

  get(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  set(key: string, config: string, chainIds: string[]): void {
    this.entries.set(key, { config, chainIds, used: new Date().toISOString() });
    this.save();
  }

  delete(key: string): void {
    if (this.entries.delete(key)) this.save();
  }

  /** `docker builder prune`: forgets every entry; returns how many there were. */
  clear(): number {
    const n = this.entries.size;
    this.entries.clear();
    this.save();
    return n;
  }

  /** What garbage collection must keep. */
  roots(): { chainIds: string[]; blobs: string[] } {
    const chainIds: string[] = [];
    const blobs: string[] = [];
    for (const e of this.entries.values()) {
      chainIds.push(...e.chainIds);
      blobs.push(e.config);
    }
    return { chainIds, blobs };
  }

  private save(): void {
    writeFileAtomic(this.path, JSON.stringify({ version: 1, entries: Object.fromEntries(this.entries) }), { mode: 0o600 });
  }
}
