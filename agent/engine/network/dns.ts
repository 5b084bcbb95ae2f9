// The embedded resolver, Docker's 127.0.0.11: containers on user networks find each other
// by name, network alias and short id; other names are forwarded to the upstream servers
// (the container's --dns, else the host's, loopback ones included: the resolver runs in
// the agent's namespace, where they answer).
//
// Where it runs: in the agent, one UDP socket and one TCP listener per user network on
// the network's gateway address (an ephemeral port; GATEWAY:53 is redirected there by the
// agent's nat rules). Inside each container 127.0.0.11:53 is DNATed to GATEWAY:53 by rules
// in the container's own namespace, so the container sees Docker's address. While the
// agent is down nothing answers; a new agent binds again as it loads (before it serves the
// API) and rewrites the redirects, so resolving comes back at once: the C library's
// resolver retries (every 5 s, twice by default) and gets its answer from the new agent.
// Docker's own resolver lives in dockerd too and is restored the same way by live-restore.
import dgram from 'node:dgram';
import net from 'node:net';
import { isIP } from 'node:net';

const TYPE_A = 1;
const TYPE_PTR = 12;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const TTL = 600;
const FORWARD_TIMEOUT_MS = 2000;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export interface Question {
  name: string;
  type: number;
  cls: number;
  /** Where the question section ends in the message. */
  end: number;
}

/** The first question of a query, or undefined when the message is not one we can read. */
export function parseQuery(msg: Buffer): Question | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000 || msg.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off];
    if (len === 0) {
      off++;
      break;
    }
    // A query's name is never compressed.
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off + 4 > msg.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), cls: msg.readUInt16BE(off + 2), end: off + 4 };
}

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])), Buffer.from([0])]);
}

/** An answer to `query` (same id and question), with `rcode` and these records. */
export function reply(query: Buffer, q: Question | undefined, rcode: number, answers: Array<{ type: number; data: Buffer }> = []): Buffer {
  const head = Buffer.alloc(12);
  query.copy(head, 0, 0, 2);
  const rd = query.length >= 4 ? query.readUInt16BE(2) & 0x0100 : 0;
  // QR, the query's opcode and RD, RA; an answer of ours is authoritative for the container names.
  const opcode = query.length >= 4 ? query.readUInt16BE(2) & 0x7800 : 0;
  head.writeUInt16BE(0x8000 | opcode | rd | 0x0080 | (answers.length ? 0x0400 : 0) | rcode, 2);
  head.writeUInt16BE(q ? 1 : 0, 4);
  head.writeUInt16BE(answers.length, 6);
  const question = q ? query.subarray(12, q.end) : Buffer.alloc(0);
  const rrs = answers.map((a) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(a.type, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(a.data.length, 10);
    return Buffer.concat([rr, a.data]);
  });
  return Buffer.concat([head, question, ...rrs]);
}

const ipv4Data = (ip: string) => Buffer.from(ip.split('.').map(Number));

/** What the resolver knows, asked per query so renames, connects and disconnects count at once. */
export interface NameSource {
  /** The addresses `name` has for a client at `clientIp` on network `networkId`; undefined when it names no container there. */
  lookup(networkId: string, clientIp: string, name: string): string[] | undefined;
  /** The name (NAME.NETWORK) of the container with address `ip` on a network the client shares with it. */
  reverse(networkId: string, clientIp: string, ip: string): string | undefined;
  /** Where other names go for this client; undefined: the client is not a container here. */
  upstreams(networkId: string, clientIp: string): string[] | undefined;
}

/** Forwards a query as it is to each upstream in turn; the first answer is the answer. */
export async function forward(query: Buffer, servers: string[]): Promise<Buffer | undefined> {
  for (const server of servers) {
    const family = isIP(server);
    if (!family) continue;
    const answer = await new Promise<Buffer | undefined>((resolve) => {
      const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
      const done = (b: Buffer | undefined) => {
        clearTimeout(t);
        s.close();
        resolve(b);
      };
      const t = setTimeout(() => done(undefined), FORWARD_TIMEOUT_MS);
      s.on('error', () => done(undefined));
      s.on('message', (m) => {
        if (m.length >= 2 && m.readUInt16BE(0) === query.readUInt16BE(0)) done(m);
      });
      s.send(query, 53, server, (e) => {
        if (e) done(undefined);
      });
    });
    if (answer) return answer;
  }
  return undefined;
}

export async function answer(src: NameSource, networkId: string, clientIp: string, query: Buffer): Promise<Buffer | undefined> {
  const q = parseQuery(query);
  if (!q) return query.length >= 12 ? reply(query, undefined, RCODE.FORMERR) : undefined;
  const ups = src.upstreams(networkId, clientIp);
  if (ups === undefined) return reply(query, q, RCODE.REFUSED);
  const name = q.name.replace(/\.$/, '');
  if (q.cls === CLASS_IN && (q.type === TYPE_A || q.type === TYPE_AAAA)) {
    const ips = src.lookup(networkId, clientIp, name);
    if (ips) {
      // No IPv6 on Berth's networks: the name exists, with no AAAA record (as Docker answers).
      if (q.type === TYPE_AAAA) return reply(query, q, RCODE.NOERROR);
      // Rotated, so clients that take the first address spread over the containers.
      const start = ips.length ? Math.floor(Math.random() * ips.length) : 0;
      const ordered = [...ips.slice(start), ...ips.slice(0, start)];
      return reply(query, q, RCODE.NOERROR, ordered.map((ip) => ({ type: TYPE_A, data: ipv4Data(ip) })));
    }
  }
  if (q.cls === CLASS_IN && q.type === TYPE_PTR) {
    const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa$/.exec(name);
    const target = m ? src.reverse(networkId, clientIp, [m[4], m[3], m[2], m[1]].join('.')) : undefined;
    if (target) return reply(query, q, RCODE.NOERROR, [{ type: TYPE_PTR, data: encodeName(target) }]);
  }
  if (!ups.length) return reply(query, q, RCODE.SERVFAIL);
  return (await forward(query, ups)) ?? reply(query, q, RCODE.SERVFAIL);
}

/** One network's resolver: UDP and TCP on the gateway address. */
export class NetworkResolver {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly conns = new Set<net.Socket>();

  constructor(
    private readonly src: NameSource,
    readonly networkId: string,
    readonly address: string,
  ) {}

  /** Binds both (ephemeral ports) and returns them. */
  async listen(): Promise<{ udp: number; tcp: number }> {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, this.address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (e) => console.error(`berth: resolver on ${this.address}: ${e.message}`));
    udp.on('message', (m, r) => {
      void answer(this.src, this.networkId, r.address, m).then(
        (out) => {
          if (out) udp.send(out, r.port, r.address, () => {});
        },
        (e) => console.error(`berth: resolver on ${this.address}: ${(e as Error).message}`),
      );
    });
    this.udp = udp;
    const tcp = net.createServer((c) => this.serveTcp(c));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ port: udp.address().port, host: this.address }, () => resolve());
    }).catch(
      // The UDP port's number is taken for TCP: any other will do, the redirect names it.
      () =>
        new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ port: 0, host: this.address }, () => resolve());
        }),
    );
    this.tcp = tcp;
    return { udp: udp.address().port, tcp: (tcp.address() as net.AddressInfo).port };
  }

  private serveTcp(c: net.Socket): void {
    this.conns.add(c);
    c.on('close', () => this.conns.delete(c));
    c.on('error', () => c.destroy());
    c.setTimeout(10_000, () => c.destroy());
    let buf = Buffer.alloc(0);
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void answer(this.src, this.networkId, c.remoteAddress?.replace(/^::ffff:/, '') ?? '', Buffer.from(msg)).then((out) => {
          if (!out || c.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          c.write(Buffer.concat([len, out]));
        });
      }
    });
  }

  close(): void {
    this.udp?.close();
    this.tcp?.close();
    for (const c of this.conns) c.destroy();
  }
}
