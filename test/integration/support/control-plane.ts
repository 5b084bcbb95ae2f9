// Helpers to drive a real control plane from tests: start it as a child process on a
// free port with its own data dir, sign in over HTTP like a browser, call tRPC.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { hashPassword } from '../../../server/auth/password';
import { DEFAULT_TEAM } from '../../../server/db/seed';
import type { AppRouter } from '../../../server/trpc/router';
import { freePort } from '../../fixtures/free-port';

export { freePort } from '../../fixtures/free-port';
export { eventually } from '../../fixtures/wait';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Builds the Next app when .next is missing or older than its sources (slow: a minute or two). */
export { ensureFreshBuild as ensureNextBuild } from '../../../scripts/next-build';

/** A child process whose stdout lines can be awaited. */
export class Child {
  readonly lines: string[] = [];
  private waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess, readonly label: string) {
    const onLine = (line: string) => {
      this.lines.push(line);
      if (process.env.BERTH_TEST_VERBOSE) console.error(`[${label}] ${line}`);
      this.waiters = this.waiters.filter((w) => (w.re.test(line) ? (w.resolve(line), false) : true));
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no line matching ${re} within ${timeoutMs} ms; output:\n${this.lines.join('\n')}`)), timeoutMs);
      this.waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }

  /** Kills this child (only it, by pid) and waits for it to go; one that ignores `signal` for 30 s gets SIGKILL, and the test's output says so. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid) {
      try {
        process.kill(this.proc.pid, signal);
      } catch {
        // gone already
      }
    }
    const late = setTimeout(() => {
      console.error(`${this.label}: still running 30 s after ${signal}; SIGKILL. Its last lines:\n${this.lines.slice(-20).join('\n')}`);
      if (this.proc.exitCode === null && this.proc.signalCode === null && this.proc.pid) process.kill(this.proc.pid, 'SIGKILL');
    }, 30_000);
    await this.exited;
    clearTimeout(late);
  }
}

export function spawnTsx(args: string[], env: Record<string, string | undefined>, label: string, nodeArgs: string[] = []): Child {
  // `node --import tsx`, not the tsx CLI: the CLI runs the script in a grandchild that a
  // SIGKILL of the pid we know would leave running.
  return new Child(spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }), label);
}

export interface ControlPlane {
  url: string;
  port: number;
  dataDir: string;
  child: Child;
  stop(): Promise<void>;
}

/** `dataDir` and `port` of an earlier run restart that control plane (same database, same address for the browsers and agents). */
export async function startControlPlane(dataDir?: string, opts: { port?: number; env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<ControlPlane> {
  const port = opts.port ?? (await freePort());
  const env = opts.env ?? {};
  const dir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'berth-cp-'));
  const child = spawnTsx(['server/main.ts'], { PORT: String(port), BERTH_DATA_DIR: dir, NEXTAUTH_URL: '', NEXTAUTH_SECRET: '', DATABASE_URL: '', BERTH_TRUST_PROXY: '', ...env }, 'server', opts.nodeArgs);
  await child.waitFor(/control plane on http/, 60_000);
  return {
    url: `http://localhost:${port}`,
    port,
    dataDir: dir,
    child,
    async stop() {
      await child.kill();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

function cookiePairs(res: Response): string[] {
  return res.headers.getSetCookie().map((c) => c.split(';')[0]);
}

/** Signs in through next-auth's credentials flow; the session cookie, or null when refused. */
export async function signIn(url: string, email: string, password: string): Promise<string | null> {
  return (await signInAttempt(url, email, password)).cookie;
}

/**
 * One sign-in as the login page makes it: the session cookie, or the error next-auth
 * hands the page ('CredentialsSignin' for a wrong password, or the server's message).
 */
export async function signInAttempt(url: string, email: string, password: string, headers: Record<string, string> = {}): Promise<{ cookie: string | null; error: string | null }> {
  const csrf = await fetch(`${url}/api/auth/csrf`, { headers });
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  const res = await fetch(`${url}/api/auth/callback/credentials`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', cookie: cookiePairs(csrf).join('; ') },
    body: new URLSearchParams({ csrfToken, email, password, json: 'true' }),
  });
  const body = await res.text();
  const session = cookiePairs(res).find((c) => c.startsWith('next-auth.session-token=') && c.length > 'next-auth.session-token='.length);
  let error: string | null = null;
  if (!session) {
    const target = (JSON.parse(body) as { url?: string }).url ?? res.headers.get('location') ?? '';
    error = new URL(target, url).searchParams.get('error') ?? `no session (HTTP ${res.status})`;
  }
  return { cookie: session ?? null, error };
}

export function trpc(url: string, cookie?: string | null) {
  return createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${url}/api/trpc`, transformer: superjson, headers: () => (cookie ? { cookie } : {}) })],
  });
}

/** The tRPC error code ('FORBIDDEN', 'NOT_FOUND' …) a call failed with, if it was a tRPC error. */
export function codeOf(err: unknown): string | undefined {
  return err instanceof TRPCClientError ? (err.data as { code?: string } | undefined)?.code : undefined;
}

/** Accounts the product has no screen for yet (team management), written straight to the database. */
export async function addUser(cp: ControlPlane, email: string, password: string, role: string, teamName = DEFAULT_TEAM): Promise<void> {
  const hash = await hashPassword(password);
  const db = new Database(path.join(cp.dataDir, 'berth.db'));
  try {
    let team = db.prepare('SELECT id FROM "Team" WHERE name = ?').get(teamName) as { id: string } | undefined;
    if (!team) {
      team = { id: randomUUID() };
      db.prepare('INSERT INTO "Team" (id, name) VALUES (?, ?)').run(team.id, teamName);
    }
    const userId = randomUUID();
    db.prepare('INSERT INTO "User" (id, email, name, passwordHash) VALUES (?, ?, ?, ?)').run(userId, email, email, hash);
    db.prepare('INSERT INTO "Membership" (id, userId, teamId, role) VALUES (?, ?, ?, ?)').run(randomUUID(), userId, team.id, role);
  } finally {
    db.close();
  }
}
