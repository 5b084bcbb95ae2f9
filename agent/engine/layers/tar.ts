// A streaming tar reader: ustar, GNU long names/links (L/K), PAX extended and global
// headers (path, linkpath, size, mtime, uid/gid, uname/gname, SCHILY.xattr.*).
// Layers can be gigabytes, so entries stream; nothing is buffered beyond a header.
//
// Exports: readTar, TarEntry, TarHeader, TarEntryType, TarFormatError.

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'directory' | 'fifo';

export interface TarHeader {
  /** As stored (after PAX/GNU overrides), not yet cleaned. */
  path: string;
  type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  /** Seconds since the epoch; PAX may give fractions. */
  mtime: number;
  linkpath: string;
  devmajor: number;
  devminor: number;
  /** From SCHILY.xattr.<name> PAX records. */
  xattrs: Record<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's data; whatever is not read is skipped before the next entry. */
  body: AsyncIterable<Buffer>;
  /**
   * The whole body when it already sits in the reader's buffer (small entries), so a
   * consumer can write it without a round trip through `body`; read one or the other.
   */
  buffered?: Buffer;
}

export class TarFormatError extends Error {
  constructor(message: string) {
    super(`tar: ${message}`);
    this.name = 'TarFormatError';
  }
}

const BLOCK = 512;
const EMPTY = Buffer.alloc(0);
const ZERO_BLOCK = Buffer.alloc(BLOCK);

class ByteReader {
  private buf: Buffer = EMPTY;
  private readonly it: AsyncIterator<Buffer | Uint8Array | string>;
  private eof = false;
  offset = 0;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async more(): Promise<boolean> {
    if (this.eof) return false;
    const r = await this.it.next();
    if (r.done) {
      this.eof = true;
      return false;
    }
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    return true;
  }

  /** The next n bytes without consuming them, when they are already buffered. */
  peek(n: number): Buffer | undefined {
    return this.buf.length >= n ? this.buf.subarray(0, n) : undefined;
  }

  /** The next n bytes when they are already buffered: most headers are, and a promise per header adds up. */
  readNow(n: number): Buffer | undefined {
    if (this.buf.length < n) return undefined;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    this.offset += n;
    return out;
  }

  /** Exactly n bytes, or fewer only at end of input. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) if (!(await this.more())) break;
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.offset += out.length;
    return out;
  }

  async readExact(n: number, what: string): Promise<Buffer> {
    const b = await this.read(n);
    if (b.length < n) throw new TarFormatError(`unexpected end of archive in ${what}`);
    return b;
  }

  /** Yields the next n bytes as they arrive. */
  async *stream(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.more())) throw new TarFormatError(`unexpected end of archive in ${what}`);
      const take = Math.min(left, this.buf.length);
      const out = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      this.offset += take;
      left -= take;
      yield out;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    if (n === 0 || this.readNow(n)) return;
    for await (const _ of this.stream(n, what)) void _;
  }

  /** Closes the source when reading stopped before its end. */
  async close(): Promise<void> {
    if (!this.eof) {
      this.eof = true;
      await this.it.return?.();
    }
  }

  async drain(): Promise<void> {
    this.offset += this.buf.length;
    this.buf = EMPTY;
    while (await this.more()) {
      this.offset += this.buf.length;
      this.buf = EMPTY;
    }
  }
}

/** The NUL-terminated string in b[start, end) (the whole buffer by default). */
function cString(b: Buffer, start = 0, end = b.length): string {
  const nul = b.indexOf(0, start);
  return b.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
}

/** The number in header field b[start, end): octal text or GNU base-256. */
function parseNumber(b: Buffer, start: number, end: number, field: string): number {
  if (b[start] & 0x80) {
    if (b[start] === 0xff) throw new TarFormatError(`negative ${field}`);
    let v = b[start] & 0x7f;
    for (let i = start + 1; i < end; i++) v = v * 256 + b[i];
    if (!Number.isSafeInteger(v)) throw new TarFormatError(`${field} too large`);
    return v;
  }
  // The usual form (spaces, octal digits, spaces, then NUL or the field's end) is read
  // from the bytes: making a string of every field showed in profiles of small files.
  let i = start;
  let v = 0;
  while (i < end && b[i] === 0x20) i++;
  while (i < end && b[i] >= 0x30 && b[i] <= 0x37) v = v * 8 + (b[i++] - 0x30);
  while (i < end && b[i] === 0x20) i++;
  if (i === end || b[i] === 0) return v;
  const s = cString(b, start, end).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarFormatError(`bad octal ${field} "${s}"`);
  return parseInt(s, 8);
}

function typeOf(flag: string): TarEntryType | undefined {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return undefined;
  }
}

interface PaxRecords {
  [key: string]: Buffer;
}

function parsePax(data: Buffer): PaxRecords {
  const out: PaxRecords = {};
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break;
    const space = data.indexOf(0x20, pos);
    if (space < 0) throw new TarFormatError('bad PAX record (no length)');
    const len = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length) throw new TarFormatError('bad PAX record length');
    const rec = data.subarray(space + 1, pos + len);
    if (rec[rec.length - 1] !== 0x0a) throw new TarFormatError('PAX record not newline-terminated');
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError('PAX record without "="');
    out[rec.subarray(0, eq).toString('utf8')] = rec.subarray(eq + 1, rec.length - 1);
    pos += len;
  }
  return out;
}

function applyPax(h: TarHeader, pax: PaxRecords): void {
  for (const [key, val] of Object.entries(pax)) {
    const s = val.toString('utf8');
    switch (key) {
      case 'path':
        h.path = s;
        break;
      case 'linkpath':
        h.linkpath = s;
        break;
      case 'size':
        h.size = Number(s);
        if (!Number.isSafeInteger(h.size) || h.size < 0) throw new TarFormatError(`bad PAX size "${s}"`);
        break;
      case 'mtime':
        h.mtime = Number(s);
        if (!Number.isFinite(h.mtime)) throw new TarFormatError(`bad PAX mtime "${s}"`);
        break;
      case 'uid':
        h.uid = Number(s);
        break;
      case 'gid':
        h.gid = Number(s);
        break;
      case 'uname':
        h.uname = s;
        break;
      case 'gname':
        h.gname = s;
        break;
      default:
        if (key.startsWith('SCHILY.xattr.')) h.xattrs[key.slice('SCHILY.xattr.'.length)] = Buffer.from(val);
    }
  }
  if (!Number.isSafeInteger(h.uid) || h.uid < 0 || !Number.isSafeInteger(h.gid) || h.gid < 0) throw new TarFormatError(`bad PAX uid/gid for "${h.path}"`);
}

const padding = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

/**
 * Reads tar entries from `source`. After the end-of-archive marker the rest of the
 * input is consumed too, so a hash computed over the stream covers all of it.
 */
export async function* readTar(source: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  try {
    // Entries are yielded from here, not through a yield* of a nested generator: that
    // hop cost a promise per entry.
    let globalPax: PaxRecords = {};
    let pax: PaxRecords | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;

    for (;;) {
      const block = r.readNow(BLOCK) ?? (await r.read(BLOCK));
      if (block.length === 0) break; // tolerate archives without the zero blocks
      if (block.length < BLOCK) throw new TarFormatError('unexpected end of archive in a header');
      if (block.equals(ZERO_BLOCK)) break;

      const stored = parseNumber(block, 148, 156, 'checksum');
      // The checksum field itself counts as eight spaces (0x20 each).
      let unsigned = 8 * 0x20;
      let high = 0;
      // Branch-free (x >> 7 counts bytes above 127): several times faster per header.
      for (let i = 0; i < 148; i++) {
        const x = block[i];
        unsigned += x;
        high += x >> 7;
      }
      for (let i = 156; i < BLOCK; i++) {
        const x = block[i];
        unsigned += x;
        high += x >> 7;
      }
      const signed = unsigned - 256 * high;
      if (stored !== unsigned && stored !== signed) throw new TarFormatError(`header checksum mismatch at offset ${r.offset - BLOCK}`);

      const flag = String.fromCharCode(block[156]);
      const size = parseNumber(block, 124, 136, 'size');
      const magic = block.subarray(257, 263).toString('latin1');

      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > 16 * 1024 * 1024) throw new TarFormatError(`extended header of ${size} bytes is too large`);
        const data = await r.readExact(size, 'an extended header');
        await r.skip(padding(size), 'padding');
        if (flag === 'x') pax = { ...(pax ?? {}), ...parsePax(data) };
        else if (flag === 'g') globalPax = { ...globalPax, ...parsePax(data) };
        else if (flag === 'L') longName = cString(data);
        else longLink = cString(data);
        continue;
      }

      let name = cString(block, 0, 100);
      if (magic === 'ustar\0') {
        const prefix = cString(block, 345, 500);
        if (prefix) name = `${prefix}/${name}`;
      }
      const type = typeOf(flag);
      const h: TarHeader = {
        path: longName ?? name,
        type: type ?? 'file',
        mode: parseNumber(block, 100, 108, 'mode') & 0o7777,
        uid: parseNumber(block, 108, 116, 'uid'),
        gid: parseNumber(block, 116, 124, 'gid'),
        size,
        mtime: parseNumber(block, 136, 148, 'mtime'),
        linkpath: longLink ?? cString(block, 157, 257),
        uname: cString(block, 265, 297),
        gname: cString(block, 297, 329),
        devmajor: flag === '3' || flag === '4' ? parseNumber(block, 329, 337, 'devmajor') : 0,
        devminor: flag === '3' || flag === '4' ? parseNumber(block, 337, 345, 'devminor') : 0,
        xattrs: {},
      };
      applyPax(h, globalPax);
      if (pax) applyPax(h, pax);
      pax = undefined;
      longName = undefined;
      longLink = undefined;

      // Links, devices, fifos and dirs carry no data even when a size is stored (as Go's archive/tar reads them).
      const dataSize = h.type === 'file' || type === undefined ? h.size : 0;
      if (type === undefined) {
        // An entry type we do not know: skip its data rather than misread it as headers.
        await r.skip(dataSize + padding(dataSize), `entry "${h.path}"`);
        continue;
      }
      let consumed = false;
      const body = (async function* () {
        if (consumed) throw new TarFormatError(`body of "${h.path}" read twice`);
        consumed = true;
        yield* r.stream(dataSize, `entry "${h.path}"`);
      })();
      const before = r.offset;
      yield { header: h, body, buffered: dataSize > 0 ? r.peek(dataSize) : undefined };
      const left = dataSize - (r.offset - before);
      if (left > 0) await r.skip(left, `entry "${h.path}"`);
      await r.skip(padding(dataSize), 'padding');
    }
    await r.drain();
  } finally {
    // A reader that stopped early (a refused layer) closes the stream under it.
    await r.close();
  }
}
