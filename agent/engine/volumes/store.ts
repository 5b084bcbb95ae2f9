// Named and anonymous volumes, Docker's local driver: ROOT/volumes/NAME/_data holds the
// content and ROOT/volumes/NAME/volume.json what the volume is (labels, driver options,
// when it was made). ROOT/volumes is closed to other users like the rest of the root (a
// volume may hold whatever a container puts there, setuid files included).
//
// A create is atomic: the volume is made under a dot-name and renamed into place once its
// record is on disk, so a crash never leaves half a volume; a remove renames it away first
// and deletes after. Leftovers of either are swept at load. Nothing is ever deleted while
// something is mounted at or below it (a bind volume's _data is the host's directory).
//
// Volumes with driver options (type=tmpfs, or type=none with o=bind) are mounted on their
// _data on the host while a container or the engine holds them, and unmounted when the
// last holder lets go, as Docker's local driver does: so a tmpfs volume is shared by the
// containers using it at the same time, and empty again once none does.
//
// Exports: VolumeStore, VolumeRecord, VolumeEvent, volumeError, ANONYMOUS_LABEL, checkVolumeName,
// mountsAt, directorySize.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { monitorBinary } from '../../native/binary';
import { writeFileAtomic } from '../atomic-write';
import { EngineError } from '../errors';
import { closeToOthers } from '../root';

const run = promisify(execFile);

/** The label Docker puts on a volume made without a name (moby's AnonymousLabel). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const RECORD = 'volume.json';
const DATA = '_data';

export interface VolumeRecord {
  name: string;
  driver: 'local';
  /** RFC 3339, seconds, as Docker shows it. */
  createdAt: string;
  labels: Record<string, string>;
  /** The local driver's options as given: type, device, o. */
  options: Record<string, string>;
  /** Where its content is on the host (Docker's Mountpoint). */
  mountpoint: string;
}

export interface VolumeEvent {
  action: 'create' | 'destroy' | 'mount' | 'unmount' | 'prune';
  /** The volume's name; "" for prune. */
  name: string;
  /** Docker's attributes: driver, and container, destination, read/write, propagation for mount; reclaimed for prune. */
  attributes: Record<string, string>;
}

/** Docker's words for a volume operation that failed: "create NAME: why", with the status that fits. */
export function volumeError(status: 400 | 404 | 409 | 500, op: string, name: string, why: string): EngineError {
  return new EngineError(status, `${op}${name ? ` ${name}` : ''}: ${why}`);
}

/** The local driver's rules for a name (moby's validateName). */
export function checkVolumeName(name: string): void {
  if (name.length === 1) throw volumeError(400, 'create', name, 'volume name is too short, names should be at least two alphanumeric characters');
  if (!NAME.test(name))
    throw volumeError(
      400,
      'create',
      name,
      `"${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
}

// The mount words of an `o` option the monitor knows (agent/native/rootfs.c): for a bind
// volume nothing else may be given, for a tmpfs the rest are the filesystem's own options.
const MOUNT_WORDS = new Set(['ro', 'rw', 'nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'noatime', 'relatime', 'strictatime', 'nodiratime', 'diratime', 'nosymfollow', 'symfollow', 'bind', 'rbind', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);

/** The local driver's options checked at create (moby's validateOpts), with what Berth can mount refused by name. */
function checkOptions(name: string, opts: Record<string, string>): void {
  const keys = Object.keys(opts);
  if (!keys.length) return;
  for (const k of keys) if (!['type', 'device', 'o', 'size'].includes(k)) throw volumeError(400, 'create', name, `invalid option: "${k}"`);
  if ('size' in opts) {
    // Docker's local driver takes a size only where it has XFS project quotas; Berth has no quotas.
    if (!/^0*(\.0*)?\s*[a-zA-Z]*$/.test(opts.size)) throw volumeError(400, 'create', name, 'quota size requested but no quota support');
  }
  const required: Record<string, string[]> = { device: ['type'], type: ['device'], o: ['device', 'type'] };
  for (const [k, needs] of Object.entries(required)) {
    if (!(k in opts)) continue;
    for (const n of needs) if (!(n in opts)) throw volumeError(400, 'create', name, `missing required option: "${n}"`);
  }
  if (!('type' in opts)) return;
  const words = (opts.o ?? '').split(',').filter((w) => w !== '');
  if ((opts.o ?? '').split(',').some((w) => w === '') && opts.o) throw volumeError(400, 'create', name, `invalid o option: "${opts.o}" has an empty item`);
  if (opts.type === 'tmpfs') return;
  if (opts.type === 'none') {
    if (!words.includes('bind') && !words.includes('rbind')) throw volumeError(400, 'create', name, 'Berth does not support a local volume of type none without o=bind (or rbind) yet');
    const bad = words.find((w) => !MOUNT_WORDS.has(w));
    if (bad) throw volumeError(400, 'create', name, `option "${bad}" does not apply to a bind mount`);
    if (!opts.device.startsWith('/')) throw volumeError(400, 'create', name, `a bind volume's device must be an absolute host path, not "${opts.device}"`);
    return;
  }
  throw volumeError(400, 'create', name, `Berth does not support local volumes of type "${opts.type}" yet (only type=tmpfs, and type=none with o=bind)`);
}

/** The mounts on this host at or below `path`, deepest first. */
export function mountsAt(path: string): string[] {
  const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m === path || m.startsWith(path + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Bytes of the regular files below `dir`, each inode once (Docker's directory.Size, as the
 *  image store counts a layer's size). */
export async function directorySize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      let st;
      try {
        st = await lstat(p);
      } catch {
        continue; // gone meanwhile
      }
      if (st.isDirectory()) {
        await walk(p);
        continue;
      }
      if (!st.isFile()) continue;
      const key = `${st.dev}:${st.ino}`;
      if (st.nlink > 1) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      total += st.size;
    }
  };
  await walk(dir);
  return total;
}

export class VolumeStore extends EventEmitter<{ volume: [VolumeEvent] }> {
  private readonly vols = new Map<string, VolumeRecord>();
  /** Who holds each mounted volume (container ids, or the engine's own copy and cp work). */
  private readonly holders = new Map<string, Set<string>>();
  /** Mounts and unmounts, one at a time per volume. */
  private readonly busy = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {
    super();
  }

  /** Reads the volumes on disk and sweeps what an interrupted create or remove left. */
  load(log: (line: string) => void = console.log): void {
    closeToOthers(this.dir, [''], 'the volume store', log);
    for (const n of readdirSync(this.dir)) {
      const d = join(this.dir, n);
      if (n.startsWith('.')) {
        // A create or remove that did not finish: gone, unless something is still mounted there.
        const left = mountsAt(d);
        if (left.length) console.error(`berth: volume leftover ${d} still has mounts (${left.join(', ')}); not removing it`);
        else rmSync(d, { recursive: true, force: true });
        continue;
      }
      let rec: VolumeRecord;
      try {
        rec = JSON.parse(readFileSync(join(d, RECORD), 'utf8')) as VolumeRecord;
      } catch (e) {
        console.error(`berth: volume ${n}: cannot read its record (${(e as Error).message}); leaving it out`);
        continue;
      }
      this.vols.set(rec.name, { ...rec, mountpoint: join(d, DATA) });
    }
  }

  dataDir(name: string): string {
    return join(this.dir, name, DATA);
  }

  list(): VolumeRecord[] {
    return [...this.vols.values()].map((v) => structuredClone(v));
  }

  get(name: string): VolumeRecord | undefined {
    const v = this.vols.get(name);
    return v && structuredClone(v);
  }

  /** Docker's 404 for a volume that is not there. */
  inspect(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw volumeError(404, 'get', name, 'no such volume');
    return v;
  }

  /** Mounted on its _data while held (driver options type and device). */
  needsMount(v: Pick<VolumeRecord, 'options'>): boolean {
    return !!(v.options.type || v.options.device);
  }

  /**
   * A new volume, or the one of that name when it exists (Docker returns it as it is).
   * Without a name it is anonymous: a random name and Docker's anonymous label.
   */
  create(name: string | undefined, opts: { driver?: string; options?: Record<string, string>; labels?: Record<string, string> } = {}): VolumeRecord {
    const driver = opts.driver || 'local';
    const anonymous = !name;
    const n = name || randomBytes(32).toString('hex');
    if (driver !== 'local') throw volumeError(400, 'create', n, `Berth does not support volume driver "${driver}" yet (only "local")`);
    checkVolumeName(n);
    const existing = this.vols.get(n);
    if (existing) return structuredClone(existing);
    const options = { ...(opts.options ?? {}) };
    checkOptions(n, options);
    const rec: VolumeRecord = {
      name: n,
      driver: 'local',
      createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { ...(opts.labels ?? {}), ...(anonymous ? { [ANONYMOUS_LABEL]: '' } : {}) },
      options,
      mountpoint: this.dataDir(n),
    };
    const tmp = join(this.dir, `.${n}.${randomBytes(4).toString('hex')}.new`);
    try {
      mkdirSync(tmp, { mode: 0o700 });
      mkdirSync(join(tmp, DATA), { mode: 0o755 });
      writeFileAtomic(join(tmp, RECORD), JSON.stringify({ ...rec, mountpoint: undefined }), { mode: 0o600 });
      renameSync(tmp, join(this.dir, n));
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw volumeError(500, 'create', n, (e as Error).message);
    }
    this.vols.set(n, rec);
    this.emit('volume', { action: 'create', name: n, attributes: { driver: 'local' } });
    return structuredClone(rec);
  }

  /**
   * Deletes a volume nothing refers to: `refs` are the containers that do (any state), a 409
   * in Docker's words when there are any. With `force` a volume that is not there is no error.
   */
  async remove(name: string, opts: { force?: boolean; refs: string[] }): Promise<void> {
    const v = this.vols.get(name);
    if (!v) {
      if (opts.force) return;
      throw volumeError(404, 'get', name, 'no such volume');
    }
    if (opts.refs.length) throw volumeError(409, 'remove', name, `volume is in use - [${opts.refs.join(', ')}]`);
    if (this.holders.get(name)?.size) throw volumeError(409, 'remove', name, 'volume is in use by a copy under way');
    await this.serial(name, async () => {
      const dir = join(this.dir, name);
      if (this.needsMount(v) && mountsAt(this.dataDir(name)).length) await this.umount(name);
      const left = mountsAt(dir);
      if (left.length) throw volumeError(500, 'remove', name, `something is still mounted in it: ${left.join(', ')}`);
      const gone = join(this.dir, `.${name}.${randomBytes(4).toString('hex')}.removed`);
      try {
        renameSync(dir, gone);
      } catch (e) {
        throw volumeError(500, 'remove', name, (e as Error).message);
      }
      this.vols.delete(name);
      rmSync(gone, { recursive: true, force: true });
    });
    this.emit('volume', { action: 'destroy', name, attributes: { driver: 'local' } });
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.busy.get(name) ?? Promise.resolve();
    const p = prev.then(fn, fn);
    const done = p.then(
      () => {},
      () => {},
    );
    this.busy.set(name, done);
    void done.then(() => {
      if (this.busy.get(name) === done) this.busy.delete(name);
    });
    return p;
  }

  /**
   * The volume's content directory, mounted first when its options say so. Each holder
   * (a container id, or a name for the engine's own work) releases it once.
   */
  acquire(name: string, holder: string): Promise<string> {
    const v = this.vols.get(name);
    if (!v) return Promise.reject(volumeError(404, 'get', name, 'no such volume'));
    return this.serial(name, async () => {
      const set = this.holders.get(name) ?? new Set<string>();
      if (this.needsMount(v) && !mountsAt(this.dataDir(name)).includes(this.dataDir(name))) await this.mount(v);
      set.add(holder);
      this.holders.set(name, set);
      return this.dataDir(name);
    });
  }

  /** A holder lets go; the last one unmounts a mounted volume. Releasing twice is harmless. */
  release(name: string, holder: string): Promise<void> {
    const set = this.holders.get(name);
    if (!set?.delete(holder)) return Promise.resolve();
    if (set.size) return Promise.resolve();
    this.holders.delete(name);
    const v = this.vols.get(name);
    if (!v || !this.needsMount(v)) return Promise.resolve();
    return this.serial(name, async () => {
      if (this.holders.get(name)?.size) return;
      if (mountsAt(this.dataDir(name)).length) await this.umount(name);
    });
  }

  /**
   * At agent start: the containers found running hold their volumes again; a mounted volume
   * nobody holds any more (its containers stopped while no agent watched) is unmounted.
   */
  async adopt(held: Map<string, string[]>): Promise<void> {
    for (const v of this.vols.values()) {
      const ids = held.get(v.name) ?? [];
      if (ids.length) this.holders.set(v.name, new Set([...(this.holders.get(v.name) ?? []), ...ids]));
      else if (this.holders.get(v.name)?.size) continue;
      else if (this.needsMount(v) && mountsAt(this.dataDir(v.name)).length) {
        await this.serial(v.name, () => this.umount(v.name)).catch((e) => console.error(`berth: volume ${v.name}: ${(e as Error).message}`));
      }
    }
  }

  private async mount(v: VolumeRecord): Promise<void> {
    const { type, device, o = '' } = v.options;
    // The local driver hands type=none to mount(2) with MS_BIND: here that is a bind.
    const fstype = type === 'none' ? 'bind' : type;
    if (fstype === 'bind' && !existsSync(device)) {
      throw volumeError(500, 'mount', v.name, `failed to mount local volume: mount ${device}:${this.dataDir(v.name)}: no such file or directory`);
    }
    try {
      await run(monitorBinary(), ['mount-in', join(this.dir, v.name), `/${DATA}`, fstype, device, o], { env: {} as NodeJS.ProcessEnv });
    } catch (e) {
      const msg = ((e as { stderr?: string }).stderr || String(e)).trim().replace(/^berth-monitor: /, '');
      throw volumeError(500, 'mount', v.name, `failed to mount local volume: ${msg}`);
    }
  }

  private async umount(name: string): Promise<void> {
    try {
      await run(monitorBinary(), ['umount', this.dataDir(name)], { env: {} as NodeJS.ProcessEnv });
    } catch (e) {
      throw volumeError(500, 'unmount', name, ((e as { stderr?: string }).stderr || String(e)).trim());
    }
  }

  /** Bytes used by its content (-1 when it cannot be read, as Docker reports it). */
  async size(name: string): Promise<number> {
    const d = this.dataDir(name);
    try {
      if (!lstatSync(d).isDirectory()) return -1;
    } catch {
      return -1;
    }
    return directorySize(d);
  }

  /** Names of volumes currently mounted on the host by this store (tests, shutdown). */
  mounted(): string[] {
    return [...this.vols.keys()].filter((n) => mountsAt(this.dataDir(n)).length);
  }

  notifyPrune(reclaimed: number): void {
    this.emit('volume', { action: 'prune', name: '', attributes: { reclaimed: String(reclaimed) } });
  }

  /** For the storage code: a mount or unmount event of a container, as Docker reports it. */
  notify(e: VolumeEvent): void {
    this.emit('volume', e);
  }
}
