// The dashboard's Run form beyond image and command: published ports, volumes and bind
// mounts, the network, environment variables, the restart policy and a healthcheck, as the form's rows
// hold them (text, as typed). One schema for both sides: the browser checks a form with it
// before it sends anything, and the control plane checks what arrives with it again
// (a crafted call gets the same words), then turns it into the engine's ContainerSpec.
// The engine checks that spec once more (containerSpecSchema) and has the last word on
// what exists (networks, volumes, free ports). Pure data and zod, no Node imports.
import './zod-in-browser';
import { z } from 'zod';
import { PORT_PROTOCOLS, RESTART_POLICIES, type ContainerSpec, type MountSpec, type PortBindingSpec } from './container';
import { parseGoDuration } from './durations';

/** A variable name: a letter or "_", then letters, digits, "_", "." or "-" (Docker takes any name without "="; a shell takes fewer). */
export const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
/** Docker's rule for a local volume's name. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const PORT = /^\d{1,5}$/;

const text = (max: number) => z.string().max(max);

export const portRowSchema = z.strictObject({
  /** Blank: every address of the host. */
  hostIp: text(64),
  /** Blank: a free port the engine picks. */
  hostPort: text(16),
  containerPort: text(16),
  protocol: z.enum(PORT_PROTOCOLS),
});
export const mountRowSchema = z.strictObject({
  /** A volume's name (made when missing) or an absolute host path (a bind mount). */
  source: text(4096),
  target: text(4096),
  readOnly: z.boolean(),
});
export const envRowSchema = z.strictObject({ key: text(256), value: text(32768) });

/** Only the shape, so a type and a bound on every field; runOptionsSchema adds what the values must be. */
export const runOptionsShape = z.strictObject({
  ports: z.array(portRowSchema).max(64),
  mounts: z.array(mountRowSchema).max(64),
  /** A network's name on the host ("bridge", "host", "none" or a user network); blank: the default bridge. */
  network: text(255),
  env: z.array(envRowSchema).max(256),
  restart: z.strictObject({ policy: z.enum(RESTART_POLICIES), maxRetries: text(16) }),
  /** A shell command run in the container (CMD-SHELL, as `docker run --health-cmd`); blank: the image's healthcheck, if any. */
  health: z.strictObject({ command: text(4096), interval: text(32), timeout: text(32), startPeriod: text(32), retries: text(16) }).optional(),
});
export type RunOptions = z.infer<typeof runOptionsShape>;
export type PortRow = RunOptions['ports'][number];
export type MountRow = RunOptions['mounts'][number];
export type EnvRow = RunOptions['env'][number];
export type HealthRow = NonNullable<RunOptions['health']>;
export const blankHealth = (): HealthRow => ({ command: '', interval: '', timeout: '', startPeriod: '', retries: '' });
/** The healthcheck's settings besides its command, as messages name them; all but retries are durations. */
const HEALTH_SETTINGS = { interval: 'interval', timeout: 'timeout', startPeriod: 'start period', retries: 'retries' } as const;
const HEALTH_DURATIONS = ['interval', 'timeout', 'startPeriod'] as const;

export const emptyRunOptions = (): RunOptions => ({ ports: [], mounts: [], network: '', env: [], restart: { policy: 'no', maxRetries: '' } });

const portNumber = (s: string): number | null => (PORT.test(s) && Number(s) >= 1 && Number(s) <= 65535 ? Number(s) : null);
/** "/a/b/../c" and "/a//b/" → "/a/c" and "/a/b"; only for comparing targets, the engine cleans them itself. */
function cleanPath(p: string): string {
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/** Each issue's path points at the row and field it is about (ports.0.hostPort), and its message names them for a person. */
export const runOptionsSchema = runOptionsShape.superRefine((o, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const network = o.network.trim();
  if (network && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(network)) issue(['network'], `network: ${JSON.stringify(network)} is not a network name`);

  const bound = new Map<string, number>();
  o.ports.forEach((p, i) => {
    const row = `port ${i + 1}`;
    const hostIp = p.hostIp.trim();
    if (hostIp && !IPV4.test(hostIp)) issue(['ports', i, 'hostIp'], `${row}: host IP ${JSON.stringify(hostIp)} is not an IPv4 address (leave it blank for every address)`);
    const hostPort = p.hostPort.trim();
    const hp = hostPort ? portNumber(hostPort) : 0;
    if (hp === null) issue(['ports', i, 'hostPort'], `${row}: host port ${JSON.stringify(hostPort)} must be a number from 1 to 65535 (leave it blank for a free one)`);
    const containerPort = p.containerPort.trim();
    if (!containerPort) issue(['ports', i, 'containerPort'], `${row}: the container port is missing`);
    else if (portNumber(containerPort) === null) issue(['ports', i, 'containerPort'], `${row}: container port ${JSON.stringify(containerPort)} must be a number from 1 to 65535`);
    if (hp) {
      const key = `${hostIp || '0.0.0.0'}:${hp}/${p.protocol}`;
      const first = bound.get(key);
      if (first !== undefined) issue(['ports', i, 'hostPort'], `${row}: host port ${hp}/${p.protocol} is already published by port ${first + 1}`);
      else bound.set(key, i);
    }
  });
  if (o.ports.length && (network === 'host' || network === 'none')) {
    issue(['network'], network === 'host' ? 'network host: a container on the host\'s network uses its ports directly, so none can be published; remove the ports or pick another network' : 'network none: a container without a network has no ports to publish; remove the ports or pick another network');
  }

  const targets = new Map<string, number>();
  o.mounts.forEach((m, i) => {
    const row = `mount ${i + 1}`;
    const source = m.source.trim();
    if (!source) issue(['mounts', i, 'source'], `${row}: give a volume name or an absolute host path`);
    else if (!source.startsWith('/') && !VOLUME_NAME.test(source)) {
      issue(['mounts', i, 'source'], `${row}: ${JSON.stringify(source)} is neither a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-], two characters or more) nor an absolute host path (starting with /)`);
    }
    const target = m.target.trim();
    if (!target) issue(['mounts', i, 'target'], `${row}: the container path is missing`);
    else if (!target.startsWith('/')) issue(['mounts', i, 'target'], `${row}: container path ${JSON.stringify(target)} must be absolute (start with /)`);
    else if (cleanPath(target) === '/') issue(['mounts', i, 'target'], `${row}: nothing can be mounted over the container's root /`);
    else {
      const first = targets.get(cleanPath(target));
      if (first !== undefined) issue(['mounts', i, 'target'], `${row}: ${cleanPath(target)} is already the container path of mount ${first + 1}`);
      else targets.set(cleanPath(target), i);
    }
  });

  const keys = new Map<string, number>();
  o.env.forEach((e, i) => {
    const row = `variable ${i + 1}`;
    const key = e.key.trim();
    if (!key) issue(['env', i, 'key'], `${row}: the name is missing`);
    else if (!ENV_KEY.test(key)) issue(['env', i, 'key'], `${row}: ${JSON.stringify(key)} is not a variable name (a letter or _, then letters, digits, _ . or -)`);
    else {
      const first = keys.get(key);
      if (first !== undefined) issue(['env', i, 'key'], `${row}: ${key} is already set by variable ${first + 1}`);
      else keys.set(key, i);
    }
  });

  if (o.health) {
    const h = o.health;
    const given = (Object.keys(HEALTH_SETTINGS) as Array<keyof typeof HEALTH_SETTINGS>).filter((k) => h[k].trim());
    if (!h.command.trim() && given.length) issue(['health', 'command'], `healthcheck: its ${given.map((k) => HEALTH_SETTINGS[k]).join(', ')} need a command to run`);
    for (const k of HEALTH_DURATIONS) {
      const v = h[k].trim();
      if (!v) continue;
      let ns: number;
      try {
        ns = parseGoDuration(v);
      } catch {
        issue(['health', k], `healthcheck: ${HEALTH_SETTINGS[k]} ${JSON.stringify(v)} is not a duration (such as 30s, 1m30s or 500ms)`);
        continue;
      }
      // As Docker's API: 0 is the default, anything else at least a millisecond.
      if (ns > 0 && ns < 1e6) issue(['health', k], `healthcheck: ${HEALTH_SETTINGS[k]} ${v} is shorter than 1ms`);
    }
    const r = h.retries.trim();
    if (r && !/^\d{1,9}$/.test(r)) issue(['health', 'retries'], `healthcheck: retries ${JSON.stringify(r)} must be a whole number, 0 or more (0: the default, 3)`);
  }

  const retries = o.restart.maxRetries.trim();
  if (retries) {
    if (o.restart.policy !== 'on-failure') issue(['restart', 'maxRetries'], `restart: max retries only goes with on-failure, not ${o.restart.policy}`);
    else if (!/^\d{1,9}$/.test(retries)) issue(['restart', 'maxRetries'], `restart: max retries ${JSON.stringify(retries)} must be a whole number, 0 or more (0: no limit)`);
  }
});

/** What a problem's path points at, as the form names its inputs: "ports.0.hostPort". */
export const issueKey = (path: readonly PropertyKey[]) => path.map(String).join('.');

/** Every problem with the options, in the form's order; [] when they may be sent. */
export function runOptionsProblems(o: unknown): Array<{ key: string; message: string }> {
  const r = runOptionsSchema.safeParse(o);
  // Our own checks name the row; zod's shape checks (a crafted call) get the field's path in front.
  return r.success ? [] : r.error.issues.map((i) => ({ key: issueKey(i.path), message: i.code === 'custom' ? i.message : `${issueKey(i.path) || 'options'}: ${i.message}` }));
}

/** The spec's sections for options that passed runOptionsSchema. */
export function runOptionsSpec(o: RunOptions): Pick<ContainerSpec, 'network' | 'storage' | 'restart' | 'health'> & { env?: string[] } {
  const out: Pick<ContainerSpec, 'network' | 'storage' | 'restart' | 'health'> & { env?: string[] } = {};
  const ports: PortBindingSpec[] = o.ports.map((p) => ({
    containerPort: Number(p.containerPort.trim()),
    protocol: p.protocol,
    ...(p.hostIp.trim() ? { hostIp: p.hostIp.trim() } : {}),
    ...(p.hostPort.trim() ? { hostPort: Number(p.hostPort.trim()) } : {}),
  }));
  const network = o.network.trim();
  const net: NonNullable<ContainerSpec['network']> = {};
  if (network === 'host' || network === 'none') net.mode = network;
  else if (network) net.networks = [{ network }];
  if (ports.length) net.ports = ports;
  if (Object.keys(net).length) out.network = net;
  const mounts: MountSpec[] = o.mounts.map((m) => {
    const source = m.source.trim();
    return { type: source.startsWith('/') ? 'bind' : 'volume', source, target: m.target.trim(), ...(m.readOnly ? { readOnly: true } : {}) };
  });
  if (mounts.length) out.storage = { mounts };
  if (o.env.length) out.env = o.env.map((e) => `${e.key.trim()}=${e.value}`);
  if (o.restart.policy !== 'no') {
    const retries = o.restart.maxRetries.trim();
    out.restart = { policy: o.restart.policy, ...(o.restart.policy === 'on-failure' && retries ? { maxRetries: Number(retries) } : {}) };
  }
  const h = o.health;
  if (h?.command.trim()) {
    // 0 or blank: Docker's default, so the field is left out (the engine applies the image's, then Docker's).
    const [intervalNs, timeoutNs, startPeriodNs] = HEALTH_DURATIONS.map((k) => (h[k].trim() ? parseGoDuration(h[k].trim()) : 0));
    const retries = Number(h.retries.trim());
    out.health = {
      test: ['CMD-SHELL', h.command.trim()],
      ...(intervalNs ? { intervalNs } : {}),
      ...(timeoutNs ? { timeoutNs } : {}),
      ...(startPeriodNs ? { startPeriodNs } : {}),
      ...(retries ? { retries } : {}),
    };
  }
  return out;
}
