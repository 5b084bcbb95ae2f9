// The control plane's end of a byte tunnel to an agent's Docker API socket (protocol/docker-tunnel.ts),
// as a Duplex: what is written goes to the agent in pieces, at most TUNNEL_WINDOW of them unacked
// (the writer is held until the agent's socket took one); what the agent's socket says is pushed
// here, and its ack waits while the reader is behind, so the agent pauses its socket.
import { randomUUID } from 'node:crypto';
import { Duplex } from 'node:stream';
import { TUNNEL_CHUNK_BYTES, TUNNEL_DATA_TIMEOUT_MS, TUNNEL_WINDOW, type TunnelChunk } from '../../protocol/docker-tunnel';
import { berthGlobal } from '../global';
import { HUB_OFFLINE, type AgentHub } from '../hub/agents';

export class TunnelError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'TunnelError';
  }
}

export class Tunnel extends Duplex {
  readonly id = randomUUID();
  private inFlight = 0;
  /** The writer's callback, held while the window is full. */
  private heldWrite: (() => void) | undefined;
  /** Acks of pieces pushed while the reader was behind; released as it reads. */
  private readonly heldAcks: Array<() => void> = [];
  private remoteEnded = false;

  constructor(
    private readonly hub: AgentHub,
    readonly hostId: string,
    private readonly registry: Map<string, Tunnel>,
  ) {
    super({ allowHalfOpen: true });
    registry.set(this.id, this);
  }

  /** Connects the agent's end; rejects with the status to answer when the host cannot. */
  async open(): Promise<void> {
    const r = await this.hub.command(this.hostId, { op: 'docker.open', tunnelId: this.id });
    if (!r.ok) {
      this.registry.delete(this.id);
      this.remoteEnded = true;
      super.destroy();
      throw new TunnelError(r.status === HUB_OFFLINE ? 503 : (r.status ?? 502), r.error);
    }
  }

  // http.request asks these of its socket; the agent's end is a unix socket, where they mean nothing.
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (!chunk.length) return callback();
    for (let at = 0; at < chunk.length; at += TUNNEL_CHUNK_BYTES) {
      this.inFlight++;
      const data = chunk.subarray(at, at + TUNNEL_CHUNK_BYTES);
      void this.hub.command(this.hostId, { op: 'docker.data', tunnelId: this.id, data }, TUNNEL_DATA_TIMEOUT_MS).then((r) => {
        this.inFlight--;
        if (!r.ok) return this.destroy(new TunnelError(r.status ?? 502, r.error));
        const held = this.heldWrite;
        if (held && this.inFlight < TUNNEL_WINDOW) {
          this.heldWrite = undefined;
          held();
        }
      });
    }
    if (this.inFlight < TUNNEL_WINDOW) callback();
    else this.heldWrite = () => callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    // Sent after every piece (the link keeps order); the agent half-closes its socket.
    void this.hub.command(this.hostId, { op: 'docker.end', tunnelId: this.id });
    callback();
  }

  override _read(): void {
    // The agent may then send a window more: what waits here stays within the high-water mark and a window.
    for (const a of this.heldAcks.splice(0)) a();
  }

  /** A piece from the agent; resolves when the agent may send more. */
  deliver(chunk: TunnelChunk): Promise<void> {
    if (this.destroyed) return Promise.resolve();
    if (chunk.error) {
      this.remoteEnded = true;
      this.destroy(new TunnelError(502, `the agent's Docker API connection failed: ${chunk.error}`));
      return Promise.resolve();
    }
    if (chunk.data instanceof Uint8Array && chunk.data.length) {
      if (!this.push(Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength))) {
        return new Promise((resolve) => this.heldAcks.push(resolve));
      }
    }
    if (chunk.end) {
      this.remoteEnded = true;
      this.push(null);
    }
    return Promise.resolve();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.registry.delete(this.id);
    for (const a of this.heldAcks.splice(0)) a();
    const held = this.heldWrite;
    this.heldWrite = undefined;
    held?.();
    if (!this.remoteEnded) void this.hub.command(this.hostId, { op: 'docker.close', tunnelId: this.id });
    callback(err);
  }
}

/** The process's open tunnels, and the hub feeding them what agents send. */
export class Tunnels {
  private readonly open = new Map<string, Tunnel>();

  constructor(private readonly hub: AgentHub) {
    hub.dockerDataSink = (hostId, chunk) => {
      const t = this.open.get(chunk.tunnelId);
      // A piece of a tunnel we closed: the agent was told (docker.close) and stops.
      if (!t || t.hostId !== hostId) return Promise.resolve();
      return t.deliver(chunk);
    };
    hub.offlineListeners.add((hostId) => {
      for (const t of this.open.values()) if (t.hostId === hostId) t.destroy(new TunnelError(503, 'the host went offline'));
    });
  }

  async connect(hostId: string): Promise<Tunnel> {
    const t = new Tunnel(this.hub, hostId, this.open);
    await t.open();
    return t;
  }

  get size(): number {
    return this.open.size;
  }
}

export function tunnels(hub: AgentHub): Tunnels {
  return berthGlobal('dockerTunnels', () => new Tunnels(hub));
}
