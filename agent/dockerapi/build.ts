// `docker build` through the classic builder protocol (POST /build, the context tar as the
// body, a JSON stream back), which the docker CLI uses when the daemon's /_ping says
// Builder-Version 1 and no buildx plugin is installed (else DOCKER_BUILDKIT=0). Options
// the classic builder has but Berth does not implement are refused by their flag's name.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BuildStepError } from '../engine/build/builder';
import type { Engine } from '../engine/types';
import { HttpError, boolParam, messageOf, sendJson, type Query } from './http';

/** Query parameter → [the CLI flag, whether the value is the default]. */
const REFUSED: Record<string, [string, (v: string) => boolean]> = {
  remote: ['a remote context (URL or git)', (v) => v === ''],
  cachefrom: ['--cache-from', (v) => v === '' || v === '[]' || v === 'null'],
  cpusetcpus: ['--cpuset-cpus', (v) => v === ''],
  cpusetmems: ['--cpuset-mems', (v) => v === ''],
  cpushares: ['--cpu-shares', (v) => v === '' || v === '0'],
  cpuquota: ['--cpu-quota', (v) => v === '' || v === '0'],
  cpuperiod: ['--cpu-period', (v) => v === '' || v === '0'],
  memory: ['-m/--memory', (v) => v === '' || v === '0'],
  memswap: ['--memory-swap', (v) => v === '' || v === '0'],
  cgroupparent: ['--cgroup-parent', (v) => v === ''],
  shmsize: ['--shm-size', (v) => v === '' || v === '0'],
  networkmode: ['--network', (v) => v === '' || v === 'default'],
  extrahosts: ['--add-host', (v) => v === '' || v === '[]' || v === 'null'],
  ulimits: ['--ulimit', (v) => v === '' || v === '[]' || v === 'null'],
  squash: ['--squash', (v) => v === '' || v === '0' || v === 'false'],
  isolation: ['--isolation', (v) => v === '' || v === 'default'],
  securityopt: ['--security-opt', (v) => v === '' || v === '[]' || v === 'null'],
  outputs: ['--output', (v) => v === '' || v === '[]' || v === 'null'],
  session: ['a BuildKit session', (v) => v === ''],
  forcerm: ['--force-rm', (v) => v === '' || v === '0' || v === 'false'],
};

function jsonParam<T>(q: Query, name: string): T | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new HttpError(400, `invalid JSON in ${name}`);
  }
}

export async function build(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  for (const [k, [flag, isDefault]] of Object.entries(REFUSED)) {
    const v = q.get(k);
    if (v !== null && !isDefault(v)) throw new HttpError(400, `Berth does not support ${flag} for build yet`);
  }
  if (q.get('version') === '2') throw new HttpError(400, 'Berth does not offer BuildKit: build with the classic builder (DOCKER_BUILDKIT=0)');
  if (q.get('platform')) throw new HttpError(400, 'Berth does not support --platform for build yet');
  if (!boolParam(q, 'rm', true)) throw new HttpError(400, 'Berth does not support --rm=false for build yet (intermediate containers are always removed)');
  const buildArgs = jsonParam<Record<string, string | null>>(q, 'buildargs') ?? {};
  const labels = jsonParam<Record<string, string>>(q, 'labels') ?? {};
  for (const v of Object.values(labels)) if (typeof v !== 'string') throw new HttpError(400, 'labels must be strings');
  const quiet = boolParam(q, 'q');
  const ctype = String(req.headers['content-type'] ?? 'application/x-tar');
  if (!/^application\/(x-tar|tar|octet-stream)|^$/.test(ctype) && !ctype.startsWith('application/x-tar')) throw new HttpError(400, `Berth does not support a build context of type ${ctype} yet (send a tar)`);

  let started = false;
  const held: string[] = [];
  const write = (line: Record<string, unknown>) => {
    if (!started) {
      started = true;
      res.writeHead(200, { 'Content-Type': 'application/json' });
    }
    if (!res.writableEnded) res.write(JSON.stringify(line) + '\r\n');
  };
  try {
    const img = await engine.build({
      context: req as AsyncIterable<Buffer>,
      dockerfile: q.get('dockerfile') || undefined,
      tags: q.getAll('t').filter(Boolean),
      buildArgs,
      target: q.get('target') || undefined,
      noCache: boolParam(q, 'nocache'),
      labels,
      pull: boolParam(q, 'pull'),
      onOutput: (o) => {
        if ('aux' in o) return write(o);
        // -q: only the image id; what the build printed is given only if it fails, as dockerd does.
        if (quiet) {
          if ('stream' in o) held.push(o.stream);
          return;
        }
        write(o);
      },
    });
    if (quiet) write({ stream: `${img.id}\n` });
  } catch (err) {
    // Before any output (a bad Dockerfile, a refused option) the status code tells; after, an errorDetail line.
    if (!started && !(err instanceof BuildStepError) && held.length === 0) throw err;
    if (quiet && held.length) write({ stream: held.join('') });
    const message = messageOf(err);
    // The CLI exits with errorDetail.code: a RUN's exit code, as dockerd sends it; none (so 1) for the rest.
    write({ errorDetail: err instanceof BuildStepError ? { message, code: err.exitCode } : { message }, error: message });
  }
  res.end();
}

export function pruneBuildCache(engine: Engine, res: ServerResponse, q: Query): void {
  for (const k of ['all', 'filters', 'keep-storage', 'reserved-space', 'max-used-space', 'min-free-space']) {
    const v = q.get(k);
    if (v !== null && v !== '' && v !== '0' && v !== '{}' && !(k === 'all' && (v === 'false' || v === '1' || v === 'true'))) throw new HttpError(400, `Berth does not support ${k} for builder prune yet`);
  }
  const n = engine.pruneBuildCache();
  sendJson(res, 200, { CachesDeleted: n ? [`${n} build cache entries`] : null, SpaceReclaimed: 0 });
}
