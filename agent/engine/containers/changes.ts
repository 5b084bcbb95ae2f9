// What a container changed, read from its overlay upper dir: `docker diff` and the layer of
// `docker commit`. Docker keeps the files its runtime creates as mount targets (/etc/hosts,
// /etc/hostname, /etc/resolv.conf) in an "init" layer under the container's own, so neither
// diff nor commit shows them; Berth's monitor creates them in the upper dir, so they are
// left out here, with the directories that are there only because of them.
//
// Exports: containerChanges, commitSkips, INIT_PATHS, ContainerChange.
import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { getXattrMany } from '../layers/xattr';

/** Docker's Kind: 0 modified, 1 added, 2 deleted. */
export interface ContainerChange {
  Path: string;
  Kind: 0 | 1 | 2;
}

/** Mount targets the runtime makes (relative to the root), as Docker's init layer holds them. */
export const INIT_PATHS: ReadonlySet<string> = new Set(['etc/hosts', 'etc/hostname', 'etc/resolv.conf']);

const isWhiteout = (st: Stats) => st.isCharacterDevice() && Number(st.rdev) === 0;

/**
 * How `rel` is in the image (layer dirs lowest first): its stat, or undefined when no layer
 * has it or a higher one deleted it. Walked a component at a time with lstat, so a symlink
 * in a layer is never followed out of it.
 */
async function lowerStat(layers: string[], rel: string): Promise<Stats | undefined> {
  const parts = rel.split('/');
  for (let i = layers.length - 1; i >= 0; i--) {
    let st: Stats | undefined;
    let dir = layers[i];
    let hidden = false;
    for (let k = 0; k < parts.length; k++) {
      try {
        st = await lstat(join(dir, parts[k]));
      } catch {
        st = undefined;
        break;
      }
      if (isWhiteout(st)) {
        hidden = true;
        break;
      }
      if (k < parts.length - 1 && !st.isDirectory()) {
        // A file where a directory would be: that layer replaced the path below it.
        hidden = true;
        st = undefined;
        break;
      }
      dir = join(dir, parts[k]);
    }
    if (hidden) return undefined;
    if (st) return st;
  }
  return undefined;
}

const sameMeta = (a: Stats, b: Stats) => a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;

interface Walked {
  changes: ContainerChange[];
  /** Upper-dir paths (relative) that commit leaves out. */
  skips: Set<string>;
}

async function walk(upper: string, layers: string[]): Promise<Walked> {
  const changes: ContainerChange[] = [];
  const skips = new Set<string>();
  const dirs: string[] = [];
  const collectDirs = async (abs: string) => {
    for (const e of await readdir(abs, { withFileTypes: true })) {
      if (e.isDirectory()) {
        dirs.push(join(abs, e.name));
        await collectDirs(join(abs, e.name));
      }
    }
  };
  await collectDirs(upper);
  const opaque = new Set<string>();
  for (const [p, v] of await getXattrMany(dirs, 'trusted.overlay.opaque')) if (v.toString() === 'y') opaque.add(p);

  // Returns whether anything under `rel` (a directory) was reported or kept.
  const visit = async (abs: string, rel: string): Promise<boolean> => {
    let any = false;
    for (const name of (await readdir(abs)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(abs, name);
      const st = await lstat(p);
      if (INIT_PATHS.has(r) && st.isFile() && st.size === 0) {
        skips.add(r);
        continue;
      }
      if (isWhiteout(st)) {
        changes.push({ Path: `/${r}`, Kind: 2 });
        any = true;
        continue;
      }
      const below = await lowerStat(layers, r);
      if (st.isDirectory()) {
        const at = changes.length;
        // Docker reports an opaque directory that hid one below as deleted (and re-created).
        const kind: ContainerChange['Kind'] | undefined = !below ? 1 : opaque.has(p) ? 2 : !below.isDirectory() || !sameMeta(st, below) ? 0 : undefined;
        const inner = await visit(p, r);
        if (kind !== undefined || inner) {
          changes.splice(at, 0, { Path: `/${r}`, Kind: kind ?? 0 });
          any = true;
        } else if (below && Math.floor(st.mtimeMs) !== Math.floor(below.mtimeMs) && !hasSkipUnder(skips, r)) {
          // Touched itself (its mtime), nothing in it changed.
          changes.splice(at, 0, { Path: `/${r}`, Kind: 0 });
          any = true;
        } else {
          skips.add(r);
        }
        continue;
      }
      changes.push({ Path: `/${r}`, Kind: below ? 0 : 1 });
      any = true;
    }
    return any;
  };
  await visit(upper, '');
  return { changes, skips };
}

const hasSkipUnder = (skips: Set<string>, dir: string) => [...skips].some((s) => s.startsWith(`${dir}/`));

/** `docker diff`: the container's changes in Docker's order (parents before children, names sorted). */
export async function containerChanges(upper: string, layers: string[]): Promise<ContainerChange[]> {
  return (await walk(upper, layers)).changes;
}

/** What commit leaves out of the upper dir: the init paths and directories there only for them. */
export async function commitSkips(upper: string, layers: string[]): Promise<Set<string>> {
  return (await walk(upper, layers)).skips;
}
