// The reverse proxy's stand-in in front of several control-plane processes: each connection
// goes to the first backend that accepts it (as in e2e/scale-out.test.ts), so when one
// process dies its agents and browsers reconnect to the next.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from '../../fixtures/free-port';

export class FailoverFront {
  readonly server: Server;
  /** The backend port of each connection made, in order. */
  readonly picks: number[] = [];
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly backends: number[]) {
    this.server = createServer((client) => this.accept(client));
  }

  async listen(): Promise<void> {
    this.port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  private accept(client: Socket, from = 0): void {
    if (from >= this.backends.length) return void client.destroy();
    this.sockets.add(client);
    client.pause();
    const upstream = connect(this.backends[from], '127.0.0.1');
    let connected = false;
    upstream.once('error', () => {
      if (!connected) this.accept(client, from + 1);
    });
    upstream.once('connect', () => {
      connected = true;
      this.picks.push(this.backends[from]);
      this.sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => (client.destroy(), this.sockets.delete(upstream)));
      client.on('close', () => (upstream.destroy(), this.sockets.delete(client)));
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
