// Two control-plane processes behind one address, as one: real PostgreSQL and Redis
// (Debian's packages, started here on loopback ports, removed afterwards), two
// server/main.ts processes on them, an agent that reaches them through a small TCP
// front standing in for the reverse proxy (it takes the first process that accepts).
// The agent is connected to process A; Chromium on process B lists the host, pulls an
// image and runs a container, follows its log and types in its terminal — every command,
// log batch and keystroke crossing from B to A and back, and an image archive saved and
// loaded again through B. A session revoked on A drops
// B's sockets at once. Then A is killed: the agent reconnects through the front to B,
// and the page carries on (the log resumes after the last line it showed, none lost or
// repeated; a new terminal works).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer, type Server, type Socket as NetSocket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { io as ioClient } from 'socket.io-client';
import { cgroupParentFor } from '../../agent/engine/index';
import { hashPassword } from '../../server/auth/password';
import { DEFAULT_TEAM } from '../../server/db/seed';
import { pushBusyboxImage } from '../fixtures/busybox-image';
import { freePort } from '../fixtures/free-port';
import { startPostgres, type Postgres } from '../fixtures/postgres';
import { mountsUnder, removeCgroupParent } from '../fixtures/processes';
import { startRedis, type Redis } from '../fixtures/redis';
import { startRegistry } from '../fixtures/registry';
import { signedInPage } from './support/pages';
import { ensureNextBuild, eventually, removeDir, signIn, spawnTsx, startControlPlane, trpc, type Child, type ControlPlane } from '../integration/support/control-plane';

const OWNER = { name: 'Olga Owner', email: 'owner@example.test', password: 'owner-pass-1' };
const OPERATOR = { email: 'operator@example.test', password: 'operator-pass-1' };
const TICKER = `sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'`;
const NAME = `scale-ticker-${process.pid}`;

/** The reverse proxy's stand-in: each connection goes to the first backend that accepts it. */
class FailoverFront {
  readonly server: Server;
  readonly picks: number[] = [];
  private readonly sockets = new Set<NetSocket>();
  port = 0;

  constructor(private readonly backends: number[]) {
    this.server = createServer((client) => this.accept(client));
  }

  async listen(): Promise<void> {
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  private accept(client: NetSocket, from = 0): void {
    if (from >= this.backends.length) return void client.destroy();
    this.sockets.add(client);
    client.pause();
    const upstream = connect(this.backends[from], '127.0.0.1');
    let connected = false;
    upstream.once('error', () => {
      if (!connected) this.accept(client, from + 1);
    });
    upstream.once('connect', () => {
      connected = true;
      this.picks.push(this.backends[from]);
      this.sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => (client.destroy(), this.sockets.delete(upstream)));
      client.on('close', () => (upstream.destroy(), this.sockets.delete(client)));
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function dockerApi(socketPath: string, method: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path: p, timeout: 30_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function latestTick(socketPath: string, id: string): Promise<number> {
  const res = await dockerApi(socketPath, 'GET', `/containers/${id}/logs?stdout=1&stderr=1&tail=5`);
  const ticks = [...res.body.matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(res.status === 200 && ticks.length, `GET logs: ${res.status} ${JSON.stringify(res.body.slice(0, 200))}`);
  return Math.max(...ticks);
}

async function logLines(page: Page): Promise<Array<{ seq: number; text: string }>> {
  return page.getByTestId('log-line').evaluateAll((els) => els.map((el) => ({ seq: Number(el.getAttribute('data-seq')), text: (el.textContent ?? '').trim() })));
}

async function showsTick(page: Page, n: number): Promise<void> {
  await page.waitForFunction((k) => [...document.querySelectorAll('[data-testid=log-line]')].some((el) => el.textContent?.trim() === `tick ${k}`), n, { timeout: 120_000 });
}

/** Every line once, in order: seqs strictly increasing, tick numbers consecutive. */
function assertUnbroken(lines: Array<{ seq: number; text: string }>): void {
  assert.ok(lines.length > 1, 'some lines');
  for (let i = 1; i < lines.length; i++) {
    assert.ok(lines[i].seq > lines[i - 1].seq, `seq ${lines[i].seq} after ${lines[i - 1].seq}`);
    assert.equal(lines[i].text, `tick ${Number(lines[i - 1].text.slice(5)) + 1}`, `the line after ${lines[i - 1].text}`);
  }
}

async function screen(page: Page): Promise<string[]> {
  return page.locator('[data-testid=terminal] .xterm-rows > div').evaluateAll((rows) => rows.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()));
}

async function waitScreen(page: Page, ok: (rows: string[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let rows: string[] = [];
  while (Date.now() < deadline) {
    rows = await screen(page);
    if (ok(rows)) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`${what}: not on the terminal; it shows:\n${rows.filter(Boolean).join('\n')}`);
}

const atPrompt = (rows: string[]) => /[#$] ?$/.test(rows.filter((r) => r.trim()).at(-1) ?? '');

async function connectTerminal(page: Page): Promise<void> {
  await page.getByTestId('terminal-connect').click();
  await page.locator('[data-testid=terminal-status][data-phase=open]').waitFor();
  await waitScreen(page, atPrompt, 'the first prompt');
}

async function typeLine(page: Page, line: string): Promise<void> {
  await page.locator('[data-testid=terminal]').click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

describe('two control-plane processes on one PostgreSQL and one Redis', { timeout: 20 * 60_000 }, () => {
  const STEP = { timeout: 4 * 60_000 };
  let postgres: Postgres;
  let redis: Redis;
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let a: ControlPlane;
  let b: ControlPlane;
  let front: FailoverFront;
  let agent: Child | undefined;
  let browser: Browser;
  let page: Page;
  let tmp: string;
  let agentRoot: string;
  let dockerSocket: string;
  let hostId: string;
  let image: string;
  let containerId = '';
  const problems: string[] = [];

  before(async () => {
    ensureNextBuild();
    registry = await startRegistry();
    image = (await pushBusyboxImage(registry.url, 'scale/busybox', 'v1')).ref;
    postgres = await startPostgres();
    redis = await startRedis();
    tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-scale-'));
    agentRoot = path.join(tmp, 'agent');
    dockerSocket = path.join(tmp, 'docker.sock');
    // What replicas share: the database, Redis and the session secret.
    const env = { DATABASE_URL: postgres.url, REDIS_URL: redis.url, NEXTAUTH_SECRET: randomBytes(32).toString('base64url') };
    // Started together, as replicas often are (both migrate and seed the one database).
    const started = await Promise.allSettled([startControlPlane(undefined, { env }), startControlPlane(undefined, { env })]);
    if (started[0].status === 'fulfilled') a = started[0].value;
    if (started[1].status === 'fulfilled') b = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    front = new FailoverFront([a.port, b.port]);
    await front.listen();
    await trpc(b.url).auth.setup.mutate(OWNER);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    try {
      await browser?.close();
      if (containerId) await dockerApi(dockerSocket, 'DELETE', `/containers/${containerId}?force=true`).catch((err: Error) => console.error(`cleanup: ${err.message}`));
      await agent?.kill('SIGTERM');
    } finally {
      await a?.stop();
      await b?.stop();
      await front?.close();
      await redis?.stop();
      await postgres?.stop();
      await registry?.stop();
      for (const cp of [a, b]) if (cp) removeDir(cp.dataDir);
      if (agentRoot) {
        try {
          removeCgroupParent(cgroupParentFor(agentRoot));
        } catch (err) {
          console.error(`cleanup: ${(err as Error).message}`);
        }
      }
      if (tmp) {
        const left = mountsUnder(tmp);
        if (!left.length) removeDir(tmp);
        else console.error(`mounts left under ${tmp}, not deleting it:\n${left.join('\n')}`);
      }
    }
  });

  test('the agent enrols and connects through the front to process A; a browser on process B lists it online', STEP, async (t) => {
    // The join token is made on B, redeemed on A: one database.
    const owner = trpc(b.url, await signIn(b.url, OWNER.email, OWNER.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'scale-host' });
    const server = `http://localhost:${front.port}`;
    agent = spawnTsx(['agent/main.ts', '--root', agentRoot, '--docker-socket', dockerSocket, '--server', server, '--token', token], {}, 'agent');
    hostId = /as host (\S+)/.exec(await agent.waitFor(/connected to .* as host \S+/, 60_000))![1];
    assert.ok(front.picks.length > 0 && front.picks.every((p) => p === a.port), `every connection so far went to A (${a.port}): ${front.picks.join(', ')}`);

    page = await signedInPage(browser, b.url, OWNER, { problems, timeoutMs: 60_000 });
    const row = page.locator('[data-testid=host-row]', { has: page.locator('[data-testid=host-status][data-state=online]') });
    await row.first().waitFor();
    assert.equal(await row.count(), 1, 'one host, online');
    const cells = await row.first().locator('td').allTextContents();
    assert.ok(cells.includes(os.hostname()), `the host's facts from A's snapshot reach B: ${JSON.stringify(cells)}`);
    t.diagnostic(`agent on A (port ${a.port}), browser on B (port ${b.port}); host row: ${cells.join(' | ')}`);
  });

  test('from B: pull, run, follow the log, type in a terminal — all through A to the agent', STEP, async (t) => {
    await page.goto(`${b.url}/hosts/${hostId}`);
    await page.getByTestId('host-status').and(page.locator('[data-state=online]')).waitFor();
    await page.getByLabel('Image reference', { exact: true }).fill(image);
    await page.getByRole('button', { name: 'Pull', exact: true }).click();
    await page.getByTestId('pull-result').waitFor();
    assert.equal(await page.getByTestId('pull-error').count(), 0);
    await page.locator('[data-testid=image-row]', { hasText: image }).waitFor();

    // An image archive streamed through B from the agent on A, and loaded back the same way.
    const cookie = await signIn(b.url, OWNER.email, OWNER.password);
    const saved = await fetch(`${b.url}/api/images/save?hostId=${hostId}&ref=${encodeURIComponent(image)}`, { headers: { cookie: cookie! } });
    assert.equal(saved.status, 200, await saved.clone().text().catch(() => ''));
    assert.equal(saved.headers.get('content-type'), 'application/x-tar');
    const archive = Buffer.from(await saved.arrayBuffer());
    assert.ok(archive.includes(Buffer.from('manifest.json')), `a docker-archive (${archive.length} bytes) with its manifest.json`);
    const loaded = await fetch(`${b.url}/api/images/load?hostId=${hostId}`, { method: 'POST', headers: { cookie: cookie!, 'content-type': 'application/x-tar' }, body: archive });
    const body = (await loaded.json()) as { images?: Array<{ id: string; tags: string[] }>; error?: string };
    assert.equal(loaded.status, 200, JSON.stringify(body));
    assert.ok(body.images?.some((i) => i.tags.includes(image)), `the archive loads back as ${image}: ${JSON.stringify(body)}`);
    t.diagnostic(`saved ${archive.length} bytes through B and loaded them back: ${JSON.stringify(body.images)}`);

    await page.getByLabel('Image', { exact: true }).fill(image);
    await page.getByLabel('Command', { exact: true }).fill(TICKER);
    await page.getByLabel('Name', { exact: true }).fill(NAME);
    await page.getByRole('button', { name: 'Run', exact: true }).click();
    await page.getByTestId('run-result').waitFor();
    // The running state comes as a live update: the agent's snapshot on A, relayed through Redis, the 'host' view built on B.
    const row = page.locator(`[data-testid=container-row][data-container-name="${NAME}"]`);
    await row.locator('[data-testid=container-state][data-state=running]').waitFor();
    await row.getByRole('link', { name: NAME }).click();
    await page.waitForURL(/\/containers\/[0-9a-f]{64}$/);
    containerId = /\/containers\/([0-9a-f]{64})$/.exec(page.url())![1];

    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length >= 3);
    await showsTick(page, (await latestTick(dockerSocket, containerId)) + 1);
    assertUnbroken(await logLines(page));

    await page.getByTestId('tab-terminal').click();
    await page.locator('[data-testid=terminal] .xterm-rows').waitFor();
    await connectTerminal(page);
    await typeLine(page, 'echo through-$((40+2))');
    await waitScreen(page, (rows) => rows.includes('through-42'), 'through-42');
    t.diagnostic(`container ${containerId.slice(0, 12)} run from B on the agent held by A; log and terminal relayed`);
  });

  test('a session revoked on A drops its sockets on B at once; a role lowered on A does too', STEP, async () => {
    const pool = new pg.Pool({ connectionString: postgres.url });
    try {
      const team = await pool.query('SELECT id FROM "Team" WHERE name = $1', [DEFAULT_TEAM]);
      const userId = randomUUID();
      await pool.query('INSERT INTO "User" (id, email, name, "passwordHash") VALUES ($1, $2, $3, $4)', [userId, OPERATOR.email, 'Otto Operator', await hashPassword(OPERATOR.password)]);
      await pool.query('INSERT INTO "Membership" (id, "userId", "teamId", role) VALUES ($1, $2, $3, $4)', [randomUUID(), userId, team.rows[0].id, 'operator']);
      const owner = trpc(a.url, await signIn(a.url, OWNER.email, OWNER.password));

      const openOnB = async (cookie: string) => {
        const s = ioClient(`${b.url}/ui`, { transports: ['websocket'], extraHeaders: { cookie, origin: b.url }, reconnection: false });
        await new Promise<void>((resolve, reject) => {
          s.once('connect', () => resolve());
          s.once('connect_error', reject);
        });
        const watched = await s.timeout(10_000).emitWithAck('host:watch', hostId);
        assert.deepEqual(watched, { ok: true });
        return s;
      };
      const dropped = (s: ReturnType<typeof ioClient>) => new Promise<string>((resolve) => s.once('disconnect', (reason) => resolve(reason)));

      // Signing out everywhere through A.
      const cookie1 = (await signIn(a.url, OPERATOR.email, OPERATOR.password))!;
      const s1 = await openOnB(cookie1);
      const gone1 = dropped(s1);
      await trpc(a.url, cookie1).account.signOutEverywhere.mutate();
      assert.equal(await gone1, 'io server disconnect', "B's socket was dropped by the server");

      // A role lowered through A.
      const cookie2 = (await signIn(a.url, OPERATOR.email, OPERATOR.password))!;
      const s2 = await openOnB(cookie2);
      const gone2 = dropped(s2);
      await owner.team.setRole.mutate({ teamId: team.rows[0].id, userId, role: 'viewer' });
      assert.equal(await gone2, 'io server disconnect');
    } finally {
      await pool.end();
    }
  });

  test('process A is killed: the agent reconnects to B and the page carries on', STEP, async (t) => {
    await page.goto(`${b.url}/hosts/${hostId}/containers/${containerId}`);
    await page.locator('[data-testid=container-state][data-state=running]').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-line]').length >= 3);
    await showsTick(page, (await latestTick(dockerSocket, containerId)) + 1);
    const before = await logLines(page);
    const picksBefore = front.picks.length;

    const connects = () => agent!.lines.filter((l) => l.includes(`as host ${hostId}`)).length;
    const connectsBefore = connects();
    await a.child.kill('SIGKILL');
    await eventually('the agent connected again', () => connects() > connectsBefore, 90_000).catch((err: Error) => {
      throw new Error(`${err.message}; the agent said:\n${agent!.lines.slice(-15).join('\n')}`);
    });
    assert.ok(front.picks.slice(picksBefore).includes(b.port), `the agent's new connection went to B (${b.port}): ${front.picks.slice(picksBefore).join(', ')}`);

    // The log goes on after the last line shown: a line printed after the failover appears, and the whole is unbroken.
    await showsTick(page, (await latestTick(dockerSocket, containerId)) + 1);
    const after = await logLines(page);
    assert.deepEqual(after.slice(0, before.length), before, 'what was shown stays');
    assertUnbroken(after);
    t.diagnostic(`log: ${before.length} lines before A died, ${after.length} after, unbroken (${after[0].text} … ${after.at(-1)!.text})`);

    // The host is online on B's pages, and a new terminal works through B.
    await page.getByTestId('tab-terminal').click();
    await page.locator('[data-testid=terminal] .xterm-rows').waitFor();
    await connectTerminal(page);
    await typeLine(page, 'echo after-$((6*7))');
    await waitScreen(page, (rows) => rows.includes('after-42'), 'after-42');

    await page.goto(`${b.url}/`);
    const row = page.locator('[data-testid=host-row]', { has: page.locator('[data-testid=host-status][data-state=online]') });
    await row.first().waitFor();
    assert.deepEqual(problems, [], 'no page broke the Content-Security-Policy or threw');
  });
});
