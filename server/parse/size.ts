// Memory sizes as docker accepts them: "64m", "1g", "512k", "100b", "1.5g", plain bytes.
// Units are powers of 1024, case-insensitive, with an optional trailing "b".

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

export function parseMemorySize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(b?)\s*$/i.exec(text);
  if (!m) throw new RangeError(`invalid size: ${JSON.stringify(text)} (use e.g. 64m, 1g, 512k)`);
  const unit = m[2] ? m[2].toLowerCase() : m[3] ? 'b' : '';
  const bytes = Math.floor(Number(m[1]) * UNITS[unit]);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`size too large: ${JSON.stringify(text)}`);
  return bytes;
}
