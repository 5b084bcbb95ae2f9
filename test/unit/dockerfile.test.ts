// The classic builder's readers: the Dockerfile parser (directives, continuations,
// comments, flags, stages), word expansion as dockerd's shell lexer does it, .dockerignore
// patterns, and the HEALTHCHECK / ONBUILD / ENTRYPOINT config changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDockerfile } from '../../agent/engine/build/dockerfile';
import { compileIgnore } from '../../agent/engine/build/ignore';
import { expandWord, expandWords } from '../../agent/engine/build/words';
import { applyChanges, parseGoDuration } from '../../agent/engine/images/changes';

describe('Dockerfile parser', () => {
  it('reads stages, names, meta ARGs, continuations and comments as dockerd does', () => {
    const p = parseDockerfile(['# syntax=docker/dockerfile:1', 'ARG V=1', 'FROM base:$V AS Build', '# a comment', 'RUN echo a \\', '  # inside', '', '    && echo b', 'from scratch', 'copy --from=build /x /y', ''].join('\n'));
    assert.equal(p.escape, '\\');
    assert.deepEqual(p.metaArgs.map((a) => a.args), ['V=1']);
    assert.equal(p.stages.length, 2);
    assert.equal(p.stages[0].name, 'build');
    assert.equal(p.stages[0].image, 'base:$V');
    assert.equal(p.stages[0].instructions[0].args, 'echo a && echo b');
    assert.equal(p.stages[0].instructions[0].line, 5);
    assert.equal(p.stages[0].instructions[0].original, 'RUN echo a && echo b');
    const copy = p.stages[1].instructions[0];
    assert.equal(copy.cmd, 'COPY');
    assert.deepEqual(copy.flags.get('from'), ['build']);
    assert.equal(copy.args, '/x /y');
  });

  it('takes the escape directive: a backtick continues lines and a backslash is plain', () => {
    const p = parseDockerfile('# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo hi\n');
    assert.equal(p.escape, '`');
    assert.equal(p.stages[0].instructions[0].args, 'dir c:\\ && echo hi');
    // Directives count only before anything else.
    assert.equal(parseDockerfile('FROM x\n# escape=`\nRUN a \\\n b').stages[0].instructions[0].args, 'a b');
  });

  it('refuses unknown instructions, unknown flags, BuildKit-only features and bad structure, naming the line', () => {
    const cases: Array<[string, RegExp]> = [
      ['FROM x\nFOO bar', /line 2: unknown instruction: FOO/],
      ['FROM x\nCOPY --mode=1 a b', /line 2: Unknown flag: mode/],
      ['FROM x\nCOPY --chmod=755 a b', /line 2: the --chmod option requires BuildKit/],
      ['FROM x\nRUN --mount=type=cache,target=/c true', /line 2: the --mount option requires BuildKit/],
      ['FROM x\nRUN <<EOF\necho\nEOF', /line 2: RUN with a heredoc/],
      ['RUN true', /line 1: no build stage in current context/],
      ['', /file with no instructions/],
      ['# just a comment\n\n', /file with no instructions/],
      ['FROM a AS x\nFROM b AS X', /duplicate name x/],
      ['FROM a b', /FROM requires either one or three arguments/],
      ['FROM a AS 1x', /invalid name for build stage/],
      ['# escape=x\nFROM a', /invalid escape token/],
    ];
    for (const [text, words] of cases) assert.throws(() => parseDockerfile(text), words, JSON.stringify(text));
  });
});

describe('word expansion', () => {
  const env = new Map<string, string | undefined>([
    ['A', 'one two'],
    ['E', ''],
    ['U', undefined],
  ]);
  it('expands $VAR and ${VAR} forms, keeps single quotes literal, removes quotes', () => {
    assert.equal(expandWord('$A-${A}', env), 'one two-one two');
    assert.equal(expandWord("'$A' \"$A\" \\$A", env), '$A one two $A');
    assert.equal(expandWord('${E:-dflt} ${E-set} ${A:+alt} ${U+declared} ${nope:-x}', env), 'dflt  alt declared x');
    assert.equal(expandWord('cost: $5 and $', env), 'cost: $5 and $');
    assert.throws(() => expandWord('${nope:?must be set}', env), /nope: must be set/);
    assert.throws(() => expandWord('${A#one}', env), /unsupported modifier/);
    assert.throws(() => expandWord('"open', env), /double-quote/);
  });
  it('splits words on unquoted whitespace, an unquoted expansion too', () => {
    assert.deepEqual(expandWords('80 $A "$A" $E', env), ['80', 'one', 'two', 'one two']);
  });
});

describe('.dockerignore', () => {
  it('matches as Docker\'s patternmatcher does: **, parents, exceptions, the last line winning', () => {
    const m = compileIgnore('# comment\n*.log\n**/tmp\nsecret/\n!secret/keep.txt\n/build\n');
    assert.equal(m('a.log'), true);
    assert.equal(m('dir/a.log'), false, '* does not cross directories');
    assert.equal(m('x/y/tmp/file'), true);
    assert.equal(m('secret/key'), true);
    assert.equal(m('secret/keep.txt'), false);
    assert.equal(m('build/out'), true);
    assert.equal(m('src/main.c'), false);
    assert.throws(() => compileIgnore('[z-a]'), /syntax error in pattern/);
  });
});

describe('config changes', () => {
  it('HEALTHCHECK with Go durations, NONE, and the limits dockerd checks', () => {
    assert.equal(parseGoDuration('1m30s'), 90e9);
    assert.equal(parseGoDuration('1.5s'), 1.5e9);
    assert.throws(() => parseGoDuration('5'), /invalid duration/);
    const c = applyChanges({}, ['HEALTHCHECK --interval=30s --start-period=1m --retries=2 CMD ["curl", "-f", "http://localhost"]']);
    assert.deepEqual(c.Healthcheck, { Test: ['CMD', 'curl', '-f', 'http://localhost'], Interval: 30e9, StartPeriod: 60e9, Retries: 2 });
    assert.deepEqual(applyChanges(c, ['HEALTHCHECK NONE']).Healthcheck, { Test: ['NONE'] });
    assert.throws(() => applyChanges({}, ['HEALTHCHECK --timeout=10us CMD true']), /timeout cannot be less than 1ms/);
    assert.throws(() => applyChanges({}, ['HEALTHCHECK --bogus=1 CMD true']), /Unknown flag: bogus/);
    assert.throws(() => applyChanges({}, ['HEALTHCHECK true']), /Unknown type/);
  });
  it('ENTRYPOINT drops the CMD that came before it, unless a CMD of the same changes set it; SHELL wraps the shell form', () => {
    assert.deepEqual(applyChanges({ Cmd: ['sh'] }, ['ENTRYPOINT ["/x"]']), { Entrypoint: ['/x'] });
    assert.deepEqual(applyChanges({ Cmd: ['sh'] }, ['CMD ["a"]', 'ENTRYPOINT ["/x"]']), { Cmd: ['a'], Entrypoint: ['/x'] });
    assert.deepEqual(applyChanges({ Shell: ['/bin/bash', '-c'] }, ['CMD echo hi']).Cmd, ['/bin/bash', '-c', 'echo hi']);
  });
  it('ONBUILD keeps its trigger as written and refuses what dockerd refuses', () => {
    assert.deepEqual(applyChanges({}, ['ONBUILD RUN echo hi', 'ONBUILD COPY . /app']).OnBuild, ['RUN echo hi', 'COPY . /app']);
    assert.throws(() => applyChanges({}, ['ONBUILD ONBUILD RUN x']), /Chaining ONBUILD/);
    assert.throws(() => applyChanges({}, ['ONBUILD MAINTAINER me']), /MAINTAINER isn't allowed as an ONBUILD trigger/);
  });
});
