// Docker's multiplexed stream framing (application/vnd.docker.multiplexed-stream):
// every chunk gets an 8-byte header [stream, 0, 0, 0, size (uint32 BE)] so one
// connection can carry stdout and stderr without a TTY.

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export type StreamId = typeof STDIN | typeof STDOUT | typeof STDERR;

export function muxFrame(stream: StreamId, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

export interface Frame {
  stream: StreamId;
  payload: Buffer;
}

/** Splits a byte stream back into frames; incomplete tails wait for the next push. */
export class MuxDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.pending.length >= 8) {
      const stream = this.pending[0];
      if (stream !== STDIN && stream !== STDOUT && stream !== STDERR) {
        throw new Error(`bad multiplexed stream header: stream byte ${stream}`);
      }
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      frames.push({ stream, payload: this.pending.subarray(8, 8 + size) });
      this.pending = this.pending.subarray(8 + size);
    }
    return frames;
  }

  /** Bytes of a frame not yet complete. */
  get buffered(): number {
    return this.pending.length;
  }
}
