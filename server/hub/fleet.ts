// The fleet at a glance: every host's counts and every container of every host, kept in
// memory as the agents' snapshots arrive (on this process and, with REDIS_URL, relayed from
// the others: every process hears every snapshot, server/hub/cluster.ts), so the fleet
// pages page, filter and sort here without reading all snapshots again for each request.
// Which hosts a caller sees (their team, their narrowing) is the caller's business: each
// query takes the team and the visible set.
import type { ContainerSummary, HostInfo, HostSnapshot } from '../../protocol/agent-link';
import type { ContainerStatus, HealthStatus } from '../../protocol/container';
import type { FleetCountsView, FleetHostView, FleetSummaryView } from '../../protocol/ui-socket';
import { berthGlobal } from '../global';

/** A host as the fleet overview shows it: facts and counts, never its container list. */
export type FleetHostRow = FleetHostView;
export type FleetCounts = FleetCountsView;
export type FleetSummary = FleetSummaryView;

export interface FleetContainerRow {
  hostId: string;
  hostName: string;
  hostOnline: boolean;
  id: string;
  name: string;
  image: string;
  state: ContainerStatus;
  status: string;
  health?: HealthStatus;
  created: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  labels: Record<string, string>;
  project?: string;
}

export const HOST_STATES = ['online', 'offline', 'unhealthy'] as const;
export type HostStateFilter = (typeof HOST_STATES)[number];
export const CONTAINER_STATES = ['running', 'stopped', 'paused', 'restarting', 'unhealthy', 'created', 'exited', 'dead'] as const;
export type ContainerStateFilter = (typeof CONTAINER_STATES)[number];
export const CONTAINER_SORTS = ['name', 'host', 'image', 'state', 'created'] as const;
export type ContainerSort = (typeof CONTAINER_SORTS)[number];
export const HOST_SORTS = ['name', 'state', 'running', 'unhealthy', 'lastSeen'] as const;
export type HostSort = (typeof HOST_SORTS)[number];

export interface HostQuery {
  text?: string;
  state?: HostStateFilter;
  /** "key" (present) or "key=value", of the host's own labels. */
  label?: string;
  sort?: HostSort;
  desc?: boolean;
  page: number;
  pageSize: number;
}

export interface ContainerQuery {
  /** Any of name, image, host name or id contains it. */
  text?: string;
  name?: string;
  image?: string;
  /** A host's id, or text its name contains. */
  host?: string;
  state?: ContainerStateFilter;
  /** "key" (present) or "key=value". */
  label?: string;
  sort?: ContainerSort;
  desc?: boolean;
  page: number;
  pageSize: number;
}

export interface Page<T> {
  rows: T[];
  total: number;
  page: number;
  pageSize: number;
}

/** Who may see what: the team, and a narrowed member's hosts (null: all of the team's). */
export interface Scope {
  teamId: string;
  hostIds: ReadonlySet<string> | null;
}

export interface HostMeta {
  id: string;
  teamId: string;
  name: string;
  lastSeen: Date | null;
  info: string | null;
  /** JSON text of the host's labels (an admin's, hosts.setLabels). */
  labels?: string | null;
}

/** A host's labels from their stored JSON text; anything but a string map is none. */
export function parseLabels(text: string | null | undefined): Record<string, string> {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return {};
  }
}

/** How many usage readings a host keeps: with a reading every 10 s, 5 minutes. */
export const USAGE_POINTS = 30;

interface IndexedContainer extends FleetContainerRow {
  /** Lower-cased name, image and id, for the text filters. */
  readonly nameLc: string;
  readonly imageLc: string;
}

interface Entry {
  id: string;
  teamId: string;
  name: string;
  nameLc: string;
  labels: Record<string, string>;
  online: boolean;
  lastSeen: Date | null;
  info: HostInfo | null;
  counts: FleetCounts;
  /** Sorted by name, then id: the table's default order needs no sort. */
  containers: IndexedContainer[];
  cpu: number[];
  mem: number[];
}

const STOPPED: ReadonlySet<ContainerStatus> = new Set(['created', 'exited', 'dead']);

export function countsOf(containers: readonly Pick<ContainerSummary, 'state' | 'health'>[]): FleetCounts {
  const c: FleetCounts = { total: containers.length, running: 0, stopped: 0, paused: 0, unhealthy: 0 };
  for (const x of containers) {
    if (x.state === 'running' || x.state === 'restarting') c.running++;
    else if (x.state === 'paused') c.paused++;
    else if (STOPPED.has(x.state)) c.stopped++;
    if (x.health === 'unhealthy') c.unhealthy++;
  }
  return c;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function parseInfo(text: string | null): HostInfo | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as HostInfo;
  } catch {
    return null;
  }
}

function labelTest(label: string | undefined): ((labels: Record<string, string>) => boolean) | null {
  if (!label) return null;
  const eq = label.indexOf('=');
  if (eq < 0) return (l) => Object.hasOwn(l, label);
  const key = label.slice(0, eq);
  const value = label.slice(eq + 1);
  return (l) => Object.hasOwn(l, key) && l[key] === value;
}

function stateTest(state: ContainerStateFilter | undefined): ((c: IndexedContainer) => boolean) | null {
  if (!state) return null;
  if (state === 'running') return (c) => c.state === 'running';
  if (state === 'stopped') return (c) => STOPPED.has(c.state);
  if (state === 'unhealthy') return (c) => c.health === 'unhealthy';
  return (c) => c.state === state;
}

function pageOf<T>(rows: T[], page: number, pageSize: number, total = rows.length): Page<T> {
  const last = Math.max(1, Math.ceil(total / pageSize));
  const p = Math.min(Math.max(1, page), last);
  return { rows: rows.slice((p - 1) * pageSize, p * pageSize), total, page: p, pageSize };
}

export class FleetIndex {
  private readonly hosts = new Map<string, Entry>();
  private readonly teams = new Map<string, Set<string>>();
  /** Hosts changed since the watchers last drained them. */
  private dirty = new Set<string>();
  /** Told (at most once per host until drained) that something changed. */
  onDirty: (() => void) | undefined;

  /** Puts a host in (or updates its name, team and stored facts); `state` is what its agent says now. */
  upsert(meta: HostMeta, state?: { online: boolean; lastSeen: Date | null; snapshot?: HostSnapshot }): void {
    let e = this.hosts.get(meta.id);
    if (e && e.teamId !== meta.teamId) {
      this.teams.get(e.teamId)?.delete(meta.id);
      e.teamId = meta.teamId;
    }
    if (!e) {
      e = { id: meta.id, teamId: meta.teamId, name: meta.name, nameLc: meta.name.toLowerCase(), labels: parseLabels(meta.labels), online: false, lastSeen: meta.lastSeen, info: parseInfo(meta.info), counts: countsOf([]), containers: [], cpu: [], mem: [] };
      this.hosts.set(meta.id, e);
    }
    let team = this.teams.get(meta.teamId);
    if (!team) this.teams.set(meta.teamId, (team = new Set()));
    team.add(meta.id);
    if (e.name !== meta.name) {
      e.name = meta.name;
      e.nameLc = meta.name.toLowerCase();
      for (const c of e.containers) c.hostName = meta.name;
    }
    if (meta.labels !== undefined) e.labels = parseLabels(meta.labels);
    if (!e.lastSeen || (meta.lastSeen && meta.lastSeen > e.lastSeen)) e.lastSeen = meta.lastSeen;
    if (!e.info && meta.info) e.info = parseInfo(meta.info);
    if (state) this.setState(meta.id, state);
    else this.mark(meta.id);
  }

  /** The agent's word on a host already known: online or not, when last heard, and its latest snapshot if there is a new one. */
  setState(hostId: string, state: { online: boolean; lastSeen: Date | null; snapshot?: HostSnapshot }): void {
    const e = this.hosts.get(hostId);
    if (!e) return;
    e.online = state.online;
    if (state.lastSeen && (!e.lastSeen || state.lastSeen > e.lastSeen)) e.lastSeen = state.lastSeen;
    if (state.snapshot) {
      const s = state.snapshot;
      if (s.info) e.info = s.info;
      const list = Array.isArray(s.containers) ? s.containers : [];
      e.containers = list
        .map((c): IndexedContainer => ({
          hostId,
          hostName: e.name,
          hostOnline: e.online,
          id: String(c.id),
          name: String(c.name ?? ''),
          image: String(c.image ?? ''),
          state: c.state,
          status: String(c.status ?? ''),
          ...(c.health ? { health: c.health } : {}),
          created: String(c.created ?? ''),
          startedAt: String(c.startedAt ?? ''),
          finishedAt: String(c.finishedAt ?? ''),
          exitCode: typeof c.exitCode === 'number' ? c.exitCode : 0,
          labels: c.labels && typeof c.labels === 'object' ? c.labels : {},
          ...(c.project ? { project: c.project } : {}),
          nameLc: String(c.name ?? '').toLowerCase(),
          imageLc: String(c.image ?? '').toLowerCase(),
        }))
        .sort((a, b) => cmp(a.nameLc, b.nameLc) || cmp(a.id, b.id));
      e.counts = countsOf(list);
    }
    for (const c of e.containers) c.hostOnline = e.online;
    this.mark(hostId);
  }

  /** A reading of the host's CPU share (0–1) and memory in use (bytes). */
  addUsage(hostId: string, cpu: number, mem: number): void {
    const e = this.hosts.get(hostId);
    if (!e) return;
    // A chart 18 pixels high needs no more digits than these (they go to every watching browser).
    e.cpu.push(Math.round(cpu * 1000) / 1000);
    e.mem.push(Math.round(mem));
    if (e.cpu.length > USAGE_POINTS) e.cpu.splice(0, e.cpu.length - USAGE_POINTS);
    if (e.mem.length > USAGE_POINTS) e.mem.splice(0, e.mem.length - USAGE_POINTS);
    this.mark(hostId);
  }

  remove(hostId: string): void {
    const e = this.hosts.get(hostId);
    if (!e) return;
    this.hosts.delete(hostId);
    this.teams.get(e.teamId)?.delete(hostId);
    this.mark(hostId);
  }

  /** Makes the team's hosts exactly `metas` (a revoked or moved host leaves it). */
  setTeam(teamId: string, metas: HostMeta[], stateOf: (hostId: string) => { online: boolean; lastSeen: Date | null; snapshot?: HostSnapshot }): void {
    const keep = new Set(metas.map((m) => m.id));
    for (const id of [...(this.teams.get(teamId) ?? [])]) if (!keep.has(id)) this.remove(id);
    for (const m of metas) {
      const known = this.hosts.has(m.id);
      this.upsert(m, known ? undefined : stateOf(m.id));
    }
  }

  has(hostId: string): boolean {
    return this.hosts.has(hostId);
  }

  teamOf(hostId: string): string | undefined {
    return this.hosts.get(hostId)?.teamId;
  }

  private mark(hostId: string): void {
    const first = this.dirty.size === 0;
    this.dirty.add(hostId);
    if (first) this.onDirty?.();
  }

  /** The hosts changed since the last call. */
  drain(): Set<string> {
    const d = this.dirty;
    this.dirty = new Set();
    return d;
  }

  private *visible(scope: Scope): Iterable<Entry> {
    const ids = this.teams.get(scope.teamId);
    if (!ids) return;
    for (const id of ids) {
      if (scope.hostIds && !scope.hostIds.has(id)) continue;
      const e = this.hosts.get(id);
      if (e) yield e;
    }
  }

  /** Whether the host is one `scope` sees. */
  sees(scope: Scope, hostId: string): boolean {
    const e = this.hosts.get(hostId);
    return !!e && e.teamId === scope.teamId && (!scope.hostIds || scope.hostIds.has(hostId));
  }

  hostRow(hostId: string): FleetHostRow | undefined {
    const e = this.hosts.get(hostId);
    return e ? rowOf(e) : undefined;
  }

  summary(scope: Scope): FleetSummary {
    const s: FleetSummary = { hosts: 0, online: 0, offline: 0, containers: { total: 0, running: 0, stopped: 0, paused: 0, unhealthy: 0 } };
    for (const e of this.visible(scope)) {
      s.hosts++;
      if (e.online) s.online++;
      else s.offline++;
      for (const k of ['total', 'running', 'stopped', 'paused', 'unhealthy'] as const) s.containers[k] += e.counts[k];
    }
    return s;
  }

  hostsPage(scope: Scope, q: HostQuery): Page<FleetHostRow> {
    const text = q.text?.trim().toLowerCase();
    const label = labelTest(q.label?.trim());
    const hits: Entry[] = [];
    for (const e of this.visible(scope)) {
      if (text && !e.nameLc.includes(text) && !(e.info?.hostname ?? '').toLowerCase().includes(text)) continue;
      if (label && !label(e.labels)) continue;
      if (q.state === 'online' && !e.online) continue;
      if (q.state === 'offline' && e.online) continue;
      if (q.state === 'unhealthy' && e.counts.unhealthy === 0) continue;
      hits.push(e);
    }
    const by: Record<HostSort, (a: Entry, b: Entry) => number> = {
      name: () => 0,
      state: (a, b) => Number(b.online) - Number(a.online),
      running: (a, b) => a.counts.running - b.counts.running,
      unhealthy: (a, b) => a.counts.unhealthy - b.counts.unhealthy,
      lastSeen: (a, b) => (a.lastSeen?.getTime() ?? 0) - (b.lastSeen?.getTime() ?? 0),
    };
    const key = by[q.sort ?? 'name'];
    const dir = q.desc ? -1 : 1;
    hits.sort((a, b) => dir * (key(a, b) || cmp(a.nameLc, b.nameLc) || cmp(a.id, b.id)));
    const p = pageOf(hits, q.page, q.pageSize);
    return { ...p, rows: p.rows.map(rowOf) };
  }

  containersPage(scope: Scope, q: ContainerQuery): Page<FleetContainerRow> {
    const text = q.text?.trim().toLowerCase();
    const name = q.name?.trim().toLowerCase();
    const image = q.image?.trim().toLowerCase();
    const hostText = q.host?.trim().toLowerCase();
    const state = stateTest(q.state);
    const label = labelTest(q.label?.trim());
    const sort = q.sort ?? 'host';
    // Hosts in name order; each host's containers are kept in name order.
    const hosts = [...this.visible(scope)]
      .filter((e) => !hostText || e.id === q.host || e.nameLc.includes(hostText))
      .sort((a, b) => cmp(a.nameLc, b.nameLc) || cmp(a.id, b.id));
    const pass = (c: IndexedContainer, e: Entry) =>
      (!text || c.nameLc.includes(text) || c.imageLc.includes(text) || c.id.startsWith(text) || e.nameLc.includes(text)) &&
      (!name || c.nameLc.includes(name)) &&
      (!image || c.imageLc.includes(image)) &&
      (!state || state(c)) &&
      (!label || label(c.labels));
    const unfiltered = !text && !name && !image && !state && !label;
    if (sort === 'host' && !q.desc && unfiltered) {
      // The default view: a page is found by counts alone, without collecting rows.
      let total = 0;
      for (const e of hosts) total += e.containers.length;
      const last = Math.max(1, Math.ceil(total / q.pageSize));
      const p = Math.min(Math.max(1, q.page), last);
      let skip = (p - 1) * q.pageSize;
      const rows: FleetContainerRow[] = [];
      for (const e of hosts) {
        if (rows.length >= q.pageSize) break;
        if (skip >= e.containers.length) {
          skip -= e.containers.length;
          continue;
        }
        for (let i = skip; i < e.containers.length && rows.length < q.pageSize; i++) rows.push(publicRow(e.containers[i]));
        skip = 0;
      }
      return { rows, total, page: p, pageSize: q.pageSize };
    }
    const hits: IndexedContainer[] = [];
    for (const e of hosts) for (const c of e.containers) if (pass(c, e)) hits.push(c);
    if (sort !== 'host' || q.desc) {
      const dir = q.desc ? -1 : 1;
      const key: Record<ContainerSort, (a: IndexedContainer, b: IndexedContainer) => number> = {
        host: () => 0,
        name: (a, b) => cmp(a.nameLc, b.nameLc),
        image: (a, b) => cmp(a.imageLc, b.imageLc),
        state: (a, b) => cmp(a.state, b.state),
        created: (a, b) => cmp(a.created, b.created),
      };
      const k = key[sort];
      // Ties stay in host order: the hits are in it, and both ways below are stable.
      const by = (a: IndexedContainer, b: IndexedContainer) => dir * k(a, b);
      const last = Math.max(1, Math.ceil(hits.length / q.pageSize));
      const p = Math.min(Math.max(1, q.page), last);
      const want = p * q.pageSize;
      // An early page of many hits: keep only the first `want` in order, rather than sort them all.
      const top = want * 4 < hits.length ? firstInOrder(hits, want, by) : hits.sort(by);
      return { rows: top.slice((p - 1) * q.pageSize, want).map(publicRow), total: hits.length, page: p, pageSize: q.pageSize };
    }
    const p = pageOf(hits, q.page, q.pageSize);
    return { ...p, rows: p.rows.map(publicRow) };
  }

  /** The named containers the scope sees, by host; unknown ones are left out (the caller names them). */
  lookup(scope: Scope, targets: ReadonlyArray<{ hostId: string; id: string }>): Array<FleetContainerRow | undefined> {
    return targets.map((t) => {
      if (!this.sees(scope, t.hostId)) return undefined;
      const c = this.hosts.get(t.hostId)!.containers.find((x) => x.id === t.id);
      return c ? publicRow(c) : undefined;
    });
  }
}

/** The first `n` of `xs` by `by`, in order; of equals, the earlier in `xs` first. */
export function firstInOrder<T>(xs: readonly T[], n: number, by: (a: T, b: T) => number): T[] {
  const out: T[] = [];
  for (const x of xs) {
    if (out.length === n && by(x, out[n - 1]) >= 0) continue;
    // After the last element not greater than x: equals keep their order.
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (by(out[mid], x) <= 0) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, x);
    if (out.length > n) out.pop();
  }
  return out;
}

function publicRow(c: IndexedContainer): FleetContainerRow {
  const { nameLc: _n, imageLc: _i, ...row } = c;
  return row;
}

function rowOf(e: Entry): FleetHostRow {
  return {
    id: e.id,
    name: e.name,
    labels: { ...e.labels },
    online: e.online,
    lastSeen: e.lastSeen ? e.lastSeen.toISOString() : null,
    hostname: e.info?.hostname ?? null,
    kernel: e.info?.kernel ?? null,
    cpus: e.info?.cpus ?? null,
    memTotal: e.info?.memTotal ?? null,
    engineVersion: e.info?.engineVersion ?? null,
    counts: e.counts,
    images: e.info?.images ?? null,
    usage: { cpu: [...e.cpu], mem: [...e.mem] },
  };
}

/** The process's index, shared by the tRPC routers (Next's bundle) and the socket hubs. */
export function fleetIndex(): FleetIndex {
  return berthGlobal('fleetIndex', () => new FleetIndex());
}
