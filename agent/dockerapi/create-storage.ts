// The storage part of Docker's create body (-v/--volume as HostConfig.Binds and
// Config.Volumes, --mount as HostConfig.Mounts, --volumes-from, --volume-driver) mapped into
// the engine's spec, and back into inspect's and ps's shapes. The engine checks the mounts
// (agent/engine/volumes/mounts.ts, Docker's rules and words); this parses Docker's strings
// and objects and refuses by name what Berth does not do, including the fields of a Mount
// that came after API 1.41 (the CLI sends them when asked: volume-subpath …).
import { existsSync } from 'node:fs';
import type { ContainerRecord, ContainerSpec, MountSpec, ResolvedMount } from '../../protocol/container';
import { HttpError } from './http';
import { isUnset, type FieldRule } from './create-fields';

type Storage = NonNullable<ContainerSpec['storage']>;

const implemented: FieldRule = { kind: 'implemented' };
const refused = (flag: string): FieldRule => ({ kind: 'refused', flag });

/** Docker's Mount object, field by field (API 1.50's; the fields after 1.41 refused by the option that sets them). */
export const MOUNT_FIELDS: Record<string, FieldRule> = {
  Target: implemented,
  Source: implemented,
  Type: implemented,
  ReadOnly: implemented,
  Consistency: { kind: 'inert', why: 'Docker for Mac only; Linux mounts are always consistent' },
  BindOptions: implemented,
  VolumeOptions: implemented,
  TmpfsOptions: implemented,
  ImageOptions: refused('--mount type=image'),
  ClusterOptions: refused('--mount type=cluster'),
};
export const BIND_OPTION_FIELDS: Record<string, FieldRule> = {
  Propagation: implemented,
  NonRecursive: implemented,
  CreateMountpoint: refused('--mount bind-create-src'),
  ReadOnlyNonRecursive: refused('--mount bind-recursive=writable'),
  ReadOnlyForceRecursive: refused('--mount bind-recursive=readonly'),
};
export const VOLUME_OPTION_FIELDS: Record<string, FieldRule> = {
  NoCopy: implemented,
  Labels: implemented,
  DriverConfig: implemented,
  Subpath: refused('--mount volume-subpath'),
};
export const DRIVER_CONFIG_FIELDS: Record<string, FieldRule> = { Name: implemented, Options: implemented };
export const TMPFS_OPTION_FIELDS: Record<string, FieldRule> = {
  SizeBytes: implemented,
  Mode: implemented,
  Options: refused('--mount tmpfs options other than tmpfs-size and tmpfs-mode (TmpfsOptions.Options)'),
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The first field of `o` that is set and not implemented, named as the option a user typed. */
function refusedIn(o: Record<string, unknown>, table: Record<string, FieldRule>, where: string): string | undefined {
  for (const [k, v] of Object.entries(o)) {
    const rule = table[k];
    if (!rule) {
      if (!isUnset(v)) return `${where}.${k}`;
    } else if (rule.kind === 'refused' && !isUnset(v)) return rule.flag;
  }
  return undefined;
}

const bad = (msg: string) => new HttpError(400, msg);
const str = (v: unknown, where: string): string | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`invalid container config: ${where}: expected a string`);
  return v;
};
const bool = (v: unknown, where: string): boolean | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(`invalid container config: ${where}: expected a boolean`);
  return v;
};
const int = (v: unknown, where: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(`invalid container config: ${where}: expected an integer`);
  return v;
};
const strMap = (v: unknown, where: string): Record<string, string> | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) throw bad(`invalid container config: ${where}: expected an object of strings`);
  return Object.keys(v).length ? (v as Record<string, string>) : undefined;
};

/** Whether this host labels files for SELinux, where -v's z and Z would have to relabel. */
const selinuxEnforced = () => existsSync('/sys/fs/selinux/enforce');

const RW_MODES = new Set(['ro', 'rw']);
const LABEL_MODES = new Set(['z', 'Z']);
const PROPAGATION_MODES = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
const COPY_MODES = new Set(['nocopy']);
const CONSISTENCY_MODES = new Set(['consistent', 'cached', 'delegated']);

/** moby's linuxValidMountMode: known words, at most one of each kind. */
export function validMountMode(mode: string): boolean {
  if (mode === '') return true;
  const count = [0, 0, 0, 0, 0];
  for (const w of mode.split(',')) {
    const kind = [RW_MODES, LABEL_MODES, PROPAGATION_MODES, COPY_MODES, CONSISTENCY_MODES].findIndex((s) => s.has(w));
    if (kind < 0) return false;
    count[kind]++;
  }
  return count.every((n) => n <= 1);
}

/**
 * One `-v` (HostConfig.Binds entry), as moby's ParseMountRaw reads it: SRC:DST[:MODE], a
 * source that is an absolute path being a bind and anything else a volume's name; a bind's
 * missing source is made at start. z and Z relabel for SELinux: without SELinux Docker does
 * nothing for them, and neither does Berth; on an SELinux host they are refused.
 */
export function parseBind(raw: string, volumeDriver = ''): MountSpec {
  const arr = raw.split(':');
  const parts = arr.length > 4 ? [...arr.slice(0, 3), arr.slice(3).join(':')] : arr;
  const invalid = () => bad(`invalid volume specification: '${raw}'`);
  if (parts[0] === '') throw invalid();
  let source: string | undefined;
  let target: string;
  let mode = '';
  switch (parts.length) {
    case 1:
      target = parts[0];
      break;
    case 2:
      // A destination and a mode is not a volume: volumes cannot have a mode alone ("/foo:rw").
      if (validMountMode(parts[1])) throw invalid();
      [source, target] = parts;
      break;
    case 3:
      [source, target, mode] = parts;
      break;
    default:
      throw invalid();
  }
  if (!validMountMode(mode)) throw bad(`invalid mode: ${mode}`);
  const words = mode ? mode.split(',') : [];
  if (words.some((w) => LABEL_MODES.has(w)) && selinuxEnforced()) throw bad(`Berth does not support SELinux relabeling (-v …:${words.find((w) => LABEL_MODES.has(w))}) yet`);
  const isBind = !!source && source.startsWith('/');
  const m: MountSpec = { type: isBind ? 'bind' : 'volume', target, volumeFlag: raw };
  if (source) m.source = source;
  if (words.includes('ro')) m.readOnly = true;
  if (words.includes('nocopy')) m.noCopy = true;
  const prop = words.find((w) => PROPAGATION_MODES.has(w));
  if (prop) m.propagation = prop as MountSpec['propagation'];
  if (isBind) m.createSource = true;
  if (!isBind && volumeDriver) m.volumeDriver = volumeDriver;
  return m;
}

/** One HostConfig.Mounts entry (what `--mount` sends) → the engine's MountSpec. */
export function parseMount(raw: unknown, i: number): MountSpec {
  const where = `HostConfig.Mounts.${i}`;
  if (!isObject(raw)) throw bad(`invalid container config: ${where}: expected an object`);
  const sub = (k: string) => (isObject(raw[k]) ? (raw[k] as Record<string, unknown>) : undefined);
  const refusedField =
    refusedIn(raw, MOUNT_FIELDS, where) ??
    (sub('BindOptions') ? refusedIn(sub('BindOptions')!, BIND_OPTION_FIELDS, `${where}.BindOptions`) : undefined) ??
    (sub('VolumeOptions') ? refusedIn(sub('VolumeOptions')!, VOLUME_OPTION_FIELDS, `${where}.VolumeOptions`) : undefined) ??
    (isObject(sub('VolumeOptions')?.DriverConfig) ? refusedIn(sub('VolumeOptions')!.DriverConfig as Record<string, unknown>, DRIVER_CONFIG_FIELDS, `${where}.VolumeOptions.DriverConfig`) : undefined) ??
    (sub('TmpfsOptions') ? refusedIn(sub('TmpfsOptions')!, TMPFS_OPTION_FIELDS, `${where}.TmpfsOptions`) : undefined);
  if (refusedField) throw bad(`Berth does not support ${refusedField} yet`);
  const type = str(raw.Type, `${where}.Type`) ?? '';
  if (type === 'image' || type === 'cluster') throw bad(`Berth does not support --mount type=${type} yet`);
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw bad(`invalid mount config for type "${type}": mount type unknown`);
  const m: MountSpec = { type, target: str(raw.Target, `${where}.Target`) ?? '' };
  const source = str(raw.Source, `${where}.Source`);
  if (source) m.source = source;
  if (bool(raw.ReadOnly, `${where}.ReadOnly`)) m.readOnly = true;
  const b = sub('BindOptions');
  const v = sub('VolumeOptions');
  const t = sub('TmpfsOptions');
  // A section that is given at all counts, as in Docker (validateExclusiveOptions).
  const exclusive = (section: string, given: unknown, ok: boolean) => {
    if (given !== undefined && given !== null && !ok) throw bad(`invalid mount config for type "${type}": field ${section} must not be specified`);
  };
  exclusive('BindOptions', raw.BindOptions, type === 'bind');
  exclusive('VolumeOptions', raw.VolumeOptions, type === 'volume');
  exclusive('TmpfsOptions', raw.TmpfsOptions, type === 'tmpfs');
  if (b) {
    const p = str(b.Propagation, `${where}.BindOptions.Propagation`);
    if (p) {
      if (!PROPAGATION_MODES.has(p)) throw bad(`invalid mount config for type "bind": invalid propagation mode: ${p}`);
      m.propagation = p as MountSpec['propagation'];
    }
    if (bool(b.NonRecursive, `${where}.BindOptions.NonRecursive`)) m.nonRecursive = true;
  }
  if (v) {
    if (bool(v.NoCopy, `${where}.VolumeOptions.NoCopy`)) m.noCopy = true;
    const labels = strMap(v.Labels, `${where}.VolumeOptions.Labels`);
    if (labels) m.volumeLabels = labels;
    if (isObject(v.DriverConfig)) {
      const name = str(v.DriverConfig.Name, `${where}.VolumeOptions.DriverConfig.Name`);
      if (name) m.volumeDriver = name;
      const opts = strMap(v.DriverConfig.Options, `${where}.VolumeOptions.DriverConfig.Options`);
      if (opts) m.volumeOptions = opts;
    }
  }
  if (t) {
    const size = int(t.SizeBytes, `${where}.TmpfsOptions.SizeBytes`);
    if (size !== undefined && size < 0) throw bad(`invalid mount config for type "tmpfs": invalid size: ${size}`);
    if (size) m.tmpfsSize = size;
    const mode = int(t.Mode, `${where}.TmpfsOptions.Mode`);
    if (mode !== undefined && (mode < 0 || mode > 0o7777)) throw bad(`invalid mount config for type "tmpfs": invalid mode: ${mode}`);
    if (mode) m.tmpfsMode = mode;
  }
  return m;
}

/** The storage section of the spec from Docker's create body; undefined when the body sets none of it. */
export function storageSpec(body: Record<string, unknown>): Storage | undefined {
  const hc = isObject(body.HostConfig) ? body.HostConfig : {};
  const out: Storage = {};
  const binds = hc.Binds;
  const driver = str(hc.VolumeDriver, 'HostConfig.VolumeDriver') ?? '';
  if (binds !== undefined && binds !== null && (!Array.isArray(binds) || binds.some((b) => typeof b !== 'string'))) throw bad('invalid container config: HostConfig.Binds: expected a list of strings');
  const mounts: MountSpec[] = [...((binds as string[] | null | undefined) ?? []).map((b) => parseBind(b, driver))];
  const raw = hc.Mounts;
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) throw bad('invalid container config: HostConfig.Mounts: expected a list');
  mounts.push(...((raw as unknown[] | null | undefined) ?? []).map((m, i) => parseMount(m, i)));
  if (mounts.length) out.mounts = mounts;
  const vols = body.Volumes;
  if (vols !== undefined && vols !== null && !isObject(vols)) throw bad('invalid container config: Volumes: expected an object');
  const volumes = Object.keys((vols as Record<string, unknown> | null | undefined) ?? {});
  if (volumes.length) out.volumes = volumes;
  const from = hc.VolumesFrom;
  if (from !== undefined && from !== null && (!Array.isArray(from) || from.some((f) => typeof f !== 'string'))) throw bad('invalid container config: HostConfig.VolumesFrom: expected a list of strings');
  if ((from as string[] | null | undefined)?.length) out.volumesFrom = from as string[];
  return Object.keys(out).length ? out : undefined;
}

/** A MountSpec as the Mount object Docker keeps in HostConfig.Mounts (empty fields left out, as Go's omitempty does). */
function dockerMount(m: MountSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { Type: m.type };
  if (m.source) out.Source = m.source;
  out.Target = m.target;
  if (m.readOnly) out.ReadOnly = true;
  if (m.propagation || m.nonRecursive) out.BindOptions = { ...(m.propagation ? { Propagation: m.propagation } : {}), ...(m.nonRecursive ? { NonRecursive: true } : {}) };
  if (m.noCopy || m.volumeLabels || m.volumeDriver || m.volumeOptions) {
    out.VolumeOptions = {
      ...(m.noCopy ? { NoCopy: true } : {}),
      ...(m.volumeLabels ? { Labels: m.volumeLabels } : {}),
      ...(m.volumeDriver || m.volumeOptions ? { DriverConfig: { ...(m.volumeDriver ? { Name: m.volumeDriver } : {}), ...(m.volumeOptions ? { Options: m.volumeOptions } : {}) } } : {}),
    };
  }
  if (m.tmpfsSize || m.tmpfsMode) out.TmpfsOptions = { ...(m.tmpfsSize ? { SizeBytes: m.tmpfsSize } : {}), ...(m.tmpfsMode ? { Mode: m.tmpfsMode } : {}) };
  return out;
}

const mountsOf = (c: ContainerRecord): ResolvedMount[] => c.spec.storage?.mounts ?? [];

/** Inspect's HostConfig.Binds, .Mounts, .VolumesFrom and .VolumeDriver: what was asked, as Docker keeps it. */
export function storageHostConfig(c: ContainerRecord): Record<string, unknown> {
  const binds = mountsOf(c).filter((m) => m.origin === 'binds' && m.given?.volumeFlag !== undefined).map((m) => m.given!.volumeFlag!);
  const mounts = mountsOf(c).filter((m) => m.origin === 'mounts' && m.given).map((m) => dockerMount(m.given!));
  const from = c.spec.storage?.volumesFrom ?? [];
  return { Binds: binds.length ? binds : null, Mounts: mounts.length ? mounts : undefined, VolumesFrom: from.length ? from : null, VolumeDriver: '' };
}

/** Inspect's Config.Volumes: the image's VOLUMEs and `-v /path` ones. */
export function storageConfig(c: ContainerRecord): Record<string, unknown> {
  const v = c.spec.storage?.volumes ?? [];
  return { Volumes: v.length ? Object.fromEntries(v.map((p) => [p, {}])) : null };
}

/** Docker's MountPoint list (inspect's and ps's Mounts); `dataDir` is where a volume's content is. */
export function mountPoints(c: ContainerRecord, dataDir: (name: string) => string): Array<Record<string, unknown>> {
  return mountsOf(c).map((m) => ({
    Type: m.type,
    ...(m.type === 'volume' ? { Name: m.source } : {}),
    Source: m.type === 'volume' ? dataDir(m.source) : m.type === 'bind' ? m.source : '',
    Destination: m.target,
    ...(m.type === 'volume' ? { Driver: 'local' } : {}),
    Mode: m.mode,
    RW: !m.readOnly,
    Propagation: m.propagation,
  }));
}

/** `ps --filter volume=X`: a container with a volume of that name, a bind of that host path, or anything mounted at that container path. */
export function mountsMatch(c: ContainerRecord, value: string): boolean {
  return mountsOf(c).some((m) => m.target === value || (m.type !== 'tmpfs' && m.source === value));
}
