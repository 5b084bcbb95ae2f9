'use client';
// The all-containers table live, without sending the fleet to the browser: the page watches
// the overview's stream ('fleet:watch', the hosts of its rows) and asks for its own page again
// when a container count moves: the summary of every host the user sees (any host's container
// started, stopped, died, became unhealthy, came or went) or a watched host's own counts. The
// stream also carries usage readings; those alone fetch nothing.
import { useEffect, useRef } from 'react';
import type { FleetRows } from '../../protocol/ui-socket';
import { useSocket } from '../lib/socket';

export function useFleetContainersLive(hostIds: string[], onChange: () => void): void {
  const { socket } = useSocket();
  const cb = useRef(onChange);
  cb.current = onChange;
  const idKey = hostIds.join(',');
  useEffect(() => {
    if (!socket) return;
    let active = true;
    let summary: string | undefined;
    const counts = new Map<string, string>();
    const watch = () =>
      socket.emit('fleet:watch', { hostIds: hostIds.slice(0, 200) }, (res) => {
        if (!active) return;
        // A host gone since the page was fetched, or a summary from before a reconnect: fetch the page again.
        if (!res.ok || (summary !== undefined && res.summary && JSON.stringify(res.summary.containers) !== summary)) cb.current();
        if (res.summary) summary = JSON.stringify(res.summary.containers);
      });
    const onRows = (msg: FleetRows) => {
      let moved = false;
      if (msg.summary) {
        const s = JSON.stringify(msg.summary.containers);
        if (summary !== undefined && s !== summary) moved = true;
        summary = s;
      }
      for (const r of msg.rows) {
        const c = JSON.stringify([r.online, r.counts]);
        const before = counts.get(r.id);
        if (before !== undefined && before !== c) moved = true;
        counts.set(r.id, c);
      }
      if (moved) cb.current();
    };
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
