// People and teams through a real control plane: invitation links (single use, expiring,
// revocable, never above the inviter's role), role changes and removals with the last-owner
// rule, sessions that can be revoked (one, or everywhere), password change and an admin's
// reset; each change reaching the user's open sockets at once, and the audit log.
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { ServerToUi, UiToServer } from '../../protocol/ui-socket';
import { codeOf, ensureNextBuild, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from './support/control-plane';

const OWNER = { email: 'olive@example.test', name: 'Olive Owner', password: 'owner-pass-1' };

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(codeOf(err), code, `expected ${code}, got ${codeOf(err)}: ${(err as Error).message}`);
    if (message) assert.match((err as Error).message, message);
    return true;
  });
}

describe('teams, invitations and sessions', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let owner: string;
  let teamId: string;
  const sockets: Socket[] = [];

  const socketFor = async (cookie: string): Promise<Socket<ServerToUi, UiToServer>> => {
    const s: Socket<ServerToUi, UiToServer> = io(`${cp.url}/ui`, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie }, forceNew: true });
    sockets.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('connect_error', (e) => reject(e));
    });
    return s;
  };
  const disconnected = (s: Socket) => new Promise<string>((resolve) => (s.connected ? s.once('disconnect', (why) => resolve(why)) : resolve('not connected')));
  const sql = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path.join(cp.dataDir, 'berth.db'));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const invite = async (cookie: string, role: 'owner' | 'admin' | 'operator' | 'viewer') => trpc(cp.url, cookie).team.invite.mutate({ teamId, role });
  const join = async (role: 'owner' | 'admin' | 'operator' | 'viewer', email: string, password: string) => {
    const inv = await invite(owner, role);
    await trpc(cp.url).team.accept.mutate({ token: inv.token, account: { email, name: email, password } });
    const cookie = (await signIn(cp.url, email, password))!;
    assert.ok(cookie, `${email} cannot sign in after accepting`);
    const me = await trpc(cp.url, cookie).account.me.query();
    return { cookie, userId: me.id };
  };

  before(async () => {
    ensureNextBuild();
    cp = await startControlPlane();
    await trpc(cp.url).auth.setup.mutate(OWNER);
    owner = (await signIn(cp.url, OWNER.email, OWNER.password))!;
    const me = await trpc(cp.url, owner).account.me.query();
    assert.equal(me.teams.length, 1);
    assert.equal(me.teams[0].role, 'owner');
    teamId = me.teams[0].id;
  });

  after(async () => {
    for (const s of sockets) s.disconnect();
    await cp?.stop();
    if (cp) removeDir(cp.dataDir);
  });

  test('an invitation link makes an account in the team with the role chosen, once', async () => {
    const inv = await invite(owner, 'operator');
    assert.match(inv.path, /^\/invite\/binv_/);
    assert.deepEqual({ ...(await trpc(cp.url).team.invitation.query({ token: inv.token })), expiresAt: 'x' }, { team: 'Default', role: 'operator', expiresAt: 'x', signedIn: false });
    await rejectsWith(trpc(cp.url).team.accept.mutate({ token: inv.token }), 'BAD_REQUEST', /account/);
    await rejectsWith(trpc(cp.url).team.accept.mutate({ token: inv.token, account: { email: 'olive@example.test', name: 'x', password: 'whatever-1' } }), 'CONFLICT', /has an account already/);
    const r = await trpc(cp.url).team.accept.mutate({ token: inv.token, account: { email: 'oscar@example.test', name: 'Oscar', password: 'oscar-pass-1' } });
    assert.deepEqual(r, { team: 'Default', role: 'operator', newAccount: true });
    await rejectsWith(trpc(cp.url).team.accept.mutate({ token: inv.token, account: { email: 'eve@example.test', name: 'Eve', password: 'eve-pass-12' } }), 'NOT_FOUND', /used already/);
    await rejectsWith(trpc(cp.url).team.invitation.query({ token: inv.token }), 'NOT_FOUND', /used already/);
    const oscar = (await signIn(cp.url, 'oscar@example.test', 'oscar-pass-1'))!;
    assert.deepEqual((await trpc(cp.url, oscar).auth.status.query()).role, 'operator');
    assert.deepEqual(await trpc(cp.url, oscar).hosts.list.query(), []);
    const members = await trpc(cp.url, oscar).team.members.query({ teamId });
    assert.deepEqual(members.members.map((m) => [m.email, m.role]), [['olive@example.test', 'owner'], ['oscar@example.test', 'operator']]);
    // An operator invites nobody; nor does anyone outside the team learn it exists.
    await rejectsWith(invite(oscar, 'viewer'), 'FORBIDDEN', /operator role cannot/);
    await rejectsWith(trpc(cp.url, oscar).team.members.query({ teamId: 'no-such-team' }), 'NOT_FOUND');
    assert.equal(sql((db) => db.prepare('SELECT count(*) AS n FROM "User" WHERE email = ?').get('eve@example.test') as { n: number }).n, 0);
  });

  test('links expire, can be revoked, and never grant more than the inviter has', async () => {
    const expired = await invite(owner, 'viewer');
    sql((db) => db.prepare('UPDATE "Invitation" SET expiresAt = ? WHERE id = ?').run(Date.now() - 1000, expired.id));
    await rejectsWith(trpc(cp.url).team.accept.mutate({ token: expired.token, account: { email: 'late@example.test', name: 'Late', password: 'late-pass-1' } }), 'NOT_FOUND', /expired/);
    const revoked = await invite(owner, 'viewer');
    assert.ok((await trpc(cp.url, owner).team.invitations.query({ teamId })).some((i) => i.id === revoked.id));
    await trpc(cp.url, owner).team.revokeInvitation.mutate({ invitationId: revoked.id });
    assert.ok(!(await trpc(cp.url, owner).team.invitations.query({ teamId })).some((i) => i.id === revoked.id));
    await rejectsWith(trpc(cp.url).team.invitation.query({ token: revoked.token }), 'NOT_FOUND', /not valid/);
    await rejectsWith(trpc(cp.url).team.invitation.query({ token: 'binv_made-up' }), 'NOT_FOUND', /not valid/);
    const admin = await join('admin', 'ada@example.test', 'ada-pass-123');
    await rejectsWith(invite(admin.cookie, 'owner'), 'FORBIDDEN', /admin cannot invite an owner/);
    const ok = await invite(admin.cookie, 'admin');
    assert.ok(ok.token);
  });

  test('roles change and members go, but a team keeps an owner; nobody acts above their own role', async () => {
    const ownerId = (await trpc(cp.url, owner).account.me.query()).id;
    await rejectsWith(trpc(cp.url, owner).team.setRole.mutate({ teamId, userId: ownerId, role: 'admin' }), 'CONFLICT', /last owner/);
    await rejectsWith(trpc(cp.url, owner).team.leave.mutate({ teamId }), 'CONFLICT', /last owner/);
    await rejectsWith(trpc(cp.url, owner).team.removeMember.mutate({ teamId, userId: ownerId }), 'CONFLICT', /last owner/);
    const admin = (await signIn(cp.url, 'ada@example.test', 'ada-pass-123'))!;
    await rejectsWith(trpc(cp.url, admin).team.removeMember.mutate({ teamId, userId: ownerId }), 'FORBIDDEN', /admin cannot change an owner/);
    const vic = await join('operator', 'vic@example.test', 'vic-pass-123');
    await rejectsWith(trpc(cp.url, admin).team.setRole.mutate({ teamId, userId: vic.userId, role: 'owner' }), 'FORBIDDEN');

    // Lowering a role ends that user's open sockets at once; the page reconnects and is checked again.
    const s = await socketFor(vic.cookie);
    const gone = disconnected(s);
    await trpc(cp.url, admin).team.setRole.mutate({ teamId, userId: vic.userId, role: 'viewer' });
    assert.equal(await gone, 'io server disconnect');
    assert.equal((await trpc(cp.url, vic.cookie).auth.status.query()).role, 'viewer');

    const s2 = await socketFor(vic.cookie);
    const gone2 = disconnected(s2);
    await trpc(cp.url, admin).team.removeMember.mutate({ teamId, userId: vic.userId });
    assert.equal(await gone2, 'io server disconnect');
    await rejectsWith(trpc(cp.url, vic.cookie).team.members.query({ teamId }), 'NOT_FOUND');

    // A second owner lets the first one step down.
    const admin2 = (await trpc(cp.url, owner).team.members.query({ teamId })).members.find((m) => m.email === 'ada@example.test')!;
    await trpc(cp.url, owner).team.setRole.mutate({ teamId, userId: admin2.userId, role: 'owner' });
    await trpc(cp.url, owner).team.setRole.mutate({ teamId, userId: ownerId, role: 'admin' });
    await trpc(cp.url, admin).team.setRole.mutate({ teamId, userId: ownerId, role: 'owner' });
  });

  test('sessions: listed, one revoked, or all of them; a revoked cookie and its sockets stop at once', async () => {
    const a = (await signIn(cp.url, 'oscar@example.test', 'oscar-pass-1'))!;
    const b = (await signIn(cp.url, 'oscar@example.test', 'oscar-pass-1'))!;
    const list = await trpc(cp.url, a).account.sessions.query();
    assert.ok(list.length >= 2);
    assert.equal(list.filter((x) => x.current).length, 1);
    const bId = (await trpc(cp.url, b).account.sessions.query()).find((x) => x.current)!.id;
    const sb = await socketFor(b);
    const goneB = disconnected(sb);
    await trpc(cp.url, a).account.revokeSession.mutate({ sessionId: bId });
    assert.equal(await goneB, 'io server disconnect');
    await rejectsWith(trpc(cp.url, b).hosts.list.query(), 'UNAUTHORIZED');
    await assert.rejects(socketFor(b), /unauthorized/);
    // Someone else's session is not yours to end.
    await rejectsWith(trpc(cp.url, owner).account.revokeSession.mutate({ sessionId: (await trpc(cp.url, a).account.sessions.query()).find((x) => x.current)!.id }), 'NOT_FOUND');
    assert.deepEqual(await trpc(cp.url, a).hosts.list.query(), []);

    const c = (await signIn(cp.url, 'oscar@example.test', 'oscar-pass-1'))!;
    const r = await trpc(cp.url, a).account.signOutEverywhere.mutate();
    assert.ok(r.ended >= 2);
    await rejectsWith(trpc(cp.url, a).hosts.list.query(), 'UNAUTHORIZED');
    await rejectsWith(trpc(cp.url, c).hosts.list.query(), 'UNAUTHORIZED');
  });

  test('a password change ends the other sessions; an admin\'s reset makes the user choose a new one first', async () => {
    const here = (await signIn(cp.url, 'oscar@example.test', 'oscar-pass-1'))!;
    const there = (await signIn(cp.url, 'oscar@example.test', 'oscar-pass-1'))!;
    await rejectsWith(trpc(cp.url, here).account.changePassword.mutate({ current: 'wrong', next: 'oscar-pass-2' }), 'FORBIDDEN', /current password/);
    await rejectsWith(trpc(cp.url, here).account.changePassword.mutate({ current: 'oscar-pass-1', next: 'short' }), 'BAD_REQUEST', /next: at least 8/);
    assert.ok((await trpc(cp.url, here).account.changePassword.mutate({ current: 'oscar-pass-1', next: 'oscar-pass-2' })).otherSessionsEnded >= 1);
    await rejectsWith(trpc(cp.url, there).hosts.list.query(), 'UNAUTHORIZED');
    assert.deepEqual(await trpc(cp.url, here).hosts.list.query(), []);
    assert.equal(await signIn(cp.url, 'oscar@example.test', 'oscar-pass-1'), null);

    const oscarId = (await trpc(cp.url, here).account.me.query()).id;
    const { temporaryPassword } = await trpc(cp.url, owner).team.resetPassword.mutate({ teamId, userId: oscarId });
    await rejectsWith(trpc(cp.url, here).hosts.list.query(), 'UNAUTHORIZED');
    const temp = (await signIn(cp.url, 'oscar@example.test', temporaryPassword))!;
    assert.ok(temp);
    assert.equal((await trpc(cp.url, temp).account.me.query()).mustChangePassword, true);
    await rejectsWith(trpc(cp.url, temp).hosts.list.query(), 'FORBIDDEN', /choose a new password/);
    await assert.rejects(socketFor(temp), /unauthorized/);
    await trpc(cp.url, temp).account.changePassword.mutate({ current: temporaryPassword, next: 'oscar-pass-3' });
    assert.deepEqual(await trpc(cp.url, temp).hosts.list.query(), []);
  });

  test('every change is in the team\'s audit log, with who did it', async () => {
    const rows = await trpc(cp.url, owner).audit.list.query();
    const actions = new Set(rows.map((r) => r.action));
    for (const a of ['team.invite', 'team.acceptInvitation', 'team.revokeInvitation', 'team.setRole', 'team.removeMember', 'team.resetPassword', 'account.revokeSession', 'account.signOutEverywhere', 'account.changePassword']) {
      assert.ok(actions.has(a), `no ${a} row in the audit log (have: ${[...actions].join(', ')})`);
    }
    assert.ok(rows.some((r) => r.action === 'team.setRole' && r.result.startsWith('error:') && r.userEmail === 'ada@example.test'), 'refusals are audited too');
    assert.ok(rows.some((r) => r.action === 'account.changePassword' && r.result === 'error: wrong current password'));
  });
});
