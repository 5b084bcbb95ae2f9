// The isolation part of Docker's create body (--privileged, --cap-add/--cap-drop,
// --security-opt, --read-only, --tmpfs, --shm-size, --ulimit, --sysctl, --device, --pid,
// --ipc, --uts, --init, --stop-signal, --stop-timeout) mapped into the engine's spec, and
// back into inspect's shape. The engine checks values (agent/engine/containers/security.ts);
// this maps Docker's words, and refuses by name the ones Berth does not do.
import { z } from 'zod';
import type { ContainerRecord, ContainerSpec } from '../engine/types';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE } from '../engine/containers/mount-plan';
import { HttpError } from './http';

const strSlice = z.union([z.array(z.string()), z.string().transform((s) => [s])]).nullish(); // Docker's StrSlice
const hostSchema = z.object({
  Privileged: z.boolean().nullish(),
  CapAdd: strSlice,
  CapDrop: strSlice,
  SecurityOpt: z.array(z.string()).nullish(),
  ReadonlyRootfs: z.boolean().nullish(),
  Tmpfs: z.record(z.string(), z.string()).nullish(),
  ShmSize: z.number().int().nullish(),
  Ulimits: z.array(z.object({ Name: z.string(), Soft: z.number().int(), Hard: z.number().int() })).nullish(),
  Sysctls: z.record(z.string(), z.string()).nullish(),
  Devices: z.array(z.object({ PathOnHost: z.string(), PathInContainer: z.string().nullish(), CgroupPermissions: z.string().nullish() })).nullish(),
  PidMode: z.string().nullish(),
  IpcMode: z.string().nullish(),
  UTSMode: z.string().nullish(),
  Init: z.boolean().nullish(),
  MaskedPaths: z.array(z.string()).nullish(),
  ReadonlyPaths: z.array(z.string()).nullish(),
});
const configSchema = z.object({ StopSignal: z.string().nullish(), StopTimeout: z.number().int().nullish() });

type Isolation = Pick<ContainerSpec, 'security' | 'filesystem' | 'namespaces' | 'kernel'> & { process: NonNullable<ContainerSpec['process']> };

function parse<T>(schema: z.ZodType<T>, v: unknown, where: string): T {
  const r = schema.safeParse(v ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new HttpError(400, `invalid container config: ${[where, ...issue.path].filter(Boolean).join('.')}: ${issue.message}`);
}

// Go's strconv.ParseBool.
const BOOLS: Record<string, boolean> = { 1: true, t: true, T: true, TRUE: true, true: true, True: true, 0: false, f: false, F: false, FALSE: false, false: false, False: false };

/** Docker's parseSecurityOpt: KEY=VALUE (or the older KEY:VALUE), and bare no-new-privileges. */
function securityOpts(opts: string[]): { noNewPrivileges?: boolean; seccomp?: NonNullable<ContainerSpec['security']>['seccomp'] } {
  const out: ReturnType<typeof securityOpts> = {};
  for (const opt of opts) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    if (opt === 'disable') throw new HttpError(400, 'Berth does not support --security-opt label yet');
    const sep = /[=:]/.exec(opt);
    if (!sep) throw new HttpError(400, `invalid --security-opt 1: "${opt}"`);
    const key = opt.slice(0, sep.index);
    const value = opt.slice(sep.index + 1);
    switch (key) {
      case 'seccomp':
        // The CLI reads a profile's file and sends its contents.
        out.seccomp = value === 'unconfined' ? 'unconfined' : value === 'builtin' ? 'default' : { profile: value };
        break;
      case 'no-new-privileges':
        if (!(value in BOOLS)) throw new HttpError(400, `invalid --security-opt 2: "${opt}"`);
        out.noNewPrivileges = BOOLS[value];
        break;
      case 'apparmor':
      case 'label':
      case 'writable-cgroups':
        throw new HttpError(400, `Berth does not support --security-opt ${key} yet`);
      default:
        throw new HttpError(400, `invalid --security-opt 2: "${opt}"`);
    }
  }
  return out;
}

function namespaceMode<T extends string>(v: string | null | undefined, flag: string, allowed: readonly T[], what: string): T | undefined {
  if (!v) return undefined;
  if (v.startsWith('container:') && flag !== '--uts') throw new HttpError(400, `Berth does not support ${flag} container:NAME yet`);
  if (!(allowed as readonly string[]).includes(v)) throw new HttpError(400, `invalid ${what} mode: ${v}`);
  return v as T;
}

/** The isolation sections of the engine's spec from Docker's create body (HostConfig and Config). */
export function isolationSpec(body: Record<string, unknown>): Isolation {
  const hc = parse(hostSchema, body.HostConfig, 'HostConfig');
  const c = parse(configSchema, body, '');
  if (hc.ShmSize !== undefined && hc.ShmSize !== null && hc.ShmSize < 0) throw new HttpError(400, 'SHM size can not be less than 0');
  const sec = securityOpts(hc.SecurityOpt ?? []);
  return {
    process: {
      init: hc.Init ?? undefined,
      stopSignal: c.StopSignal || undefined,
      stopTimeout: c.StopTimeout ?? undefined,
    },
    security: {
      privileged: hc.Privileged ?? undefined,
      capAdd: hc.CapAdd ?? undefined,
      capDrop: hc.CapDrop ?? undefined,
      noNewPrivileges: sec.noNewPrivileges,
      seccomp: sec.seccomp,
      // null (not given) is Docker's lists; [] (`--security-opt systempaths=unconfined`) is none.
      maskedPaths: hc.MaskedPaths ?? undefined,
      readonlyPaths: hc.ReadonlyPaths ?? undefined,
      devices: hc.Devices?.map((d) => ({ hostPath: d.PathOnHost, containerPath: d.PathInContainer || undefined, permissions: d.CgroupPermissions || undefined })),
    },
    filesystem: { readonlyRootfs: hc.ReadonlyRootfs ?? undefined, tmpfs: hc.Tmpfs ?? undefined, shmSize: hc.ShmSize || undefined },
    namespaces: {
      pid: namespaceMode(hc.PidMode, '--pid', ['host'] as const, 'PID'),
      ipc: namespaceMode(hc.IpcMode, '--ipc', ['private', 'shareable', 'host', 'none'] as const, 'IPC'),
      uts: namespaceMode(hc.UTSMode, '--uts', ['host'] as const, 'UTS'),
    },
    kernel: { sysctls: hc.Sysctls ?? undefined, ulimits: hc.Ulimits?.map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })) },
  };
}

/** Without the fields left unset, and without sections left empty: a body that sets none of these options maps as before they existed. */
function compact<T extends object>(o: T): Partial<T> | undefined {
  const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return Object.keys(out).length ? (out as Partial<T>) : undefined;
}

/** `spec` with the isolation sections of `body` in it. */
export function withIsolation(body: Record<string, unknown>, spec: ContainerSpec): ContainerSpec {
  const { process, security, filesystem, namespaces, kernel } = isolationSpec(body);
  const sections = { security: compact(security ?? {}), filesystem: compact(filesystem ?? {}), namespaces: compact(namespaces ?? {}), kernel: compact(kernel ?? {}) };
  return { ...spec, process: { ...spec.process, ...compact(process) }, ...compact(sections) };
}

/** Inspect's HostConfig fields for these options, as Docker fills them in. */
export function isolationHostConfig(c: ContainerRecord): Record<string, unknown> {
  const { security: s, filesystem: f, namespaces: n, kernel: k } = c.spec;
  const opts = [
    ...(s.noNewPrivileges ? ['no-new-privileges'] : []),
    ...(s.seccomp === 'unconfined' ? ['seccomp=unconfined'] : typeof s.seccomp === 'object' ? [`seccomp=${s.seccomp.profile}`] : []),
  ];
  return {
    Privileged: s.privileged,
    CapAdd: s.capAdd.length ? s.capAdd : null,
    CapDrop: s.capDrop.length ? s.capDrop : null,
    SecurityOpt: opts.length ? opts : null,
    ReadonlyRootfs: f.readonlyRootfs,
    Tmpfs: Object.keys(f.tmpfs).length ? f.tmpfs : null,
    ShmSize: f.shmSize || DEFAULT_SHM_SIZE,
    Ulimits: k.ulimits.length ? k.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) : null,
    Sysctls: Object.keys(k.sysctls).length ? k.sysctls : null,
    Devices: s.devices.map((d) => ({ PathOnHost: d.hostPath, PathInContainer: d.containerPath, CgroupPermissions: d.permissions })),
    PidMode: n.pid === 'private' ? '' : n.pid,
    IpcMode: n.ipc,
    UTSMode: n.uts === 'private' ? '' : n.uts,
    Init: c.spec.process.init || null,
    MaskedPaths: s.maskedPaths ?? (s.privileged ? null : DEFAULT_MASKED_PATHS),
    ReadonlyPaths: s.readonlyPaths ?? (s.privileged ? null : DEFAULT_READONLY_PATHS),
  };
}

/** Inspect's Config fields. */
export function isolationConfig(c: ContainerRecord): Record<string, unknown> {
  return {
    ...(c.spec.process.stopSignal ? { StopSignal: c.spec.process.stopSignal } : {}),
    ...(c.spec.process.stopTimeout !== null ? { StopTimeout: c.spec.process.stopTimeout } : {}),
  };
}
