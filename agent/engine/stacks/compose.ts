// A compose file as Berth reads it: YAML (the `yaml` package, line numbers kept), the `.env`
// variables interpolated into its string values, then checked against the part of the
// Compose Specification Berth implements. A key outside that part is refused with its path
// ("services.web.deploy: not supported by Berth"), never dropped. Pure, no Node imports: the
// agent deploys with it and the control plane validates the editor's text with it.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { splitShellWords, ShellSyntaxError } from '../../../protocol/shell-words';
import { interpolate, InterpolationError } from './interpolate';
import type { PortBindingSpec } from '../../../protocol/container';

export interface ComposeIssue {
  /** Dotted path of the key ("services.web.ports.0"); "" for the file as a whole. */
  path: string;
  message: string;
  /** 1-based, where the YAML says it. */
  line?: number;
  col?: number;
}

export type DependsCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface ServiceVolume {
  type: 'volume' | 'bind';
  /** volume: the key under top-level volumes (absent: anonymous); bind: the path as written (relative to the stack). */
  source?: string;
  target: string;
  readOnly?: boolean;
}

export interface ServiceHealthcheck {
  test?: string[];
  intervalNs?: number;
  timeoutNs?: number;
  startPeriodNs?: number;
  startIntervalNs?: number;
  retries?: number;
  disable?: boolean;
}

export interface ComposeService {
  image: string;
  command?: string[];
  entrypoint?: string[];
  /** `environment`, values as written (null: taken from the stack's .env when it has the name). */
  environment: Record<string, string | null>;
  /** Paths as written, relative to the stack's directory. */
  envFiles: Array<{ path: string; required: boolean }>;
  ports: PortBindingSpec[];
  volumes: ServiceVolume[];
  /** Keys of top-level networks (or "default") → this service's aliases there. */
  networks: Record<string, { aliases: string[] }>;
  dependsOn: Record<string, { condition: DependsCondition; restart: boolean; required: boolean }>;
  restart?: { policy: 'no' | 'always' | 'unless-stopped' | 'on-failure'; maxRetries?: number };
  healthcheck?: ServiceHealthcheck;
  labels: Record<string, string>;
  user?: string;
  workingDir?: string;
  hostname?: string;
  containerName?: string;
  init?: boolean;
  tty?: boolean;
  stdinOpen?: boolean;
  stopSignal?: string;
  stopGracePeriodSec?: number;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  extraHosts?: string[];
}

export interface ComposeNetwork {
  name?: string;
  external: boolean;
  internal?: boolean;
  labels: Record<string, string>;
}

export interface ComposeVolume {
  name?: string;
  external: boolean;
  labels: Record<string, string>;
}

export interface ComposeProject {
  /** The top-level `name`, if the file gives one. */
  name?: string;
  services: Record<string, ComposeService>;
  networks: Record<string, ComposeNetwork>;
  volumes: Record<string, ComposeVolume>;
}

export interface ParseResult {
  project?: ComposeProject;
  issues: ComposeIssue[];
}

/** Compose's project names: lower case letters, digits, "-" and "_", starting with a letter or digit. */
export const PROJECT_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Bytes of compose file a stack may have. */
export const COMPOSE_MAX_BYTES = 256 * 1024;

const TOP_KEYS = new Set(['version', 'name', 'services', 'networks', 'volumes']);
const SERVICE_KEYS = new Set([
  'image', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'volumes', 'networks', 'depends_on', 'restart',
  'healthcheck', 'labels', 'user', 'working_dir', 'hostname', 'container_name', 'init', 'tty', 'stdin_open',
  'stop_signal', 'stop_grace_period', 'privileged', 'cap_add', 'cap_drop', 'extra_hosts',
]);

class Issues {
  readonly list: ComposeIssue[] = [];
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}
  add(path: Array<string | number>, message: string, atKey = false): void {
    const pos = this.position(path, atKey);
    this.list.push({ path: path.join('.'), message: `${path.length ? `${path.join('.')}: ` : ''}${message}`, ...pos });
  }
  private position(path: Array<string | number>, atKey: boolean): { line?: number; col?: number } {
    let node: unknown = this.doc.contents;
    let keyNode: unknown;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        keyNode = pair.key;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        keyNode = undefined;
        node = node.items[seg];
      } else break;
    }
    const target = (atKey && keyNode) || node || keyNode;
    const range = (target as Node | undefined)?.range;
    if (!range) return {};
    const { line, col } = this.lines.linePos(range[0]);
    return { line, col };
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Interpolates every string value (never keys), as compose does; errors carry their path. */
function interpolateTree(v: Json, env: Readonly<Record<string, string>>, path: Array<string | number>, issues: Issues): Json {
  if (typeof v === 'string') {
    try {
      return interpolate(v, env);
    } catch (e) {
      if (e instanceof InterpolationError) {
        issues.add(path, e.message);
        return v;
      }
      throw e;
    }
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolateTree(x, env, [...path, i], issues));
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) out[k] = interpolateTree(x, env, [...path, k], issues);
    return out;
  }
  return v;
}

/** Parses, interpolates with `env` (the stack's .env) and checks a compose file. */
export function parseCompose(text: string, env: Readonly<Record<string, string>> = {}): ParseResult {
  if (text.length > COMPOSE_MAX_BYTES) return { issues: [{ path: '', message: `the compose file is larger than ${COMPOSE_MAX_BYTES} bytes` }] };
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true, prettyErrors: true });
  const issues = new Issues(doc, lines);
  if (doc.errors.length) {
    return {
      issues: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: '', message: `YAML: ${e.message.split('\n')[0]}`, ...(pos ? { line: pos.line, col: pos.col } : {}) };
      }),
    };
  }
  let raw: Json;
  try {
    // A bound on alias expansion: a "billion laughs" file is refused, not expanded.
    raw = doc.toJS({ maxAliasCount: 1000 }) as Json;
  } catch (e) {
    return { issues: [{ path: '', message: `YAML: ${(e as Error).message}` }] };
  }
  if (!isObj(raw)) return { issues: [{ path: '', message: 'a compose file is a mapping with a "services" key', line: 1, col: 1 }] };
  const top = interpolateTree(raw, env, [], issues) as Obj;
  const v = new Checker(issues);
  const project = v.project(top);
  return issues.list.length ? { issues: issues.list } : { project, issues: [] };
}

class Checker {
  constructor(private readonly issues: Issues) {}

  private refuseUnknown(o: Obj, allowed: Set<string>, path: Array<string | number>): void {
    for (const k of Object.keys(o)) {
      if (allowed.has(k) || k.startsWith('x-')) continue;
      this.issues.add([...path, k], 'not supported by Berth', true);
    }
  }
  private str(v: Json | undefined, path: Array<string | number>, what = 'a string'): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.issues.add(path, `must be ${what}`);
    return undefined;
  }
  private bool(v: Json | undefined, path: Array<string | number>): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'boolean') return v;
    this.issues.add(path, 'must be true or false');
    return undefined;
  }
  private strings(v: Json | undefined, path: Array<string | number>): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) {
      this.issues.add(path, 'must be a list of strings');
      return undefined;
    }
    return v.map((x, i) => this.str(x, [...path, i]) ?? '');
  }
  /** A command: a list as it is, a string split as a shell would split it (no expansion). */
  private words(v: Json | undefined, path: Array<string | number>): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') {
      try {
        return splitShellWords(v);
      } catch (e) {
        if (e instanceof ShellSyntaxError) this.issues.add(path, e.message);
        else throw e;
        return undefined;
      }
    }
    return this.strings(v, path);
  }
  /** `KEY: value` or ["KEY=value"]; `nulls`: a bare KEY is a null value. */
  private mapping(v: Json | undefined, path: Array<string | number>, nulls: boolean): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    if (v === undefined || v === null) return out;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        const s = this.str(x, [...path, i]);
        if (s === undefined) return;
        const eq = s.indexOf('=');
        if (eq < 0) {
          if (nulls) out[s] = null;
          else out[s] = '';
        } else out[s.slice(0, eq)] = s.slice(eq + 1);
      });
      return out;
    }
    if (!isObj(v)) {
      this.issues.add(path, 'must be a mapping or a list of KEY=VALUE');
      return out;
    }
    for (const [k, x] of Object.entries(v)) {
      if (x === null) out[k] = nulls ? null : '';
      else out[k] = this.str(x, [...path, k]) ?? '';
    }
    return out;
  }
  private labels(v: Json | undefined, path: Array<string | number>): Record<string, string> {
    const m = this.mapping(v, path, false);
    return Object.fromEntries(Object.entries(m).map(([k, x]) => [k, x ?? '']));
  }

  project(top: Obj): ComposeProject {
    this.refuseUnknown(top, TOP_KEYS, []);
    const name = this.str(top.name, ['name']);
    if (name !== undefined && !PROJECT_NAME.test(name)) this.issues.add(['name'], `"${name}" is not a project name (lower case letters, digits, "-" and "_", starting with a letter or digit)`);
    const networks: Record<string, ComposeNetwork> = {};
    const volumes: Record<string, ComposeVolume> = {};
    if (top.networks !== undefined && top.networks !== null) {
      if (!isObj(top.networks)) this.issues.add(['networks'], 'must be a mapping');
      else for (const [k, n] of Object.entries(top.networks)) networks[k] = this.network(n, ['networks', k]);
    }
    if (top.volumes !== undefined && top.volumes !== null) {
      if (!isObj(top.volumes)) this.issues.add(['volumes'], 'must be a mapping');
      else for (const [k, n] of Object.entries(top.volumes)) volumes[k] = this.volume(n, ['volumes', k]);
    }
    const services: Record<string, ComposeService> = {};
    if (!isObj(top.services) || !Object.keys(top.services).length) this.issues.add(top.services === undefined ? [] : ['services'], 'a compose file needs at least one service under "services"');
    else {
      for (const [k, s] of Object.entries(top.services)) {
        if (!SERVICE_NAME.test(k)) this.issues.add(['services', k], `"${k}" is not a service name`, true);
        services[k] = this.service(s, ['services', k], networks, volumes);
      }
      this.checkDepends(services);
    }
    return { ...(name ? { name } : {}), services, networks, volumes };
  }

  private network(n: Json, path: Array<string | number>): ComposeNetwork {
    if (n === null) return { external: false, labels: {} };
    if (!isObj(n)) {
      this.issues.add(path, 'must be a mapping');
      return { external: false, labels: {} };
    }
    this.refuseUnknown(n, new Set(['name', 'external', 'driver', 'internal', 'labels']), path);
    const driver = this.str(n.driver, [...path, 'driver']);
    if (driver !== undefined && driver !== 'bridge') this.issues.add([...path, 'driver'], `the driver "${driver}" is not supported by Berth (only bridge)`);
    const internal = this.bool(n.internal, [...path, 'internal']);
    return { name: this.str(n.name, [...path, 'name']), external: this.bool(n.external, [...path, 'external']) ?? false, ...(internal !== undefined ? { internal } : {}), labels: this.labels(n.labels, [...path, 'labels']) };
  }

  private volume(n: Json, path: Array<string | number>): ComposeVolume {
    if (n === null) return { external: false, labels: {} };
    if (!isObj(n)) {
      this.issues.add(path, 'must be a mapping');
      return { external: false, labels: {} };
    }
    this.refuseUnknown(n, new Set(['name', 'external', 'driver', 'labels']), path);
    const driver = this.str(n.driver, [...path, 'driver']);
    if (driver !== undefined && driver !== 'local') this.issues.add([...path, 'driver'], `the driver "${driver}" is not supported by Berth (only local)`);
    return { name: this.str(n.name, [...path, 'name']), external: this.bool(n.external, [...path, 'external']) ?? false, labels: this.labels(n.labels, [...path, 'labels']) };
  }

  private service(s: Json, path: Array<string | number>, networks: Record<string, ComposeNetwork>, volumes: Record<string, ComposeVolume>): ComposeService {
    const empty: ComposeService = { image: '', environment: {}, envFiles: [], ports: [], volumes: [], networks: {}, dependsOn: {}, labels: {} };
    if (!isObj(s)) {
      this.issues.add(path, 'must be a mapping');
      return empty;
    }
    this.refuseUnknown(s, SERVICE_KEYS, path);
    const at = (k: string) => [...path, k];
    const image = this.str(s.image, at('image'));
    if (!image) this.issues.add(s.image === undefined ? path : at('image'), s.image === undefined ? 'an image is required (Berth does not build: "build" is not supported)' : 'an image is required');
    const out: ComposeService = { ...empty, image: image ?? '' };
    const command = this.words(s.command, at('command'));
    if (command) out.command = command;
    const entrypoint = this.words(s.entrypoint, at('entrypoint'));
    if (entrypoint) out.entrypoint = entrypoint;
    out.environment = this.mapping(s.environment, at('environment'), true);
    out.envFiles = this.envFiles(s.env_file, at('env_file'));
    out.ports = this.ports(s.ports, at('ports'));
    out.volumes = this.serviceVolumes(s.volumes, at('volumes'), volumes);
    out.networks = this.serviceNetworks(s.networks, at('networks'), networks);
    out.dependsOn = this.dependsOn(s.depends_on, at('depends_on'));
    const restart = this.str(s.restart, at('restart'));
    if (restart !== undefined) {
      const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(restart);
      if (!m || (m[2] && m[1] !== 'on-failure')) this.issues.add(at('restart'), `"${restart}" is not a restart policy (no, always, unless-stopped, on-failure[:N])`);
      else out.restart = { policy: m[1] as 'no', ...(m[2] ? { maxRetries: Number(m[2]) } : {}) };
    }
    if (s.healthcheck !== undefined) out.healthcheck = this.healthcheck(s.healthcheck, at('healthcheck'));
    out.labels = this.labels(s.labels, at('labels'));
    for (const k of Object.keys(out.labels)) if (k.startsWith('com.docker.compose.')) this.issues.add([...path, 'labels', k], 'labels under com.docker.compose. are set by the deploy itself', true);
    const strs: Array<[keyof ComposeService, string]> = [['user', 'user'], ['workingDir', 'working_dir'], ['hostname', 'hostname'], ['containerName', 'container_name'], ['stopSignal', 'stop_signal']];
    for (const [field, key] of strs) {
      const x = this.str(s[key], at(key));
      if (x !== undefined) (out as unknown as Record<string, unknown>)[field] = x;
    }
    if (out.workingDir !== undefined && !out.workingDir.startsWith('/')) this.issues.add(at('working_dir'), 'must be an absolute path');
    if (out.containerName !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(out.containerName)) this.issues.add(at('container_name'), `"${out.containerName}" is not a container name`);
    const bools: Array<[keyof ComposeService, string]> = [['init', 'init'], ['tty', 'tty'], ['stdinOpen', 'stdin_open'], ['privileged', 'privileged']];
    for (const [field, key] of bools) {
      const x = this.bool(s[key], at(key));
      if (x !== undefined) (out as unknown as Record<string, unknown>)[field] = x;
    }
    if (s.stop_grace_period !== undefined) {
      const ns = this.duration(s.stop_grace_period, at('stop_grace_period'));
      if (ns !== undefined) out.stopGracePeriodSec = Math.ceil(ns / 1e9);
    }
    for (const [field, key] of [['capAdd', 'cap_add'], ['capDrop', 'cap_drop']] as const) {
      const x = this.strings(s[key], at(key));
      if (x) out[field] = x;
    }
    if (s.extra_hosts !== undefined) {
      if (isObj(s.extra_hosts)) out.extraHosts = Object.entries(s.extra_hosts).map(([h, ip]) => `${h}:${this.str(ip, [...path, 'extra_hosts', h]) ?? ''}`);
      else out.extraHosts = (this.strings(s.extra_hosts, at('extra_hosts')) ?? []).map((x) => x.replace('=', ':'));
    }
    return out;
  }

  private envFiles(v: Json | undefined, path: Array<string | number>): Array<{ path: string; required: boolean }> {
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    const out: Array<{ path: string; required: boolean }> = [];
    list.forEach((x, i) => {
      const p = Array.isArray(v) ? [...path, i] : path;
      if (typeof x === 'string') out.push({ path: x, required: true });
      else if (isObj(x)) {
        this.refuseUnknown(x, new Set(['path', 'required']), p);
        const file = this.str(x.path, [...p, 'path']);
        if (!file) this.issues.add(p, 'needs a path');
        else out.push({ path: file, required: this.bool(x.required, [...p, 'required']) ?? true });
      } else this.issues.add(p, 'must be a path');
    });
    for (const [i, f] of out.entries()) {
      // The stack's directory is the only place its files may come from.
      if (f.path.startsWith('/') || f.path.split('/').includes('..')) this.issues.add(Array.isArray(v) ? [...path, i] : path, `"${f.path}" must be a path inside the stack's directory`);
    }
    return out;
  }

  private ports(v: Json | undefined, path: Array<string | number>): PortBindingSpec[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.issues.add(path, 'must be a list');
      return [];
    }
    const out: PortBindingSpec[] = [];
    v.forEach((x, i) => {
      const p = [...path, i];
      if (isObj(x)) {
        this.refuseUnknown(x, new Set(['target', 'published', 'host_ip', 'protocol', 'mode']), p);
        const target = Number(x.target);
        if (!Number.isInteger(target) || target < 1 || target > 65535) return this.issues.add([...p, 'target'], 'must be a port number');
        const mode = this.str(x.mode, [...p, 'mode']);
        if (mode !== undefined && mode !== 'host' && mode !== 'ingress') this.issues.add([...p, 'mode'], `"${mode}" is not a port mode`);
        const proto = this.str(x.protocol, [...p, 'protocol']) ?? 'tcp';
        if (proto !== 'tcp' && proto !== 'udp') return this.issues.add([...p, 'protocol'], `the protocol "${proto}" is not supported by Berth (tcp, udp)`);
        const published = x.published === undefined || x.published === null ? undefined : Number(x.published);
        if (published !== undefined && (!Number.isInteger(published) || published < 0 || published > 65535)) return this.issues.add([...p, 'published'], 'must be a port number');
        const hostIp = this.str(x.host_ip, [...p, 'host_ip']);
        out.push({ containerPort: target, protocol: proto, ...(hostIp ? { hostIp } : {}), ...(published ? { hostPort: published } : {}) });
        return;
      }
      const s = this.str(x, p);
      if (s === undefined) return;
      const bindings = shortPort(s);
      if (typeof bindings === 'string') this.issues.add(p, bindings);
      else out.push(...bindings);
    });
    return out;
  }

  private serviceVolumes(v: Json | undefined, path: Array<string | number>, declared: Record<string, ComposeVolume>): ServiceVolume[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.issues.add(path, 'must be a list');
      return [];
    }
    const out: ServiceVolume[] = [];
    v.forEach((x, i) => {
      const p = [...path, i];
      let m: ServiceVolume | undefined;
      if (isObj(x)) {
        this.refuseUnknown(x, new Set(['type', 'source', 'target', 'read_only']), p);
        const type = this.str(x.type, [...p, 'type']);
        if (type !== 'volume' && type !== 'bind') return this.issues.add([...p, 'type'], type === undefined ? 'is required (volume or bind)' : `the type "${type}" is not supported by Berth (volume, bind)`);
        const target = this.str(x.target, [...p, 'target']);
        if (!target) return this.issues.add(p, 'needs a target');
        const source = this.str(x.source, [...p, 'source']);
        if (type === 'bind' && !source) return this.issues.add(p, 'a bind mount needs a source');
        const ro = this.bool(x.read_only, [...p, 'read_only']);
        m = { type, target, ...(source ? { source } : {}), ...(ro ? { readOnly: true } : {}) };
      } else {
        const s = this.str(x, p);
        if (s === undefined) return;
        const parts = s.split(':');
        if (parts.length > 3 || parts.some((q) => q === '')) return this.issues.add(p, `"${s}" is not SOURCE:TARGET[:MODE] or TARGET`);
        let mode: string | undefined;
        if (parts.length === 3) mode = parts.pop();
        if (mode !== undefined && mode !== 'ro' && mode !== 'rw') return this.issues.add(p, `the mode "${mode}" is not supported by Berth (ro, rw)`);
        if (parts.length === 1) m = { type: 'volume', target: parts[0] };
        else {
          const [source, target] = parts;
          const isPath = source.startsWith('/') || source.startsWith('.') || source.startsWith('~');
          if (source.startsWith('~')) return this.issues.add(p, `"${source}": a path from the home directory is not supported by Berth (the agent has no user's home)`);
          m = { type: isPath ? 'bind' : 'volume', source, target, ...(mode === 'ro' ? { readOnly: true } : {}) };
        }
      }
      if (!m.target.startsWith('/') || m.target === '/') return this.issues.add(p, `the target "${m.target}" must be an absolute path other than /`);
      if (m.type === 'volume' && m.source !== undefined && !(m.source in declared)) return this.issues.add(p, `the volume "${m.source}" is not declared under the top-level volumes`);
      if (m.type === 'bind' && m.source && m.source.split('/').includes('..')) return this.issues.add(p, `"${m.source}": ".." is not allowed in a bind mount's source`);
      out.push(m);
    });
    return out;
  }

  private serviceNetworks(v: Json | undefined, path: Array<string | number>, declared: Record<string, ComposeNetwork>): Record<string, { aliases: string[] }> {
    if (v === undefined || v === null) return { default: { aliases: [] } };
    const out: Record<string, { aliases: string[] }> = {};
    const known = (k: string, p: Array<string | number>) => {
      if (k === 'default' || k in declared) return true;
      this.issues.add(p, `the network "${k}" is not declared under the top-level networks`);
      return false;
    };
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        const k = this.str(x, [...path, i]);
        if (k !== undefined && known(k, [...path, i])) out[k] = { aliases: [] };
      });
    } else if (isObj(v)) {
      for (const [k, x] of Object.entries(v)) {
        const p = [...path, k];
        if (!known(k, p)) continue;
        if (x === null) out[k] = { aliases: [] };
        else if (isObj(x)) {
          this.refuseUnknown(x, new Set(['aliases']), p);
          out[k] = { aliases: this.strings(x.aliases, [...p, 'aliases']) ?? [] };
        } else this.issues.add(p, 'must be a mapping');
      }
    } else this.issues.add(path, 'must be a list or a mapping');
    return out;
  }

  private dependsOn(v: Json | undefined, path: Array<string | number>): ComposeService['dependsOn'] {
    const out: ComposeService['dependsOn'] = {};
    if (v === undefined || v === null) return out;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        const k = this.str(x, [...path, i]);
        if (k !== undefined) out[k] = { condition: 'service_started', restart: false, required: true };
      });
    } else if (isObj(v)) {
      for (const [k, x] of Object.entries(v)) {
        const p = [...path, k];
        if (x === null) {
          out[k] = { condition: 'service_started', restart: false, required: true };
          continue;
        }
        if (!isObj(x)) {
          this.issues.add(p, 'must be a mapping');
          continue;
        }
        this.refuseUnknown(x, new Set(['condition', 'restart', 'required']), p);
        const c = this.str(x.condition, [...p, 'condition']) ?? 'service_started';
        if (c !== 'service_started' && c !== 'service_healthy' && c !== 'service_completed_successfully') {
          this.issues.add([...p, 'condition'], `"${c}" is not a condition (service_started, service_healthy, service_completed_successfully)`);
          continue;
        }
        const restart = this.bool(x.restart, [...p, 'restart']) ?? false;
        if (restart) this.issues.add([...p, 'restart'], 'restart: true is not supported by Berth');
        out[k] = { condition: c, restart, required: this.bool(x.required, [...p, 'required']) ?? true };
      }
    } else this.issues.add(path, 'must be a list or a mapping');
    return out;
  }

  private healthcheck(v: Json, path: Array<string | number>): ServiceHealthcheck | undefined {
    if (!isObj(v)) {
      this.issues.add(path, 'must be a mapping');
      return undefined;
    }
    this.refuseUnknown(v, new Set(['test', 'interval', 'timeout', 'retries', 'start_period', 'start_interval', 'disable']), path);
    const out: ServiceHealthcheck = {};
    if (this.bool(v.disable, [...path, 'disable'])) return { disable: true };
    if (typeof v.test === 'string') out.test = ['CMD-SHELL', v.test];
    else if (v.test !== undefined) {
      const t = this.strings(v.test, [...path, 'test']);
      if (t && !['CMD', 'CMD-SHELL', 'NONE'].includes(t[0] ?? '')) this.issues.add([...path, 'test'], 'a list must start with CMD, CMD-SHELL or NONE');
      else if (t) out.test = t;
    }
    for (const [field, key] of [['intervalNs', 'interval'], ['timeoutNs', 'timeout'], ['startPeriodNs', 'start_period'], ['startIntervalNs', 'start_interval']] as const) {
      if (v[key] === undefined) continue;
      const ns = this.duration(v[key], [...path, key]);
      if (ns !== undefined) out[field] = ns;
    }
    if (v.retries !== undefined) {
      if (typeof v.retries !== 'number' || !Number.isInteger(v.retries) || v.retries < 0) this.issues.add([...path, 'retries'], 'must be a whole number');
      else out.retries = v.retries;
    }
    return out;
  }

  /** Compose durations: "1m30s", "500ms", "10s", "2h"; a bare number is seconds. Nanoseconds. */
  private duration(v: Json, path: Array<string | number>): number | undefined {
    if (typeof v === 'number' && v >= 0) return Math.round(v * 1e9);
    const s = typeof v === 'string' ? v.trim() : '';
    const unit: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
    let total = 0;
    let rest = s;
    while (rest) {
      const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/.exec(rest);
      if (!m) {
        this.issues.add(path, `"${String(v)}" is not a duration (e.g. 30s, 1m30s, 500ms)`);
        return undefined;
      }
      total += Number(m[1]) * unit[m[2]];
      rest = rest.slice(m[0].length);
    }
    if (!s) {
      this.issues.add(path, 'must be a duration');
      return undefined;
    }
    return Math.round(total);
  }

  private checkDepends(services: Record<string, ComposeService>): void {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, d] of Object.entries(s.dependsOn)) {
        if (!(dep in services)) this.issues.add(['services', name, 'depends_on', dep], `the service "${dep}" does not exist`);
      }
    }
    const order = deployOrder(services);
    if (typeof order === 'string') this.issues.add(['services'], order);
  }
}

/** "[[HOST_IP:][PUBLISHED[-END]]:]TARGET[-END][/PROTO]" as bindings, or the reason it is not one. */
export function shortPort(s: string): PortBindingSpec[] | string {
  const m = /^(?:(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d*)(?:-(\d+))?:)?(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(s);
  if (!m) return `"${s}" is not a port ([[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL])`;
  const [, hostIp, pub, pubEnd, target, targetEnd, proto = 'tcp'] = m;
  if (proto !== 'tcp' && proto !== 'udp') return `the protocol "${proto}" is not supported by Berth (tcp, udp)`;
  const t0 = Number(target);
  const t1 = targetEnd ? Number(targetEnd) : t0;
  const p0 = pub ? Number(pub) : 0;
  const p1 = pubEnd ? Number(pubEnd) : p0;
  const ok = (n: number) => n >= 1 && n <= 65535;
  if (!ok(t0) || !ok(t1) || t1 < t0 || (pub && (!ok(p0) || !ok(p1) || p1 < p0))) return `"${s}": a port out of range`;
  const n = t1 - t0 + 1;
  if (pub && p1 - p0 + 1 !== n && !(n === 1 && pubEnd)) return `"${s}": the published range and the target range differ in length`;
  const out: PortBindingSpec[] = [];
  for (let i = 0; i < n; i++) {
    const b: PortBindingSpec = { containerPort: t0 + i, protocol: proto };
    if (hostIp) b.hostIp = hostIp;
    if (pub) {
      if (n === 1 && pubEnd) Object.assign(b, { hostPort: p0, hostPortEnd: p1 });
      else b.hostPort = p0 + i;
    }
    out.push(b);
  }
  return out;
}

/** Services in an order where each comes after those it depends on; a cycle is named. */
export function deployOrder(services: Record<string, { dependsOn: Record<string, unknown> }>): string[] | string {
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (n: string, trail: string[]): string | undefined => {
    if (state.get(n) === 'done' || !(n in services)) return undefined;
    if (state.get(n) === 'visiting') return `depends_on makes a cycle: ${[...trail.slice(trail.indexOf(n)), n].join(' → ')}`;
    state.set(n, 'visiting');
    for (const d of Object.keys(services[n].dependsOn).sort()) {
      const bad = visit(d, [...trail, n]);
      if (bad) return bad;
    }
    state.set(n, 'done');
    out.push(n);
    return undefined;
  };
  for (const n of Object.keys(services).sort()) {
    const bad = visit(n, []);
    if (bad) return bad;
  }
  return out;
}
