// Images on one host and across the fleet. Lists come from the agents' snapshots (what each
// connected host last reported), so they cost the agents nothing; inspect asks the agent.
// Viewers read; pull, push, tag, remove and prune need an operator, and each is an audit row.
// Save and load stream past tRPC (server/hub/image-transfer).
import { z } from 'zod';
import { PULL_TIMEOUT_MS, PUSH_TIMEOUT_MS, type HostSnapshot, type ImageSummary } from '../../../protocol/agent-link';
import { visibleHostsWhere } from '../../auth/access';
import { currentTeam } from '../../auth/current-team';
import { callAgent, host, hostMutation } from '../host-ops';
import { authedProcedure, router, type AuthedContext } from '../init';
import { registryAuthFor } from '../../registries';

const hostId = z.string().min(1).max(100);
const ref = z.string().trim().min(1).max(512);
/** The dashboard's own name for one pull or push, so it can pick its progress out of the host's. */
const progressId = z.string().regex(/^[A-Za-z0-9-]{8,64}$/, 'progressId: 8 to 64 letters, digits or dashes').optional();
const search = z.string().trim().max(200).optional();
const page = z.number().int().min(1).max(100_000).default(1);
const pageSize = z.number().int().min(1).max(200).default(50);

export interface ImageRow extends ImageSummary {
  hostId: string;
  hostName: string;
  online: boolean;
  /** Containers of the host, running or not, made from this image. */
  containers: number;
}

export interface ImagePage {
  rows: ImageRow[];
  total: number;
  page: number;
  pageSize: number;
}

/** The image record as the agent's inspect gives it, with each layer's own bytes. */
export interface ImageDetails {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  created: string;
  architecture: string;
  os: string;
  variant?: string;
  author?: string;
  comment?: string;
  size: number;
  diffIds: string[];
  layerSizes: number[];
  config: Record<string, unknown>;
  history?: Array<{ created: string; createdBy: string; author?: string; comment?: string; emptyLayer?: boolean }>;
  source?: string;
}

/** One host's images with the count of containers using each. */
export function imageRows(h: { id: string; name: string; online: boolean; images: HostSnapshot['images']; containers: HostSnapshot['containers'] }): ImageRow[] {
  const uses = new Map<string, number>();
  for (const c of h.containers) uses.set(c.imageId, (uses.get(c.imageId) ?? 0) + 1);
  return h.images.map((img) => ({ ...img, hostId: h.id, hostName: h.name, online: h.online, containers: uses.get(img.id) ?? 0 }));
}

/** Case-insensitive: any tag, the id (with or without "sha256:") or the host's name contains the text. */
export function matches(row: ImageRow, text: string | undefined): boolean {
  if (!text) return true;
  const t = text.toLowerCase();
  return row.repoTags.some((tag) => tag.toLowerCase().includes(t)) || row.id.toLowerCase().includes(t) || row.hostName.toLowerCase().includes(t);
}

const firstTag = (r: ImageRow) => r.repoTags[0] ?? `\uffff${r.id}`;

export function pageOf(rows: ImageRow[], text: string | undefined, pageNo: number, size: number): ImagePage {
  const hits = rows.filter((r) => matches(r, text)).sort((a, b) => a.hostName.localeCompare(b.hostName) || a.hostId.localeCompare(b.hostId) || firstTag(a).localeCompare(firstTag(b)));
  const last = Math.max(1, Math.ceil(hits.length / size));
  const p = Math.min(pageNo, last);
  return { rows: hits.slice((p - 1) * size, p * size), total: hits.length, page: p, pageSize: size };
}

/** The login of the host's team for the registry `ref` names, if it has one. */
export async function teamLogin(ctx: AuthedContext, hostId: string, ref: string) {
  const h = await ctx.prisma.host.findUniqueOrThrow({ where: { id: hostId }, select: { teamId: true } });
  return registryAuthFor(ctx.prisma, h.teamId, ref);
}

export const imagesRouter = router({
  /** One host's images, searched and paged here. */
  list: authedProcedure.input(z.object({ hostId, search, page, pageSize })).query(async ({ ctx, input }) => {
    const { host: h } = await host(ctx, input.hostId, 'viewer');
    return pageOf(imageRows(ctx.hub.view(h)), input.search, input.page, input.pageSize);
  }),

  /** Every image of every host of the current team the caller sees, with its host; an offline host's are not known (its agent keeps them). */
  fleet: authedProcedure.input(z.object({ search, page, pageSize })).query(async ({ ctx, input }) => {
    const team = await currentTeam(ctx.user.id, ctx.sessionId, ctx.prisma);
    const hosts = await ctx.prisma.host.findMany({ where: await visibleHostsWhere(ctx.user.id, team?.id ?? null, ctx.prisma), orderBy: { createdAt: 'asc' } });
    const views = hosts.map((r) => ctx.hub.view(r));
    const rows = views.flatMap((v) => (v.online ? imageRows(v) : []));
    return { ...pageOf(rows, input.search, input.page, input.pageSize), hosts: views.length, offline: views.filter((v) => !v.online).map((v) => v.name) };
  }),

  inspect: authedProcedure.input(z.object({ hostId, ref })).query(async ({ ctx, input }) => {
    await host(ctx, input.hostId, 'viewer');
    return callAgent<ImageDetails>(ctx, input.hostId, { op: 'inspectImage', ref: input.ref });
  }),

  pull: authedProcedure.input(z.object({ hostId, ref, progressId })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'images.pull', target: input.ref }, async () => {
      const auth = await teamLogin(ctx, input.hostId, input.ref);
      const img = await callAgent<{ id: string; repoTags?: string[] }>(ctx, input.hostId, { op: 'pull', ref: input.ref, ...(input.progressId ? { progressId: input.progressId } : {}), ...(auth ? { auth } : {}) }, PULL_TIMEOUT_MS);
      return { id: img?.id ?? '', repoTags: img?.repoTags ?? [] };
    }),
  ),

  /** Pushes a tag to the registry its name says, with the team's login for it (or else the agent's stored one). */
  push: authedProcedure.input(z.object({ hostId, ref, progressId })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'images.push', target: input.ref }, async () => {
      const auth = await teamLogin(ctx, input.hostId, input.ref);
      const r = await callAgent<{ digest: string }>(ctx, input.hostId, { op: 'push', ref: input.ref, ...(input.progressId ? { progressId: input.progressId } : {}), ...(auth ? { auth } : {}) }, PUSH_TIMEOUT_MS);
      return { digest: r?.digest ?? '' };
    }),
  ),

  tag: authedProcedure.input(z.object({ hostId, source: ref, target: ref })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'images.tag', target: `${input.source} → ${input.target}` }, async () => {
      return callAgent<{ tag: string }>(ctx, input.hostId, { op: 'tag', source: input.source, target: input.target });
    }),
  ),

  /** Docker's rmi: a tag untags (and deletes the image with its last tag), an id deletes every tag; `force` past the engine's refusals. */
  remove: authedProcedure.input(z.object({ hostId, ref, force: z.boolean().optional() })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'images.remove', target: input.force ? `${input.ref} (force)` : input.ref }, async () => {
      const removed = await callAgent<Array<{ Untagged?: string; Deleted?: string }>>(ctx, input.hostId, { op: 'removeImage', ref: input.ref, force: input.force });
      return { ok: true as const, removed: removed ?? [] };
    }),
  ),

  /** `docker image prune`: dangling images, or (`all`) every image no container uses. */
  prune: authedProcedure.input(z.object({ hostId, all: z.boolean().default(false) })).mutation(({ ctx, input }) =>
    hostMutation(ctx, input.hostId, 'operator', { action: 'images.prune', target: input.all ? 'all unused images' : 'dangling images' }, async () => {
      const r = await callAgent<{ deleted: Array<{ Untagged?: string; Deleted?: string }>; spaceReclaimed: number }>(ctx, input.hostId, { op: 'pruneImages', all: input.all });
      return { deleted: r?.deleted ?? [], spaceReclaimed: r?.spaceReclaimed ?? 0 };
    }),
  ),
});
