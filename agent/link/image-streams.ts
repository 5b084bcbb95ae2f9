// `docker save`, `docker load` and `docker build`'s context over the link, as streams in both directions with one piece
// in flight at a time: a save sends its next piece only after the server acked the last one,
// and a load's chunk is acked only once the engine has room for more. Neither side ever holds
// more than a few pieces of an archive, however big it is.
import type { BuildRequest, Engine } from '../engine/types';
import { EngineError } from '../engine/errors';
import { IMAGE_CHUNK_BYTES, type ImageDataChunk, type ImageLoadResult } from '../../protocol/agent-link';

export type SendImageData = (chunk: ImageDataChunk) => Promise<void>;

/** Save streams by streamId: aborted by a cancel or when the link drops. */
export type SaveStreams = Map<string, AbortController>;

/** Cuts the engine's buffers to the link's piece size. */
function* pieces(buf: Buffer): Generator<Buffer> {
  for (let at = 0; at < buf.length; at += IMAGE_CHUNK_BYTES) yield buf.subarray(at, at + IMAGE_CHUNK_BYTES);
}

/**
 * Starts a save: resolves once its first bytes exist (every refusal, such as an unknown name,
 * comes before them and rejects), then keeps sending in the background until done, failed or aborted.
 */
export async function startSave(engine: Engine, streams: SaveStreams, streamId: string, refs: string[], send: SendImageData): Promise<void> {
  if (streams.has(streamId)) throw new EngineError(409, `save stream ${streamId} is already open`);
  const it = engine.saveImages(refs)[Symbol.asyncIterator]();
  const first = await it.next();
  const abort = new AbortController();
  streams.set(streamId, abort);
  void (async () => {
    let step = first;
    try {
      while (!step.done) {
        for (const piece of pieces(step.value)) {
          if (abort.signal.aborted) return;
          await send({ streamId, data: piece });
        }
        if (abort.signal.aborted) return;
        step = await it.next();
      }
      await send({ streamId, done: true });
    } catch (err) {
      if (!abort.signal.aborted) await send({ streamId, error: (err as Error).message }).catch(() => {});
    } finally {
      if (streams.get(streamId) === abort) streams.delete(streamId);
      await it.return?.(undefined).catch(() => {});
    }
  })();
}

export function cancelSave(streams: SaveStreams, streamId: string): boolean {
  const abort = streams.get(streamId);
  abort?.abort();
  streams.delete(streamId);
  return !!abort;
}

/** Pieces the agent takes ahead of the engine before a chunk's ack waits. */
const LOAD_AHEAD = 4;

/** An open upload (a load's archive, a build's context): the bytes the server sent wait here
 *  for the engine to read them. */
export class LoadStream<R = ImageLoadResult> {
  private readonly queue: Buffer[] = [];
  private ended = false;
  private failure: Error | null = null;
  /** The engine has read the whole archive (its end blocks): what still comes is padding past it. */
  private finished = false;
  /** Wakes the engine's reader when a piece (or the end) arrives. */
  private wakeReader: (() => void) | null = null;
  /** Chunk acks waiting for room. */
  private readonly roomWaiters: Array<() => void> = [];
  readonly result: Promise<R>;

  /** `consume` reads the upload as it comes (engine.loadImages, engine.build …). */
  constructor(consume: (input: AsyncIterable<Buffer>) => Promise<R>) {
    this.result = consume(this.read());
    // Settled later by end(); until then a failure must not be an unhandled rejection.
    this.result.then(
      () => {
        this.finished = true;
        this.queue.length = 0;
        for (const w of this.roomWaiters.splice(0)) w();
      },
      (err: unknown) => this.fail(err as Error),
    );
  }

  private async *read(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const next = this.queue.shift();
      if (next) {
        this.roomWaiters.shift()?.();
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((r) => (this.wakeReader = r));
      this.wakeReader = null;
    }
  }

  /** Resolves when the engine has room for the next piece; rejects once the load has failed. */
  async push(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.ended) throw new EngineError(400, 'this load has already ended');
    if (this.finished) return;
    if (data.length) this.queue.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.wakeReader?.();
    if (this.queue.length > LOAD_AHEAD) await new Promise<void>((r) => this.roomWaiters.push(r));
    if (this.failure) throw this.failure;
  }

  end(): Promise<R> {
    this.ended = true;
    this.wakeReader?.();
    return this.result;
  }

  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.queue.length = 0;
    this.wakeReader?.();
    for (const w of this.roomWaiters.splice(0)) w();
  }
}

export type LoadStreams = Map<string, LoadStream<unknown>>;

export function loadStream(loads: LoadStreams, streamId: string): LoadStream<unknown> {
  const l = loads.get(streamId);
  if (!l) throw new EngineError(404, `no load under way as ${streamId} (it ended, failed or was never opened)`);
  return l;
}

/**
 * `docker build` over the link: the context comes as an upload (images.load.chunk …), the
 * builder's output goes back as `imageData` pieces of JSON lines for `streamId`, in order,
 * each after the ack of the one before; the result (the image's id) only once all of it is out.
 */
export function buildStream(engine: Engine, streamId: string, opts: Omit<BuildRequest, 'context' | 'onOutput'>, send: SendImageData): LoadStream<{ id: string }> {
  let out: Promise<void> = Promise.resolve();
  const emit = (o: unknown) => {
    const data = new TextEncoder().encode(`${JSON.stringify(o)}\n`);
    out = out.then(() => send({ streamId, data })).catch(() => {});
  };
  return new LoadStream(async (context) => {
    try {
      const img = await engine.build({ ...opts, context, onOutput: emit });
      return { id: img.id };
    } finally {
      await out;
    }
  });
}
