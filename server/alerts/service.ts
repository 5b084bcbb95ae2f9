// Alerting on the control plane. Container, metric and log rules are evaluated on the process
// that holds the host's agent connection (it alone hears the host's snapshots, readings and
// log matches); host-offline rules on every process, from the database's last-seen time and
// the cluster's view of who is connected. Either way each open and resolve goes through the
// database's unique open key (./store.ts), so with several processes an alert fires once.
import type { HostSnapshot } from '../../protocol/agent-link';
import { containerSelected, hostMetricsSchema, logMatchSchema, UPDATE_FAILED_KIND, type AgentLogRule, type HostMetrics, type LogMatch, type UpdateResultEvent } from '../../protocol/alerts';
import { db } from '../db';
import { berthGlobal } from '../global';
import type { AgentHub, AlertTap } from '../hub/agents';
import { Evaluator, hostOffline, hostSubject, keyOf, type HostRef, type Transition } from './evaluate';
import { ruleCoversHost, ruleFromRow, type Rule } from './rules';
import { AlertStore } from './store';

/** Rule kinds evaluated from the agent's periodic readings (protocol/alerts.ts HostMetrics). */
const READING_KINDS = new Set<string>(['metric.cpu', 'metric.memory', 'host.disk']);

const RULES_TTL_MS = 5_000;
/** A host's name and team are read again this often (a host moved to another team, renamed). */
const HOST_TTL_MS = 30_000;

export interface AlertServiceOptions {
  /** How often time-based conditions (durations, windows) are looked at again. */
  tickMs?: number;
  now?: () => number;
}

export class AlertService implements AlertTap {
  readonly store: AlertStore;
  private readonly evaluator: Evaluator;
  private readonly now: () => number;
  private readonly rules = new Map<string, { at: number; rules: Promise<Rule[]> }>();
  private readonly hosts = new Map<string, HostRef & { at: number }>();
  /** Per host, the work in order: an open must not overtake the resolve before it. */
  private readonly chains = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private hub: AgentHub | undefined;
  private sweeping = false;

  constructor(o: AlertServiceOptions = {}) {
    this.now = o.now ?? Date.now;
    this.evaluator = new Evaluator(this.now);
    this.store = new AlertStore(db, this.now);
  }

  start(hub: AgentHub, tickMs = Number(process.env.BERTH_ALERT_TICK_MS) || 5_000): void {
    this.hub = hub;
    hub.alertTap = this;
    this.timer = setInterval(() => void this.tick(), tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.hub?.alertTap === this) this.hub.alertTap = undefined;
  }

  private enqueue(hostId: string, work: () => Promise<void>): void {
    const prev = this.chains.get(hostId) ?? Promise.resolve();
    const next = prev.then(work).catch((err: Error) => console.error(`alerts for host ${hostId}: ${err.stack ?? err.message}`));
    this.chains.set(hostId, next);
    void next.finally(() => {
      if (this.chains.get(hostId) === next) this.chains.delete(hostId);
    });
  }

  /** The team's enabled rules, read at most every few seconds (a change here drops the cache at once). */
  rulesOf(teamId: string): Promise<Rule[]> {
    const c = this.rules.get(teamId);
    if (c && this.now() - c.at < RULES_TTL_MS) return c.rules;
    const rules = db()
      .alertRule.findMany({ where: { teamId, enabled: true } })
      .then((rows) => rows.map(ruleFromRow).filter((r): r is Rule => r !== null));
    this.rules.set(teamId, { at: this.now(), rules });
    rules.catch(() => this.rules.delete(teamId));
    return rules;
  }

  private async hostRef(hostId: string): Promise<HostRef | undefined> {
    const known = this.hosts.get(hostId);
    if (known && this.now() - known.at < HOST_TTL_MS) return known;
    const row = await db().host.findUnique({ where: { id: hostId }, select: { id: true, name: true, teamId: true, revokedAt: true } });
    if (!row || row.revokedAt) {
      this.hosts.delete(hostId);
      return undefined;
    }
    const ref = { id: row.id, name: row.name, teamId: row.teamId, at: this.now() };
    this.hosts.set(hostId, ref);
    return ref;
  }

  private async run(host: HostRef, ts: Transition[]): Promise<void> {
    for (const t of ts) await this.store.apply(t);
  }

  online(hostId: string): void {
    this.hosts.delete(hostId);
    this.enqueue(hostId, async () => {
      const host = await this.hostRef(hostId);
      if (!host) return;
      this.evaluator.forgetHost(hostId);
      this.evaluator.seedOpen((await this.store.openFor(hostId)));
      await this.pushLogRules(host);
    });
  }

  offline(hostId: string): void {
    this.enqueue(hostId, async () => {
      if (this.hub?.isLocal(hostId)) return;
      this.evaluator.forgetHost(hostId);
    });
  }

  snapshot(hostId: string, s: HostSnapshot): void {
    this.enqueue(hostId, async () => {
      const host = await this.hostRef(hostId);
      if (!host) return;
      this.evaluator.snapshot(host, s);
      await this.run(host, this.evaluator.evaluate(host, await this.rulesOf(host.teamId)));
    });
  }

  metrics(hostId: string, raw: HostMetrics): void {
    const parsed = hostMetricsSchema.safeParse(raw);
    if (!parsed.success) return console.error(`alerts: host ${hostId} sent a malformed reading: ${parsed.error.issues[0]?.message}`);
    const m = parsed.data;
    this.enqueue(hostId, async () => {
      const host = await this.hostRef(hostId);
      if (!host) return;
      this.evaluator.hostMetrics(host, m);
      await this.run(host, this.evaluator.evaluate(host, await this.rulesOf(host.teamId)));
    });
  }

  logMatch(hostId: string, raw: LogMatch): void {
    const parsed = logMatchSchema.safeParse(raw);
    if (!parsed.success) return console.error(`alerts: host ${hostId} sent a malformed log match: ${parsed.error.issues[0]?.message}`);
    const m = parsed.data;
    this.enqueue(hostId, async () => {
      const host = await this.hostRef(hostId);
      if (!host) return;
      const rules = await this.rulesOf(host.teamId);
      const ts = this.evaluator.logMatch(host, rules, m);
      if (ts.length) await this.run(host, ts);
      else {
        const rule = rules.find((r) => r.id === m.ruleId);
        if (rule) await this.store.touch({ rule, subject: `container:${hostId}/${m.containerId}`, detail: { ...m, host: host.name, hostId, container: m.containerName } });
      }
    });
  }

  /**
   * An update of a container ended: a failure or rollback opens the team's update-failed rules
   * that cover it, a success resolves them. Called by whichever process ran the update (the
   * database makes each open and resolve happen once). The subject is the container's name on
   * the host, which an update keeps while the id changes.
   */
  async updateResult(hostId: string, e: UpdateResultEvent): Promise<void> {
    const host = await this.hostRef(hostId);
    if (!host) return;
    const rules = (await this.rulesOf(host.teamId)).filter(
      (r): r is Extract<Rule, { kind: typeof UPDATE_FAILED_KIND }> => r.kind === UPDATE_FAILED_KIND && ruleCoversHost(r, hostId) && containerSelected(r.containers, e),
    );
    const subject = `container:${hostId}/${e.name}`;
    const failed = e.outcome === 'rolled-back' || e.outcome === 'failed';
    for (const rule of rules) {
      if (!failed) {
        await this.store.resolve({ rule, subject });
        continue;
      }
      if (rule.options.automaticOnly && !e.automatic) continue;
      const detail = {
        host: host.name,
        hostId,
        container: e.name,
        ...(e.containerId ? { containerId: e.containerId } : {}),
        image: e.image,
        outcome: e.outcome,
        message: e.message,
        automatic: e.automatic,
        ...(e.stack ? { stack: e.stack } : {}),
      };
      const title = `${e.automatic ? 'automatic ' : ''}update of ${e.name} (${e.image}) on ${host.name} ${e.outcome === 'rolled-back' ? 'was rolled back' : 'failed'}: ${e.message.replace(/^(rolled back|error): /, '')}`;
      const opened = await this.store.open({ type: 'open', rule, hostId, subject, title, detail });
      // Already open (an earlier failure of it): the alert shows the latest one.
      if (!opened) await this.store.touch({ rule, subject, detail });
    }
  }

  /** Time-based conditions of this process's hosts, and host-offline rules of every host. */
  async tick(): Promise<void> {
    for (const hostId of this.hosts.keys()) {
      if (!this.hub?.isLocal(hostId)) continue;
      const teamId = this.hosts.get(hostId)?.teamId;
      this.enqueue(hostId, async () => {
        // A team with no rules has nothing to decide: no read of its hosts' rows every few
        // seconds (with thousands of hosts, a burst of queries that held up every snapshot).
        if (teamId && !(await this.rulesOf(teamId)).length) return;
        const host = await this.hostRef(hostId);
        if (host) await this.run(host, this.evaluator.evaluate(host, await this.rulesOf(host.teamId)));
      });
    }
    await this.sweepOffline();
  }

  async sweepOffline(): Promise<void> {
    if (this.sweeping || !this.hub) return;
    this.sweeping = true;
    try {
      const rows = await db().alertRule.findMany({ where: { kind: 'host.offline', enabled: true } });
      const rules = rows.map(ruleFromRow).filter((r): r is Extract<Rule, { kind: 'host.offline' }> => r?.kind === 'host.offline');
      if (!rules.length) return;
      const teams = [...new Set(rules.map((r) => r.teamId))];
      const hosts = await db().host.findMany({ where: { teamId: { in: teams }, revokedAt: null }, select: { id: true, name: true, teamId: true, lastSeen: true, createdAt: true } });
      const now = this.now();
      for (const rule of rules) {
        for (const host of hosts) {
          if (host.teamId !== rule.teamId || !ruleCoversHost(rule, host.id)) continue;
          const online = this.hub.isOnline(host.id);
          const { offlineFor, fire } = hostOffline(rule, host, online, now);
          const subject = hostSubject(host.id);
          if (fire) {
            await this.store.open({
              type: 'open',
              rule,
              hostId: host.id,
              subject,
              title: `${host.name} is offline`,
              detail: { host: host.name, hostId: host.id, lastSeen: (host.lastSeen ?? host.createdAt).toISOString(), offlineSeconds: Math.round(offlineFor / 1000) },
            });
          } else if (online) {
            await this.store.resolve({ rule, subject });
          }
        }
      }
    } catch (err) {
      console.error(`alerts: host-offline sweep: ${(err as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }

  /** The team's rules changed: forget the cached ones and send the log rules to its connected hosts. */
  async rulesChanged(teamId: string): Promise<void> {
    this.rules.delete(teamId);
    const hub = this.hub;
    if (!hub) return;
    const hosts = await db().host.findMany({ where: { teamId, revokedAt: null }, select: { id: true, name: true, teamId: true } });
    await Promise.all(hosts.filter((h) => hub.isOnline(h.id)).map((h) => this.pushLogRules(h)));
  }

  /** Sends the host its log rules (every one that covers it; none clears them). */
  async pushLogRules(host: HostRef): Promise<void> {
    const hub = this.hub;
    if (!hub) return;
    const rules: AgentLogRule[] = [];
    let readings = false;
    for (const r of await this.rulesOf(host.teamId)) {
      if (!ruleCoversHost(r, host.id)) continue;
      if (READING_KINDS.has(r.kind)) readings = true;
      if (r.kind !== 'log.pattern') continue;
      rules.push({ id: r.id, pattern: r.options.pattern, caseSensitive: r.options.caseSensitive, minIntervalSec: r.options.minIntervalSec, ...(r.containers ? { containers: r.containers } : {}) });
    }
    const res = await hub.command(host.id, { op: 'alerts.logRules', rules, readings });
    if (!res.ok) console.error(`alerts: cannot send log rules to host ${host.name}: ${res.error}`);
  }

  /** Waits for what is queued and for deliveries under way (tests). */
  async settled(): Promise<void> {
    while (this.chains.size) await Promise.all([...this.chains.values()]);
    await this.store.settled();
  }
}

export { keyOf };

export function alertService(): AlertService {
  return berthGlobal('alertService', () => new AlertService());
}
