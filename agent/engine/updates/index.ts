// Image updates on one host: the registry checks (./checker.ts) and the updates under way or
// lately done (./recreate.ts), kept here, not in the link, so a dashboard that reconnects or a
// page that was left and opened again finds an update where it is.
//
// Exports: HostUpdates, UpdateRequest.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine, RegistryAuth } from '../types';
import { writeFileAtomic } from '../atomic-write';
import { conflict } from '../errors';
import { parseReference } from '../images/reference';
import { UPDATE_PHASES_DONE, type UpdateJob, type UpdateReport } from '../../../protocol/updates';
import { updateStateOf, UpdateChecker, type CheckerOptions } from './checker';
import { recoverUpdate, recreateWithImage, type JournalEntry, type RecreateOptions, type RecreateOutcome, type UpdateJournal } from './recreate';

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
      // What the registry said is still true; whether this container runs it is what changed.
      return out;
    } catch (err) {
      Object.assign(job, { phase: 'failed', message: (err as Error).message, finishedAt: new Date().toISOString() });
      throw err;
    }
  }
}
