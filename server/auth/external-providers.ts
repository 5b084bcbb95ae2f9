// next-auth providers for the outside sign-ins the environment configures.
//
// OpenID Connect: next-auth's OAuth provider with discovery (`wellKnown`) and `idToken`,
// so openid-client's callback() checks the ID token: RS256 signature against the issuer's
// JWKS, `iss`, `aud` (our client id; `azp` when there are several), `exp`/`iat`, and the
// `nonce` bound to this browser's cookie; PKCE (S256) and `state` guard the redirect.
// GitHub is plain OAuth 2 (no ID token): the account is GitHub's numeric user id, and the
// email is the primary one from /user/emails with GitHub's own verified flag.
import type { OAuthConfig } from 'next-auth/providers/oauth';
import type { ExternalConfig, GitHubConfig, OidcConfig } from './external-config';
import { groupsOf, type ExternalPerson } from './external-users';

/** The raw profile next-auth hands the signIn callback, with what Berth needs already read out of it. */
export interface BerthProfile {
  berth: ExternalPerson;
}

type Claims = Record<string, unknown>;

function str(v: unknown): string | null {
  return typeof v === 'string' && v ? v : null;
}

export function oidcProvider(cfg: OidcConfig): OAuthConfig<Claims> {
  return {
    id: 'oidc',
    name: cfg.name,
    type: 'oauth',
    wellKnown: cfg.wellKnown,
    clientId: cfg.clientId,
    clientSecret: cfg.clientSecret,
    authorization: { params: { scope: cfg.scopes } },
    idToken: true,
    checks: ['pkce', 'state', 'nonce'],
    client: { id_token_signed_response_alg: 'RS256' },
    profile(claims) {
      // next-auth passes this object's fields on as the user; the signIn callback reads `berth` from the raw claims instead.
      return { id: String(claims.sub ?? ''), name: str(claims.name) ?? str(claims.preferred_username) ?? str(claims.email) ?? '', email: str(claims.email) };
    },
  };
}

/** What Berth reads from verified ID token claims. */
export function personFromClaims(claims: Claims, cfg: OidcConfig): ExternalPerson {
  const email = str(claims.email);
  return {
    provider: 'oidc',
    subject: str(claims.sub) ?? '',
    email: email && email.toLowerCase(),
    emailVerified: claims.email_verified === true || claims.email_verified === 'true',
    name: str(claims.name) ?? str(claims.preferred_username) ?? email ?? '',
    groups: cfg.teamsClaim ? groupsOf(claims[cfg.teamsClaim]) : null,
  };
}

async function githubGet<T>(cfg: GitHubConfig, path: string, token: string): Promise<T> {
  const res = await fetch(`${cfg.apiBase}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.github+json', 'user-agent': 'Berth' }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GitHub ${path}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as T;
}

type GitHubUser = { id: number; login: string; name?: string | null };
type GitHubEmail = { email: string; primary: boolean; verified: boolean };

export function githubProvider(cfg: GitHubConfig): OAuthConfig<Claims> {
  return {
    id: 'github',
    name: 'GitHub',
    type: 'oauth',
    // openid-client wants an issuer; GitHub's OAuth has none of OIDC's, this is only its name.
    issuer: 'https://github.com/login/oauth',
    clientId: cfg.clientId,
    clientSecret: cfg.clientSecret,
    authorization: { url: `${cfg.webBase}/login/oauth/authorize`, params: { scope: 'read:user user:email' } },
    token: `${cfg.webBase}/login/oauth/access_token`,
    userinfo: {
      url: `${cfg.apiBase}/user`,
      // The public profile's email is whatever the user typed there; only /user/emails says which address is verified.
      async request({ tokens }) {
        const token = tokens.access_token;
        if (!token) throw new Error('GitHub gave no access token');
        const user = await githubGet<GitHubUser>(cfg, '/user', token);
        const emails = await githubGet<GitHubEmail[]>(cfg, '/user/emails', token);
        const primary = Array.isArray(emails) ? emails.find((e) => e.primary) : undefined;
        const person: ExternalPerson = {
          provider: 'github',
          subject: typeof user.id === 'number' || typeof user.id === 'string' ? String(user.id) : '',
          email: primary?.email ? primary.email.toLowerCase() : null,
          emailVerified: primary?.verified === true,
          name: user.name || user.login || '',
          groups: null,
        };
        return { id: person.subject, login: user.login, name: person.name, email: person.email ?? undefined, berth: person } as Claims;
      },
    },
    checks: ['pkce', 'state'],
    profile(p) {
      const person = (p as unknown as BerthProfile).berth;
      return { id: person.subject, name: person.name, email: person.email };
    },
  };
}

export function externalProviders(config: ExternalConfig): OAuthConfig<Claims>[] {
  return [...(config.oidc ? [oidcProvider(config.oidc)] : []), ...(config.github ? [githubProvider(config.github)] : [])];
}

/** The person from the raw profile of either provider. */
export function personFromProfile(providerId: string, profile: unknown, config: ExternalConfig): ExternalPerson | null {
  if (providerId === 'oidc' && config.oidc) return personFromClaims((profile ?? {}) as Claims, config.oidc);
  if (providerId === 'github' && config.github) return (profile as BerthProfile | undefined)?.berth ?? null;
  return null;
}
