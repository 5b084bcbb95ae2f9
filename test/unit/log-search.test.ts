// Searching a log (agent/engine/logs/search*.ts) in its worker thread: plain and regex, case,
// ranges, the raw-bytes prefilter giving the same hits as testing every line, since/until,
// the hit bound with an exact total, backpressure, cancel, and the bound on a regex that
// would backtrack forever.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requiredLiteral, requiredLiterals, topLevelAlternatives } from '../../agent/engine/logs/search-core';
import { runSearch, type SearchHit, type SearchSpec } from '../../agent/engine/logs/search';
import { LOG_REGEX_TOO_COSTLY, regexError } from '../../protocol/logs';
import { writeJsonLog, type FixtureLine } from '../fixtures/json-log';

const T0 = Date.UTC(2026, 0, 1);
const N = 20_000;
const words = ['alpha', 'Bravo', 'charlie', 'DELTA', 'echo "quoted"', 'tab\there', 'ünïcödé', 'ERROR: disk full'];
const lines: FixtureLine[] = Array.from({ length: N }, (_, i) => ({ t: T0 + i * 100, line: `${i} ${words[i % words.length]} ${i % 1000 === 0 ? 'needle-rare' : ''}\n` }));

async function all(spec: Omit<SearchSpec, 'maxHits'> & { maxHits?: number }) {
  const hits: SearchHit[] = [];
  const r = await runSearch({ maxHits: 100_000, ...spec }, { onHits: async (h) => void hits.push(...h) });
  return { ...r, hits };
}

describe('log search', () => {
  let dir: string;
  let path: string;
  let seqs: number[];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-log-search-'));
    path = join(dir, 'c-json.log');
    seqs = await writeJsonLog(path, lines, 50_000);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('plain text across rotated files, case-insensitive by default, with the matched ranges', async () => {
    const r = await all({ path, query: 'bravo' });
    assert.equal(r.error, undefined);
    const want = lines.map((l, i) => [l, i] as const).filter(([l]) => /bravo/i.test(l.line));
    assert.equal(r.total, want.length);
    assert.equal(r.hits.length, want.length);
    assert.deepEqual(r.hits.map((h) => h.seq), want.map(([, i]) => seqs[i]));
    const h = r.hits[0];
    assert.equal(h.line.slice(h.ranges[0][0], h.ranges[0][1]), 'Bravo');
    assert.equal((await all({ path, query: 'bravo', caseSensitive: true })).total, 0);
    assert.equal((await all({ path, query: 'Bravo', caseSensitive: true })).total, want.length);
  });

  test('text that JSON escapes (quotes, tabs) and non-ASCII text is found as printed', async () => {
    assert.equal((await all({ path, query: 'echo "quoted"' })).total, N / words.length);
    assert.equal((await all({ path, query: 'tab\there' })).total, N / words.length);
    const u = await all({ path, query: 'ÜNÏCÖDÉ' });
    assert.equal(u.total, N / words.length);
    assert.equal(u.hits[0].line.slice(...u.hits[0].ranges[0]), 'ünïcödé');
  });

  test('a regex: every match of a line is a range; the prefiltered search finds what a line-by-line one does', async () => {
    const r = await all({ path, query: 'needle-r[a-z]+', regex: true });
    assert.equal(r.total, N / 1000);
    assert.deepEqual(r.hits.map((h) => h.line.slice(...h.ranges[0])), Array(N / 1000).fill('needle-rare'));
    // Same hits whether or not the pattern has a literal to prefilter on.
    const noLiteral = await all({ path, query: '[n]eedle-r[a-z]+', regex: true });
    assert.deepEqual(noLiteral.hits.map((h) => h.seq), r.hits.map((h) => h.seq));
    const multi = await all({ path, query: '\\d', regex: true, maxHits: 1 });
    // "0 alpha needle-rare": 1 digit; line 10: 2 digits …
    assert.deepEqual(multi.hits[0].ranges, [[0, 1]]);
    // An alternation finds each side's lines, through a prefilter of either side's literal.
    const either = await all({ path, query: 'needle-rare|DELTA', regex: true, caseSensitive: true });
    assert.equal(either.total, N / 1000 + N / words.length - lines.filter((l) => l.line.includes('needle-rare') && l.line.includes('DELTA')).length);
    const anchored = await all({ path, query: '^1999 ', regex: true });
    assert.equal(anchored.total, 1);
  });

  test('case-insensitive literals find every mix of cases, rare capitals included, as a line-by-line regex does', async () => {
    // Lines of mixed case around a word, most in lower case with few capitals: the search
    // looks for the word's rarest letter in either case and checks the rest folded.
    const d = await mkdtemp(join(tmpdir(), 'berth-log-search-case-'));
    try {
      const p = join(d, 'c-json.log');
      const forms = ['error', 'Error', 'ERROR', 'eRRoR', 'errOr', 'erro r', 'terror', 'err'];
      // 30,000 lines: over 2 MB, so the search reads it in several chunks, with matches in each.
      const mixed: FixtureLine[] = Array.from({ length: 30_000 }, (_, i) => ({ t: T0 + i, line: `request ${i} ${forms[i % forms.length]} seen by every engine here\n` }));
      await writeJsonLog(p, mixed, 1 << 30);
      for (const [query, regex] of [['error', false], ['ERROR', false], ['rror seen', false], ['ERROR|ENGINE HERE', true], ['e[r]+or|Seen By', true]] as const) {
        const r = await all({ path: p, query, regex });
        const re = new RegExp(regex ? query : query.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
        assert.equal(r.total, mixed.filter((l) => re.test(l.line)).length, query);
      }
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test('requiredLiteral takes only what every match must contain', () => {
    assert.equal(requiredLiteral('needle-r[a-z]+'), 'needle-r');
    assert.equal(requiredLiteral('foo|barbaz'), undefined);
    assert.equal(requiredLiteral('(ERROR|FATAL) upstream'), ' upstream', 'an alternation inside a group ends only that group');
    assert.equal(requiredLiteral('[|]abcd'), 'abcd');
    assert.deepEqual(requiredLiterals('ERROR up|FATAL (a|b) down'), ['ERROR up', 'FATAL ']);
    assert.equal(requiredLiterals('ERROR|x'), undefined, 'one side without a literal: no prefilter');
    assert.deepEqual(topLevelAlternatives('a\\|b|[|]c|(d|e)'), ['a\\|b', '[|]c', '(d|e)']);
    assert.equal(requiredLiteral('(abc)?defg'), 'defg');
    assert.equal(requiredLiteral('abcd?'), 'abc');
    assert.equal(requiredLiteral('ab+cde'), 'cde');
    assert.equal(requiredLiteral('\\d+ERROR\\.x'), 'ERROR.x');
    assert.equal(requiredLiteral('[abc]xy'), undefined);
    assert.equal(requiredLiteral('say \\"hi'), undefined, 'a quote is escaped in the file: no byte prefilter');
  });

  test('since/until: only the lines of the range are read and matched', async () => {
    const since = (T0 + 5000 * 100) / 1000;
    const until = (T0 + 6000 * 100) / 1000;
    const r = await all({ path, query: 'needle', since, until });
    assert.deepEqual(r.hits.map((h) => h.line.split(' ')[0]), ['5000']);
    assert.ok(r.scannedBytes < seqs[N - 1] / 5, `read ${r.scannedBytes} of ${seqs[N - 1]} bytes`);
  });

  test('maxHits bounds what is sent; total still counts every match', async () => {
    const r = await all({ path, query: 'alpha', maxHits: 10 });
    assert.equal(r.sent, 10);
    assert.equal(r.hits.length, 10);
    assert.equal(r.total, N / words.length);
  });

  test('the search waits for each batch to be taken, and stops when cancelled', async () => {
    const ac = new AbortController();
    let batches = 0;
    const r = await runSearch({ path, query: 'a', maxHits: 100_000 }, {
      signal: ac.signal,
      onHits: async () => {
        batches++;
        if (batches === 2) ac.abort();
        await new Promise((res) => setTimeout(res, 50));
      },
    });
    assert.equal(r.cancelled, true);
    assert.equal(batches, 2, 'no batch after the cancel');
  });

  test('a bad regex gets a clear message', () => {
    assert.match(regexError('(a+', false)!, /^bad regular expression: .*Unterminated group/);
    assert.equal(regexError('\\-x', false), undefined, 'escapes browsers accept stay valid');
  });

  test('catastrophic backtracking is bounded: (a+)+$ on a long line of a\'s ends at once, with the right answer', async () => {
    const p = join(dir, 'aaa-json.log');
    await writeJsonLog(p, [{ t: T0, line: 'a'.repeat(50_000) + '!\n' }, { t: T0 + 1, line: 'aaaa\n' }]);
    // `$` is the end of the line (its newline is not matched): only the second line ends in a's.
    for (const caseSensitive of [true, false]) {
      const r = await all({ path: p, query: '(a+)+$', regex: true, caseSensitive });
      assert.equal(r.error, undefined);
      assert.deepEqual(r.hits.map((h) => h.line), ['aaaa\n']);
      assert.deepEqual(r.hits[0].ranges, [[0, 4]]);
    }
  });

  test('a regex V8 cannot run in linear time (a backreference) is stopped by the line budget, and the agent goes on', async () => {
    const p = join(dir, 'backref-json.log');
    await writeJsonLog(p, [{ t: T0, line: 'ok line\n' }, { t: T0 + 1, line: 'a'.repeat(40) + '!\n' }]);
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(Date.now()), 50);
    const r = await runSearch({ path: p, query: '^(a+)+\\1$', regex: true, maxHits: 10 }, { onHits: async () => {}, lineBudgetMs: 500 });
    clearInterval(timer);
    assert.equal(r.error, LOG_REGEX_TOO_COSTLY);
    // The main thread's timers ran all along: the regex never held the agent's event loop.
    assert.ok(ticks.length >= 5, `${ticks.length} ticks of the main loop meanwhile`);
  });
});

test('foldCase: each letter either case, escapes and group names as written', async () => {
  const { foldCase } = await import('../../agent/engine/logs/search-core');
  assert.equal(foldCase('ab1'), '[aA][bB]1');
  assert.equal(foldCase('[a-z_]\\d\\W'), '[a-zA-Z_]\\d\\W');
  assert.equal(foldCase('(?<word>x)\\k<word>'), '(?<word>[xX])\\k<word>');
  assert.equal(foldCase('\\u00e9\\p{L}'), '\\u00e9\\p{L}');
  for (const [src, s] of [['err(or)?: [a-f]+', 'ERROR: BEEF'], ['^Warn\\b', 'WARN x'], ['(?<=id=)X', 'ID=x']] as const) {
    assert.deepEqual(new RegExp(foldCase(src), 'g').exec(s)?.[0], new RegExp(src, 'gi').exec(s)?.[0], src);
  }
});

test('an all-ASCII log searched without a literal (the chunk-string path) finds what the literal prefilter finds, escapes included', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-log-search-ascii-'));
  try {
    const p = join(dir, 'a-json.log');
    const texts = ['plain needle here\n', 'say "needle" quoted\n', 'tab\tneedle\n', 'no newline needle', 'nothing\n', 'needle\\back\n', 'needle at end\n'];
    const ls = Array.from({ length: 7000 }, (_, i) => ({ t: T0 + i, line: texts[i % texts.length], stream: (i % 3 ? 'stdout' : 'stderr') as 'stdout' | 'stderr' }));
    await writeJsonLog(p, ls, 100_000);
    const lit = await all({ path: p, query: 'needle', regex: true, caseSensitive: true });
    const noLit = await all({ path: p, query: '[n]eedle', regex: true, caseSensitive: true });
    assert.equal(lit.total, 6000);
    assert.deepEqual(noLit.hits.map((h) => [h.seq, h.line, h.stream, h.ranges]), lit.hits.map((h) => [h.seq, h.line, h.stream, h.ranges]));
    // `$` at the end of the text, with or without a newline printed after it.
    const atEnd = await all({ path: p, query: '[n]eed(le|xx)$', regex: true });
    assert.deepEqual([...new Set(atEnd.hits.map((h) => h.line))].sort(), ['no newline needle', 'tab\tneedle\n']);
    const errOnly = await all({ path: p, query: '[n]eedle', regex: true, stdout: false });
    assert.equal(errOnly.total, ls.filter((l) => l.stream === 'stderr' && l.line.includes('needle')).length);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
