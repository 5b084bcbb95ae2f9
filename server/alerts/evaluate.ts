// Rule evaluation, kept apart from the database and the network so it can be tested with a
// clock of its own: observations (a host's snapshot, its metric readings, a log match, the
// passing of time) go in, "open" and "resolve" transitions per rule and subject come out.
// A condition must hold for its rule's duration before it opens; it resolves as soon as it
// no longer holds (or its subject is gone). The database makes each transition happen once
// (server/alerts/store.ts); this only keeps what it needs to decide them.
import type { HostSnapshot } from '../../protocol/agent-link';
import { containerSelected, type HostMetrics, type LogMatch } from '../../protocol/alerts';
import { aboutContainers, ruleCoversHost, type Rule } from './rules';

export interface HostRef {
  id: string;
  name: string;
  teamId: string;
}

export interface Transition {
  type: 'open' | 'resolve';
  rule: Rule;
  hostId: string;
  subject: string;
  title: string;
  detail: Record<string, unknown>;
}

interface CondState {
  /** Since when the condition has held (undefined: it does not). */
  since?: number;
  open: boolean;
  /** Log rules: the last match. */
  lastMatch?: number;
  detail?: Record<string, unknown>;
  title?: string;
}

export const keyOf = (ruleId: string, subject: string) => `${ruleId}|${subject}`;
export const containerSubject = (hostId: string, containerId: string) => `container:${hostId}/${containerId}`;
export const hostSubject = (hostId: string) => `host:${hostId}`;

const DEAD = new Set(['exited', 'dead']);
const short = (id: string) => id.slice(0, 12);

export class Evaluator {
  private readonly state = new Map<string, CondState>();
  /** Per host, per container: when its restart count went up (for restart loops), and the last count seen.
   *  By host first: a snapshot or a host leaving touches its own containers, not the whole fleet's. */
  private readonly restarts = new Map<string, Map<string, { count: number; at: number[] }>>();
  private readonly snapshots = new Map<string, HostSnapshot>();
  private readonly metrics = new Map<string, HostMetrics>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Alerts open in the database for this host (its agent connected to this process): they resolve here when their condition is gone. */
  seedOpen(open: Array<{ ruleId: string; subject: string; lastAt: Date }>): void {
    for (const a of open) {
      const k = keyOf(a.ruleId, a.subject);
      const s = this.state.get(k) ?? { open: false };
      s.open = true;
      s.lastMatch ??= a.lastAt.getTime();
      this.state.set(k, s);
    }
  }

  /** Forgets a host (its agent went to another process, or away): what is open stays in the database. */
  forgetHost(hostId: string): void {
    this.snapshots.delete(hostId);
    this.metrics.delete(hostId);
    for (const k of [...this.state.keys()]) if (k.includes(`|container:${hostId}/`) || k.endsWith(`|host:${hostId}`)) this.state.delete(k);
    this.restarts.delete(hostId);
  }

  snapshot(host: HostRef, s: HostSnapshot): void {
    const t = this.now();
    // A container new since this host's last snapshot here restarted that often since then; in
    // the first snapshot (the agent just connected) nobody knows when its restarts were.
    const known = this.snapshots.has(host.id);
    const before = this.restarts.get(host.id);
    // Rebuilt from this snapshot: a container no longer in it is forgotten.
    const now = new Map<string, { count: number; at: number[] }>();
    for (const c of s.containers) {
      const count = c.restartCount ?? 0;
      const r = before?.get(c.id);
      if (!r) now.set(c.id, { count, at: known ? Array.from({ length: count }, () => t) : [] });
      else if (count > r.count) {
        for (let i = r.count; i < count; i++) r.at.push(t);
        r.count = count;
        now.set(c.id, r);
      } else now.set(c.id, count < r.count ? { count, at: [] } : r);
    }
    this.restarts.set(host.id, now);
    this.snapshots.set(host.id, s);
  }

  hostMetrics(host: HostRef, m: HostMetrics): void {
    this.metrics.set(host.id, m);
  }

  /** A match of a log rule: opens (or keeps open) its container's alert. */
  logMatch(host: HostRef, rules: Rule[], m: LogMatch): Transition[] {
    const rule = rules.find((r) => r.id === m.ruleId && r.kind === 'log.pattern' && ruleCoversHost(r, host.id));
    if (!rule) return [];
    const subject = containerSubject(host.id, m.containerId);
    const k = keyOf(rule.id, subject);
    const s = this.state.get(k) ?? { open: false };
    this.state.set(k, s);
    s.lastMatch = this.now();
    const detail = { host: host.name, hostId: host.id, container: m.containerName, containerId: m.containerId, line: m.line, seq: m.seq, time: m.time, stream: m.stream, suppressed: m.suppressed };
    s.detail = detail;
    s.title = `${m.containerName} on ${host.name}: log matched /${(rule.options as { pattern: string }).pattern}/`;
    if (s.open) return [];
    s.open = true;
    return [{ type: 'open', rule, hostId: host.id, subject, title: s.title, detail }];
  }

  /** Everything this host's state says now, by the rules that cover it. */
  evaluate(host: HostRef, rules: Rule[]): Transition[] {
    const out: Transition[] = [];
    const snap = this.snapshots.get(host.id);
    const m = this.metrics.get(host.id);
    const t = this.now();
    for (const rule of rules) {
      // Update failures open and resolve on updates' own results (AlertService.updateResult), not on state.
      if (!ruleCoversHost(rule, host.id) || rule.kind === 'host.offline' || rule.kind === 'update.failed') continue;
      const active = new Map<string, { title: string; detail: Record<string, unknown> }>();
      const containers = (snap?.containers ?? []).filter((c) => containerSelected(rule.containers, c));
      const base = { host: host.name, hostId: host.id };
      let forMs = 0;
      // Without the data a rule needs (no snapshot or reading yet on this process), it decides nothing.
      let known = true;
      switch (rule.kind) {
        case 'container.died':
          if (!snap) known = false;
          for (const c of containers) {
            if (!DEAD.has(c.state) || (!rule.options.anyExit && c.exitCode === 0)) continue;
            active.set(containerSubject(host.id, c.id), {
              title: `${c.name} on ${host.name} exited with code ${c.exitCode}`,
              detail: { ...base, container: c.name, containerId: c.id, image: c.image, exitCode: c.exitCode, finishedAt: c.finishedAt },
            });
          }
          break;
        case 'container.restarts': {
          if (!snap) known = false;
          const window = rule.options.withinMinutes * 60_000;
          for (const c of containers) {
            const r = this.restarts.get(host.id)?.get(c.id);
            if (r) r.at = r.at.filter((a) => t - a < 24 * 3_600_000);
            const n = r ? r.at.filter((a) => t - a < window).length : 0;
            if (n >= rule.options.count) {
              active.set(containerSubject(host.id, c.id), {
                title: `${c.name} on ${host.name} restarted ${n} times within ${rule.options.withinMinutes} min`,
                detail: { ...base, container: c.name, containerId: c.id, restarts: n, withinMinutes: rule.options.withinMinutes, exitCode: c.exitCode },
              });
            }
          }
          break;
        }
        case 'container.unhealthy':
          if (!snap) known = false;
          forMs = rule.options.forSeconds * 1000;
          for (const c of containers) {
            if (c.health !== 'unhealthy') continue;
            active.set(containerSubject(host.id, c.id), { title: `${c.name} on ${host.name} is unhealthy`, detail: { ...base, container: c.name, containerId: c.id, health: c.health } });
          }
          break;
        case 'metric.cpu':
        case 'metric.memory': {
          if (!m) {
            known = false;
            break;
          }
          forMs = rule.options.forSeconds * 1000;
          const what = rule.kind === 'metric.cpu' ? 'CPU' : 'memory';
          const limit = rule.options.abovePercent;
          if (rule.options.target === 'host') {
            const value = rule.kind === 'metric.cpu' ? m.cpuPercent : m.memoryTotal > 0 ? (m.memoryUsed / m.memoryTotal) * 100 : 0;
            if (value > limit) active.set(hostSubject(host.id), { title: `${host.name}: ${what} at ${value.toFixed(1)}% (above ${limit}%)`, detail: { ...base, value, threshold: limit } });
          } else {
            const names = new Map(containers.map((c) => [c.id, c.name]));
            for (const cm of m.containers) {
              const name = names.get(cm.id);
              // Not in the latest snapshot, or not selected by the rule.
              if (name === undefined) continue;
              const of = cm.memoryLimit > 0 ? cm.memoryLimit : m.memoryTotal;
              const value = rule.kind === 'metric.cpu' ? cm.cpuPercent : of > 0 ? (cm.memoryBytes / of) * 100 : 0;
              if (value > limit) {
                active.set(containerSubject(host.id, cm.id), {
                  title: `${name} on ${host.name}: ${what} at ${value.toFixed(1)}% (above ${limit}%)`,
                  detail: { ...base, container: name, containerId: cm.id, value, threshold: limit, ...(rule.kind === 'metric.memory' ? { memoryBytes: cm.memoryBytes } : {}) },
                });
              }
            }
          }
          break;
        }
        case 'host.disk': {
          if (!m) {
            known = false;
            break;
          }
          forMs = rule.options.forSeconds * 1000;
          const free = m.rootTotal > 0 ? (m.rootFree / m.rootTotal) * 100 : 100;
          if (free < rule.options.freeBelowPercent) {
            active.set(hostSubject(host.id), {
              title: `${host.name}: the agent's root has ${free.toFixed(1)}% free (below ${rule.options.freeBelowPercent}%)`,
              detail: { ...base, freePercent: free, freeBytes: m.rootFree, totalBytes: m.rootTotal, threshold: rule.options.freeBelowPercent },
            });
          }
          break;
        }
        case 'log.pattern': {
          const after = rule.options.resolveAfterSeconds * 1000;
          for (const [k, s] of this.state) {
            if (!k.startsWith(`${rule.id}|container:${host.id}/`) || !s.open) continue;
            const subject = k.slice(rule.id.length + 1);
            if (s.lastMatch !== undefined && t - s.lastMatch < after) active.set(subject, { title: s.title ?? '', detail: s.detail ?? {} });
          }
          // A log alert only opens on a match (logMatch); here it can only stay or resolve.
          for (const [subject] of active) {
            const s = this.state.get(keyOf(rule.id, subject))!;
            s.since ??= t;
          }
          break;
        }
      }
      if (!known) continue;
      out.push(...this.settle(rule, host, active, forMs));
    }
    return out;
  }

  /** Moves each subject of `rule` on this host toward what `active` says. */
  private settle(rule: Rule, host: HostRef, active: Map<string, { title: string; detail: Record<string, unknown> }>, forMs: number): Transition[] {
    const out: Transition[] = [];
    const t = this.now();
    const prefix = aboutContainers(rule) ? `${rule.id}|container:${host.id}/` : keyOf(rule.id, hostSubject(host.id));
    for (const [subject, a] of active) {
      const k = keyOf(rule.id, subject);
      const s = this.state.get(k) ?? { open: false };
      this.state.set(k, s);
      s.since ??= t;
      s.detail = a.detail;
      s.title = a.title;
      if (!s.open && t - s.since >= forMs && rule.kind !== 'log.pattern') {
        s.open = true;
        out.push({ type: 'open', rule, hostId: host.id, subject, title: a.title, detail: a.detail });
      }
    }
    for (const [k, s] of this.state) {
      if (!k.startsWith(prefix)) continue;
      const subject = k.slice(rule.id.length + 1);
      if (active.has(subject)) continue;
      if (s.open) out.push({ type: 'resolve', rule, hostId: host.id, subject, title: s.title ?? subject, detail: s.detail ?? {} });
      this.state.delete(k);
    }
    return out;
  }
}

/** Host offline, decided from what every process knows (the database's last-seen time and the cluster's view of who is connected). */
export function hostOffline(rule: Extract<Rule, { kind: 'host.offline' }>, host: HostRef & { lastSeen: Date | null; createdAt: Date }, online: boolean, now: number): { offlineFor: number; fire: boolean } {
  if (online) return { offlineFor: 0, fire: false };
  const since = (host.lastSeen ?? host.createdAt).getTime();
  const offlineFor = Math.max(0, now - since);
  return { offlineFor, fire: offlineFor >= rule.options.graceSeconds * 1000 };
}

export { short as shortId };
