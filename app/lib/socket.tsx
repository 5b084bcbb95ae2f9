'use client';
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { io, type Socket } from 'socket.io-client';
import type { LogEntry } from '../../protocol/container';
import { appendEntries, logRequest } from './log-merge';
import { UI_NAMESPACE, type HostView, type ServerToUi, type UiToServer } from '../../protocol/ui-socket';

export type UiSocket = Socket<ServerToUi, UiToServer>;

interface SocketState {
  socket: UiSocket | null;
  connected: boolean;
}

const SocketContext = createContext<SocketState>({ socket: null, connected: false });

/**
 * One '/ui' socket per tab, opened only once the user is signed in: the server
 * authenticates the handshake from the session cookie, so a socket opened before
 * sign-in would stay anonymous.
 */
export function SocketProvider({ enabled, children }: { enabled: boolean; children: ReactNode }) {
  const [state, setState] = useState<SocketState>({ socket: null, connected: false });

  useEffect(() => {
    if (!enabled) return;
    const socket: UiSocket = io(UI_NAMESPACE, { transports: ['websocket'], withCredentials: true });
    setState({ socket, connected: socket.connected });
    const onConnect = () => setState({ socket, connected: true });
    const onDisconnect = () => setState({ socket, connected: false });
    socket.on('connect', onConnect);
    socket.on('disconnect', onDisconnect);
    return () => {
      socket.off('connect', onConnect);
      socket.off('disconnect', onDisconnect);
      socket.disconnect();
      setState({ socket: null, connected: false });
    };
  }, [enabled]);

  return <SocketContext.Provider value={state}>{children}</SocketContext.Provider>;
}

export function useSocket(): SocketState {
  return useContext(SocketContext);
}

/** Calls `onChange` whenever the server says the visible host list changed. */
export function useHostsChanged(onChange: () => void): void {
  const { socket } = useSocket();
  const cb = useRef(onChange);
  cb.current = onChange;
  useEffect(() => {
    if (!socket) return;
    const handler = () => cb.current();
    socket.on('hosts:changed', handler);
    // After a reconnect we may have missed changes.
    socket.on('connect', handler);
    return () => {
      socket.off('hosts:changed', handler);
      socket.off('connect', handler);
    };
  }, [socket]);
}

/** The live view of one host: joins its room and keeps the latest 'host' event (re-joins after reconnects). */
export function useHostWatch(hostId: string): { host: HostView | null; error: string | null } {
  const { socket } = useSocket();
  const [host, setHost] = useState<HostView | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!socket || !hostId) return;
    let active = true;
    const onHost = (h: HostView) => {
      if (h.id === hostId) setHost(h);
    };
    const watch = () => {
      socket.emit('host:watch', hostId, (res) => {
        if (!active) return;
        setError(res.ok ? null : (res.error ?? 'cannot watch this host'));
      });
    };
    socket.on('host', onHost);
    socket.on('connect', watch);
    if (socket.connected) watch();
    return () => {
      active = false;
      socket.off('host', onHost);
      socket.off('connect', watch);
      if (socket.connected) socket.emit('host:unwatch', hostId);
    };
  }, [socket, hostId]);

  return { host, error };
}

/** Lines kept in the browser; older ones are dropped so a chatty container cannot exhaust the tab. */
export const MAX_LOG_LINES = 5000;

export interface LogStream {
  entries: LogEntry[];
  /** The server is sending (false before the first ack and after `done`). */
  streaming: boolean;
  /** The stream ended (the container stopped and everything was read). */
  done: boolean;
  error: string | null;
  /** Subscribe again after the last line seen, e.g. when a stopped container is started again. */
  resume: () => void;
}

/**
 * A container's log: the last 500 lines, then new ones as they come. Lines are
 * keyed by their seq so a resubscription after a reconnect (afterSeq = last seq
 * seen) neither repeats nor loses anything.
 */
export function useContainerLogs(hostId: string, containerId: string, enabled = true): LogStream {
  const { socket } = useSocket();
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [streaming, setStreaming] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const lastSeq = useRef(0);
  // The entries as of the last batch, so merging does not wait for React to re-render.
  const pending = useRef<LogEntry[]>([]);

  // A different container starts from scratch.
  useEffect(() => {
    lastSeq.current = 0;
    pending.current = [];
    setEntries([]);
    setDone(false);
  }, [hostId, containerId]);

  useEffect(() => {
    if (!socket || !enabled || !hostId || !containerId) return;
    let active = true;
    let subId: string | null = null;
    // The server may relay a short log and its end before it acks the subscription.
    let ended = false;

    const onLogs: ServerToUi['logs'] = (batch) => {
      if (!active || batch.containerId !== containerId) return;
      // Batches of an earlier subscription of ours may still be in flight: the seq check drops repeats.
      if (subId !== null && batch.subId !== subId) return;
      const merged = appendEntries(pending.current, batch.entries, lastSeq.current, MAX_LOG_LINES);
      if (merged.lastSeq !== lastSeq.current) {
        lastSeq.current = merged.lastSeq;
        pending.current = merged.entries;
        setEntries(merged.entries);
      }
      if (batch.done) {
        ended = true;
        setStreaming(false);
        setDone(true);
      }
    };

    const subscribe = () => {
      subId = null;
      ended = false;
      socket.emit('logs:subscribe', logRequest(hostId, containerId, lastSeq.current), (res) => {
        if (!active) {
          if (res.subId) socket.emit('logs:unsubscribe', res.subId);
          return;
        }
        if (!res.ok) {
          setError(res.error ?? 'cannot read the log');
          setStreaming(false);
          return;
        }
        subId = res.subId ?? null;
        setError(null);
        setDone(ended);
        setStreaming(!ended);
      });
    };

    const onDisconnect = () => setStreaming(false);
    socket.on('logs', onLogs);
    socket.on('connect', subscribe);
    socket.on('disconnect', onDisconnect);
    if (socket.connected) subscribe();
    return () => {
      active = false;
      socket.off('logs', onLogs);
      socket.off('connect', subscribe);
      socket.off('disconnect', onDisconnect);
      if (subId && socket.connected) socket.emit('logs:unsubscribe', subId);
    };
  }, [socket, enabled, hostId, containerId, generation]);

  const resume = useCallback(() => setGeneration((g) => g + 1), []);
  return { entries, streaming, done, error, resume };
}
