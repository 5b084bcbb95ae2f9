// The agent's whole state as the control plane sees it.
import type { Engine } from '../engine/types';
import { summarizeContainer, summarizeImage } from '../engine/summaries';
import type { HostSnapshot } from '../../protocol/agent-link';
import type { Stacks } from '../engine/stacks';

export async function buildSnapshot(engine: Engine, stacks?: Stacks): Promise<HostSnapshot> {
  const now = Date.now();
  return {
    info: await engine.info(),
    containers: engine.list({ all: true }).map((c) => summarizeContainer(c, now)),
    images: engine.listImages().map(summarizeImage),
    ...(stacks ? { stacks: stacks.list() } : {}),
  };
}
