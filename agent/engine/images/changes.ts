// Dockerfile instructions applied to an image config: `docker import -c` and, later,
// `docker commit -c`. Docker allows CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME and WORKDIR there; Berth does all but ONBUILD, which it refuses.
import { posix } from 'node:path';
import { badRequest } from '../errors';
import type { ImageConfig } from '../types';

const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);

/** Splits Dockerfile words: whitespace separates, quotes group, a backslash escapes the next character. */
export function dockerfileWords(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw badRequest(`unterminated quote in ${JSON.stringify(s)}`);
  if (inWord) out.push(cur);
  return out;
}

/** `["a", "b"]` as a list of strings, or undefined when it is not one. */
function jsonArray(t: string): string[] | undefined {
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON (exec) form, or the shell form wrapped in /bin/sh -c, as Dockerfiles read them (not JSON counts as shell form). */
function commandForm(rest: string): string[] {
  const t = rest.trim();
  return jsonArray(t) ?? ['/bin/sh', '-c', t];
}

/** KEY=value pairs, or the legacy "KEY value with spaces" form of one pair. */
function pairs(instr: string, rest: string): Array<[string, string]> {
  const words = dockerfileWords(rest);
  if (!words.length) throw badRequest(`${instr} requires at least one argument`);
  if (!words[0].includes('=')) {
    const [key, ...value] = rest.trim().split(/\s+/);
    if (!value.length) throw badRequest(`${instr} names ${key} without a value`);
    return [[key, dockerfileWords(value.join(' ')).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw badRequest(`${instr}: ${JSON.stringify(w)} is not KEY=value`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

function setEnv(env: string[], key: string, value: string): string[] {
  return [...env.filter((e) => e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')) !== key), `${key}=${value}`];
}

/** A new config with `changes` applied in order; an instruction Docker would not allow, or one Berth cannot do, is a 400 naming it. */
export function applyChanges(base: ImageConfig, changes: string[]): ImageConfig {
  const c: ImageConfig = structuredClone(base);
  for (const change of changes) {
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(change);
    if (!m) continue;
    const instr = m[1].toUpperCase();
    const rest = m[2];
    if (!ALLOWED.has(instr)) throw badRequest(`${m[1]} is not a valid change command`);
    switch (instr) {
      case 'CMD':
        c.Cmd = commandForm(rest);
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = commandForm(rest);
        break;
      case 'ENV':
        for (const [k, v] of pairs(instr, rest)) c.Env = setEnv(c.Env ?? [], k, v);
        break;
      case 'LABEL':
        for (const [k, v] of pairs(instr, rest)) c.Labels = { ...(c.Labels ?? {}), [k]: v };
        break;
      case 'EXPOSE':
        for (const p of dockerfileWords(rest)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw badRequest(`EXPOSE: invalid port ${JSON.stringify(p)}`);
          c.ExposedPorts = { ...(c.ExposedPorts ?? {}), [p.includes('/') ? p.toLowerCase() : `${p}/tcp`]: {} };
        }
        break;
      case 'VOLUME': {
        const t = rest.trim();
        const paths = jsonArray(t) ?? dockerfileWords(t);
        for (const p of paths) c.Volumes = { ...(c.Volumes ?? {}), [p]: {} };
        break;
      }
      case 'USER':
        c.User = rest.trim();
        break;
      case 'WORKDIR': {
        const dir = rest.trim();
        c.WorkingDir = posix.resolve(c.WorkingDir || '/', dir);
        break;
      }
      case 'STOPSIGNAL':
        c.StopSignal = rest.trim();
        break;
      case 'ONBUILD':
        throw badRequest('Berth does not support ONBUILD yet');
    }
  }
  return c;
}
