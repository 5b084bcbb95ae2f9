// Image updates on one host: the registry checks (./checker.ts) and the updates under way or
// lately done (./recreate.ts), kept here, not in the link, so a dashboard that reconnects or a
// page that was left and opened again finds an update where it is.
//
// Exports: HostUpdates, UpdateRequest.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine, RegistryAuth } from '../types';
import { writeFileAtomic } from '../atomic-write';
import { conflict, EngineError, notFound } from '../errors';
import { parseReference } from '../images/reference';
import { inDependencyOrder, L } from '../stacks/labels';
import { UPDATE_PHASES_DONE, type StackServiceUpdate, type StackUpdateOutcome, type UpdateJob, type UpdateReport } from '../../../protocol/updates';
import { updateStateOf, UpdateChecker, type CheckerOptions } from './checker';
import { recoverUpdate, recreateWithImage, type HeldUpdate, type JournalEntry, type RecreateOptions, type RecreateOutcome, type UpdateJournal } from './recreate';

/** A finished update stays listed this long. */
const JOB_KEPT_MS = 3600_000;

export interface UpdateRequest {
  /** Registry domain → login, for the checks (from the team, per command; never stored). */
  auths?: Record<string, RegistryAuth>;
  force?: boolean;
  /** Only these containers (ids or names); default every one. */
  ids?: string[];
  /** How long to wait for registry answers before reporting "checking" (default 10 s). */
  waitMs?: number;
}

export class HostUpdates {
  readonly checker: UpdateChecker;
  private readonly jobs = new Map<string, UpdateJob>();
  private readonly stopping = new AbortController();
  /** ROOT/updates/NAME.json while an update of NAME runs (./recreate.ts JournalEntry). */
  private readonly journal: UpdateJournal;

  constructor(
    private readonly engine: Engine,
    lookup: (ref: string, auth?: RegistryAuth) => Promise<string>,
    opts: CheckerOptions = {},
    private readonly journalDir = join(engine.root, 'updates'),
  ) {
    this.checker = new UpdateChecker(lookup, opts);
    this.journal = {
      write: (e) => {
        mkdirSync(this.journalDir, { recursive: true, mode: 0o700 });
        writeFileAtomic(join(this.journalDir, `${e.name}.json`), JSON.stringify(e), { mode: 0o600 });
      },
      clear: (name) => rmSync(join(this.journalDir, `${name}.json`), { force: true }),
    };
  }

  /** At the agent's start: updates an earlier agent left midway are rolled back. */
  async recover(log: (line: string) => void = console.log): Promise<void> {
    let names: string[];
    try {
      names = readdirSync(this.journalDir).filter((n) => n.endsWith('.json'));
    } catch {
      return;
    }
    for (const n of names) {
      const path = join(this.journalDir, n);
      try {
        const e = JSON.parse(readFileSync(path, 'utf8')) as JournalEntry;
        log(`berth-agent: ${await recoverUpdate(this.engine, e)}`);
        rmSync(path, { force: true });
      } catch (err) {
        // Kept: the next start tries again, and the old container is still there under its kept name.
        log(`berth-agent: rolling back the update recorded in ${path}: ${(err as Error).message}`);
      }
    }
  }

  /** The agent is stopping: updates under way stop where they are (the next start rolls them back). */
  close(): void {
    this.stopping.abort();
  }

  async report(req: UpdateRequest = {}): Promise<UpdateReport> {
    const all = this.engine.list({ all: true });
    const wanted = req.ids ? all.filter((c) => req.ids!.some((x) => x === c.id || x === c.name || (x.length >= 12 && c.id.startsWith(x)))) : all;
    const checks = new Map<string, Promise<unknown>>();
    for (const c of wanted) {
      if (checks.has(c.image)) continue;
      // Nothing to compare with (pinned, built here …): the registry is not asked at all.
      if (updateStateOf(c, this.engine.findImage(c.imageId), { checkedAt: 0 }).state === 'unknown') continue;
      let domain: string;
      try {
        domain = parseReference(c.image).domain;
      } catch {
        continue;
      }
      checks.set(c.image, this.checker.check(c.image, { auth: req.auths?.[domain], force: req.force }));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(checks.values()), new Promise((r) => (timer = setTimeout(r, req.waitMs ?? 10_000)))]);
    clearTimeout(timer);
    const containers = wanted.map((c) => updateStateOf(c, this.engine.findImage(c.imageId), this.checker.cached(c.image)));
    const now = Date.now();
    for (const [k, j] of this.jobs) if (j.finishedAt && now - Date.parse(j.finishedAt) > JOB_KEPT_MS) this.jobs.delete(k);
    return { containers, jobs: [...this.jobs.values()].map((j) => ({ ...j })) };
  }

  /** Runs one update to its end; its progress shows in report().jobs meanwhile. */
  async update(idOrName: string, opts: Omit<RecreateOptions, 'onPhase'> = {}): Promise<RecreateOutcome> {
    const rec = this.engine.inspect(idOrName);
    const running = this.jobs.get(rec.name);
    if (running && !UPDATE_PHASES_DONE.includes(running.phase)) throw conflict(`an update of ${rec.name} is already under way (${running.phase})`);
    const job: UpdateJob = { name: rec.name, image: rec.image, oldContainerId: rec.id, oldImageId: rec.imageId, phase: 'pulling', message: 'starting', startedAt: new Date().toISOString() };
    this.jobs.set(rec.name, job);
    try {
      const out = await recreateWithImage(this.engine, rec.id, {
        ...opts,
        journal: this.journal,
        signal: this.stopping.signal,
        onPhase: (phase, message, extra) => Object.assign(job, { phase, message }, extra ?? {}),
      });
      Object.assign(job, { phase: out.outcome, message: out.message, newImageId: out.newImageId, finishedAt: new Date().toISOString() });
      return out;
    } catch (err) {
      Object.assign(job, { phase: 'failed', message: (err as Error).message, finishedAt: new Date().toISOString() });
      throw err;
    } finally {
      // It pulled the tag: what the registry was last known to say of it may be older than that.
      this.checker.forget(rec.image);
    }
  }

  /**
   * Updates a compose project's services as one: each service's image is pulled and, where the
   * tag names a newer image, its container is made again from it (the compose labels kept, the
   * config hash unchanged as the definition is, the image label the new image's, so a later
   * redeploy sees nothing to do), services in dependency order. The old containers (and so their
   * images) stay until every changed service is up; if one is not, every changed service is put
   * back as it was.
   */
  async updateStack(project: string, opts: { auths?: Record<string, RegistryAuth>; healthTimeoutSec?: number; settleMs?: number; only?: string[] } = {}): Promise<StackUpdateOutcome> {
    let all = this.engine.list({ all: true }).filter((c) => c.spec.labels?.[L.project] === project && c.spec.labels?.[L.oneoff] !== 'True');
    if (!all.length) throw notFound(`No such stack: ${project} (it has no containers)`);
    if (opts.only) {
      const only = opts.only;
      const missing = only.filter((x) => !all.some((c) => c.id === x || c.name === x));
      if (missing.length) throw notFound(`stack ${project} has no container ${missing.join(', ')}`);
      all = all.filter((c) => only.includes(c.id) || only.includes(c.name));
    }
    const services: StackServiceUpdate[] = [];
    const held: Array<{ s: StackServiceUpdate; held: HeldUpdate }> = [];
    let failed: StackServiceUpdate | undefined;
    for (const c of inDependencyOrder(all)) {
      const service = c.spec.labels?.[L.service] ?? c.name;
      const base = { service, name: c.name, image: c.image, containerId: c.id };
      if (failed) {
        services.push({ ...base, outcome: 'skipped', message: `not tried: ${failed.service} did not come up` });
        continue;
      }
      let domain: string | undefined;
      try {
        domain = parseReference(c.image).domain;
      } catch {
        domain = undefined;
      }
      const auth = domain ? opts.auths?.[domain] : undefined;
      try {
        const out = await this.update(c.id, {
          hold: true,
          labels: (newImageId): Record<string, string> => (c.spec.labels?.[L.image] !== undefined ? { [L.image]: newImageId } : {}),
          pullOptions: auth ? { auth } : {},
          ...(opts.healthTimeoutSec ? { healthTimeoutSec: opts.healthTimeoutSec } : {}),
          ...(opts.settleMs ? { settleMs: opts.settleMs } : {}),
        });
        const s: StackServiceUpdate = { ...base, outcome: out.outcome, message: out.message, containerId: out.containerId };
        services.push(s);
        if (out.held) held.push({ s, held: out.held });
        if (out.outcome === 'rolled-back') failed = Object.assign(s, { failed: true });
      } catch (err) {
        // Refused before it began (another update of it under way, the container gone): no
        // service failed to come up, so nothing is reported rolled back; what is held goes back.
        if (err instanceof EngineError && (err.status === 409 || err.status === 404)) {
          for (const h of held.reverse()) await h.held.rollback();
          throw err;
        }
        const s: StackServiceUpdate = { ...base, outcome: 'rolled-back', message: `error: ${(err as Error).message}`, failed: true };
        services.push(s);
        failed = s;
      }
    }
    if (failed) {
      const problems: string[] = [];
      // The later ones first: a service goes back before what it depends on.
      for (const h of held.reverse()) {
        const left = await h.held.rollback();
        problems.push(...left.map((p) => `${h.s.service}: ${p}`));
        Object.assign(h.s, { outcome: 'rolled-back', message: `rolled back with the stack (${failed.service} did not come up)`, containerId: this.engine.inspect(h.s.name).id });
        // The container page's record of the update says so too.
        const job = this.jobs.get(h.s.name);
        if (job) Object.assign(job, { phase: 'rolled-back', message: h.s.message, finishedAt: new Date().toISOString() });
      }
      if (problems.length) throw new EngineError(500, `update of stack ${project} failed (${failed.service}: ${failed.message}) and the rollback did not complete: ${problems.join('; ')}`);
      return { project, outcome: 'rolled-back', message: `rolled back: ${failed.service}: ${failed.message.replace(/^rolled back: /, '')}`, services };
    }
    // Each held update is committed even when one fails: one left would be rolled back at the next start.
    const notCommitted: string[] = [];
    for (const h of held) await h.held.commit().catch((err: Error) => notCommitted.push(`${h.s.service}: ${err.message}`));
    if (notCommitted.length) throw new EngineError(500, `stack ${project} updated, but the old containers could not all be removed: ${notCommitted.join('; ')}`);
    const updated = services.filter((s) => s.outcome === 'updated');
    return {
      project,
      outcome: updated.length ? 'updated' : 'up-to-date',
      message: updated.length ? `updated ${updated.map((s) => s.service).join(', ')}; ${services.length - updated.length} up to date` : `every service of ${project} is up to date`,
      services,
    };
  }
}
