import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShellSyntaxError, splitShellWords } from '../../protocol/shell-words';

test('splits on runs of blanks', () => {
  assert.deepEqual(splitShellWords('  echo   hello\tworld \n'), ['echo', 'hello', 'world']);
  assert.deepEqual(splitShellWords(''), []);
  assert.deepEqual(splitShellWords('   '), []);
});

test('single quotes keep everything literally, backslashes included', () => {
  assert.deepEqual(splitShellWords(`sh -c 'echo "$HOME" \\n; ls'`), ['sh', '-c', 'echo "$HOME" \\n; ls']);
});

test('double quotes group words and honour only \\" \\\\ \\$ \\`', () => {
  assert.deepEqual(splitShellWords('echo "a b" "say \\"hi\\"" "back\\\\slash" "keep\\n"'), ['echo', 'a b', 'say "hi"', 'back\\slash', 'keep\\n']);
});

test('a backslash outside quotes escapes the next character', () => {
  assert.deepEqual(splitShellWords('touch my\\ file \\"x\\"'), ['touch', 'my file', '"x"']);
});

test('quotes glue onto neighbouring text, and empty quotes make an empty word', () => {
  assert.deepEqual(splitShellWords(`a'b c'"d e"f ''`), ['ab cd ef', '']);
});

test('backslash-newline continues the line', () => {
  assert.deepEqual(splitShellWords('echo one \\\ntwo'), ['echo', 'one', 'two']);
});

test('unterminated quotes and a trailing backslash are errors', () => {
  assert.throws(() => splitShellWords(`echo 'oops`), ShellSyntaxError);
  assert.throws(() => splitShellWords('echo "oops'), ShellSyntaxError);
  assert.throws(() => splitShellWords('echo oops\\'), ShellSyntaxError);
});
