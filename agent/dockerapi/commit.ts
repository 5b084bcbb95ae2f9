// `docker commit` (POST /commit) and `docker diff` (GET /containers/{id}/changes).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine, ImageConfig } from '../engine/types';
import { HttpError, boolParam, readJson, sendJson, type Query } from './http';

/** Body fields (a container Config) a commit can take over the container's; the rest are refused when set. */
const COMMIT_CONFIG_FIELDS = new Set(['Cmd', 'Entrypoint', 'Env', 'ExposedPorts', 'Labels', 'User', 'WorkingDir', 'Volumes', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell']);

const isEmpty = (v: unknown) => v === null || v === undefined || v === '' || v === false || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v as object).length === 0);

export async function commitContainer(engine: Engine, req: IncomingMessage, res: ServerResponse, q: Query): Promise<void> {
  const container = q.get('container');
  if (!container) throw new HttpError(400, 'container is required');
  const repo = q.get('repo') || '';
  const tag = q.get('tag') || '';
  if (tag && !repo) throw new HttpError(400, 'tag given without a repository name');
  const body = await readJson<Record<string, unknown> | null>(req);
  const config: Record<string, unknown> = {};
  if (body !== undefined && body !== null) {
    if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'invalid commit config: must be an object');
    for (const [k, v] of Object.entries(body)) {
      if (COMMIT_CONFIG_FIELDS.has(k)) {
        if (v !== null && v !== undefined) config[k] = v;
      } else if (!isEmpty(v) && k !== 'Image' && k !== 'Hostname' && k !== 'AttachStdout' && k !== 'AttachStderr') {
        throw new HttpError(400, `Berth does not support Config.${k} in a commit yet`);
      }
    }
  }
  const img = await engine.commitContainer(container, {
    ref: repo ? (tag ? `${repo}:${tag}` : repo) : undefined,
    changes: q.getAll('changes').filter((c) => c.trim() !== ''),
    message: q.get('comment') || undefined,
    author: q.get('author') || undefined,
    pause: boolParam(q, 'pause', true),
    config: config as ImageConfig,
  });
  sendJson(res, 201, { Id: img.id });
}

export async function containerChanges(engine: Engine, res: ServerResponse, id: string): Promise<void> {
  sendJson(res, 200, await engine.containerChanges(id));
}
