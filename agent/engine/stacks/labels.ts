// The labels compose puts on what it makes, which Berth's stacks put on theirs too: a project's
// containers, from whichever tool, are found and ordered by these alone.
import { deployOrder } from './compose';

export const L = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  hash: 'com.docker.compose.config-hash',
  image: 'com.docker.compose.image',
  version: 'com.docker.compose.version',
  dependsOn: 'com.docker.compose.depends_on',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
} as const;

/** A project's containers with what a service depends on first (its depends_on label); with a cycle, in the order given. */
export function inDependencyOrder<T extends { name: string; spec: { labels?: Record<string, string> } }>(cs: T[]): T[] {
  const service = (c: T) => c.spec.labels?.[L.service] ?? c.name;
  const deps: Record<string, { dependsOn: Record<string, unknown> }> = {};
  for (const c of cs) {
    const d = (c.spec.labels?.[L.dependsOn] ?? '').split(',').filter(Boolean).map((x) => x.split(':')[0]);
    deps[service(c)] = { dependsOn: Object.fromEntries(d.map((x) => [x, {}])) };
  }
  const order = deployOrder(deps);
  const rank = (c: T) => (typeof order === 'string' ? 0 : order.indexOf(service(c)));
  return [...cs].sort((a, b) => rank(a) - rank(b));
}
