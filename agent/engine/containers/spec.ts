// From an image config and a create spec to the container's effective config, Docker's way.
import { constants, hostname as hostHostname } from 'node:os';
import { badRequest } from '../errors';
import type { ContainerCreateSpec, ContainerRecord, ImageConfig } from '../types';

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MIN_MEMORY = 6 * 1024 * 1024;

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

export function effectiveConfig(id: string, spec: ContainerCreateSpec, img: ImageConfig): {
  config: ContainerRecord['config'];
  hostConfig: ContainerRecord['hostConfig'];
} {
  const entrypoint = spec.entrypoint ?? img.Entrypoint ?? [];
  // A new entrypoint drops the image's Cmd: it was written for the old one.
  const cmd = spec.cmd ?? (spec.entrypoint ? [] : (img.Cmd ?? []));
  if (!entrypoint.length && !cmd.length) throw badRequest('No command specified');
  let env = mergeEnv(img.Env ?? [], spec.env ?? []);
  if (!env.some((e) => e.startsWith('PATH='))) env = [DEFAULT_PATH, ...env];

  const memory = spec.memory ?? 0;
  let memorySwap = spec.memorySwap ?? 0;
  if (memory < 0) throw badRequest('Invalid memory limit');
  if (memory > 0 && memory < MIN_MEMORY) throw badRequest('Minimum memory limit allowed is 6MB');
  if (memorySwap > 0 && memory === 0) throw badRequest('You should always set the Memory limit when using Memoryswap limit');
  if (memorySwap > 0 && memorySwap < memory)
    throw badRequest('Minimum memoryswap limit should be larger than memory limit, see usage');
  // Docker lets a container with only a memory limit use as much swap again.
  if (memory > 0 && memorySwap === 0) memorySwap = memory * 2;
  const nanoCpus = spec.nanoCpus ?? 0;
  if (nanoCpus < 0) throw badRequest('Range of CPUs is from 0.01 to the number of CPUs available');
  const cpuShares = spec.cpuShares ?? 0;
  if (cpuShares < 0) throw badRequest('Invalid CPU shares');
  if (spec.hostname !== undefined && spec.hostname.length > 63) throw badRequest(`invalid hostname format: ${spec.hostname}`);

  return {
    config: {
      cmd,
      entrypoint,
      env,
      workingDir: spec.workingDir ?? img.WorkingDir ?? '',
      user: spec.user ?? img.User ?? '',
      // With the host's network a container takes the host's name, as in Docker.
      hostname: spec.hostname || (spec.networkMode === 'host' ? hostHostname() : id.slice(0, 12)),
      tty: spec.tty ?? false,
      labels: { ...(img.Labels ?? {}), ...(spec.labels ?? {}) },
    },
    hostConfig: {
      memory,
      memorySwap,
      nanoCpus,
      cpuShares,
      pidsLimit: spec.pidsLimit ?? 0,
      autoRemove: spec.autoRemove ?? false,
      networkMode: spec.networkMode || 'default',
    },
  };
}

/** "SIGTERM", "TERM", "term" or "15" → a signal number; 400 when unknown. */
export function parseSignal(sig: string | number): number {
  if (typeof sig === 'number' || /^\d+$/.test(sig)) {
    const n = Number(sig);
    if (n > 0 && n <= 64) return n;
    throw badRequest(`Invalid signal: ${sig}`);
  }
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (!n) throw badRequest(`Invalid signal: ${sig}`);
  return n;
}

export function hostsFile(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n');
}

/** The host's resolver config minus loopback nameservers, which mean nothing in another netns. */
export function resolvConf(host: string, ownNetns: boolean): string {
  if (!ownNetns) return host;
  return host
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l))
    .join('\n');
}
