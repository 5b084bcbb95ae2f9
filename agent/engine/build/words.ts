// Variable expansion in Dockerfile words, as dockerd's shell lexer does it (ProcessWord and
// ProcessWords): single quotes are literal, double quotes group and allow expansion, the
// escape character takes the next one literally; $VAR, ${VAR}, ${VAR:-word}, ${VAR-word},
// ${VAR:+word}, ${VAR+word}, ${VAR:?message}, ${VAR?message}. Quotes are removed. A
// modifier dockerd's classic builder does not know is refused by name.
//
// Exports: expandWord, expandWords, Env.
import { badRequest } from '../errors';

/** Variables for expansion: name → value (undefined: declared without a value, which expands to ""). */
export type Env = ReadonlyMap<string, string | undefined>;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class Scanner {
  pos = 0;
  constructor(
    readonly s: string,
    readonly env: Env,
    readonly escape: string,
  ) {}
  peek(): string | undefined {
    return this.s[this.pos];
  }
  next(): string | undefined {
    return this.s[this.pos++];
  }
}

/**
 * Splits (when `words`) and expands; returns the words (one, unsplit, without `words`).
 * `stopAt` ends the scan at an unquoted character (for ${VAR:-word}'s word), which is consumed.
 */
function scan(sc: Scanner, words: boolean, stopAt?: string): { out: string[]; stopped: boolean } {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  const push = () => {
    if (inWord) out.push(cur);
    cur = '';
    inWord = false;
  };
  for (;;) {
    const c = sc.peek();
    if (c === undefined) break;
    if (stopAt !== undefined && c === stopAt) {
      sc.next();
      if (words) push();
      else out.push(cur);
      return { out, stopped: true };
    }
    if (words && /\s/.test(c)) {
      sc.next();
      push();
      continue;
    }
    if (c === '$' && words) {
      sc.next();
      // An expansion outside quotes splits into words, as dockerd's ProcessWords does.
      const parts = variable(sc).split(/\s+/);
      cur += parts[0];
      if (parts[0] !== '') inWord = true;
      for (let i = 1; i < parts.length; i++) {
        push();
        cur = parts[i];
        inWord = cur !== '';
      }
      continue;
    }
    inWord = true;
    if (c === "'") {
      sc.next();
      const end = sc.s.indexOf("'", sc.pos);
      if (end < 0) throw badRequest(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(sc.s)}`);
      cur += sc.s.slice(sc.pos, end);
      sc.pos = end + 1;
    } else if (c === '"') {
      sc.next();
      for (;;) {
        const d = sc.next();
        if (d === undefined) throw badRequest(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(sc.s)}`);
        if (d === '"') break;
        if (d === sc.escape) {
          const e = sc.peek();
          if (e === '"' || e === '$' || e === sc.escape) {
            cur += e;
            sc.next();
          } else cur += d;
        } else if (d === '$') cur += variable(sc);
        else cur += d;
      }
    } else if (c === sc.escape) {
      sc.next();
      const e = sc.next();
      // A trailing escape stays, as dockerd keeps it.
      cur += e ?? c;
    } else if (c === '$') {
      sc.next();
      cur += variable(sc);
    } else {
      cur += c;
      sc.next();
    }
  }
  if (stopAt !== undefined) throw badRequest(`missing '${stopAt}' in ${JSON.stringify(sc.s)}`);
  if (words) push();
  else out.push(cur);
  return { out, stopped: false };
}

/** After a "$": the variable's value (or "$" itself when no name follows). */
function variable(sc: Scanner): string {
  const c = sc.peek();
  if (c === '{') {
    sc.next();
    let name = '';
    while (sc.peek() !== undefined && NAME_CHAR.test(sc.peek()!)) name += sc.next();
    if (!name) throw badRequest(`bad substitution in ${JSON.stringify(sc.s)}: \${ without a variable name`);
    const has = sc.env.has(name);
    const val = sc.env.get(name) ?? '';
    const m = sc.next();
    if (m === '}') return val;
    let op = m ?? '';
    if (op === ':') op += sc.next() ?? '';
    if (!['-', ':-', '+', ':+', '?', ':?'].includes(op)) {
      throw badRequest(`unsupported modifier (${op}) in substitution ${JSON.stringify(sc.s)}`);
    }
    const word = scan(sc, false, '}').out.join('');
    const set = op.startsWith(':') ? val !== '' : has;
    switch (op.replace(':', '')) {
      case '-':
        return set ? val : word;
      case '+':
        return set ? word : '';
      default:
        if (!set) throw badRequest(`${name}: ${word || 'is not allowed to be unset'}`);
        return val;
    }
  }
  if (c !== undefined && NAME_START.test(c)) {
    let name = '';
    while (sc.peek() !== undefined && NAME_CHAR.test(sc.peek()!)) name += sc.next();
    return sc.env.get(name) ?? '';
  }
  return '$';
}

/** One word: quotes removed, variables expanded, nothing split. */
export function expandWord(s: string, env: Env, escape = '\\'): string {
  return scan(new Scanner(s, env, escape), false).out.join('');
}

/** Whitespace-separated words, each expanded; unquoted expansions split as well. */
export function expandWords(s: string, env: Env, escape = '\\'): string[] {
  return scan(new Scanner(s, env, escape), true).out;
}
