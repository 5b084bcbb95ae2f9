// What the browser and the control plane say over socket.io ('/ui'). The browser is
// authenticated by its next-auth session cookie in the handshake; every event below
// checks the user's role in the team that owns the host.
import { z } from 'zod';
import { TERM_INPUT_MAX, termSizeSchema, type ContainerSummary, type HostSnapshot, type ImageSummary } from './agent-link';
import type { LogEntry } from './container';
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
  info: HostSnapshot['info'] | null;
  containers: ContainerSummary[];
  images: ImageSummary[];
}

/** The shells the terminal offers; anything else is refused by name. */
export const TERMINAL_SHELLS = ['/bin/sh', '/bin/bash'] as const;
export type TerminalShell = (typeof TERMINAL_SHELLS)[number];

const sessionId = z.string().min(1).max(100);

/** 'term:open': a shell in a running container, for operators and up; audited, refused or not. */
export const termOpenSchema = z.strictObject({
  hostId: z.string().min(1).max(100),
  containerId: z.string().min(1).max(128),
  shell: z.enum(TERMINAL_SHELLS, { error: `shell must be one of ${TERMINAL_SHELLS.join(', ')}` }),
  /** As `docker exec -u`: a name or uid[:gid] from the image; empty = the container's user. */
  user: z
    .string()
    .max(64)
    .regex(/^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$|^$/, 'user must be a name or uid, optionally :group')
    .optional(),
  size: termSizeSchema,
});
export type TermOpenRequest = z.infer<typeof termOpenSchema>;
export const termInputSchema = z.strictObject({ sessionId, data: z.string().min(1).max(TERM_INPUT_MAX) });
export const termResizeSchema = z.strictObject({ sessionId, size: termSizeSchema });
export { TERM_INPUT_MAX };

export type TermAck = (res: { ok: boolean; error?: string }) => void;

export interface UiToServer {
  /** Join the host's room: the server answers with 'host' now and after every change. */
  'host:watch': (hostId: string, ack: (res: { ok: boolean; error?: string }) => void) => void;
  'host:unwatch': (hostId: string) => void;
  /** Stream a container's log: the last `tail` lines, or everything after `afterSeq` when resuming after a reconnect. */
  'logs:subscribe': (
    req: { hostId: string; containerId: string; tail?: number; afterSeq?: number },
    ack: (res: { ok: boolean; subId?: string; error?: string }) => void,
  ) => void;
  'logs:unsubscribe': (subId: string) => void;
  'term:open': (req: TermOpenRequest, ack: (res: { ok: boolean; sessionId?: string; error?: string }) => void) => void;
  /** Keys and pastes of one session, one message in flight at a time: the ack says the TTY took it. */
  'term:input': (req: z.infer<typeof termInputSchema>, ack: TermAck) => void;
  'term:resize': (req: z.infer<typeof termResizeSchema>) => void;
  'term:close': (sessionId: string) => void;
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
  logs: (batch: { subId: string; containerId: string; entries: LogEntry[]; done?: boolean }) => void;
  /** Terminal output as raw bytes (a UTF-8 character may be split across two); ack once it is drawn,
   *  and the next comes only then. */
  'term:data': (msg: { sessionId: string; data: ArrayBuffer | Uint8Array }, ack: () => void) => void;
  'term:end': (end: TermEnd) => void;
}
