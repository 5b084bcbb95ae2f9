// The agent's whole state as the control plane sees it.
import type { ContainerRecord, Engine, ImageRecord } from '../engine/types';
import { commandLine, recordStatus } from '../../protocol/docker-words';
import type { ContainerSummary, HostSnapshot, ImageSummary } from '../../protocol/agent-link';
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

export async function buildSnapshot(engine: Engine): Promise<HostSnapshot> {
  const now = Date.now();
  return {
    info: await engine.info(),
    containers: engine.list({ all: true }).map((c) => summarizeContainer(c, now)),
    images: engine.listImages().map(summarizeImage),
  };
}
