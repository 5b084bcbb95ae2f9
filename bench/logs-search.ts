// The log history's speed on the agent's own code (agent/engine/logs): a rare regex searched
// over about 1 GB of json-file logs (rotated files as the monitor lays them out) by the
// agent's search worker, against `grep -E` over the same files, interleaved, medians; and
// the time to the first page of a 1,000,000-line log opened at its start, at a time in its
// middle and at its end. The files are written once into a temp dir and removed after.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPage } from '../agent/engine/logs/history';
import { runSearch, type SearchSpec } from '../agent/engine/logs/search';
import { median } from './cli';

const RFC = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z');
const PATHS = ['/api/v1/items', '/api/v1/users', '/healthz', '/static/app.js', '/api/v1/orders'];

/** Writes `bytes` (or `maxLines` lines) of log as `files` rotated files (LOG, LOG.1 …, LOG.index); every `rareEvery`th line is the rare one. */
export function writeBenchLog(path: string, bytes: number, files: number, rareEvery: number, t0: number, stepMs: number, maxLines = Infinity): { lines: number; paths: string[] } {
  const per = Math.ceil(bytes / files);
  const perLines = Math.ceil(maxLines / files);
  const names = Array.from({ length: files }, (_, i) => (i === files - 1 ? path : `${path}.${files - 1 - i}`));
  const index: string[] = [];
  let n = 0;
  let start = 0;
  for (const name of names) {
    const fd = openSync(name, 'w');
    let size = 0;
    const parts: string[] = [];
    let buffered = 0;
    const until = n + perLines;
    while (size < per && n < until && n < maxLines) {
      const text =
        n % rareEvery === rareEvery - 1
          ? `ERROR upstream timeout after ${1000 + (n % 9000)}ms id=${n}`
          : `INFO request id=${n} path=${PATHS[n % PATHS.length]}/${n % 9973} status=${n % 17 === 0 ? 404 : 200} dur=${n % 97}ms`;
      const line = `{"log":"${text}\\n","stream":"${n % 11 === 0 ? 'stderr' : 'stdout'}","time":"${RFC(t0 + n * stepMs)}"}\n`;
      parts.push(line);
      buffered += line.length;
      size += line.length;
      n++;
      if (buffered > 4 << 20) {
        writeSync(fd, parts.join(''));
        parts.length = 0;
        buffered = 0;
      }
    }
    writeSync(fd, parts.join(''));
    closeSync(fd);
    index.push(`${statSync(name).ino} ${start}\n`);
    start += size;
  }
  writeFileSync(`${path}.index`, index.join(''));
  return { lines: n, paths: names };
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export interface LogsSearchBench {
  /** A search of nothing in a thread not started yet: the thread's start (from the sources, through tsx). */
  coldStartMs: number;
  bytes: number;
  files: number;
  lines: number;
  hits: number;
  rounds: Array<{ name: string; berthMs: number; firstHitMs: number; grepMs: number; berthHits: number; grepHits: number }>;
  pages: { lines: number; startMs: number; middleMs: number; endMs: number };
}

export async function benchLogsSearch(opts: { rounds: number; bytes?: number }): Promise<LogsSearchBench> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-logs-search-'));
  try {
    const bytes = opts.bytes ?? 1_000_000_000;
    const files = 10;
    const path = join(dir, 'c-json.log');
    const t0 = Date.UTC(2026, 0, 1);
    const { lines, paths } = writeBenchLog(path, bytes, files, 100_000, t0, 1);
    const cases: Array<{ name: string; spec: Omit<SearchSpec, 'path' | 'maxHits'>; grep: string[] }> = [
      { name: 'rare regex, case-sensitive', spec: { query: 'ERROR [a-z]+ timeout after \\d+ms', regex: true, caseSensitive: true }, grep: ['-E', 'ERROR [a-z]+ timeout after [0-9]+ms'] },
      { name: 'rare regex, any case', spec: { query: 'ERROR [a-z]+ timeout after \\d+ms', regex: true }, grep: ['-E', '-i', 'ERROR [a-z]+ timeout after [0-9]+ms'] },
      // Either of two: the bytes are searched for either side's literal.
      { name: 'rare alternation', spec: { query: 'ERROR upstream|FATAL upstream', regex: true, caseSensitive: true }, grep: ['-E', 'ERROR upstream|FATAL upstream'] },
      // No literal every match must hold: every line's text is tested.
      { name: 'rare regex, no literal', spec: { query: '[A-Z]{5} [a-z]{8} [a-z]{7}', regex: true, caseSensitive: true }, grep: ['-E', '[A-Z]{5} [a-z]{8} [a-z]{7}'] },
    ];
    // The agent keeps its search threads started between searches; the first one's start is measured on its own.
    const coldStartMs = await timeAsync(() => runSearch({ path: join(dir, 'none-json.log'), query: 'x', maxHits: 1 }, { onHits: async () => {} }));
    const rounds: LogsSearchBench['rounds'] = [];
    for (const c of cases) {
      const berth: number[] = [];
      const first: number[] = [];
      const grep: number[] = [];
      let berthHits = 0;
      let grepHits = 0;
      for (let r = 0; r < opts.rounds; r++) {
        grep.push(
          time(() => {
            const g = spawnSync('grep', ['-h', ...c.grep, ...paths], { encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, LC_ALL: 'C' } });
            if (g.status !== 0 && g.status !== 1) throw new Error(`grep: ${g.stderr}`);
            grepHits = g.stdout ? g.stdout.trimEnd().split('\n').length : 0;
          }),
        );
        let firstAt = 0;
        const t = performance.now();
        const out = await runSearch({ ...c.spec, path, maxHits: 1_000_000 }, {
          onHits: async () => {
            if (!firstAt) firstAt = performance.now() - t;
          },
        });
        berth.push(performance.now() - t);
        first.push(firstAt);
        if (out.error) throw new Error(`search: ${out.error}`);
        berthHits = out.total;
      }
      rounds.push({ name: c.name, berthMs: median(berth), firstHitMs: median(first), grepMs: median(grep), berthHits, grepHits });
    }
    rmSync(dir, { recursive: true, force: true });

    // 1,000,000 lines, rotated every ~10 MB.
    const dir2 = mkdtempSync(join(tmpdir(), 'berth-bench-logs-pages-'));
    const p2 = join(dir2, 'c-json.log');
    try {
      const million = writeBenchLog(p2, Infinity, 16, 1_000_000_000, t0, 10, 1_000_000);
      const mid = (t0 + (million.lines / 2) * 10) / 1000;
      const startMs: number[] = [];
      const middleMs: number[] = [];
      const endMs: number[] = [];
      for (let r = 0; r < Math.max(5, opts.rounds); r++) {
        startMs.push(await timeAsync(() => readPage(p2, { after: 0, limit: 500 })));
        middleMs.push(await timeAsync(() => readPage(p2, { at: mid, limit: 500 })));
        endMs.push(await timeAsync(() => readPage(p2, { limit: 500 })));
      }
      return {
        coldStartMs,
        bytes,
        files,
        lines,
        hits: Math.floor(lines / 100_000),
        rounds,
        pages: { lines: million.lines, startMs: median(startMs), middleMs: median(middleMs), endMs: median(endMs) },
      };
    } finally {
      rmSync(dir2, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printLogsSearchBench(b: LogsSearchBench, rounds: number): void {
  const mb = b.bytes / 1e6;
  console.log(`log search over ${(b.bytes / 1e9).toFixed(2)} GB of json-file logs (${b.files} files, ${b.lines.toLocaleString('en')} lines), median of ${rounds}: the agent's search worker vs grep -E -h (LC_ALL=C, grep's fastest)`);
  for (const r of b.rounds) {
    console.log(
      `  ${r.name.padEnd(28)} berth ${r.berthMs.toFixed(0).padStart(6)} ms (${(mb / (r.berthMs / 1000)).toFixed(0)} MB/s, first hit ${r.firstHitMs.toFixed(0)} ms, ${r.berthHits} hits)   grep ${r.grepMs.toFixed(0).padStart(6)} ms (${(mb / (r.grepMs / 1000)).toFixed(0)} MB/s, ${r.grepHits} lines)   ratio ${(r.berthMs / r.grepMs).toFixed(2)}`,
    );
  }
  console.log(`  (a search thread's start, paid once: the agent keeps threads started between searches: ${b.coldStartMs.toFixed(0)} ms from the sources through tsx)`);
  console.log(`first page (500 lines) of a ${b.pages.lines.toLocaleString('en')}-line log: at its start ${b.pages.startMs.toFixed(1)} ms, at a time in its middle ${b.pages.middleMs.toFixed(1)} ms, at its end ${b.pages.endMs.toFixed(1)} ms`);
}
