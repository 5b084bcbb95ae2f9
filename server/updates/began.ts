// Whether an image update ever began, from the agent's answer: one that did not (no such
// container, another update of it under way, the host offline) failed nothing on the
// container, so it is audited but raises no "update failed" alert. One rule for the container
// page, the bulk action, the stack page and the automatic pass.
import { HUB_OFFLINE } from '../hub/agents';
import { agentError } from '../trpc/host-ops';

const NEVER_BEGAN = new Set<number | undefined>([404, 409, HUB_OFFLINE]);

/** For an agent command's status. */
export const updateBegan = (status: number | undefined): boolean => !NEVER_BEGAN.has(status);

/** The same, for the tRPC codes those statuses become (callAgent's errors). */
export const NOT_BEGUN: ReadonlySet<string> = new Set([...NEVER_BEGAN].map((s) => agentError(s, '').code));
