// The overview's live counts: a browser watches the hosts its page shows ('fleet:watch'),
// and every FLUSH_MS at most it gets the rows of those that changed and, when it moved, the
// summary of every host it may see, in one 'fleet:rows' message. Changes are coalesced:
// a host whose state changed five times in a window is sent once, as it is at the end.
import type { Socket } from 'socket.io';
import { currentTeam } from '../auth/current-team';
import { AccessError, member } from '../auth/access';
import { FLEET_WATCH_MAX, type FleetRows, type ServerToUi, type UiToServer } from '../../protocol/ui-socket';
import type { AgentHub } from './agents';
import { fleetIndex, type FleetIndex, type Scope } from './fleet';

/** The coalescing window: a change waits at most this long before it goes out. Short, as the
 *  issue's target is a change in every watching browser within 250 ms at p99. */
export const FLUSH_MS = 100;

type UiSocket = Socket<UiToServer, ServerToUi, Record<string, never>, { userId: string; sessionId?: string }>;

interface Watcher {
  socket: UiSocket;
  scope: Scope;
  hostIds: Set<string>;
  /** The summary last sent, as JSON. */
  summary: string;
}

export class FleetWatch {
  private readonly watchers = new Map<string, Watcher>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly agents: AgentHub,
    private readonly index: FleetIndex = fleetIndex(),
  ) {
    this.index.onDirty = () => this.schedule();
  }

  bind(socket: UiSocket): void {
    socket.on('fleet:watch', async (req, ack) => {
      const reply = typeof ack === 'function' ? ack : () => {};
      try {
        const ids = req && typeof req === 'object' && Array.isArray(req.hostIds) ? req.hostIds : null;
        if (!ids || ids.some((x) => typeof x !== 'string') || ids.length > FLEET_WATCH_MAX) throw new AccessError('not-found', `hostIds must be a list of at most ${FLEET_WATCH_MAX} host ids`);
        const team = await currentTeam(socket.data.userId, socket.data.sessionId ?? null);
        const m = team ? await member(socket.data.userId, team.id) : null;
        if (!team || !m) throw new AccessError('forbidden', 'you are in no team: ask for an invitation, or create a team');
        await this.agents.loadFleet();
        const scope: Scope = { teamId: team.id, hostIds: m.hostIds };
        // A stranger to a host, or a member narrowed away from it, learns no more than of a missing one.
        const unknown = ids.find((id) => !this.index.sees(scope, id));
        if (unknown) throw new AccessError('not-found', `No such host: ${unknown}`);
        const summary = this.index.summary(scope);
        this.watchers.set(socket.id, { socket, scope, hostIds: new Set(ids), summary: JSON.stringify(summary) });
        reply({ ok: true, summary });
      } catch (err) {
        reply({ ok: false, error: err instanceof AccessError ? err.message : 'internal error' });
        if (!(err instanceof AccessError)) console.error(`fleet:watch: ${(err as Error)?.stack ?? err}`);
      }
    });
    socket.on('fleet:unwatch', () => void this.watchers.delete(socket.id));
    socket.on('disconnect', () => void this.watchers.delete(socket.id));
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, FLUSH_MS);
    this.timer.unref?.();
  }

  /** Sends what changed since the last flush (public for the tests, which do not wait for the timer). */
  flush(): void {
    const changed = this.index.drain();
    if (!changed.size || !this.watchers.size) return;
    const teams = new Set<string>();
    let unknownTeam = false;
    for (const id of changed) {
      const t = this.index.teamOf(id);
      if (t) teams.add(t);
      else unknownTeam = true;
    }
    // Everyone who sees a whole team sees the same summary: counted once a flush.
    const whole = new Map<string, string>();
    const summaryOf = (scope: Scope) => {
      if (scope.hostIds) return JSON.stringify(this.index.summary(scope));
      let text = whole.get(scope.teamId);
      if (text === undefined) whole.set(scope.teamId, (text = JSON.stringify(this.index.summary(scope))));
      return text;
    };
    for (const w of this.watchers.values()) {
      const rows = [];
      for (const id of w.hostIds) {
        if (!changed.has(id)) continue;
        const row = this.index.sees(w.scope, id) ? this.index.hostRow(id) : undefined;
        if (row) rows.push(row);
      }
      const msg: FleetRows = { rows };
      if (unknownTeam || teams.has(w.scope.teamId)) {
        const text = summaryOf(w.scope);
        if (text !== w.summary) {
          w.summary = text;
          msg.summary = JSON.parse(text) as FleetRows['summary'];
        }
      }
      if (rows.length || msg.summary) w.socket.emit('fleet:rows', msg);
    }
  }
}
