// The authorization matrix, generated: every procedure of appRouter (walked through its
// _def, so a new one is covered by construction) called as every kind of caller, against
// the least role server/trpc/min-roles.ts states for it; a procedure missing there fails.
// Callers: owner, admin, operator and viewer of the host's team, an operator narrowed to
// another host, the owner of another team, a user held at "choose a new password", a
// revoked session, and nobody signed in. Each case gets a world of its own, so one case's
// effect (a revoked host, a member removed) never decides another's. A call a caller must
// not make has to be refused (UNAUTHORIZED, FORBIDDEN or NOT_FOUND); a call it may make
// must not be refused for authorization; and no answer to the other team's owner or the
// narrowed member may carry the ids or names they must not see. Then every procedure
// with an input gets malformed, wrong-typed and oversize inputs, as the owner: each must
// be a validation error (BAD_REQUEST) and the database must not change.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { CALLERS, callerFor, makeWorld, openEnv, type Caller, type Env, type World } from '../fixtures/authz-world';
import { badInputs, optionalInput, sample } from '../fixtures/zod-samples';
import { hasRole, type Role } from '../../protocol/roles';

let env: Env;
before(async () => {
  env = await openEnv();
});
after(async () => {
  await env?.close();
});

type Proc = { _def: { type: 'query' | 'mutation' | 'subscription'; inputs: unknown[] } };

async function procedures(): Promise<Array<[string, Proc]>> {
  const { appRouter } = await import('../../server/trpc/router');
  return Object.entries((appRouter as unknown as { _def: { procedures: Record<string, Proc> } })._def.procedures);
}

/** Values for fields by name: the world's ids where a field names one. */
function named(w: World, path: string) {
  return (key: string): unknown => {
    switch (key) {
      case 'hostId':
        return w.hostA1;
      case 'teamId':
        return w.teamA.id;
      case 'userId':
        return w.target;
      case 'invitationId':
        return w.invitationId;
      case 'registryId':
        return w.registryId;
      case 'tokenId':
        return w.tokenId;
      case 'ruleId':
        return w.alertRuleId;
      case 'expiresInDays':
        return 30;
      case 'token':
        return w.invitationToken;
      case 'confirmName':
        return w.teamA.name;
      case 'hostIds':
        return [w.hostA1];
      case 'role':
        return 'viewer';
      case 'email':
        return `new-${w.n}@example.test`;
      case 'server':
        return path === 'registries.add' ? 'registry.example.test' : undefined;
      case 'ref':
      case 'source':
      case 'target':
      case 'image':
        return '127.0.0.1:5000/busybox:latest';
      case 'password':
      case 'current':
      case 'next':
      case 'secret':
        return 'a-password-123';
      case 'days':
        return 30;
      case 'name':
        return path === 'team.create' ? `new team ${w.n}` : 'sample';
      default:
        return undefined;
    }
  };
}

function inputFor(p: Proc, w: World, path: string): unknown {
  const schema = p._def.inputs[0];
  if (!schema) return undefined;
  return sample(schema, named(w, path));
}

const ROLE_OF: Partial<Record<Caller, Role>> = { owner: 'owner', admin: 'admin', operator: 'operator', viewer: 'viewer', narrowed: 'operator' };

function allowed(spec: import('../../server/trpc/min-roles').MinRole, who: Caller): boolean {
  if (spec.min === 'public') return !(who === 'held' && 'notHeld' in spec && spec.notHeld);
  if (who === 'signedOut' || who === 'revoked') return false;
  if (spec.min === 'session') return true;
  if (who === 'held') return false;
  if (spec.min === 'signedIn') return true;
  if (!('scope' in spec)) throw new Error(`unknown least role ${String(spec.min)}`);
  if (who === 'stranger') return false;
  if (who === 'narrowed' && spec.scope === 'host') return false;
  return hasRole(ROLE_OF[who], spec.min);
}

const AUTH_REFUSAL = /role cannot|only an owner or admin|sign in first|choose a new password|No such (host|team|token)|you are in no team|needs admin in both/;

/** Whether the answer shows `who` something of team A they must not see. */
function leaks(w: World, who: Caller, out: unknown): string | null {
  const text = JSON.stringify(out ?? null);
  const secrets = who === 'stranger' ? [w.teamA.id, w.hostA1, w.hostA2, w.hostA1Name, w.users.owner.email] : who === 'narrowed' ? [w.hostA1, w.hostA1Name] : [];
  return secrets.find((s) => text.includes(s)) ?? null;
}

/** Every row of every table, hashed: "changes nothing" means this stays the same. */
async function databaseDigest(): Promise<string> {
  const tables = (await env.prisma.$queryRawUnsafe<Array<{ name: string }>>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)).map((t) => t.name);
  const h = createHash('sha256');
  for (const t of tables) {
    const rows = await env.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(`SELECT * FROM "${t}" ORDER BY rowid`);
    // A session's lastSeenAt moves when it is used, which is reading, not changing.
    for (const r of rows) h.update(JSON.stringify({ t, ...r, lastSeenAt: undefined }, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
  }
  return h.digest('hex');
}

test('bad input: malformed, wrong-typed and oversize payloads to every procedure are validation errors and change nothing', { timeout: 600_000 }, async () => {
  const procs = await procedures();
  const w = await makeWorld(env.prisma);
  const failures: string[] = [];
  let sent = 0;
  let withInput = 0;
  for (const [path, proc] of procs) {
    const schema = proc._def.inputs[0];
    if (!schema) continue;
    withInput++;
    const valid = inputFor(proc, w, path);
    const [ns, name] = path.split('.');
    for (const bad of badInputs(schema, valid)) {
      if (bad.input === undefined && optionalInput(schema)) continue;
      const caller = await callerFor(w, 'owner');
      const fn = (caller as unknown as Record<string, Record<string, (i: unknown) => Promise<unknown>>>)[ns][name];
      const before = await databaseDigest();
      sent++;
      try {
        await fn(bad.input);
        failures.push(`${path} with ${bad.why}: accepted`);
      } catch (e) {
        const code = (e as TRPCError).code;
        if (code !== 'BAD_REQUEST') failures.push(`${path} with ${bad.why}: ${code} (${(e as Error).message.slice(0, 200)}), not a validation error`);
      }
      if ((await databaseDigest()) !== before) failures.push(`${path} with ${bad.why}: the database changed`);
    }
  }
  console.log(`bad input: ${sent} payloads to ${withInput} procedures with an input; ${failures.length} wrong`);
  assert.deepEqual(failures, []);
});

test('authorization matrix: every procedure × every kind of caller', { timeout: 600_000 }, async () => {
  const { MIN_ROLE } = await import('../../server/trpc/min-roles');
  const procs = await procedures();
  const missing = procs.map(([p]) => p).filter((p) => !MIN_ROLE[p]);
  assert.deepEqual(missing, [], `procedures without a least role in server/trpc/min-roles.ts: ${missing.join(', ')}`);
  const stale = Object.keys(MIN_ROLE).filter((p) => !procs.some(([q]) => q === p));
  assert.deepEqual(stale, [], `min-roles.ts names procedures that do not exist: ${stale.join(', ')}`);

  const failures: string[] = [];
  let cases = 0;
  let refusedAsExpected = 0;
  for (const [path, proc] of procs) {
    const spec = MIN_ROLE[path];
    for (const who of CALLERS) {
      const w = await makeWorld(env.prisma);
      const input = inputFor(proc, w, path);
      const caller = await callerFor(w, who);
      const [ns, name] = path.split('.');
      const fn = (caller as unknown as Record<string, Record<string, (i: unknown) => Promise<unknown>>>)[ns][name];
      cases++;
      const may = allowed(spec, who);
      let out: unknown;
      let err: TRPCError | undefined;
      try {
        out = await fn(input);
      } catch (e) {
        err = e as TRPCError;
      }
      const label = `${path} as ${who}`;
      if (!err) {
        const leaked = leaks(w, who, out);
        if (leaked) failures.push(`${label}: the answer shows ${leaked}`);
        // Current-team procedures act on the stranger's own team: allowed there, and checked for leaks above.
        else if (!may && !(who === 'stranger' && 'scope' in spec && spec.scope === 'current')) failures.push(`${label}: succeeded, but needs ${spec.min}`);
        continue;
      }
      if (!(err instanceof TRPCError)) {
        failures.push(`${label}: threw a non-tRPC error: ${(err as Error)?.message}`);
        continue;
      }
      if (!may) {
        if (['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND'].includes(err.code)) refusedAsExpected++;
        else failures.push(`${label}: refused with ${err.code} (${err.message}), not as unauthorized/forbidden/not found`);
      } else if (err.code === 'UNAUTHORIZED' || ((err.code === 'FORBIDDEN' || err.code === 'NOT_FOUND') && AUTH_REFUSAL.test(err.message))) {
        failures.push(`${label}: refused (${err.code}: ${err.message}), but ${spec.min} may`);
      }
    }
  }
  console.log(`authorization matrix: ${procs.length} procedures × ${CALLERS.length} callers = ${cases} calls; ${refusedAsExpected} refused as they must be; ${failures.length} wrong`);
  assert.deepEqual(failures, []);
});
