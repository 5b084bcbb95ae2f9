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
