// Docker's multiplexed stream framing (application/vnd.docker.multiplexed-stream):
// every chunk gets an 8-byte header [stream, 0, 0, 0, size (uint32 BE)] so one
// connection can carry stdout and stderr without a TTY.

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export type StreamId = typeof STDIN | typeof STDOUT | typeof STDERR;

/** Writes the 8-byte header of a frame of `size` bytes at `at` in `out`. */
export function writeFrameHeader(out: Buffer, at: number, stream: StreamId, size: number): void {
  out.writeUInt32BE(0, at);
  out[at] = stream;
  out.writeUInt32BE(size, at + 4);
}
