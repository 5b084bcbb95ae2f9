// The spec to make a container again from: what its record says, less what came from its
// old image, so the new image's defaults (Cmd, Env, labels, healthcheck …) take their place
// and the user's own settings stay. Watchtower and compose recreate the same way.
//
// Exports: specForNewImage.
import type { ContainerRecord, ContainerSpec, MountSpec } from '../../../protocol/container';
import { DEFAULT_PATH } from '../containers/spec';
import type { ImageConfig } from '../types';

const same = (a: readonly string[] | null | undefined, b: readonly string[] | null | undefined) => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);

/** `rec` as a spec for `image` (default: the reference it was made from), under its own name. */
export function specForNewImage(rec: ContainerRecord, old: ImageConfig, image = rec.image): ContainerSpec {
  const s = rec.spec;
  const p = s.process;
  const imgEnv = new Set(old.Env ?? []);
  // The default PATH the engine adds when the image has none is the engine's, not the user's.
  const env = p.env.filter((e) => !imgEnv.has(e) && !(e === DEFAULT_PATH && !(old.Env ?? []).some((x) => x.startsWith('PATH='))));
  const imgLabels = old.Labels ?? {};
  const labels = Object.fromEntries(Object.entries(s.labels).filter(([k, v]) => imgLabels[k] !== v));
  const ownEntrypoint = !same(p.entrypoint, old.Entrypoint);
  // With its own entrypoint the image's Cmd was dropped, so the cmd is the user's either way.
  const ownCmd = ownEntrypoint || !same(p.cmd, old.Cmd);
  const process: NonNullable<ContainerSpec['process']> = {
    ...(ownCmd ? { cmd: p.cmd } : {}),
    ...(ownEntrypoint ? { entrypoint: p.entrypoint } : {}),
    ...(env.length ? { env } : {}),
    ...(p.workingDir !== (old.WorkingDir ?? '') ? { workingDir: p.workingDir } : {}),
    ...(p.user !== (old.User ?? '') ? { user: p.user } : {}),
    ...(p.tty ? { tty: true } : {}),
    ...(p.init ? { init: true } : {}),
    ...(p.stopSignal && p.stopSignal !== (old.StopSignal ?? '') ? { stopSignal: p.stopSignal } : {}),
    ...(p.stopTimeout !== null ? { stopTimeout: p.stopTimeout } : {}),
    ...(p.consoleSize ? { consoleSize: p.consoleSize } : {}),
    ...(p.openStdin ? { openStdin: true } : {}),
    ...(p.stdinOnce ? { stdinOnce: true } : {}),
    ...(p.attachStdin ? { attachStdin: true } : {}),
    ...(p.groupAdd?.length ? { groupAdd: p.groupAdd } : {}),
  };

  const n = s.network;
  const imgExposed = new Set(Object.keys(old.ExposedPorts ?? {}));
  const published = new Set(n.ports.map((b) => `${b.containerPort}/${b.protocol}`));
  const exposedPorts = n.exposedPorts.filter((e) => !imgExposed.has(e) && !published.has(e));
  // The default hostname is the container's short id; a new container gets its own.
  const ownHostname = n.mode !== 'host' && n.mode !== 'container' && n.hostname !== rec.id.slice(0, 12);
  const network: NonNullable<ContainerSpec['network']> = {
    mode: n.mode,
    ...(n.mode === 'container' && n.container ? { container: n.container } : {}),
    ...(n.mode === 'default' && n.networks.length
      ? {
          networks: n.networks.map((e) => ({
            network: e.name,
            ...(e.aliases.length ? { aliases: e.aliases } : {}),
            ...(e.links?.length ? { links: e.links } : {}),
            ...(e.ipv4Address ? { ipv4Address: e.ipv4Address } : {}),
            ...(e.macAddress ? { macAddress: e.macAddress } : {}),
          })),
        }
      : {}),
    ...(ownHostname ? { hostname: n.hostname } : {}),
    ...(n.ports.length
      ? { ports: n.ports.map((b) => ({ containerPort: b.containerPort, protocol: b.protocol, ...(b.hostIp ? { hostIp: b.hostIp } : {}), ...(b.hostPort ? { hostPort: b.hostPort } : {}), ...(b.hostPortEnd ? { hostPortEnd: b.hostPortEnd } : {}) })) }
      : {}),
    ...(n.publishAll ? { publishAll: true } : {}),
    ...(exposedPorts.length ? { exposedPorts } : {}),
    ...(n.dns.length ? { dns: n.dns } : {}),
    ...(n.dnsSearch.length ? { dnsSearch: n.dnsSearch } : {}),
    ...(n.dnsOptions.length ? { dnsOptions: n.dnsOptions } : {}),
    ...(n.extraHosts.length ? { extraHosts: n.extraHosts } : {}),
  };

  // Binds and --mount entries as given; anonymous volumes (an image VOLUME, `-v /path`) by
  // their names, so the data in them goes over to the new container; volumes-from as given.
  const mounts: MountSpec[] = [];
  for (const m of s.storage.mounts) {
    if (m.origin === 'volumes-from') continue;
    if (m.given) mounts.push(m.given);
    else if (m.type === 'volume' && m.source) mounts.push({ type: 'volume', source: m.source, target: m.target, ...(m.readOnly ? { readOnly: true } : {}) });
  }

  const h = s.health;
  const imgHealth = old.Healthcheck;
  const healthFromImage =
    !!h &&
    !!imgHealth &&
    same(h.test, imgHealth.Test) &&
    h.intervalNs === (imgHealth.Interval ?? 0) &&
    h.timeoutNs === (imgHealth.Timeout ?? 0) &&
    h.startPeriodNs === (imgHealth.StartPeriod ?? 0) &&
    h.startIntervalNs === (imgHealth.StartInterval ?? 0) &&
    h.retries === (imgHealth.Retries ?? 0);
  const imageHadHealth = !!imgHealth?.Test?.length && imgHealth.Test[0] !== 'NONE';
  // No healthcheck although the old image had one: the user said --no-healthcheck.
  const health: ContainerSpec['health'] = h
    ? healthFromImage
      ? undefined
      : { test: h.test, ...(h.intervalNs ? { intervalNs: h.intervalNs } : {}), ...(h.timeoutNs ? { timeoutNs: h.timeoutNs } : {}), ...(h.startPeriodNs ? { startPeriodNs: h.startPeriodNs } : {}), ...(h.startIntervalNs ? { startIntervalNs: h.startIntervalNs } : {}), ...(h.retries ? { retries: h.retries } : {}) }
    : imageHadHealth
      ? { test: ['NONE'] }
      : undefined;

  const sec = s.security;
  const log = s.log;
  return {
    name: rec.name,
    image,
    ...(Object.keys(labels).length ? { labels } : {}),
    process,
    resources: { ...s.resources },
    network,
    restart: { ...s.restart },
    ...(health ? { health } : {}),
    security: {
      privileged: sec.privileged,
      capAdd: sec.capAdd,
      capDrop: sec.capDrop,
      noNewPrivileges: sec.noNewPrivileges,
      seccomp: sec.seccomp,
      ...(sec.maskedPaths ? { maskedPaths: sec.maskedPaths } : {}),
      ...(sec.readonlyPaths ? { readonlyPaths: sec.readonlyPaths } : {}),
      ...(sec.devices.length ? { devices: sec.devices } : {}),
    },
    filesystem: { ...s.filesystem },
    storage: {
      ...(mounts.length ? { mounts } : {}),
      ...(s.storage.volumesFrom.length ? { volumesFrom: s.storage.volumesFrom } : {}),
    },
    namespaces: { ...s.namespaces },
    kernel: { sysctls: { ...s.kernel.sysctls }, ulimits: s.kernel.ulimits.map((u) => ({ ...u })) },
    ...(log ? { log: { driver: log.driver, options: { ...log.options } } } : {}),
  };
}
