// A host's state after its first snapshot of a connection travels as deltas: the containers,
// images and stacks that changed, by key, and the ones that went. A fleet of thousands
// changes a container here and there; whole snapshots (about 20 kB for 50 containers) cost
// the agent, the server and, between control-plane processes, Redis, for one line of news.
// The agent diffs (agent/link/client.ts); the server and the other processes apply.
import type { ContainerSummary, HostInfo, HostSnapshot, ImageSummary } from './agent-link';
import type { StackSummary } from './stacks';

/** What changed in one list: entries new or different (whole), keys gone, and the keys' order when it moved. */
export interface ListDelta<T> {
  set?: T[];
  remove?: string[];
  order?: string[];
}

export interface SnapshotDelta {
  /** The rev of the snapshot this applies to; the result is `rev`. */
  base: number;
  rev: number;
  info?: HostInfo;
  containers?: ListDelta<ContainerSummary>;
  images?: ListDelta<ImageSummary>;
  stacks?: ListDelta<StackSummary>;
}

/** How the server answers a snapshot or a delta: `deltas` (it takes them), `resync` (send the whole state: the base is not the one it has). */
export interface SnapshotAck {
  deltas?: boolean;
  resync?: boolean;
}

type KeyOf<T> = (x: T) => unknown;
const byId = (x: { id: string }) => x.id;
const byName = (x: { name: string }) => x.name;

/**
 * A container's "Up 3 seconds" ages by itself and the dashboard words it from the times it
 * has: a change of that text alone is no change to send.
 */
const containerPrint = (c: ContainerSummary) => JSON.stringify({ ...c, status: undefined });
const plainPrint = (x: unknown) => JSON.stringify(x);

function diffList<T>(prev: readonly T[], next: readonly T[], keyOf: (x: T) => string, print: (x: T) => string): ListDelta<T> | undefined {
  const before = new Map<string, string>();
  for (const x of prev) before.set(keyOf(x), print(x));
  const set: T[] = [];
  const seen = new Set<string>();
  for (const x of next) {
    const k = keyOf(x);
    seen.add(k);
    if (before.get(k) !== print(x)) set.push(x);
  }
  const remove = [...before.keys()].filter((k) => !seen.has(k));
  const d: ListDelta<T> = {};
  if (set.length) d.set = set;
  if (remove.length) d.remove = remove;
  // The order an apply without `order` would give: the old one, new keys at the end.
  const kept = [...before.keys()].filter((k) => seen.has(k));
  const added = next.map(keyOf).filter((k) => !before.has(k));
  const implied = [...kept, ...added];
  if (implied.some((k, i) => k !== keyOf(next[i]))) d.order = next.map(keyOf);
  return d.set || d.remove || d.order ? d : undefined;
}

/** What turns `prev` into `next`; undefined when nothing a delta carries changed. */
export function diffSnapshot(prev: HostSnapshot, next: HostSnapshot): Omit<SnapshotDelta, 'base' | 'rev'> | undefined {
  const d: Omit<SnapshotDelta, 'base' | 'rev'> = {};
  if (plainPrint(prev.info) !== plainPrint(next.info)) d.info = next.info;
  const containers = diffList(prev.containers, next.containers, byId, containerPrint);
  if (containers) d.containers = containers;
  const images = diffList(prev.images, next.images, byId, plainPrint);
  if (images) d.images = images;
  const stacks = diffList(prev.stacks ?? [], next.stacks ?? [], byName, plainPrint);
  if (stacks) d.stacks = stacks;
  return Object.keys(d).length ? d : undefined;
}

function applyList<T>(list: readonly T[], d: ListDelta<T> | undefined, keyOf: KeyOf<T>, what: string): T[] {
  if (d === undefined) return [...list];
  if (typeof d !== 'object' || d === null) throw new Error(`${what}: not a list delta`);
  const { set = [], remove = [], order } = d;
  if (!Array.isArray(set) || !Array.isArray(remove) || (order !== undefined && !Array.isArray(order))) throw new Error(`${what}: set, remove and order must be lists`);
  const gone = new Set(remove);
  const byKey = new Map<unknown, T>();
  for (const x of list) if (!gone.has(keyOf(x) as string)) byKey.set(keyOf(x), x);
  for (const x of set) {
    const k = x && typeof x === 'object' ? keyOf(x) : undefined;
    if (typeof k !== 'string' || !k) throw new Error(`${what}: an entry without its key`);
    byKey.set(k, x);
  }
  if (!order) return [...byKey.values()];
  if (order.length !== byKey.size || order.some((k) => !byKey.has(k))) throw new Error(`${what}: the order names other entries than the list has`);
  return order.map((k) => byKey.get(k) as T);
}

/** `base` with the delta applied (a new object; `base` is left as it was). Throws on a delta that does not fit it. */
export function applySnapshotDelta(base: HostSnapshot, d: SnapshotDelta): HostSnapshot {
  if (!d || typeof d !== 'object' || typeof d.rev !== 'number') throw new Error('not a snapshot delta');
  if (d.base !== base.rev) throw new Error(`delta for rev ${d.base} on rev ${base.rev ?? 'none'}`);
  const stacks = applyList(base.stacks ?? [], d.stacks, byName, 'stacks');
  return {
    rev: d.rev,
    info: d.info && typeof d.info === 'object' ? d.info : base.info,
    containers: applyList(base.containers, d.containers, byId, 'containers'),
    images: applyList(base.images, d.images, byId, 'images'),
    ...(base.stacks || d.stacks ? { stacks } : {}),
  };
}
