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
}

export type RecreateOutcome = UpdateOutcome;

/** Resolves "ok" when `id` is up, or with why not: it died, turned unhealthy, or was not healthy in time. */
function waitUp(engine: Engine, id: string, healthTimeoutSec: number, settleMs: number): Promise<string | undefined> {
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
      resolve(why);
    };
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

  // Checked before anything changes: a spec the engine refuses leaves the old container as it was.
  const spec = specForNewImage(old, oldImage.config);
  const wasRunning = old.state.running;
  const keptName = `${name}-berth-old-${old.id.slice(0, 8)}`;
  say('recreating', `stopping ${name} and making it again from ${pulled.id.slice(7, 19)}`, { newImageId: pulled.id });
  if (wasRunning) await engine.stop(old.id);
  await engine.rename(old.id, keptName);

  let newId: string | undefined;
  let why: string | undefined;
  try {
    const made = await engine.createContainer(spec);
    newId = made.id;
    say('waiting', `started ${name} (${newId.slice(0, 12)}); waiting for it to be up`, { newContainerId: newId, newImageId: pulled.id });
    if (wasRunning) {
      await engine.start(newId);
      why = await waitUp(engine, newId, opts.healthTimeoutSec ?? UPDATE_HEALTH_TIMEOUT_S, opts.settleMs ?? 2000);
    }
  } catch (err) {
    why = `the new container could not be made or started: ${(err as Error).message}`;
  }

  if (!why) {
    await engine.remove(old.id, { force: true });
    return { ...base, outcome: 'updated', message: `updated ${name} to ${pulled.id.slice(7, 19)}`, containerId: newId! };
  }

  // Roll back: the new one goes, the old one gets its name, its image its tag, and runs again.
  const problems: string[] = [];
  if (newId) await engine.remove(newId, { force: true }).catch((e: Error) => problems.push(`removing the new container: ${e.message}`));
  await engine.rename(old.id, name).catch((e: Error) => problems.push(`renaming ${keptName} back: ${e.message}`));
  try {
    engine.tagImage(old.imageId, old.image);
  } catch (e) {
    problems.push(`tagging the old image as ${old.image}: ${(e as Error).message}`);
  }
  if (wasRunning) await engine.start(old.id).catch((e: Error) => problems.push(`starting the old container: ${e.message}`));
  if (problems.length) throw new EngineError(500, `update of ${name} failed (${why}) and the rollback did not complete: ${problems.join('; ')}`);
  return { ...base, outcome: 'rolled-back', message: `rolled back: ${why}`, containerId: old.id };
}
