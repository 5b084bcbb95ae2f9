'use client';
// The all-containers table live, without sending the fleet to the browser: the page watches
// the overview's stream (the hosts of its rows) and asks for its own page again when a
// container count moves: the summary of every host the user sees (any host's container
// started, stopped, died, became unhealthy, came or went) or a watched host's own counts. The
// stream also carries usage readings; those alone fetch nothing.
import { useRef } from 'react';
import { useFleetWatch } from '../lib/fleet-watch';

export function useFleetContainersLive(hostIds: string[], onChange: () => void): void {
  const seen = useRef<{ summary?: string; counts: Map<string, string> }>({ counts: new Map() });
  useFleetWatch(hostIds, {
    reset: () => {
      seen.current = { counts: new Map() };
    },
    ack: (res) => {
      const s = seen.current;
      // A host gone since the page was fetched, or a summary from before a reconnect: fetch the page again.
      if (!res.ok || (s.summary !== undefined && res.summary && JSON.stringify(res.summary.containers) !== s.summary)) onChange();
      if (res.summary) s.summary = JSON.stringify(res.summary.containers);
    },
    rows: (msg) => {
      const s = seen.current;
      let moved = false;
      if (msg.summary) {
        const c = JSON.stringify(msg.summary.containers);
        if (s.summary !== undefined && c !== s.summary) moved = true;
        s.summary = c;
      }
      for (const r of msg.rows) {
        const c = JSON.stringify([r.online, r.counts]);
        const before = s.counts.get(r.id);
        if (before !== undefined && before !== c) moved = true;
        s.counts.set(r.id, c);
      }
      if (moved) onChange();
    },
  });
}
