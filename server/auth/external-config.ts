// Sign-in with outside identity providers, configured by the environment: any OpenID
// Connect provider (BERTH_OIDC_*) and GitHub (BERTH_GITHUB_*). Read and checked at start
// (server/main.ts), so a typo stops the server with the variable's name instead of
// surfacing at someone's first sign-in.
import type { Role } from '../../protocol/roles';

export type ExternalProviderId = 'oidc' | 'github';

export interface TeamMapping {
  group: string;
  team: string;
  role: Exclude<Role, 'owner'>;
}

export interface OidcConfig {
  id: 'oidc';
  name: string;
  issuer: string;
  wellKnown: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  teamsClaim: string | null;
  teamMap: TeamMapping[];
}

export interface GitHubConfig {
  id: 'github';
  name: 'GitHub';
  clientId: string;
  clientSecret: string;
  /** Where github.com's sign-in pages are; the real one unless a test points it at a fake. */
  webBase: string;
  /** Where api.github.com is. */
  apiBase: string;
}

export interface ExternalConfig {
  oidc: OidcConfig | null;
  github: GitHubConfig | null;
}

type Env = Record<string, string | undefined>;

export class ExternalConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExternalConfigError';
  }
}

const MAPPABLE: readonly TeamMapping['role'][] = ['admin', 'operator', 'viewer'];

/**
 * "group:Team=role,group2:Team=role": members of `group` (a value of the teams claim) join
 * `Team` (by its name) with `role`. Owner is not mappable: ownership is handed over in
 * Berth, by an owner, never by a group an identity provider's admin can edit.
 */
export function parseTeamMap(text: string, variable = 'BERTH_OIDC_TEAM_MAP'): TeamMapping[] {
  const out: TeamMapping[] = [];
  const entries = text.split(',').map((e) => e.trim());
  entries.forEach((entry, i) => {
    const where = `${variable}: entry ${i + 1} ${JSON.stringify(entry)}`;
    if (!entry) throw new ExternalConfigError(`${where}: empty (a stray comma?)`);
    const colon = entry.indexOf(':');
    const eq = entry.lastIndexOf('=');
    if (colon <= 0 || eq < colon + 2 || eq === entry.length - 1) throw new ExternalConfigError(`${where}: expected group:Team=role, e.g. ops:Operations=operator`);
    const group = entry.slice(0, colon).trim();
    const team = entry.slice(colon + 1, eq).trim();
    const role = entry.slice(eq + 1).trim();
    if (!group || !team) throw new ExternalConfigError(`${where}: expected group:Team=role, e.g. ops:Operations=operator`);
    if (role === 'owner') throw new ExternalConfigError(`${where}: owner cannot be given by a group; map admin at most and make owners in Berth`);
    if (!(MAPPABLE as readonly string[]).includes(role)) throw new ExternalConfigError(`${where}: unknown role ${JSON.stringify(role)} (admin, operator or viewer)`);
    if (out.some((m) => m.group === group && m.team === team)) throw new ExternalConfigError(`${where}: ${group} is mapped to ${team} twice`);
    out.push({ group, team, role: role as TeamMapping['role'] });
  });
  return out;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** An http(s) URL without a trailing slash; plain http only on loopback (tokens and secrets travel over it). */
function baseUrl(variable: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ExternalConfigError(`${variable}: not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw new ExternalConfigError(`${variable}: ${url.protocol}// is refused for ${url.hostname}; use https:// (plain http only on loopback)`);
  }
  if (url.search || url.hash) throw new ExternalConfigError(`${variable}: no query or fragment, please: ${JSON.stringify(value)}`);
  return url.toString().replace(/\/+$/, '');
}

function oidcFrom(env: Env): OidcConfig | null {
  const required = ['BERTH_OIDC_ISSUER', 'BERTH_OIDC_CLIENT_ID', 'BERTH_OIDC_CLIENT_SECRET'] as const;
  const optional = ['BERTH_OIDC_NAME', 'BERTH_OIDC_SCOPES', 'BERTH_OIDC_TEAMS_CLAIM', 'BERTH_OIDC_TEAM_MAP'] as const;
  const set = [...required, ...optional].filter((k) => env[k]);
  if (!set.length) return null;
  const missing = required.filter((k) => !env[k]);
  if (missing.length) throw new ExternalConfigError(`OpenID Connect sign-in: ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not`);
  const issuer = baseUrl('BERTH_OIDC_ISSUER', env.BERTH_OIDC_ISSUER!);
  const scopes = (env.BERTH_OIDC_SCOPES ?? 'openid email profile').trim().split(/\s+/);
  if (!scopes.includes('openid')) throw new ExternalConfigError(`BERTH_OIDC_SCOPES: must include openid (got ${JSON.stringify(env.BERTH_OIDC_SCOPES)})`);
  const claim = env.BERTH_OIDC_TEAMS_CLAIM?.trim() || null;
  const mapText = env.BERTH_OIDC_TEAM_MAP?.trim() || null;
  if (claim && !mapText) throw new ExternalConfigError('BERTH_OIDC_TEAMS_CLAIM is set but BERTH_OIDC_TEAM_MAP is not: say which group joins which team, e.g. ops:Operations=operator');
  if (mapText && !claim) throw new ExternalConfigError('BERTH_OIDC_TEAM_MAP is set but BERTH_OIDC_TEAMS_CLAIM is not: name the ID token claim that lists the groups, e.g. groups');
  const name = env.BERTH_OIDC_NAME?.trim() || 'OpenID Connect';
  if (name.length > 60) throw new ExternalConfigError(`BERTH_OIDC_NAME: 60 characters at most (it is a button's label)`);
  return {
    id: 'oidc',
    name,
    issuer,
    wellKnown: `${issuer}/.well-known/openid-configuration`,
    clientId: env.BERTH_OIDC_CLIENT_ID!,
    clientSecret: env.BERTH_OIDC_CLIENT_SECRET!,
    scopes: scopes.join(' '),
    teamsClaim: claim,
    teamMap: mapText ? parseTeamMap(mapText) : [],
  };
}

function githubFrom(env: Env): GitHubConfig | null {
  const id = env.BERTH_GITHUB_CLIENT_ID;
  const secret = env.BERTH_GITHUB_CLIENT_SECRET;
  const fake = env.BERTH_GITHUB_TEST_URL;
  if (!id && !secret && !fake) return null;
  if (!id || !secret) throw new ExternalConfigError(`GitHub sign-in: ${id ? 'BERTH_GITHUB_CLIENT_SECRET' : 'BERTH_GITHUB_CLIENT_ID'} is not set${fake && !id && !secret ? ' (BERTH_GITHUB_TEST_URL alone turns nothing on)' : ''}`);
  let webBase = 'https://github.com';
  let apiBase = 'https://api.github.com';
  if (fake) {
    // Only for tests: a fake GitHub on this machine. Anywhere else it would send the client secret and people's tokens to a stranger.
    const base = baseUrl('BERTH_GITHUB_TEST_URL', fake);
    if (!isLoopbackHost(new URL(base).hostname)) throw new ExternalConfigError(`BERTH_GITHUB_TEST_URL: only a loopback address is accepted (it is for a fake GitHub in tests), not ${new URL(base).hostname}`);
    webBase = base;
    apiBase = `${base}/api`;
  }
  return { id: 'github', name: 'GitHub', clientId: id, clientSecret: secret, webBase, apiBase };
}

/** The configured providers; throws ExternalConfigError naming the variable that is wrong. */
export function externalConfig(env: Env = process.env): ExternalConfig {
  return { oidc: oidcFrom(env), github: githubFrom(env) };
}

/** The display name of a provider id, for audit rows and messages. */
export function providerName(config: ExternalConfig, id: string | undefined): string {
  if (id === 'oidc' && config.oidc) return config.oidc.name;
  if (id === 'github') return 'GitHub';
  return id ? `provider ${id}` : 'an outside provider';
}
