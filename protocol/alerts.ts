// What alerts need on the link (agent ⇄ control plane) and what the dashboard shows of them.
import { z } from 'zod';

/** Longest log-pattern regex the agent compiles. */
export const LOG_PATTERN_MAX = 1000;
/** Characters of a line the agent tests and reports (a longer one is cut here). */
export const LOG_MATCH_LINE_MAX = 4096;

/** Which containers a rule watches: by exact name, and/or all of these labels (a stack: com.docker.compose.project=X). Neither: all. */
export const containerSelectorSchema = z.strictObject({
  names: z.array(z.string().min(1).max(256)).max(50).optional(),
  labels: z.record(z.string().min(1).max(256), z.string().max(1024)).optional(),
});
export type ContainerSelector = z.infer<typeof containerSelectorSchema>;

/** One log-pattern rule as the agent evaluates it. */
export const agentLogRuleSchema = z.strictObject({
  id: z.string().min(1).max(100),
  pattern: z.string().min(1).max(LOG_PATTERN_MAX),
  caseSensitive: z.boolean().optional(),
  containers: containerSelectorSchema.optional(),
  /** At most one report per container within this many seconds; the lines in between are counted. */
  minIntervalSec: z.number().int().min(1).max(86_400),
});
export type AgentLogRule = z.infer<typeof agentLogRuleSchema>;

/** A log-pattern match found on the agent. */
export interface LogMatch {
  ruleId: string;
  containerId: string;
  containerName: string;
  line: string;
  seq: number;
  /** RFC 3339, the line's own time. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** Matching lines since the last report that were not reported (rate limit). */
  suppressed: number;
}

/** A running container's reading for metric rules: CPU as a percentage of one CPU ×100 per CPU (as `docker stats`), memory in bytes. */
export interface ContainerMetric {
  id: string;
  cpuPercent: number;
  memoryBytes: number;
  /** -1: no limit. */
  memoryLimit: number;
}

/** Sent by the agent every interval while connected. */
export interface HostMetrics {
  /** RFC 3339. */
  at: string;
  /** The whole host: CPU busy share 0–100 over the last interval, memory used and total. */
  cpuPercent: number;
  memoryUsed: number;
  memoryTotal: number;
  /** The filesystem of the agent's root (statfs): bytes free to the agent, and the size. */
  rootFree: number;
  rootTotal: number;
  containers: ContainerMetric[];
}

/** Whether a container's name and labels fit a selector. */
export function containerSelected(sel: ContainerSelector | undefined | null, c: { name: string; labels?: Record<string, string> }): boolean {
  if (!sel) return true;
  const name = c.name.replace(/^\//, '');
  if (sel.names?.length && !sel.names.includes(name)) return false;
  for (const [k, v] of Object.entries(sel.labels ?? {})) if (c.labels?.[k] !== v) return false;
  return true;
}

const finite = z.number().finite();
const bytes = z.number().finite().min(-1);

/** What the control plane accepts of an agent's reading (a host is trusted with its own data, not with the server's memory). */
export const hostMetricsSchema = z.object({
  at: z.string().max(64),
  cpuPercent: finite,
  memoryUsed: bytes,
  memoryTotal: bytes,
  rootFree: bytes,
  rootTotal: bytes,
  containers: z.array(z.object({ id: z.string().min(1).max(128), cpuPercent: finite, memoryBytes: bytes, memoryLimit: bytes })).max(10_000),
});

export const logMatchSchema = z.object({
  ruleId: z.string().min(1).max(100),
  containerId: z.string().min(1).max(128),
  containerName: z.string().max(256),
  line: z.string().transform((s) => s.slice(0, LOG_MATCH_LINE_MAX)),
  seq: z.number().int().nonnegative(),
  time: z.string().max(64),
  stream: z.enum(['stdout', 'stderr']),
  suppressed: z.number().int().nonnegative(),
});

/** The event kind raised when an image update (manual, automatic, or of a stack) fails or is rolled back. */
export const UPDATE_FAILED_KIND = 'update.failed';

/** How one update of one container ended, as the control plane hands it to alerting. */
export interface UpdateResultEvent {
  /** The container's name: the subject of the alert (its id changes with every update). */
  name: string;
  image: string;
  /** The container running under the name now (the old one after a rollback), when known. */
  containerId?: string;
  labels?: Record<string, string>;
  /** Started by the automatic pass (not by a person or the stack page). */
  automatic: boolean;
  /** updated / up-to-date: succeeded; rolled-back / failed: the update did not happen. */
  outcome: 'updated' | 'up-to-date' | 'rolled-back' | 'failed';
  message: string;
  /** Its stack, when the update was one of a stack's. */
  stack?: string;
}
