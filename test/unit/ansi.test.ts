import assert from 'node:assert/strict';
import { test } from 'node:test';
import { colorCss, parseAnsi, RGB_FLAG, stripAnsi, styleCss } from '../../app/lib/ansi';

const E = '\x1b';

test('text without escapes is one span with no style', () => {
  assert.deepEqual(parseAnsi('plain text').spans, [{ text: 'plain text', style: null }]);
  assert.deepEqual(parseAnsi('').spans, []);
});

test('the 16 named colours, foreground and background, bright ones too, and reset', () => {
  const { spans, end } = parseAnsi(`${E}[31mred${E}[0m ${E}[42;97mwhite on green${E}[m after`);
  assert.deepEqual(spans, [
    { text: 'red', style: { fg: 1 } },
    { text: ' ', style: null },
    { text: 'white on green', style: { bg: 2, fg: 15 } },
    { text: ' after', style: null },
  ]);
  assert.equal(end, null);
  assert.deepEqual(parseAnsi(`${E}[101mx`).spans, [{ text: 'x', style: { bg: 9 } }]);
});

test('256-colour and truecolor, with ; and with : separators', () => {
  assert.deepEqual(parseAnsi(`${E}[38;5;208mo`).spans[0].style, { fg: 208 });
  assert.deepEqual(parseAnsi(`${E}[48;5;21mb`).spans[0].style, { bg: 21 });
  assert.deepEqual(parseAnsi(`${E}[38;2;255;128;0mt`).spans[0].style, { fg: RGB_FLAG | 0xff8000 });
  assert.deepEqual(parseAnsi(`${E}[38:2::1:2:3mt`).spans[0].style, { fg: RGB_FLAG | 0x010203 });
  assert.deepEqual(parseAnsi(`${E}[38:5:9mt`).spans[0].style, { fg: 9 });
  // A code after an extended colour is read as a code, not as part of the colour.
  assert.deepEqual(parseAnsi(`${E}[38;5;10;1mt`).spans[0].style, { fg: 10, bold: true });
  // Out-of-range values change nothing, and never throw.
  assert.deepEqual(parseAnsi(`${E}[38;5;300mt`).spans, [{ text: 't', style: null }]);
  assert.equal(colorCss(RGB_FLAG | 0xff8000), '#ff8000');
  assert.equal(colorCss(16), 'rgb(0, 0, 0)');
  assert.equal(colorCss(231), 'rgb(255, 255, 255)');
  assert.equal(colorCss(196), 'rgb(255, 0, 0)');
  assert.equal(colorCss(244), 'rgb(128, 128, 128)');
});

test('bold, dim, italic, underline, inverse, strike and their own resets', () => {
  const { spans } = parseAnsi(`${E}[1;2;3;4;7;9mall${E}[22mno-weight${E}[23;24;27;29mnone`);
  assert.deepEqual(spans, [
    { text: 'all', style: { bold: true, dim: true, italic: true, underline: true, inverse: true, strike: true } },
    { text: 'no-weight', style: { italic: true, underline: true, inverse: true, strike: true } },
    { text: 'none', style: null },
  ]);
  assert.deepEqual(parseAnsi(`${E}[31;1mx${E}[39my`).spans, [
    { text: 'x', style: { fg: 1, bold: true } },
    { text: 'y', style: { bold: true } },
  ]);
});

test('a look carries over to the next line when no reset ended it', () => {
  const first = parseAnsi(`${E}[32mstarts green`);
  assert.deepEqual(first.end, { fg: 2 });
  assert.deepEqual(parseAnsi('still green', first.end).spans, [{ text: 'still green', style: { fg: 2 } }]);
  assert.deepEqual(parseAnsi(`go on${E}[0m done`, first.end).spans, [
    { text: 'go on', style: { fg: 2 } },
    { text: ' done', style: null },
  ]);
});

test('other escapes are dropped, not shown: cursor moves, erase, OSC titles and links, charsets', () => {
  const raw = `${E}[2K${E}[1G${E}]0;title${E}\\${E}]8;;http://x.test${E}\\link${E}]8;;${E}\\ ${E}(Bok${E}[?25l${E}7x`;
  assert.equal(stripAnsi(raw), 'link okx');
  assert.deepEqual(parseAnsi(raw).spans, [{ text: 'link okx', style: null }]);
  // An escape cut off at the end of the line swallows only itself.
  assert.equal(stripAnsi(`ok${E}[31`), 'ok');
  assert.equal(stripAnsi(`ok${E}`), 'ok');
  assert.equal(stripAnsi(`a${E}]0;no end`), 'a');
  // The 8-bit CSI.
  assert.equal(stripAnsi('\x9b31mred'), 'red');
});

test('strip leaves everything but escapes: brackets and text that look like codes stay', () => {
  assert.equal(stripAnsi(`${E}[1m[31m]${E}[0m <b>&amp;</b>`), '[31m] <b>&amp;</b>');
  assert.equal(stripAnsi('no escapes [0m'), 'no escapes [0m');
});

test('markup in a line is text in a span, never parsed', () => {
  const { spans } = parseAnsi(`${E}[31m<img src=x onerror=alert(1)>`);
  assert.deepEqual(spans, [{ text: '<img src=x onerror=alert(1)>', style: { fg: 1 } }]);
});

test('CSS for a look: inverse swaps colours, bold brightens the dark named ones', () => {
  const d = { fg: '#eee', bg: '#000' };
  assert.deepEqual(styleCss({ fg: 1, bold: true }, d), { color: colorCss(9), fontWeight: '700' });
  assert.deepEqual(styleCss({ inverse: true }, d), { color: '#000', backgroundColor: '#eee' });
  assert.deepEqual(styleCss({ fg: 4, inverse: true }, d), { color: '#000', backgroundColor: colorCss(4) });
  assert.deepEqual(styleCss({ underline: true, strike: true, dim: true, italic: true }, d), {
    textDecoration: 'underline line-through',
    opacity: '0.6',
    fontStyle: 'italic',
  });
});

test('raw offsets (a search match in the printed text) map onto the shown text', async () => {
  const { visibleIndexMap } = await import('../../app/lib/ansi');
  const raw = `${E}[31merror${E}[0m: disk`;
  const map = visibleIndexMap(raw)!;
  const at = raw.indexOf('error');
  assert.equal(map[at], 0);
  assert.equal(map[at + 5], 5);
  const d = raw.indexOf('disk');
  assert.equal(stripAnsi(raw).slice(map[d], map[d + 4]), 'disk');
  assert.equal(visibleIndexMap('no escapes'), null);
});
