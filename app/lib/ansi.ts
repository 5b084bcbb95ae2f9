// A small reader of the terminal escapes programs put in their logs. Only SGR
// ("ESC [ … m": colours and styles) is kept, as data; every other escape (cursor moves,
// erase line, OSC titles and links, charset switches) is dropped, since a log viewer is
// no terminal. The output is plain spans for React to render as text: log text is
// untrusted and never becomes markup.

/** A colour: 0–255 is the xterm palette (0–15 the named ones); RGB is `RGB_FLAG | 0xRRGGBB`. */
export type AnsiColor = number;
export const RGB_FLAG = 0x1000000;

export interface AnsiStyle {
  fg?: AnsiColor;
  bg?: AnsiColor;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
  strike?: boolean;
}

export interface AnsiSpan {
  text: string;
  /** null: the default look (no SGR in effect). */
  style: AnsiStyle | null;
}

const ESC = '\x1b';

/** Whether `text` holds any escape at all (the common case, none, costs one scan). */
export function hasAnsi(text: string): boolean {
  return text.includes(ESC) || text.includes('\x9b');
}

function isEmpty(s: AnsiStyle): boolean {
  return (
    s.fg === undefined && s.bg === undefined && !s.bold && !s.dim && !s.italic && !s.underline && !s.inverse && !s.strike
  );
}

/**
 * The extended colour that starts at `params[i]` (just after 38 or 48): `5;N` or `2;R;G;B`.
 * Returns the colour (undefined when malformed) and how many params it used.
 */
function extendedColor(params: number[], i: number): { color: AnsiColor | undefined; used: number } {
  const mode = params[i];
  if (mode === 5) {
    const n = params[i + 1];
    return { color: n !== undefined && n >= 0 && n <= 255 ? n : undefined, used: 2 };
  }
  if (mode === 2) {
    const [r, g, b] = [params[i + 1], params[i + 2], params[i + 3]];
    const ok = [r, g, b].every((v) => v !== undefined && v >= 0 && v <= 255);
    return { color: ok ? RGB_FLAG | (r << 16) | (g << 8) | b : undefined, used: 4 };
  }
  return { color: undefined, used: 1 };
}

/** Parses the parameter string of an SGR; colon sub-parameters (`38:2::R:G:B`, ITU T.416) become a flat list. */
function sgrParams(raw: string): number[] {
  if (raw === '') return [0];
  const out: number[] = [];
  for (const part of raw.split(';')) {
    if (part.includes(':')) {
      const sub = part.split(':');
      // 38:2:CS:R:G:B names a colour space first; 38:2:R:G:B (common in the wild) does not.
      if ((sub[0] === '38' || sub[0] === '48' || sub[0] === '58') && sub[1] === '2' && sub.length >= 6) sub.splice(2, 1);
      for (const s of sub) out.push(s === '' ? 0 : Number(s));
    } else out.push(part === '' ? 0 : Number(part));
  }
  return out.map((n) => (Number.isFinite(n) ? n : -1));
}

/** Applies one SGR sequence's parameters to `s` (a fresh copy is returned). */
export function applySgr(prev: AnsiStyle, raw: string): AnsiStyle {
  const s: AnsiStyle = { ...prev };
  const p = sgrParams(raw);
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) {
      for (const k of Object.keys(s) as (keyof AnsiStyle)[]) delete s[k];
    } else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4 || c === 21) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 9) s.strike = true;
    else if (c === 22) {
      delete s.bold;
      delete s.dim;
    } else if (c === 23) delete s.italic;
    else if (c === 24) delete s.underline;
    else if (c === 27) delete s.inverse;
    else if (c === 29) delete s.strike;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c === 39) delete s.fg;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c === 49) delete s.bg;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 38 || c === 48 || c === 58) {
      const { color, used } = extendedColor(p, i + 1);
      i += used;
      // 58 is the underline colour: read past it so its numbers are not taken as codes.
      if (color !== undefined && c === 38) s.fg = color;
      else if (color !== undefined && c === 48) s.bg = color;
    }
    // Anything else (blink, fonts, frames …) has no look here.
  }
  return s;
}

/**
 * Where the escape at `i` ends (the index just past it), and whether it was an SGR with
 * its parameters. An escape cut off by the end of the text runs to the end.
 */
function scanEscape(text: string, i: number): { end: number; sgr?: string } {
  const n = text.length;
  let j: number;
  if (text[i] === '\x9b') j = i + 1;
  else {
    const kind = text[i + 1];
    if (kind === undefined) return { end: n };
    if (kind === '[') j = i + 2;
    else if (kind === ']' || kind === 'P' || kind === '_' || kind === '^' || kind === 'X') {
      // OSC / DCS / APC / PM / SOS: up to BEL or ST (ESC \).
      for (let k = i + 2; k < n; k++) {
        if (text[k] === '\x07') return { end: k + 1 };
        if (text[k] === ESC && text[k + 1] === '\\') return { end: k + 2 };
      }
      return { end: n };
    } else if (kind === '(' || kind === ')' || kind === '*' || kind === '+' || kind === '#' || kind === '%') return { end: Math.min(n, i + 3) };
    else return { end: i + 2 };
  }
  // CSI: parameter bytes 0x30–0x3f, intermediates 0x20–0x2f, one final byte 0x40–0x7e.
  const start = j;
  while (j < n && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x3f) j++;
  const paramsEnd = j;
  while (j < n && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
  if (j >= n) return { end: n };
  const final = text[j];
  const params = text.slice(start, paramsEnd);
  if (final === 'm' && paramsEnd === j && /^[\d;:]*$/.test(params)) return { end: j + 1, sgr: params };
  return { end: j + 1 };
}

/**
 * The text as spans of one look each, starting from `start` (the look the previous line
 * ended with, for programs that colour across lines). `end` is the look in effect after it.
 * Adjacent text of the same look is one span; empty spans are left out.
 */
export function parseAnsi(text: string, start: AnsiStyle | null = null): { spans: AnsiSpan[]; end: AnsiStyle | null } {
  let style: AnsiStyle = start ? { ...start } : {};
  if (!hasAnsi(text)) return { spans: text ? [{ text, style: start }] : [], end: start };
  const spans: AnsiSpan[] = [];
  let buf = '';
  let bufStyle: AnsiStyle | null = isEmpty(style) ? null : style;
  const flush = () => {
    if (buf) spans.push({ text: buf, style: bufStyle });
    buf = '';
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === ESC || ch === '\x9b') {
      const { end, sgr } = scanEscape(text, i);
      if (sgr !== undefined) {
        const next = applySgr(style, sgr);
        const nextLook = isEmpty(next) ? null : next;
        if (!sameStyle(nextLook, bufStyle)) {
          flush();
          bufStyle = nextLook;
        }
        style = next;
      }
      i = end;
      continue;
    }
    buf += ch;
    i++;
  }
  flush();
  return { spans, end: isEmpty(style) ? null : style };
}

export function sameStyle(a: AnsiStyle | null, b: AnsiStyle | null): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.fg === b.fg && a.bg === b.bg && !!a.bold === !!b.bold && !!a.dim === !!b.dim && !!a.italic === !!b.italic &&
    !!a.underline === !!b.underline && !!a.inverse === !!b.inverse && !!a.strike === !!b.strike
  );
}

/** The text without any escape: what "strip colours" shows, searches and copies. */
export function stripAnsi(text: string): string {
  if (!hasAnsi(text)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === ESC || ch === '\x9b') {
      i = scanEscape(text, i).end;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

// xterm's default palette for 0–15, lightened a little where it would vanish on the viewer's dark background.
const NAMED = [
  '#3f3f46', '#f87171', '#4ade80', '#facc15', '#60a5fa', '#e879f9', '#22d3ee', '#e5e7eb',
  '#71717a', '#fca5a5', '#86efac', '#fde047', '#93c5fd', '#f0abfc', '#67e8f9', '#ffffff',
];
const CUBE = [0, 95, 135, 175, 215, 255];

/** A colour as CSS: the palette as xterm has it (6×6×6 cube, 24 greys), RGB as given. */
export function colorCss(c: AnsiColor): string {
  if (c & RGB_FLAG) return `#${(c & 0xffffff).toString(16).padStart(6, '0')}`;
  if (c < 16) return NAMED[c];
  if (c < 232) {
    const n = c - 16;
    const [r, g, b] = [CUBE[Math.floor(n / 36)], CUBE[Math.floor(n / 6) % 6], CUBE[n % 6]];
    return `rgb(${r}, ${g}, ${b})`;
  }
  const v = 8 + (c - 232) * 10;
  return `rgb(${v}, ${v}, ${v})`;
}

/**
 * The CSS properties for a look, for React's `style` (which the browser applies through
 * the CSSOM, allowed by the page's policy, unlike a style attribute in markup). Inverse
 * swaps the colours, with the viewer's own as the defaults.
 */
export function styleCss(s: AnsiStyle, defaults: { fg: string; bg: string }): Record<string, string> {
  let fg = s.fg !== undefined ? colorCss(s.fg) : undefined;
  let bg = s.bg !== undefined ? colorCss(s.bg) : undefined;
  if (s.inverse) [fg, bg] = [bg ?? defaults.bg, fg ?? defaults.fg];
  // Bold with a named dark colour shows the bright one, as most terminals do.
  if (s.bold && !s.inverse && s.fg !== undefined && s.fg < 8) fg = colorCss(s.fg + 8);
  const css: Record<string, string> = {};
  if (fg) css.color = fg;
  if (bg) css.backgroundColor = bg;
  if (s.bold) css.fontWeight = '700';
  if (s.dim) css.opacity = '0.6';
  if (s.italic) css.fontStyle = 'italic';
  const deco = [s.underline ? 'underline' : '', s.strike ? 'line-through' : ''].filter(Boolean).join(' ');
  if (deco) css.textDecoration = deco;
  return css;
}

/**
 * Where each position of the raw text lands in the text without escapes: map[i] is the
 * number of shown characters before raw index i (so a search's raw ranges can be drawn
 * over the shown text). null when the text has no escapes (the two are the same).
 */
export function visibleIndexMap(text: string): Int32Array | null {
  if (!hasAnsi(text)) return null;
  const map = new Int32Array(text.length + 1);
  let shown = 0;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === ESC || ch === '\x9b') {
      const end = scanEscape(text, i).end;
      for (let k = i; k < end; k++) map[k] = shown;
      i = end;
      continue;
    }
    map[i] = shown++;
    i++;
  }
  map[text.length] = shown;
  return map;
}
