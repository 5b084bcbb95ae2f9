// The engine's records as the wire's summaries: what the snapshot, the link's commands and
// a stack's services show of a container or an image, made in one place.
import type { ContainerRecord, ImageRecord } from './types';
import { commandLine, recordStatus } from '../../protocol/docker-words';
import type { ContainerSummary, ImageSummary } from '../../protocol/agent-link';

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
    ...(c.state.logDropped ? { logDropped: c.state.logDropped } : {}),
    ...(c.spec.labels && Object.keys(c.spec.labels).length ? { labels: c.spec.labels } : {}),
  };
}

export function summarizeImage(img: ImageRecord): ImageSummary {
  return { id: img.id, repoTags: img.repoTags, size: img.size, created: img.created };
}
