// Alerts in a real SQLite database, delivered to a receiver on loopback: two stores (two
// control-plane processes) opening the same alert at once make one row and one delivery;
// the quiet period and a mute hold deliveries back (the alert still opens); resolving
// sends "resolved" once; a failing receiver is retried with back-off and a silent one
// times out; the Slack and ntfy shapes are what those receivers read.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import type { PrismaClient } from '../../generated/prisma/client';
import type { Transition } from '../../server/alerts/evaluate';
import type { Rule } from '../../server/alerts/rules';

let dir: string;
let prisma: PrismaClient;
let teamId: string;
let receiver: http.Server;
let base: string;
let got: Array<{ path: string; headers: http.IncomingHttpHeaders; body: string }> = [];
/** What the receiver answers for the next requests, in order (then 200). */
let answers: Array<number | 'hang'> = [];
let Store: typeof import('../../server/alerts/store').AlertStore;
let webhookAad: typeof import('../../server/alerts/store').webhookAad;
let seal: typeof import('../../server/auth/secret-box').seal;
let now = Date.parse('2026-01-01T00:00:00Z');
const hung: http.ServerResponse[] = [];

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-alerts-'));
  process.env.BERTH_DATA_DIR = dir;
  delete process.env.DATABASE_URL;
  delete process.env.BERTH_SECRET_KEY;
  const { openDatabase } = await import('../../server/db');
  prisma = await openDatabase();
  teamId = (await prisma.team.create({ data: { name: `alerts-${process.pid}` } })).id;
  ({ AlertStore: Store, webhookAad } = await import('../../server/alerts/store'));
  ({ seal } = await import('../../server/auth/secret-box'));
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body });
      const a = answers.shift() ?? 200;
      if (a === 'hang') return void hung.push(res);
      res.statusCode = a;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
});

after(async () => {
  for (const r of hung) r.destroy();
  receiver.closeAllConnections();
  await new Promise((r) => receiver.close(r));
  const { closeDatabase } = await import('../../server/db');
  await closeDatabase();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  got = [];
  answers = [];
});

const fast = () => ({ timeoutMs: 500, attempts: 3, backoffMs: 20 });

async function makeRule(kind: 'json' | 'slack' | 'ntfy' | null, extra: { quietSeconds?: number; mutedUntil?: Date } = {}): Promise<Rule> {
  const r = await prisma.alertRule.create({ data: { teamId, name: `rule ${kind}`, kind: 'container.died', options: '{"anyExit":false}', quietSeconds: extra.quietSeconds ?? 0, mutedUntil: extra.mutedUntil ?? null } });
  if (kind) await prisma.alertRule.update({ where: { id: r.id }, data: { webhookKind: kind, webhookUrl: seal(`${base}/hook/secret-token`, webhookAad(teamId, r.id)), webhookHint: 'x' } });
  return { id: r.id, teamId, name: r.name, kind: 'container.died', options: { anyExit: false }, hostIds: null, containers: null, quietSeconds: r.quietSeconds, mutedUntil: r.mutedUntil };
}

function died(rule: Rule, subject = 'container:h1/abc'): Transition {
  return { type: 'open', rule, hostId: 'h1', subject, title: 'app on web-1 exited with code 3', detail: { host: 'web-1', hostId: 'h1', container: 'app', containerId: 'abc', exitCode: 3 } };
}

test('two processes opening the same alert at once: one row, one JSON delivery naming host, container and exit code', async () => {
  const rule = await makeRule('json');
  const a = new Store(() => prisma, () => now, fast);
  const b = new Store(() => prisma, () => now, fast);
  const won = await Promise.all([a.open(died(rule)), b.open(died(rule)), a.open(died(rule))]);
  await Promise.all([a.settled(), b.settled()]);
  assert.deepEqual(won.filter(Boolean).length, 1);
  assert.equal(await prisma.alert.count({ where: { ruleId: rule.id } }), 1);
  assert.equal(got.length, 1);
  assert.equal(got[0].path, '/hook/secret-token');
  const body = JSON.parse(got[0].body);
  assert.equal(body.status, 'firing');
  assert.deepEqual(body.host, { id: 'h1', name: 'web-1' });
  assert.deepEqual(body.container, { id: 'abc', name: 'app' });
  assert.equal(body.detail.exitCode, 3);
  const row = await prisma.alert.findFirstOrThrow({ where: { ruleId: rule.id } });
  assert.equal(row.delivery, 'firing: ok 200');
  const r = await prisma.alertRule.findUniqueOrThrow({ where: { id: rule.id } });
  assert.equal(r.lastDeliveryResult, 'firing: ok 200');

  // Resolving: once, however many try, with a "resolved" delivery.
  const res = await Promise.all([a.resolve(died(rule)), b.resolve(died(rule))]);
  await Promise.all([a.settled(), b.settled()]);
  assert.equal(res.filter(Boolean).length, 1);
  assert.equal(got.length, 2);
  assert.equal(JSON.parse(got[1].body).status, 'resolved');
  assert.ok((await prisma.alert.findFirstOrThrow({ where: { ruleId: rule.id } })).resolvedAt);
});

test('quiet period: a repeat within it opens a new alert but delivers nothing; after it, delivers again', async () => {
  const rule = await makeRule('json', { quietSeconds: 600 });
  const s = new Store(() => prisma, () => now, fast);
  await s.open(died(rule));
  await s.resolve(died(rule));
  now += 60_000;
  await s.open(died(rule));
  await s.settled();
  assert.deepEqual(
    got.map((g) => JSON.parse(g.body).status),
    ['firing', 'resolved'],
  );
  const second = await prisma.alert.findFirstOrThrow({ where: { ruleId: rule.id, openKey: { not: null } } });
  assert.equal(second.delivery, 'quiet');
  await s.resolve(died(rule));
  await s.settled();
  assert.equal(got.length, 2, 'an alert whose firing was held back sends no resolution either');
  now += 600_000;
  await s.open(died(rule));
  await s.settled();
  assert.equal(got.length, 3);
});

test('a muted rule opens alerts and delivers nothing until the mute ends', async () => {
  const rule = await makeRule('json', { mutedUntil: new Date(now + 3_600_000) });
  const s = new Store(() => prisma, () => now, fast);
  assert.equal(await s.open(died(rule, 'container:h1/m1')), true);
  await s.settled();
  assert.equal(got.length, 0);
  assert.equal((await prisma.alert.findFirstOrThrow({ where: { ruleId: rule.id } })).delivery, 'muted');
  now += 3_600_001;
  await s.open(died(rule, 'container:h1/m2'));
  await s.settled();
  assert.equal(got.length, 1);
});

test('a failing receiver is retried with back-off until it takes it; the attempts are recorded', async () => {
  const rule = await makeRule('json');
  answers = [500, 503];
  const s = new Store(() => prisma, () => now, fast);
  await s.open(died(rule));
  await s.settled();
  assert.equal(got.length, 3);
  const row = await prisma.alert.findFirstOrThrow({ where: { ruleId: rule.id } });
  assert.equal(row.delivery, 'firing: ok 200');
  assert.equal(row.deliveryAttempts, 3);
});

test('a receiver that never answers times out; after the last attempt the error is what shows', async () => {
  const rule = await makeRule('json');
  answers = ['hang', 'hang', 'hang'];
  const s = new Store(() => prisma, () => now, () => ({ timeoutMs: 200, attempts: 3, backoffMs: 10 }));
  await s.open(died(rule));
  await s.settled();
  assert.equal(got.length, 3);
  const row = await prisma.alert.findFirstOrThrow({ where: { ruleId: rule.id } });
  assert.equal(row.delivery, 'firing: error: no answer within 200 ms');
  const r = await prisma.alertRule.findUniqueOrThrow({ where: { id: rule.id } });
  assert.match(r.lastDeliveryResult ?? '', /error: no answer/);
});

test('Slack gets {"text": …}; ntfy gets the text with Title, Priority and Tags headers', async () => {
  const slack = await makeRule('slack');
  const ntfy = await makeRule('ntfy');
  const s = new Store(() => prisma, () => now, fast);
  await s.open(died(slack));
  await s.settled();
  await s.open(died(ntfy));
  await s.settled();
  assert.equal(got.length, 2);
  assert.deepEqual(Object.keys(JSON.parse(got[0].body)), ['text']);
  assert.match(JSON.parse(got[0].body).text, /^\[FIRING\] app on web-1 exited with code 3/);
  assert.match(got[0].headers['content-type'] ?? '', /application\/json/);
  assert.match(got[1].body, /^\[FIRING\] app on web-1 exited with code 3/);
  assert.equal(got[1].headers.title, 'Alert: rule ntfy');
  assert.equal(got[1].headers.priority, '4');
  assert.equal(got[1].headers.tags, 'warning,berth');
});

test('a rule without a webhook opens alerts for the dashboard and sends nothing', async () => {
  const rule = await makeRule(null);
  const s = new Store(() => prisma, () => now, fast);
  assert.equal(await s.open(died(rule)), true);
  await s.settled();
  assert.equal(got.length, 0);
  assert.equal((await prisma.alert.findFirstOrThrow({ where: { ruleId: rule.id } })).delivery, 'none');
});
