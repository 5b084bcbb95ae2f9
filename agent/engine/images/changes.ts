// Dockerfile instructions applied to an image config: `docker import -c`, `docker commit -c`
// and the builder's metadata steps. Docker allows CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,
// LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR in changes; the builder adds SHELL.
import { posix } from 'node:path';
import { badRequest } from '../errors';
import type { ImageConfig } from '../types';
import { parseGoDuration as goDuration } from '../../../protocol/durations';

const ALLOWED = new Set(['CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR']);
/** A Go duration ("30s", "1m30s", "500ms") in nanoseconds; a 400 naming it otherwise. */
export function parseGoDuration(s: string): number {
  try {
    return goDuration(s);
  } catch (e) {
    throw badRequest((e as Error).message);
  }
}

/** HEALTHCHECK's words after the instruction: [--interval=…] CMD …, or NONE (as dockerd parses them). */
export function parseHealthcheck(rest: string): NonNullable<ImageConfig['Healthcheck']> {
  let t = rest.trim();
  const flags: Record<string, string> = {};
  for (let m = /^--([a-z-]+)=(\S*)\s*/.exec(t); m; m = /^--([a-z-]+)=(\S*)\s*/.exec(t)) {
    flags[m[1]] = m[2];
    t = t.slice(m[0].length);
  }
  if (/^--/.test(t)) throw badRequest(`HEALTHCHECK: flag ${t.split(/[\s=]/)[0]} needs a value (--name=value)`);
  const known = ['interval', 'timeout', 'start-period', 'start-interval', 'retries'];
  for (const k of Object.keys(flags)) if (!known.includes(k)) throw badRequest(`Unknown flag: ${k}`);
  const m = /^(\S+)\s*([\s\S]*)$/.exec(t);
  const kind = m?.[1].toUpperCase();
  if (kind === 'NONE') {
    if (m![2].trim() || Object.keys(flags).length) throw badRequest('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw badRequest(`Unknown type ${JSON.stringify(m?.[1] ?? '')} in HEALTHCHECK (try CMD)`);
  const cmdRest = m![2].trim();
  if (!cmdRest) throw badRequest('Missing command after HEALTHCHECK CMD');
  const exec = jsonArray(cmdRest);
  const hc: NonNullable<ImageConfig['Healthcheck']> = { Test: exec ? ['CMD', ...exec] : ['CMD-SHELL', cmdRest] };
  const dur = (flag: string, key: 'Interval' | 'Timeout' | 'StartPeriod' | 'StartInterval') => {
    if (flags[flag] === undefined || flags[flag] === '') return;
    const ns = parseGoDuration(flags[flag]);
    if (ns !== 0 && ns < 1e6) throw badRequest(`${key === 'StartPeriod' ? 'start period' : key === 'StartInterval' ? 'start interval' : key.toLowerCase()} cannot be less than 1ms`);
    if (ns) hc[key] = ns;
  };
  dur('interval', 'Interval');
  dur('timeout', 'Timeout');
  dur('start-period', 'StartPeriod');
  dur('start-interval', 'StartInterval');
  if (flags.retries !== undefined && flags.retries !== '') {
    if (!/^\d+$/.test(flags.retries)) throw badRequest(`--retries: invalid value ${JSON.stringify(flags.retries)}`);
    const n = Number(flags.retries);
    if (n < 1) throw badRequest('--retries must be at least 1');
    hc.Retries = n;
  }
  return hc;
}

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
export function jsonArray(t: string): string[] | undefined {
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The JSON (exec) form, or the shell form wrapped in the shell (/bin/sh -c), as Dockerfiles read them (not JSON counts as shell form). */
function commandForm(rest: string, shell: string[] = ['/bin/sh', '-c']): string[] {
  const t = rest.trim();
  return jsonArray(t) ?? [...shell, t];
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
export function applyChanges(base: ImageConfig, changes: string[], state: { cmdSet?: boolean } = {}): ImageConfig {
  const c: ImageConfig = structuredClone(base);
  for (const change of changes) {
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(change);
    if (!m) continue;
    const instr = m[1].toUpperCase();
    const rest = m[2];
    if (!ALLOWED.has(instr)) throw badRequest(`${m[1]} is not a valid change command`);
    switch (instr) {
      case 'CMD':
        c.Cmd = commandForm(rest, c.Shell);
        state.cmdSet = true;
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = commandForm(rest, c.Shell);
        // Docker: a new ENTRYPOINT drops the CMD the image had, unless a CMD of these changes (or this build stage) set it.
        if (!state.cmdSet) delete c.Cmd;
        break;
      case 'HEALTHCHECK':
        c.Healthcheck = parseHealthcheck(rest);
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
      case 'ONBUILD': {
        const trigger = rest.trim();
        const word = (/^\S+/.exec(trigger)?.[0] ?? '').toUpperCase();
        if (!word) throw badRequest('ONBUILD requires at least one argument');
        if (word === 'ONBUILD') throw badRequest("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (word === 'FROM' || word === 'MAINTAINER') throw badRequest(`${word} isn't allowed as an ONBUILD trigger`);
        c.OnBuild = [...(c.OnBuild ?? []), trigger];
        break;
      }
    }
  }
  return c;
}
