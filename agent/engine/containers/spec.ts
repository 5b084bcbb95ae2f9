// From an image config and a container spec to the container's resolved spec, Docker's
// way. Every caller (Docker API face, link, dashboard) gets the same checks and defaults here.
import { hostname as hostHostname } from 'node:os';
import { containerSpecSchema, type ContainerSpec, type ResolvedHealth, type ResolvedSpec } from '../../../protocol/container';
import { badRequest } from '../errors';
import { resolveLogConfig } from '../logs/config';
import { resolveNetworkSpec } from '../network/spec';
import type { ImageConfig, UpdateOptions } from '../types';
import { resolveIsolation } from './security';
import { settleStorage } from '../volumes/mounts';

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

/** `agentRoot`: binds of (or into) it get slave propagation, as dockerd's of its root do. */
export function resolveSpec(id: string, spec: ContainerSpec, img: ImageConfig, agentRoot = ''): ResolvedSpec {
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

  const restart = resolveRestart(spec.restart);
  const network = resolveNetworkSpec(id, spec.network, img.ExposedPorts, hostHostname());
  const isolation = resolveIsolation(spec, network.mode);
  // With the host's UTS namespace too a container takes the host's name, as in Docker.
  if (isolation.namespaces.uts === 'host' && !spec.network?.hostname) network.hostname = hostHostname();
  return {
    labels: { ...(img.Labels ?? {}), ...(spec.labels ?? {}) },
    process: {
      cmd,
      entrypoint,
      env,
      workingDir: p.workingDir ?? img.WorkingDir ?? '',
      user: p.user ?? img.User ?? '',
      tty: p.tty ?? false,
      init: p.init ?? false,
      // Docker copies the image's STOPSIGNAL into the container's config at create.
      stopSignal: p.stopSignal ?? img.StopSignal ?? '',
      stopTimeout: p.stopTimeout ?? null,
      ...stdioSpec(p),
    },
    resources: { memory, memorySwap, nanoCpus: r.nanoCpus ?? 0, cpuShares: r.cpuShares ?? 0, pidsLimit: r.pidsLimit ?? 0 },
    network,
    restart,
    health: resolveHealth(spec.health, img.Healthcheck),
    ...isolation,
    storage: settleStorage(spec, img, isolation.filesystem.tmpfs, agentRoot),
    log: resolveLogConfig(spec.log),
  };
}

/** Docker's checks of a restart policy (daemon/container.go), for create and update alike. */
export function checkRestartPolicy(policy: string, maxRetries: number, autoRemove: boolean): void {
  if (policy !== 'on-failure' && maxRetries !== 0) throw badRequest("invalid restart policy: maximum retry count can only be used with 'on-failure'");
  if (autoRemove && policy !== 'no') throw badRequest("can't create 'AutoRemove' container with restart policy");
}

function resolveRestart(r: ContainerSpec['restart']): ResolvedSpec['restart'] {
  const out = { autoRemove: r?.autoRemove ?? false, policy: r?.policy ?? 'no', maxRetries: r?.maxRetries ?? 0 };
  checkRestartPolicy(out.policy, out.maxRetries, out.autoRemove);
  return out;
}

/** Docker's minimum for a healthcheck duration that is set (1 ms). */
const MIN_DURATION_NS = 1_000_000;

/** The container's healthcheck over the image's, field by field (Docker's merge in daemon/commit.go). */
export function resolveHealth(h: ContainerSpec['health'], img: ImageConfig['Healthcheck']): ResolvedHealth | null {
  const pick = (own: number | undefined, image: number | undefined) => (own ? own : (image ?? 0));
  const merged: ResolvedHealth = {
    test: h?.test?.length ? h.test : (img?.Test ?? []),
    intervalNs: pick(h?.intervalNs, img?.Interval),
    timeoutNs: pick(h?.timeoutNs, img?.Timeout),
    startPeriodNs: pick(h?.startPeriodNs, img?.StartPeriod),
    startIntervalNs: pick(h?.startIntervalNs, img?.StartInterval),
    retries: pick(h?.retries, img?.Retries),
  };
  for (const [field, name] of [
    ['intervalNs', 'Interval'],
    ['timeoutNs', 'Timeout'],
    ['startPeriodNs', 'StartPeriod'],
    ['startIntervalNs', 'StartInterval'],
  ] as const) {
    const v = merged[field];
    if (v !== 0 && v < MIN_DURATION_NS) throw badRequest(`${name} in Healthcheck cannot be less than 1ms`);
  }
  const kind = merged.test[0];
  if (!merged.test.length || kind === 'NONE') return null;
  if (kind !== 'CMD' && kind !== 'CMD-SHELL') throw badRequest(`unknown healthcheck type '${kind}' (expected CMD, CMD-SHELL or NONE)`);
  if (merged.test.length < 2) throw badRequest('healthcheck has no command');
  return merged;
}

/**
 * `docker update`'s resources over a container's (Container.UpdateContainer): a field that is
 * 0 or absent stays. One difference from Docker, which refuses `update -m` for a container
 * that never had a memory limit (moby#47874): its swap becomes twice the new limit, as at create.
 */
export function updatedResources(old: ResolvedSpec['resources'], u: NonNullable<UpdateOptions['resources']>): ResolvedSpec['resources'] {
  const r = { ...old };
  if (u.memory) {
    if (u.memory < MIN_MEMORY) throw badRequest('Minimum memory limit allowed is 6MB');
    if (!u.memorySwap && old.memorySwap > 0 && u.memory > old.memorySwap)
      throw badRequest('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
    if (!u.memorySwap && old.memorySwap === 0) r.memorySwap = u.memory * 2;
    r.memory = u.memory;
  }
  if (u.memorySwap) {
    if (u.memorySwap < -1) throw badRequest('invalid memory swap limit: it is bytes, or -1 for unlimited');
    if (u.memorySwap > 0 && r.memory === 0) throw badRequest('You should always set the Memory limit when using Memoryswap limit');
    if (u.memorySwap > 0 && u.memorySwap < r.memory) throw badRequest('Minimum memoryswap limit should be larger than memory limit, see usage');
    r.memorySwap = u.memorySwap;
  }
  if (u.nanoCpus) r.nanoCpus = u.nanoCpus;
  if (u.cpuShares) r.cpuShares = u.cpuShares;
  if (u.pidsLimit !== undefined) r.pidsLimit = u.pidsLimit > 0 ? u.pidsLimit : 0;
  return r;
}
