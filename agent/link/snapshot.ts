// The agent's whole state as the control plane sees it.
import type { ContainerRecord, Engine, ImageRecord } from '../engine/types';
import { commandLine, recordStatus } from '../../protocol/docker-words';
import type { ContainerSummary, HostSnapshot, ImageSummary } from '../../protocol/agent-link';

export function summarizeContainer(c: ContainerRecord, now = Date.now()): ContainerSummary {
  return {
    id: c.id,
    name: c.name,
    image: c.image,
    imageId: c.imageId,
    command: commandLine(c),
    created: c.created,
    state: c.state.status,
    status: recordStatus(c, now),
    exitCode: c.state.exitCode,
    startedAt: c.state.startedAt,
    finishedAt: c.state.finishedAt,
    memoryLimit: c.spec.resources.memory,
    ...(c.state.running && c.state.health ? { health: c.state.health.status } : {}),
    restartCount: c.restartCount,
    ...(c.state.running && c.networkState?.ports.length ? { ports: c.networkState.ports } : {}),
    ...(c.spec.labels?.['com.docker.compose.project'] ? { project: c.spec.labels['com.docker.compose.project'] } : {}),
    ...(c.spec.labels && Object.keys(c.spec.labels).length ? { labels: c.spec.labels } : {}),
  };
}

export function summarizeImage(img: ImageRecord): ImageSummary {
  return { id: img.id, repoTags: img.repoTags, size: img.size, created: img.created };
}

export async function buildSnapshot(engine: Engine): Promise<HostSnapshot> {
  const now = Date.now();
  return {
    info: await engine.info(),
    containers: engine.list({ all: true }).map((c) => summarizeContainer(c, now)),
    images: engine.listImages().map(summarizeImage),
  };
}
