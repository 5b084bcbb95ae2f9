// A stand-in agent that speaks agent/link/protocol.ts over a real socket.io
// connection, for testing the control plane where the real engine cannot run.
// Its containers "print" their argv, one word per line, so a test can check that a
// command line went through the server intact. It reports what it does on stdout,
// one line per event: ENROLLED {json} | ENROLL_REFUSED status message | CONNECTED |
// REFUSED message | COMMAND op | UNSUBSCRIBED subId | ACKED lastSeq (a log batch the
// server acknowledged). A container whose argv is ['@flood', N, SIZE] prints N lines
// of SIZE bytes instead, for testing flow control.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';
import { isolationDefaults } from '../../../agent/engine/containers/security';
import type { ContainerRecord, LogEntry } from '../../../agent/engine/types';
import {
  AGENT_NAMESPACE,
  ENROLL_PATH,
  type AgentCommand,
  type CommandResult,
  type ContainerSummary,
  type EnrollResponse,
  type HostSnapshot,
} from '../../../protocol/agent-link';

const { values } = parseArgs({
  options: { server: { type: 'string' }, token: { type: 'string' }, 'host-id': { type: 'string' }, credential: { type: 'string' }, hostname: { type: 'string' } },
});
const server = values.server!;
const hostname = values.hostname ?? 'protocol-agent';
const say = (line: string) => process.stdout.write(line + '\n');

let hostId = values['host-id'] ?? '';
let credential = values.credential ?? '';
if (values.token !== undefined) {
  const res = await fetch(server + ENROLL_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: values.token, hostname }),
  });
  const body = (await res.json()) as EnrollResponse & { error?: string };
  if (!res.ok) {
    say(`ENROLL_REFUSED ${res.status} ${body.error}`);
    process.exit(3);
  }
  ({ hostId, credential } = body);
  say(`ENROLLED ${JSON.stringify(body)}`);
}

const images = new Map<string, { id: string; repoTags: string[] }>();
const containers = new Map<string, { rec: ContainerRecord; log: LogEntry[] }>();
const subs = new Map<string, AbortController>();

function snapshot(): HostSnapshot {
  const list: ContainerSummary[] = [...containers.values()].map(({ rec }) => ({
    id: rec.id,
    name: rec.name,
    image: rec.image,
    imageId: rec.imageId,
    command: rec.spec.process.cmd.join(' '),
    created: rec.created,
    state: rec.state.status,
    status: 'Up Less than a second',
    exitCode: 0,
    startedAt: rec.state.startedAt,
    finishedAt: rec.state.finishedAt,
    memoryLimit: rec.spec.resources.memory,
  }));
  return {
    info: {
      hostname,
      kernel: 'test',
      os: 'test',
      arch: 'x64',
      cpus: 1,
      memTotal: 1 << 30,
      engineVersion: '0',
      apiVersion: '1.41',
      cgroupVersion: 1,
      root: '/nonexistent',
      containers: { total: list.length, running: list.length, paused: 0, stopped: 0 },
      images: images.size,
    },
    containers: list,
    images: [...images.values()].map((i) => ({ ...i, size: 0, created: new Date(0).toISOString() })),
  };
}

const socket = io(server + AGENT_NAMESPACE, { transports: ['websocket'], auth: { hostId, credential }, reconnection: false });

function find(id: string) {
  const c = containers.get(id) ?? [...containers.values()].find((x) => x.rec.name === id || x.rec.id.startsWith(id));
  return c;
}

async function handle(cmd: AgentCommand): Promise<CommandResult> {
  switch (cmd.op) {
    case 'pull': {
      if (!/^[a-z0-9][a-z0-9._/:@-]*$/.test(cmd.ref)) return { ok: false, status: 400, error: `invalid reference format: repository name (${cmd.ref}) must be lowercase` };
      const img = { id: 'sha256:' + randomBytes(32).toString('hex'), repoTags: [/:[^/]*$/.test(cmd.ref) ? cmd.ref : `${cmd.ref}:latest`] };
      images.set(cmd.ref, img);
      socket.emit('snapshot', snapshot());
      return { ok: true, result: img };
    }
    case 'run': {
      const img = images.get(cmd.spec.image);
      if (!img) return { ok: false, status: 404, error: `No such image: ${cmd.spec.image}` };
      const id = randomBytes(32).toString('hex');
      const now = new Date().toISOString();
      const argv = cmd.spec.process?.cmd ?? ['sh'];
      const rec: ContainerRecord = {
        id,
        name: cmd.spec.name ?? `c_${id.slice(0, 6)}`,
        created: now,
        image: cmd.spec.image,
        imageId: img.id,
        spec: {
          labels: {},
          process: { cmd: argv, entrypoint: [], env: [], workingDir: '/', user: '', tty: false, init: false, stopSignal: '', stopTimeout: null },
          resources: { memory: cmd.spec.resources?.memory ?? 0, memorySwap: 0, nanoCpus: 0, cpuShares: 0, pidsLimit: 0 },
          network: { mode: 'default', hostname: id.slice(0, 12), networks: [], ports: [], publishAll: false, exposedPorts: [], dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [] },
          restart: { autoRemove: false, policy: 'no', maxRetries: 0 },
          health: null,
          ...isolationDefaults(),
          storage: { mounts: [], volumes: [], volumesFrom: [] },
        },
        state: { status: 'running', running: true, paused: false, pid: 1, exitCode: 0, startedAt: now, finishedAt: '0001-01-01T00:00:00Z', error: '', oomKilled: false },
        restartCount: 0,
        logPath: '',
      };
      const lines = argv[0] === '@flood' ? Array.from({ length: Number(argv[1]) }, (_, i) => `${i + 1} `.padEnd(Number(argv[2]) - 1, '.')) : argv;
      const log = lines.map((word, i) => ({ seq: i + 1, stream: 'stdout' as const, time: now, line: word + '\n' }));
      containers.set(id, { rec, log });
      socket.emit('snapshot', snapshot());
      return { ok: true, result: { id } };
    }
    case 'inspect': {
      const c = find(cmd.id);
      return c ? { ok: true, result: c.rec } : { ok: false, status: 404, error: `No such container: ${cmd.id}` };
    }
    case 'stats': {
      // Made-up but moving numbers, so a page's charts have something to draw.
      const c = find(cmd.id);
      if (!c) return { ok: false, status: 404, error: `No such container: ${cmd.id}` };
      const t = Date.now();
      const stats = {
        read: new Date(t).toISOString(),
        cpuUsageNs: (t - Date.parse(c.rec.created)) * 1e5,
        systemCpuNs: t * 1e6,
        onlineCpus: 1,
        memoryUsage: (4 << 20) + (t % 1000) * 1024,
        memoryLimit: c.rec.spec.resources.memory || -1,
        pids: 1,
        pidsLimit: 0,
        networkInterfaces: 0,
        netRxBytes: 0,
        netTxBytes: 0,
        blockReadBytes: 0,
        blockWriteBytes: 0,
      };
      return { ok: true, result: { id: c.rec.id, status: c.rec.state.status, restartCount: 0, stats: c.rec.state.running ? stats : null } };
    }
    case 'start':
    case 'stop':
    case 'restart':
    case 'kill':
    case 'pause':
    case 'unpause':
    case 'remove':
      if (!find(cmd.id)) return { ok: false, status: 404, error: `No such container: ${cmd.id}` };
      if (cmd.op === 'remove') containers.delete(find(cmd.id)!.rec.id);
      return { ok: true };
    case 'removeImage':
      return images.delete(cmd.ref) ? { ok: true } : { ok: false, status: 404, error: `No such image: ${cmd.ref}` };
    case 'logs.subscribe': {
      const c = find(cmd.id);
      if (!c) return { ok: false, status: 404, error: `No such container: ${cmd.id}` };
      const abort = new AbortController();
      subs.get(cmd.subId)?.abort();
      subs.set(cmd.subId, abort);
      const entries = cmd.afterSeq !== undefined ? c.log.filter((e) => e.seq > cmd.afterSeq!) : c.log.slice(-(cmd.tail ?? c.log.length));
      void (async () => {
        // Two lines per batch, each waiting for the server's ack, like the real agent's flow control.
        for (let i = 0; i < entries.length && !abort.signal.aborted; i += 2) {
          const batch = entries.slice(i, i + 2);
          await socket.emitWithAck('logs', { subId: cmd.subId, entries: batch });
          say(`ACKED ${batch[batch.length - 1].seq}`);
        }
      })();
      return { ok: true, result: { subId: cmd.subId } };
    }
    case 'logs.unsubscribe':
      subs.get(cmd.subId)?.abort();
      subs.delete(cmd.subId);
      say(`UNSUBSCRIBED ${cmd.subId}`);
      return { ok: true };
    case 'term.open':
    case 'term.input':
    case 'term.resize':
    case 'term.close':
      return { ok: false, status: 400, error: 'this test agent has no terminals' };
    default:
      // This stand-in agent keeps no volumes and plays no image commands (push, tag, prune, login …).
      return { ok: false, status: 400, error: `the protocol test agent does not do ${cmd.op}` };
  }
}

socket.on('connect', () => {
  say('CONNECTED');
  socket.emit('snapshot', snapshot());
});
socket.on('connect_error', (err) => {
  say(`REFUSED ${err.message}`);
  process.exit(4);
});
socket.on('disconnect', (reason) => {
  say(`DISCONNECTED ${reason}`);
  process.exit(5);
});
socket.on('command', (cmd, ack) => {
  say(`COMMAND ${cmd.op}`);
  void handle(cmd).then(ack);
});
