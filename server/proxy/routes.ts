// Which role each Docker Engine API call needs when it comes through the control plane. The
// table follows the agent's own routes (agent/dockerapi/server.ts) path for path; a call that
// matches none is refused (deny by default), so a route the agent learns later stays closed
// here until someone decides who may use it. Reads are for viewers; what changes a container,
// an image, a network or a volume, or reads a container's files, is for operators; what stores
// a registry login on the host is for admins, as the dashboard's roles go.
import type { Role } from '../../protocol/roles';

export interface ApiRoute {
  /** A short name, used in audit rows and in the tests' matrix. */
  id: string;
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  /** Matches the path without its /vX.Y prefix, percent-decoded, as the agent matches it. */
  pattern: RegExp;
  need: Role;
  /** Only when the query says so (attach with stdin): else the route does not apply. */
  when?: (q: URLSearchParams) => boolean;
  /** A request of this route that changes nothing anywhere, for the tests' matrix. */
  sample: string;
  /**
   * The CLI's subcommands that make this call (none: every command does), as a user types them
   * on their own machine: quoted in a refusal so they know which command was refused.
   */
  cli: readonly string[];
}

/** How a refusal names the commands that make `route`'s call. */
export function commandsOf(route: ApiRoute): string {
  return route.cli.length ? route.cli.map((c) => `docker ${c}`).join(', ') : 'every command';
}

const truthy = (v: string | null) => v === '1' || v === 'true' || v === 'True';
const withStdin = (q: URLSearchParams) => truthy(q.get('stdin'));
const NONE = 'berth-matrix-none';

// Names may hold slashes ("127.0.0.1:5000/busybox:latest"), so image routes match greedily, as the agent's do.
export const API_ROUTES: readonly ApiRoute[] = [
  { id: 'ping', method: 'GET', pattern: /^\/_ping$/, need: 'viewer', sample: '/_ping', cli: [] },
  { id: 'ping.head', method: 'HEAD', pattern: /^\/_ping$/, need: 'viewer', sample: '/_ping', cli: [] },
  { id: 'version', method: 'GET', pattern: /^\/version$/, need: 'viewer', sample: '/version', cli: ['version'] },
  { id: 'info', method: 'GET', pattern: /^\/info$/, need: 'viewer', sample: '/info', cli: ['info'] },
  { id: 'events', method: 'GET', pattern: /^\/events$/, need: 'viewer', sample: `/events?until=1`, cli: ['events'] },
  { id: 'system.df', method: 'GET', pattern: /^\/system\/df$/, need: 'viewer', sample: '/system/df', cli: ['system df'] },

  { id: 'images.list', method: 'GET', pattern: /^\/images\/json$/, need: 'viewer', sample: '/images/json', cli: ['images'] },
  { id: 'images.inspect', method: 'GET', pattern: /^\/images\/(.+)\/json$/, need: 'viewer', sample: `/images/${NONE}/json`, cli: ['image inspect'] },
  { id: 'images.history', method: 'GET', pattern: /^\/images\/(.+)\/history$/, need: 'viewer', sample: `/images/${NONE}/history`, cli: ['history'] },
  { id: 'images.pull', method: 'POST', pattern: /^\/images\/create$/, need: 'operator', sample: `/images/create?fromImage=127.0.0.1:1/${NONE}&tag=x`, cli: ['pull', 'import'] },
  { id: 'images.push', method: 'POST', pattern: /^\/images\/(.+)\/push$/, need: 'operator', sample: `/images/${NONE}/push`, cli: ['push'] },
  { id: 'images.tag', method: 'POST', pattern: /^\/images\/(.+)\/tag$/, need: 'operator', sample: `/images/${NONE}/tag?repo=${NONE}-2`, cli: ['tag'] },
  { id: 'images.remove', method: 'DELETE', pattern: /^\/images\/(.+)$/, need: 'operator', sample: `/images/${NONE}`, cli: ['rmi'] },
  { id: 'images.prune', method: 'POST', pattern: /^\/images\/prune$/, need: 'operator', sample: `/images/prune?filters=${encodeURIComponent(JSON.stringify({ label: [NONE] }))}`, cli: ['image prune'] },
  // An image's layers are the files of every container made from it.
  { id: 'images.save', method: 'GET', pattern: /^\/images\/get$/, need: 'operator', sample: `/images/get?names=${NONE}`, cli: ['save'] },
  { id: 'images.save.one', method: 'GET', pattern: /^\/images\/(.+)\/get$/, need: 'operator', sample: `/images/${NONE}/get`, cli: ['save'] },
  { id: 'images.load', method: 'POST', pattern: /^\/images\/load$/, need: 'operator', sample: '/images/load', cli: ['load'] },
  { id: 'build', method: 'POST', pattern: /^\/build$/, need: 'operator', sample: `/build?t=${NONE}`, cli: ['build'] },
  { id: 'build.prune', method: 'POST', pattern: /^\/build\/prune$/, need: 'operator', sample: `/build/prune?filters=${encodeURIComponent(JSON.stringify({ label: [NONE] }))}`, cli: ['builder prune'] },
  { id: 'commit', method: 'POST', pattern: /^\/commit$/, need: 'operator', sample: `/commit?container=${NONE}`, cli: ['commit'] },
  // The agent keeps the login and uses it for every pull of the host's users: a registry credential, which admins manage.
  { id: 'auth', method: 'POST', pattern: /^\/auth$/, need: 'admin', sample: '/auth', cli: ['login'] },

  { id: 'containers.list', method: 'GET', pattern: /^\/containers\/json$/, need: 'viewer', sample: '/containers/json?all=1', cli: ['ps'] },
  { id: 'containers.inspect', method: 'GET', pattern: /^\/containers\/([^/]+)\/json$/, need: 'viewer', sample: `/containers/${NONE}/json`, cli: ['inspect'] },
  { id: 'containers.logs', method: 'GET', pattern: /^\/containers\/([^/]+)\/logs$/, need: 'viewer', sample: `/containers/${NONE}/logs?stdout=1`, cli: ['logs'] },
  { id: 'containers.stats', method: 'GET', pattern: /^\/containers\/([^/]+)\/stats$/, need: 'viewer', sample: `/containers/${NONE}/stats?stream=0`, cli: ['stats'] },
  { id: 'containers.top', method: 'GET', pattern: /^\/containers\/([^/]+)\/top$/, need: 'viewer', sample: `/containers/${NONE}/top`, cli: ['top'] },
  { id: 'containers.changes', method: 'GET', pattern: /^\/containers\/([^/]+)\/changes$/, need: 'viewer', sample: `/containers/${NONE}/changes`, cli: ['diff'] },
  // Waiting changes nothing; `docker run` and `docker wait` use it.
  { id: 'containers.wait', method: 'POST', pattern: /^\/containers\/([^/]+)\/wait$/, need: 'viewer', sample: `/containers/${NONE}/wait`, cli: ['wait', 'run'] },
  { id: 'containers.attach', method: 'POST', pattern: /^\/containers\/([^/]+)\/attach$/, need: 'viewer', when: (q) => !withStdin(q), sample: `/containers/${NONE}/attach?stream=1&stdout=1`, cli: ['attach --no-stdin', 'run -d=false'] },
  { id: 'containers.attach.stdin', method: 'POST', pattern: /^\/containers\/([^/]+)\/attach$/, need: 'operator', when: withStdin, sample: `/containers/${NONE}/attach?stream=1&stdin=1&stdout=1`, cli: ['attach', 'run -i'] },
  { id: 'containers.create', method: 'POST', pattern: /^\/containers\/create$/, need: 'operator', sample: '/containers/create', cli: ['run', 'create'] },
  { id: 'containers.start', method: 'POST', pattern: /^\/containers\/([^/]+)\/start$/, need: 'operator', sample: `/containers/${NONE}/start`, cli: ['start', 'run'] },
  { id: 'containers.stop', method: 'POST', pattern: /^\/containers\/([^/]+)\/stop$/, need: 'operator', sample: `/containers/${NONE}/stop`, cli: ['stop'] },
  { id: 'containers.restart', method: 'POST', pattern: /^\/containers\/([^/]+)\/restart$/, need: 'operator', sample: `/containers/${NONE}/restart`, cli: ['restart'] },
  { id: 'containers.kill', method: 'POST', pattern: /^\/containers\/([^/]+)\/kill$/, need: 'operator', sample: `/containers/${NONE}/kill`, cli: ['kill'] },
  { id: 'containers.pause', method: 'POST', pattern: /^\/containers\/([^/]+)\/pause$/, need: 'operator', sample: `/containers/${NONE}/pause`, cli: ['pause'] },
  { id: 'containers.unpause', method: 'POST', pattern: /^\/containers\/([^/]+)\/unpause$/, need: 'operator', sample: `/containers/${NONE}/unpause`, cli: ['unpause'] },
  { id: 'containers.rename', method: 'POST', pattern: /^\/containers\/([^/]+)\/rename$/, need: 'operator', sample: `/containers/${NONE}/rename?name=${NONE}-2`, cli: ['rename'] },
  { id: 'containers.update', method: 'POST', pattern: /^\/containers\/([^/]+)\/update$/, need: 'operator', sample: `/containers/${NONE}/update`, cli: ['update'] },
  { id: 'containers.resize', method: 'POST', pattern: /^\/containers\/([^/]+)\/resize$/, need: 'operator', sample: `/containers/${NONE}/resize?h=24&w=80`, cli: ['attach', 'run -t'] },
  { id: 'containers.remove', method: 'DELETE', pattern: /^\/containers\/([^/]+)$/, need: 'operator', sample: `/containers/${NONE}`, cli: ['rm'] },
  { id: 'containers.prune', method: 'POST', pattern: /^\/containers\/prune$/, need: 'operator', sample: `/containers/prune?filters=${encodeURIComponent(JSON.stringify({ label: [NONE] }))}`, cli: ['container prune'] },
  // A container's files may hold what its logs do not (keys, data): the dashboard's viewers cannot download them either.
  { id: 'containers.export', method: 'GET', pattern: /^\/containers\/([^/]+)\/export$/, need: 'operator', sample: `/containers/${NONE}/export`, cli: ['export'] },
  { id: 'containers.archive.stat', method: 'HEAD', pattern: /^\/containers\/([^/]+)\/archive$/, need: 'operator', sample: `/containers/${NONE}/archive?path=/`, cli: ['cp'] },
  { id: 'containers.archive.get', method: 'GET', pattern: /^\/containers\/([^/]+)\/archive$/, need: 'operator', sample: `/containers/${NONE}/archive?path=/`, cli: ['cp CONTAINER:PATH …'] },
  { id: 'containers.archive.put', method: 'PUT', pattern: /^\/containers\/([^/]+)\/archive$/, need: 'operator', sample: `/containers/${NONE}/archive?path=/`, cli: ['cp … CONTAINER:PATH'] },

  { id: 'exec.create', method: 'POST', pattern: /^\/containers\/([^/]+)\/exec$/, need: 'operator', sample: `/containers/${NONE}/exec`, cli: ['exec'] },
  { id: 'exec.start', method: 'POST', pattern: /^\/exec\/([^/]+)\/start$/, need: 'operator', sample: `/exec/${NONE}/start`, cli: ['exec'] },
  { id: 'exec.resize', method: 'POST', pattern: /^\/exec\/([^/]+)\/resize$/, need: 'operator', sample: `/exec/${NONE}/resize?h=24&w=80`, cli: ['exec -t'] },
  { id: 'exec.inspect', method: 'GET', pattern: /^\/exec\/([^/]+)\/json$/, need: 'viewer', sample: `/exec/${NONE}/json`, cli: ['exec'] },

  { id: 'networks.list', method: 'GET', pattern: /^\/networks$/, need: 'viewer', sample: '/networks', cli: ['network ls'] },
  { id: 'networks.inspect', method: 'GET', pattern: /^\/networks\/([^/]+)$/, need: 'viewer', sample: `/networks/${NONE}`, cli: ['network inspect'] },
  { id: 'networks.create', method: 'POST', pattern: /^\/networks\/create$/, need: 'operator', sample: '/networks/create', cli: ['network create'] },
  { id: 'networks.prune', method: 'POST', pattern: /^\/networks\/prune$/, need: 'operator', sample: `/networks/prune?filters=${encodeURIComponent(JSON.stringify({ label: [NONE] }))}`, cli: ['network prune'] },
  { id: 'networks.connect', method: 'POST', pattern: /^\/networks\/([^/]+)\/connect$/, need: 'operator', sample: `/networks/${NONE}/connect`, cli: ['network connect'] },
  { id: 'networks.disconnect', method: 'POST', pattern: /^\/networks\/([^/]+)\/disconnect$/, need: 'operator', sample: `/networks/${NONE}/disconnect`, cli: ['network disconnect'] },
  { id: 'networks.remove', method: 'DELETE', pattern: /^\/networks\/([^/]+)$/, need: 'operator', sample: `/networks/${NONE}`, cli: ['network rm'] },

  { id: 'volumes.list', method: 'GET', pattern: /^\/volumes$/, need: 'viewer', sample: '/volumes', cli: ['volume ls'] },
  { id: 'volumes.inspect', method: 'GET', pattern: /^\/volumes\/([^/]+)$/, need: 'viewer', sample: `/volumes/${NONE}`, cli: ['volume inspect'] },
  { id: 'volumes.create', method: 'POST', pattern: /^\/volumes\/create$/, need: 'operator', sample: '/volumes/create', cli: ['volume create'] },
  { id: 'volumes.prune', method: 'POST', pattern: /^\/volumes\/prune$/, need: 'operator', sample: `/volumes/prune?filters=${encodeURIComponent(JSON.stringify({ label: [NONE] }))}`, cli: ['volume prune'] },
  { id: 'volumes.remove', method: 'DELETE', pattern: /^\/volumes\/([^/]+)$/, need: 'operator', sample: `/volumes/${NONE}`, cli: ['volume rm'] },
];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

export interface ApiTarget {
  /** Without the /vX.Y prefix, percent-decoded, trailing slashes dropped: what the agent matches routes on. */
  path: string;
  query: URLSearchParams;
}

/** "/v1.50/containers/json?all=1" as the agent reads it; null when its percent-encoding is broken. */
export function apiTarget(pathAndQuery: string): ApiTarget | null {
  const url = new URL(pathAndQuery, 'http://docker');
  const m = /^\/v\d+\.\d+(\/.*)$/.exec(url.pathname);
  let decoded: string;
  try {
    decoded = decodeURIComponent(m ? m[1] : url.pathname);
  } catch {
    return null;
  }
  return { path: decoded.replace(/\/+$/, '') || '/', query: url.searchParams };
}

export interface Classified {
  /** The routes the call matches (several for some image names); the most demanding one decides. */
  routes: ApiRoute[];
  need: Role;
  /** Not a plain read: the call is audited. */
  mutating: boolean;
}

/** The role a call needs, or null for a call no route knows (refused). */
export function classify(method: string, target: ApiTarget): Classified | null {
  const routes = API_ROUTES.filter((r) => r.method === method && r.pattern.test(target.path) && (!r.when || r.when(target.query)));
  if (!routes.length) return null;
  const need = routes.reduce<Role>((top, r) => (RANK[r.need] > RANK[top] ? r.need : top), 'viewer');
  // Waiting and attaching without stdin are POSTs that change nothing.
  const mutating = routes.some((r) => r.need !== 'viewer');
  return { routes, need, mutating };
}
