// The container records the engine keeps: in memory for lookups, on disk (ContainerStore)
// so they outlive the agent. Names and ids resolve here, Docker's way.
import { join } from 'node:path';
import type { ContainerRecord, ResolvedSpec } from '../../../protocol/container';
import { badRequest, conflict, notFound } from '../errors';
import { upgradeNetwork } from '../network/spec';
import { generateName, VALID_NAME } from './names';
import { isolationDefaults, withIsolationDefaults } from './security';
import { ContainerStore } from './store';
import { emptyStorage } from '../volumes/mounts';

export class ContainerRecords {
  private readonly recs = new Map<string, ContainerRecord>();
  readonly store: ContainerStore;

  constructor(root: string) {
    this.store = new ContainerStore(join(root, 'containers'));
  }

  dir(id: string): string {
    return this.store.containerDir(id);
  }
  /** The monitor's state dir of the container's current (or last) run. */
  runDir(id: string): string {
    return join(this.dir(id), 'run');
  }

  /** Reads every record from disk, upgrading ones an earlier version wrote. */
  async load(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const raw of await this.store.loadAll()) {
      const rec = upgrade(raw as unknown as ContainerRecord & Partial<V1Record>);
      if (rec !== raw) await this.store.save(rec);
      this.recs.set(rec.id, rec);
      out.push(rec);
    }
    return out;
  }

  get(id: string): ContainerRecord | undefined {
    return this.recs.get(id);
  }

  all(): ContainerRecord[] {
    return [...this.recs.values()];
  }

  /** By full id, name (with or without Docker's slash) or unique id prefix; 404 when none. */
  resolve(idOrName: string): ContainerRecord {
    const key = idOrName.replace(/^\//, '');
    const exact = this.recs.get(key);
    if (exact) return exact;
    for (const r of this.recs.values()) if (r.name === key) return r;
    if (/^[0-9a-f]+$/.test(key)) {
      const hits = [...this.recs.values()].filter((r) => r.id.startsWith(key));
      if (hits.length === 1) return hits[0];
      if (hits.length > 1) throw badRequest(`multiple IDs found with provided prefix: ${key}`);
    }
    throw notFound(`No such container: ${idOrName}`);
  }

  /** The name a new container gets: the one asked for, checked and free, or a generated one. */
  chooseName(asked: string | undefined): string {
    const name = asked?.replace(/^\//, '');
    if (name === undefined || name === '') return generateName((n) => this.byName(n) !== undefined);
    if (!VALID_NAME.test(name)) throw badRequest(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const other = this.byName(name);
    if (other)
      throw conflict(
        `Conflict. The container name "/${name}" is already in use by container "${other.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    return name;
  }

  private byName(name: string): ContainerRecord | undefined {
    for (const r of this.recs.values()) if (r.name === name) return r;
    return undefined;
  }

  /** Takes the record in at once (its name is claimed from now on); persisting it is save(). */
  add(rec: ContainerRecord): void {
    this.recs.set(rec.id, rec);
  }

  save(rec: ContainerRecord): Promise<void> {
    return this.store.save(rec);
  }

  /** `docker rename`: the same checks as a new name, and never the name it already has. */
  rename(rec: ContainerRecord, newName: string): string {
    const name = newName.trim().replace(/^\//, '');
    if (!name) throw badRequest('Neither old nor new names may be empty');
    if (name === rec.name) throw badRequest('Renaming a container with the same name as its current name');
    const old = rec.name;
    rec.name = this.chooseName(name);
    return old;
  }

  /** Forgets the record and deletes its directory (upper dir and log included). */
  async delete(id: string): Promise<void> {
    await this.store.delete(id);
    this.recs.delete(id);
  }
}

/** The record layout of Berth 0.1 (flat config and hostConfig), still found in older roots. */
interface V1Record {
  config: { cmd: string[]; entrypoint: string[]; env: string[]; workingDir: string; user: string; hostname: string; tty: boolean; labels: Record<string, string> };
  hostConfig: { memory: number; memorySwap: number; nanoCpus: number; cpuShares: number; pidsLimit: number; autoRemove: boolean; networkMode: string };
}

function upgrade(r: ContainerRecord & Partial<V1Record>): ContainerRecord {
  // Records from before networks (a mode and a hostname only).
  if (r.spec && r.spec.network.ports === undefined) r = { ...r, spec: { ...r.spec, network: upgradeNetwork(r.spec.network) } };
  if (r.spec) {
    let spec = r.spec;
    // Records from before restart policies and healthchecks: they had neither.
    if (spec.restart.policy === undefined || spec.health === undefined) {
      const old: Partial<ResolvedSpec['restart']> = spec.restart;
      spec = { ...spec, restart: { autoRemove: old.autoRemove ?? false, policy: old.policy ?? 'no', maxRetries: old.maxRetries ?? 0 }, health: spec.health ?? null };
    }
    // And from before the isolation options, and before volumes and binds.
    spec = withIsolationDefaults(spec);
    if (!spec.storage) spec = { ...spec, storage: emptyStorage() };
    return spec === r.spec ? r : { ...r, spec };
  }
  if (!r.config || !r.hostConfig) return r;
  const { config: c, hostConfig: h, ...rest } = r;
  const spec: ResolvedSpec = {
    labels: c.labels,
    process: { cmd: c.cmd, entrypoint: c.entrypoint, env: c.env, workingDir: c.workingDir, user: c.user, tty: c.tty, init: false, stopSignal: '', stopTimeout: null },
    resources: { memory: h.memory, memorySwap: h.memorySwap, nanoCpus: h.nanoCpus, cpuShares: h.cpuShares, pidsLimit: h.pidsLimit },
    network: upgradeNetwork({ mode: h.networkMode === 'host' ? 'host' : h.networkMode === 'none' ? 'none' : 'default', hostname: c.hostname }),
    restart: { autoRemove: h.autoRemove, policy: 'no', maxRetries: 0 },
    health: null,
    ...isolationDefaults(),
    storage: emptyStorage(),
  };
  return { ...rest, spec };
}
