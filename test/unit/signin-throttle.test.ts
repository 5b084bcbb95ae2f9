// The sign-in back-off and its audit rows against a real migrated SQLite database, with a
// clock the test moves and the real scrypt verifier wrapped to count how often it runs.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { checkCredentials, SignInThrottled, type SignInDeps } from '../../server/auth/options';
import { hashPassword, verifyPassword } from '../../server/auth/password';
import { ACCOUNT_POLICY, ADDRESS_POLICY, SignInThrottle, waitAfter } from '../../server/auth/throttle';
import { closeDatabase, openDatabase, type PrismaClient } from '../../server/db';
import { addressKey } from '../../server/http/client-address';

const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-throttle-'));
process.env.BERTH_DATA_DIR = dir;
delete process.env.DATABASE_URL;

const PASSWORD = 'the right password';
let prisma: PrismaClient;
let now = Date.parse('2026-03-01T10:00:00Z');
let hashes = 0;
let deps: SignInDeps;
let teams: string[];

before(async () => {
  prisma = await openDatabase();
  teams = [(await prisma.team.create({ data: { name: 'A' } })).id, (await prisma.team.create({ data: { name: 'B' } })).id];
  await prisma.user.create({
    data: {
      email: 'ada@example.test',
      name: 'Ada',
      passwordHash: await hashPassword(PASSWORD),
      memberships: { create: teams.map((teamId) => ({ teamId, role: 'viewer' })) },
    },
  });
  deps = {
    prisma,
    throttle: new SignInThrottle(prisma, () => now),
    verify: (p, stored) => {
      hashes++;
      return verifyPassword(p, stored);
    },
  };
});

beforeEach(async () => {
  await prisma.signInThrottle.deleteMany();
  await prisma.auditLog.deleteMany();
  now += 24 * 3600_000;
});

after(async () => {
  await closeDatabase();
  rmSync(dir, { recursive: true, force: true });
});

const attempt = (email: string, password: string, address = '192.0.2.1') => checkCredentials(email, password, address, deps);

async function refused(p: Promise<unknown>): Promise<number> {
  let waitMs = -1;
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SignInThrottled, String(err));
    assert.match(err.message, /^Too many failed sign-ins\. Try again in \d+ s\.$/);
    waitMs = err.retryAfterMs;
    return true;
  });
  return waitMs;
}

describe('sign-in back-off', () => {
  test('the wait doubles past the free failures and stops at a minute', () => {
    assert.deepEqual(
      Array.from({ length: 14 }, (_, i) => waitAfter(i, ACCOUNT_POLICY) / 1000),
      [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60, 60],
    );
    assert.equal(waitAfter(19, ADDRESS_POLICY), 0);
    assert.equal(waitAfter(20, ADDRESS_POLICY), 1000);
    assert.equal(waitAfter(1000, ADDRESS_POLICY), 60_000);
  });

  test('after five wrong passwords the account waits; a throttled attempt costs no hash, even with the right password', async () => {
    for (let i = 0; i < 5; i++) assert.equal(await attempt('ada@example.test', 'wrong'), null);
    hashes = 0;
    assert.equal(await refused(attempt('ada@example.test', 'wrong')), 1000);
    assert.equal(await refused(attempt('Ada@Example.test ', PASSWORD)), 1000, 'the email is counted as the account, whatever its case');
    assert.equal(hashes, 0, 'no scrypt for a refused attempt');

    // Each wrong attempt after a wait doubles the next one, up to a minute; waiting out a
    // block and failing again never locks the owner out for longer than that.
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      now += await refused(attempt('ada@example.test', 'wrong'));
      assert.equal(await attempt('ada@example.test', 'wrong'), null);
      waits.push(await refused(attempt('ada@example.test', 'wrong')));
    }
    assert.deepEqual(waits.map((w) => w / 1000), [2, 4, 8, 16, 32, 60, 60, 60]);
    now += 30_000;
    assert.equal(await refused(attempt('ada@example.test', PASSWORD)), 30_000, 'refused attempts do not lengthen the wait');

    now += 30_000;
    const user = await attempt('ada@example.test', PASSWORD);
    assert.equal(user?.email, 'ada@example.test');
    assert.equal(await attempt('ada@example.test', 'wrong'), null, 'a sign-in clears the account\'s count');
  });

  test('parallel guesses cannot slip past the count while the first ones are being hashed', async () => {
    hashes = 0;
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => attempt('ada@example.test', 'wrong')));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 5, 'the five free ones');
    assert.equal(hashes, 5);
    assert.ok(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof SignInThrottled));
  });

  test('per address: twenty failures over any emails make the address wait; another address and the account do not', async () => {
    for (let i = 0; i < 20; i++) assert.equal(await attempt(`nobody-${i}@example.test`, 'guess'), null);
    await refused(attempt('someone-else@example.test', 'guess'));
    await refused(attempt('ada@example.test', PASSWORD));
    assert.equal((await attempt('ada@example.test', PASSWORD, '198.51.100.7'))?.email, 'ada@example.test');
  });

  test('counts are forgotten a quarter of an hour after the last failure', async () => {
    for (let i = 0; i < 5; i++) await attempt('ada@example.test', 'wrong');
    await refused(attempt('ada@example.test', 'wrong'));
    now += 15 * 60_000;
    for (let i = 0; i < 5; i++) assert.equal(await attempt('ada@example.test', 'wrong'), null, `free failure ${i + 1} after the pause`);
    // Forgotten rows are deleted, so the table does not keep every email anyone tried.
    await attempt('mallory@example.test', 'guess');
    now += 16 * 60_000;
    await attempt('ada@example.test', PASSWORD);
    // Only the purge removes mallory's row (ada's and the address's go with the sign-in).
    assert.deepEqual((await prisma.signInThrottle.findMany()).map((r) => r.key), []);
  });

  test('IPv6 clients are counted per /64: a new address in the same network is no fresh start', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  });
});

describe('sign-in audit rows', () => {
  const rows = () => prisma.auditLog.findMany({ orderBy: [{ createdAt: 'asc' }, { teamId: 'asc' }] });

  test('a known user\'s sign-ins and failures land in each of the user\'s teams', async () => {
    await attempt('ada@example.test', 'wrong');
    await attempt('ada@example.test', PASSWORD);
    const all = await rows();
    assert.equal(all.length, 4);
    for (const [result, teamRows] of [
      ['error: wrong password', all.filter((r) => r.result === 'error: wrong password')],
      ['ok', all.filter((r) => r.result === 'ok')],
    ] as const) {
      assert.deepEqual(teamRows.map((r) => r.teamId).sort(), [...teams].sort(), result);
      assert.ok(teamRows.every((r) => r.action === 'auth.signin' && r.userId && r.target === 'ada@example.test from 192.0.2.1'));
    }
  });

  test('an unknown email gets one row with no team and no user', async () => {
    await attempt('mallory@example.test', 'guess');
    const [row, ...rest] = await rows();
    assert.equal(rest.length, 0);
    assert.deepEqual({ teamId: row.teamId, userId: row.userId, target: row.target, result: row.result }, {
      teamId: null,
      userId: null,
      target: 'mallory@example.test from 192.0.2.1',
      result: 'error: no account with this email',
    });
  });

  test('a flood of throttled attempts writes one row per block, not one per attempt', async () => {
    for (let i = 0; i < 5; i++) await attempt('ada@example.test', 'wrong');
    await prisma.auditLog.deleteMany();
    for (let i = 0; i < 50; i++) await refused(attempt('ada@example.test', 'wrong'));
    const blocked = await rows();
    assert.deepEqual(blocked.map((r) => r.teamId).sort(), [...teams].sort(), 'one row per team of the user');
    assert.match(blocked[0].result, /^error: throttled: too many failed sign-ins for this account; refused for 1 s$/);
    // The next block is a new one: its first refusal is written again.
    now += 1000;
    await attempt('ada@example.test', 'wrong');
    await prisma.auditLog.deleteMany({ where: { result: 'error: wrong password' } });
    await refused(attempt('ada@example.test', 'wrong'));
    await refused(attempt('ada@example.test', 'wrong'));
    assert.equal((await rows()).length, 4);
  });
});
