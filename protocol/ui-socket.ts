// What the browser and the control plane say over socket.io ('/ui'). The browser is
// authenticated by its next-auth session cookie in the handshake; every event below
// checks the user's role in the team that owns the host.
import { z } from 'zod';
import type { ContainerSummary, HostSnapshot, ImageSummary, PullProgress } from './agent-link';
import type { StackSummary } from './stacks';
import type { LogSearchBatch, LogSearchDone, LogSearchRequest, LogsBehind, LogsEvent, LogSubscribeAck, LogSubscribeRequest } from './logs';
import type { Role } from './roles';

export type { Role };

export const UI_NAMESPACE = '/ui';


/** A host as the browser sees it. */
export interface HostView {
  id: string;
  name: string;
  teamId: string;
  online: boolean;
  /** ISO time the server last heard from the agent. */
  lastSeen: string | null;
  /** The address the agent's link came from (behind BERTH_TRUST_PROXY proxies, the forwarded one); null until it
   *  connects to this server process. Its published ports are reached there. */
  address: string | null;
  info: HostSnapshot['info'] | null;
  containers: ContainerSummary[];
  images: ImageSummary[];
  /** The host's compose stacks, from its last snapshot (agents that send them). */
  stacks?: StackSummary[];
}

/** The shells the terminal offers; anything else is refused by name. */
export const TERMINAL_SHELLS = ['/bin/sh', '/bin/bash'] as const;
export type TerminalShell = (typeof TERMINAL_SHELLS)[number];
/** The most characters one input message carries: a longer paste goes in several, in order. */
export const TERM_INPUT_MAX = 16_384;
/** The largest terminal side, in cells, either way. */
export const TERM_SIZE_MAX = 1000;

export interface TermSize {
  cols: number;
  rows: number;
}
export interface TermOpenRequest {
  hostId: string;
  containerId: string;
  shell: TerminalShell;
  /** As `docker exec -u`: a name or uid[:gid] from the image; absent = the container's user. */
  user?: string;
  size: TermSize;
}
export interface TermInput {
  sessionId: string;
  data: string;
}
export interface TermResize {
  sessionId: string;
  size: TermSize;
}

let schemas: ReturnType<typeof makeTermSchemas> | undefined;

/**
 * The server's checks of the terminal events. Built on first use, not at import: the
 * browser imports this module too, and zod probes for eval when it builds an object
 * schema, which the page's Content-Security-Policy reports as a violation.
 */
export function termSchemas() {
  return (schemas ??= makeTermSchemas());
}

function makeTermSchemas() {
  const sessionId = z.string().min(1).max(100);
  const size = z.strictObject({ cols: z.number().int().min(1).max(TERM_SIZE_MAX), rows: z.number().int().min(1).max(TERM_SIZE_MAX) });
  return {
    open: z.strictObject({
      hostId: z.string().min(1).max(100),
      containerId: z.string().min(1).max(128),
      shell: z.enum(TERMINAL_SHELLS, { error: `must be one of ${TERMINAL_SHELLS.join(', ')}` }),
      user: z
        .string()
        .max(64)
        .regex(/^$|^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/, 'must be a user name or uid, optionally :group')
        .optional(),
      size,
    }) satisfies z.ZodType<TermOpenRequest>,
    input: z.strictObject({ sessionId, data: z.string().min(1).max(TERM_INPUT_MAX) }) satisfies z.ZodType<TermInput>,
    resize: z.strictObject({ sessionId, size }) satisfies z.ZodType<TermResize>,
  };
}

export type TermAck = (res: { ok: boolean; error?: string }) => void;

export interface UiToServer {
  /** Join the host's room: the server answers with 'host' now and after every change. */
  'host:watch': (hostId: string, ack: (res: { ok: boolean; error?: string }) => void) => void;
  'host:unwatch': (hostId: string) => void;
  /** Stream one log or several merged: the last `tail` lines, or everything after `afterSeq` when resuming
   *  after a reconnect (see protocol/logs.ts, "Recovery"). */
  'logs:subscribe': (req: LogSubscribeRequest, ack: (res: LogSubscribeAck) => void) => void;
  'logs:unsubscribe': (subId: string) => void;
  /** Search one or more logs on their agents (protocol/logs.ts LogSearchRequest); hits come as 'logs:searchBatch'. */
  'logs:search': (req: LogSearchRequest, ack: (res: { ok: boolean; searchId?: string; error?: string }) => void) => void;
  'logs:searchCancel': (searchId: string) => void;
  'term:open': (req: TermOpenRequest, ack: (res: { ok: boolean; sessionId?: string; error?: string }) => void) => void;
  /** Keys and pastes of one session, one message in flight at a time: the ack says the TTY took it. */
  'term:input': (req: TermInput, ack: TermAck) => void;
  'term:resize': (req: TermResize) => void;
  'term:close': (sessionId: string) => void;
  /** The overview's live counts: the rows of these hosts (the page's) when they change, and the summary of every host
   *  the user may see, as 'fleet:rows', coalesced. A new watch replaces the socket's last one. */
  'fleet:watch': (req: { hostIds: string[] }, ack: (res: { ok: boolean; error?: string; summary?: FleetSummaryView }) => void) => void;
  'fleet:unwatch': () => void;
}

/**
 * The least role each browser event needs on the host it names ('own': it acts only on a
 * stream or terminal the same socket opened, whoever else names it). The generated
 * authorization matrix reads this table and fails on an event the server handles that is
 * missing here.
 */
export const UI_EVENT_MIN_ROLE: { [E in keyof UiToServer]: Role | 'own' } = {
  'host:watch': 'viewer',
  'host:unwatch': 'own',
  'logs:subscribe': 'viewer',
  'logs:unsubscribe': 'own',
  'logs:search': 'viewer',
  'logs:searchCancel': 'own',
  'term:open': 'operator',
  'term:input': 'own',
  'term:resize': 'own',
  'term:close': 'own',
  'fleet:watch': 'viewer',
  'fleet:unwatch': 'own',
};

/** Host ids one fleet watch may name: a page's worth. */
export const FLEET_WATCH_MAX = 200;

export interface FleetCountsView {
  total: number;
  running: number;
  stopped: number;
  paused: number;
  unhealthy: number;
}

export interface FleetSummaryView {
  hosts: number;
  online: number;
  offline: number;
  containers: FleetCountsView;
}

/** One host of the overview (server/hub/fleet.ts FleetHostRow). */
export interface FleetHostView {
  id: string;
  name: string;
  /** The labels an admin gave the host. */
  labels: Record<string, string>;
  online: boolean;
  lastSeen: string | null;
  hostname: string | null;
  kernel: string | null;
  cpus: number | null;
  memTotal: number | null;
  engineVersion: string | null;
  counts: FleetCountsView;
  images: number | null;
  usage: { cpu: number[]; mem: number[] };
}

/** What changed among the watched hosts; `summary` only when it moved. */
export interface FleetRows {
  rows: FleetHostView[];
  summary?: FleetSummaryView;
}

/** Why the server says a terminal ended. */
export interface TermEnd {
  sessionId: string;
  /** "exited", "container stopped", "role lowered", "host went offline" … */
  reason: string;
  exitCode: number | null;
}

export interface ServerToUi {
  /** The list of hosts the user may see changed (one went on/offline, was added or revoked). */
  'hosts:changed': () => void;
  host: (h: HostView) => void;
  logs: (batch: LogsEvent) => void;
  /** The subscription was stopped because the browser did not keep up (see LogsBehind). */
  'logs:behind': (b: LogsBehind) => void;
  'logs:searchBatch': (b: LogSearchBatch) => void;
  'logs:searchDone': (d: LogSearchDone) => void;
  /** Terminal output as raw bytes (a UTF-8 character may be split across two); ack once it is drawn,
   *  and the next comes only then. */
  'term:data': (msg: { sessionId: string; data: ArrayBuffer | Uint8Array }, ack: () => void) => void;
  'term:end': (end: TermEnd) => void;
  /** A pull's or push's progress on a host, to everyone watching the host; `progressId` is the one the dashboard's pull or push gave. */
  'images:progress': (p: ImageProgress) => void;
  'fleet:rows': (msg: FleetRows) => void;
}

export interface ImageProgress extends PullProgress {
  hostId: string;
  ref: string;
  progressId?: string;
}
