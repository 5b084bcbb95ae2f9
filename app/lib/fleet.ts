// Words of the fleet pages, apart from the pages so the unit tests can read them.
export type BulkAction = 'stop' | 'start' | 'restart' | 'remove';

export interface Picked {
  hostId: string;
  id: string;
  name: string;
  hostName: string;
}

/** "Stop 3 containers on 2 hosts: a, b on h1; c on h2". */
export function bulkSentence(action: BulkAction, picked: Picked[]): string {
  // By id: two hosts may share a name.
  const byHost = new Map<string, { host: string; names: string[] }>();
  for (const p of picked) {
    const h = byHost.get(p.hostId) ?? { host: p.hostName, names: [] };
    h.names.push(p.name);
    byHost.set(p.hostId, h);
  }
  const verb = action[0].toUpperCase() + action.slice(1);
  const n = picked.length;
  const where = [...byHost.values()].map((h) => `${h.names.join(', ')} on ${h.host}`).join('; ');
  return `${verb} ${n} container${n === 1 ? '' : 's'} on ${byHost.size} host${byHost.size === 1 ? '' : 's'}: ${where}`;
}

