'use client';
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { io, type Socket } from 'socket.io-client';
import type { LogStore } from './log-store';
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

export interface HostWatch {
  /** The latest 'host' event (kept while reconnecting, so the page shows the last known view). */
  host: HostView | null;
  error: string | null;
  /** The server has told us about the host since our socket last (re)connected: `host.online` is its word, not a guess. */
  current: boolean;
  /**
   * 0 while the host is not known to be online on the current connection (offline, or
   * our own socket is down or has not heard back since it reconnected); otherwise a
   * number that changes every time the host comes online again, even when an offline
   * and an online event arrive so close together that React renders them as one.
   */
  onlineEpoch: number;
}

/** The live view of one host: joins its room and keeps the latest 'host' event (re-joins after reconnects). */
export function useHostWatch(hostId: string): HostWatch {
  const { socket } = useSocket();
  const [host, setHost] = useState<HostView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [current, setCurrent] = useState(false);
  const [onlineEpoch, setOnlineEpoch] = useState(0);
  const epochs = useRef(0);

  useEffect(() => {
    if (!socket || !hostId) return;
    let active = true;
    let wasOnline = false;
    setCurrent(false);
    setOnlineEpoch(0);
    const onHost = (h: HostView) => {
      if (h.id !== hostId) return;
      setHost(h);
      setCurrent(true);
      if (h.online && !wasOnline) setOnlineEpoch(++epochs.current);
      else if (!h.online) setOnlineEpoch(0);
      wasOnline = h.online;
    };
    // A new connection may be to a new server process: its rooms are empty, so join
    // again, and what we knew of the host is only a guess until it answers.
    const watch = () => {
      socket.emit('host:watch', hostId, (res) => {
        if (!active) return;
        setError(res.ok ? null : (res.error ?? 'cannot watch this host'));
      });
    };
    const onDisconnect = () => {
      wasOnline = false;
      setCurrent(false);
      setOnlineEpoch(0);
    };
    socket.on('host', onHost);
    socket.on('connect', watch);
    socket.on('disconnect', onDisconnect);
    if (socket.connected) watch();
    return () => {
      active = false;
      socket.off('host', onHost);
      socket.off('connect', watch);
      socket.off('disconnect', onDisconnect);
      if (socket.connected) socket.emit('host:unwatch', hostId);
    };
  }, [socket, hostId]);

  return { host, error, current, onlineEpoch };
}

/**
 * Where a followed log stands: waiting for the server's answer, following new lines,
 * ended (the container stopped and everything was read), paused because the host is
 * offline or because our own connection is down, or refused; or showing a stretch of
 * history rather than following.
 */
export type LogPhase = 'connecting' | 'following' | 'ended' | 'host-offline' | 'reconnecting' | 'error' | 'history';

/**
 * Re-renders at most once a frame however fast batches come: the store is already up to
 * date, React only needs to look again.
 */
export function useStoreVersion(store: LogStore): [number, () => void] {
  const [version, setVersion] = useState(store.version);
  const frame = useRef<number | null>(null);
  const bump = useCallback(() => {
    if (frame.current !== null) return;
    const run = () => {
      frame.current = null;
      setVersion(store.version);
    };
    // A hidden tab gets no animation frames; a timer still lets its state move.
    frame.current = typeof document !== 'undefined' && document.hidden ? (setTimeout(run, 200) as unknown as number) : requestAnimationFrame(run);
  }, [store]);
  useEffect(() => () => {
    if (frame.current !== null) {
      cancelAnimationFrame(frame.current);
      clearTimeout(frame.current);
    }
  }, []);
  return [version, bump];
}
