// Property-based fuzzing (fast-check) of the Dockerfile parser, the word expander and the
// .dockerignore matcher, which read what a build's user sends. Fixed seed and a few hundred
// runs in `npm test`; `npm run fuzz` runs many more from a fresh seed (FUZZ_RUNS, FUZZ_SEED).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EngineError } from '../../agent/engine/errors';
import { INSTRUCTIONS, parseDockerfile } from '../../agent/engine/build/dockerfile';
import { compileIgnore } from '../../agent/engine/build/ignore';
import { expandWord, expandWords } from '../../agent/engine/build/words';

const longRun = process.env.FUZZ_RUNS !== undefined;
const runs = Number(process.env.FUZZ_RUNS ?? 300);
const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : longRun ? Date.now() % 2 ** 31 : 20261201;
if (longRun) console.log(`fuzz: ${runs} runs per property, seed ${seed} (replay with FUZZ_SEED=${seed})`);
const params = (n = runs) => ({ seed, numRuns: n, endOnFailure: true });

/** Only the builder's own refusals (400s) may come out of these parsers, never a crash. */
function refusalOrValue<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    assert.ok(e instanceof EngineError, `not an EngineError: ${(e as Error)?.stack ?? String(e)}`);
    assert.equal(e.status, 400, e.message);
    return undefined;
  }
}

const KEYWORDS = Object.keys(INSTRUCTIONS);
const keyword = fc.constantFrom(...KEYWORDS, ...KEYWORDS.map((k) => k.toLowerCase()));
// Arguments without the characters that have a meaning to the parser itself.
// (A first word may not look like a --flag; inner words may.)
const plainArg = fc.stringMatching(/^[A-Za-z0-9_./:=@+][A-Za-z0-9_./:=@+ -]{0,29}$/).map((s) => s.trimEnd());

describe('fuzz: the Dockerfile parser', () => {
  it('any text parses or is refused as a 400 naming a line; never a crash', () => {
    const noise = fc.array(fc.oneof(fc.string({ maxLength: 40 }), keyword, fc.constantFrom('\\', '`', '#', '# escape=`', '\n', ' \\\n', 'FROM x', '--from=a', '<<EOF', '["a"]', '${A:-b}')), { maxLength: 20 }).map((parts) => parts.join(' '));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), noise), (text) => {
        const parsed = refusalOrValue(() => parseDockerfile(text));
        if (!parsed) return;
        const lines = text.split(/\r?\n/).length;
        for (const s of parsed.stages) {
          assert.equal(s.from.cmd, 'FROM');
          for (const i of s.instructions) {
            assert.ok(KEYWORDS.includes(i.cmd), i.cmd);
            assert.ok(i.line >= 1 && i.line <= lines, `line ${i.line} of ${lines}`);
          }
        }
      }),
      params(),
    );
  });

  it('instructions written with continuations, comments and blank lines read back as written', () => {
    const ins = fc.record({ cmd: keyword.filter((k) => k.toUpperCase() !== 'FROM'), words: fc.array(plainArg, { minLength: 1, maxLength: 4 }), breaks: fc.array(fc.boolean(), { maxLength: 4 }), noise: fc.constantFrom('', '# a comment', '   ') });
    fc.assert(
      fc.property(fc.array(ins, { minLength: 1, maxLength: 8 }), fc.boolean(), (list, backtick) => {
        const esc = backtick ? '`' : '\\';
        let text = backtick ? '# escape=`\n' : '';
        text += 'FROM base AS one\n';
        for (const i of list) {
          // A continuation after some words, a comment line inside it.
          const parts = i.words.map((w, k) => (i.breaks[k] && k < i.words.length - 1 ? `${w} ${esc}\n${i.noise ? i.noise + '\n' : ''}` : `${w} `));
          text += `${i.noise}\n${i.cmd} ${parts.join('')}\n`;
        }
        const parsed = parseDockerfile(text);
        assert.equal(parsed.escape, esc);
        assert.equal(parsed.stages.length, 1);
        assert.equal(parsed.stages[0].name, 'one');
        const got = parsed.stages[0].instructions;
        assert.deepEqual(
          got.map((g) => g.cmd),
          list.map((l) => l.cmd.toUpperCase()),
        );
        got.forEach((g, k) => assert.equal(g.args.replace(/\s+/g, ' '), list[k].words.join(' ').replace(/\s+/g, ' ').trim()));
      }),
      params(),
    );
  });
});

describe('fuzz: word expansion', () => {
  const env = new Map<string, string | undefined>([
    ['A', 'one two'],
    ['B', ''],
    ['C', undefined],
  ]);
  it('any word expands or is refused as a 400; never a crash', () => {
    const parts = fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('$', '${', '}', ':-', ':+', '?', "'", '"', '\\', '`', 'A', '$A', '${A}', '${B:-x}', '${C+y}', ' ')), { maxLength: 12 });
    fc.assert(
      fc.property(parts.map((p) => p.join('')), fc.constantFrom('\\', '`'), (w, esc) => {
        refusalOrValue(() => expandWord(w, env, esc));
        const words = refusalOrValue(() => expandWords(w, env, esc));
        if (words) for (const x of words) assert.equal(typeof x, 'string');
      }),
      params(),
    );
  });
  it('a word with nothing to expand or unquote is itself, and splits on whitespace only', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_./:=@+, -]{0,40}$/), (w) => {
        assert.equal(expandWord(w, env), w);
        assert.deepEqual(expandWords(w, env), w.split(/\s+/).filter(Boolean));
      }),
      params(),
    );
  });
});

describe('fuzz: .dockerignore', () => {
  it('any pattern file compiles (or is refused as a 400) and answers for any path; never a crash', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('**', '*', '?', '[a-', '[!x]', '!', '\\', '/', '#')), { maxLength: 10 }).map((p) => p.join('')), fc.array(fc.stringMatching(/^[a-z.*?[\]]{1,5}$/), { minLength: 1, maxLength: 4 }), (text, path) => {
        const m = refusalOrValue(() => compileIgnore(text));
        if (m) assert.equal(typeof m(path.join('/')), 'boolean');
      }),
      params(),
    );
  });
});
