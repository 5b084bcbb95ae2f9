// Go's duration syntax ("30s", "1m30s", "500ms"), which Docker's flags and HEALTHCHECK take:
// one parser for the engine (commit -c, the builder) and the dashboard's forms alike.

const GO_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Nanoseconds; a RangeError ("time: invalid duration …", Go's words) for anything else. */
export function parseGoDuration(s: string): number {
  if (s === '0') return 0;
  if (!s.length) throw new RangeError('time: invalid duration ""');
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new RangeError(`time: invalid duration ${JSON.stringify(s)}`);
    total += Number(m[1]) * GO_UNITS[m[2]];
    pos = re.lastIndex;
  }
  return Math.round(total);
}
