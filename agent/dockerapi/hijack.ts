// Hijacked connections (attach, exec start): after the HTTP answer the connection is a raw
// byte stream both ways, as dockerd's. Client input goes to the session with
// backpressure (the socket is not read while the container has not taken the last
// chunk), the client's half-close is its EOF, and output goes out raw with a TTY or in
// Docker's multiplexed frames without one, as fast as the client reads it.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OutputChunk, StdioSession } from '../engine/types';
import { HttpError } from './http';
import { STDERR, STDOUT, writeFrameHeader } from './mux';

export const RAW_STREAM = 'application/vnd.docker.raw-stream';
export const MUX_STREAM = 'application/vnd.docker.multiplexed-stream';

/** The status line and headers that turn the connection into the stream. */
export function streamHeader(upgraded: boolean, contentType: string): string {
  return upgraded
    ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`
    : `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`;
}

export function encodeChunks(chunks: OutputChunk[], raw: boolean): Buffer {
  if (raw) return chunks.length === 1 ? chunks[0].data : Buffer.concat(chunks.map((c) => c.data));
  const size = chunks.reduce((n, c) => n + 8 + c.data.length, 0);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const c of chunks) {
    writeFrameHeader(out, at, c.stream === 2 ? STDERR : STDOUT, c.data.length);
    c.data.copy(out, at + 8);
    at += 8 + c.data.length;
  }
  return out;
}

function drained(socket: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/**
 * Runs a session over a hijacked socket until its output ends. `input`: read the client's
 * bytes as its stdin (only on an upgraded connection: on a plain one Node's HTTP parser
 * still reads the socket, so there input cannot be told from a next request).
 */
export async function pumpSession(socket: Duplex, session: StdioSession, opts: { raw: boolean; input: boolean }): Promise<void> {
  let closed = false;
  socket.on('close', () => {
    closed = true;
    session.close();
  });
  if (opts.input) {
    socket.on('data', (d: Buffer) => {
      socket.pause();
      session.write(d).then(
        (r) => {
          if (r === 'ok') socket.resume();
        },
        (err: Error) => {
          console.error(`docker api: stdin: ${err.message}`);
          socket.destroy();
        },
      );
    });
    socket.on('end', () => session.endInput());
    // The body reader may have paused it; a 'data' listener alone does not undo that.
    socket.resume();
  }
  try {
    for await (const batch of session.output) {
      if (closed) break;
      if (!socket.write(encodeChunks(batch, opts.raw))) await drained(socket);
    }
  } finally {
    session.close();
  }
  if (closed) return;
  // The output is over: say so with a FIN, and read (and drop) what the client still sends
  // until it closes too. Closing with its bytes unread would reset the connection, and the
  // CLI reports that as an error after printing everything.
  socket.removeAllListeners('data');
  socket.on('data', () => {});
  socket.on('end', () => socket.destroy());
  socket.resume();
  socket.end();
}

/**
 * The body of a request that was upgraded before Node read it: its Content-Length bytes
 * from `head` and the socket; what follows belongs to the stream. exec start sends its
 * options there; clients send attach's options there too (dockerode), which dockerd
 * drops with its hijack, so none of it may be taken for stdin.
 */
export async function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer, limit = 1 << 20): Promise<Buffer> {
  if (req.headers['transfer-encoding']) throw new HttpError(400, 'a chunked body cannot come before an upgraded stream: send Content-Length');
  const len = Number(req.headers['content-length'] ?? 0);
  if (!Number.isSafeInteger(len) || len < 0 || len > limit) throw new HttpError(400, `invalid Content-Length ${req.headers['content-length']}`);
  let body = head;
  while (body.length < len) {
    const more = await new Promise<Buffer | undefined>((resolve) => {
      const onData = (d: Buffer) => done(d);
      const onEnd = () => done(undefined);
      const done = (d: Buffer | undefined) => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
        resolve(d);
      };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('close', onEnd);
      socket.resume();
    });
    if (!more) throw new HttpError(400, 'the request body ended early');
    body = Buffer.concat([body, more]);
  }
  if (body.length > len) socket.unshift(body.subarray(len));
  return body.subarray(0, len);
}

export function jsonBody(body: Buffer): unknown {
  if (!body.length) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `invalid JSON in request body: ${(err as Error).message}`);
  }
}
