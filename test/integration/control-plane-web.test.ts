// The control plane's web surface over real HTTP: security headers on every kind of
// answer, the static files in public/, tRPC mutations refused from a foreign Origin,
// and the sign-in back-off per account and per client address (X-Forwarded-For only
// when BERTH_TRUST_PROXY says a proxy writes it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { codeOf, ensureNextBuild, removeDir, signIn, signInAttempt, spawnTsx, startControlPlane, trpc, type ControlPlane } from './support/control-plane';
import { createTRPCClient, httpLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '../../server/trpc/router';

const ADMIN = { email: 'admin@example.test', name: 'Ada Admin', password: 'admin-pass-1' };
const EVIL = 'http://evil.example';

function trpcFrom(url: string, origin: string, cookie?: string | null) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/api/trpc`, transformer: superjson, headers: () => ({ origin, ...(cookie ? { cookie } : {}) }) })],
  });
}

function sqlite3(cp: ControlPlane, sql: string): string {
  return execFileSync('sqlite3', [path.join(cp.dataDir, 'berth.db'), sql], { encoding: 'utf8', timeout: 30_000 }).trim();
}

function assertSecurityHeaders(res: Response, what: string): string {
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', what);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /(^|; )frame-ancestors 'none'(;|$)/, `${what}: ${csp}`);
  return csp;
}

describe('control plane web surface', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let adminCookie: string;

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
  });

  after(async () => {
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  test('a page on another site cannot set up the first account of a fresh install', async () => {
    await assert.rejects(trpcFrom(cp.url, EVIL).auth.setup.mutate(ADMIN), (err: unknown) => {
      assert.equal(codeOf(err), 'FORBIDDEN');
      assert.match((err as Error).message, /another site/);
      return true;
    });
    assert.equal((await trpc(cp.url).auth.status.query()).needsSetup, true);
    // The server's own pages send their own origin.
    assert.deepEqual(await trpcFrom(cp.url, cp.url).auth.setup.mutate(ADMIN), { ok: true });
    adminCookie = (await signIn(cp.url, ADMIN.email, ADMIN.password))!;
    assert.ok(adminCookie);
  });

  test('a mutation with the user\'s cookie from a foreign Origin is refused and changes nothing; reads and same-origin mutations work', async () => {
    for (const origin of [EVIL, 'null', `http://localhost:${cp.port + 1}`]) {
      await assert.rejects(trpcFrom(cp.url, origin, adminCookie).hosts.createJoinToken.mutate({ name: `from ${origin}` }), (err: unknown) => codeOf(err) === 'FORBIDDEN', origin);
    }
    assert.equal(sqlite3(cp, `SELECT count(*) FROM "JoinToken"`), '0');
    assert.deepEqual(await trpcFrom(cp.url, EVIL, adminCookie).hosts.list.query(), [], 'a query answers (another origin cannot read the answer anyway)');
    const made = await trpcFrom(cp.url, cp.url, adminCookie).hosts.createJoinToken.mutate({ name: 'same-origin' });
    assert.match(made.token, /^bjt_/);
  });

  test('every kind of answer carries the security headers; pages get a fresh script nonce that their scripts carry', async () => {
    const pages = await Promise.all(['/login', '/login'].map((p) => fetch(cp.url + p)));
    const nonces: string[] = [];
    for (const res of pages) {
      const csp = assertSecurityHeaders(res, 'page');
      const script = /(?:^|; )script-src ([^;]+)/.exec(csp)?.[1] ?? '';
      assert.doesNotMatch(script, /unsafe-inline|unsafe-eval/, csp);
      const nonce = /'nonce-([^']+)'/.exec(script)?.[1];
      assert.ok(nonce, csp);
      nonces.push(nonce);
      const html = await res.text();
      const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
      assert.ok(scripts.length > 0);
      for (const tag of scripts) assert.ok(tag.includes(`nonce="${nonce}"`), `script without this response's nonce: ${tag}`);
    }
    assert.notEqual(nonces[0], nonces[1], 'a new nonce per request');

    // A client cannot choose the nonce by sending a CSP header of its own.
    const forged = await fetch(cp.url + '/login', { headers: { 'content-security-policy': "script-src 'nonce-chosenbyattacker'" } });
    assert.ok(!(await forged.text()).includes('chosenbyattacker'));

    const html = await (await fetch(cp.url + '/login')).text();
    const chunk = /src="(\/_next\/static\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(chunk, 'a static chunk in the page');
    for (const p of ['/api/trpc/auth.status', '/api/auth/csrf', chunk, '/no-such-page', '/robots.txt', '/icon.svg', '/manifest.webmanifest', '/socket.io/?EIO=4&transport=polling']) {
      const res = await fetch(cp.url + p);
      await res.arrayBuffer();
      assertSecurityHeaders(res, p);
    }
    const api = await fetch(cp.url + '/api/trpc/auth.status');
    assert.equal(api.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
  });

  test('public/ serves the icon, a robots.txt that keeps crawlers out, and a web manifest', async () => {
    const robots = await fetch(cp.url + '/robots.txt');
    assert.equal(robots.status, 200);
    assert.match(await robots.text(), /^User-agent: \*\nDisallow: \/$/m);
    const icon = await fetch(cp.url + '/icon.svg');
    assert.equal(icon.headers.get('content-type')?.split(';')[0], 'image/svg+xml');
    assert.match(await icon.text(), /^<svg /);
    const manifest = (await (await fetch(cp.url + '/manifest.webmanifest')).json()) as { name: string; start_url: string; icons: Array<{ src: string }> };
    assert.equal(manifest.name, 'Berth');
    assert.equal(manifest.start_url, '/');
    assert.equal((await fetch(cp.url + manifest.icons[0].src)).status, 200, 'the manifest\'s icon exists');
    const page = await (await fetch(cp.url + '/login')).text();
    assert.match(page, /<link rel="icon" href="\/icon.svg" type="image\/svg\+xml"/);
    assert.match(page, /<link rel="manifest" href="\/manifest.webmanifest"/);
    assert.match(page, /<meta name="robots" content="noindex, nofollow"/);
  });

  test('five wrong passwords make the account wait, the right one included; the team\'s audit log shows it all', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await signInAttempt(cp.url, ADMIN.email, `wrong-${i}`)).error, 'CredentialsSignin');
    const held = await signInAttempt(cp.url, ADMIN.email, ADMIN.password);
    assert.equal(held.cookie, null);
    assert.match(held.error ?? '', /^Too many failed sign-ins\. Try again in \d+ s\.$/);

    const audit = (await trpc(cp.url, adminCookie).audit.list.query()).filter((a) => a.action === 'auth.signin');
    const results = audit.map((a) => a.result).reverse();
    assert.deepEqual(results, ['ok', ...Array(5).fill('error: wrong password'), 'error: throttled: too many failed sign-ins for this account; refused for 1 s']);
    assert.ok(audit.every((a) => a.userEmail === ADMIN.email && a.target === `${ADMIN.email} from 127.0.0.1`), JSON.stringify(audit));
  });

  test('X-Forwarded-For is not trusted by default: twenty failures from one socket address make it wait, whatever the header says', async () => {
    // The five wrong passwords of the test above came from this address too.
    for (let i = 0; i < 15; i++) {
      const r = await signInAttempt(cp.url, `stranger-${i}@example.test`, 'guess', { 'x-forwarded-for': `203.0.113.${i}` });
      assert.equal(r.error, 'CredentialsSignin', `attempt ${i + 1}`);
    }
    const held = await signInAttempt(cp.url, 'stranger-99@example.test', 'guess', { 'x-forwarded-for': '203.0.113.99' });
    assert.match(held.error ?? '', /^Too many failed sign-ins/);
    // Attempts on emails nobody has belong to no team: in the table, on no team's page.
    assert.equal(sqlite3(cp, `SELECT count(*) FROM "AuditLog" WHERE action = 'auth.signin' AND "teamId" IS NULL AND target LIKE 'stranger-%from 127.0.0.1'`), '16');
    assert.match(sqlite3(cp, `SELECT result FROM "AuditLog" WHERE target LIKE 'stranger-99@%'`), /throttled: too many failed sign-ins for this address/);
    assert.ok(!(await trpc(cp.url, adminCookie).audit.list.query()).some((a) => a.target?.startsWith('stranger-')));
  });
});

describe('behind a trusted proxy', { timeout: 300_000 }, () => {
  let cp: ControlPlane;

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane(undefined, { env: { BERTH_TRUST_PROXY: '1' } });
  });

  after(async () => {
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  test('BERTH_TRUST_PROXY=1: the address the proxy appended counts, not what the client wrote before it', async () => {
    for (let i = 0; i < 25; i++) {
      const r = await signInAttempt(cp.url, `stranger-${i}@example.test`, 'guess', { 'x-forwarded-for': `198.51.100.1, 203.0.113.${i}` });
      assert.equal(r.error, 'CredentialsSignin', `attempt ${i + 1} from its own address`);
    }
    assert.equal(sqlite3(cp, `SELECT target FROM "AuditLog" WHERE target LIKE 'stranger-7@%'`), 'stranger-7@example.test from 203.0.113.7');
  });

  test('a BERTH_TRUST_PROXY that is not a number stops the server at start, naming the setting', async () => {
    const child = spawnTsx(['server/main.ts'], { PORT: '0', BERTH_DATA_DIR: cp.dataDir, BERTH_TRUST_PROXY: 'yes' }, 'bad-config');
    assert.equal(await child.exited, 1);
    assert.ok(child.lines.some((l) => /BERTH_TRUST_PROXY must be the number of proxies/.test(l)), child.lines.join('\n'));
  });
});
