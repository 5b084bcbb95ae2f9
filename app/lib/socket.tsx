'use client';
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { io, type Socket } from 'socket.io-client';
import { freshEntries, logRequest } from './log-merge';
import { LogStore } from './log-store';
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
 * offline or because our own connection is down, or refused.
 */
export type LogPhase = 'connecting' | 'following' | 'ended' | 'host-offline' | 'reconnecting' | 'error';

export interface LogStream {
  /** The lines held, in a compact store that grows in place; `version` changes with it. */
  store: LogStore;
  version: number;
  phase: LogPhase;
  /** Why the server refused the stream (phase 'error'). */
  error: string | null;
  /** Subscribe again after the last line seen, e.g. when a stopped container is started again. */
  resume: () => void;
}

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

/**
 * A container's log: the last lines, then new ones as they come. Lines are keyed by
 * their seq, and every new subscription (after our socket reconnects, after the host
 * comes back online) asks for what follows the last seq seen, so nothing is repeated or
 * lost. `host` is useHostWatch's: the stream pauses while the host is not online.
 */
export function useContainerLogs(
  hostId: string,
  containerId: string,
  { enabled, host }: { enabled: boolean; host: Pick<HostWatch, 'current' | 'onlineEpoch'> },
): LogStream {
  const { onlineEpoch } = host;
  const { socket, connected } = useSocket();
  const [store] = useState(() => new LogStore());
  const [version, bump] = useStoreVersion(store);
  const [sub, setSub] = useState<'connecting' | 'following' | 'ended'>('connecting');
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);

  // A different container starts from scratch.
  useEffect(() => {
    store.clear();
    bump();
    setSub('connecting');
  }, [hostId, containerId, store, bump]);

  const live = connected && onlineEpoch > 0;
  useEffect(() => {
    if (!socket || !live || !enabled || !hostId || !containerId) return;
    let active = true;
    let subId: string | null = null;
    // The server may relay a short log and its end before it acks the subscription.
    let ended = false;
    setSub('connecting');
    setError(null);

    const onLogs: ServerToUi['logs'] = (batch) => {
      if (!active || batch.containerId !== containerId) return;
      // Batches of an earlier subscription of ours may still be in flight: the seq check drops repeats.
      if (subId !== null && batch.subId !== subId) return;
      if (store.append(freshEntries(batch.entries, store.lastSeq()))) bump();
      if (batch.done) {
        ended = true;
        setSub('ended');
      }
    };

    socket.on('logs', onLogs);
    socket.emit('logs:subscribe', logRequest(hostId, containerId, store.lastSeq()), (res) => {
      if (!active) {
        if (res.subId) socket.emit('logs:unsubscribe', res.subId);
        return;
      }
      if (!res.ok) {
        // If the host just went away, its 'host' event follows and pauses us; when it
        // comes back, a new onlineEpoch subscribes again.
        setError(res.error ?? 'cannot read the log');
        return;
      }
      subId = res.subId ?? null;
      setSub(ended ? 'ended' : 'following');
    });
    return () => {
      active = false;
      socket.off('logs', onLogs);
      if (subId && socket.connected) socket.emit('logs:unsubscribe', subId);
    };
  }, [socket, live, onlineEpoch, enabled, hostId, containerId, generation, store, bump]);

  const resume = useCallback(() => setGeneration((g) => g + 1), []);
  const phase: LogPhase = !connected ? 'reconnecting' : !host.current ? 'connecting' : onlineEpoch === 0 ? 'host-offline' : error ? 'error' : sub;
  return { store, version, phase, error, resume };
}
