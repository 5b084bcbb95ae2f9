// Stacks from a Git repository as the control plane and the browser speak of them. Pure
// data, no Node imports: the browser bundle uses it.

/** POST here + the Git stack's id: the webhook a Git host calls on a push. */
export const GIT_WEBHOOK_PATH = '/api/stacks/webhook/';
/** Polling: off (0), or every this many seconds at least … at most. */
export const GIT_POLL_MIN_SECONDS = 10;
export const GIT_POLL_MAX_SECONDS = 86_400;

/** What the browser is told of a Git stack: never its token or webhook secret, only whether a token is set. */
export interface GitStackInfo {
  id: string;
  url: string;
  branch: string;
  composePath: string;
  envPath: string | null;
  username: string | null;
  tokenSet: boolean;
  pollSeconds: number;
  /** Path of the webhook on this server (the page prefixes its own origin). */
  webhookPath: string;
  lastCommit: string | null;
  lastDeployAt: Date | null;
  lastCheckAt: Date | null;
  lastError: string | null;
  nextCheckAt: Date | null;
}

export type GitSyncOutcome = 'deployed' | 'unchanged' | 'busy' | 'error';
export interface GitSyncResult {
  outcome: GitSyncOutcome;
  commit?: string;
  error?: string;
}
