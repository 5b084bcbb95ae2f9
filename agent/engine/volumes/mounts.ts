// A container's bind mounts, volumes and tmpfs mounts, Docker's way (moby's
// registerMountPoints, createContainerVolumesOS, populateVolumes, setupMounts):
//
// - at create, settleStorage() checks the spec (Docker's errors) and lists the mount
//   points: the spec's mounts (from -v and --mount), then anonymous volumes for the image's
//   VOLUMEs and the spec's `volumes` where nothing else is mounted; prepare() adds what
//   --volumes-from brings, creates the volumes that do not exist yet, and fills each empty
//   volume from what the image has at its target (unless noCopy), through `berth-monitor
//   copy-up` from a read-only view of the image the agent keeps to itself;
// - at start, startMounts() turns them into mount plan entries for the monitor, which
//   resolves every target inside the container's root (agent/native/rootfs.c), makes a
//   missing -v source on the host, and mounts volumes that need it;
// - after a run, stopped() lets go of the volumes; at remove, removed() deletes the
//   container's anonymous volumes when asked (`rm -v`, `--rm`).
//
// Exports: ContainerStorage, settleStorage, emptyStorage, usesVolume, mountSources.
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import type { ContainerRecord, ContainerSpec, MountSpec, ResolvedMount, ResolvedStorage } from '../../../protocol/container';
import { monitorBinary } from '../../native/binary';
import { resolveInRoot } from '../containers/archive';
import { mergeTmpfsOptions, type PlanMount } from '../containers/mount-plan';
import type { ContainerRecords } from '../containers/records';
import { badRequest, EngineError } from '../errors';
import { mountReadOnly, unmountOverlay } from '../mounts/overlay';
import type { ImageConfig, ImageStore } from '../types';
import type { VolumeStore } from './store';

const run = promisify(execFile);

export const emptyStorage = (): ResolvedStorage => ({ mounts: [], volumes: [], volumesFrom: [] });

/** A clean absolute container path ("/data/" → "/data"), or undefined when it is not absolute. */
function cleanTarget(p: string): string | undefined {
  if (!p.startsWith('/')) return undefined;
  return posix.normalize(p).replace(/(.)\/+$/, '$1');
}

/** "size=64m": the largest unit that divides the size evenly, as Docker writes it. */
function tmpfsSize(bytes: number): string {
  for (const [suffix, div] of [['g', 1 << 30], ['m', 1 << 20], ['k', 1 << 10]] as const) if (bytes % div === 0) return `size=${bytes / div}${suffix}`;
  return `size=${bytes}`;
}

/** Whether `inner` is `outer` or below it (paths clean and absolute). */
const within = (inner: string, outer: string) => inner === outer || outer === '/' || inner.startsWith(outer + '/');

/**
 * The mount points a spec asks for, checked with Docker's rules and words (before anything
 * is made, so a refused spec leaves nothing behind). Anonymous volumes have no name yet;
 * --volumes-from is expanded by prepare(), which knows the other containers.
 */
export function settleStorage(spec: ContainerSpec, img: ImageConfig, tmpfs: Record<string, string>, agentRoot: string): ResolvedStorage {
  const s = spec.storage ?? {};
  const mounts: ResolvedMount[] = [];
  const taken = new Set<string>(Object.keys(tmpfs));
  for (const m of s.mounts ?? []) {
    const r = settleMount(m, agentRoot);
    if (taken.has(r.target)) throw badRequest(`Duplicate mount point: ${r.target}`);
    taken.add(r.target);
    mounts.push(r);
  }
  const volumes = new Set<string>();
  for (const raw of [...Object.keys(img.Volumes ?? {}), ...(s.volumes ?? [])]) {
    const target = cleanTarget(raw);
    if (!target) throw badRequest(`invalid mount path: '${raw}' mount path must be absolute`);
    if (target === '/') throw badRequest(`invalid specification: destination can't be '/'`);
    volumes.add(target);
  }
  for (const target of volumes) {
    if (taken.has(target)) continue;
    taken.add(target);
    mounts.push(anonymousVolume(target));
  }
  for (const v of s.volumesFrom ?? []) parseVolumesFrom(v);
  return { mounts, volumes: [...volumes].sort(), volumesFrom: [...(s.volumesFrom ?? [])] };
}

const anonymousVolume = (target: string): ResolvedMount => ({
  type: 'volume',
  source: '',
  target,
  readOnly: false,
  propagation: '',
  nonRecursive: false,
  createSource: false,
  tmpfsOptions: '',
  anonymous: true,
  origin: 'volumes',
  mode: '',
});

/** `--volumes-from CONTAINER[:ro|:rw]` (moby's ParseVolumesFrom): the container and whether its mounts stay writable. */
export function parseVolumesFrom(v: string): { container: string; rw: boolean } {
  if (v === '') throw badRequest('volumes-from specification cannot be an empty string');
  const colon = v.indexOf(':');
  const container = colon < 0 ? v : v.slice(0, colon);
  const mode = colon < 0 ? '' : v.slice(colon + 1);
  const words = mode ? mode.split(',') : [];
  // Docker takes the label words too; propagation and copy modes are refused for volumes-from.
  const known = (w: string) => ['ro', 'rw', 'z', 'Z'].includes(w);
  if (words.some((w) => !known(w)) || words.filter((w) => w === 'ro' || w === 'rw').length > 1) throw badRequest(`invalid mode: ${mode}`);
  return { container, rw: !words.includes('ro') };
}

function settleMount(m: MountSpec, agentRoot: string): ResolvedMount {
  const prefix = m.volumeFlag !== undefined ? `invalid volume specification: '${m.volumeFlag}': ` : '';
  const bad = (why: string) => badRequest(`${prefix}invalid mount config for type "${m.type}": ${why}`);
  const bindOnly = m.propagation !== undefined || m.nonRecursive || m.createSource;
  const volumeOnly = m.noCopy || m.volumeDriver || m.volumeOptions || m.volumeLabels;
  const tmpfsOnly = m.tmpfsSize !== undefined || m.tmpfsMode !== undefined;
  if (m.type !== 'bind' && bindOnly) throw bad('field BindOptions must not be specified');
  if (m.type !== 'volume' && volumeOnly) throw bad('field VolumeOptions must not be specified');
  if (m.type !== 'tmpfs' && tmpfsOnly) throw bad('field TmpfsOptions must not be specified');
  if (!m.target) throw bad('field Target must not be empty');
  const target = cleanTarget(m.target);
  if (target === '/') throw bad(`invalid specification: destination can't be '/'`);
  if (!target) throw bad(`invalid mount path: '${m.target}' mount path must be absolute`);
  // Docker's Mode: what -v said after the second colon.
  const flagMode = m.volumeFlag !== undefined ? (m.volumeFlag.split(':')[2] ?? '') : '';
  const base = { target, readOnly: m.readOnly ?? false, nonRecursive: false, createSource: false, tmpfsOptions: '', anonymous: false, origin: m.volumeFlag !== undefined ? 'binds' : 'mounts', given: m } as const;
  switch (m.type) {
    case 'bind': {
      if (!m.source) throw bad('field Source must not be empty');
      if (!m.source.startsWith('/')) throw bad(`invalid mount path: '${m.source}' mount path must be absolute`);
      const source = posix.normalize(m.source).replace(/(.)\/+$/, '$1');
      if (!m.createSource && !existsSync(source)) throw bad(`bind source path does not exist: ${source}`);
      let propagation: string = m.propagation ?? '';
      if (propagation === 'shared' || propagation === 'rshared') throw badRequest(`Berth does not support ${propagation} mount propagation (bind-propagation=${propagation}) yet`);
      // moby's validateBindDaemonRoot: a bind that holds the agent's root (or lies in it) must not keep private copies of its mounts.
      const root = agentRoot.replace(/\/+$/, '');
      if (root && (within(source, root) || within(root, source))) {
        if (propagation === '') propagation = 'rslave';
        else if (propagation !== 'rslave')
          throw badRequest(
            `invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: "${root}", bind mount source: "${source}", propagation: "${propagation}"`,
          );
      }
      return { ...base, type: 'bind', source, propagation: propagation || 'rprivate', nonRecursive: m.nonRecursive ?? false, createSource: m.createSource ?? false, mode: flagMode };
    }
    case 'volume': {
      if (m.volumeDriver && m.volumeDriver !== 'local') throw badRequest(`Berth does not support volume driver "${m.volumeDriver}" yet (only "local")`);
      // Docker gives a named local volume (from -v or --mount) the mode "z" when none was given.
      const mode = flagMode || 'z';
      return { ...base, type: 'volume', source: m.source ?? '', propagation: '', anonymous: !m.source, mode };
    }
    case 'tmpfs': {
      if (m.source) throw bad('field Source must not be specified');
      const opts = [...(m.readOnly ? ['ro'] : []), ...(m.tmpfsMode ? [`mode=${m.tmpfsMode.toString(8)}`] : []), ...(m.tmpfsSize ? [tmpfsSize(m.tmpfsSize)] : [])];
      return { ...base, type: 'tmpfs', source: '', propagation: '', tmpfsOptions: opts.join(','), mode: '' };
    }
  }
}

/** Whether a mount point is of volume `name`. */
export const usesVolume = (m: ResolvedMount, name: string) => m.type === 'volume' && m.source === name;

/** The host paths a container's mounts show it: bind sources and volume directories. */
export function mountSources(rec: ContainerRecord, volumes: VolumeStore): string[] {
  return (rec.spec.storage?.mounts ?? []).filter((m) => m.type !== 'tmpfs').map((m) => (m.type === 'bind' ? m.source : volumes.dataDir(m.source)));
}

/** The mount at `path`'s place on this host: mount point and optional fields of /proc/self/mountinfo. */
function hostMountOf(path: string): { mountPoint: string; optional: string[] } {
  const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  let best = { mountPoint: '/', optional: [] as string[] };
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f.length < 7) continue;
    const mp = unescape(f[4]);
    const dash = f.indexOf('-');
    if (within(path, mp) && mp.length >= best.mountPoint.length) best = { mountPoint: mp, optional: f.slice(6, dash) };
  }
  return best;
}

export interface StorageDeps {
  volumes: VolumeStore;
  images: ImageStore;
  records: ContainerRecords;
  /** Whether a device node in a volume is confined by the container's devices cgroup. */
  confinesDevices: boolean;
  agentRoot: string;
}

export class ContainerStorage {
  /** Containers whose volumes this agent holds (their mount events sent), for their stop. */
  private readonly holding = new Set<string>();

  constructor(private readonly d: StorageDeps) {}

  /** Containers, in any state, that refer to volume `name`. */
  refs(name: string): string[] {
    return this.d.records
      .all()
      .filter((c) => c.spec.storage?.mounts.some((m) => usesVolume(m, name)))
      .map((c) => c.id);
  }

  /**
   * The rest of create: --volumes-from, volumes made, empty ones filled from the image. On
   * failure, what it made is removed again. `dir` is the new container's directory.
   */
  async prepare(rec: ContainerRecord, dir: string): Promise<ResolvedStorage> {
    const st = structuredClone(rec.spec.storage);
    const own = new Set(st.mounts.filter((m) => m.origin !== 'volumes').map((m) => m.target));
    const from: ResolvedMount[] = [];
    for (const v of st.volumesFrom) {
      const { container, rw } = parseVolumesFrom(v);
      let other: ContainerRecord;
      try {
        other = this.d.records.resolve(container);
      } catch (e) {
        throw badRequest((e as Error).message);
      }
      for (const m of other.spec.storage?.mounts ?? []) {
        if (own.has(m.target)) continue;
        const i = from.findIndex((x) => x.target === m.target);
        if (i >= 0) from.splice(i, 1);
        from.push({ ...structuredClone(m), readOnly: m.readOnly || !rw, origin: 'volumes-from', mode: '', anonymous: false });
      }
    }
    const fromTargets = new Set(from.map((m) => m.target));
    // The image's volumes where --volumes-from put something are left out (Docker's HasMountFor).
    st.mounts = [...from, ...st.mounts.filter((m) => !(m.origin === 'volumes' && fromTargets.has(m.target)))];

    const made: string[] = [];
    try {
      for (const m of st.mounts) {
        if (m.type !== 'volume' || m.origin === 'volumes-from') continue;
        const g = m.given;
        if (!m.source) {
          m.source = this.d.volumes.create(undefined, { options: g?.volumeOptions, labels: g?.volumeLabels }).name;
          made.push(m.source);
        } else if (!this.d.volumes.get(m.source)) {
          this.d.volumes.create(m.source, { driver: g?.volumeDriver, options: g?.volumeOptions, labels: g?.volumeLabels });
        }
      }
      await this.populate(rec, st, dir);
    } catch (e) {
      for (const n of made) await this.d.volumes.remove(n, { refs: [] }).catch(() => {});
      throw e;
    }
    return st;
  }

  /** Docker's populateVolumes: each empty volume gets what the image has at its target (a directory). */
  private async populate(rec: ContainerRecord, st: ResolvedStorage, dir: string): Promise<void> {
    const wanted = st.mounts.filter((m) => m.type === 'volume' && m.origin !== 'volumes-from' && !m.given?.noCopy);
    if (!wanted.length) return;
    const img = this.d.images.get(rec.imageId);
    if (!img) throw new EngineError(404, `No such image: ${rec.image}`);
    const lowers = [join(dir, 'upper'), ...[...this.d.images.layerDirs(img)].reverse()];
    if (lowers.length < 2) {
      mkdirSync(join(dir, 'empty'), { recursive: true });
      lowers.push(join(dir, 'empty'));
    }
    const view = await mkdtemp(join(dir, 'populate-'));
    try {
      await mountReadOnly(lowers, view);
      for (const m of wanted) {
        let host: string;
        try {
          host = resolveInRoot(view, m.target, { followLast: true }).host;
        } catch {
          continue; // nothing in the image there
        }
        if (!lstatSync(host).isDirectory()) {
          if (m.origin === 'volumes') throw badRequest(`cannot mount volume over existing file, file exists ${m.target}`);
          continue;
        }
        const holder = `populate-${randomBytes(4).toString('hex')}`;
        const data = await this.d.volumes.acquire(m.source, holder);
        try {
          await run(monitorBinary(), ['copy-up', host, data, ...(this.d.confinesDevices ? [] : ['nodev'])], { env: {} as NodeJS.ProcessEnv });
        } catch (e) {
          throw new EngineError(500, `failed to populate volume ${m.source}: ${((e as { stderr?: string }).stderr || String(e)).trim()}`);
        } finally {
          await this.d.volumes.release(m.source, holder);
        }
      }
    } finally {
      await unmountOverlay(view).catch((e) => console.error(`berth: ${view}: ${(e as Error).message}`));
      await rm(view, { recursive: true, force: true });
    }
  }

  /**
   * The plan entries for a start, in Docker's order (shallower targets first): volumes are
   * held (and mounted) until stopped(), a missing -v source is made, slave propagation is
   * checked against the host's mount. Volume mount events go out as Docker's do.
   */
  async startMounts(rec: ContainerRecord): Promise<PlanMount[]> {
    const out: PlanMount[] = [];
    const mounts = [...(rec.spec.storage?.mounts ?? [])].sort((a, b) => a.target.split('/').length - b.target.split('/').length);
    try {
      for (const m of mounts) {
        const ro = m.readOnly ? ['ro'] : [];
        if (m.type === 'tmpfs') {
          out.push({ destination: m.target, type: 'tmpfs', source: 'tmpfs', options: mergeTmpfsOptions(m.tmpfsOptions ? m.tmpfsOptions.split(',') : []) });
          continue;
        }
        if (m.type === 'bind') {
          if (m.createSource && !existsSync(m.source)) {
            try {
              mkdirSync(m.source, { recursive: true, mode: 0o755 });
            } catch (e) {
              throw new EngineError(500, `error while creating mount source path '${m.source}': ${(e as Error).message}`);
            }
          }
          let propagation = m.propagation || 'rprivate';
          if (propagation.endsWith('slave')) {
            const real = realpathSync(m.source);
            const host = hostMountOf(real);
            if (!host.optional.some((o) => o.startsWith('shared:') || o.startsWith('master:'))) {
              // Docker falls back to private for a bind of (or into) its own root that the user did not ask to be a slave.
              const root = this.d.agentRoot;
              if (m.given?.propagation === undefined && (within(m.source, root) || within(root, m.source))) propagation = 'rprivate';
              else throw new EngineError(400, `path ${m.source} is mounted on ${host.mountPoint} but it is not a shared or slave mount`);
            }
          }
          out.push({ destination: m.target, type: 'bind', source: m.source, options: [m.nonRecursive ? 'bind' : 'rbind', ...ro, propagation] });
          continue;
        }
        const data = await this.d.volumes.acquire(m.source, rec.id);
        this.holding.add(rec.id);
        out.push({ destination: m.target, type: 'bind', source: data, options: ['rbind', ...ro, 'rprivate'] });
        this.d.volumes.notify({
          action: 'mount',
          name: m.source,
          attributes: { driver: 'local', container: rec.id, destination: m.target, 'read/write': String(!m.readOnly), propagation: m.propagation },
        });
      }
    } catch (e) {
      await this.stopped(rec);
      throw e instanceof EngineError ? e : new EngineError(500, (e as Error).message);
    }
    return out;
  }

  /** After a run (or a start that failed): its volumes let go, Docker's unmount events. Idempotent. */
  async stopped(rec: ContainerRecord): Promise<void> {
    if (!this.holding.delete(rec.id)) return;
    const names = new Set((rec.spec.storage?.mounts ?? []).filter((m) => m.type === 'volume').map((m) => m.source));
    for (const n of names) {
      await this.d.volumes.release(n, rec.id).catch((e) => console.error(`berth: volume ${n}: ${(e as Error).message}`));
      this.d.volumes.notify({ action: 'unmount', name: n, attributes: { driver: 'local', container: rec.id } });
    }
  }

  /** After its record is gone: with `removeVolumes`, its anonymous volumes nobody else refers to (Docker's removeMountPoints). */
  async removed(rec: ContainerRecord, removeVolumes: boolean): Promise<void> {
    await this.stopped(rec);
    if (!removeVolumes) return;
    for (const m of rec.spec.storage?.mounts ?? []) {
      if (m.type !== 'volume' || !m.anonymous || !m.source) continue;
      const refs = this.refs(m.source);
      if (refs.length) continue; // still in use by another container: not an error, as in Docker
      await this.d.volumes.remove(m.source, { refs, force: true }).catch((e) => console.error(`berth: remove volume ${m.source}: ${(e as Error).message}`));
    }
  }

  /** At agent start: running containers hold their volumes again. */
  async adopt(): Promise<void> {
    const held = new Map<string, string[]>();
    for (const c of this.d.records.all()) {
      if (!c.state.running || c.state.status === 'restarting') continue;
      const names = (c.spec.storage?.mounts ?? []).filter((m) => m.type === 'volume').map((m) => m.source);
      if (names.length) this.holding.add(c.id);
      for (const n of names) held.set(n, [...(held.get(n) ?? []), c.id]);
    }
    await this.d.volumes.adopt(held);
  }

  /**
   * For `docker cp`: the container's binds and volumes as mount-in entries over a view of its
   * root (tmpfs mounts are left out, as Docker's cp gives them empty), volumes held until
   * `release` is called.
   */
  async viewMounts(rec: ContainerRecord): Promise<{ mounts: Array<{ target: string; source: string; readOnly: boolean; nonRecursive: boolean }>; release: () => Promise<void> }> {
    const holder = `cp-${randomBytes(4).toString('hex')}`;
    const held: string[] = [];
    const out: Array<{ target: string; source: string; readOnly: boolean; nonRecursive: boolean }> = [];
    const release = async () => {
      for (const n of held.splice(0)) await this.d.volumes.release(n, holder).catch(() => {});
    };
    try {
      const mounts = [...(rec.spec.storage?.mounts ?? [])].sort((a, b) => a.target.split('/').length - b.target.split('/').length);
      for (const m of mounts) {
        if (m.type === 'tmpfs') continue;
        if (m.type === 'bind') {
          if (!existsSync(m.source)) continue;
          out.push({ target: m.target, source: m.source, readOnly: m.readOnly, nonRecursive: m.nonRecursive });
          continue;
        }
        const data = await this.d.volumes.acquire(m.source, holder);
        held.push(m.source);
        out.push({ target: m.target, source: data, readOnly: m.readOnly, nonRecursive: false });
      }
    } catch (e) {
      await release();
      throw e;
    }
    return { mounts: out, release };
  }

  /** Running containers other than `rec` that see any of the same host directories (a shared volume, overlapping binds). */
  sharers(rec: ContainerRecord): ContainerRecord[] {
    const mine = mountSources(rec, this.d.volumes);
    if (!mine.length) return [];
    return this.d.records.all().filter((c) => {
      if (c.id === rec.id || !c.state.running || c.state.status === 'restarting' || !c.state.pid) return false;
      return mountSources(c, this.d.volumes).some((p) => mine.some((q) => within(p, q) || within(q, p)));
    });
  }
}
