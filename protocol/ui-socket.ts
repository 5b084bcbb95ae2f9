// What the browser and the control plane say over socket.io ('/ui'). The browser is
// authenticated by its next-auth session cookie in the handshake; every event below
// checks the user's role in the team that owns the host.
import type { ContainerSummary, HostSnapshot, ImageSummary, PullProgress } from './agent-link';
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
}

export interface ServerToUi {
  /** The list of hosts the user may see changed (one went on/offline, was added or revoked). */
  'hosts:changed': () => void;
  host: (h: HostView) => void;
  logs: (batch: { subId: string; containerId: string; entries: LogEntry[]; done?: boolean }) => void;
  /** A pull's or push's progress on a host, to everyone watching the host; `progressId` is the one the dashboard's pull or push gave. */
  'images:progress': (p: ImageProgress) => void;
}

export interface ImageProgress extends PullProgress {
  hostId: string;
  ref: string;
  progressId?: string;
}
