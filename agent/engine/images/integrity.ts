// A read-only consistency check of an image store (`npm run integrity`): what an agent
// that died at any point (SIGKILL in a pull, push, load, commit or build) must leave
// behind, once it has started again. Problems are what makes the store wrong (a blob
// that is not what its name says, an image naming a layer or config that is not there,
// a name naming no image); leftovers are what a crash leaves and the next start removes
// (ingests, unfinished layers), which a check of a store no agent has opened since may see.
//
// Exports: checkImageStore, IntegrityReport.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { decompress } from '../layers/extract';
import type { LayerMeta } from './layers';
import { parseReference, repoName } from './reference';
import { computeChainIds, type RawConfig } from './store';

export interface IntegrityReport {
  problems: string[];
  leftovers: string[];
  counted: { blobs: number; layers: number; images: number; names: number };
}

const HEX = /^[a-f0-9]{64}$/;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return 'sha256:' + h.digest('hex');
}

function readJson<T>(path: string, problems: string[], what: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    problems.push(`${what} (${path}) is not readable JSON: ${(e as Error).message}`);
    return undefined;
  }
}

/** `deep`: also decompress every layer blob and check it against its diff ID. */
export async function checkImageStore(dir: string, opts: { deep?: boolean } = {}): Promise<IntegrityReport> {
  const problems: string[] = [];
  const leftovers: string[] = [];
  const counted = { blobs: 0, layers: 0, images: 0, names: 0 };
  if (!existsSync(dir)) return { problems: [`${dir} does not exist`], leftovers, counted };

  // Content: every blob is what its name says.
  const blobDir = join(dir, 'blobs', 'sha256');
  const blobs = new Set<string>();
  if (existsSync(blobDir)) {
    for (const name of readdirSync(blobDir)) {
      if (!HEX.test(name)) {
        if (name.startsWith('.')) leftovers.push(`blobs/sha256/${name}: a temp file of an atomic write`);
        else problems.push(`blobs/sha256/${name} is not named by a digest`);
        continue;
      }
      counted.blobs++;
      const got = await sha256File(join(blobDir, name));
      if (got !== `sha256:${name}`) problems.push(`blob sha256:${name} holds content with digest ${got}`);
      else blobs.add(`sha256:${name}`);
    }
  }
  for (const d of ['ingest', 'tmp']) if (existsSync(join(dir, d))) for (const n of readdirSync(join(dir, d))) leftovers.push(`${d}/${n}`);

  // Layers: meta, directory and short link agree; the chain is what parent and diff make.
  const layers = new Map<string, LayerMeta>();
  const layerDir = join(dir, 'layers');
  if (existsSync(layerDir)) {
    const names = new Set(readdirSync(layerDir));
    for (const name of names) {
      if (name.endsWith('.json')) {
        const hex = name.slice(0, -5);
        const meta = readJson<LayerMeta>(join(layerDir, name), problems, `layer ${hex}`);
        if (!meta) continue;
        if (meta.chainId !== `sha256:${hex}`) problems.push(`layer ${hex}: its meta names chain ${meta.chainId}`);
        if (!names.has(hex)) {
          // The one order a crash can leave: the meta goes last on commit and first on removal.
          problems.push(`layer ${hex} has a meta file but no directory`);
          continue;
        }
        const want = meta.parent ? computeChainIds([meta.parent, meta.diffId])[1] : meta.diffId;
        if (want !== meta.chainId) problems.push(`layer ${hex}: parent ${meta.parent ?? '(none)'} and diff ${meta.diffId} make chain ${want}`);
        if (meta.link) {
          let target = '';
          try {
            target = readlinkSync(join(dir, 'l', meta.link));
          } catch {
            /* checked below */
          }
          if (target !== `../layers/${hex}`) problems.push(`layer ${hex}: short link l/${meta.link} ${target ? `points at ${target}` : 'is missing'}`);
        } else leftovers.push(`layer ${hex} has no short link yet (layout 1; the next start gives it one)`);
        layers.set(meta.chainId, meta);
        counted.layers++;
      } else if (HEX.test(name) && !names.has(`${name}.json`)) {
        leftovers.push(`layers/${name}: unpacked but never committed`);
      } else if (!HEX.test(name)) {
        if (!name.startsWith('.')) problems.push(`layers/${name} is neither a layer nor its meta`);
      }
    }
  }
  if (existsSync(join(dir, 'l'))) {
    const linked = new Set([...layers.values()].map((l) => l.link));
    for (const n of readdirSync(join(dir, 'l'))) if (!linked.has(n)) leftovers.push(`l/${n}: a link no layer has`);
  }

  // Images: config present and matching, every layer there, manifests about this image.
  const images = new Set<string>();
  const imageDir = join(dir, 'images');
  if (existsSync(imageDir)) {
    for (const name of readdirSync(imageDir)) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) {
        if (name.startsWith('.')) leftovers.push(`images/${name}: a temp file of an atomic write`);
        continue;
      }
      const id = `sha256:${name.slice(0, -5)}`;
      const img = readJson<{ id: string; diffIds: string[]; chainIds: string[]; manifests?: string[] }>(join(imageDir, name), problems, `image ${id}`);
      if (!img) continue;
      counted.images++;
      images.add(id);
      if (img.id !== id) problems.push(`image ${id}: its record says id ${img.id}`);
      if (!blobs.has(id)) {
        problems.push(`image ${id}: its config blob is missing`);
        continue;
      }
      let config: RawConfig;
      try {
        config = JSON.parse(readFileSync(join(blobDir, id.slice(7)), 'utf8')) as RawConfig;
      } catch {
        problems.push(`image ${id}: its config is not JSON`);
        continue;
      }
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (JSON.stringify(diffIds) !== JSON.stringify(img.diffIds)) problems.push(`image ${id}: its record's layers differ from its config's`);
      const chains = computeChainIds(diffIds);
      if (JSON.stringify(chains) !== JSON.stringify(img.chainIds)) problems.push(`image ${id}: its chain IDs are not its layers'`);
      for (const c of chains) if (!layers.has(c)) problems.push(`image ${id}: layer ${c} is not in the store`);
      for (const m of img.manifests ?? []) {
        if (!blobs.has(m)) {
          problems.push(`image ${id}: manifest ${m} is missing`);
          continue;
        }
        try {
          const parsed = JSON.parse(readFileSync(join(blobDir, m.slice(7)), 'utf8')) as { config?: { digest?: string }; manifests?: unknown[] };
          if (!parsed.manifests && parsed.config?.digest !== id) problems.push(`image ${id}: manifest ${m} is for config ${parsed.config?.digest}`);
        } catch {
          problems.push(`image ${id}: manifest ${m} is not JSON`);
        }
      }
    }
  }

  // Names: every name parses and names an image there is.
  const reposPath = join(dir, 'repositories.json');
  if (existsSync(reposPath)) {
    const raw = readJson<{ Repositories?: Record<string, Record<string, string>> }>(reposPath, problems, 'repositories.json');
    for (const [repo, refs] of Object.entries(raw?.Repositories ?? {})) {
      for (const [ref, id] of Object.entries(refs)) {
        counted.names++;
        let r;
        try {
          r = parseReference(ref);
        } catch {
          problems.push(`name ${ref} does not parse`);
          continue;
        }
        if (repoName(r) !== repo) problems.push(`name ${ref} is filed under repository ${repo}`);
        // Names are written before records, and the next start drops a name whose record is missing.
        if (!images.has(id)) leftovers.push(`name ${ref} names ${id}, which has no record (dropped at the next start)`);
      }
    }
  }

  // The mapping of diff IDs to blobs: readable; with `deep`, each blob here unpacks to its diff ID.
  const distPath = join(dir, 'distribution.json');
  if (existsSync(distPath)) {
    const dist = readJson<{ layers?: Record<string, Array<{ digest: string }>> }>(distPath, problems, 'distribution.json');
    if (opts.deep) {
      for (const [diffId, list] of Object.entries(dist?.layers ?? {})) {
        for (const b of list) {
          if (!blobs.has(b.digest)) continue;
          const h = createHash('sha256');
          try {
            for await (const c of decompress(createReadStream(join(blobDir, b.digest.slice(7))), `blob ${b.digest}`)) h.update(c);
          } catch (e) {
            problems.push(`blob ${b.digest} (layer ${diffId}) does not decompress: ${(e as Error).message}`);
            continue;
          }
          if ('sha256:' + h.digest('hex') !== diffId) problems.push(`blob ${b.digest} does not unpack to layer ${diffId}`);
        }
      }
    }
  }
  if (existsSync(join(dir, 'store.json'))) {
    const v = readJson<{ version?: number }>(join(dir, 'store.json'), problems, 'store.json');
    if (v && v.version !== 2) problems.push(`store.json names layout ${v.version}; this check knows layout 2`);
  } else if (counted.images) leftovers.push('no store.json: a layout-1 store, migrated at the next start');
  return { problems, leftovers, counted };
}
