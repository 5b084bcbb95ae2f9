// `docker cp`: HEAD, GET and PUT /containers/{id}/archive (moby's api/server/router/container/copy.go).
// The path semantics and the safety live in the engine (agent/engine/containers/archive.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine, PathStat } from '../engine/types';
import { boolParam, HttpError, sendEmpty, type Query } from './http';

/** Docker's form check, in its words (the missing space is dockerd's). */
function pathParam(q: Query): string {
  const p = q.get('path');
  if (!p) throw new HttpError(400, 'bad parameter: pathcannot be empty');
  return p;
}

/** The stat as dockerd sends it: base64 of the JSON of its PathStat. */
function statHeader(stat: PathStat): string {
  const { name, size, mode, mtime, linkTarget } = stat;
  return Buffer.from(JSON.stringify({ name, size, mode, mtime, linkTarget })).toString('base64');
}

export async function headArchive(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const stat = await engine.statPath(id, pathParam(q));
  res.setHeader('X-Docker-Container-Path-Stat', statHeader(stat));
  sendEmpty(res, 200);
}

export async function getArchive(engine: Engine, res: ServerResponse, id: string, q: Query): Promise<void> {
  const archive = await engine.getArchive(id, pathParam(q));
  // A reader that goes away mid-stream ends the walk, and with it the container's freeze.
  let gone = false;
  res.on('close', () => {
    gone = true;
    void archive.close();
  });
  try {
    res.writeHead(200, { 'Content-Type': 'application/x-tar', 'X-Docker-Container-Path-Stat': statHeader(archive.stat) });
    for await (const chunk of archive.content) {
      if (gone) break;
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
    }
    res.end();
  } finally {
    await archive.close();
  }
}

export async function putArchive(engine: Engine, req: IncomingMessage, res: ServerResponse, id: string, q: Query): Promise<void> {
  const path = pathParam(q);
  await engine.putArchive(id, path, req, { noOverwriteDirNonDir: boolParam(q, 'noOverwriteDirNonDir'), copyUIDGID: boolParam(q, 'copyUIDGID') });
  sendEmpty(res, 200);
}
