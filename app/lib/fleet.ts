// Words of the fleet pages, apart from the pages so the unit tests can read them.
export type BulkAction = 'stop' | 'start' | 'restart' | 'remove' | 'update';

export interface Picked {
  hostId: string;
  id: string;
  name: string;
  hostName: string;
  /** Its image reference (named by the update's confirmation). */
  image?: string;
}

/** "Stop 3 containers on 2 hosts: a, b on h1; c on h2". */
export function bulkSentence(action: BulkAction, picked: Picked[]): string {
  // By id: two hosts may share a name.
  const byHost = new Map<string, { host: string; names: string[] }>();
  for (const p of picked) {
    const h = byHost.get(p.hostId) ?? { host: p.hostName, names: [] };
    h.names.push(action === 'update' && p.image ? `${p.name} (${p.image})` : p.name);
    byHost.set(p.hostId, h);
  }
  const verb = action[0].toUpperCase() + action.slice(1);
  const n = picked.length;
  const where = [...byHost.values()].map((h) => `${h.names.join(', ')} on ${h.host}`).join('; ');
  const said = `${verb} ${n} container${n === 1 ? '' : 's'} on ${byHost.size} host${byHost.size === 1 ? '' : 's'}: ${where}`;
  if (action !== 'update') return said;
  return `${said}. Each pulls its image's tag again; where the tag names a newer image the container is recreated from it with the same settings, the old image kept until the new container runs (healthy, when it has a healthcheck), and rolled back if it does not`;
}

