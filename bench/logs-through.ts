// The same log history through the whole path a browser uses: a control plane, the compiled
// agent (its bundle, with the search worker's bundle beside it) enrolled over the link, and a
// socket.io client with a signed-in session. The 1 GB log is placed as a removed container's
// kept log (ROOT/kept-logs/…), which the agent reads as it reads any; a 1,000,000-line log too.
// Measured: a search's first hit and its end as the browser sees them, the first pages by tRPC.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import type { LogSearchBatch, LogSearchDone } from '../protocol/logs';
import type { ServerToUi, UiToServer } from '../protocol/ui-socket';
import { agentBundle, ensureAgentBundle } from '../scripts/agent-bundle.mjs';
import { cgroupParentFor } from '../agent/engine/index';
import { removeCgroupParent } from '../test/fixtures/processes';
import { ensureNextBuild, signIn, startControlPlane, trpc } from '../test/integration/support/control-plane';
import { median } from './cli';
import { writeBenchLog } from './logs-search';

export interface LogsThroughBench {
  bytes: number;
  search: Array<{ name: string; firstHitMs: number; doneMs: number; hits: number }>;
  pages: { startMs: number; middleMs: number; endMs: number };
}

function keep(root: string, name: string, id: string): string {
  const dir = path.join(root, 'kept-logs', `${name}-${id}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const now = new Date().toISOString();
  writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ containerId: id, name, image: 'bench', created: now, startedAt: now, finishedAt: now, removedAt: now, size: 0 }));
  return path.join(dir, `${id}-json.log`);
}

export async function benchLogsThrough(opts: { rounds: number; bytes: number }): Promise<LogsThroughBench> {
  ensureNextBuild();
  await ensureAgentBundle();
  const tmp = mkdtempSync(path.join(tmpdir(), 'berth-bench-logs-through-'));
  const root = path.join(tmp, 'root');
  const cp = await startControlPlane();
  let agent: ReturnType<typeof spawn> | undefined;
  const startAgent = (extra: string[]) => {
    const fd = openSync(path.join(tmp, 'agent.log'), 'a');
    const child = spawn(process.execPath, [agentBundle, '--root', root, '--docker-socket', path.join(tmp, 'docker.sock'), '--bridge', 'none', '--server', cp.url, ...extra], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return child;
  };
  const connected = async () => {
    for (let i = 0; i < 600; i++) {
      if (/connected to .* as host/.test(readFileSync(path.join(tmp, 'agent.log'), 'utf8'))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the agent did not connect:\n${readFileSync(path.join(tmp, 'agent.log'), 'utf8').slice(-2000)}`);
  };
  const stopAgent = async () => {
    if (!agent || agent.exitCode !== null) return;
    const gone = new Promise((r) => agent!.once('exit', r));
    agent.kill('SIGTERM');
    await gone;
  };
  try {
    const admin = { email: 'bench@example.test', name: 'Bench', password: 'bench-pass-123' };
    await trpc(cp.url).auth.setup.mutate(admin);
    const cookie = (await signIn(cp.url, admin.email, admin.password))!;
    const api = trpc(cp.url, cookie);
    const { command } = await api.hosts.createJoinToken.mutate({ name: 'bench' });
    // Enrolled once (that makes the root), stopped, given the logs, started again.
    agent = startAgent(['--token', /--token (\S+)/.exec(command)![1]]);
    await connected();
    const hostId = /as host (\S+)/.exec(readFileSync(path.join(tmp, 'agent.log'), 'utf8'))![1];
    await stopAgent();
    const bigId = 'b'.repeat(64);
    const millionId = 'c'.repeat(64);
    const t0 = Date.UTC(2026, 0, 1);
    writeBenchLog(keep(root, 'big', bigId), opts.bytes, 10, 100_000, t0, 1);
    // The default retention (1 GiB in all) would prune one of the two at start.
    writeFileSync(path.join(root, 'kept-logs', 'retention.json'), JSON.stringify({ maxAgeSeconds: 86400, maxBytes: 2 ** 40 }));
    const million = writeBenchLog(keep(root, 'million', millionId), Infinity, 16, 1_000_000_000, t0, 10, 1_000_000);
    writeFileSync(path.join(tmp, 'agent.log'), '');
    agent = startAgent([]);
    await connected();
    for (let i = 0; i < 100 && !(await api.hosts.get.query({ hostId })).online; i++) await new Promise((r) => setTimeout(r, 100));

    const ui = io(`${cp.url}/ui`, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie }, forceNew: true }) as unknown as import('socket.io-client').Socket<ServerToUi, UiToServer>;
    await new Promise<void>((resolve, reject) => {
      ui.once('connect', () => resolve());
      ui.once('connect_error', reject);
    });
    const source = { hostId, containerId: bigId, kept: true };
    const searchOnce = async (query: string, regex: boolean) => {
      const t = performance.now();
      let first = 0;
      const done = new Promise<LogSearchDone>((resolve) => {
        const onBatch = (b: LogSearchBatch) => {
          if (!first && b.hits.length) first = performance.now() - t;
        };
        ui.on('logs:searchBatch', onBatch);
        ui.once('logs:searchDone', (d) => {
          ui.off('logs:searchBatch', onBatch);
          resolve(d);
        });
      });
      const ack = await ui.emitWithAck('logs:search', { sources: [source], query, regex, caseSensitive: true, maxHits: 10_000 });
      if (!ack.ok) throw new Error(`search: ${ack.error}`);
      const d = await done;
      if (d.error) throw new Error(`search: ${d.error}`);
      return { firstHitMs: first, doneMs: performance.now() - t, hits: d.total };
    };
    // As a viewer opens a log: a page first (which starts the agent's search thread).
    await api.logs.page.query({ source, limit: 100 });
    const search: LogsThroughBench['search'] = [];
    for (const [name, query, regex] of [
      ['rare regex', 'ERROR [a-z]+ timeout after \\d+ms', true],
      ['plain text', 'upstream timeout', false],
    ] as const) {
      const runs = [];
      for (let r = 0; r < opts.rounds; r++) runs.push(await searchOnce(query, regex));
      search.push({ name, firstHitMs: median(runs.map((x) => x.firstHitMs)), doneMs: median(runs.map((x) => x.doneMs)), hits: runs[0].hits });
    }
    ui.disconnect();
    const m = { hostId, containerId: millionId, kept: true };
    const mid = (t0 + (million.lines / 2) * 10) / 1000;
    const startMs: number[] = [];
    const middleMs: number[] = [];
    const endMs: number[] = [];
    const timed = async (fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      return performance.now() - t;
    };
    for (let r = 0; r < Math.max(5, opts.rounds); r++) {
      startMs.push(await timed(() => api.logs.page.query({ source: m, after: 0, limit: 500 })));
      middleMs.push(await timed(() => api.logs.page.query({ source: m, at: mid, limit: 500 })));
      endMs.push(await timed(() => api.logs.page.query({ source: m, limit: 500 })));
    }
    return { bytes: opts.bytes, search, pages: { startMs: median(startMs), middleMs: median(middleMs), endMs: median(endMs) } };
  } finally {
    await stopAgent();
    removeCgroupParent(cgroupParentFor(root));
    await cp.stop();
    rmSync(cp.dataDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function printLogsThroughBench(b: LogsThroughBench, rounds: number): void {
  console.log(`the same through the control plane (compiled agent over the link, a signed-in socket.io client; ${(b.bytes / 1e9).toFixed(2)} GB kept log), median of ${rounds}:`);
  for (const s of b.search) console.log(`  search, ${s.name.padEnd(12)} first hit in the browser ${s.firstHitMs.toFixed(0)} ms, done ${s.doneMs.toFixed(0)} ms (${s.hits} hits, ${(b.bytes / 1e6 / (s.doneMs / 1000)).toFixed(0)} MB/s)`);
  console.log(`  first page by tRPC (500 lines of a 1,000,000-line log): at its start ${b.pages.startMs.toFixed(1)} ms, at a time in its middle ${b.pages.middleMs.toFixed(1)} ms, at its end ${b.pages.endMs.toFixed(1)} ms`);
}
