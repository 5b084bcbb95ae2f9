// The automatic update pass with an injected clock, a fake hub (the agent's answers) and an
// in-memory stand-in for the database: only containers that asked by label are touched,
// only when due and inside their window, each run updates what has an update, and the
// audit log gets a record per container and a summary; a bad label is refused once, by name;
// a stack's labelled services are updated together.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PrismaClient } from '../../generated/prisma/client';
import type { ContainerSummary, HostSnapshot } from '../../protocol/agent-link';
import type { UpdateResultEvent } from '../../protocol/alerts';
import type { StackUpdateOutcome, UpdateReport } from '../../protocol/updates';
import { runAutoUpdates, type AutoUpdateMemory } from '../../server/updates/auto';

const summary = (id: string, name: string, autoUpdate?: ContainerSummary['autoUpdate']): ContainerSummary => ({
  id,
  name,
  image: '127.0.0.1:5000/app:stable',
  imageId: 'sha256:' + '0'.repeat(64),
  command: 'sh',
  created: '',
  state: 'running',
  status: 'Up',
  exitCode: 0,
  startedAt: '',
  finishedAt: '',
  memoryLimit: 0,
  ...(autoUpdate ? { autoUpdate } : {}),
});

function world(containers: ContainerSummary[]) {
  const audits: Array<{ action: string; target: string | null; result: string }> = [];
  const commands: Array<{ op: string; ids?: string[]; id?: string }> = [];
  const snapshot = { info: {}, containers, images: [] } as unknown as HostSnapshot;
  const hub = {
    localHosts: () => [{ hostId: 'h1', address: null, seen: 0, snapshot }],
    command: async <T>(_hostId: string, cmd: { op: string; ids?: string[]; id?: string }) => {
      commands.push(cmd);
      if (cmd.op === 'updates.status') {
        const report: UpdateReport = { containers: (cmd.ids ?? []).map((id) => ({ containerId: id, name: id, image: 'x', state: id === 'c-old' ? 'up-to-date' : 'update-available' })), jobs: [] };
        return { ok: true as const, result: report as T };
      }
      return { ok: true as const, result: { outcome: cmd.id === 'c-bad' ? 'rolled-back' : 'updated', message: cmd.id === 'c-bad' ? 'rolled back: new container unhealthy after 60 s' : `updated ${cmd.id}` } as T };
    },
  };
  const prisma = {
    host: { findUnique: async () => ({ id: 'h1', teamId: 't1', revokedAt: null }) },
    registry: { findMany: async () => [], findUnique: async () => null },
    auditLog: { create: async ({ data }: { data: { action: string; target: string | null; result: string } }) => void audits.push(data) },
  } as unknown as PrismaClient;
  return { audits, commands, hub, prisma };
}

test('only labelled containers, only when due and in their window; each run audited', async () => {
  const w = world([
    summary('c-web', 'web', { window: '02:00-04:00' }),
    summary('c-bad', 'bad', { schedule: 'every 1h' }),
    summary('c-old', 'old', {}),
    summary('c-manual', 'manual'),
  ]);
  const mem: AutoUpdateMemory = { lastRun: new Map(), refused: new Map() };
  let clock = Date.parse('2026-12-01T10:00:00Z');
  const deps = { hub: w.hub, prisma: w.prisma, now: () => clock };

  await runAutoUpdates(deps, mem);
  assert.deepEqual(w.commands[0], { op: 'updates.status', force: true, ids: ['c-bad', 'c-old'] }, 'web waits for its window; manual never asked');
  assert.deepEqual(w.commands.slice(1).map((c) => [c.op, c.id]), [['updates.apply', 'c-bad']], 'old is up to date: not updated');
  assert.deepEqual(w.audits.map((a) => [a.action, a.result]), [
    ['containers.autoUpdate', 'rolled back: new container unhealthy after 60 s'],
    ['updates.autoSummary', 'bad: rolled back: new container unhealthy after 60 s'],
  ]);

  w.commands.length = 0;
  clock += 30 * 60_000;
  await runAutoUpdates(deps, mem);
  assert.equal(w.commands.length, 0, 'nothing due half an hour later');

  clock = Date.parse('2026-12-02T02:30:00Z');
  await runAutoUpdates(deps, mem);
  assert.deepEqual(w.commands.filter((c) => c.op === 'updates.apply').map((c) => c.id), ['c-web', 'c-bad'], 'in the window, web runs; bad is due again');
  assert.match(w.audits.at(-1)!.result, /^web: ok: updated c-web; bad: rolled back/);
});

test('a bad schedule label is refused in the audit log once, and nothing runs for it', async () => {
  const w = world([summary('c-x', 'x', { schedule: 'every 5m' })]);
  const mem: AutoUpdateMemory = { lastRun: new Map(), refused: new Map() };
  const deps = { hub: w.hub, prisma: w.prisma, now: () => Date.parse('2026-12-01T10:00:00Z') };
  await runAutoUpdates(deps, mem);
  await runAutoUpdates(deps, mem);
  assert.equal(w.commands.length, 0);
  assert.equal(w.audits.length, 1);
  assert.match(w.audits[0].result, /^refused: berth\.auto-update\.schedule: "every 5m" is more often than every 15 minutes/);
});

test("a stack's labelled services with an update are updated together, as one stack update; each end goes to alerting", async () => {
  const svc = (id: string, name: string, project?: string) => ({ ...summary(id, name, {}), ...(project ? { project, labels: { 'com.docker.compose.project': project } } : {}) });
  const w = world([svc('c-db', 'shop-db-1', 'shop'), svc('c-web', 'shop-web-1', 'shop'), svc('c-solo', 'solo')]);
  const stackCalls: unknown[] = [];
  const hub = {
    ...w.hub,
    command: async <T>(hostId: string, cmd: { op: string; ids?: string[]; id?: string; project?: string; only?: string[] }) => {
      if (cmd.op !== 'updates.stack') return w.hub.command<T>(hostId, cmd);
      stackCalls.push(cmd);
      const out: StackUpdateOutcome = {
        project: 'shop',
        outcome: 'rolled-back',
        message: 'rolled back: web: new container exited (code 3)',
        services: [
          { service: 'db', name: 'shop-db-1', image: 'x', outcome: 'rolled-back', message: 'rolled back with the stack (web did not come up)', containerId: 'c-db' },
          { service: 'web', name: 'shop-web-1', image: 'x', outcome: 'rolled-back', message: 'rolled back: new container exited (code 3)', containerId: 'c-web', failed: true },
        ],
      };
      return { ok: true as const, result: out as T };
    },
  };
  const alerts: UpdateResultEvent[] = [];
  const mem: AutoUpdateMemory = { lastRun: new Map(), refused: new Map() };
  await runAutoUpdates({ hub, prisma: w.prisma, now: () => Date.parse('2026-12-01T10:00:00Z'), alert: async (_h, e) => void alerts.push(e) }, mem);
  assert.deepEqual(stackCalls, [{ op: 'updates.stack', project: 'shop', only: ['c-db', 'c-web'] }]);
  assert.deepEqual(w.commands.filter((c) => c.op === 'updates.apply').map((c) => c.id), ['c-solo'], 'the lone container alone, the stack services not one by one');
  assert.deepEqual(w.audits.map((a) => [a.action, a.target]), [
    ['containers.autoUpdate', 'solo (127.0.0.1:5000/app:stable)'],
    ['stacks.autoUpdate', 'shop (shop-db-1, shop-web-1)'],
    ['updates.autoSummary', '2 container(s)'],
  ]);
  assert.match(w.audits[1].result, /^rolled back: web: new container exited \(code 3\) — db: rolled-back: rolled back with the stack/);
  assert.deepEqual(alerts.map((a) => [a.name, a.outcome, a.automatic, a.stack]), [
    ['solo', 'updated', true, undefined],
    ['shop-web-1', 'rolled-back', true, 'shop'],
  ], 'the service that did not come up raises it; the one put back with it does not');
});
