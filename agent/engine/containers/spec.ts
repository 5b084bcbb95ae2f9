// From an image config and a container spec to the container's resolved spec, Docker's
// way. Every caller (Docker API face, link, dashboard) gets the same checks and defaults here.
import { hostname as hostHostname } from 'node:os';
import { containerSpecSchema, type ContainerSpec, type ResolvedSpec } from '../../../protocol/container';
import { badRequest } from '../errors';
import { resolveLogConfig } from '../logs/config';
import type { ImageConfig } from '../types';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Docker's floor: below it the kernel OOM-kills the container before its init runs. */
export const MIN_MEMORY = 6 * 1024 * 1024;

export function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) {
    const eq = e.indexOf('=');
    // "KEY" without "=" removes it, as `docker run -e KEY` does when KEY is unset.
    if (eq < 0) out.delete(e);
    else out.set(e.slice(0, eq), e);
  }
  return [...out.values()];
}

/** A spec from an untrusted caller: unknown keys and wrong types are a 400 naming the field. */
export function checkSpec(raw: unknown): ContainerSpec {
  const r = containerSpecSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    throw badRequest(`Berth does not support ${issue.keys.map((k) => (where ? `${where}.${k}` : k)).join(', ')} in a container spec`);
  }
  throw badRequest(`invalid container spec: ${where || 'spec'}: ${issue.message}`);
}

/** The process's stdin, TTY size and added groups, checked (the monitor takes a group as a name or a gid). */
function stdioSpec(p: NonNullable<ContainerSpec['process']>): Partial<ResolvedSpec['process']> {
  for (const g of p.groupAdd ?? []) {
    if (!g || /[:\n\0]/.test(g)) throw badRequest(`invalid --group-add ${JSON.stringify(g)}: not a group name or id`);
  }
  return {
    openStdin: p.openStdin ?? false,
    stdinOnce: p.stdinOnce ?? false,
    attachStdin: p.attachStdin ?? false,
    groupAdd: p.groupAdd ?? [],
    ...(p.tty && p.consoleSize ? { consoleSize: p.consoleSize } : {}),
  };
}

export function resolveSpec(id: string, spec: ContainerSpec, img: ImageConfig): ResolvedSpec {
  const p = spec.process ?? {};
  const entrypoint = p.entrypoint ?? img.Entrypoint ?? [];
  // A new entrypoint drops the image's Cmd: it was written for the old one.
  const cmd = p.cmd ?? (p.entrypoint ? [] : (img.Cmd ?? []));
  if (!entrypoint.length && !cmd.length) throw badRequest('No command specified');
  let env = mergeEnv(img.Env ?? [], p.env ?? []);
  if (!env.some((e) => e.startsWith('PATH='))) env = [DEFAULT_PATH, ...env];

  const r = spec.resources ?? {};
  const memory = r.memory ?? 0;
  let memorySwap = r.memorySwap ?? 0;
  if (memory > 0 && memory < MIN_MEMORY) throw badRequest('Minimum memory limit allowed is 6MB');
  if (memorySwap > 0 && memory === 0) throw badRequest('You should always set the Memory limit when using Memoryswap limit');
  if (memorySwap > 0 && memorySwap < memory) throw badRequest('Minimum memoryswap limit should be larger than memory limit, see usage');
  // Docker lets a container with only a memory limit use as much swap again.
  if (memory > 0 && memorySwap === 0) memorySwap = memory * 2;

  const mode = spec.network?.mode ?? 'default';
  return {
    labels: { ...(img.Labels ?? {}), ...(spec.labels ?? {}) },
    process: {
      cmd,
      entrypoint,
      env,
      workingDir: p.workingDir ?? img.WorkingDir ?? '',
      user: p.user ?? img.User ?? '',
      tty: p.tty ?? false,
      ...stdioSpec(p),
    },
    resources: { memory, memorySwap, nanoCpus: r.nanoCpus ?? 0, cpuShares: r.cpuShares ?? 0, pidsLimit: r.pidsLimit ?? 0 },
    network: {
      mode,
      // With the host's network a container takes the host's name, as in Docker.
      hostname: spec.network?.hostname || (mode === 'host' ? hostHostname() : id.slice(0, 12)),
    },
    restart: { autoRemove: spec.restart?.autoRemove ?? false },
    log: resolveLogConfig(spec.log),
  };
}
