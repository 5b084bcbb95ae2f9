// The agent's end of a proxied Docker API connection: a byte pipe between the link and the
// agent's own Docker API socket, connected like any other client's (the link never calls the
// API's code, which stays one face of the engine among two). Bytes from the socket go up in
// pieces of at most TUNNEL_CHUNK_BYTES; once TUNNEL_WINDOW of them wait for the server's ack
// the socket is paused, so a slow client far away slows the container, not the agent's memory.
import net from 'node:net';
import { EngineError } from '../engine/errors';
import { TUNNEL_CHUNK_BYTES, TUNNEL_WINDOW, type TunnelChunk } from '../../protocol/docker-tunnel';

/** Sends one piece to the server; resolves on its ack, rejects when the link is down. */
export type SendTunnelChunk = (chunk: TunnelChunk) => Promise<void>;

/** At most this many proxied connections at once: each holds a socket and a window of buffers. */
export const MAX_TUNNELS = 256;

export class DockerTunnels {
  private readonly open = new Map<string, net.Socket>();

  constructor(
    /** Absent: the agent serves no Docker API socket, and every open is refused saying so. */
    private readonly socketPath: string | undefined,
    private readonly send: SendTunnelChunk,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Connects `tunnelId` to the Docker API socket; resolves once connected. */
  connect(tunnelId: string): Promise<void> {
    if (!this.socketPath) return Promise.reject(new EngineError(501, 'this agent serves no Docker API socket to proxy to'));
    if (this.open.has(tunnelId)) return Promise.reject(new EngineError(409, `tunnel ${tunnelId} is open already`));
    if (this.open.size >= MAX_TUNNELS) return Promise.reject(new EngineError(409, `this agent carries ${MAX_TUNNELS} proxied Docker API connections already`));
    const path = this.socketPath;
    const sock = net.connect(path);
    this.open.set(tunnelId, sock);
    return new Promise((resolve, reject) => {
      sock.once('connect', () => {
        sock.off('error', refused);
        this.pump(tunnelId, sock);
        resolve();
      });
      const refused = (err: Error) => {
        this.open.delete(tunnelId);
        reject(new EngineError(502, `cannot connect to the agent's Docker API socket ${path}: ${err.message}`));
      };
      sock.once('error', refused);
    });
  }

  /** The socket's bytes, end or failure go up in order; the socket waits while the window is full. */
  private pump(tunnelId: string, sock: net.Socket): void {
    let inFlight = 0;
    let over = false;
    const up = (chunk: TunnelChunk) => {
      inFlight++;
      if (inFlight >= TUNNEL_WINDOW) sock.pause();
      this.send(chunk).then(
        () => {
          inFlight--;
          if (inFlight < TUNNEL_WINDOW && !sock.destroyed) sock.resume();
        },
        () => {
          // The link dropped: the server has dropped its end already.
          this.drop(tunnelId, sock);
        },
      );
    };
    const finish = (last: TunnelChunk) => {
      if (over) return;
      over = true;
      up(last);
    };
    sock.on('data', (d: Buffer) => {
      for (let at = 0; at < d.length; at += TUNNEL_CHUNK_BYTES) up({ tunnelId, data: d.subarray(at, at + TUNNEL_CHUNK_BYTES) });
    });
    sock.on('end', () => finish({ tunnelId, end: true }));
    sock.on('error', (err) => {
      this.log(`docker tunnel ${tunnelId}: ${err.message}`);
      finish({ tunnelId, error: err.message });
    });
    sock.on('close', () => {
      finish({ tunnelId, end: true });
      if (this.open.get(tunnelId) === sock) this.open.delete(tunnelId);
    });
  }

  private drop(tunnelId: string, sock: net.Socket): void {
    if (this.open.get(tunnelId) === sock) this.open.delete(tunnelId);
    sock.destroy();
  }

  private socket(tunnelId: string): net.Socket {
    const s = this.open.get(tunnelId);
    if (!s) throw new EngineError(404, `no such tunnel: ${tunnelId} (it has closed)`);
    return s;
  }

  /** Writes the client's bytes; resolves once the socket took them, so the server sends no faster than the API reads. */
  async write(tunnelId: string, data: Uint8Array): Promise<void> {
    const sock = this.socket(tunnelId);
    if (sock.write(data)) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        sock.off('drain', done);
        sock.off('close', closed);
        resolve();
      };
      const closed = () => {
        sock.off('drain', done);
        reject(new EngineError(404, `tunnel ${tunnelId} closed before it took the data`));
      };
      sock.on('drain', done);
      sock.once('close', closed);
    });
  }

  /** The client is done sending; the answer may still come. */
  end(tunnelId: string): void {
    this.socket(tunnelId).end();
  }

  close(tunnelId: string): boolean {
    const s = this.open.get(tunnelId);
    if (!s) return false;
    this.drop(tunnelId, s);
    return true;
  }

  /** The link dropped: every proxied connection ends, as the server's ends have. */
  closeAll(): void {
    for (const [id, s] of [...this.open]) this.drop(id, s);
  }
}
