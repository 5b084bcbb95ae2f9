// `npm run bench:fleet`: a fleet of simulated agents against one real control plane.
// Each simulated agent is enrolled with a join token of its own and speaks the real agent
// protocol (protocol/agent-link.ts) over socket.io: a snapshot of 50 containers and 30
// images on connect, a container changing state now and then, log lines while a browser
// follows them, the same reconnection back-off as agent/link/client.ts. Browsers are
// socket.io clients with signed-in sessions of their own, doing what the dashboard's pages
// do: the hosts page (fleet.hosts for one page of 50 hosts, then fleet:watch of those hosts: each
// browser on another page, so every host is watched by someone), a host page (host:watch), a log
// view (logs:subscribe), and the all-containers page (fleet.containers, first page and a filtered,
// sorted one). Nothing here is in the product.
//
//   npm run bench:fleet -- --agents 2000 --browsers 50 --loggers 20 --seconds 60
//   npm run bench:fleet -- --db postgres --processes 2          (one setup only; default: both)
//   npm run bench:fleet -- --search 250,500,1000,1500,2000 --search-minutes 30
//   npm run bench:fleet -- --db sqlite --no-storm --cpu-prof /tmp/prof   (a CPU profile of the server)
//
// Run on SQLite with one control-plane process, then on PostgreSQL with two processes and a
// Redis (Debian's, on loopback, as the tests start them): agents and browsers alternate
// between the processes, so most changes cross Redis on their way to a browser. A table of
// both ends the run. --search steps N up and stops at the first N that misses the delay
// target (or when its time bound is up), and prints the largest N that met it.
//
// Reported: enrolment and connection times, the control plane's resident memory, idle
// bytes per agent per second (TCP bytes of the agents' sockets while nothing changes),
// p50/p99 delay from an agent's change to a watching browser (host page and hosts page), the
// time and size of the all-containers table's pages,
// from a printed log line to the browser, disconnects under load, and the reconnect storm
// after a SIGKILL and restart of the control plane (of both processes), and the CPU time the
// server processes spent per agent-second, idle and under load (which the machine's other
// load affects less than the delays do), and the event-loop delay of the bench's process and
// of each server's (./loop-delay.mjs) under load.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Socket as NetSocket } from 'node:net';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { AGENT_NAMESPACE, ENROLL_PATH, type AgentCommand, type CommandResult, type ContainerSummary, type EnrollResponse, type HostSnapshot, type ImageSummary } from '../protocol/agent-link';
import type { LogEntry } from '../protocol/container';
import type { SnapshotAck, SnapshotDelta } from '../protocol/snapshot-delta';
import { UI_NAMESPACE, type FleetRows, type HostView } from '../protocol/ui-socket';
import { startPostgres, type Postgres } from '../test/fixtures/postgres';
import { startRedis, type Redis } from '../test/fixtures/redis';
import { ensureNextBuild, removeDir, signIn, startControlPlane, trpc, type ControlPlane } from '../test/integration/support/control-plane';
import { median } from './cli';

const LOOP_PROBE = new URL('./loop-delay.mjs', import.meta.url).href;

const { values } = parseArgs({
  options: {
    agents: { type: 'string' },
    browsers: { type: 'string' },
    loggers: { type: 'string' },
    seconds: { type: 'string' },
    'change-every': { type: 'string' },
    /** A directory: the control plane runs with --cpu-prof and writes its profile there when it stops (no reconnect storm then: a SIGKILL writes none). */
    'cpu-prof': { type: 'string' },
    'no-storm': { type: 'boolean' },
    /** sqlite, postgres or both (comma-separated; default both): postgres runs two control-plane processes with Redis. */
    db: { type: 'string' },
    /** Control-plane processes on PostgreSQL (default 2). */
    processes: { type: 'string' },
    /** Agent counts to step through (e.g. 250,500,1000,1500,2000), stopping at the first that misses 250 ms. */
    search: { type: 'string' },
    /** A bound on the search's time, per setup (default 30). */
    'search-minutes': { type: 'string' },
  },
});
const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const N = num(values.agents, 2000);
const BROWSERS = num(values.browsers, 50);
const LOGGERS = num(values.loggers, 20);
const SECONDS = num(values.seconds, 60);
/** Each agent changes one container's state about this often (ms), at a random phase. */
const CHANGE_EVERY_MS = num(values['change-every'], 30_000);
/** Hosts each browser's host page watches (a browser has a few tabs open). */
const WATCH_PER_BROWSER = 20;
const LOG_LINE_EVERY_MS = 100;
/** As agent/link/usage.ts: a CPU and memory reading every 10 s. */
const USAGE_EVERY_MS = 10_000;
/** Hosts per page of the hosts page. */
const HOSTS_PAGE = 50;

// The agent's own reconnection settings (agent/link/client.ts). Like the agent, a simulated
// one sends its state on connect and on a change only.
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmtMs = (x: number) => (Number.isNaN(x) ? '—' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);
const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};
/** CPU seconds (user + system) the process has used so far. */
const cpuSeconds = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime), counted from after the command name; clock ticks of 1/100 s on Linux.
  return (Number(f[11]) + Number(f[12])) / 100;
};
const loadAvg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pool<T>(items: T[], limit: number, fn: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

/** The TCP socket under a socket.io client's websocket, for its byte counters. */
function tcpOf(s: Socket): NetSocket | undefined {
  const transport = (s.io as unknown as { engine?: { transport?: { ws?: { _socket?: NetSocket } } } }).engine?.transport;
  return transport?.ws?._socket;
}

const IMAGE_NAMES = ['nginx', 'redis', 'postgres', 'node', 'python', 'alpine', 'debian', 'grafana/grafana', 'prom/prometheus', 'traefik'];

class SimAgent {
  socket!: Socket;
  readonly containers: ContainerSummary[] = [];
  readonly images: ImageSummary[] = [];
  connects = 0;
  disconnects = 0;
  connectedAt = 0;
  private changeTimer?: NodeJS.Timeout;
  private usageTimer?: NodeJS.Timeout;
  private readonly logs = new Map<string, NodeJS.Timeout>();
  /** When each change marker was made, for the browsers to measure against. */
  static readonly changes = new Map<string, number>();
  /** Each host's last change: its number, when, and the running count it left (what the hosts page shows). */
  static readonly latest = new Map<string, { n: number; at: number; running: number }>();

  constructor(
    readonly index: number,
    readonly hostId: string,
    readonly credential: string,
  ) {
    const now = new Date().toISOString();
    for (let i = 0; i < 30; i++) {
      const name = IMAGE_NAMES[i % IMAGE_NAMES.length];
      this.images.push({ id: 'sha256:' + randomBytes(32).toString('hex'), repoTags: [`${name}:${1 + Math.floor(i / IMAGE_NAMES.length)}.${i}`], size: 20_000_000 + i * 1_000_000, created: now });
    }
    for (let i = 0; i < 50; i++) {
      const img = this.images[i % this.images.length];
      const running = i % 5 !== 0;
      this.containers.push({
        id: randomBytes(32).toString('hex'),
        name: `svc${i}_${['web', 'db', 'cache', 'worker', 'proxy'][i % 5]}_1`,
        image: img.repoTags[0],
        imageId: img.id,
        command: `/docker-entrypoint.sh ${['nginx -g daemon off;', 'postgres', 'redis-server', 'node server.js', 'traefik'][i % 5]}`,
        created: now,
        state: running ? 'running' : 'exited',
        status: running ? 'Up 3 hours' : 'Exited (0) 2 hours ago',
        exitCode: 0,
        startedAt: now,
        finishedAt: running ? '0001-01-01T00:00:00Z' : now,
        memoryLimit: 512 << 20,
        restartCount: 0,
        labels: { app: `svc${i}`, tier: ['web', 'db', 'cache', 'worker', 'proxy'][i % 5] },
        ...(running && i % 3 === 0 ? { ports: [{ containerPort: 80 + i, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8000 + i }] as ContainerSummary['ports'] } : {}),
      });
    }
  }

  /** As agent/link/client.ts: the whole state on each connection, then deltas once the server said it takes them. */
  private rev = 0;
  private takesDeltas = false;

  private sendWhole(): void {
    this.takesDeltas = false;
    this.socket.emit('snapshot', { ...this.snapshot(), rev: ++this.rev }, (a: SnapshotAck) => {
      if (a?.deltas) this.takesDeltas = true;
    });
  }

  private sendChange(c: ContainerSummary): void {
    if (!this.takesDeltas) return this.sendWhole();
    const delta: SnapshotDelta = { base: this.rev, rev: ++this.rev, info: this.snapshot().info, containers: { set: [c] } };
    this.socket.emit('snapshotDelta', delta, (a: SnapshotAck) => {
      if (a?.resync) this.sendWhole();
    });
  }

  snapshot(): HostSnapshot {
    const running = this.containers.filter((c) => c.state === 'running').length;
    return {
      info: {
        hostname: `sim-${this.index}`,
        kernel: '6.1.0-sim',
        os: 'Debian GNU/Linux 12 (simulated)',
        arch: 'x86_64',
        cpus: 4,
        memTotal: 8 << 30,
        engineVersion: 'sim',
        apiVersion: '1.50',
        cgroupVersion: 2,
        root: '/var/lib/berth',
        containers: { total: this.containers.length, running, paused: 0, stopped: this.containers.length - running },
        images: this.images.length,
      },
      containers: this.containers,
      images: this.images,
    };
  }

  connect(url: string): Promise<void> {
    this.socket = io(url + AGENT_NAMESPACE, {
      transports: ['websocket'],
      forceNew: true,
      auth: { hostId: this.hostId, credential: this.credential },
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: RETRY_MIN_MS,
      reconnectionDelayMax: RETRY_MAX_MS,
      randomizationFactor: 0.5,
    });
    this.socket.on('connect', () => {
      this.connects++;
      this.connectedAt = Date.now();
      this.sendWhole();
    });
    const usage = () => {
      if (this.socket.connected) this.socket.volatile.emit('usage', { cpu: Math.random() * 0.5, mem: (1 + Math.random()) * 2 ** 30 });
      this.usageTimer = setTimeout(usage, USAGE_EVERY_MS);
    };
    this.usageTimer = setTimeout(usage, Math.random() * USAGE_EVERY_MS);
    this.socket.on('disconnect', () => {
      this.disconnects++;
      for (const t of this.logs.values()) clearInterval(t);
      this.logs.clear();
    });
    this.socket.on('command', (cmd: AgentCommand, ack: (r: CommandResult) => void) => ack(this.handle(cmd)));
    return new Promise((resolve) => this.socket.once('connect', () => resolve()));
  }

  /** Changes one container's state every CHANGE_EVERY_MS (random phase); the change's marker goes in its status text. */
  startChanging(): void {
    const tick = () => {
      const c = this.containers[Math.floor(Math.random() * this.containers.length)];
      const marker = `${this.index}.${randomBytes(4).toString('hex')}`;
      const running = c.state !== 'running';
      c.state = running ? 'running' : 'exited';
      c.status = `${running ? 'Up Less than a second' : 'Exited (0) Less than a second ago'} #${marker}`;
      SimAgent.changes.set(marker, performance.now());
      SimAgent.latest.set(this.hostId, { n: (SimAgent.latest.get(this.hostId)?.n ?? 0) + 1, at: performance.now(), running: this.containers.filter((x) => x.state === 'running').length });
      if (this.socket.connected) this.sendChange(c);
      this.changeTimer = setTimeout(tick, CHANGE_EVERY_MS * (0.5 + Math.random()));
    };
    this.changeTimer = setTimeout(tick, Math.random() * CHANGE_EVERY_MS);
  }

  stopChanging(): void {
    if (this.changeTimer) clearTimeout(this.changeTimer);
  }

  private handle(cmd: AgentCommand): CommandResult {
    if (cmd.op === 'logs.subscribe') {
      let seq = cmd.afterSeq ?? 0;
      const t = setInterval(() => {
        const line = `${performance.now().toFixed(3)} GET /api/items 200 12ms\n`;
        seq += Buffer.byteLength(line);
        const entry: LogEntry = { seq, stream: 'stdout', time: new Date().toISOString(), line };
        this.socket.emit('logs', { subId: cmd.subId, entries: [entry] }, () => {});
      }, LOG_LINE_EVERY_MS);
      this.logs.set(cmd.subId, t);
      return { ok: true };
    }
    if (cmd.op === 'logs.unsubscribe') {
      clearInterval(this.logs.get(cmd.subId));
      this.logs.delete(cmd.subId);
      return { ok: true };
    }
    return { ok: false, status: 501, error: `the fleet simulator does not do ${cmd.op}` };
  }

  close(): void {
    this.stopChanging();
    if (this.usageTimer) clearTimeout(this.usageTimer);
    for (const t of this.logs.values()) clearInterval(t);
    this.socket?.close();
  }
}

type Db = 'sqlite' | 'postgres';
interface RunConfig {
  n: number;
  db: Db;
  /** Control-plane processes: 2 share PostgreSQL and a Redis (the socket.io adapter, the cluster's relays). */
  processes: number;
  seconds: number;
  storm: boolean;
  quiet?: boolean;
}
interface RunResult {
  config: RunConfig;
  connected: number;
  hostP50: number;
  hostP99: number;
  listP50: number;
  listP99: number;
  logP99: number;
  rssMaxMb: number[];
  idleBps: number;
  idleCpuUs: number;
  loadCpuUs: number;
  disconnects: number;
  stormMs?: number;
  stormBack?: number;
  load: string;
}

let postgres: Postgres | undefined;
let redis: Redis | undefined;
let databases = 0;

async function run(cfg: RunConfig): Promise<RunResult> {
  const { n: N, seconds: SECONDS } = cfg;
  const say = (s: string) => cfg.quiet || console.log(s);
  SimAgent.changes.clear();
  SimAgent.latest.clear();
  const env: Record<string, string> = {};
  if (cfg.db === 'postgres') {
    postgres ??= await startPostgres();
    env.DATABASE_URL = await postgres.createDatabase(`fleet${++databases}`);
    // Sessions signed by one process are read by the other.
    env.NEXTAUTH_SECRET = randomBytes(32).toString('base64url');
    if (cfg.processes > 1) {
      redis ??= await startRedis();
      env.REDIS_URL = redis.url;
    }
  } else if (cfg.processes > 1) throw new Error('two control-plane processes need PostgreSQL (--db postgres)');
  const profDir = values['cpu-prof'];
  // Every process's event-loop delay, to tell a stalled process from a queue (./loop-delay.mjs).
  const loopDir = mkdtempSync(join(tmpdir(), 'berth-fleet-loop-'));
  env.BERTH_BENCH_LOOP_DIR = loopDir;
  const nodeArgs = ['--import', LOOP_PROBE, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])];
  const start = (dataDir?: string, port?: number) => startControlPlane(dataDir, { env, nodeArgs, ...(port ? { port } : {}) });
  let cps: ControlPlane[] = [];
  for (let p = 0; p < cfg.processes; p++) cps.push(await start());
  const pids = () => cps.map((c) => c.child.proc.pid!);
  const cpuAll = () => pids().reduce((s, pid) => s + cpuSeconds(pid), 0);
  const agents: SimAgent[] = [];
  const browsers: Socket[] = [];
  try {
    const email = 'fleet@example.test';
    const password = 'fleet-pass-123';
    const first = cps[0];
    await trpc(first.url).auth.setup.mutate({ email, name: 'Fleet', password });
    const cookie = (await signIn(first.url, email, password))!;
    const api = trpc(first.url, cookie);

    let t = performance.now();
    const creds: Array<{ hostId: string; credential: string }> = new Array(N);
    await pool([...Array(N).keys()], 16, async (i) => {
      const { token } = await api.hosts.createJoinToken.mutate({ name: `sim-${i}` });
      const res = await fetch(first.url + ENROLL_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, hostname: `sim-${i}` }) });
      if (!res.ok) throw new Error(`enrol sim-${i}: HTTP ${res.status} ${await res.text()}`);
      creds[i] = (await res.json()) as EnrollResponse;
    });
    const enrolMs = performance.now() - t;

    t = performance.now();
    for (let i = 0; i < N; i++) agents.push(new SimAgent(i, creds[i].hostId, creds[i].credential));
    // With two processes, agents and browsers alternate between them: most changes cross Redis to reach a browser.
    await pool(agents, 64, (a) => a.connect(cps[a.index % cps.length].url));
    const connectMs = performance.now() - t;
    say(`  enrolled in ${fmtMs(enrolMs)}, all connected in ${fmtMs(connectMs)}; server RSS ${pids().map((p) => rssMb(p).toFixed(0)).join(' + ')} MB`);

    // Idle: nothing changes, nobody watches; TCP bytes both ways on the agents' sockets.
    await sleep(3_000);
    const bytes = () => agents.reduce((n, a) => {
      const s = tcpOf(a.socket);
      return n + (s ? s.bytesRead + s.bytesWritten : 0);
    }, 0);
    const idleSeconds = Math.min(30, SECONDS);
    const b0 = bytes();
    let cpu0 = cpuAll();
    t = performance.now();
    await sleep(idleSeconds * 1000);
    const idleWall = (performance.now() - t) / 1000;
    const idleBps = (bytes() - b0) / idleWall / N;
    const idleCpu = (cpuAll() - cpu0) / (idleWall * N);
    say(`  idle: ${idleBps.toFixed(1)} B/s per agent over ${idleSeconds} s (target < 40 B/s); server CPU ${(idleCpu * 1e6).toFixed(0)} µs per agent-second; load ${loadAvg()}`);

    // Browsers: each its own session; host pages watch a sample of hosts, the hosts page polls.
    const hostDelays: number[] = [];
    const listDelays: number[] = [];
    const logDelays: number[] = [];
    const listTimes: number[] = [];
    const listBytes: number[] = [];
    const seenOnList = new Set<string>();
    let watchMessages = 0;
    const apis: Array<ReturnType<typeof trpc>> = [];
    for (let b = 0; b < BROWSERS; b++) {
      const cp = cps[b % cps.length];
      const c = (await signIn(cp.url, email, password))!;
      const s = io(cp.url + UI_NAMESPACE, { transports: ['websocket'], forceNew: true, extraHeaders: { cookie: c }, reconnection: true });
      await new Promise<void>((resolve, reject) => (s.once('connect', () => resolve()), s.once('connect_error', reject)));
      browsers.push(s);
      // A marker stays in a container's status until its next change: each browser counts it once.
      const seenHere = new Set<string>();
      s.on('host', (h: HostView) => {
        const now = performance.now();
        for (const ct of h.containers) {
          const m = /#(\S+)$/.exec(ct.status);
          const at = m && SimAgent.changes.get(m[1]);
          if (at && !seenHere.has(m[1])) (seenHere.add(m[1]), hostDelays.push(now - at));
        }
      });
      for (let k = 0; k < WATCH_PER_BROWSER; k++) s.emit('host:watch', agents[(b * WATCH_PER_BROWSER + k) % N].hostId, () => {});
      // The hosts page: one page of hosts (each browser another page), then their changed rows live.
      const browserApi = trpc(cp.url, c);
      const t0 = performance.now();
      const page = await browserApi.fleet.hosts.query({ page: 1 + (b % Math.ceil(N / HOSTS_PAGE)), pageSize: HOSTS_PAGE });
      listTimes.push(performance.now() - t0);
      listBytes.push(JSON.stringify(page).length);
      s.on('fleet:rows', (msg: FleetRows) => {
        const now = performance.now();
        watchMessages++;
        // The page shows counts: a host's last change has reached this browser once its running count is the one it left.
        for (const h of msg.rows) {
          const last = SimAgent.latest.get(h.id);
          const key = `${b} ${h.id} ${last?.n}`;
          if (last && h.counts.running === last.running && !seenOnList.has(key)) (seenOnList.add(key), listDelays.push(now - last.at));
        }
      });
      const watched = await new Promise<{ ok: boolean; error?: string }>((r) => s.emit('fleet:watch', { hostIds: page.rows.map((h) => h.id) }, r));
      if (!watched.ok) throw new Error(`fleet:watch: ${watched.error}`);
      apis.push(browserApi);
    }
    for (let l = 0; l < LOGGERS; l++) {
      const s = browsers[l % browsers.length];
      const agent = agents[(l * 7919) % N];
      s.on('logs', (batch: { entries: LogEntry[] }) => {
        const now = performance.now();
        for (const e of batch.entries) logDelays.push(now - Number(e.line.split(' ')[0]));
      });
      s.emit('logs:subscribe', { hostId: agent.hostId, containerId: agent.containers[1].id, tail: 10 }, () => {});
    }

    const disconnectsBefore = agents.reduce((n, a) => n + a.disconnects, 0);
    for (const a of agents) a.startChanging();
    cpu0 = cpuAll();
    const loadT0 = performance.now();
    const loadStart = Date.now();
    const benchLoop = monitorEventLoopDelay({ resolution: 10 });
    benchLoop.enable();
    const rss: number[][] = cps.map(() => []);
    const end = performance.now() + SECONDS * 1000;
    while (performance.now() < end) {
      await sleep(2_000);
      pids().forEach((p, i) => rss[i].push(rssMb(p)));
    }
    for (const a of agents) a.stopChanging();
    benchLoop.disable();
    const loops = [{ who: 'bench', p99: benchLoop.percentile(99) / 1e6, max: benchLoop.max / 1e6, stalled: NaN }, ...cps.map((c, i) => ({ who: `server ${i + 1}`, ...loopDelayOf(loopDir, c.child.proc.pid!, loadStart, Date.now()) }))];
    const loadCpu = (cpuAll() - cpu0) / (((performance.now() - loadT0) / 1000) * N);
    const loadAtEnd = loadAvg();
    const dropped = agents.reduce((n, a) => n + a.disconnects, 0) - disconnectsBefore;
    const connected = agents.filter((a) => a.socket.connected).length;

    say(`  under load (${SECONDS} s; each agent changes a container every ~${CHANGE_EVERY_MS / 1000} s, ${SimAgent.changes.size} changes):`);
    if (cfg.quiet) await sleep(3_000);
    else {
      for (const [label, query] of [
        ['first page', { page: 1, pageSize: 50 }],
        ['state=stopped, label tier=db, sorted by name', { state: 'stopped' as const, label: 'tier=db', sort: 'name' as const, page: 1, pageSize: 50 }],
        ['text "svc4", sorted by image descending, page 3', { text: 'svc4', sort: 'image' as const, desc: true, page: 3, pageSize: 50 }],
      ] as const) {
        const times: number[] = [];
        let bytes = 0;
        let total = 0;
        for (let i = 0; i < 20; i++) {
          const api = apis[i % apis.length];
          const t0 = performance.now();
          const res = await api.fleet.containers.query(query);
          times.push(performance.now() - t0);
          bytes = JSON.stringify(res).length;
          total = res.total;
        }
        say(`    all containers (${N} × 50), ${label}: ${fmtMs(median(times))} median, ${fmtMs(pct(times, 99))} p99 of 20 (${total} matches, ${(bytes / 1e3).toFixed(1)} kB)`);
      }
    }
    // After the table's queries: a change made late in the load still reaches the browsers meanwhile, and counts.
    say(`    host page (host:watch, ${WATCH_PER_BROWSER} hosts per browser): change → browser p50 ${fmtMs(pct(hostDelays, 50))}, p99 ${fmtMs(pct(hostDelays, 99))} (${hostDelays.length} seen; target p99 < 250 ms)`);
    say(`    hosts page (fleet:watch of a page of ${HOSTS_PAGE} hosts per browser): change → browser p50 ${fmtMs(pct(listDelays, 50))}, p99 ${fmtMs(pct(listDelays, 99))} (${listDelays.length} seen in ${watchMessages} messages; target p99 < 250 ms); first page ${fmtMs(median(listTimes))} median, ${fmtMs(pct(listTimes, 99))} p99, ${((listBytes.length ? median(listBytes) : 0) / 1e3).toFixed(1)} kB`);
    say(`    logs (${LOGGERS} followed, a line every ${LOG_LINE_EVERY_MS} ms): print → browser p50 ${fmtMs(pct(logDelays, 50))}, p99 ${fmtMs(pct(logDelays, 99))} (${logDelays.length} lines)`);
    say(`    server RSS max ${rss.map((r) => Math.max(...r).toFixed(0)).join(' + ')} MB (target < 1024 MB); agents disconnected by the load: ${dropped}`);
    say(`    event-loop delay under load, p99 / max: ${loops.map((l) => `${l.who} ${fmtMs(l.p99)} / ${fmtMs(l.max)}${Number.isNaN(l.stalled) ? '' : ` (${l.stalled} s with a stall over 100 ms)`}`).join(', ')}`);
    say(`    server CPU ${(loadCpu * 1e6).toFixed(0)} µs per agent-second under load (${SimAgent.changes.size} changes); load average ${loadAtEnd}`);
    const result: RunResult = {
      config: cfg,
      connected,
      hostP50: pct(hostDelays, 50),
      hostP99: pct(hostDelays, 99),
      listP50: pct(listDelays, 50),
      listP99: pct(listDelays, 99),
      logP99: pct(logDelays, 99),
      rssMaxMb: rss.map((r) => Math.max(...r)),
      idleBps,
      idleCpuUs: idleCpu * 1e6,
      loadCpuUs: loadCpu * 1e6,
      disconnects: dropped,
      load: loadAtEnd,
    };
    if (!cfg.storm || profDir) return result;

    // The reconnect storm: SIGKILL of every process, each restarted on its port and data, every agent back.
    for (const s of browsers) s.close();
    browsers.length = 0;
    const before = agents.map((a) => a.connects);
    const old = cps;
    cps = [];
    for (const cp of old) await cp.child.kill('SIGKILL');
    t = performance.now();
    for (const cp of old) cps.push(await start(cp.dataDir, cp.port));
    const upMs = performance.now() - t;
    const deadline = performance.now() + 180_000;
    while (agents.some((a, i) => a.connects === before[i] || !a.socket.connected) && performance.now() < deadline) await sleep(250);
    result.stormMs = performance.now() - t;
    result.stormBack = agents.filter((a, i) => a.connects > before[i] && a.socket.connected).length;
    say(`  reconnect storm after SIGKILL: server up in ${fmtMs(upMs)}, ${result.stormBack}/${N} agents back ${fmtMs(result.stormMs)} after the restart began (target < 60 s); server RSS ${pids().map((p) => rssMb(p).toFixed(0)).join(' + ')} MB`);
    return result;
  } finally {
    for (const s of browsers) s.close();
    for (const a of agents) a.close();
    for (const cp of cps) {
      await cp.stop();
      removeDir(cp.dataDir);
    }
    removeDir(loopDir);
  }
}

/** A server's event-loop delay between `from` and `to` (epoch ms), from the lines ./loop-delay.mjs wrote each second: the worst second's p99, the max, and how many seconds had a stall over 100 ms. */
function loopDelayOf(dir: string, pid: number, from: number, to: number): { p99: number; max: number; stalled: number } {
  let text = '';
  try {
    text = readFileSync(join(dir, `${pid}.log`), 'utf8');
  } catch {
    return { p99: NaN, max: NaN, stalled: NaN };
  }
  const secs = text
    .split('\n')
    .map((l) => l.split(' ').map(Number))
    .filter(([at]) => at > from && at <= to + 1000);
  return { p99: Math.max(...secs.map((s) => s[1])), max: Math.max(...secs.map((s) => s[2])), stalled: secs.filter((s) => s[2] > 100).length };
}

const meets = (r: RunResult) => r.hostP99 < 250 && r.listP99 < 250 && r.connected === r.config.n && r.disconnects === 0;
const setupOf = (c: RunConfig) => (c.db === 'sqlite' ? 'SQLite, 1 process' : `PostgreSQL, ${c.processes} process${c.processes > 1 ? 'es + Redis' : ''}`);

function table(rows: RunResult[]): void {
  const head = ['setup', 'agents connected', 'host page p50 / p99', 'hosts page p50 / p99', 'server RSS max', 'idle B/s per agent', 'server CPU per agent-s idle / load', 'disconnects', 'reconnect storm', 'load average'];
  const cells = rows.map((r) => [
    setupOf(r.config),
    `${r.connected}/${r.config.n}`,
    `${fmtMs(r.hostP50)} / ${fmtMs(r.hostP99)}`,
    `${fmtMs(r.listP50)} / ${fmtMs(r.listP99)}`,
    r.rssMaxMb.map((x) => `${x.toFixed(0)}`).join(' + ') + ' MB',
    r.idleBps.toFixed(1),
    `${r.idleCpuUs.toFixed(0)} / ${r.loadCpuUs.toFixed(0)} µs`,
    String(r.disconnects),
    r.stormMs === undefined ? '—' : `${r.stormBack}/${r.config.n} in ${fmtMs(r.stormMs)}`,
    r.load,
  ]);
  console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const c of cells) console.log(`| ${c.join(' | ')} |`);
  console.log('targets: p99 < 250 ms, RSS < 1024 MB, idle < 40 B/s, no disconnects, storm < 60 s');
}

async function main(): Promise<void> {
  ensureNextBuild();
  const dbs = (values.db ?? 'sqlite,postgres').split(',').map((d) => d.trim()) as Db[];
  for (const d of dbs) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`--db: "${d}" is not sqlite or postgres`);
  // PostgreSQL is the scale-out setup: two processes with Redis unless told otherwise.
  const processes = num(values.processes, 2);
  if (!Number.isInteger(processes) || processes < 1) throw new Error(`--processes: "${values.processes}" is not a whole number of processes, 1 or more`);
  if (values.processes !== undefined && !dbs.includes('postgres')) throw new Error('--processes: several control-plane processes need PostgreSQL (--db postgres)');
  const configs = dbs.map((db): RunConfig => ({ n: N, db, processes: db === 'postgres' ? processes : 1, seconds: SECONDS, storm: !values['no-storm'] }));
  try {
    if (values.search) {
      // The largest N meeting the delay target: N steps up until the first miss, or until the time is up.
      const budgetMs = num(values['search-minutes'], 30) * 60_000;
      const steps = values.search.split(',').map(Number);
      if (steps.some((x) => !Number.isInteger(x) || x <= 0)) throw new Error(`--search: "${values.search}" is not a list of agent counts`);
      for (const base of configs) {
        const t0 = performance.now();
        const rows: RunResult[] = [];
        let best: number | undefined;
        let stopped = '';
        for (const n of steps) {
          if (performance.now() - t0 > budgetMs) {
            stopped = `the ${budgetMs / 60_000} min bound was reached before N = ${n}`;
            break;
          }
          console.log(`search, ${setupOf(base)}: N = ${n}, ${Math.min(SECONDS, 30)} s${SECONDS > 30 ? ' (a search step runs 30 s at most, not the --seconds given)' : ''} …`);
          const r = await run({ ...base, n, seconds: Math.min(SECONDS, 30), storm: false, quiet: true });
          rows.push(r);
          console.log(`  N = ${n}: host page p99 ${fmtMs(r.hostP99)}, hosts page p99 ${fmtMs(r.listP99)}, ${r.connected}/${n} connected, ${r.disconnects} disconnects; load ${r.load} → ${meets(r) ? 'meets' : 'misses'} the target`);
          if (!meets(r)) {
            stopped = `the first miss was at N = ${n}`;
            break;
          }
          best = n;
        }
        table(rows);
        console.log(`largest N meeting p99 < 250 ms (${setupOf(base)}): ${best ?? `none of ${steps.join(', ')}`}${stopped ? `; ${stopped}` : '; every step met it'}`);
      }
      return;
    }
    const rows: RunResult[] = [];
    for (const c of configs) {
      console.log(`fleet (${setupOf(c)}): ${c.n} simulated agents (50 containers, 30 images each), ${BROWSERS} browsers, ${LOGGERS} following logs, ${c.seconds} s under load`);
      rows.push(await run(c));
    }
    table(rows);
  } finally {
    await redis?.stop();
    await postgres?.stop();
  }
}

await main();
process.exit(0);
