// Compose projects run by Berth's own engine. A stack's files live in the agent's root
// (stacks/NAME/compose.yaml and .env); its containers, networks and volumes carry the labels
// `docker compose` sets, so a project the docker-compose CLI started shows up here (as
// "external": its definition is the CLI's, read-only) and one deployed here shows in the CLI.
// Everything goes through the engine facade, as any other client's calls do.
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { writeFileAtomic } from '../atomic-write';
import { conflict, EngineError, notFound } from '../errors';
import type { ContainerRecord, ContainerSpec, Engine } from '../types';
import { summarizeContainer } from '../summaries';
import { deployOrder, parseCompose, type ComposeIssue, type ComposeProject, type ComposeService } from './compose';
import { parseEnvFile } from './interpolate';
import { inDependencyOrder, L } from './labels';
import {
  STACK_NAME,
  STACK_OP_STEPS_MAX,
  type ServicePlan,
  type StackDetail,
  type StackOperation,
  type StackOpKind,
  type StackPlan,
  type StackService,
  type StackStatus,
  type StackSummary,
} from '../../../protocol/stacks';
import type { StackUpdateOutcome } from '../../../protocol/updates';

/** What com.docker.compose.version says on what Berth makes: the Compose Specification version its reader follows. */
export const COMPOSE_VERSION = '2.20.0';
export const COMPOSE_FILE = 'compose.yaml';
export const ENV_FILE = '.env';

export class StackError extends EngineError {
  constructor(
    status: ConstructorParameters<typeof EngineError>[0],
    message: string,
    readonly issues: ComposeIssue[] = [],
  ) {
    super(status, message);
  }
}

function issuesError(issues: ComposeIssue[]): StackError {
  const shown = issues.slice(0, 5).map((i) => (i.line ? `line ${i.line}: ${i.message}` : i.message));
  return new StackError(400, `the compose file is not valid: ${shown.join('; ')}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}`, issues);
}

interface Resolved {
  project: ComposeProject;
  /** Per service: the container spec without the labels that depend on the deploy (hash, image id). */
  specs: Map<string, ContainerSpec>;
  hashes: Map<string, string>;
  order: string[];
}

export class Stacks extends EventEmitter<{ change: [name: string] }> {
  private readonly dir: string;
  /** Each stack's last operation, as kept on disk: an agent killed during one still tells, once back, that it did not finish. */
  private readonly opsDir: string;
  private readonly ops = new Map<string, StackOperation & { running: boolean }>();

  constructor(
    private readonly engine: Engine,
    root: string,
  ) {
    super();
    this.dir = join(resolve(root), 'stacks');
    // Not a valid stack name: no stack's directory can be it.
    this.opsDir = join(this.dir, '.operations');
    mkdirSync(this.opsDir, { recursive: true, mode: 0o700 });
    this.loadOps();
  }

  /** The operations the last agent kept; one it left running was cut short by its end. */
  private loadOps(): void {
    for (const f of readdirSync(this.opsDir)) {
      const name = f.replace(/\.json$/, '');
      if (!f.endsWith('.json') || !STACK_NAME.test(name)) continue;
      let op: StackOperation & { running: boolean };
      try {
        op = JSON.parse(readFileSync(join(this.opsDir, f), 'utf8')) as StackOperation & { running: boolean };
      } catch {
        // Written atomically, so only a foreign file gets here: it is not ours to trust.
        continue;
      }
      if (op.running) {
        const last = op.steps.at(-1)?.text;
        op.error = `interrupted: the agent stopped before the ${op.kind} finished${last ? ` (its last step: ${last})` : ''}; what it had done is shown, and running it again finishes it`;
        op.steps.push({ at: Date.now(), text: `failed: ${op.error}` });
        op.running = false;
        this.saveOp(name, op);
      }
      this.ops.set(name, op);
    }
  }

  private saveOp(name: string, op: StackOperation & { running: boolean }): void {
    // A stack forgotten by its down has no operation left to keep.
    if (this.ops.get(name) !== op) return;
    try {
      writeFileAtomic(join(this.opsDir, `${name}.json`), JSON.stringify(op), { mode: 0o600 });
    } catch (e) {
      // The operation itself goes on: only what a restarted agent could tell about it is lost.
      console.error(`stack ${name}: cannot keep the state of its ${op.kind}: ${(e as Error).message}`);
    }
  }

  stackDir(name: string): string {
    checkName(name);
    return join(this.dir, name);
  }

  /** Names with files in the agent's root. */
  private stored(): string[] {
    try {
      return readdirSync(this.dir, { withFileTypes: true })
        .filter((d) => d.isDirectory() && STACK_NAME.test(d.name))
        .filter((d) => statSync(join(this.dir, d.name, COMPOSE_FILE), { throwIfNoEntry: false })?.isFile())
        .map((d) => d.name);
    } catch {
      return [];
    }
  }

  private files(name: string): { compose: string; env: string } | undefined {
    const d = this.stackDir(name);
    let compose: string;
    try {
      compose = readFileSync(join(d, COMPOSE_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let env = '';
    try {
      env = readFileSync(join(d, ENV_FILE), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return { compose, env };
  }

  private containersOf(name: string): ContainerRecord[] {
    return this.engine.list({ all: true }).filter((c) => c.spec.labels?.[L.project] === name && c.spec.labels?.[L.oneoff] !== 'True');
  }

  list(): StackSummary[] {
    const byProject = new Map<string, ContainerRecord[]>();
    for (const c of this.engine.list({ all: true })) {
      const p = c.spec.labels?.[L.project];
      if (!p || c.spec.labels?.[L.oneoff] === 'True') continue;
      byProject.set(p, [...(byProject.get(p) ?? []), c]);
    }
    const stored = new Set(this.stored());
    const names = [...new Set([...stored, ...byProject.keys()])].sort();
    return names.map((n) => this.summary(n, stored.has(n), byProject.get(n) ?? []));
  }

  private summary(name: string, stored: boolean, containers: ContainerRecord[], serviceCount?: number): StackSummary {
    const running = containers.filter((c) => c.state.running).length;
    const services = serviceCount ?? new Set(containers.map((c) => c.spec.labels?.[L.service])).size;
    const status: StackStatus = !containers.length ? 'down' : running === containers.length ? 'running' : running ? 'partial' : 'stopped';
    const op = this.ops.get(name);
    return { name, source: stored ? 'berth' : 'external', status, services, containers: containers.length, running, ...(op?.running ? { busy: op.kind } : {}) };
  }

  get(name: string): StackDetail {
    checkName(name);
    const files = this.files(name);
    const containers = this.containersOf(name);
    if (!files && !containers.length) throw notFound(`No such stack: ${name}`);
    const services = new Map<string, StackService>();
    if (files) {
      // Services as the file has them, even before the first deploy; a file that no longer parses still shows its containers.
      const env = parseEnvFile(files.env).values;
      const parsed = parseCompose(files.compose, env);
      for (const [s, def] of Object.entries(parsed.project?.services ?? {})) services.set(s, { name: s, image: def.image, containers: [] });
    }
    const now = Date.now();
    for (const c of containers) {
      const s = c.spec.labels?.[L.service] ?? '?';
      const entry = services.get(s) ?? { name: s, image: c.image, containers: [] };
      entry.containers.push(summarizeContainer(c, now));
      services.set(s, entry);
    }
    const first = containers[0]?.spec.labels ?? {};
    const op = this.ops.get(name);
    const { running: _r, ...operation } = op ?? { running: false };
    return {
      ...this.summary(name, !!files, containers, services.size),
      workingDir: files ? this.stackDir(name) : first[L.workingDir],
      // docker-compose 1.29 writes them relative to its working directory, 2.x absolute.
      configFiles: files ? [join(this.stackDir(name), COMPOSE_FILE)] : first[L.configFiles]?.split(',').filter(Boolean).map((f) => (first[L.workingDir] ? resolve(first[L.workingDir], f) : f)),
      ...(files ? { compose: files.compose, env: files.env } : {}),
      serviceList: [...services.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
      ...(op ? { operation: operation as StackOperation } : {}),
    };
  }

  /** Problems of a compose text (+ .env) for this stack, as a deploy would find them; [] when it would deploy. */
  validate(name: string, compose: string, env = ''): ComposeIssue[] {
    checkName(name);
    const envParsed = parseEnvFile(env);
    if (envParsed.issues.length) return envParsed.issues.map((i) => ({ path: '.env', message: `.env line ${i.line}: ${i.message}` }));
    const r = parseCompose(compose, envParsed.values);
    if (r.issues.length || !r.project) return r.issues;
    try {
      this.resolve(name, r.project, envParsed.values, env);
    } catch (e) {
      if (e instanceof StackError) return e.issues.length ? e.issues : [{ path: '', message: e.message }];
      throw e;
    }
    return [];
  }

  /** The project's container specs, as the deploy would create them. */
  private resolve(name: string, project: ComposeProject, env: Record<string, string>, envText: string): Resolved {
    if (project.name && project.name !== name) throw new StackError(400, `the file's name "${project.name}" is not the stack's name "${name}"`, [{ path: 'name', message: `name: "${project.name}" differs from the stack's name "${name}"` }]);
    const order = deployOrder(project.services);
    if (typeof order === 'string') throw new StackError(400, order);
    const dir = this.stackDir(name);
    const specs = new Map<string, ContainerSpec>();
    const hashes = new Map<string, string>();
    for (const [svc, def] of Object.entries(project.services)) {
      const spec = this.containerSpec(name, dir, svc, def, project, env, envText);
      specs.set(svc, spec);
      hashes.set(svc, createHash('sha256').update(canonical(spec)).digest('hex'));
    }
    return { project, specs, hashes, order };
  }

  private containerSpec(name: string, dir: string, svc: string, def: ComposeService, project: ComposeProject, env: Record<string, string>, envText: string): ContainerSpec {
    const environment: Record<string, string> = {};
    for (const f of def.envFiles) {
      const path = join(dir, normalize(f.path));
      let text: string;
      try {
        // The stack's own .env is the one being deployed, which may not be stored yet.
        text = normalize(f.path) === ENV_FILE ? envText : readFileSync(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !f.required) continue;
        throw new StackError(400, `services.${svc}.env_file: cannot read ${f.path}: ${(e as Error).message}`, [{ path: `services.${svc}.env_file`, message: `services.${svc}.env_file: cannot read ${f.path} in the stack's directory` }]);
      }
      const parsed = parseEnvFile(text);
      if (parsed.issues.length) throw new StackError(400, `services.${svc}.env_file ${f.path} line ${parsed.issues[0].line}: ${parsed.issues[0].message}`);
      Object.assign(environment, parsed.values);
    }
    for (const [k, v] of Object.entries(def.environment)) {
      if (v !== null) environment[k] = v;
      else if (k in env) environment[k] = env[k];
      else delete environment[k];
    }
    const networks = Object.entries(def.networks).map(([key, n]) => ({ network: networkName(name, key, project), aliases: [svc, ...n.aliases] }));
    const mounts: NonNullable<NonNullable<ContainerSpec['storage']>['mounts']> = def.volumes.map((v) => {
      if (v.type === 'bind') {
        const source = isAbsolute(v.source as string) ? normalize(v.source as string) : join(dir, normalize(v.source as string));
        return { type: 'bind' as const, source, target: v.target, createSource: true, ...(v.readOnly ? { readOnly: true } : {}) };
      }
      return { type: 'volume' as const, ...(v.source ? { source: volumeName(name, v.source, project) } : {}), target: v.target, ...(v.readOnly ? { readOnly: true } : {}) };
    });
    const h = def.healthcheck;
    const spec: ContainerSpec = {
      name: def.containerName ?? `${name}-${svc}-1`,
      image: def.image,
      labels: { ...def.labels },
      process: {
        ...(def.command ? { cmd: def.command } : {}),
        ...(def.entrypoint ? { entrypoint: def.entrypoint } : {}),
        env: Object.entries(environment).map(([k, v]) => `${k}=${v}`),
        ...(def.workingDir ? { workingDir: def.workingDir } : {}),
        ...(def.user ? { user: def.user } : {}),
        ...(def.tty ? { tty: true } : {}),
        ...(def.stdinOpen ? { openStdin: true } : {}),
        ...(def.init ? { init: true } : {}),
        ...(def.stopSignal ? { stopSignal: def.stopSignal } : {}),
        ...(def.stopGracePeriodSec !== undefined ? { stopTimeout: def.stopGracePeriodSec } : {}),
      },
      network: {
        networks,
        ...(def.hostname ? { hostname: def.hostname } : {}),
        ...(def.ports.length ? { ports: def.ports } : {}),
        ...(def.extraHosts ? { extraHosts: def.extraHosts } : {}),
      },
      ...(def.restart ? { restart: { policy: def.restart.policy, ...(def.restart.maxRetries ? { maxRetries: def.restart.maxRetries } : {}) } } : {}),
      ...(h
        ? {
            health: h.disable
              ? { test: ['NONE'] }
              : {
                  ...(h.test ? { test: h.test } : {}),
                  ...(h.intervalNs !== undefined ? { intervalNs: h.intervalNs } : {}),
                  ...(h.timeoutNs !== undefined ? { timeoutNs: h.timeoutNs } : {}),
                  ...(h.startPeriodNs !== undefined ? { startPeriodNs: h.startPeriodNs } : {}),
                  ...(h.startIntervalNs !== undefined ? { startIntervalNs: h.startIntervalNs } : {}),
                  ...(h.retries !== undefined ? { retries: h.retries } : {}),
                },
          }
        : {}),
      ...(def.privileged || def.capAdd || def.capDrop ? { security: { ...(def.privileged ? { privileged: true } : {}), ...(def.capAdd ? { capAdd: def.capAdd } : {}), ...(def.capDrop ? { capDrop: def.capDrop } : {}) } } : {}),
      ...(mounts.length ? { storage: { mounts } } : {}),
    };
    return spec;
  }

  /** The stored files (or `given` ones) parsed and resolved; throws StackError with the issues. */
  private load(name: string, given?: { compose?: string; env?: string }): Resolved & { compose: string; env: string } {
    const stored = this.files(name);
    if (!stored && given?.compose === undefined) {
      if (this.containersOf(name).length) throw new StackError(409, `stack ${name} was started by another client (external): its definition is not Berth's to deploy`);
      throw notFound(`No such stack: ${name}`);
    }
    const compose = given?.compose ?? stored?.compose ?? '';
    const env = given?.env ?? (given?.compose !== undefined ? '' : stored?.env ?? '');
    const envParsed = parseEnvFile(env);
    if (envParsed.issues.length) throw new StackError(400, `.env line ${envParsed.issues[0].line}: ${envParsed.issues[0].message}`);
    const r = parseCompose(compose, envParsed.values);
    if (!r.project) throw issuesError(r.issues);
    return { ...this.resolve(name, r.project, envParsed.values, env), compose, env };
  }

  /** What a deploy would change. `pull`: images are looked up as they are here now (a pull-redeploy plans after pulling). */
  plan(name: string, given?: { compose?: string; env?: string }): StackPlan {
    checkName(name);
    return this.planOf(name, this.load(name, given));
  }

  private planOf(name: string, r: Resolved): StackPlan {
    const containers = this.containersOf(name);
    const services: ServicePlan[] = [];
    for (const svc of r.order) {
      const have = containers.filter((c) => c.spec.labels?.[L.service] === svc);
      const c = have[0];
      if (!c) {
        services.push({ service: svc, action: 'create', reason: 'new service' });
        continue;
      }
      const img = this.engine.findImage(r.specs.get(svc)!.image);
      let reason = '';
      if (c.spec.labels?.[L.hash] !== r.hashes.get(svc)) reason = 'its definition changed';
      else if (img && img.id !== c.imageId) reason = `its image changed (${c.imageId.slice(7, 19)} → ${img.id.slice(7, 19)})`;
      else if (have.length > 1) reason = `it has ${have.length} containers; Berth runs one per service`;
      if (reason) services.push({ service: svc, action: 'recreate', reason, containerId: c.id });
      else services.push({ service: svc, action: 'unchanged', reason: c.state.running ? 'running' : 'stopped: will be started', containerId: c.id });
    }
    for (const c of containers) {
      const svc = c.spec.labels?.[L.service] ?? '';
      if (!(svc in r.project.services)) services.push({ service: svc, action: 'remove', reason: 'no longer in the compose file', containerId: c.id });
    }
    const nets = new Map<string, 'create' | 'unchanged' | 'external'>();
    const existingNets = new Set(this.engine.listNetworks().map((n) => n.name));
    for (const key of usedNetworks(r.project)) {
      const n = networkName(name, key, r.project);
      nets.set(n, r.project.networks[key]?.external ? 'external' : existingNets.has(n) ? 'unchanged' : 'create');
    }
    const existingVols = new Set(this.engine.listVolumes().map((v) => v.name));
    const vols = new Map<string, 'create' | 'unchanged' | 'external'>();
    for (const [key, v] of Object.entries(r.project.volumes)) {
      const n = volumeName(name, key, r.project);
      vols.set(n, v.external ? 'external' : existingVols.has(n) ? 'unchanged' : 'create');
    }
    return {
      services,
      networks: [...nets].map(([n, action]) => ({ name: n, action })),
      volumes: [...vols].map(([n, action]) => ({ name: n, action })),
    };
  }

  // --- operations

  /** Runs one operation on a stack at a time, its steps kept for whoever looks later. */
  private async run<T>(name: string, kind: StackOpKind, fn: (step: (text: string) => void) => Promise<T>): Promise<T> {
    checkName(name);
    const cur = this.ops.get(name);
    if (cur?.running) throw conflict(`stack ${name} is busy: its ${cur.kind} is under way`);
    const op: StackOperation & { running: boolean } = { id: randomUUID(), kind, startedAt: Date.now(), steps: [], running: true };
    this.ops.set(name, op);
    const step = (text: string) => {
      op.steps.push({ at: Date.now(), text });
      if (op.steps.length > STACK_OP_STEPS_MAX) op.steps.splice(0, op.steps.length - STACK_OP_STEPS_MAX);
      this.saveOp(name, op);
      this.emit('change', name);
    };
    this.saveOp(name, op);
    this.emit('change', name);
    try {
      const out = await fn(step);
      step('done');
      return out;
    } catch (e) {
      op.error = (e as Error).message;
      step(`failed: ${op.error}`);
      throw e;
    } finally {
      op.running = false;
      op.finishedAt = Date.now();
      this.saveOp(name, op);
      this.emit('change', name);
    }
  }

  /** Stores the files when given (atomically, after they were found valid), then brings the project to them. */
  deploy(name: string, given: { compose?: string; env?: string; pull?: boolean } = {}): Promise<StackPlan> {
    return this.run(name, given.pull ? 'pull-redeploy' : 'deploy', async (step) => {
      const r = this.load(name, given);
      if (given.compose !== undefined) this.store(name, r.compose, r.env);
      // Images first: what is missing (or everything, for a pull-redeploy) is pulled before anything is touched.
      const images = [...new Set([...r.specs.values()].map((s) => s.image))];
      for (const image of images) {
        if (!given.pull && this.engine.findImage(image)) continue;
        step(`pull ${image}`);
        await this.engine.pullImage(image);
      }
      const plan = this.planOf(name, r);
      for (const s of plan.services) step(`${s.service}: ${s.action} (${s.reason})`);
      await this.ensureNetworks(name, r.project, step);
      this.ensureVolumes(name, r.project, step);
      for (const s of plan.services.filter((x) => x.action === 'remove')) {
        step(`remove ${s.service}`);
        await this.engine.remove(s.containerId as string, { force: true });
      }
      const byService = new Map(plan.services.map((s) => [s.service, s]));
      for (const svc of r.order) {
        const p = byService.get(svc)!;
        await this.waitForDependencies(name, svc, r.project.services[svc], step);
        if (p.action === 'unchanged') {
          const c = this.engine.inspect(p.containerId as string);
          if (!c.state.running) {
            step(`start ${c.name}`);
            await this.engine.start(c.id);
          }
          continue;
        }
        if (p.action === 'recreate') {
          for (const c of this.containersOf(name).filter((x) => x.spec.labels?.[L.service] === svc)) {
            step(`stop and remove ${c.name}`);
            await this.engine.stop(c.id).catch(() => {});
            await this.engine.remove(c.id, { force: true });
          }
        }
        const spec = r.specs.get(svc)!;
        const img = this.engine.inspectImage(spec.image);
        const deps = Object.entries(r.project.services[svc].dependsOn).map(([d, x]) => `${d}:${x.condition}:${x.restart}`).join(',');
        const labels: Record<string, string> = {
          ...spec.labels,
          [L.project]: name,
          [L.service]: svc,
          [L.number]: '1',
          [L.oneoff]: 'False',
          [L.workingDir]: this.stackDir(name),
          [L.configFiles]: join(this.stackDir(name), COMPOSE_FILE),
          [L.hash]: r.hashes.get(svc)!,
          [L.image]: img.id,
          [L.version]: COMPOSE_VERSION,
          [L.dependsOn]: deps,
        };
        step(`create ${spec.name}`);
        const c = await this.engine.createContainer({ ...spec, labels });
        step(`start ${spec.name}`);
        await this.engine.start(c.id);
      }
      return plan;
    });
  }

  private store(name: string, compose: string, env: string): void {
    const d = this.stackDir(name);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(d, COMPOSE_FILE), compose, { mode: 0o600 });
    if (env) writeFileAtomic(join(d, ENV_FILE), env, { mode: 0o600 });
    else rmSync(join(d, ENV_FILE), { force: true });
  }

  private async ensureNetworks(name: string, project: ComposeProject, step: (t: string) => void): Promise<void> {
    const existing = new Map(this.engine.listNetworks().map((n) => [n.name, n]));
    for (const key of usedNetworks(project)) {
      const n = networkName(name, key, project);
      const def = project.networks[key];
      if (def?.external) {
        if (!existing.has(n)) throw new StackError(404, `network ${n} is declared as external, but it does not exist`);
        continue;
      }
      if (existing.has(n)) continue;
      step(`create network ${n}`);
      await this.engine.createNetwork({
        name: n,
        labels: { ...(def?.labels ?? {}), [L.project]: name, [L.network]: key, [L.version]: COMPOSE_VERSION },
        ...(def?.internal ? { internal: true } : {}),
      });
    }
  }

  private ensureVolumes(name: string, project: ComposeProject, step: (t: string) => void): void {
    const existing = new Set(this.engine.listVolumes().map((v) => v.name));
    for (const [key, def] of Object.entries(project.volumes)) {
      const n = volumeName(name, key, project);
      if (def.external) {
        if (!existing.has(n)) throw new StackError(404, `volume ${n} is declared as external, but it does not exist`);
        continue;
      }
      if (existing.has(n)) continue;
      step(`create volume ${n}`);
      this.engine.createVolume(n, { labels: { ...def.labels, [L.project]: name, [L.volume]: key, [L.version]: COMPOSE_VERSION } });
    }
  }

  /** Waits for what `svc` depends on, as its conditions say: started, healthy, or exited with 0. */
  private async waitForDependencies(name: string, svc: string, def: ComposeService, step: (t: string) => void): Promise<void> {
    for (const [dep, d] of Object.entries(def.dependsOn)) {
      if (d.condition === 'service_started') continue;
      const c = this.containersOf(name).find((x) => x.spec.labels?.[L.service] === dep);
      if (!c) throw new StackError(409, `${svc} depends on ${dep}, which has no container`);
      if (d.condition === 'service_completed_successfully') {
        step(`${svc}: wait for ${dep} to complete`);
        const { exitCode } = await this.engine.wait(c.id, 'not-running');
        if (exitCode !== 0) throw new StackError(409, `${svc} depends on ${dep} completing successfully, but it exited with ${exitCode}`);
        continue;
      }
      if (!c.spec.health?.test || c.spec.health.test[0] === 'NONE') throw new StackError(409, `${svc} depends on ${dep} being healthy, but ${dep} has no healthcheck`);
      step(`${svc}: wait for ${dep} to be healthy`);
      await this.healthy(c);
    }
  }

  /** Resolves once the container is healthy; rejects when it is unhealthy or stops. Event-driven, bounded by its own healthcheck's timings. */
  private healthy(c: ContainerRecord): Promise<void> {
    const h: Partial<NonNullable<ContainerRecord['spec']['health']>> = c.spec.health ?? {};
    const s = (ns: number | undefined, dflt: number) => (ns || dflt) / 1e6;
    const boundMs = Math.min(15 * 60_000, Math.max(60_000, 2 * (s(h.startPeriodNs, 0) + ((h.retries || 3) + 1) * (s(h.intervalNs, 30e9) + s(h.timeoutNs, 30e9)))));
    return new Promise((resolveP, reject) => {
      const check = () => {
        let now: ContainerRecord;
        try {
          now = this.engine.inspect(c.id);
        } catch (e) {
          return finish(e as Error);
        }
        if (!now.state.running) return finish(new StackError(409, `${now.name} stopped (exit code ${now.state.exitCode}) before it was healthy`));
        if (now.state.health?.status === 'healthy') return finish();
        if (now.state.health?.status === 'unhealthy') return finish(new StackError(409, `${now.name} is unhealthy`));
      };
      const onEvent = (e: { id: string }) => {
        if (e.id === c.id) check();
      };
      const timer = setTimeout(() => finish(new StackError(500, `${c.name} was not healthy within ${Math.round(boundMs / 1000)} s`)), boundMs);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.engine.off('container', onEvent);
        if (err) reject(err);
        else resolveP();
      };
      this.engine.on('container', onEvent);
      check();
    });
  }

  /** The project's containers in dependency order (from the labels, which the CLI's containers have too). */
  private ordered(name: string): ContainerRecord[] {
    const cs = this.containersOf(name);
    if (!cs.length) throw notFound(`No such stack: ${name} (it has no containers)`);
    return inDependencyOrder(cs);
  }

  /**
   * An image update of the stack's services (the engine's updateStack) as one of its
   * operations: a deploy, stop or down asked for meanwhile is refused rather than mixed into it.
   */
  updateImages(name: string, opts?: Parameters<Engine['updateStack']>[1]): Promise<StackUpdateOutcome> {
    return this.run(name, 'image-update', async (step) => {
      step('pull each service\'s image and recreate the services it changed, in dependency order');
      const out = await this.engine.updateStack(name, opts);
      for (const s of out.services) step(`${s.service}: ${s.outcome}${s.message ? ` (${s.message})` : ''}`);
      return out;
    });
  }

  stop(name: string): Promise<void> {
    return this.run(name, 'stop', async (step) => {
      for (const c of this.ordered(name).reverse()) {
        if (!c.state.running) continue;
        step(`stop ${c.name}`);
        await this.engine.stop(c.id);
      }
    });
  }

  start(name: string): Promise<void> {
    return this.run(name, 'start', async (step) => {
      for (const c of this.ordered(name)) {
        if (c.state.running) continue;
        step(`start ${c.name}`);
        await this.engine.start(c.id);
      }
    });
  }

  restart(name: string): Promise<void> {
    return this.run(name, 'restart', async (step) => {
      for (const c of this.ordered(name)) {
        step(`restart ${c.name}`);
        await this.engine.restart(c.id);
      }
    });
  }

  restartService(name: string, service: string): Promise<void> {
    return this.run(name, 'restart-service', async (step) => {
      const cs = this.containersOf(name).filter((c) => c.spec.labels?.[L.service] === service);
      if (!cs.length) throw notFound(`stack ${name} has no container of service ${service}`);
      for (const c of cs) {
        step(`restart ${c.name}`);
        await this.engine.restart(c.id);
      }
    });
  }

  /** Containers and the project's networks go; named volumes too with `volumes`; `forget` removes a berth stack's files as well. */
  down(name: string, opts: { volumes?: boolean; forget?: boolean } = {}): Promise<void> {
    return this.run(name, 'down', async (step) => {
      const stored = !!this.files(name);
      const cs = this.containersOf(name);
      if (!stored && !cs.length) throw notFound(`No such stack: ${name}`);
      if (opts.forget && !stored) throw new StackError(409, `stack ${name} is external: it has no files here to forget`);
      for (const c of cs.length ? this.ordered(name).reverse() : []) {
        step(`stop and remove ${c.name}`);
        await this.engine.stop(c.id).catch(() => {});
        await this.engine.remove(c.id, { force: true, volumes: true });
      }
      for (const n of this.engine.listNetworks()) {
        if (n.labels[L.project] !== name) continue;
        step(`remove network ${n.name}`);
        await this.engine.removeNetwork(n.id);
      }
      if (opts.volumes) {
        for (const v of this.engine.listVolumes()) {
          if (v.labels[L.project] !== name) continue;
          step(`remove volume ${v.name}`);
          await this.engine.removeVolume(v.name);
        }
      }
      if (opts.forget) {
        step(`forget the files of ${name}`);
        rmSync(this.stackDir(name), { recursive: true, force: true });
        this.ops.delete(name);
        rmSync(join(this.opsDir, `${name}.json`), { force: true });
      }
    });
  }
}

function checkName(name: string): void {
  if (!STACK_NAME.test(name) || name.length > 63) throw new StackError(400, `"${name}" is not a stack name (lower case letters, digits, "-" and "_", starting with a letter or digit)`);
}

function usedNetworks(project: ComposeProject): string[] {
  const out = new Set<string>();
  for (const s of Object.values(project.services)) for (const k of Object.keys(s.networks)) out.add(k);
  return [...out].sort();
}

/** As compose names them: PROJECT_KEY, unless the file names it (or it is external: then its name is the key's or its own). */
export function networkName(project: string, key: string, p: ComposeProject): string {
  const def = p.networks[key];
  if (def?.name) return def.name;
  if (def?.external) return key;
  return `${project}_${key}`;
}
export function volumeName(project: string, key: string, p: ComposeProject): string {
  const def = p.volumes[key];
  if (def?.name) return def.name;
  if (def?.external) return key;
  return `${project}_${key}`;
}

/** JSON with keys sorted at every level: the config hash must not depend on the order keys were written in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
