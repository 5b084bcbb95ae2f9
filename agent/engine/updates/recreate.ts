// "Recreate with a new image": pull the container's reference, make the container again
// from it with the same settings under the same name, and keep the old one (stopped, under
// another name, with its image) until the new one runs and, with a healthcheck, is healthy.
// If it is not, the new one goes and the old one comes back as it was, its image tagged again.
//
// Exports: recreateWithImage, RecreateOptions, RecreateOutcome.
import type { ContainerEvent, ContainerRecord, Engine, PullOptions } from '../types';
import { conflict, EngineError, notFound } from '../errors';
import { UPDATE_HEALTH_TIMEOUT_S, type UpdateOutcome, type UpdatePhase } from '../../../protocol/updates';
import { specForNewImage } from './recreate-spec';

export interface RecreateOptions {
  pullOptions?: PullOptions;
  /** Seconds a new container with a healthcheck has to become healthy (default UPDATE_HEALTH_TIMEOUT_S). */
  healthTimeoutSec?: number;
  /** How long one without a healthcheck must keep running to count as up (default 2 s). */
  settleMs?: number;
  onPhase?: (phase: UpdatePhase, message: string, extra?: { newContainerId?: string; newImageId?: string }) => void;
  /** Where the update notes what it changed, so an agent that stops midway is rolled back at its next start. */
  journal?: UpdateJournal;
  /** The agent is stopping: the update stops where it is and leaves the journal to the next start. */
  signal?: AbortSignal;
  /** Labels set on the new container over the old one's (a stack service's image label). */
  labels?: (newImageId: string) => Record<string, string>;
  /**
   * Keep the old container (stopped, under its kept name) when the new one is up, for a
   * caller that updates several together (a stack): it calls `held.commit()` once all are up,
   * or `held.rollback()` to put this one back as it was.
   */
  hold?: boolean;
}

/** What an update has changed so far, kept on disk while it runs (see recoverUpdate). */
export interface JournalEntry {
  name: string;
  image: string;
  oldId: string;
  oldImageId: string;
  keptName: string;
  wasRunning: boolean;
  newId?: string;
}

export interface UpdateJournal {
  write(e: JournalEntry): void;
  clear(name: string): void;
}

export type RecreateOutcome = UpdateOutcome & { held?: HeldUpdate };

/** An update whose new container is up and whose old container is still kept (RecreateOptions.hold). */
export interface HeldUpdate {
  commit(): Promise<void>;
  /** Back to the old container and image; says what could not be done, if anything. */
  rollback(): Promise<string[]>;
}

/** Resolves "ok" when `id` is up, or with why not: it died, turned unhealthy, or was not healthy in time. */
function waitUp(engine: Engine, id: string, healthTimeoutSec: number, settleMs: number, signal?: AbortSignal): Promise<string | undefined> {
  if (signal?.aborted) return Promise.resolve('the agent is stopping');
  const rec = engine.inspect(id);
  if (!rec.state.running) return Promise.resolve(`new container exited (code ${rec.state.exitCode})`);
  const withHealth = !!rec.spec.health;
  const started = Date.now();
  /** What the failing probes said, for the words of the rollback. */
  const probes = () => {
    const h = engine.inspect(id).state.health;
    const last = h?.log.at(-1);
    if (!h || !last) return '';
    const said = last.output.trim().replace(/\s+/g, ' ').slice(0, 200);
    return ` (${h.failingStreak} failed probe${h.failingStreak === 1 ? '' : 's'}, the last ${said ? `said "${said}"` : `exited ${last.exitCode}`})`;
  };
  return new Promise((resolve) => {
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      engine.off('container', onEvent);
      signal?.removeEventListener('abort', onAbort);
      resolve(why);
    };
    const onAbort = () => done('the agent is stopping');
    signal?.addEventListener('abort', onAbort);
    const onEvent = (e: ContainerEvent) => {
      if (e.id !== id) return;
      if (e.action === 'die') done(`new container exited (code ${e.exitCode ?? '?'})${withHealth ? ' before it was healthy' : ''}`);
      else if (e.action === 'destroy') done('new container was removed');
      else if (withHealth && e.action === 'health_status') {
        if (e.health === 'healthy') done(undefined);
        else if (e.health === 'unhealthy') done(`new container unhealthy after ${Math.max(1, Math.round((Date.now() - started) / 1000))} s${probes()}`);
      }
    };
    engine.on('container', onEvent);
    const timer = setTimeout(
      () => done(withHealth ? `new container not healthy after ${healthTimeoutSec} s (still ${engine.inspect(id).state.health?.status ?? 'without a status'})${probes()}` : undefined),
      withHealth ? healthTimeoutSec * 1000 : settleMs,
    );
    // A probe that passed between the start and the listener.
    if (withHealth && rec.state.health?.status === 'healthy') done(undefined);
  });
}

export async function recreateWithImage(engine: Engine, idOrName: string, opts: RecreateOptions = {}): Promise<RecreateOutcome> {
  const say = (phase: UpdatePhase, message: string, extra?: { newContainerId?: string; newImageId?: string }) => {
    try {
      opts.onPhase?.(phase, message, extra);
    } catch {
      /* a listener's failure is not the update's */
    }
  };
  const old: ContainerRecord = engine.inspect(idOrName);
  const name = old.name;
  if (old.spec.restart.autoRemove) throw conflict(`cannot update ${name}: it was started with --rm, so stopping it would remove it and leave nothing to roll back to`);
  if (old.state.status === 'removing') throw conflict(`cannot update ${name}: it is being removed`);
  const sharers = engine.list({ all: true }).filter((c) => c.spec.network.mode === 'container' && c.spec.network.container === old.id);
  if (sharers.length) throw conflict(`cannot update ${name}: ${sharers.map((c) => c.name).join(', ')} share${sharers.length === 1 ? 's' : ''} its network namespace and would lose it`);
  const oldImage = engine.findImage(old.imageId);
  if (!oldImage) throw notFound(`cannot update ${name}: its image ${old.imageId} is no longer on the host`);

  say('pulling', `pulling ${old.image}`);
  const pulled = await engine.pullImage(old.image, {
    ...opts.pullOptions,
    onProgress: (p) => {
      opts.pullOptions?.onProgress?.(p);
      say('pulling', `pulling ${old.image}: ${p.status}${p.id ? ` ${p.id}` : ''}`);
    },
  });
  const base = { name, oldContainerId: old.id, oldImageId: old.imageId, newImageId: pulled.id };
  if (pulled.id === old.imageId) return { ...base, outcome: 'up-to-date', message: `${old.image} is up to date`, containerId: old.id };

  // What the engine refuses of it (a bind source gone since) is refused at create, and rolled back like a failed start.
  const spec = specForNewImage(old, oldImage.config);
  if (opts.labels) spec.labels = { ...spec.labels, ...opts.labels(pulled.id) };
  const wasRunning = old.state.running;
  const keptName = `${name}-berth-old-${old.id.slice(0, 8)}`;
  const entry: JournalEntry = { name, image: old.image, oldId: old.id, oldImageId: old.imageId, keptName, wasRunning };
  opts.journal?.write(entry);
  say('recreating', `stopping ${name} and making it again from ${pulled.id.slice(7, 19)}`, { newImageId: pulled.id });
  try {
    if (wasRunning) await engine.stop(old.id);
    await engine.rename(old.id, keptName);
  } catch (err) {
    // Nothing new was made: the old container as it was, and no journal to act on later.
    if (wasRunning) await engine.start(old.id).catch(() => {});
    opts.journal?.clear(name);
    throw err;
  }

  let newId: string | undefined;
  let why: string | undefined;
  try {
    const made = await engine.createContainer(spec);
    newId = made.id;
    opts.journal?.write({ ...entry, newId });
    say('waiting', wasRunning ? `made ${name} again (${newId.slice(0, 12)}); starting it and waiting for it to be up` : `made ${name} again (${newId.slice(0, 12)}); it was not running, so it is not started`, { newContainerId: newId, newImageId: pulled.id });
    if (wasRunning) {
      await engine.start(newId);
      why = await waitUp(engine, newId, opts.healthTimeoutSec ?? UPDATE_HEALTH_TIMEOUT_S, opts.settleMs ?? 2000, opts.signal);
    }
  } catch (err) {
    why = `the new container could not be made or started: ${(err as Error).message}`;
  }
  // Whatever the answer, a stopping agent changes nothing more: the next start rolls back from the journal.
  if (opts.signal?.aborted) throw new EngineError(500, `the agent stopped during the update of ${name}; it rolls back to ${old.id.slice(0, 12)} when it starts again`);

  if (!why) {
    const commit = async () => {
      await engine.remove(old.id, { force: true });
      opts.journal?.clear(name);
    };
    const updated = { ...base, outcome: 'updated' as const, message: `updated ${name} to ${pulled.id.slice(7, 19)}`, containerId: newId! };
    if (!opts.hold) {
      await commit();
      return updated;
    }
    const made = newId!;
    const rollback = async () => {
      const problems = await putBack(engine, { old, name, keptName, wasRunning, newId: made });
      if (!problems.length) opts.journal?.clear(name);
      return problems;
    };
    return { ...updated, held: { commit, rollback } };
  }

  const problems = await putBack(engine, { old, name, keptName, wasRunning, newId });
  if (problems.length) throw new EngineError(500, `update of ${name} failed (${why}) and the rollback did not complete: ${problems.join('; ')}`);
  opts.journal?.clear(name);
  return { ...base, outcome: 'rolled-back', message: `rolled back: ${why}`, containerId: old.id };
}

/** Roll back: the new one goes, the old one gets its name, its image its tag, and runs again if it ran. */
async function putBack(engine: Engine, u: { old: ContainerRecord; name: string; keptName: string; wasRunning: boolean; newId?: string }): Promise<string[]> {
  const { old, name, keptName, wasRunning, newId } = u;
  const problems: string[] = [];
  if (newId) await engine.remove(newId, { force: true }).catch((e: Error) => problems.push(`removing the new container: ${e.message}`));
  await engine.rename(old.id, name).catch((e: Error) => problems.push(`renaming ${keptName} back: ${e.message}`));
  try {
    engine.tagImage(old.imageId, old.image);
  } catch (e) {
    problems.push(`tagging the old image as ${old.image}: ${(e as Error).message}`);
  }
  if (wasRunning) await engine.start(old.id).catch((e: Error) => problems.push(`starting the old container: ${e.message}`));
  return problems;
}

/**
 * An update the agent did not see to its end (it stopped or died): back to the old container,
 * which was known to work. The new one (if made) goes, the old one gets its name and its image
 * the tag, and runs again when it ran before. Returns what it did, for the agent's log.
 */
export async function recoverUpdate(engine: Engine, e: JournalEntry): Promise<string> {
  const all = engine.list({ all: true });
  const old = all.find((c) => c.id === e.oldId);
  if (!old) return `update of ${e.name}: the old container is gone, so it had finished; nothing to do`;
  if (e.newId && all.some((c) => c.id === e.newId)) await engine.remove(e.newId, { force: true });
  const holder = engine.list({ all: true }).find((c) => c.name === e.name && c.id !== old.id);
  if (holder) return `update of ${e.name} was cut short: ${holder.id.slice(0, 12)} has the name now, so the old container stays as ${old.name}`;
  if (old.name !== e.name) await engine.rename(old.id, e.name);
  try {
    engine.tagImage(e.oldImageId, e.image);
  } catch {
    /* the reference was an id or a digest: nothing to tag */
  }
  if (e.wasRunning) await engine.start(old.id);
  return `update of ${e.name} was cut short (the agent stopped): rolled back to ${old.id.slice(0, 12)}${e.wasRunning ? ', running again' : ''}`;
}
