// Moving images: pull, push, save and load of a five-layer image of about 300 MB
// uncompressed (random data, text, some thousands of small files), Berth's agent (the
// compiled bundle) against `skopeo copy` (download or upload only, nothing unpacked) and
// a real Docker daemon, through the same docker CLI and the same registry on 127.0.0.1.
// Interleaved rounds, the order alternating, medians and ratios.
//
//   pull       into an empty store (Berth, Docker) / an empty dir: (skopeo)
//   pull B     a second image sharing four of the five layers, with the first present;
//              against a pull of its fifth layer alone into an empty store, and curl of that blob
//   push       to an empty registry (a new one per round, so nothing can be skipped or mounted)
//   save/load  docker save -o / docker load -i (Berth against Docker; skopeo has no equivalent)
//   rebuild    docker build of a ten-step Dockerfile whose every step is cached (Berth against Docker's classic builder)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { MEDIA, RegistryClient, sha256Digest } from '../agent/engine/images/registry';
import { tarBuffer, type TarWriteEntry } from '../test/fixtures/tar';
import { busyboxImage } from '../test/fixtures/busybox-image';
import { startRegistry } from '../test/fixtures/registry';
import { startBerthAgent, type BerthAgent } from './berth-agent';
import { median, type DockerCli } from './cli';
import { dockerUnavailable, startDockerDaemon, type DockerDaemon } from './docker-daemon';

export interface ImageBenchOptions {
  rounds: number;
}

interface Layer {
  tar: Buffer;
  gz: Buffer;
  digest: string;
  diffId: string;
}

function layer(entries: TarWriteEntry[]): Layer {
  const tar = tarBuffer(entries);
  const gz = gzipSync(tar, { level: 6 });
  return { tar, gz, digest: sha256Digest(gz), diffId: sha256Digest(tar) };
}

const WORDS = 'the quick brown fox jumps over a lazy dog while berth pulls layers from a registry on loopback and unpacks them as they stream'.split(' ');
function text(bytes: number, seed: number): Buffer {
  const out: string[] = [];
  let n = 0;
  let x = seed;
  while (n < bytes) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const w = WORDS[x % WORDS.length] + (x % 11 === 0 ? '\n' : ' ');
    out.push(w);
    n += w.length;
  }
  return Buffer.from(out.join('').slice(0, bytes));
}

/** The five layers: busybox, 100 MB random, 100 MB text, 5,000 small files, 60 MB random; and a different fifth one for image B. */
async function makeImages(): Promise<{ a: Layer[]; b: Layer[]; base: Awaited<ReturnType<typeof busyboxImage>> }> {
  const base = await busyboxImage();
  const bb: Layer = { tar: Buffer.alloc(0), gz: base.layers[0].gz, digest: base.layers[0].digest, diffId: base.layers[0].diffId };
  const file = (p: string, data: Buffer): TarWriteEntry => ({ path: p, type: 'file', data, mode: 0o644, mtime: 1_700_000_000 });
  const random = layer([file('data/random.bin', randomBytes(100 << 20))]);
  const words = layer(Array.from({ length: 10 }, (_, i) => file(`text/part${i}.txt`, text(10 << 20, i + 1))));
  const small = layer([
    { path: 'many', type: 'directory', mode: 0o755 },
    ...Array.from({ length: 5000 }, (_, i) => file(`many/f${String(i).padStart(5, '0')}.txt`, text(1024 + (i % 7) * 1024, i + 100))),
  ]);
  const fifthA = layer([file('data/fifth-a.bin', randomBytes(60 << 20))]);
  const fifthB = layer([file('data/fifth-b.bin', randomBytes(60 << 20))]);
  return { a: [bb, random, words, small, fifthA], b: [bb, random, words, small, fifthB], base };
}

async function pushImage(registry: string, repo: string, layers: Layer[], base: Awaited<ReturnType<typeof busyboxImage>>): Promise<string> {
  const client = new RegistryClient(registry);
  const cfg = JSON.parse(base.config.toString()) as Record<string, unknown>;
  const config = Buffer.from(JSON.stringify({ ...cfg, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, history: layers.map(() => ({ created_by: 'bench' })) }));
  for (const l of layers) await client.pushBlob(repo, l.gz);
  await client.pushBlob(repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.dockerConfig, size: config.length, digest: sha256Digest(config) },
      layers: layers.map((l) => ({ mediaType: MEDIA.dockerLayerGzip, size: l.gz.length, digest: l.digest })),
    }),
  );
  await client.putManifest(repo, 'v1', manifest, MEDIA.dockerManifest);
  return `${registry}/${repo}:v1`;
}

function timed(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync('timeout', ['-k', '5', '300', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

/** Removes every image (and so every layer) of a daemon, so the next pull starts from an empty store. */
function emptyStore(cli: DockerCli): void {
  // Children first: Docker's classic builder keeps each step as a parent image of the next.
  for (let i = 0; i < 20; i++) {
    const ids = cli.ok(['images', '-aq', '--no-trunc']).split('\n').filter(Boolean);
    if (!ids.length) return;
    cli.run(['rmi', '-f', ...new Set(ids)]);
  }
  throw new Error('images are left after 20 rounds of rmi -f');
}

const ms = (x: number | undefined) => (x === undefined ? '—' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${Math.round(x)} ms`);

export async function benchImages(opts: ImageBenchOptions): Promise<void> {
  const haveSkopeo = existsSync('/usr/bin/skopeo');
  const noDocker = dockerUnavailable();
  console.log(`moving a five-layer image of about 300 MB (tar) from a registry on 127.0.0.1, ${opts.rounds} interleaved rounds, medians`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-images-'));
  const registry = await startRegistry();
  let berth: BerthAgent | undefined;
  let docker: DockerDaemon | undefined;
  try {
    const { a, b, base } = await makeImages();
    const tarBytes = a.slice(1).reduce((n, l) => n + l.tar.length, 0);
    const gzBytes = a.reduce((n, l) => n + l.gz.length, 0);
    console.log(`  image A: ${(tarBytes / 1e6).toFixed(0)} MB as tar (plus busybox), ${(gzBytes / 1e6).toFixed(0)} MB compressed; image B shares 4 of its 5 layers`);
    const refA = await pushImage(registry.url, 'bench/a', a, base);
    const refB = await pushImage(registry.url, 'bench/b', b, base);
    // The fifth layer of B alone, on top of nothing: what B's pull should cost once the four are there.
    const refFifth = await pushImage(registry.url, 'bench/fifth', [b[4]], base);

    mkdirSync(path.join(tmp, 'berth'));
    berth = await startBerthAgent(path.join(tmp, 'berth'));
    if (!noDocker) docker = await startDockerDaemon({ insecureRegistries: [registry.url] });
    else console.log(`  no Docker daemon: ${noDocker}`);

    const r: Record<string, number[]> = {};
    const add = (k: string, v: number) => (r[k] ??= []).push(v);
    const targets: Array<[string, DockerCli]> = [['berth', berth.cli], ...(docker ? [['docker', docker.cli] as [string, DockerCli]] : [])];
    for (const [, cli] of targets) (cli.ok(['pull', refA]), emptyStore(cli)); // warm-up: the daemon's code paths, the registry's page cache

    for (let round = 0; round < opts.rounds; round++) {
      const order = round % 2 ? [...targets].reverse() : targets;
      for (const [name, cli] of order) {
        emptyStore(cli);
        add(`${name} pull`, cli.time(['pull', '-q', refA]));
        add(`${name} pull B`, cli.time(['pull', '-q', refB]));
        const archive = path.join(tmp, `${name}.tar`);
        rmSync(archive, { force: true });
        add(`${name} save`, cli.time(['save', '-o', archive, refA]));
        emptyStore(cli);
        add(`${name} load`, cli.time(['load', '-q', '-i', archive]));
        rmSync(archive, { force: true });
        emptyStore(cli);
        add(`${name} fifth alone`, cli.time(['pull', '-q', refFifth]));
        emptyStore(cli);
        // Push: from a pulled image to a registry that has nothing.
        cli.ok(['pull', '-q', refA]);
        const target = await startRegistry();
        try {
          const dest = `${target.url}/pushed:v1`;
          cli.ok(['tag', refA, dest]);
          add(`${name} push`, cli.time(['push', '-q', dest]));
        } finally {
          await target.stop();
        }
      }
      if (haveSkopeo) {
        const dir = path.join(tmp, 'skopeo-dir');
        rmSync(dir, { recursive: true, force: true });
        add('skopeo pull', timed(() => run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${refA}`, `dir:${dir}`])));
        const target = await startRegistry();
        try {
          add('skopeo push', timed(() => run('skopeo', ['copy', '-q', '--dest-tls-verify=false', `dir:${dir}`, `docker://${target.url}/pushed:v1`])));
        } finally {
          await target.stop();
        }
        rmSync(dir, { recursive: true, force: true });
      }
      const fifthBlob = `http://${registry.url}/v2/bench/b/blobs/${b[4].digest}`;
      add('curl fifth', timed(() => run('curl', ['-sf', '-o', '/dev/null', fifthBlob])));
    }
    // A rebuild with a warm cache: a ten-step Dockerfile, nothing changed since the last build.
    const refBase = await pushImage(registry.url, 'bench/base', [a[0]], base);
    const ctx = path.join(tmp, 'context');
    mkdirSync(ctx);
    writeFileSync(path.join(ctx, 'a.txt'), 'some context\n');
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      [`FROM ${refBase}`, 'ENV APP=bench', 'WORKDIR /app', 'RUN echo one > one.txt', 'COPY a.txt .', 'RUN cat a.txt one.txt > both.txt', 'LABEL bench=rebuild', 'EXPOSE 8080', 'USER 1000', 'CMD ["cat", "both.txt"]', ''].join('\n'),
    );
    for (const [, cli] of targets) (cli.ok(['pull', '-q', refBase]), cli.ok(['build', '-q', '-t', 'bench/rebuild', ctx]));
    for (let round = 0; round < opts.rounds; round++) {
      for (const [name, cli] of round % 2 ? [...targets].reverse() : targets) add(`${name} rebuild`, cli.time(['build', '-q', '-t', 'bench/rebuild', ctx]));
    }

    const m = (k: string) => (r[k]?.length ? median(r[k]) : undefined);
    const ratio = (x?: number, y?: number) => (x !== undefined && y ? `${(x / y).toFixed(2)}×` : '—');
    const rows: string[][] = [
      ['', 'Berth', 'Docker', 'skopeo', 'Berth/skopeo', 'Berth/Docker', 'target'],
      ['pull (empty store)', ms(m('berth pull')), ms(m('docker pull')), ms(m('skopeo pull')), ratio(m('berth pull'), m('skopeo pull')), ratio(m('berth pull'), m('docker pull')), '≤ 1.5× skopeo, ≤ 0.5× Docker'],
      ['pull B (4 of 5 layers there)', ms(m('berth pull B')), ms(m('docker pull B')), '', '', ratio(m('berth pull B'), m('docker pull B')), `the fifth alone: ${ms(m('berth fifth alone'))} (Docker ${ms(m('docker fifth alone'))}; curl of its blob ${ms(m('curl fifth'))})`],
      ['push (empty registry)', ms(m('berth push')), ms(m('docker push')), ms(m('skopeo push')), ratio(m('berth push'), m('skopeo push')), ratio(m('berth push'), m('docker push')), ''],
      ['save -o', ms(m('berth save')), ms(m('docker save')), '', '', ratio(m('berth save'), m('docker save')), ''],
      ['load -i', ms(m('berth load')), ms(m('docker load')), '', '', ratio(m('berth load'), m('docker load')), ''],
      ['build, warm cache (10 steps)', ms(m('berth rebuild')), ms(m('docker rebuild')), '', '', ratio(m('berth rebuild'), m('docker rebuild')), '< 0.3 s'],
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    for (const row of rows) console.log('  ' + row.map((c, i) => (i === 0 || i === 6 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd());
    if (process.env.BENCH_RAW) console.log(JSON.stringify(r));
  } finally {
    if (berth) {
      try {
        emptyStore(berth.cli);
      } finally {
        await berth.stop();
      }
    }
    if (docker) {
      try {
        emptyStore(docker.cli);
      } catch (e) {
        console.log(`  docker daemon: images left at the end: ${(e as Error).message}`);
      }
      const forced = await docker.stop();
      if (forced.length) console.log(`  docker daemon cleanup had to force: ${forced.join('; ')}`);
    }
    await registry.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
