// /volumes (docker volume create/ls/inspect/rm/prune) and /system/df (docker system df),
// in Docker's shapes (per API version where they differ), over the engine facade.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine, VolumeInfo } from '../engine/types';
import { containerSummary, volumeDir } from './containers';
import { HttpError, boolParam, readJson, sendEmpty, sendJson, type Query } from './http';
import { imageSummary, labelMatches, parseFilters } from './images';
import { apiAtLeast } from './api-version';
import { ANONYMOUS_LABEL } from '../engine/volumes/store';

/** A volume as Docker's API shows it. */
export function volumeBody(v: VolumeInfo): Record<string, unknown> {
  return {
    CreatedAt: v.createdAt,
    Driver: v.driver,
    Labels: Object.keys(v.labels).length ? v.labels : null,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: Object.keys(v.options).length ? v.options : null,
    Scope: 'local',
  };
}

const LIST_FILTERS = new Set(['dangling', 'driver', 'label', 'name']);
const BOOLS: Record<string, boolean> = { true: true, '1': true, false: false, '0': false };

function safeRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch {
    throw new HttpError(400, `invalid name filter: ${pattern}`);
  }
}

/** Docker's volume list filters: every key must match, any of its values (the name one as a regular expression, as Docker's). */
export function volumeFilter(raw: string | null): (v: VolumeInfo) => boolean {
  if (!raw) return () => true;
  const f = parseFilters(raw);
  for (const k of Object.keys(f)) if (!LIST_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  const tests: Array<(v: VolumeInfo) => boolean> = [];
  if (f.dangling?.length) {
    const want = f.dangling.map((d) => {
      const b = BOOLS[d.toLowerCase()];
      if (b === undefined) throw new HttpError(400, `invalid filter 'dangling=${d}'`);
      return b;
    });
    tests.push((v) => want.some((d) => (v.usedBy.length === 0) === d));
  }
  if (f.driver?.length) tests.push((v) => f.driver.includes(v.driver));
  if (f.name?.length) {
    const res = f.name.map(safeRegExp);
    tests.push((v) => res.some((r) => r.test(v.name)));
  }
  for (const l of f.label ?? []) tests.push((v) => labelMatches(v.labels, l));
  return (v) => tests.every((t) => t(v));
}

export function listVolumes(engine: Engine, res: ServerResponse, q: Query): void {
  const keep = volumeFilter(q.get('filters'));
  sendJson(res, 200, { Volumes: engine.listVolumes().filter(keep).map(volumeBody), Warnings: [] });
}

const strMap = (v: unknown, what: string): Record<string, string> | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) throw new HttpError(400, `invalid volume config: ${what}: expected an object of strings`);
  return v as Record<string, string>;
};

export async function createVolume(engine: Engine, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = (await readJson<Record<string, unknown>>(req)) ?? {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'invalid volume config: the body must be a JSON object');
  for (const [k, v] of Object.entries(body)) {
    if (['Name', 'Driver', 'DriverOpts', 'Labels'].includes(k) || v === null || v === undefined) continue;
    throw new HttpError(400, k === 'ClusterVolumeSpec' ? 'Berth does not support cluster volumes yet' : `Berth does not support ${k} in a volume create yet`);
  }
  if (body.Name !== undefined && body.Name !== null && typeof body.Name !== 'string') throw new HttpError(400, 'invalid volume config: Name: expected a string');
  if (body.Driver !== undefined && body.Driver !== null && typeof body.Driver !== 'string') throw new HttpError(400, 'invalid volume config: Driver: expected a string');
  const v = engine.createVolume((body.Name as string | undefined) || undefined, {
    driver: (body.Driver as string | undefined) || undefined,
    options: strMap(body.DriverOpts, 'DriverOpts'),
    labels: strMap(body.Labels, 'Labels'),
  });
  sendJson(res, 201, volumeBody(v));
}

export function inspectVolume(engine: Engine, res: ServerResponse, name: string): void {
  sendJson(res, 200, volumeBody(engine.inspectVolume(name)));
}

export async function removeVolume(engine: Engine, res: ServerResponse, name: string, q: Query): Promise<void> {
  await engine.removeVolume(name, { force: boolParam(q, 'force') });
  sendEmpty(res, 204);
}

const PRUNE_FILTERS = new Set(['label', 'label!', 'all']);

/** Before API 1.42 prune takes every unused volume; from 1.42 anonymous ones unless the `all` filter says otherwise, as dockerd does. */
export async function pruneVolumes(engine: Engine, res: ServerResponse, q: Query, version: string): Promise<void> {
  const raw = q.get('filters');
  const f = raw ? parseFilters(raw) : {};
  for (const k of Object.keys(f)) if (!PRUNE_FILTERS.has(k)) throw new HttpError(400, `invalid filter '${k}'`);
  for (const a of f.all ?? []) if (BOOLS[a.toLowerCase()] === undefined) throw new HttpError(400, `invalid filter 'all': ${a}`);
  if ((f.all ?? []).length > 1) throw new HttpError(400, `invalid filter 'all=${JSON.stringify(f.all)}': only one value is expected`);
  const all = !apiAtLeast(version, '1.42') || BOOLS[(f.all?.[0] ?? 'false').toLowerCase()];
  const keep = (v: VolumeInfo) =>
    (all || v.labels[ANONYMOUS_LABEL] !== undefined) &&
    (f.label ?? []).every((l) => labelMatches(v.labels, l)) &&
    !(f['label!'] ?? []).some((l) => labelMatches(v.labels, l));
  const { deleted, reclaimed } = await engine.pruneVolumes(keep);
  sendJson(res, 200, { VolumesDeleted: deleted, SpaceReclaimed: reclaimed });
}

/** `docker system df`: images, containers and volumes with their sizes; Berth has no build cache yet. */
export async function systemDf(engine: Engine, res: ServerResponse, version: string): Promise<void> {
  const du = await engine.diskUsage();
  const dir = volumeDir(engine);
  const now = Date.now();
  sendJson(res, 200, {
    LayersSize: du.layersSize,
    Images: du.images.map((i) => imageSummary(i.image, i.containers, version, i.sharedSize)),
    Containers: du.containers.map((c) => containerSummary(c.record, now, dir, version, { rw: c.sizeRw, rootFs: c.sizeRootFs })),
    Volumes: du.volumes.map((v) => ({ ...volumeBody(v.volume), UsageData: { Size: v.size, RefCount: v.volume.usedBy.length } })),
    BuildCache: [],
  });
}
