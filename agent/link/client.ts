// The agent's side of the control-plane link: enrol once, then keep a socket.io
// connection open for as long as the agent runs, reporting state and obeying commands.
import { io, type Socket } from 'socket.io-client';
import { CHANGING_ACTIONS, type ContainerEvent, type Engine } from '../engine/types';
import { runCommand, type CommandContext } from './commands';
import { ensureCredential } from './enroll';
import { writeCredential } from './credential';
import { serverAgent } from './server-tls';
import { AGENT_NAMESPACE, type AgentToServer, type HostSnapshot, type LogBatch, type ServerToAgent } from '../../protocol/agent-link';
import { diffSnapshot } from '../../protocol/snapshot-delta';
import { buildSnapshot } from './snapshot';
import { Stacks } from '../engine/stacks';
import { Terminals } from './terminal';
import { DockerTunnels } from './docker-tunnel';
import type { LoadStreams, SaveStreams } from './image-streams';
import { startUsage } from './usage';
import { LogRuleWatcher, MetricsReader } from './alerts';

export interface LinkOptions {
  engine: Engine;
  root: string;
  server: string;
  token?: string;
  /** --server-fingerprint: the server certificate to accept (then kept with the credential). */
  serverFingerprint?: string;
  /** --ca: PEM CA bundle for an https server without a pin. */
  ca?: Buffer;
  hostname?: string;
  /** The agent's own Docker API socket, which proxied Docker API connections are piped to. */
  dockerSocket?: string;
  /** Debounce of snapshots after engine events. */
  snapshotDelayMs?: number;
  /** How often the state is looked at again, in case an event was missed; sent only if it changed. */
  refreshMs?: number;
  /** How often the readings for metric alert rules are sent (default BERTH_AGENT_METRICS_MS or 15 s). */
  metricsMs?: number;
  log?: (msg: string) => void;
}

export interface Link {
  readonly hostId: string;
  readonly socket: Socket<ServerToAgent, AgentToServer>;
  /** Sends a snapshot now (also done automatically). */
  sendSnapshot(): Promise<void>;
  close(): void;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** Enrols if needed (throws EnrollError on a refused token), then connects; reconnects forever. */
export async function startLink(o: LinkOptions): Promise<Link> {
  const log = o.log ?? ((m: string) => console.log(`berth-agent: ${m}`));
  const cred = await ensureCredential({ root: o.root, server: o.server, token: o.token, hostname: o.hostname, pin: o.serverFingerprint, ca: o.ca, log });
  if (cred.server && cred.server !== o.server) {
    log(`note: credential in ${o.root} was issued by ${cred.server}; using it with ${o.server}`);
  }
  // Every reconnect goes through this agent, so each one checks the server's certificate again.
  const agent = serverAgent(o.server, { pin: cred.serverFingerprint, ca: o.ca, onRefused: (err) => log(err.message) });
  const socket: Socket<ServerToAgent, AgentToServer> = io(o.server + AGENT_NAMESPACE, {
    transports: ['websocket'],
    // Typed for browsers (string | boolean); in Node engine.io hands it to ws's https.request.
    ...(agent ? { agent: agent as unknown as string } : {}),
    auth: { hostId: cred.hostId, credential: cred.credential },
    reconnection: true,
    reconnectionAttempts: Infinity,
    reconnectionDelay: RETRY_MIN_MS,
    reconnectionDelayMax: RETRY_MAX_MS,
    randomizationFactor: 0.5,
  });
  // engine.io's client also drops the link when the wall clock says a ping is overdue (meant
  // for a browser's throttled timers); Node's timers are not throttled, so there that check
  // only turns a clock stepped forward (NTP, a resumed VM) into a reconnect of every agent.
  // The ping timer itself, on the monotonic clock, still ends a dead link.
  socket.io.on('open', () => {
    const eio = socket.io.engine as unknown as { _hasPingExpired?: () => boolean };
    if (typeof eio._hasPingExpired === 'function') eio._hasPingExpired = () => false;
  });
  const { engine } = o;
  let closed = false;
  let manualRetry: NodeJS.Timeout | undefined;
  let manualDelay = RETRY_MIN_MS;
  const subscriptions = new Map<string, AbortController>();
  const stacks = new Stacks(engine, o.root);

  // socket.io gives up by itself when the server refused us (middleware error) or kicked us
  // out; a host may be re-enabled or the server restarted, so keep knocking, slowly.
  const retryLater = () => {
    if (closed || manualRetry) return;
    const delay = manualDelay * (0.75 + Math.random() * 0.5);
    manualDelay = Math.min(manualDelay * 2, RETRY_MAX_MS);
    manualRetry = setTimeout(() => {
      manualRetry = undefined;
      if (!closed && !socket.connected) socket.connect();
    }, delay);
  };

  let snapshotTimer: NodeJS.Timeout | undefined;
  let sending = false;
  let again = false;
  /** What the server holds of this host, as sent on this connection; undefined after a (re)connect or a resync. */
  let lastSent: HostSnapshot | undefined;
  let rev = 0;
  /** The server acked a whole state with `deltas`: one that does not know them never acks. */
  let takesDeltas = false;
  /** Which connection an ack belongs to: a late one of the connection before changes nothing. */
  let connection = 0;
  const resync = () => {
    lastSent = undefined;
    void sendSnapshot();
  };
  /**
   * Sends what changed since the server last heard, as a delta once it takes them. Nothing
   * changed (the "Up 3 seconds" texts age by themselves and do not count), nothing sent: an
   * idle host sends only socket.io's heartbeat, where a full snapshot every 15 s cost about
   * 1.5 kB/s per host (bench/fleet.ts).
   */
  const sendSnapshot = async () => {
    // One snapshot in flight at a time; a change during it triggers exactly one more.
    if (sending) {
      again = true;
      return;
    }
    sending = true;
    try {
      do {
        again = false;
        if (!socket.connected) break;
        const snap = await buildSnapshot(engine, stacks);
        const change = lastSent ? diffSnapshot(lastSent, snap) : undefined;
        if (lastSent && !change) continue;
        const conn = connection;
        snap.rev = ++rev;
        if (lastSent?.rev !== undefined && change && takesDeltas) {
          socket.emit('snapshotDelta', { base: lastSent.rev, rev: snap.rev, ...change }, (a) => {
            if (conn === connection && a?.resync) resync();
          });
        } else {
          socket.emit('snapshot', snap, (a) => {
            if (conn === connection && a?.deltas) takesDeltas = true;
          });
        }
        lastSent = snap;
      } while (again);
    } catch (err) {
      log(`snapshot failed: ${(err as Error).message}`);
    } finally {
      sending = false;
    }
  };
  const scheduleSnapshot = () => {
    if (snapshotTimer) clearTimeout(snapshotTimer);
    snapshotTimer = setTimeout(() => {
      snapshotTimer = undefined;
      void sendSnapshot();
    }, o.snapshotDelayMs ?? 100);
  };
  // A healthcheck's execs come every interval and change nothing a snapshot shows.
  const onContainer = (e: ContainerEvent) => {
    if (CHANGING_ACTIONS.has(e.action)) scheduleSnapshot();
  };
  engine.on('container', onContainer);
  engine.on('image', scheduleSnapshot);
  stacks.on('change', scheduleSnapshot);
  const refresh = setInterval(() => void sendSnapshot(), o.refreshMs ?? 15_000);
  refresh.unref();
  const stopUsage = startUsage((u) => {
    if (socket.connected) socket.volatile.emit('usage', u);
  }, log);

  const sendLogs = async (batch: LogBatch) => {
    // A batch for a dropped link would be replayed after reconnect, out of place: the server
    // resubscribes with afterSeq instead.
    if (!socket.connected) throw new Error('link is down');
    await socket.emitWithAck('logs', batch);
  };
  const terminals = new Terminals(
    engine,
    async (msg) => {
      if (!socket.connected) throw new Error('link is down');
      await socket.emitWithAck('term', msg);
    },
    log,
  );
  const tunnels = new DockerTunnels(
    o.dockerSocket,
    async (chunk) => {
      if (!socket.connected) throw new Error('link is down');
      await socket.emitWithAck('dockerData', chunk);
    },
    log,
  );
  const logRules = new LogRuleWatcher(
    engine,
    (m) => {
      // A match while the link is down is not queued: the rules are sent again on reconnect and the log is watched on.
      if (socket.connected) socket.emit('logMatch', m);
    },
    log,
  );
  const metrics = new MetricsReader(engine);
  let reading = false;
  // Off until the control plane says a metric or disk rule covers this host.
  let readingsWanted = false;
  const metricsTimer = setInterval(
    () => {
      if (!socket.connected || reading || !readingsWanted) return;
      reading = true;
      metrics
        .read()
        .then((m) => socket.connected && socket.emit('metrics', m))
        .catch((err: Error) => log(`metrics reading failed: ${err.message}`))
        .finally(() => {
          reading = false;
        });
    },
    o.metricsMs ?? (Number(process.env.BERTH_AGENT_METRICS_MS) || 15_000),
  );
  metricsTimer.unref();
  const saves: SaveStreams = new Map();
  const loads: LoadStreams = new Map();
  const ctx: CommandContext = {
    engine,
    credential: {
      // Runs synchronously as the command arrives (see runCommand): once it returns, every later
      // handshake of this socket presents the new credential, and the file on disk holds it.
      rotate: (credential) => {
        writeCredential(o.root, { ...cred, credential });
        cred.credential = credential;
        socket.auth = { hostId: cred.hostId, credential };
        log('host credential rotated; the new one is stored');
      },
      held: () => cred.credential,
    },
    stacks,
    subscriptions,
    terminals,
    sendLogs,
    saves,
    loads,
    sendLogSearch: async (chunk) => {
      if (!socket.connected) throw new Error('link is down');
      await socket.emitWithAck('logSearch', chunk);
    },
    tunnels,
    logRules,
    wantReadings: (on) => {
      readingsWanted = on;
    },
    sendImageData: async (chunk) => {
      if (!socket.connected) throw new Error('link is down');
      await socket.emitWithAck('imageData', chunk);
    },
    onPullProgress: (p) => {
      // Byte counts come often and the next one supersedes a lost one; a layer's change of
      // status ("Download complete", "Pull complete") is sent for sure, so bars end where they should.
      if (socket.connected) (p.current !== undefined ? socket.volatile : socket).emit('pullProgress', p);
    },
  };
  const endTransfers = () => {
    for (const a of saves.values()) a.abort();
    saves.clear();
    for (const l of loads.values()) l.fail(new Error('the link to the control plane dropped during the load'));
    loads.clear();
  };

  socket.on('connect', () => {
    manualDelay = RETRY_MIN_MS;
    log(`connected to ${o.server} as host ${cred.hostId}`);
    // A server (re)connected to knows nothing of this host yet.
    lastSent = undefined;
    takesDeltas = false;
    connection++;
    void sendSnapshot();
  });
  socket.on('disconnect', (reason) => {
    for (const a of subscriptions.values()) a.abort();
    subscriptions.clear();
    // A terminal nobody can see any more is hung up on, as a closed terminal window's shell is.
    terminals.closeAll();
    endTransfers();
    tunnels.closeAll();
    if (closed) return;
    log(`link to ${o.server} lost (${reason}); reconnecting`);
    if (reason === 'io server disconnect') retryLater();
  });
  socket.on('connect_error', (err) => {
    if (closed) return;
    if (!socket.active) {
      log(`server refused the connection: ${err.message}${err.message === 'unauthorized' ? ' (host revoked? delete credential.json and enrol again with --token)' : ''}`);
      retryLater();
    } else {
      log(`cannot connect to ${o.server}: ${err.message}; retrying`);
    }
  });
  // Pulls and image removals announce themselves as engine 'image' events.
  const CHANGES_STATE = new Set(['run', 'start', 'stop', 'remove']);
  socket.on('command', (cmd, ack) => {
    void runCommand(ctx, cmd).then((res) => {
      if (typeof ack === 'function') ack(res);
      // The dashboard expects to see the effect of its own command without waiting for a refresh.
      if (CHANGES_STATE.has(cmd?.op)) scheduleSnapshot();
    });
  });

  return {
    hostId: cred.hostId,
    socket,
    sendSnapshot,
    close: () => {
      closed = true;
      if (manualRetry) clearTimeout(manualRetry);
      if (snapshotTimer) clearTimeout(snapshotTimer);
      clearInterval(refresh);
      stopUsage();
      clearInterval(metricsTimer);
      logRules.close();
      engine.off('container', onContainer);
      engine.off('image', scheduleSnapshot);
      stacks.off('change', scheduleSnapshot);
      for (const a of subscriptions.values()) a.abort();
      subscriptions.clear();
      terminals.closeAll();
      endTransfers();
      tunnels.closeAll();
      socket.disconnect();
    },
  };
}
