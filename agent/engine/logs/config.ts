// A container's logging configuration (Docker's --log-driver and --log-opt), checked the
// way dockerd checks it and refused in its words. dockerd checks the keys at create and
// the values only when the container starts (then `run` fails after `create` succeeded);
// Berth checks both at create, so a container that exists can start.
import type { ResolvedLog } from '../../../protocol/container';
import { badRequest } from '../errors';

/** dockerd's own log drivers: Berth names the one it does not do rather than pretend it does not exist. */
const DOCKER_DRIVERS = new Set(['local', 'syslog', 'journald', 'gelf', 'fluentd', 'awslogs', 'splunk', 'etwlogs', 'gcplogs', 'logentries']);

/** json-file's keys (dockerd's ValidateLogOpt), and "mode"/"max-buffer-size", which every driver takes. */
const JSON_FILE_KEYS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag', 'mode', 'max-buffer-size']);
/** json-file keys that add attributes to each line: Berth's lines have none, so a value is refused. */
const ATTRIBUTE_KEYS = ['labels', 'labels-regex', 'env', 'env-regex', 'tag'];

const logError = (msg: string) => badRequest(`failed to initialize logging driver: ${msg}`);

/** Go's strconv.ParseFloat, for the numbers go-units reads (decimal notation; hex floats are not taken). */
function parseFloatGo(s: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw logError(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isFinite(n)) throw logError(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

/**
 * go-units' FromHumanSize, which json-file's max-size goes through: decimal units (k is
 * 1000, m 1000², g 1000³, t, p), case-insensitive, with an optional "b" (or "ib", which
 * go-units accepts but still counts in powers of 1000), and an optional space before it.
 */
export function fromHumanSize(size: string): number {
  const sep = Math.max(...[...'0123456789. '].map((c) => size.lastIndexOf(c)));
  if (sep < 0) throw logError(`invalid size: '${size}'`);
  const num = size[sep] === ' ' ? size.slice(0, sep) : size.slice(0, sep + 1);
  let sfx = size.slice(sep + 1);
  let n = parseFloatGo(num);
  if (n < 0) throw logError(`invalid size: '${size}'`);
  if (sfx) {
    const bad = () => logError(`invalid suffix: '${sfx}'`);
    if (sfx.length > 3) throw bad();
    sfx = sfx.toLowerCase();
    if (sfx[0] === 'b') {
      if (sfx.length > 1) throw bad();
    } else {
      const mul = { k: 1e3, m: 1e6, g: 1e9, t: 1e12, p: 1e15 }[sfx[0]];
      if (mul === undefined) throw bad();
      if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) throw bad();
      n *= mul;
    }
  }
  // Go's int64() of a float: the fraction goes; past 2^63 it comes out negative on amd64.
  return n >= 2 ** 63 ? -1 : Math.trunc(n);
}

/** Go's strconv.Atoi. */
function atoi(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw logError(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (Math.abs(n) > 2 ** 63 - 1) throw logError(`strconv.Atoi: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

/** Go's strconv.ParseBool. */
function parseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw logError(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`);
}

/** The monitor's own bound on max-file (each rotation rewrites an index of that many lines). */
export const MAX_FILES = 1_000_000;

export function resolveLogConfig(log: { driver?: string; options?: Record<string, string> } | undefined): ResolvedLog {
  const driver = log?.driver || 'json-file';
  const options = { ...(log?.options ?? {}) };
  if (driver === 'none') {
    // dockerd ignores options given with none; the docker CLI refuses them, and so does Berth, in its words.
    if (Object.keys(options).length) throw badRequest('invalid logging opts for driver none');
    return { driver, options, maxSize: 0, maxFile: 1 };
  }
  if (driver !== 'json-file') {
    if (DOCKER_DRIVERS.has(driver)) throw badRequest(`Berth does not support --log-driver ${driver}`);
    throw badRequest(`logger: no log driver named '${driver}' is registered`);
  }
  // In dockerd's order: the mode, max-buffer-size, the driver's keys, then the values.
  const mode = options.mode ?? '';
  if (mode !== '' && mode !== 'blocking' && mode !== 'non-blocking') throw badRequest(`logger: logging mode not supported: ${mode}`);
  if ('max-buffer-size' in options && mode !== 'non-blocking') throw badRequest("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
  // The monitor writes each line before it reads more, which is blocking mode; a buffer that drops lines is not there.
  if (mode === 'non-blocking') throw badRequest('Berth does not support --log-opt mode=non-blocking');
  for (const k of Object.keys(options)) if (!JSON_FILE_KEYS.has(k)) throw badRequest(`unknown log opt '${k}' for json-file log driver`);

  let maxSize = 0;
  if ('max-size' in options) {
    maxSize = fromHumanSize(options['max-size']);
    if (maxSize <= 0) throw logError('max-size must be a positive number');
  }
  let maxFile = 1;
  if ('max-file' in options) {
    maxFile = atoi(options['max-file']);
    if (maxFile < 1) throw logError('max-file cannot be less than 1');
    if (maxFile > MAX_FILES) throw badRequest(`Berth does not support --log-opt max-file above ${MAX_FILES}`);
  }
  if ('compress' in options && parseBool(options.compress)) {
    if (maxFile === 1 || maxSize === 0) throw logError('compress cannot be true when max-file is less than 2 or max-size is not set');
    throw badRequest('Berth does not support --log-opt compress');
  }
  for (const k of ATTRIBUTE_KEYS) if (options[k]) throw badRequest(`Berth does not support --log-opt ${k}`);
  return { driver, options, maxSize, maxFile };
}
