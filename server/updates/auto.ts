// Automatic image updates, off unless a container's label asks (berth.auto-update=true, with
// berth.auto-update.schedule and .window; see ./schedule.ts). Each process runs it for the
// agents connected to it only, so with several processes a container is updated by one. A
// due container is checked with the registry (now, not from the cache), updated when its tag
// names another image, and the audit log gets one record per container updated, rolled back
// or failed, and a summary per host and run.
//
// A stack's services that asked by label and have an update are updated together, as one
// stack update (updates.stack with only those services: rolled back together if one does not
// come up), audited per stack. Each update's end goes to alerting (the update-failed kind).
//
// Exports: startAutoUpdates, runAutoUpdates, AutoUpdateDeps.
import type { PrismaClient } from '../../generated/prisma/client';
import { UPDATE_TIMEOUT_MS, type ContainerSummary, type HostSnapshot } from '../../protocol/agent-link';
import type { StackUpdateOutcome, UpdateOutcome, UpdateReport } from '../../protocol/updates';
import type { UpdateResultEvent } from '../../protocol/alerts';
import type { AgentHub } from '../hub/agents';
import { writeAudit } from '../trpc/host-ops';
import { registryAuthFor } from '../registries';
import { alertService } from '../alerts/service';
import { teamAuths } from './auths';
import { updateBegan } from './began';
import { nextDue, parseSchedule, ScheduleError } from '../../protocol/update-schedule';

const TICK_MS = 60_000;

export interface AutoUpdateDeps {
  hub: Pick<AgentHub, 'localHosts' | 'command'>;
  prisma: PrismaClient;
  now?: () => number;
  /** Where each update's end goes (alerting; startAutoUpdates gives the alert service). */
  alert?: (hostId: string, e: UpdateResultEvent) => Promise<void>;
}

/** Last run per "hostId/container name", and the schedule errors already recorded (once each). */
export interface AutoUpdateMemory {
  lastRun: Map<string, number>;
  refused: Map<string, string>;
}

/** The containers of one host that asked for automatic updates. */
function targetsOf(snapshot: HostSnapshot | undefined): ContainerSummary[] {
  return (snapshot?.containers ?? []).filter((c) => c.autoUpdate && c.state === 'running');
}

/** One pass over this process's hosts. Returns what it did, per host, for tests and the log. */
export async function runAutoUpdates(deps: AutoUpdateDeps, mem: AutoUpdateMemory): Promise<Array<{ hostId: string; results: string[] }>> {
  const now = (deps.now ?? Date.now)();
  const out: Array<{ hostId: string; results: string[] }> = [];
  for (const { hostId, snapshot } of deps.hub.localHosts()) {
    const due: ContainerSummary[] = [];
    const row = await deps.prisma.host.findUnique({ where: { id: hostId }, select: { id: true, teamId: true, revokedAt: true } });
    if (!row || row.revokedAt) continue;
    const audit = (action: string, target: string, result: string) => writeAudit({ prisma: deps.prisma, user: null }, { action, teamId: row.teamId, hostId, target }, result);
    for (const c of targetsOf(snapshot)) {
      const key = `${hostId}/${c.name}`;
      try {
        const s = parseSchedule(c.autoUpdate!.schedule, c.autoUpdate!.window);
        mem.refused.delete(key);
        if (nextDue(s, mem.lastRun.get(key), now) <= now) due.push(c);
      } catch (err) {
        if (!(err instanceof ScheduleError)) throw err;
        // Refused, not ignored: said once in the audit log, until the label changes.
        if (mem.refused.get(key) !== err.message) {
          mem.refused.set(key, err.message);
          await audit('containers.autoUpdate', c.name, `refused: ${err.message}`);
        }
      }
    }
    if (!due.length) continue;
    const results: string[] = [];
    const auths = await teamAuths(deps.prisma, row.teamId, due.map((c) => c.image));
    const checked = await deps.hub.command<UpdateReport>(hostId, { op: 'updates.status', force: true, ids: due.map((c) => c.id), ...(Object.keys(auths).length ? { auths } : {}) }, 60_000);
    const alert = (e: UpdateResultEvent) => (deps.alert ? deps.alert(hostId, e).catch((err: Error) => console.error(`alerts: automatic update of ${e.name} on host ${hostId}: ${err.message}`)) : Promise.resolve());
    /** A stack's services with an update, to be updated together once every due container was checked. */
    const stacks = new Map<string, ContainerSummary[]>();
    for (const c of due) {
      mem.lastRun.set(`${hostId}/${c.name}`, now);
      const info = checked.ok ? checked.result?.containers.find((x) => x.containerId === c.id) : undefined;
      const target = `${c.name} (${c.image})`;
      if (!checked.ok || !info || info.state === 'error') {
        const why = !checked.ok ? checked.error : (info?.detail ?? 'no answer for it');
        results.push(`${c.name}: check failed: ${why}`);
        await audit('containers.autoUpdate', target, `error: check failed: ${why}`);
        continue;
      }
      if (info.state !== 'update-available') continue;
      if (c.project) {
        stacks.set(c.project, [...(stacks.get(c.project) ?? []), c]);
        continue;
      }
      const auth = await registryAuthFor(deps.prisma, row.teamId, c.image);
      const res = await deps.hub.command<UpdateOutcome>(hostId, { op: 'updates.apply', id: c.id, ...(auth ? { auth } : {}) }, UPDATE_TIMEOUT_MS);
      const said = res.ok ? (res.result!.outcome === 'rolled-back' ? res.result!.message : `ok: ${res.result!.message}`) : `error: ${res.error}`;
      results.push(`${c.name}: ${said}`);
      await audit('containers.autoUpdate', target, said);
      if (!res.ok && !updateBegan(res.status)) continue;
      const ended = res.ok ? { outcome: res.result!.outcome, message: res.result!.message, containerId: res.result!.containerId } : { outcome: 'failed' as const, message: said, containerId: c.id };
      await alert({ name: c.name, image: c.image, labels: c.labels, automatic: true, ...ended });
    }
    for (const [project, list] of stacks) {
      const stackAuths = await teamAuths(deps.prisma, row.teamId, list.map((c) => c.image));
      const res = await deps.hub.command<StackUpdateOutcome>(
        hostId,
        { op: 'updates.stack', project, only: list.map((c) => c.id), ...(Object.keys(stackAuths).length ? { auths: stackAuths } : {}) },
        UPDATE_TIMEOUT_MS,
      );
      const target = `${project} (${list.map((c) => c.name).join(', ')})`;
      if (!res.ok) {
        results.push(`stack ${project}: error: ${res.error}`);
        await audit('stacks.autoUpdate', target, `error: ${res.error}`);
        if (updateBegan(res.status)) for (const c of list) await alert({ name: c.name, image: c.image, containerId: c.id, labels: c.labels, automatic: true, outcome: 'failed', message: `error: ${res.error}`, stack: project });
        continue;
      }
      const out = res.result!;
      const said = out.outcome === 'rolled-back' ? out.message : `ok: ${out.message}`;
      results.push(`stack ${project}: ${said}`);
      await audit('stacks.autoUpdate', target, `${said} — ${out.services.map((x) => `${x.service}: ${x.outcome}: ${x.message}`).join('; ')}`);
      for (const x of out.services) {
        if (!x.failed && x.outcome !== 'updated' && x.outcome !== 'up-to-date') continue;
        const c = list.find((y) => y.name === x.name);
        await alert({ name: x.name, image: x.image, containerId: x.containerId, labels: c?.labels, automatic: true, outcome: x.failed ? 'rolled-back' : x.outcome === 'updated' ? 'updated' : 'up-to-date', message: x.message, stack: project });
      }
    }
    if (results.length) await audit('updates.autoSummary', `${results.length} container(s)`, results.join('; '));
    out.push({ hostId, results });
  }
  return out;
}

/** Runs every minute (a pass never overlaps the one before); the returned function stops it. */
export function startAutoUpdates(deps: AutoUpdateDeps, everyMs = TICK_MS): () => void {
  deps = { alert: (hostId, e) => alertService().updateResult(hostId, e), ...deps };
  const mem: AutoUpdateMemory = { lastRun: new Map(), refused: new Map() };
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await runAutoUpdates(deps, mem);
    } catch (err) {
      console.error(`auto-update: ${(err as Error).message}`);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
