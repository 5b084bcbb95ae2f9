// A server on this machine's loopback made reachable at an address inside a test's network
// namespace: a forwarder in the namespace listens on HOST:PORT there and pipes each
// connection into a unix socket (paths are not per namespace), which this process pipes on
// to 127.0.0.1:TARGET. The reverse of fixtures/netns-tunnel.ts; neither namespace's network
// setup is touched. An agent in a second namespace joined to that one by a veth reaches the
// control plane over the veth, where a test can cut it.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Netns } from '../../fixtures/netns';

export interface Reach {
  close(): Promise<void>;
}

// Runs inside the namespace: argv = [node, host, port, socket path].
const FORWARDER = `
const net = require('node:net');
const [host, port, sock] = process.argv.slice(1);
net.createServer((c) => {
  const u = net.connect(sock);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  c.pipe(u).pipe(c);
}).listen(Number(port), host, () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
`;

export async function reachFrom(ns: Netns, host: string, port: number, target: number, dir: string): Promise<Reach> {
  const sock = path.join(dir, `reach-${port}.sock`);
  const conns = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(target, '127.0.0.1');
    conns.add(c).add(u);
    c.on('close', () => conns.delete(c));
    u.on('close', () => conns.delete(u));
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
    c.pipe(u).pipe(c);
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const child = spawn('nsenter', [`--net=${ns.path}`, '--', process.execPath, '-e', FORWARDER, host, String(port), sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`forwarder in ${ns.name} exited (${code}): ${err}`)));
  });
  return {
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      for (const c of conns) c.destroy();
      await new Promise((r) => server.close(r));
      rmSync(sock, { force: true });
    },
  };
}
