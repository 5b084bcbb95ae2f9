// Two control-plane processes (A and B) on one PostgreSQL and one Redis, behind a failover
// front; an agent connected to A streams a counter's log to a '/ui' follower and a Chromium
// page on B (every batch crossing from A to B through Redis), while writes go on through the
// front. Then, in turn: PostgreSQL is restarted (every connection cut, down for 5 s), Redis is
// killed and started again (empty) after 10 s, longer than the processes' beats take to
// expire, and A is killed with SIGKILL. After each, the writes are acknowledged
// again, the log moves on at B and the host is online; at the end every acknowledged write is
// in the database exactly once, the follower and the page got every line once and in order,
// and there is one host record, not two.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startAgentProcess, type AgentProcess } from '../fixtures/agent-process';
import { busyboxLayer } from '../fixtures/netns';
import { startPostgres, type Postgres } from '../fixtures/postgres';
import { startRedis, type Redis } from '../fixtures/redis';
import { eventually, sleep } from '../fixtures/wait';
import { readLogLines } from '../e2e/support/log-lines';
import { signedInPage } from '../e2e/support/pages';
import { ensureNextBuild, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from '../integration/support/control-plane';
import { assertEveryLineOnce, countingCommand, LogFollower } from './support/follow';
import { FailoverFront } from './support/front';

const OWNER = { name: 'Pia Postgres', email: 'pia@example.test', password: 'pg-pass-1234' };
const IMAGE = 'faults/busybox:db';

describe('PostgreSQL restarted, Redis restarted, one of two processes killed, under load', { timeout: 8 * 60_000 }, () => {
  let postgres: Postgres;
  let redis: Redis;
  let a: ControlPlane;
  let b: ControlPlane;
  let front: FailoverFront;
  let agent: AgentProcess | undefined;
  let follower: LogFollower | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let hostId = '';
  let id = '';
  const problems: string[] = [];
  const acked: string[] = [];
  let writing = true;
  let writer: Promise<void> | undefined;
  let frontUrl = '';

  before(async () => {
    ensureNextBuild();
    postgres = await startPostgres();
    redis = await startRedis();
    const env = { DATABASE_URL: postgres.url, REDIS_URL: redis.url, NEXTAUTH_SECRET: randomBytes(32).toString('base64url') };
    a = await startControlPlane(undefined, { env });
    b = await startControlPlane(undefined, { env });
    front = new FailoverFront([a.port, b.port]);
    await front.listen();
    frontUrl = `http://localhost:${front.port}`;
    await trpc(b.url).auth.setup.mutate(OWNER);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    writing = false;
    await writer;
    follower?.close();
    await browser?.close();
    if (agent) {
      for (const c of agent.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) agent.docker(['rm', '-f', c]);
      await agent.stop();
    }
    await a?.stop();
    await b?.stop();
    await front?.close();
    await redis?.stop();
    await postgres?.stop();
    for (const cp of [a, b]) if (cp) removeDir(cp.dataDir);
  });

  const ackedNow = () => acked.length;
  /** Writes are acknowledged again, the log moves on at B, the host is online there. */
  const carriesOn = async (what: string) => {
    const writes = ackedNow();
    await eventually(`${what}: writes acknowledged again`, () => ackedNow() > writes + 3, 90_000, 50);
    const lines = follower!.received.length;
    await eventually(`${what}: the log moves on at B`, () => follower!.received.length > lines + 20, 90_000, 50).catch((err: Error) => {
      throw new Error(`${err.message} (${follower!.received.length} lines, ${follower!.subscribes} subscriptions, errors ${JSON.stringify(follower!.errors)})\nagent:\n${agent!.log().slice(-1500)}\nA:\n${a.child.lines.slice(-15).join('\n')}\nB:\n${b.child.lines.slice(-15).join('\n')}`);
    });
    const cookie = (await signIn(b.url, OWNER.email, OWNER.password))!;
    await eventually(`${what}: the host online at B`, async () => (await trpc(b.url, cookie).hosts.get.query({ hostId })).online, 30_000);
  };

  test('an agent on A, a follower and a page on B, writes through the front', async () => {
    const owner = trpc(b.url, await signIn(b.url, OWNER.email, OWNER.password));
    const { token } = await owner.hosts.createJoinToken.mutate({ name: 'fault-db' });
    agent = await startAgentProcess('fault-db', { flags: ['--server', frontUrl, '--token', token] });
    hostId = (await eventually('the agent connected', () => /connected to .* as host (\S+)/.exec(agent!.log()), 60_000))![1];
    agent.ok(['import', '-', IMAGE], { input: await busyboxLayer() });
    id = agent.ok(['run', '-d', '--name', 'counter', IMAGE, ...countingCommand(1_000_000, 0.1)]).trim();
    const cookieB = (await signIn(b.url, OWNER.email, OWNER.password))!;
    page = await signedInPage(browser!, b.url, OWNER, { problems, timeoutMs: 60_000 });
    await page.goto(`${b.url}/hosts/${hostId}/containers/${id}`);
    follower = new LogFollower(b.url, cookieB, hostId, id);
    await follower.untilLine(20, 60_000);

    const api = trpc(frontUrl, (await signIn(frontUrl, OWNER.email, OWNER.password))!);
    writer = (async () => {
      for (let i = 0; writing; i++) {
        const name = `load-${i}`;
        try {
          await api.hosts.createJoinToken.mutate({ name });
          acked.push(name);
        } catch {
          // Not acknowledged (the database or the process was away): not expected to be there.
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();
    await eventually('writes acknowledged', () => ackedNow() > 5, 30_000, 50);
  });

  test('PostgreSQL is restarted', async (t) => {
    const before = ackedNow();
    // Down for a few seconds: the writes in between fail (and are not expected to be there).
    await postgres.restart(() => sleep(5_000));
    await carriesOn('after the PostgreSQL restart');
    t.diagnostic(`${before} writes acknowledged before the restart, ${ackedNow()} now`);
  });

  test('Redis is killed and started again', async () => {
    // Down longer than a process's beat takes to expire: each process takes the other for gone.
    await redis.restart(() => sleep(10_000));
    await carriesOn('after the Redis restart');
  });

  test('process A is killed: the agent moves to B through the front', async () => {
    const connects = () => (agent!.log().match(/connected to .* as host/g) ?? []).length;
    const before = connects();
    await a.child.kill('SIGKILL');
    await eventually('the agent connected again', () => connects() > before, 90_000);
    await carriesOn('after A was killed');
  });

  test('nothing lost, nothing twice', async (t) => {
    writing = false;
    await writer;
    const pool = new pg.Pool({ connectionString: postgres.url });
    try {
      const audit = await pool.query<{ target: string; n: string }>(`SELECT target, count(*) AS n FROM "AuditLog" WHERE action = 'hosts.createJoinToken' AND result = 'ok' GROUP BY target`);
      const rows = new Map(audit.rows.map((r) => [r.target, Number(r.n)]));
      const tokens = await pool.query<{ name: string; n: string }>(`SELECT name, count(*) AS n FROM "JoinToken" GROUP BY name`);
      const made = new Map(tokens.rows.map((r) => [r.name, Number(r.n)]));
      for (const name of acked) {
        assert.equal(rows.get(name), 1, `one audit row for acknowledged write ${name}`);
        assert.equal(made.get(name), 1, `one join token for acknowledged write ${name}`);
      }
      const hosts = await pool.query('SELECT id FROM "Host"');
      assert.equal(hosts.rowCount, 1, 'one host, no duplicate after its reconnects');
    } finally {
      await pool.end();
    }
    const last = Number(/line (\d+)/.exec(agent!.ok(['logs', '--tail', '1', id]))![1]);
    await follower!.untilLine(last, 60_000);
    const got = follower!.received.filter((r) => Number(r.line.slice(5)) <= last);
    assertEveryLineOnce(got, last, 'the follower on B');
    await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=log-line]')].some((el) => el.textContent?.trim() === `line ${n}`), last, { timeout: 60_000 });
    const shown = (await readLogLines(page)).map((s) => ({ seq: s.seq, line: s.text })).filter((r) => Number(r.line.slice(5)) <= last);
    assert.equal(shown[0]?.line, 'line 1', 'the page from the first line');
    assertEveryLineOnce(shown, last, 'the page on B');
    assert.deepEqual(problems, []);
    t.diagnostic(`${acked.length} acknowledged writes all there once; ${last} lines once and in order at B (${follower!.subscribes} subscriptions)`);
  });
});
