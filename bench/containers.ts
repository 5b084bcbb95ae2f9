// Running containers, Berth against a real Docker daemon, through the same docker CLI on
// the same busybox image (built by the test fixture, pushed to a registry on 127.0.0.1
// and pulled into both), interleaved and repeated so that machine noise hits both alike:
// medians and ratios. The floor is the kernel's own cost of the same namespaces:
// `unshare … chroot ROOTFS true` on the image's unpacked root.
//
// Also: memory added per idle container (PSS of the per-container processes) with N
// idle containers on each, how much the daemons grow with them, and the agent's own
// weight and start-up time (the compiled bundle, and the sources under tsx for contrast).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { busyboxImage, pushBusyboxImage } from '../test/fixtures/busybox-image';
import { startRegistry } from '../test/fixtures/registry';
import { startBerthAgent, type BerthAgent } from './berth-agent';
import { median, ppidOf, pssKb, subtree, type DockerCli } from './cli';
import { dockerUnavailable, startDockerDaemon, type DockerDaemon } from './docker-daemon';

export interface ContainerBenchOptions {
  rounds: number;
  idle: number;
  starts: number;
}

type Target = 'berth' | 'docker';
interface Row {
  name: string;
  berth?: number;
  docker?: number;
  floor?: number;
  unit: 'ms' | 'kB';
  target?: string;
  /** Whether Berth meets the target, given the row's numbers. */
  meets?: (r: Row) => boolean;
  note?: string;
}

const NOPULL = ['--pull', 'never'];
// Berth's default is an isolated network namespace with only loopback; Docker's is a
// bridge, which the benchmark's dockerd does not have. `none` is the same on both.
const NET = ['--network', 'none'];

function fmt(v: number | undefined, unit: 'ms' | 'kB'): string {
  if (v === undefined) return '—';
  if (unit === 'ms') return v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`;
  return v >= 10_240 ? `${(v / 1024).toFixed(1)} MB` : `${Math.round(v)} kB`;
}

function printTable(title: string, rows: Row[]): void {
  const head = ['', 'Berth', 'Docker', 'floor', 'Berth/Docker', 'target', ''];
  const lines = rows.map((r) => {
    const ratio = r.berth !== undefined && r.docker !== undefined && r.berth > 0 && r.docker > 0 ? `${(r.berth / r.docker).toFixed(2)}×` : '—';
    const met = r.meets && r.target ? (r.meets(r) ? 'met' : 'NOT met') : '';
    return [r.name, fmt(r.berth, r.unit), fmt(r.docker, r.unit), fmt(r.floor, r.unit), ratio, r.target ?? '', [met, r.note].filter(Boolean).join('; ')];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const show = (cells: string[]) => cells.map((c, i) => (i === 0 || i >= 5 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  console.log(title);
  console.log('  ' + show(head));
  for (const l of lines) console.log('  ' + show(l));
}

async function unpackRootfs(dir: string): Promise<string> {
  const img = await busyboxImage();
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(rootfs);
  const layer = path.join(dir, 'layer.tar.gz');
  writeFileSync(layer, img.layers[0].gz);
  const r = spawnSync('tar', ['-xzf', layer, '-C', rootfs, '--same-owner', '--preserve-permissions']);
  if (r.status !== 0) throw new Error(`tar -xzf the busybox layer: ${r.stderr}`);
  return rootfs;
}

function floorMs(rootfs: string): number {
  const t = performance.now();
  const r = spawnSync('unshare', ['--fork', '--pid', '--mount', '--uts', '--ipc', '--net', 'chroot', rootfs, 'true']);
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`the floor (unshare … chroot ${rootfs} true) failed: ${r.stderr}`);
  return ms;
}

/** Per-container processes: what sits between the daemon and the container's init (Berth's monitor, Docker's shim) and everything below. */
function perContainerPss(cli: DockerCli, ids: string[]): number[] {
  const inits = cli.ok(['inspect', '-f', '{{.State.Pid}}', ...ids]).trim().split('\n').map(Number);
  return inits.map((init) => {
    const keeper = ppidOf(init);
    if (!keeper) throw new Error(`container init ${init} has no parent`);
    return subtree(keeper).reduce((s, p) => s + pssKb(p), 0);
  });
}

async function idleContainers(cli: DockerCli, image: string, n: number, daemonPss: () => number): Promise<{ perContainer: number; daemonGrowth: number; keeper: string }> {
  const before = daemonPss();
  const ids: string[] = [];
  try {
    for (let i = 0; i < n; i++) ids.push(cli.ok(['run', '-d', ...NOPULL, ...NET, '--name', `bench-idle-${i}`, image, 'sleep', '3600']).trim());
    const running = cli.ok(['ps', '-q', '--filter', 'name=bench-idle-']).trim().split('\n').filter(Boolean);
    if (running.length !== n) throw new Error(`${running.length} of ${n} idle containers are running`);
    // Let start-up garbage be collected and lazily touched pages settle.
    await new Promise((r) => setTimeout(r, 3000));
    const per = perContainerPss(cli, ids);
    const init = Number(cli.ok(['inspect', '-f', '{{.State.Pid}}', ids[0]]).trim());
    let keeper = '?';
    try {
      keeper = spawnSync('ps', ['-o', 'comm=', '-p', String(ppidOf(init))], { encoding: 'utf8' }).stdout.trim();
    } catch {
      // only for the label
    }
    return { perContainer: median(per), daemonGrowth: (daemonPss() - before) / n, keeper };
  } finally {
    for (let i = 0; i < ids.length; i += 25) cli.run(['rm', '-f', ...ids.slice(i, i + 25)]);
  }
}

export async function benchContainers(opts: ContainerBenchOptions): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bb-'));
  const registry = await startRegistry();
  let agent: BerthAgent | undefined;
  let daemon: DockerDaemon | undefined;
  const cleanup: string[] = [];
  try {
    const { ref } = await pushBusyboxImage(registry.url, 'bench/busybox', 'latest');
    const rootfs = await unpackRootfs(dir);
    mkdirSync(path.join(dir, 'berth'));
    agent = await startBerthAgent(path.join(dir, 'berth'));
    agent.cli.ok(['pull', '-q', ref]);
    const noDocker = dockerUnavailable();
    if (!noDocker) {
      daemon = await startDockerDaemon({ insecureRegistries: [registry.url] });
      daemon.cli.ok(['pull', '-q', ref]);
    }
    const clis: Partial<Record<Target, DockerCli>> = { berth: agent.cli, docker: daemon?.cli };
    const targets = (Object.keys(clis) as Target[]).filter((t) => clis[t]);
    const client = spawnSync('docker', ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' }).stdout.trim();
    console.log(`containers: docker CLI ${client}; Berth (compiled agent, node ${process.version}) against ${daemon ? `Docker ${daemon.version} (dockerd + containerd + runc, overlay2)` : `no Docker daemon: ${noDocker}`}`);
    console.log(`  every container on both with --network none${daemon ? ' (this dockerd runs with --bridge=none: it has no bridge to give, so the like of Berth\'s default bridge is not measured here)' : ''}`);

    // A running container to exec into, on both.
    for (const t of targets) clis[t]!.ok(['run', '-d', ...NOPULL, ...NET, '--name', 'bench-exec', ref, 'sleep', '3600']);

    let seq = 0;
    const ops: Array<{ name: string; target?: string; meets?: Row['meets']; run: (cli: DockerCli) => number; floor?: boolean }> = [
      { name: 'docker version (CLI round trip)', run: (cli) => cli.time(['version', '--format', '{{.Server.Version}}']) },
      { name: 'run --rm IMG true', target: '≤ 0.2× Docker', meets: (r) => r.berth! <= 0.2 * r.docker!, floor: true, run: (cli) => cli.time(['run', '--rm', ...NOPULL, ...NET, ref, 'true']) },
      {
        name: 'run IMG true (no --rm)',
        target: '≤ 0.2× Docker',
        meets: (r) => r.berth! <= 0.2 * r.docker!,
        run: (cli) => {
          const name = `bench-run-${seq++}`;
          const ms = cli.time(['run', ...NOPULL, ...NET, '--name', name, ref, 'true']);
          cli.ok(['rm', name]);
          return ms;
        },
      },
      {
        name: 'create + start -a',
        target: '≤ 0.2× Docker, ≤ floor + 15 ms',
        meets: (r) => r.berth! <= 0.2 * r.docker! && r.berth! <= r.floor! + 15,
        floor: true,
        run: (cli) => {
          const name = `bench-cs-${seq++}`;
          const ms = cli.time(['create', ...NOPULL, ...NET, '--name', name, ref, 'true']) + cli.time(['start', '-a', name]);
          cli.ok(['rm', name]);
          return ms;
        },
      },
      // exec create, start (hijacked) and inspect for the exit code: three API calls, as the CLI makes them.
      { name: 'exec CTR true', target: '≤ 0.2× Docker', meets: (r) => r.berth! <= 0.2 * r.docker!, run: (cli) => cli.time(['exec', 'bench-exec', 'true']) },
    ];
    const samples = new Map<string, Record<Target | 'floor', number[]>>(ops.map((o) => [o.name, { berth: [], docker: [], floor: [] }]));
    const floorSamples: number[] = [];
    // Round 0 warms caches on both sides and is not counted.
    for (let round = 0; round <= opts.rounds; round++) {
      const order = round % 2 ? [...targets].reverse() : targets;
      for (const op of ops) {
        for (const t of order) {
          const ms = op.run(clis[t]!);
          if (round > 0) samples.get(op.name)![t].push(ms);
        }
      }
      const f = floorMs(rootfs);
      if (round > 0) floorSamples.push(f);
    }
    const floor = median(floorSamples);
    const rows: Row[] = ops.map((op) => {
      const s = samples.get(op.name)!;
      const row: Row = { name: op.name, berth: median(s.berth), docker: s.docker.length ? median(s.docker) : undefined, floor: op.floor ? floor : undefined, unit: 'ms', target: daemon ? op.target : undefined, meets: op.meets };
      if (op.floor) row.note = `Berth − floor ${Math.round(row.berth! - floor)} ms`;
      // Two docker CLI runs: the CLI's own start and round trip, twice, is under it on both.
      if (op.name === 'create + start -a') row.note += `; 2 CLI round trips alone ${Math.round(2 * median(samples.get('docker version (CLI round trip)')!.berth))} ms`;
      return row;
    });
    for (const t of targets) clis[t]!.run(['rm', '-f', 'bench-exec']);

    // Memory with idle containers, one engine at a time.
    const berthIdle = await idleContainers(agent.cli, ref, opts.idle, () => agent!.pssKb());
    const dockerIdle = daemon ? await idleContainers(daemon.cli, ref, opts.idle, () => daemon!.daemonPssKb()) : undefined;
    rows.push({
      name: `PSS per idle container (${opts.idle} running)`,
      berth: berthIdle.perContainer,
      docker: dockerIdle?.perContainer,
      unit: 'kB',
      target: '< 256 kB',
      meets: (r) => r.berth! < 256,
      note: `${berthIdle.keeper} + sleep` + (dockerIdle ? ` vs ${dockerIdle.keeper} + sleep` : ''),
    });
    rows.push({ name: '  daemon growth per container', berth: berthIdle.daemonGrowth, docker: dockerIdle?.daemonGrowth, unit: 'kB', note: 'agent PSS vs dockerd + containerd PSS, after/before ÷ N' });

    // The agent's own start and weight: stopped and started again on the same root (the
    // image in it), the compiled bundle and, for contrast, the sources through tsx.
    await agent.stop({ removeCgroups: false });
    agent = undefined;
    const starts: Record<'bundle' | 'tsx', { ms: number[]; rss: number[] }> = { bundle: { ms: [], rss: [] }, tsx: { ms: [], rss: [] } };
    for (let i = 0; i < opts.starts; i++) {
      for (const via of i % 2 ? (['tsx', 'bundle'] as const) : (['bundle', 'tsx'] as const)) {
        const a = await startBerthAgent(path.join(dir, 'berth'), { via });
        await new Promise((r) => setTimeout(r, 2000));
        starts[via].ms.push(a.startMs);
        starts[via].rss.push(a.rssKb());
        await a.stop({ removeCgroups: false });
      }
    }
    // Restarted once more for the cleanup below, which needs a live agent.
    agent = await startBerthAgent(path.join(dir, 'berth'));
    const bundleVsTsx = `sources under tsx: ${fmt(median(starts.tsx.ms), 'ms')}, ${fmt(median(starts.tsx.rss), 'kB')}`;
    rows.push({
      name: 'agent: spawn to first /_ping',
      berth: median(starts.bundle.ms),
      docker: daemon?.startMs,
      unit: 'ms',
      target: '≤ 200 ms',
      meets: (r) => r.berth! <= 200,
      note: `${bundleVsTsx}` + (daemon ? `; Docker: dockerd once, after its containerd (${fmt(daemon.containerdStartMs, 'ms')} more)` : ''),
    });
    rows.push({
      name: 'agent: idle RSS',
      berth: median(starts.bundle.rss),
      docker: daemon?.daemonRssKb(),
      unit: 'kB',
      target: '≤ 70 MB',
      meets: (r) => r.berth! <= 70 * 1024,
      note: 'Docker: dockerd + containerd',
    });
    console.log('');
    printTable(`medians of ${opts.rounds} interleaved rounds (${opts.starts} starts each for the agent)`, rows);
  } finally {
    if (agent) {
      const left = agent.cli.run(['ps', '-aq']).stdout.split('\n').filter(Boolean);
      if (left.length) agent.cli.run(['rm', '-f', ...left]);
      await agent.stop();
    }
    if (daemon) cleanup.push(...(await daemon.stop()));
    await registry.stop();
    const { mountsUnder } = await import('../test/fixtures/processes');
    for (const m of mountsUnder(dir)) {
      cleanup.push(`mount ${m} left behind: unmounted`);
      spawnSync('umount', ['-l', m]);
    }
    rmSync(dir, { recursive: true, force: true });
    console.log(cleanup.length ? `cleanup had to force: ${cleanup.join('; ')}` : 'cleanup: the Docker daemon, the agent and their containers left nothing behind (processes, mounts, cgroups, files)');
  }
}
