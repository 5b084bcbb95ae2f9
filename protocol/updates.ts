// Image updates: what the agent reports about each container's image against its registry,
// and the updates (recreate with the new image, rolled back when it does not come up) it runs.
// The commands themselves are in agent-link.ts (updates.status, updates.apply).

/**
 * update-available: the tag names another manifest in the registry than the one the
 * container's image was pulled by (or the tag was pulled since and the container still runs
 * the old image). unknown: nothing to compare (pinned by digest, built or loaded here).
 */
export type UpdateState = 'update-available' | 'up-to-date' | 'unknown' | 'checking' | 'error';

export interface ContainerUpdateInfo {
  containerId: string;
  name: string;
  image: string;
  state: UpdateState;
  /** Why unknown or error, in words. */
  detail?: string;
  /** RFC 3339: when the registry was last asked (a cached answer keeps its time). */
  checkedAt?: string;
  /** The manifest digest the registry has for the tag. */
  remoteDigest?: string;
}

export type UpdatePhase = 'pulling' | 'recreating' | 'waiting' | 'updated' | 'up-to-date' | 'rolled-back' | 'failed';
export const UPDATE_PHASES_DONE: readonly UpdatePhase[] = ['updated', 'up-to-date', 'rolled-back', 'failed'];

/** One update of one container, as the agent keeps it while it runs and for a while after. */
export interface UpdateJob {
  /** The container's name: the same before and after (its id changes). */
  name: string;
  image: string;
  /** The container the update started from. */
  oldContainerId: string;
  oldImageId: string;
  /** Once made (kept when it was rolled back, for the record; that container is gone then). */
  newContainerId?: string;
  newImageId?: string;
  phase: UpdatePhase;
  /** What is happening, or how it ended: "rolled back: new container unhealthy after 60 s". */
  message: string;
  startedAt: string;
  finishedAt?: string;
}

/** How one update ended (an update that could not even start is an error instead). */
export interface UpdateOutcome {
  outcome: 'updated' | 'up-to-date' | 'rolled-back';
  message: string;
  name: string;
  oldContainerId: string;
  oldImageId: string;
  /** The container that runs now under the name: the new one when updated, the old one otherwise. */
  containerId: string;
  newImageId: string;
}

export interface UpdateReport {
  containers: ContainerUpdateInfo[];
  jobs: UpdateJob[];
}

/** How long an answer from a registry is trusted before it is asked again. */
export const UPDATE_CHECK_TTL_MS = 6 * 3600_000;
/** How long a new container has to become healthy (with a healthcheck) before the update is rolled back. */
export const UPDATE_HEALTH_TIMEOUT_S = 60;

/** Labels that ask for automatic updates of a container (off unless `berth.auto-update` is "true"). */
export const AUTO_UPDATE_LABEL = 'berth.auto-update';
/** "every 6h", "every 30m", "every 1d" (default every 6h). */
export const AUTO_UPDATE_SCHEDULE_LABEL = 'berth.auto-update.schedule';
/** "02:00-05:00" (UTC; may wrap past midnight), optionally days first: "sat,sun 02:00-05:00". None: any time. */
export const AUTO_UPDATE_WINDOW_LABEL = 'berth.auto-update.window';

/** One service of a stack update. */
export interface StackServiceUpdate {
  service: string;
  /** Its container's name. */
  name: string;
  image: string;
  /** rolled-back: put back because it or another changed service did not come up; skipped: not updated (why in message). */
  outcome: 'updated' | 'up-to-date' | 'rolled-back' | 'skipped';
  message: string;
  /** The container running under the name now. */
  containerId: string;
  /** The service whose new container did not come up (the cause of a stack's rollback). */
  failed?: boolean;
}

/** How a stack's update ended: updated only when every changed service came up; otherwise all of them were put back. */
export interface StackUpdateOutcome {
  project: string;
  outcome: 'updated' | 'up-to-date' | 'rolled-back';
  /** A summary in words, for the audit log. */
  message: string;
  services: StackServiceUpdate[];
}
