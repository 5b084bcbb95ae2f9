// One "browser" of the fan-out benchmark (bench/logs-fanout.ts), in a process of its own as a
// browser is: follows every container given, in as many connections as the per-connection
// bound takes, and after SECONDS of measuring prints one JSON line: delays (a histogram of ms),
// lines, gaps and repeats, its own CPU. Args: URL COOKIE HOSTID WARMUP_MS SECONDS ID…
import { io, type Socket } from 'socket.io-client';
import type { LogsEvent } from '../protocol/logs';
import type { ServerToUi, UiToServer } from '../protocol/ui-socket';
import { MAX_LOG_STREAMS_PER_SOCKET } from '../protocol/log-limits';

const [url, cookie, hostId, warmup, seconds, ...ids] = process.argv.slice(2);
const timeMs = (t: string) => {
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(t);
  return m ? Date.parse(m[1] + 'Z') + (m[2] ? Number(m[2]) * 1000 : 0) : Date.parse(t);
};
const sockets: Socket[] = [];
const delays: number[] = [];
const last = new Map<string, number>();
let measuring = false;
let lines = 0;
let missing = 0;
let repeated = 0;
for (let from = 0; from < ids.length; from += MAX_LOG_STREAMS_PER_SOCKET) {
  const s = io(`${url}/ui`, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie }, forceNew: true }) as unknown as Socket<ServerToUi, UiToServer>;
  sockets.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', reject);
  });
  s.on('logs', (ev: LogsEvent) => {
    const now = Date.now();
    for (const e of ev.entries) {
      const n = Number(e.line);
      const prev = last.get(e.containerId);
      if (measuring) {
        lines++;
        delays.push(now - timeMs(e.time));
        if (prev !== undefined && n <= prev) repeated++;
        else if (prev !== undefined && n > prev + 1) missing += n - prev - 1;
      }
      last.set(e.containerId, Math.max(prev ?? -1, n));
    }
  });
  const ack = await s.emitWithAck('logs:subscribe', { sources: ids.slice(from, from + MAX_LOG_STREAMS_PER_SOCKET).map((containerId) => ({ hostId, containerId })), tail: 0 });
  if (!ack.ok) throw new Error(`subscribe: ${ack.error}`);
}
await new Promise((r) => setTimeout(r, Number(warmup)));
const c0 = process.cpuUsage();
const t0 = performance.now();
measuring = true;
await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
measuring = false;
const cpu = process.cpuUsage(c0);
const wall = (performance.now() - t0) / 1000;
for (const s of sockets) s.disconnect();
// Whole milliseconds → how many lines took that long: small to hand over, enough for quantiles.
const histogram: Record<number, number> = {};
for (const d of delays) histogram[Math.round(d)] = (histogram[Math.round(d)] ?? 0) + 1;
process.stdout.write(JSON.stringify({ histogram, lines, missing, repeated, cpu: (cpu.user + cpu.system) / 1e6 / wall }) + '\n', () => process.exit(0));
