// Variables in a compose file, as the Compose Specification's "Interpolation" section has
// them: $VAR and ${VAR}, ${VAR:-default} / ${VAR-default} (unset or empty / unset only),
// ${VAR:?err} / ${VAR?err} (an error naming the variable), ${VAR:+alt} / ${VAR+alt}, and $$
// for a literal $. Defaults may hold further variables. And the `.env` file format those
// variables come from. Pure: no Node imports, the control plane validates with it too.

export class InterpolationError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** Replaces the variables of `text` from `env`; throws InterpolationError for a ${VAR?err} whose VAR is missing or a malformed ${…}. */
export function interpolate(text: string, env: Readonly<Record<string, string>>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new InterpolationError(`invalid interpolation format for "${text}": a "\${" is not closed`);
      out += expand(text.slice(i + 2, end), env, text);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (m) {
      out += env[m[0]] ?? '';
      i += 1 + m[0].length;
      continue;
    }
    // A lone "$" before anything that cannot start a name stays, as compose leaves it.
    out += '$';
    i++;
  }
  return out;
}

/** Index of the "}" closing a "${" whose body starts at `from`, nested "${…}" skipped; -1 if none. */
function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '$') {
      j++;
      continue;
    }
    if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}') {
      if (depth === 0) return j;
      depth--;
    }
  }
  return -1;
}

function expand(body: string, env: Readonly<Record<string, string>>, whole: string): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationError(`invalid interpolation format for "${whole}": "\${${body}}" does not start with a variable name`);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = env[name];
  if (rest === '') return value ?? '';
  const op = /^(:?[-?+])/.exec(rest);
  if (!op) throw new InterpolationError(`invalid interpolation format for "${whole}": unexpected "${rest}" after \${${name}`);
  const word = rest.slice(op[1].length);
  const colon = op[1].startsWith(':');
  // With a colon an empty value counts as missing, without it only an unset one does.
  const present = colon ? value !== undefined && value !== '' : value !== undefined;
  switch (op[1].at(-1)) {
    case '-':
      return present ? (value as string) : interpolate(word, env);
    case '+':
      return present ? interpolate(word, env) : '';
    default:
      if (!present) throw new InterpolationError(`required variable ${name} is missing a value${word ? `: ${interpolate(word, env)}` : ''}`);
      return value as string;
  }
}

export interface EnvFileIssue {
  line: number;
  message: string;
}

/**
 * A `.env` / env_file: KEY=VALUE lines, `#` comments and blank lines, an optional `export `,
 * values in single quotes (literal), double quotes (\n \t \\ \" escapes) or bare (a " #"
 * starts a comment). A bare KEY line is refused: compose would read it from the shell, and an
 * agent has no shell whose variables the user meant.
 */
export function parseEnvFile(text: string): { values: Record<string, string>; issues: EnvFileIssue[] } {
  const values: Record<string, string> = {};
  const issues: EnvFileIssue[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n].trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) {
      issues.push({ line: n + 1, message: `"${key}" is not a variable name` });
      continue;
    }
    if (eq < 0) {
      issues.push({ line: n + 1, message: `${key} has no "=" and no value` });
      continue;
    }
    let v = line.slice(eq + 1).trimStart();
    if (v.startsWith("'")) {
      const close = v.indexOf("'", 1);
      if (close < 0) {
        issues.push({ line: n + 1, message: `${key}: the single quote is not closed` });
        continue;
      }
      v = v.slice(1, close);
    } else if (v.startsWith('"')) {
      let s = '';
      let j = 1;
      for (; j < v.length && v[j] !== '"'; j++) {
        if (v[j] === '\\' && j + 1 < v.length) {
          j++;
          s += ({ n: '\n', t: '\t', r: '\r' } as Record<string, string>)[v[j]] ?? v[j];
        } else s += v[j];
      }
      if (j >= v.length) {
        issues.push({ line: n + 1, message: `${key}: the double quote is not closed` });
        continue;
      }
      v = s;
    } else {
      const hash = v.search(/\s#/);
      if (hash >= 0) v = v.slice(0, hash);
      v = v.trimEnd();
    }
    values[key] = v;
  }
  return { values, issues };
}
