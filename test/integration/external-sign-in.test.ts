// Sign-in with OpenID Connect and GitHub through a real control plane, over HTTP as a
// browser makes it (csrf, signin, the provider's authorize redirect, the callback), against
// a real OIDC provider and a fake GitHub on loopback: first sign-in makes the user (linked
// by the provider's subject) in the team the groups claim maps to; the next reuses it; a
// verified email links an existing password account; forged ID tokens (audience, signature,
// expiry, nonce, issuer) and unverified emails are refused and audited; the sessions are the
// revocable ones; a malformed team map stops the server at start.
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { startFakeGitHub, type FakeGitHub } from '../fixtures/fake-github';
import { startOidcProvider, type Forgery, type OidcProvider } from '../fixtures/oidc-provider';
import { codeOf, ensureNextBuild, removeDir, signIn, spawnTsx, startControlPlane, trpc, type ControlPlane } from './support/control-plane';

const OWNER = { email: 'olive@example.test', name: 'Olive Owner', password: 'owner-pass-1' };

/** The cookies a browser would hold, by name. */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (!value || /expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get session(): string | null {
    const v = this.cookies.get('next-auth.session-token');
    return v ? `next-auth.session-token=${v}` : null;
  }
}

interface Attempt {
  /** The session cookie, or null. */
  cookie: string | null;
  /** Where the callback sent the browser. */
  landed: URL;
  error: string | null;
}

/** The whole redirect dance of an outside sign-in, as the login page's button starts it. */
async function externalSignIn(cpUrl: string, provider: 'oidc' | 'github'): Promise<Attempt> {
  const jar = new Jar();
  const csrf = await fetch(`${cpUrl}/api/auth/csrf`);
  jar.take(csrf);
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const start = await fetch(`${cpUrl}/api/auth/signin/${provider}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
    body: new URLSearchParams({ csrfToken, callbackUrl: `${cpUrl}/`, json: 'true' }),
  });
  jar.take(start);
  const { url: authorize } = (await start.json()) as { url: string };
  assert.ok(!authorize.startsWith(cpUrl), `signin did not send the browser to the provider: ${authorize}`);
  const consent = await fetch(authorize, { redirect: 'manual' });
  assert.equal(consent.status, 302, `the provider refused the authorization request: ${await consent.text()}`);
  const callback = consent.headers.get('location')!;
  assert.ok(callback.startsWith(`${cpUrl}/api/auth/callback/${provider}?`), callback);
  const done = await fetch(callback, { redirect: 'manual', headers: { cookie: jar.header() } });
  jar.take(done);
  let landed = new URL(done.headers.get('location') ?? '/', cpUrl);
  // next-auth's own error route hands on to the login page, as the browser would follow.
  for (let hop = 0; hop < 3 && landed.pathname.startsWith('/api/auth/'); hop++) {
    const next = await fetch(landed, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(next);
    landed = new URL(next.headers.get('location') ?? '/', cpUrl);
  }
  return { cookie: jar.session, landed, error: landed.searchParams.get('error') };
}

describe('sign-in with OpenID Connect and GitHub', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let idp: OidcProvider;
  let gh: FakeGitHub;
  let ownerCookie: string;
  let opsTeamId: string;

  const sql = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(cp.dataDir, 'berth.db'));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  type Row = { userId: string | null; teamId: string | null; target: string; result: string };
  const signInRows = (like: string): Row[] => sql((db) => db.prepare(`SELECT userId, teamId, target, result FROM "AuditLog" WHERE action = 'auth.signin' AND target LIKE ? ORDER BY createdAt`).all(like) as Row[]);

  before(async () => {
    ensureNextBuild();
    idp = await startOidcProvider();
    gh = await startFakeGitHub({ id: 4242, login: 'octo', name: 'Octo Cat', email: 'public@typed.test', emails: [{ email: 'octo@github.test', primary: true, verified: true }, { email: 'other@github.test', primary: false, verified: true }] });
    cp = await startControlPlane(undefined, {
      env: {
        BERTH_OIDC_ISSUER: idp.issuer,
        BERTH_OIDC_CLIENT_ID: idp.clientId,
        BERTH_OIDC_CLIENT_SECRET: idp.clientSecret,
        BERTH_OIDC_NAME: 'Test IdP',
        BERTH_OIDC_SCOPES: 'openid email profile groups',
        BERTH_OIDC_TEAMS_CLAIM: 'groups',
        BERTH_OIDC_TEAM_MAP: 'ops:Operations=operator,ops-leads:Operations=admin,docs:Nowhere=viewer',
        BERTH_GITHUB_CLIENT_ID: gh.clientId,
        BERTH_GITHUB_CLIENT_SECRET: gh.clientSecret,
        BERTH_GITHUB_TEST_URL: gh.url,
      },
    });
    assert.deepEqual(await trpc(cp.url).auth.setup.mutate(OWNER), { ok: true });
    ownerCookie = (await signIn(cp.url, OWNER.email, OWNER.password))!;
    opsTeamId = (await trpc(cp.url, ownerCookie).team.create.mutate({ name: 'Operations' })).id;
  });

  after(async () => {
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
    await idp?.close();
    await gh?.close();
  });

  test('the providers next-auth offers are the configured ones', async () => {
    const providers = (await (await fetch(`${cp.url}/api/auth/providers`)).json()) as Record<string, { name: string; type: string }>;
    assert.deepEqual(Object.entries(providers).map(([id, p]) => [id, p.name, p.type]), [
      ['credentials', 'Email', 'credentials'],
      ['oidc', 'Test IdP', 'oauth'],
      ['github', 'GitHub', 'oauth'],
    ]);
  });

  let aliceId: string;

  test('first OIDC sign-in: discovery, PKCE, state and nonce; a new user in the mapped team with the mapped role', async () => {
    idp.person = { sub: 'alice-sub-1', email: 'Alice@IdP.test', email_verified: true, name: 'Alice Ops', groups: ['ops', 'docs', 'unmapped'] };
    const a = await externalSignIn(cp.url, 'oidc');
    assert.equal(a.error, null, `refused: ${a.landed}`);
    assert.ok(a.cookie, 'no session cookie');
    assert.equal(a.landed.pathname, '/');
    const q = idp.authorizations.at(-1)!;
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.ok(q.get('state') && q.get('nonce'), 'state and nonce are sent');
    assert.equal(q.get('scope'), 'openid email profile groups');
    assert.ok(idp.requests.includes('GET /.well-known/openid-configuration') && idp.requests.includes('GET /jwks') && idp.requests.includes('POST /token'));

    const me = await trpc(cp.url, a.cookie).account.me.query();
    aliceId = me.id;
    assert.equal(me.email, 'alice@idp.test');
    assert.equal(me.name, 'Alice Ops');
    assert.equal(me.hasPassword, false);
    assert.deepEqual(me.identities, [{ provider: 'oidc', name: 'Test IdP', email: 'alice@idp.test' }]);
    assert.deepEqual(me.teams.map((t) => [t.name, t.role]), [['Operations', 'operator']]);
    const status = await trpc(cp.url, a.cookie).auth.status.query();
    assert.equal(status.role, 'operator');

    const identity = sql((db) => db.prepare(`SELECT provider, subject, userId FROM "Identity" WHERE userId = ?`).all(aliceId));
    assert.deepEqual(identity, [{ provider: 'oidc', subject: 'alice-sub-1', userId: aliceId }]);
    const rows = signInRows('alice@idp.test via Test IdP%');
    assert.equal(rows.length, 1);
    assert.equal(rows[0].result, 'ok');
    assert.equal(rows[0].teamId, opsTeamId);
    assert.equal(rows[0].userId, aliceId);
    assert.match(rows[0].target, /; new account; joined Operations as operator; mapped teams missing in Berth: Nowhere$/);
  });

  test('the next sign-in of the same subject is the same user, even with another email; the team is not added twice', async () => {
    idp.person = { ...idp.person, email: 'alice.renamed@idp.test', groups: ['ops'] };
    const a = await externalSignIn(cp.url, 'oidc');
    assert.ok(a.cookie, `refused: ${a.landed}`);
    const me = await trpc(cp.url, a.cookie).account.me.query();
    assert.equal(me.id, aliceId);
    assert.equal(me.email, 'alice@idp.test', 'the account keeps its email; the identity remembers the new one');
    assert.equal(me.identities[0].email, 'alice.renamed@idp.test');
    assert.equal(me.teams.length, 1);
    assert.equal(sql((db) => (db.prepare(`SELECT count(*) AS n FROM "User" WHERE email LIKE 'alice%'`).get() as { n: number }).n), 1);
  });

  test('OIDC sessions are the revocable ones: sign out everywhere ends them at once', async () => {
    idp.person = { ...idp.person, groups: ['ops'] };
    const one = (await externalSignIn(cp.url, 'oidc')).cookie!;
    const two = (await externalSignIn(cp.url, 'oidc')).cookie!;
    assert.equal((await trpc(cp.url, two).auth.status.query()).signedIn, true);
    const { ended } = await trpc(cp.url, one).account.signOutEverywhere.mutate();
    assert.ok(ended >= 2, `ended ${ended}`);
    assert.equal((await trpc(cp.url, one).auth.status.query()).signedIn, false);
    assert.equal((await trpc(cp.url, two).auth.status.query()).signedIn, false);
  });

  test("an admin's removal ends an OIDC user's access at once; while the group still maps, the next sign-in adds the team back", async () => {
    idp.person = { ...idp.person, groups: ['ops'] };
    const cookie = (await externalSignIn(cp.url, 'oidc')).cookie!;
    assert.equal((await trpc(cp.url, cookie).auth.status.query()).role, 'operator');
    await trpc(cp.url, ownerCookie).team.removeMember.mutate({ teamId: opsTeamId, userId: aliceId });
    assert.equal((await trpc(cp.url, cookie).auth.status.query()).role, null, 'the same session, no team any more');
    assert.deepEqual((await trpc(cp.url, cookie).account.me.query()).teams, []);
    await assert.rejects(trpc(cp.url, cookie).team.members.query({ teamId: opsTeamId }), (err: unknown) => codeOf(err) === 'NOT_FOUND');
    const again = (await externalSignIn(cp.url, 'oidc')).cookie!;
    assert.equal((await trpc(cp.url, again).auth.status.query()).role, 'operator');
    assert.match(signInRows('alice@idp.test via Test IdP%').at(-1)!.target, /; joined Operations as operator$/);
  });

  test('an account without a password: no password sign-in, no password change, no admin reset', async () => {
    const cookie = (await externalSignIn(cp.url, 'oidc')).cookie!;
    await assert.rejects(trpc(cp.url, cookie).account.changePassword.mutate({ current: '', next: 'a-new-password' }), (err: unknown) => {
      assert.equal(codeOf(err), 'BAD_REQUEST');
      assert.match((err as Error).message, /this account has no password: it signs in with OpenID Connect or GitHub/);
      return true;
    });
    assert.equal(await signIn(cp.url, 'alice@idp.test', ''), null);
    assert.equal(await signIn(cp.url, 'alice@idp.test', 'anything-at-all'), null);
    assert.equal(signInRows('alice@idp.test from %').at(-1)?.result, 'error: this account has no password (it signs in with OpenID Connect or GitHub)');
    await assert.rejects(trpc(cp.url, ownerCookie).team.resetPassword.mutate({ teamId: opsTeamId, userId: aliceId }), /this member has no password/);
  });

  for (const [forgery, what, reason] of [
    ['wrong-audience', 'another client as its audience', /^error: aud mismatch, expected berth-test-client, got: some-other-client$/],
    ['bad-signature', 'a signature by another key', /^error: failed to validate JWT signature$/],
    ['expired', 'an expiry in the past', /^error: JWT expired, now \d+, exp \d+$/],
    ['wrong-nonce', "another browser's nonce", /^error: nonce mismatch, expected \S+, got: not-the-nonce$/],
    ['wrong-issuer', 'another issuer', /^error: unexpected iss value, expected http:\/\/127\.0\.0\.1:\d+, got: http:\/\/127\.0\.0\.1:1\/not-the-issuer$/],
  ] as Array<[Forgery, string, RegExp]>) {
    test(`an ID token with ${what} is refused: no session, the login page's error, an audit row`, async () => {
      const before = signInRows('(identity not verified) via Test IdP%').length;
      idp.nextIdToken = forgery;
      const a = await externalSignIn(cp.url, 'oidc');
      assert.equal(idp.nextIdToken, null, 'the forged token was handed out');
      assert.equal(a.cookie, null);
      assert.equal(a.landed.pathname, '/login');
      assert.equal(a.error, 'OAuthCallback');
      const rows = signInRows('(identity not verified) via Test IdP%');
      assert.equal(rows.length, before + 1);
      const row = rows.at(-1)!;
      assert.match(row.result, reason);
      assert.equal(row.userId, null);
    });
  }

  test('an unverified email neither makes an account nor opens the one that has it', async () => {
    idp.person = { sub: 'mallory-sub', email: OWNER.email, email_verified: false, name: 'Mallory', groups: ['ops-leads'] };
    const a = await externalSignIn(cp.url, 'oidc');
    assert.equal(a.cookie, null);
    assert.equal(a.landed.pathname, '/login');
    assert.equal(a.error, 'BerthEmailUnverified');
    assert.equal(sql((db) => db.prepare(`SELECT count(*) AS n FROM "Identity" WHERE subject = 'mallory-sub'`).get() as { n: number }).n, 0);
    const row = signInRows(`${OWNER.email} via Test IdP%`).at(-1)!;
    assert.equal(row.result, `error: the provider does not say ${OWNER.email} is verified`);
    assert.equal(row.userId, null);

    idp.person = { sub: 'no-mail', name: 'No Mail' };
    const b = await externalSignIn(cp.url, 'oidc');
    assert.equal(b.cookie, null);
    assert.equal(b.error, 'BerthNoEmail');
  });

  test('a verified email links the password account that has it: same user, password kept', async () => {
    idp.person = { sub: 'olive-at-idp', email: OWNER.email, email_verified: true, name: 'Olive at IdP', groups: [] };
    const a = await externalSignIn(cp.url, 'oidc');
    assert.ok(a.cookie, `refused: ${a.landed}`);
    const viaIdp = await trpc(cp.url, a.cookie).account.me.query();
    const viaPassword = await trpc(cp.url, ownerCookie).account.me.query();
    assert.equal(viaIdp.id, viaPassword.id);
    assert.equal(viaIdp.hasPassword, true);
    assert.ok(await signIn(cp.url, OWNER.email, OWNER.password), 'the password still works');
    assert.match(signInRows(`${OWNER.email} via Test IdP%`).at(-1)!.target, /; linked to the account with this email$/);
  });

  test('GitHub: the callback makes a user from GitHub\'s id and primary verified email; no team mapped, so none', async () => {
    const a = await externalSignIn(cp.url, 'github');
    assert.ok(a.cookie, `refused: ${a.landed}`);
    assert.deepEqual(gh.requests.filter((r) => !r.startsWith('GET /login')), ['POST /login/oauth/access_token', 'GET /api/user', 'GET /api/user/emails']);
    const me = await trpc(cp.url, a.cookie).account.me.query();
    assert.equal(me.email, 'octo@github.test', 'the primary verified address, not the public profile\'s');
    assert.equal(me.name, 'Octo Cat');
    assert.deepEqual(me.teams, []);
    assert.equal((await trpc(cp.url, a.cookie).auth.status.query()).role, null);
    assert.deepEqual(sql((db) => db.prepare(`SELECT provider, subject FROM "Identity" WHERE userId = ?`).all(me.id)), [{ provider: 'github', subject: '4242' }]);
    const row = signInRows('octo@github.test via GitHub%').at(-1)!;
    assert.equal(row.result, 'ok');
    assert.equal(row.teamId, null);

    // The same GitHub account again: the same user.
    const again = await externalSignIn(cp.url, 'github');
    assert.equal((await trpc(cp.url, again.cookie).account.me.query()).id, me.id);

    // A new GitHub account whose primary address is unverified is refused.
    gh.account = { id: 777, login: 'newbie', name: null, email: null, emails: [{ email: 'newbie@github.test', primary: true, verified: false }] };
    const b = await externalSignIn(cp.url, 'github');
    assert.equal(b.cookie, null);
    assert.equal(b.error, 'BerthEmailUnverified');
    assert.equal(signInRows('newbie@github.test via GitHub%').at(-1)?.result, 'error: the provider does not say newbie@github.test is verified');
  });

  test('a malformed team map stops the server at start, naming the variable and the entry', async () => {
    const child = spawnTsx(['server/main.ts'], { PORT: '0', BERTH_DATA_DIR: path.join(cp.dataDir, 'never'), NEXTAUTH_URL: '', BERTH_OIDC_ISSUER: idp.issuer, BERTH_OIDC_CLIENT_ID: 'x', BERTH_OIDC_CLIENT_SECRET: 'y', BERTH_OIDC_TEAMS_CLAIM: 'groups', BERTH_OIDC_TEAM_MAP: 'ops:Operations=operator,admins:Operations:admin' }, 'bad-map');
    assert.equal(await child.exited, 1);
    assert.match(child.lines.join('\n'), /berth: cannot start: ExternalConfigError: BERTH_OIDC_TEAM_MAP: entry 2 "admins:Operations:admin": expected group:Team=role/);
  });
});
