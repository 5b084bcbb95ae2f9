// What Berth's networks cost, measured through the docker CLI against the compiled agent,
// which runs in a network namespace of the benchmark's own (as in the tests: the
// machine's network setup is never touched; the namespace goes at the end):
//
//   network setup   `docker run --rm IMG true` on the default bridge against `--network none`,
//                   interleaved, medians: the difference is the bridge's cost per container
//                   (address, veth pair, routes, /etc files; at stop, giving them back).
//   published port  requests per second and bytes per second from a loopback client in the
//                   agent's namespace to a busybox httpd in a container, through a published
//                   port on 127.0.0.1 (DNAT, route_localnet, masquerade) against the
//                   container's own address (the same httpd, a second listener), alternated in
//                   rounds, medians.
//
// Docker: the benchmark's dockerd runs in the machine's own namespace with --bridge=none and
// --iptables=false (bench/docker-daemon.ts), so it has no bridge or published ports to
// measure without changing the machine's network; only its `--network none` run is shown,
// for scale.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { busyboxImage } from '../test/fixtures/busybox-image';
import { startBerthAgent, type BerthAgent } from './berth-agent';
import { median } from './cli';
import { dockerUnavailable, startDockerDaemon, type DockerDaemon } from './docker-daemon';

export interface NetworkBenchOptions {
  rounds: number;
  /** Seconds per throughput round. */
  seconds: number;
}

export interface NetworkBenchResult {
  bridgeMs: number;
  noneMs: number;
  /** The median of each bridge run minus the none run after it. */
  setupMs: number;
  dockerNoneMs?: number;
  small: { publishedRps: number; directRps: number; ratio: number };
  large: { publishedMBps: number; directMBps: number; ratio: number };
  /** The same from another namespace joined by a veth pair ("another machine"). */
  remote: { small: { publishedRps: number; directRps: number; ratio: number }; large: { publishedMBps: number; directMBps: number; ratio: number } };
  concurrency: number;
}

const CLIENT = `
import http from 'node:http';
const [url, secs, conc] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
let done = 0, bytes = 0, errors = 0;
const end = Date.now() + secs * 1000;
const one = () => new Promise((resolve) => {
  const req = http.get(url, { agent: false }, (res) => {
    res.on('data', (d) => (bytes += d.length));
    res.on('end', () => { if (res.statusCode === 200) done++; else errors++; resolve(); });
  });
  req.on('error', () => { errors++; resolve(); });
});
const t0 = Date.now();
await Promise.all(Array.from({ length: conc }, async () => { while (Date.now() < end) await one(); }));
const s = (Date.now() - t0) / 1000;
console.log(JSON.stringify({ rps: done / s, MBps: bytes / s / 1e6, errors }));
`;

function ns(name: string, cmd: string[]): string {
  const r = spawnSync('nsenter', [`--net=/run/netns/${name}`, '--', ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`in ${name}: ${cmd.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** One throughput round from inside the namespace. */
function load(nsName: string, client: string, url: string, seconds: number, concurrency: number): Promise<{ rps: number; MBps: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--net=/run/netns/${nsName}`, '--', process.execPath, client, url, String(seconds), String(concurrency)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('close', (code) => {
      if (code !== 0) return reject(new Error(`load client for ${url} failed (${code}): ${err}`));
      const r = JSON.parse(out) as { rps: number; MBps: number; errors: number };
      if (r.errors) return reject(new Error(`${r.errors} requests to ${url} failed`));
      resolve(r);
    });
  });
}

/** Published against direct, `rounds` alternations, from the namespace `from`; medians. */
async function compare(from: string, client: string, urls: { published: string; direct: string }, rounds: number, seconds: number, concurrency: number) {
  const samples = { smallP: [] as number[], smallD: [] as number[], largeP: [] as number[], largeD: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    // Alternating which goes first, so a drift in the machine's load hits both alike.
    const order: Array<'published' | 'direct'> = i % 2 ? ['direct', 'published'] : ['published', 'direct'];
    for (const which of order) {
      const s = await load(from, client, `${urls[which]}/index.html`, seconds, concurrency);
      const l = await load(from, client, `${urls[which]}/big`, seconds, concurrency);
      (which === 'published' ? samples.smallP : samples.smallD).push(s.rps);
      (which === 'published' ? samples.largeP : samples.largeD).push(l.MBps);
    }
  }
  const small = { publishedRps: median(samples.smallP), directRps: median(samples.smallD), ratio: 0 };
  small.ratio = small.publishedRps / small.directRps;
  const large = { publishedMBps: median(samples.largeP), directMBps: median(samples.largeD), ratio: 0 };
  large.ratio = large.publishedMBps / large.directMBps;
  return { small, large };
}

export async function benchNetworks(opts: NetworkBenchOptions): Promise<NetworkBenchResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bn-'));
  const tag = randomBytes(3).toString('hex');
  const nsName = `berth-bench-${tag}`;
  const remoteNs = `berth-bench-${tag}-c`;
  let agent: BerthAgent | undefined;
  let daemon: DockerDaemon | undefined;
  for (const n of [nsName, remoteNs]) {
    const add = spawnSync('ip', ['netns', 'add', n], { encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`ip netns add ${n}: ${add.stderr}`);
  }
  try {
    ns(nsName, ['ip', 'link', 'set', 'lo', 'up']);
    ns(remoteNs, ['ip', 'link', 'set', 'lo', 'up']);
    ns(nsName, ['ip', 'link', 'add', `bv${tag}`, 'type', 'veth', 'peer', 'name', `bw${tag}`, 'netns', remoteNs]);
    ns(nsName, ['ip', 'addr', 'add', '10.202.0.1/24', 'dev', `bv${tag}`]);
    ns(nsName, ['ip', 'link', 'set', `bv${tag}`, 'up']);
    ns(remoteNs, ['ip', 'addr', 'add', '10.202.0.2/24', 'dev', `bw${tag}`]);
    ns(remoteNs, ['ip', 'link', 'set', `bw${tag}`, 'up']);
    mkdirSync(path.join(dir, 'berth'));
    agent = await startBerthAgent(path.join(dir, 'berth'), { netns: `/run/netns/${nsName}` });
    const cli = agent.cli;
    const layer = path.join(dir, 'busybox.tar.gz');
    writeFileSync(layer, (await busyboxImage()).layers[0].gz);
    cli.ok(['import', '-c', 'CMD ["sh"]', layer, 'bench/busybox:net']);
    const img = 'bench/busybox:net';
    const NOPULL = ['--pull', 'never'];

    // Setup cost: interleaved, after one warm-up of each (the first run makes the bridge and the chains).
    cli.ok(['run', '--rm', ...NOPULL, img, 'true']);
    cli.ok(['run', '--rm', ...NOPULL, '--network', 'none', img, 'true']);
    const bridge: number[] = [];
    const none: number[] = [];
    for (let i = 0; i < opts.rounds; i++) {
      bridge.push(cli.time(['run', '--rm', ...NOPULL, img, 'true']));
      none.push(cli.time(['run', '--rm', ...NOPULL, '--network', 'none', img, 'true']));
    }
    const bridgeMs = median(bridge);
    const noneMs = median(none);
    // Each bridge run against the none run right after it: a slow stretch of the machine hits both.
    const setupMs = median(bridge.map((b, i) => b - none[i]));

    let dockerNoneMs: number | undefined;
    if (!dockerUnavailable()) {
      daemon = await startDockerDaemon();
      const dl = path.join(dir, 'docker-layer.tar.gz');
      writeFileSync(dl, (await busyboxImage()).layers[0].gz);
      daemon.cli.ok(['import', '-c', 'CMD ["sh"]', dl, img]);
      daemon.cli.ok(['run', '--rm', '--network', 'none', img, 'true']);
      const d: number[] = [];
      for (let i = 0; i < opts.rounds; i++) d.push(daemon.cli.time(['run', '--rm', '--network', 'none', img, 'true']));
      dockerNoneMs = median(d);
    }

    // Throughput: one server, two paths to it.
    const big = 1 << 20;
    cli.ok([
      'run', '-d', ...NOPULL, '--name', 'bench-web', '-p', '127.0.0.1:18080:80', '-p', '18081:80', img,
      // Two listeners of one httpd binary: the published path goes to 80, the direct one to 81. On one
      // port both paths would share the server's TIME_WAIT tuples, and a NATed SYN meeting one of the
      // direct path's (other timestamps) waits a second for its retransmit: a clash of the benchmark, not a cost.
      'sh', '-c', `mkdir -p /www && echo hello > /www/index.html && head -c ${big} /dev/zero > /www/big && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www`,
    ]);
    const ip = cli.ok(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'bench-web']).trim();
    const client = path.join(dir, 'client.mjs');
    writeFileSync(client, CLIENT);
    const concurrency = 8;
    const urls = { published: 'http://127.0.0.1:18080', direct: `http://${ip}:81` };
    for (let i = 0; ; i++) {
      const r = spawnSync('nsenter', [`--net=/run/netns/${nsName}`, '--', 'curl', '-sf', '-m', '1', `${urls.published}/index.html`]);
      if (r.status === 0) break;
      if (i > 100) throw new Error('the benchmark\'s web server did not answer');
      await new Promise((res) => setTimeout(res, 100));
    }
    const rounds = opts.rounds;
    const { small, large } = await compare(nsName, client, urls, rounds, opts.seconds, concurrency);
    // Another machine reaches the published port on the host's address; the direct path needs
    // a route to the container and a hole in the FORWARD policy, both only for this benchmark's namespaces.
    const subnet = JSON.parse(cli.ok(['network', 'inspect', 'bridge']))[0].IPAM.Config[0].Subnet as string;
    ns(remoteNs, ['ip', 'route', 'add', subnet, 'via', '10.202.0.1']);
    // After the agent's own chain, so the direct path's packets pass the same rules as the published one's.
    ns(nsName, ['iptables', '-A', 'FORWARD', '-s', '10.202.0.2', '-d', ip, '-j', 'ACCEPT']);
    const remote = await compare(remoteNs, client, { published: 'http://10.202.0.1:18081', direct: `http://${ip}:81` }, rounds, opts.seconds, concurrency);
    cli.ok(['rm', '-f', 'bench-web']);
    return { bridgeMs, noneMs, setupMs, dockerNoneMs, small, large, remote, concurrency };
  } finally {
    if (daemon) {
      const forced = await daemon.stop();
      if (forced.length) console.error(`docker daemon cleanup: ${forced.join('; ')}`);
    }
    if (agent) {
      const ids = agent.cli.run(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (ids.length) agent.cli.run(['rm', '-f', ...ids]);
      await agent.stop();
    }
    for (const n of [nsName, remoteNs]) spawnSync('ip', ['netns', 'del', n]);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printNetworkBench(r: NetworkBenchResult, opts: NetworkBenchOptions): void {
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`networks (compiled agent in a network namespace of its own; medians of ${opts.rounds} interleaved runs, throughput ${opts.rounds} alternations of ${opts.seconds} s each, ${r.concurrency} connections)`);
  console.log(`  docker run --rm IMG true    default bridge ${ms(r.bridgeMs)}   --network none ${ms(r.noneMs)}   network setup (median of the pairs' differences) ${ms(r.setupMs)}   target < 10 ms: ${r.setupMs < 10 ? 'met' : 'NOT met'}`);
  console.log(
    r.dockerNoneMs === undefined
      ? '  Docker: not installed here, nothing to compare'
      : `  Docker (--bridge=none, so --network none only): ${ms(r.dockerNoneMs)}; its bridge cannot be measured here without touching the machine's network`,
  );
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const rows = (where: string, x: { small: NetworkBenchResult['small']; large: NetworkBenchResult['large'] }) => {
    console.log(`  ${where}`);
    console.log(`    small file (6 B), requests/s  published ${x.small.publishedRps.toFixed(0)}   direct ${x.small.directRps.toFixed(0)}   published/direct ${pct(x.small.ratio)}   target ≥ 90%: ${x.small.ratio >= 0.9 ? 'met' : 'NOT met'}`);
    console.log(`    1 MiB file, MB/s              published ${x.large.publishedMBps.toFixed(0)}   direct ${x.large.directMBps.toFixed(0)}   published/direct ${pct(x.large.ratio)}   target ≥ 90%: ${x.large.ratio >= 0.9 ? 'met' : 'NOT met'}`);
  };
  rows("loopback client in the agent's namespace: 127.0.0.1:PORT against the container's address", r);
  rows('client in another namespace (another machine): HOST:PORT against the container\'s address (routed for the benchmark)', r.remote);
}
