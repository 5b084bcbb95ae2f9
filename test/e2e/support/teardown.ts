// The end of every e2e file's teardown, once its control plane and registry are stopped.
import { cgroupParentFor } from '../../../agent/engine/index';
import { mountsUnder, removeCgroupParent } from '../../fixtures/processes';
import { removeDir } from '../../integration/support/control-plane';

/**
 * Removes the agent's cgroup parent and the file's temp dir; a dir with mounts still under
 * it is kept and named (deleting through a mount would reach into what is mounted).
 */
export function removeAgentLeftovers(agentRoot: string | undefined, tmp: string | undefined): void {
  if (agentRoot) {
    try {
      removeCgroupParent(cgroupParentFor(agentRoot));
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message}`);
    }
  }
  if (tmp) {
    const left = mountsUnder(tmp);
    if (!left.length) removeDir(tmp);
    else console.error(`mounts left under ${tmp}, not deleting it:\n${left.join('\n')}`);
  }
}
