// A team's registry logins, kept sealed (server/auth/secret-box) and opened only to hand
// one to an agent for the pull or push that needs it. The credential travels inside that
// one command and the agent uses it for that operation only, so it is never written to the
// host's disk (the agent's own login store is for `docker login` on the host).
import type { PrismaClient } from '../generated/prisma/client';
import { open, seal } from './auth/secret-box';

const DEFAULT_DOMAIN = 'docker.io';
// A host name (or an IPv6 literal) and an optional port, as image references spell a registry.
const DOMAIN = /^(?:(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])(?:\.(?:[a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*|\[[a-f0-9:]+\])(?::[0-9]+)?$/;
const HUB_ALIASES = ['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'];

/** "https://Registry.Example.com:5000/" → "registry.example.com:5000"; Docker Hub's names → docker.io. Null for something that is no registry host. */
export function registryServer(input: string): string | null {
  const s = input.trim().toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  if (HUB_ALIASES.includes(s)) return DEFAULT_DOMAIN;
  return DOMAIN.test(s) ? s : null;
}

/**
 * The registry an image reference names, by the docker CLI's rule: the first path component
 * is a registry when it has a dot or a port, or is "localhost"; otherwise Docker Hub. (The
 * agent parses the whole reference and refuses a bad one; this only picks the login.)
 */
export function referenceRegistry(ref: string): string {
  const slash = ref.indexOf('/');
  const first = slash < 0 ? '' : ref.slice(0, slash);
  if (!first || !(first.includes('.') || first.includes(':') || first === 'localhost')) return DEFAULT_DOMAIN;
  const host = first.toLowerCase();
  return HUB_ALIASES.includes(host) ? DEFAULT_DOMAIN : host;
}

export const sealAad = (teamId: string, server: string) => `registry\n${teamId}\n${server}`;

export function sealSecret(teamId: string, server: string, secret: string): string {
  return seal(secret, sealAad(teamId, server));
}

/** The team's login for the registry `ref` names, opened, or undefined when it has none. */
export async function registryAuthFor(prisma: PrismaClient, teamId: string, ref: string): Promise<{ username: string; password: string } | undefined> {
  const domain = referenceRegistry(ref);
  const row = await prisma.registry.findUnique({ where: { teamId_server: { teamId, server: domain } } });
  if (!row) return undefined;
  return { username: row.username, password: open(row.secret, sealAad(teamId, row.server)) };
}
