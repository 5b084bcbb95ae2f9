// Compose stacks as the agent, the control plane and the browser speak of them. Pure data
// and zod, no Node imports, so the browser bundle can use it too.
import './zod-in-browser';
import { z } from 'zod';
import type { ContainerSummary } from './agent-link';

/** Compose's project names, which a stack's name is. */
export const STACK_NAME = /^[a-z0-9][a-z0-9_-]*$/;
export const STACK_NAME_MAX = 63;
export const stackNameSchema = z
  .string()
  .min(1)
  .max(STACK_NAME_MAX)
  .regex(STACK_NAME, 'a stack name has lower case letters, digits, "-" and "_", and starts with a letter or digit');
/** Bytes of a compose file or a .env a stack may have. */
export const STACK_FILE_MAX = 256 * 1024;
export const composeTextSchema = z.string().max(STACK_FILE_MAX, `a compose file has at most ${STACK_FILE_MAX} bytes`);
export const envTextSchema = z.string().max(STACK_FILE_MAX, `a .env file has at most ${STACK_FILE_MAX} bytes`);

/** berth: its compose file and .env live in the agent's root (stacks/NAME); external: started by
 *  another client (the docker-compose CLI), known only by its containers' labels, read-only. */
export type StackSource = 'berth' | 'external';
/** running: every service's containers run; partial: some do; stopped: none do; down: no containers. */
export type StackStatus = 'running' | 'partial' | 'stopped' | 'down';

export interface StackOperationStep {
  /** Unix ms. */
  at: number;
  text: string;
}

/** A deploy, pull-redeploy, stop … under way or the last one done, kept by the agent (in memory) so a page that was left can come back to it. */
export interface StackOperation {
  id: string;
  kind: StackOpKind;
  startedAt: number;
  finishedAt?: number;
  steps: StackOperationStep[];
  /** Set when it failed. */
  error?: string;
}
export const STACK_OP_KINDS = ['deploy', 'pull-redeploy', 'stop', 'start', 'restart', 'down', 'restart-service', 'image-update'] as const;
export type StackOpKind = (typeof STACK_OP_KINDS)[number];
/** Steps an operation keeps; older ones go (a huge stack's deploy must not grow without bound). */
export const STACK_OP_STEPS_MAX = 500;

export interface StackSummary {
  name: string;
  source: StackSource;
  status: StackStatus;
  services: number;
  containers: number;
  running: number;
  /** An operation under way, if one is. */
  busy?: StackOpKind;
}

export interface StackService {
  name: string;
  /** From the compose file (berth stacks) or the containers' labels. */
  image: string;
  /** How many containers the service has (its replicas). */
  containers: ContainerSummary[];
}

export interface StackDetail extends StackSummary {
  /** Where the project's files are (the agent's root), or where the CLI ran it (from the labels). */
  workingDir?: string;
  configFiles?: string[];
  /** berth stacks: the files as stored. */
  compose?: string;
  env?: string;
  serviceList: StackService[];
  operation?: StackOperation;
}

export const SERVICE_ACTIONS = ['create', 'recreate', 'remove', 'unchanged'] as const;
export type ServiceAction = (typeof SERVICE_ACTIONS)[number];

export interface ServicePlan {
  service: string;
  action: ServiceAction;
  /** Why: "new service", "its definition changed", "image changed (sha256:… → sha256:…)", "stopped: will be started" … */
  reason: string;
  /** The container it concerns, if there is one now. */
  containerId?: string;
}

export interface StackPlan {
  services: ServicePlan[];
  networks: Array<{ name: string; action: 'create' | 'unchanged' | 'external' }>;
  volumes: Array<{ name: string; action: 'create' | 'unchanged' | 'external' }>;
}

export interface ComposeIssueInfo {
  path: string;
  message: string;
  line?: number;
  col?: number;
}

/** The link's stack commands (agent-link.ts spreads them into its union). */
const name = stackNameSchema;
const files = { compose: composeTextSchema, env: envTextSchema.optional() };
export const stackCommandSchemas = [
  z.strictObject({ op: z.literal('stacks.list') }),
  z.strictObject({ op: z.literal('stacks.get'), name }),
  /** Checks the text as the deploy would (env_file paths against the stack's directory); → ComposeIssueInfo[]. */
  z.strictObject({ op: z.literal('stacks.validate'), name, ...files }),
  /** What a deploy of this text (or, without it, of the stored files) would change; → StackPlan. */
  z.strictObject({ op: z.literal('stacks.plan'), name, compose: composeTextSchema.optional(), env: envTextSchema.optional(), pull: z.boolean().optional() }),
  /** Stores the files (when given) and brings the project to them; acked when done → StackPlan applied. */
  z.strictObject({ op: z.literal('stacks.deploy'), name, compose: composeTextSchema.optional(), env: envTextSchema.optional(), pull: z.boolean().optional() }),
  z.strictObject({ op: z.literal('stacks.stop'), name }),
  z.strictObject({ op: z.literal('stacks.start'), name }),
  z.strictObject({ op: z.literal('stacks.restart'), name }),
  /** Removes the containers and networks (and with `volumes` the named volumes); a berth stack's files stay, `forget` removes them too. */
  z.strictObject({ op: z.literal('stacks.down'), name, volumes: z.boolean().optional(), forget: z.boolean().optional() }),
  z.strictObject({ op: z.literal('stacks.restartService'), name, service: z.string().min(1).max(255) }),
] as const;

/** How long the server waits for a deploy: pulls are part of it. */
export const STACK_DEPLOY_TIMEOUT_MS = 15 * 60_000;
