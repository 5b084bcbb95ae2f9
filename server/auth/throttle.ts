// Sign-in back-off, per account and per client address. After a few free failures each
// further one doubles the wait before the next attempt, up to a minute; a refused attempt
// costs no password hash and does not lengthen the wait, so someone hammering an account
// keeps its owner waiting at most a minute at a time, and a correct sign-in clears the
// account's count. Counts are forgotten a quarter of an hour after the last failure.
import type { PrismaClient } from '../../generated/prisma/client';
import { berthGlobal } from '../global';

export interface ThrottlePolicy {
  /** Failures in a row that cost nothing. */
  free: number;
  /** The wait after the first failure past the free ones; it doubles with each further one. */
  baseMs: number;
  maxMs: number;
  /** A key's count is forgotten this long after its last failure. */
  forgetMs: number;
}

// Per address more are free than per account: several people behind one NAT mistype too.
export const ACCOUNT_POLICY: ThrottlePolicy = { free: 5, baseMs: 1000, maxMs: 60_000, forgetMs: 15 * 60_000 };
export const ADDRESS_POLICY: ThrottlePolicy = { free: 20, baseMs: 1000, maxMs: 60_000, forgetMs: 15 * 60_000 };

/** How long the next attempt waits after `failures` failures in a row. */
export function waitAfter(failures: number, p: ThrottlePolicy): number {
  if (failures < p.free) return 0;
  return Math.min(p.baseMs * 2 ** Math.min(failures - p.free, 30), p.maxMs);
}

export interface ThrottleKey {
  key: string;
  policy: ThrottlePolicy;
}

export type Admission =
  | { admitted: true }
  /** `firstInBlock`: the first refusal since this block began (the one worth an audit row). */
  | { admitted: false; key: string; retryAfterMs: number; firstInBlock: boolean };

interface Row {
  key: string;
  failures: number;
  lastFailure: Date;
  blockedUntil: Date | null;
  auditedBlock: Date | null;
}

function live(row: Row | undefined, policy: ThrottlePolicy, now: number): Row | undefined {
  return row && now - row.lastFailure.getTime() < policy.forgetMs ? row : undefined;
}

// Each admission reads and then writes its keys; run one at a time in this process so
// parallel attempts cannot all read the same count. (Not interactive transactions: on
// the single SQLite connection other requests' statements would land inside them.)
const queue = () => berthGlobal('signInThrottleQueue', () => ({ tail: Promise.resolve() as Promise<unknown>, purgedAt: -Infinity }));

function serially<T>(fn: () => Promise<T>): Promise<T> {
  const q = queue();
  const run = q.tail.then(fn, fn);
  q.tail = run.catch(() => undefined);
  return run;
}

const FORGET_MS = Math.max(ACCOUNT_POLICY.forgetMs, ADDRESS_POLICY.forgetMs);
const PURGE_EVERY_MS = 60_000;

export class SignInThrottle {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Forgotten counts are dead rows; without this, every email anyone ever tried would stay. */
  private async purge(now: number): Promise<void> {
    const q = queue();
    if (now - q.purgedAt < PURGE_EVERY_MS) return;
    q.purgedAt = now;
    await this.prisma.signInThrottle.deleteMany({ where: { lastFailure: { lt: new Date(now - FORGET_MS) } } });
  }

  /**
   * Whether an attempt under these keys may check a password now. An admitted attempt is
   * counted as a failure at once, before the (slow) hash, so parallel guesses cannot all
   * pass while the first is being checked; succeeded() takes it back.
   */
  admit(keys: ThrottleKey[]): Promise<Admission> {
    return serially(async () => {
      const now = this.clock();
      await this.purge(now);
      const rows = new Map((await this.prisma.signInThrottle.findMany({ where: { key: { in: keys.map((k) => k.key) } } })).map((r) => [r.key, r]));
      let worst: { row: Row; until: number } | undefined;
      for (const { key, policy } of keys) {
        const row = live(rows.get(key), policy, now);
        const until = row?.blockedUntil?.getTime() ?? 0;
        if (row && until > now && (!worst || until > worst.until)) worst = { row, until };
      }
      if (worst) {
        const firstInBlock = worst.row.auditedBlock?.getTime() !== worst.until;
        if (firstInBlock) await this.prisma.signInThrottle.update({ where: { key: worst.row.key }, data: { auditedBlock: new Date(worst.until) } });
        return { admitted: false, key: worst.row.key, retryAfterMs: worst.until - now, firstInBlock };
      }
      for (const { key, policy } of keys) {
        const failures = (live(rows.get(key), policy, now)?.failures ?? 0) + 1;
        const data = { failures, lastFailure: new Date(now), blockedUntil: new Date(now + waitAfter(failures, policy)) };
        await this.prisma.signInThrottle.upsert({ where: { key }, create: { key, ...data }, update: data });
      }
      return { admitted: true };
    });
  }

  /** The password was wrong: the wait runs from now, when the answer goes out, not from when the check began. */
  failed(keys: ThrottleKey[]): Promise<void> {
    return serially(async () => {
      const now = this.clock();
      for (const { key, policy } of keys) {
        const row = await this.prisma.signInThrottle.findUnique({ where: { key } });
        if (!row) continue;
        const until = now + waitAfter(row.failures, policy);
        if (until > (row.blockedUntil?.getTime() ?? 0)) await this.prisma.signInThrottle.update({ where: { key }, data: { blockedUntil: new Date(until), lastFailure: new Date(now) } });
      }
    });
  }

  /** The password was right: the account starts afresh; the address only gets this attempt back. */
  succeeded(account: ThrottleKey, address: ThrottleKey): Promise<void> {
    return serially(async () => {
      await this.prisma.signInThrottle.deleteMany({ where: { key: account.key } });
      const row = await this.prisma.signInThrottle.findUnique({ where: { key: address.key } });
      if (!row) return;
      const failures = Math.max(0, row.failures - 1);
      if (failures === 0) {
        await this.prisma.signInThrottle.delete({ where: { key: address.key } });
        return;
      }
      const blockedUntil = new Date(row.lastFailure.getTime() + waitAfter(failures, address.policy));
      await this.prisma.signInThrottle.update({ where: { key: address.key }, data: { failures, blockedUntil } });
    });
  }
}

export function accountKey(email: string): ThrottleKey {
  return { key: `account:${email}`, policy: ACCOUNT_POLICY };
}

export function addressThrottleKey(address: string): ThrottleKey {
  return { key: `address:${address}`, policy: ADDRESS_POLICY };
}
