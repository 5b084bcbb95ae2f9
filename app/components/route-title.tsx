'use client';
// The document's <title>, naming the page ("Containers · Berth", "web-1 · host-a · Berth"),
// from one table of routes, so pages need nothing of their own. Host and container names
// come from the same queries the pages make (the same keys: react-query asks once).
import { useParams, usePathname } from 'next/navigation';
import { trpc } from '../lib/trpc';

const STATIC: Record<string, string> = {
  '/': 'Hosts',
  '/login': 'Sign in',
  '/setup': 'Set up Berth',
  '/no-team': 'No team',
  '/containers': 'Containers',
  '/logs': 'Logs',
  '/images': 'Images',
  '/resources': 'Volumes & networks',
  '/team': 'Team',
  '/alerts': 'Alerts',
  '/audit': 'Audit log',
  '/account': 'Account',
  '/registries': 'Registries',
  '/hosts/new': 'Add host',
};

const HOST_SUBPAGES: Record<string, string> = { logs: 'Logs', images: 'Images', stacks: 'Stacks' };

export function titleFor(path: string, names: { host?: string; container?: string; stack?: string }): string {
  const parts: string[] = [];
  const fixed = STATIC[path];
  if (fixed) parts.push(fixed);
  else if (path.startsWith('/invite/')) parts.push('Invitation');
  else {
    const m = /^\/hosts\/[^/]+(?:\/(.+))?$/.exec(path);
    if (m) {
      const rest = m[1]?.split('/') ?? [];
      if (rest[0] === 'containers' && rest[1]) parts.push(names.container ?? 'Container');
      else if (rest[0] === 'stacks' && rest[1]) parts.push(names.stack ?? 'Stack', 'Stacks');
      else if (rest[0] && HOST_SUBPAGES[rest[0]]) parts.push(HOST_SUBPAGES[rest[0]]);
      parts.push(names.host ?? 'Host');
    }
  }
  return [...parts, 'Berth'].join(' · ');
}

export function RouteTitle() {
  const path = usePathname() ?? '/';
  const params = useParams<{ id?: string; cid?: string; name?: string }>() ?? {};
  const onHost = path.startsWith('/hosts/') && path !== '/hosts/new' && !!params.id;
  const status = trpc.auth.status.useQuery(undefined, { staleTime: 5_000 });
  const signedIn = !!status.data?.signedIn;
  const hostId = params.id ?? '';
  const host = trpc.hosts.get.useQuery({ hostId }, { enabled: signedIn && onHost });
  const onContainer = onHost && !!params.cid && path.includes('/containers/');
  const container = trpc.containers.inspect.useQuery({ hostId, id: params.cid ?? '' }, { enabled: signedIn && onContainer });
  const title = titleFor(path, {
    host: onHost ? host.data?.name : undefined,
    container: onContainer ? container.data?.name?.replace(/^\//, '') || params.cid?.slice(0, 12) : undefined,
    // Compose project names are [a-z0-9_-]: nothing to decode.
    stack: params.name,
  });
  return <title>{title}</title>;
}
