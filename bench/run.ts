// `npm run bench`: each benchmark does the same work Berth's way and another way in the
// same run and prints the ratio, so a noisy machine shows as noise, not as a result.
//   npm run bench                      everything
//   npm run bench -- containers        one of: layers, containers, logs, logs-search, networks, images, proxy
//   npm run bench -- --rounds 5        fewer rounds (also --idle N, --starts N, --seconds N; for logs-search
//                                      --bytes N, --containers N, --rate N, --browsers N)
import { parseArgs } from 'node:util';
import { benchContainerLogs } from './container-logs';
import { benchContainers } from './containers';
import { benchImages } from './images';
import { benchLayerUnpack, type Shape } from './layer-unpack';
import { benchLogsSearch, printLogsSearchBench } from './logs-search';
import { benchLogsThrough, printLogsThroughBench } from './logs-through';
import { benchLogsFanout, printLogsFanoutBench } from './logs-fanout';
import { benchNetworks, printNetworkBench } from './networks';
import { benchProxy } from './proxy';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string' },
    idle: { type: 'string' },
    starts: { type: 'string' },
    seconds: { type: 'string' },
    bytes: { type: 'string' },
    containers: { type: 'string' },
    rate: { type: 'string' },
    browsers: { type: 'string' },
  },
});
const KNOWN = ['layers', 'containers', 'logs', 'logs-search', 'networks', 'images', 'proxy'];
for (const p of positionals) if (!KNOWN.includes(p)) throw new Error(`unknown benchmark ${JSON.stringify(p)}: pick from ${KNOWN.join(', ')}`);
const want = (name: string) => positionals.length === 0 || positionals.includes(name);
const count = (name: string, fallback: number) => {
  const v = values[name as keyof typeof values];
  if (v === undefined) return fallback;
  if (!/^[1-9]\d*$/.test(v)) throw new Error(`--${name} wants a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
};

if (want('layers')) {
  const shapes: Shape[] = [
    { name: '5,000 files of 4 KiB', files: 5000, fileBytes: 4096 },
    { name: '64 files of 1 MiB', files: 64, fileBytes: 1 << 20 },
  ];
  console.log('layer unpack (gzip), median of 5: Berth extractor vs GNU tar -xzf');
  for (const shape of shapes) {
    const r = await benchLayerUnpack(shape);
    console.log(`  ${shape.name.padEnd(24)} berth ${r.berthMs.toFixed(0).padStart(6)} ms   tar ${r.tarMs.toFixed(0).padStart(6)} ms   ratio ${r.ratio.toFixed(2)}`);
  }
  console.log('');
}

if (want('containers')) await benchContainers({ rounds: count('rounds', 15), idle: count('idle', 50), starts: count('starts', 5) });

if (want('logs')) {
  console.log('container log of 1,000,000 lines (seq 1 1000000), median of 5, through Berth\'s Docker socket');
  const logs = await benchContainerLogs();
  const ms = (x: number) => `${x.toFixed(1).padStart(7)} ms`;
  console.log(`  capture (run -d + wait)      berth ${ms(logs.captureMs)}`);
  console.log(`  docker logs --tail 10        berth ${ms(logs.tailCliMs)}   (agent alone ${ms(logs.tailApiMs)})   GNU tail -n 10 ${ms(logs.gnuTailMs)}   ratio ${(logs.tailCliMs / logs.gnuTailMs).toFixed(1)}`);
  console.log(`  docker --version (the CLI's own start-up, the floor under both) ${ms(logs.cliStartMs)}`);
  console.log(`  docker logs | wc -l          berth ${ms(logs.readBackMs)}   (agent alone ${ms(logs.readBackApiMs)})   GNU wc -l ${ms(logs.gnuWcMs)}   ratio ${(logs.readBackMs / logs.gnuWcMs).toFixed(1)}`);
  if (logs.docker) {
    const d = logs.docker;
    console.log(`  against dockerd: capture ${(logs.captureMs / d.captureMs).toFixed(2)}×, --tail 10 ${(logs.tailCliMs / d.tailCliMs).toFixed(2)}×, read-back ${(logs.readBackMs / d.readBackMs).toFixed(2)}× (Docker ${d.captureMs.toFixed(0)} / ${d.tailCliMs.toFixed(1)} / ${d.readBackMs.toFixed(0)} ms)`);
  } else {
    console.log('  dockerd is not installed here: no comparison with Docker');
  }
}

if (want('logs-search')) {
  const rounds = count('rounds', 3);
  printLogsSearchBench(await benchLogsSearch({ rounds, bytes: count('bytes', 1_000_000_000) }), rounds);
  printLogsThroughBench(await benchLogsThrough({ rounds, bytes: count('bytes', 1_000_000_000) }), rounds);
  printLogsFanoutBench(await benchLogsFanout({ containers: count('containers', 20), rate: count('rate', 1000), browsers: count('browsers', 5), seconds: count('seconds', 10) }));
  console.log('');
}

if (want('networks')) {
  const opts = { rounds: count('rounds', 15), seconds: count('seconds', 1) };
  printNetworkBench(await benchNetworks(opts), opts);
}

if (want('images')) await benchImages({ rounds: count('rounds', 5) });

if (want('proxy')) {
  const rounds = count('rounds', 5);
  console.log(`the docker CLI through the control plane (a personal access token, the agent's link) vs straight to the agent's socket, median of ${rounds}`);
  for (const r of await benchProxy({ rounds })) {
    console.log(`  ${r.name.padEnd(24)} direct ${r.directMs.toFixed(0).padStart(6)} ms   proxied ${r.proxiedMs.toFixed(0).padStart(6)} ms   ratio ${(r.proxiedMs / r.directMs).toFixed(2)}`);
  }
  console.log('');
}
