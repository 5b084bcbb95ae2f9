// A team's registry logins, kept sealed (server/auth/secret-box) and opened only to hand
// one to an agent for the pull or push that needs it. The credential travels inside that
// one command and the agent uses it for that operation only, so it is never written to the
// host's disk (the agent's own login store is for `docker login` on the host).
import type { PrismaClient } from '../generated/prisma/client';
import { DEFAULT_DOMAIN, parseReference } from '../agent/engine/images/reference';
import { open, seal } from './auth/secret-box';

/** "https://Registry.Example.com:5000/" → "registry.example.com:5000"; Docker Hub's names → docker.io. Null for something that is no registry host. */
export function registryServer(input: string): string | null {
  let s = input.trim().toLowerCase().replace(/^[a-z]+:\/\//, '');
  s = s.replace(/\/.*$/, '');
  if (['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'].includes(s)) s = DEFAULT_DOMAIN;
  try {
    return parseReference(`${s}/x`).domain === s ? s : null;
  } catch {
    return null;
  }
}

export const sealAad = (teamId: string, server: string) => `registry\n${teamId}\n${server}`;

export function sealSecret(teamId: string, server: string, secret: string): string {
  return seal(secret, sealAad(teamId, server));
}

/** The team's login for the registry `ref` names, opened, or undefined when it has none. */
export async function registryAuthFor(prisma: PrismaClient, teamId: string, ref: string): Promise<{ username: string; password: string } | undefined> {
  let domain: string;
  try {
    domain = parseReference(ref).domain;
  } catch {
    return undefined;
  }
  const row = await prisma.registry.findUnique({ where: { teamId_server: { teamId, server: domain } } });
  if (!row) return undefined;
  return { username: row.username, password: open(row.secret, sealAad(teamId, row.server)) };
}
