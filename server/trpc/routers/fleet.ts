// The fleet pages: the overview of every host, every container across the hosts, and
// images, volumes and networks across the fleet. Hosts and containers are answered from
// the in-memory index (server/hub/fleet.ts), a page at a time, so no answer grows with
// the fleet; volumes and networks are asked of the agents, for one page of hosts at a time.
// Viewers read; the bulk actions need an operator on every host they name, and each
// container acted on is an audit row of its own.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { UPDATE_TIMEOUT_MS, type CommandResult, type VolumeInfo } from '../../../protocol/agent-link';
import type { UpdateOutcome } from '../../../protocol/updates';
import type { NetworkInfo } from '../../../protocol/network';
import { hasRole } from '../../../protocol/roles';
import { hostRole, member } from '../../auth/access';
import { CONTAINER_SORTS, CONTAINER_STATES, HOST_SORTS, HOST_STATES, fleetIndex, type Scope } from '../../hub/fleet';
import { registryAuthFor } from '../../registries';
import { writeAudit } from '../host-ops';
import { authedProcedure, router, type AuthedContext } from '../init';
import { teamOf } from '../team-scope';
import { imageRows } from './images';
import { alertUpdate } from './updates';
import { updateBegan } from '../../updates/began';

const page = z.number().int().min(1).max(100_000).default(1);
const pageSize = z.number().int().min(1).max(200).default(50);
const text = z.string().trim().max(200).optional();

/** The most containers one bulk action names. */
export const BULK_MAX = 500;
/** Containers one lookup names: a merged log view's worth. */
const LOOKUP_MAX = 100;
/** Agent calls a bulk action has under way at once. */
const BULK_PARALLEL = 8;
/** Hosts per page of the volumes and networks lists: each is a question to its agent. */
const RESOURCE_HOSTS_MAX = 25;

export const BULK_ACTIONS = ['stop', 'start', 'restart', 'remove', 'update'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

export interface BulkResult {
  hostId: string;
  id: string;
  name: string;
  hostName: string;
  ok: boolean;
  error?: string;
  /** update: how it ended, in words ("updated to …", "already up to date"). */
  detail?: string;
}

/** The current team and what of it the caller sees. */
export async function fleetScope(ctx: AuthedContext): Promise<Scope & { role: string }> {
  const team = await teamOf(ctx, undefined, 'viewer');
  const m = await member(ctx.user.id, team.id, ctx.prisma);
  if (!m) throw new TRPCError({ code: 'FORBIDDEN', message: 'you are in no team: ask for an invitation, or create a team' });
  await ctx.hub.loadFleet();
  return { teamId: team.id, hostIds: m.hostIds, role: m.role };
}

async function pool<T>(items: T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

export const fleetRouter = router({
  /** A page of the overview, and the counts of every host the caller sees. */
  hosts: authedProcedure
    .input(z.object({ text, label: text, state: z.enum(HOST_STATES).optional(), sort: z.enum(HOST_SORTS).optional(), desc: z.boolean().optional(), page, pageSize }))
    .query(async ({ ctx, input }) => {
      const scope = await fleetScope(ctx);
      const index = fleetIndex();
      return { ...index.hostsPage(scope, input), summary: index.summary(scope) };
    }),

  /** A page of every container of every host the caller sees (an offline host's as it last reported them). */
  containers: authedProcedure
    .input(
      z.object({
        text,
        name: text,
        image: text,
        host: text,
        label: text,
        state: z.enum(CONTAINER_STATES).optional(),
        sort: z.enum(CONTAINER_SORTS).optional(),
        desc: z.boolean().optional(),
        page,
        pageSize,
      }),
    )
    .query(async ({ ctx, input }) => {
      const scope = await fleetScope(ctx);
      return fleetIndex().containersPage(scope, input);
    }),

  /** The named containers of hosts the caller sees, as the table has them (a page's chosen logs, say); the rest are left out. */
  lookup: authedProcedure
    .input(z.object({ targets: z.array(z.object({ hostId: z.string().min(1).max(100), id: z.string().trim().min(1).max(200) })).max(LOOKUP_MAX) }))
    .query(async ({ ctx, input }) => {
      const scope = await fleetScope(ctx);
      return fleetIndex()
        .lookup(scope, input.targets)
        .filter((r) => r !== undefined);
    }),

  /**
   * Stop, start, restart or remove containers on several hosts. Refused as a whole, before
   * anything is done, when the caller is not an operator on every host named; then each
   * container is one agent call and one audit row, and its result comes back on its own.
   */
  bulk: authedProcedure
    .input(
      z.object({
        action: z.enum(BULK_ACTIONS),
        targets: z
          .array(z.object({ hostId: z.string().min(1).max(100), id: z.string().trim().min(1).max(200) }))
          .min(1)
          .max(BULK_MAX),
        /** remove: a running container too (it is killed first), as `docker rm -f`. */
        force: z.boolean().optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      if (input.force && input.action !== 'remove') throw new TRPCError({ code: 'BAD_REQUEST', message: `force: only for remove, not ${input.action}` });
      const hostIds = [...new Set(input.targets.map((t) => t.hostId))];
      const rows = await ctx.prisma.host.findMany({ where: { id: { in: hostIds }, revokedAt: null } });
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const id of hostIds) {
        const h = byId.get(id);
        const role = h ? await hostRole(ctx.user.id, h, ctx.prisma) : null;
        if (!h || !role) throw new TRPCError({ code: 'NOT_FOUND', message: `No such host: ${id}` });
        if (!hasRole(role, 'operator')) {
          await writeAudit(ctx, { action: `containers.${input.action}`, hostId: h.id, teamId: h.teamId, target: `${input.targets.filter((t) => t.hostId === id).length} containers (bulk)` }, 'error: FORBIDDEN: role');
          throw new TRPCError({ code: 'FORBIDDEN', message: `The ${role} role cannot do this on ${h.name}; operator or above is needed` });
        }
      }
      await ctx.hub.loadFleet();
      const index = fleetIndex();
      const results: BulkResult[] = [];
      if (input.action === 'update') {
        // One host's updates one after another (they may pull the same image); hosts side by side.
        const byHost = new Map<string, typeof input.targets>();
        for (const t of input.targets) byHost.set(t.hostId, [...(byHost.get(t.hostId) ?? []), t]);
        await pool([...byHost.values()], BULK_PARALLEL, async (list) => {
          for (const t of list) results.push(await bulkUpdate(ctx, byId.get(t.hostId)!, t));
        });
      } else await pool(input.targets, BULK_PARALLEL, async (t) => {
        const action = input.action as Exclude<BulkAction, 'update'>;
        const h = byId.get(t.hostId)!;
        const known = index.lookup({ teamId: h.teamId, hostIds: null }, [t])[0];
        const name = known?.name ?? t.id;
        const cmd =
          action === 'remove'
            ? ({ op: 'remove', id: t.id, ...(input.force ? { force: true } : {}) } as const)
            : action === 'start'
              ? ({ op: 'start', id: t.id } as const)
              : ({ op: action, id: t.id } as const);
        const timeout = input.action === 'stop' || input.action === 'restart' ? 40_000 : undefined;
        const res: CommandResult = await ctx.hub.command(t.hostId, cmd, timeout);
        const error = res.ok ? undefined : res.status === 503 ? 'host is offline' : res.error;
        await writeAudit(ctx, { action: `containers.${input.action}`, hostId: h.id, teamId: h.teamId, target: `${name} (bulk)` }, error ? `error: ${error}` : 'ok');
        results.push({ hostId: t.hostId, id: t.id, name, hostName: h.name, ok: res.ok, ...(error ? { error } : {}) });
      });
      // In the order they were named.
      const order = new Map(input.targets.map((t, i) => [`${t.hostId}/${t.id}`, i]));
      results.sort((a, b) => order.get(`${a.hostId}/${a.id}`)! - order.get(`${b.hostId}/${b.id}`)!);
      return { results, ok: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length };
    }),

  /**
   * Images, volumes or networks of one page of the caller's hosts: each with what uses it,
   * so what is unused shows. Images come from the snapshots; volumes and networks are asked
   * of each host's agent (an offline host's are not known, and say so).
   */
  resources: authedProcedure
    .input(z.object({ kind: z.enum(['images', 'volumes', 'networks']), text, unused: z.boolean().optional(), page, pageSize: z.number().int().min(1).max(RESOURCE_HOSTS_MAX).default(10) }))
    .query(async ({ ctx, input }) => {
      const scope = await fleetScope(ctx);
      const index = fleetIndex();
      const hosts = index.hostsPage(scope, { text: input.text, page: input.page, pageSize: input.pageSize });
      const out = await Promise.all(
        hosts.rows.map(async (h) => {
          const base: { hostId: string; hostName: string; online: boolean; error?: string } = { hostId: h.id, hostName: h.name, online: h.online };
          if (!h.online) return { ...base, error: 'host is offline', items: [] as ResourceItem[] };
          try {
            const items = await resourcesOf(ctx, h.id, input.kind);
            return { ...base, items: input.unused ? items.filter((i) => i.usedBy.length === 0) : items };
          } catch (err) {
            return { ...base, error: (err as Error).message, items: [] as ResourceItem[] };
          }
        }),
      );
      return { hosts: out, total: hosts.total, page: hosts.page, pageSize: hosts.pageSize };
    }),
});

/** One container's image update in a bulk action: as the container page's update, audited and alerted the same way. */
async function bulkUpdate(ctx: AuthedContext, h: { id: string; teamId: string; name: string }, t: { hostId: string; id: string }): Promise<BulkResult> {
  const c = ctx.hub.stateOf(h.id).snapshot?.containers.find((x) => x.id === t.id || x.name === t.id);
  const name = c?.name ?? t.id;
  const base = { hostId: t.hostId, id: t.id, name, hostName: h.name };
  const entry = { action: 'containers.updateImage', hostId: h.id, teamId: h.teamId, target: c ? `${c.name} (${c.image}) (bulk)` : `${t.id} (bulk)` };
  const auth = c ? await registryAuthFor(ctx.prisma, h.teamId, c.image) : undefined;
  const res = await ctx.hub.command<UpdateOutcome>(h.id, { op: 'updates.apply', id: t.id, ...(auth ? { auth } : {}) }, UPDATE_TIMEOUT_MS);
  if (!res.ok) {
    const error = res.status === 503 ? 'host is offline' : res.error;
    await writeAudit(ctx, entry, `error: ${error}`);
    // Refused, already under way, or the host offline: it never began, so nothing failed on the container.
    if (updateBegan(res.status)) await alertUpdate(h.id, { name, image: c?.image ?? '', containerId: c?.id, labels: c?.labels, automatic: false, outcome: 'failed', message: `error: ${error}` });
    return { ...base, ok: false, error };
  }
  const out = res.result!;
  await writeAudit(ctx, entry, out.outcome === 'rolled-back' ? out.message : `ok: ${out.message}`);
  await alertUpdate(h.id, { name: out.name, image: c?.image ?? '', containerId: out.containerId, labels: c?.labels, automatic: false, outcome: out.outcome, message: out.message });
  return out.outcome === 'rolled-back' ? { ...base, ok: false, error: out.message } : { ...base, ok: true, detail: out.message };
}

export interface ResourceItem {
  /** Image id, volume name, network id. */
  key: string;
  name: string;
  detail: string;
  size?: number;
  /** Names of the containers using it (for a network: attached and running). */
  usedBy: string[];
  /** bridge/host/none: made by the engine, never pruned. */
  builtin?: boolean;
}

async function resourcesOf(ctx: AuthedContext, hostId: string, kind: 'images' | 'volumes' | 'networks'): Promise<ResourceItem[]> {
  if (kind === 'images') {
    const v = ctx.hub.stateOf(hostId).snapshot;
    if (!v) return [];
    const names = new Map<string, string[]>();
    for (const c of v.containers) names.set(c.imageId, [...(names.get(c.imageId) ?? []), c.name]);
    return imageRows({ id: hostId, name: '', online: true, images: v.images, containers: v.containers }).map((i) => ({
      key: i.id,
      name: i.repoTags[0] ?? i.id.replace(/^sha256:/, '').slice(0, 12),
      detail: i.repoTags.slice(1).join(', '),
      size: i.size,
      usedBy: names.get(i.id) ?? [],
    }));
  }
  const res = await ctx.hub.command<VolumeInfo[] | NetworkInfo[]>(hostId, { op: kind === 'volumes' ? 'volumes.list' : 'networks.list' }, 10_000);
  if (!res.ok) throw new Error(res.status === 503 ? 'host is offline' : res.error);
  if (kind === 'volumes') {
    // The engine names users by container id; people know them by name.
    const names = new Map((ctx.hub.stateOf(hostId).snapshot?.containers ?? []).map((c) => [c.id, c.name]));
    return ((res.result as VolumeInfo[]) ?? []).map((v) => ({ key: v.name, name: v.name, detail: v.driver, usedBy: v.usedBy.map((id) => names.get(id) ?? id.slice(0, 12)) }));
  }
  return ((res.result as NetworkInfo[]) ?? []).map((n) => ({
    key: n.id,
    name: n.name,
    detail: [n.driver, n.subnet].filter(Boolean).join(' '),
    usedBy: n.containers.map((c) => c.name || c.id),
    ...(n.builtin ? { builtin: true } : {}),
  }));
}
