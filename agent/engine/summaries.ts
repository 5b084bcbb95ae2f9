// The engine's records as the wire's summaries: what the snapshot, the link's commands and
// a stack's services show of a container or an image, made in one place.
import type { ContainerRecord, ImageRecord } from './types';
import { commandLine, recordStatus } from '../../protocol/docker-words';
import type { ContainerSummary, ImageSummary } from '../../protocol/agent-link';
import { AUTO_UPDATE_LABEL, AUTO_UPDATE_SCHEDULE_LABEL, AUTO_UPDATE_WINDOW_LABEL } from '../../protocol/updates';

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
    ...(c.spec.labels?.[AUTO_UPDATE_LABEL] === 'true'
      ? {
          autoUpdate: {
            ...(c.spec.labels[AUTO_UPDATE_SCHEDULE_LABEL] !== undefined ? { schedule: c.spec.labels[AUTO_UPDATE_SCHEDULE_LABEL] } : {}),
            ...(c.spec.labels[AUTO_UPDATE_WINDOW_LABEL] !== undefined ? { window: c.spec.labels[AUTO_UPDATE_WINDOW_LABEL] } : {}),
          },
        }
      : {}),
  };
}

export function summarizeImage(img: ImageRecord): ImageSummary {
  return { id: img.id, repoTags: img.repoTags, size: img.size, created: img.created };
}
