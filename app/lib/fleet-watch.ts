'use client';
// The fleet's host rows as the server pushes them ('fleet:watch'): the hosts a page shows are
// watched while it is mounted, watched again after each reconnect (the server forgets a
// socket's watch when it drops), and unwatched on leaving. The overview keeps the rows it is
// sent; the all-containers table only looks at whether counts moved.
import { useEffect, useRef } from 'react';
import { FLEET_WATCH_MAX, type FleetRows, type UiToServer } from '../../protocol/ui-socket';
import { useSocket } from './socket';

export type FleetWatchAck = Parameters<Parameters<UiToServer['fleet:watch']>[1]>[0];

export interface FleetWatchHandlers {
  /** The answer to each watch: the first, and one after every reconnect. */
  ack(res: FleetWatchAck): void;
  rows(msg: FleetRows): void;
  /** A new set of hosts (or a new socket): what was kept of the old one is stale. */
  reset?(): void;
}

export function useFleetWatch(hostIds: string[], handlers: FleetWatchHandlers): void {
  const { socket } = useSocket();
  const h = useRef(handlers);
  h.current = handlers;
  const idKey = hostIds.join(',');
  useEffect(() => {
    h.current.reset?.();
    if (!socket) return;
    let active = true;
    const watch = () =>
      socket.emit('fleet:watch', { hostIds: hostIds.slice(0, FLEET_WATCH_MAX) }, (res) => {
        if (active) h.current.ack(res);
      });
    const onRows = (msg: FleetRows) => h.current.rows(msg);
    socket.on('fleet:rows', onRows);
    socket.on('connect', watch);
    if (socket.connected) watch();
    return () => {
      active = false;
      socket.off('fleet:rows', onRows);
      socket.off('connect', watch);
      if (socket.connected) socket.emit('fleet:unwatch');
    };
    // idKey stands for hostIds.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [socket, idKey]);
}
