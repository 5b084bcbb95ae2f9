// What the fault tests share: a log follower on the control plane's '/ui' socket that
// recovers as protocol/logs.ts ("Recovery") tells a page to (after any reconnect it
// subscribes again with the last seq it has), the numbered-line containers it follows,
// and the check that a follower got every line once and in order.
import assert from 'node:assert/strict';
import { io as ioClient, type Socket } from 'socket.io-client';
import type { LogsEvent, LogSubscribeAck } from '../../../protocol/logs';
import { eventually } from '../../fixtures/wait';

/** A shell loop printing "line 1" … "line N", one every `everyS` seconds; then `then` (default: stay running). */
export function countingCommand(n: number, everyS: number, then = 'exec sleep 3600'): string[] {
  return ['sh', '-c', `i=1; while [ $i -le ${n} ]; do echo "line $i"; i=$((i+1)); sleep ${everyS}; done; ${then}`];
}

export interface Received {
  seq: number;
  line: string;
}

export class LogFollower {
  readonly socket: Socket;
  /** Everything the follower was sent, in arrival order, duplicates included (that is what is checked). */
  readonly received: Received[] = [];
  readonly errors: string[] = [];
  /** Subscriptions made: 1 + one per reconnect. */
  subscribes = 0;
  connects = 0;
  done = false;
  private subId: string | undefined;

  constructor(
    url: string,
    cookie: string,
    readonly hostId: string,
    readonly containerId: string,
  ) {
    this.socket = ioClient(`${url}/ui`, { transports: ['websocket'], extraHeaders: { cookie, origin: url }, reconnectionDelay: 500, reconnectionDelayMax: 2000 });
    this.socket.on('connect', () => {
      this.connects++;
      this.subId = undefined;
      if (!this.done) this.subscribe();
    });
    this.socket.on('logs', (ev: LogsEvent) => {
      if (ev.subId !== this.subId) return;
      for (const e of ev.entries) this.received.push({ seq: e.seq, line: e.line.replace(/\n$/, '') });
      if (ev.done) this.done = true;
    });
  }

  /** The last seq received, which is where a reader resumes. */
  get lastSeq(): number {
    return this.received.at(-1)?.seq ?? 0;
  }

  private subscribe(): void {
    this.subscribes++;
    // afterSeq 0 the first time: the whole log from its start, so "line 1" is there too.
    this.socket.emit('logs:subscribe', { hostId: this.hostId, containerId: this.containerId, afterSeq: this.lastSeq }, (ack: LogSubscribeAck) => {
      if (ack.ok) this.subId = ack.subId;
      else this.errors.push(ack.error ?? 'refused');
    });
  }

  async untilLine(n: number, timeoutMs: number): Promise<void> {
    await eventually(`${this.containerId.slice(0, 12)}: "line ${n}" received`, () => this.received.some((r) => r.line === `line ${n}`), timeoutMs, 100).catch((err: Error) => {
      throw new Error(`${err.message}; received ${this.received.length} (last ${JSON.stringify(this.received.at(-1))}), connects ${this.connects}, subscribes ${this.subscribes}, errors ${JSON.stringify(this.errors)}`);
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** Every line 1..n exactly once, in order, with strictly increasing seqs. */
export function assertEveryLineOnce(received: Array<{ seq: number; line: string }>, n: number, what: string): void {
  const lines = received.map((r) => r.line);
  const dup = lines.find((l, i) => lines.indexOf(l) !== i);
  assert.equal(dup, undefined, `${what}: "${dup}" received twice`);
  const missing = Array.from({ length: n }, (_, i) => `line ${i + 1}`).filter((l) => !lines.includes(l));
  assert.deepEqual(missing.slice(0, 10), [], `${what}: ${missing.length} lines missing`);
  assert.deepEqual(lines, Array.from({ length: n }, (_, i) => `line ${i + 1}`), `${what}: lines 1..${n} in order`);
  for (let i = 1; i < received.length; i++) assert.ok(received[i].seq > received[i - 1].seq, `${what}: seq ${received[i].seq} after ${received[i - 1].seq}`);
}
