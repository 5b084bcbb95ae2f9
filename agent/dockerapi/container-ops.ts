// Operating a container that exists: pause, unpause, rename, update, top, stats. Docker's
// shapes in and out; every rule is the engine's.
import os from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { ContainerStats, Engine, UpdateOptions } from '../engine/types';
import { restartPolicy } from './containers';
import { firstRefused, UPDATE_FIELDS } from './create-fields';
import { boolParam, HttpError, readJson, sendEmpty, sendJson, type Query } from './http';

export async function pauseContainer(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  await engine.pause(id);
  sendEmpty(res, 204);
}

export async function unpauseContainer(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  await engine.unpause(id);
  sendEmpty(res, 204);
}

export async function renameContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  await engine.rename(id, q.get('name') ?? '');
  sendEmpty(res, 204);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const updateBody = z.object({
  Memory: z.number().int().nullish(),
  MemorySwap: z.number().int().nullish(),
  NanoCpus: z.number().int().nonnegative().nullish(),
  CpuShares: z.number().int().nonnegative().nullish(),
  PidsLimit: z.number().int().nullish(),
  RestartPolicy: z.object({ Name: z.string().nullish(), MaximumRetryCount: z.number().int().nullish() }).nullish(),
});

/** Docker's UpdateConfig (Resources and RestartPolicy) → the engine's update; exported for the unit test. */
export function updateOptions(raw: unknown): UpdateOptions {
  if (raw !== undefined && !isObject(raw)) throw new HttpError(400, 'invalid update: the body must be a JSON object');
  const refused = firstRefused(raw ?? {}, UPDATE_FIELDS, '');
  if (refused) throw new HttpError(400, `Berth does not support ${refused} yet`);
  const parsed = updateBody.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new HttpError(400, `invalid update: ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  const b = parsed.data;
  const restart = restartPolicy(b.RestartPolicy);
  return {
    resources: {
      memory: b.Memory || undefined,
      memorySwap: b.MemorySwap || undefined,
      nanoCpus: b.NanoCpus || undefined,
      cpuShares: b.CpuShares || undefined,
      // Only sent when --pids-limit was given; 0 and -1 both lift the limit.
      pidsLimit: b.PidsLimit ?? undefined,
    },
    restart,
  };
}

export async function updateContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const opts = updateOptions(await readJson<unknown>(req));
  const { warnings } = await engine.update(id, opts);
  sendJson(res, 200, { Warnings: warnings });
}

export async function topContainer(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const r = await engine.top(id, q.get('ps_args') ?? undefined);
  sendJson(res, 200, { Titles: r.titles, Processes: r.processes });
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

type CpuJson = Record<string, unknown>;

function cpuJson(s: ContainerStats | undefined): CpuJson {
  if (!s) return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  return {
    cpu_usage: {
      total_usage: s.cpuUsageNs,
      ...(s.cpuPerCpuNs.length ? { percpu_usage: s.cpuPerCpuNs } : {}),
      usage_in_kernelmode: s.cpuKernelNs,
      usage_in_usermode: s.cpuUserNs,
    },
    system_cpu_usage: s.systemCpuNs,
    online_cpus: s.onlineCpus,
    throttling_data: { periods: s.throttling.periods, throttled_periods: s.throttling.throttledPeriods, throttled_time: s.throttling.throttledTimeNs },
  };
}

const blkio = (entries: ContainerStats['ioServiceBytes']) => (entries.length ? entries.map((e) => ({ major: e.major, minor: e.minor, op: e.op, value: e.value })) : null);

/** One sample in Docker's StatsJSON shape (what `docker stats` decodes); `pre` fills precpu_stats. */
export function statsJson(c: { id: string; name: string }, s: ContainerStats | undefined, pre: ContainerStats | undefined): Record<string, unknown> {
  const hostMem = os.totalmem();
  const base = { name: `/${c.name}`, id: c.id };
  if (!s) {
    // Not running: Docker answers with an empty sample, so `docker stats` shows zeros.
    return { read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: {}, num_procs: 0, storage_stats: {}, cpu_stats: cpuJson(undefined), precpu_stats: cpuJson(undefined), memory_stats: {}, ...base };
  }
  const limit = s.memoryLimit < 0 || s.memoryLimit > hostMem ? hostMem : s.memoryLimit;
  return {
    read: s.read,
    preread: pre?.read ?? ZERO_TIME,
    pids_stats: { current: s.pids, ...(s.pidsLimit > 0 ? { limit: s.pidsLimit } : {}) },
    blkio_stats: {
      io_service_bytes_recursive: blkio(s.ioServiceBytes),
      io_serviced_recursive: blkio(s.ioServiced),
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuJson(s),
    precpu_stats: cpuJson(pre),
    memory_stats: {
      usage: s.memoryUsage,
      ...(s.memoryMaxUsage ? { max_usage: s.memoryMaxUsage } : {}),
      stats: s.memoryStat,
      ...(s.memoryFailcnt ? { failcnt: s.memoryFailcnt } : {}),
      limit,
    },
    ...base,
    ...(Object.keys(s.networks).length
      ? {
          networks: Object.fromEntries(
            Object.entries(s.networks).map(([n, v]) => [
              n,
              { rx_bytes: v.rxBytes, rx_packets: v.rxPackets, rx_errors: v.rxErrors, rx_dropped: v.rxDropped, tx_bytes: v.txBytes, tx_packets: v.txPackets, tx_errors: v.txErrors, tx_dropped: v.txDropped },
            ]),
          ),
        }
      : {}),
  };
}

/** dockerd's collector samples once a second. */
const STATS_INTERVAL_MS = 1000;

/**
 * GET /containers/{id}/stats. Streaming: a sample a second, each with the one before as
 * precpu (the first has none). Not streaming: two samples a second apart so the CPU share
 * can be computed, or just one with one-shot=1.
 */
export async function containerStats(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string, q: Query): Promise<void> {
  const c = engine.inspect(id);
  const stream = boolParam(q, 'stream', true);
  const oneShot = boolParam(q, 'one-shot');
  const sample = async () => {
    const cur = engine.inspect(c.id);
    return { rec: cur, s: await engine.stats(c.id) };
  };
  let closed = false;
  req.on('close', () => (closed = true));
  res.on('close', () => (closed = true));
  const sleep = () => new Promise<void>((r) => setTimeout(r, STATS_INTERVAL_MS).unref());

  if (!stream) {
    let { rec, s } = await sample();
    let pre: ContainerStats | undefined;
    if (s && !oneShot) {
      pre = s;
      await sleep();
      ({ rec, s } = await sample().catch(() => ({ rec, s: undefined })));
    }
    return sendJson(res, 200, statsJson(rec, s, s ? pre : undefined));
  }

  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.flushHeaders();
  let pre: ContainerStats | undefined;
  while (!closed) {
    let cur: Awaited<ReturnType<typeof sample>>;
    try {
      cur = await sample();
    } catch {
      // Removed while watched: the stream ends, as dockerd's does.
      break;
    }
    if (closed) break;
    res.write(JSON.stringify(statsJson(cur.rec, cur.s, cur.s ? pre : undefined)) + '\n');
    pre = cur.s;
    await sleep();
  }
  res.end();
}
