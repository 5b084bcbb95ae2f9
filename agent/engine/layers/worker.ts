// The unpacking thread: one layer tar at a time, decompressed, hashed and written into its
// directory here, so the agent's main thread only moves the bytes in (see unpack.ts, which
// also describes the messages).
import { createHash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { EngineError } from '../errors';
import { decompress, extractLayer } from './extract';
import type { FromUnpacker, ToUnpacker } from './unpack';

const port = parentPort;
if (!port) throw new Error('agent/engine/layers/worker.ts runs as a worker thread only');

/** The chunks of the current job, handed to the extractor as they come. */
class Inbox implements AsyncIterable<Buffer> {
  private queue: Buffer[] = [];
  private ended = false;
  private failed?: Error;
  private wake?: () => void;

  push(b: Buffer): void {
    this.queue.push(b);
    this.wake?.();
  }

  end(err?: Error): void {
    this.ended = true;
    this.failed ??= err;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failed) throw this.failed;
      const b = this.queue.shift();
      if (b) {
        // Taken: room for one more on the way.
        send({ t: 'ack' });
        yield b;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

function send(m: FromUnpacker): void {
  port!.postMessage(m);
}

let inbox: Inbox | undefined;

port.on('message', (m: ToUnpacker) => {
  if (m.t === 'job') {
    const box = (inbox = new Inbox());
    void run(box, m.dir, m.label, m.maxBytes);
  } else if (m.t === 'chunk') inbox?.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
  else if (m.t === 'end') inbox?.end();
  else if (m.t === 'abort') inbox?.end(new EngineError(500, m.reason));
});

async function run(box: Inbox, dir: string, label: string, maxBytes: number | undefined): Promise<void> {
  const hash = createHash('sha256');
  let tarSize = 0;
  let reported = 0;
  const hashed = async function* (src: AsyncIterable<Buffer>) {
    for await (const c of src) {
      hash.update(c);
      tarSize += c.length;
      if (tarSize - reported >= 1 << 20) {
        reported = tarSize;
        send({ t: 'progress', tarBytes: tarSize });
      }
      yield c;
    }
  };
  try {
    const res = await extractLayer(hashed(decompress(box, label, maxBytes === undefined ? {} : { maxBytes })), dir, { label });
    send({ t: 'done', size: res.size, diffId: 'sha256:' + hash.digest('hex'), tarSize });
  } catch (e) {
    const err = e as Error & { status?: number };
    send({ t: 'error', name: err.name, message: err.message, status: typeof err.status === 'number' ? err.status : 500 });
  } finally {
    if (inbox === box) inbox = undefined;
  }
}
