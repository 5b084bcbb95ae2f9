// The agent's part of alerting: a periodic reading for metric rules (host CPU and memory, the
// root's free space, each running container's CPU and memory), and log-pattern rules tested
// here, as the lines are written, so no log has to travel to the control plane to be watched.
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import type { ContainerRecord, Engine, LogEntry } from '../engine/types';
import { memoryUsage } from './stats';
import { cpuTimes as parseCpuTimes, memUsed, type CpuTimes } from './usage';
import { LOG_MATCH_LINE_MAX, containerSelected, type AgentLogRule, type ContainerMetric, type HostMetrics, type LogMatch } from '../../protocol/alerts';

// The log search's bound on a regex (agent/engine/logs/search-worker.ts): one that backtracks
// past V8's limit runs again on the linear-time engine, so a pattern such as `(a+)+$` cannot
// stall the agent on a long line. The flag is the isolate group's; setting it twice is harmless.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

function cpuTimes(): CpuTimes {
  return parseCpuTimes(readFileSync('/proc/stat', 'utf8')) ?? { busy: 0, total: 0 };
}

function meminfo(): { used: number; total: number } {
  const text = readFileSync('/proc/meminfo', 'utf8');
  const total = Number(/^MemTotal:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
  return { used: memUsed(text) ?? 0, total };
}

/** Takes readings and remembers the previous ones, for rates. */
export class MetricsReader {
  private lastCpu = cpuTimes();
  private readonly lastContainer = new Map<string, { cpu: number; sys: number }>();

  constructor(private readonly engine: Engine) {}

  async read(): Promise<HostMetrics> {
    const cpu = cpuTimes();
    const dTotal = cpu.total - this.lastCpu.total;
    const cpuPercent = dTotal > 0 ? Math.max(0, Math.min(100, ((cpu.busy - this.lastCpu.busy) / dTotal) * 100)) : 0;
    this.lastCpu = cpu;
    const mem = meminfo();
    const fs = await statfs(this.engine.root);
    const containers: ContainerMetric[] = [];
    const running = new Set<string>();
    for (const c of this.engine.list({ all: false })) {
      if (!c.state.running) continue;
      running.add(c.id);
      let s;
      try {
        s = await this.engine.stats(c.id);
      } catch {
        // It stopped between the list and the read: no reading this time.
        continue;
      }
      if (!s) continue;
      const prev = this.lastContainer.get(c.id);
      this.lastContainer.set(c.id, { cpu: s.cpuUsageNs, sys: s.systemCpuNs });
      // The first reading of a container has nothing to compare with: no CPU figure yet.
      if (!prev || s.systemCpuNs <= prev.sys || s.cpuUsageNs < prev.cpu) continue;
      const pct = ((s.cpuUsageNs - prev.cpu) / (s.systemCpuNs - prev.sys)) * s.onlineCpus * 100;
      containers.push({ id: c.id, cpuPercent: pct, memoryBytes: memoryUsage(s), memoryLimit: s.memoryLimit < 0 ? -1 : s.memoryLimit });
    }
    for (const id of this.lastContainer.keys()) if (!running.has(id)) this.lastContainer.delete(id);
    return {
      at: new Date().toISOString(),
      cpuPercent,
      memoryUsed: mem.used,
      memoryTotal: mem.total,
      rootFree: Number(fs.bavail) * Number(fs.bsize),
      rootTotal: Number(fs.blocks) * Number(fs.bsize),
      containers,
    };
  }
}

interface Compiled {
  rule: AgentLogRule;
  re: RegExp;
}

interface Follower {
  abort: AbortController;
  /** The last line's seq read, to resume after a restart exactly where it stopped. */
  lastSeq?: number;
  running: boolean;
}

/**
 * Follows the logs of the running containers some log rule selects and reports matching
 * lines, at most one per rule and container per the rule's interval (the others are counted
 * into the next report).
 */
export class LogRuleWatcher {
  private rules: Compiled[] = [];
  private readonly followers = new Map<string, Follower>();
  private readonly lastReport = new Map<string, { at: number; suppressed: number }>();
  private readonly onContainer: (e: { action: string; id: string }) => void;

  constructor(
    private readonly engine: Engine,
    private readonly report: (m: LogMatch) => void,
    private readonly log: (msg: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.onContainer = (e) => {
      if (e.action === 'start' || e.action === 'restart') this.startFor(e.id, false);
      else if (e.action === 'destroy') this.stopFor(e.id, true);
    };
    engine.on('container', this.onContainer);
  }

  /** Replaces the rules; a bad pattern is refused (the whole set stays as it was). */
  setRules(rules: AgentLogRule[]): { watching: number } {
    const compiled = rules.map((rule) => {
      try {
        return { rule, re: new RegExp(rule.pattern, rule.caseSensitive ? '' : 'i') };
      } catch (err) {
        throw new Error(`log rule ${rule.id}: pattern ${JSON.stringify(rule.pattern.slice(0, 100))} is not a valid regex: ${(err as Error).message}`);
      }
    });
    this.rules = compiled;
    const wanted = new Set<string>();
    for (const c of this.engine.list({ all: false })) if (c.state.running && this.rulesFor(c).length) wanted.add(c.id);
    for (const id of [...this.followers.keys()]) if (!wanted.has(id)) this.stopFor(id, true);
    // Lines written before the rules came are not reported: only new ones.
    for (const id of wanted) this.startFor(id, true);
    return { watching: wanted.size };
  }

  private rulesFor(c: ContainerRecord): Compiled[] {
    return this.rules.filter((r) => containerSelected(r.rule.containers, { name: c.name, labels: c.spec.labels }));
  }

  private startFor(id: string, onlyNew: boolean): void {
    let rec: ContainerRecord;
    try {
      rec = this.engine.inspect(id);
    } catch {
      return;
    }
    if (!rec.state.running || !this.rulesFor(rec).length) return;
    const prev = this.followers.get(rec.id);
    if (prev?.running) return;
    const f: Follower = { abort: new AbortController(), lastSeq: prev?.lastSeq, running: true };
    this.followers.set(rec.id, f);
    // Resumed after the last line read; a container seen for the first time since it started
    // is read from its start (its log holds earlier runs too), unless only new lines are wanted.
    const opts =
      f.lastSeq !== undefined
        ? { follow: true, afterSeq: f.lastSeq, signal: f.abort.signal }
        : onlyNew
          ? { follow: true, tail: 0, signal: f.abort.signal }
          : { follow: true, since: Math.floor(Date.parse(rec.state.startedAt) / 1000) - 1, signal: f.abort.signal };
    void this.follow(rec, f, opts).finally(() => {
      f.running = false;
    });
  }

  private async follow(rec: ContainerRecord, f: Follower, opts: Parameters<Engine['logBatches']>[1]): Promise<void> {
    try {
      for await (const batch of this.engine.logBatches(rec.id, opts)) {
        for (const e of batch) {
          f.lastSeq = e.seq;
          this.test(rec, e);
        }
      }
    } catch (err) {
      if (!f.abort.signal.aborted) this.log(`log rules: cannot follow ${rec.name}: ${(err as Error).message}`);
    }
  }

  private test(rec: ContainerRecord, e: LogEntry): void {
    const text = e.line.replace(/\r?\n$/, '').slice(0, LOG_MATCH_LINE_MAX);
    for (const { rule, re } of this.rulesFor(rec)) {
      if (!re.test(text)) continue;
      const key = `${rule.id}\n${rec.id}`;
      const last = this.lastReport.get(key);
      const now = this.now();
      if (last && now - last.at < rule.minIntervalSec * 1000) {
        last.suppressed++;
        continue;
      }
      this.lastReport.set(key, { at: now, suppressed: 0 });
      this.report({ ruleId: rule.id, containerId: rec.id, containerName: rec.name, line: text, seq: e.seq, time: e.time, stream: e.stream, suppressed: last?.suppressed ?? 0 });
    }
  }

  private stopFor(id: string, forget: boolean): void {
    const f = this.followers.get(id);
    f?.abort.abort();
    if (forget) {
      this.followers.delete(id);
      for (const k of [...this.lastReport.keys()]) if (k.endsWith(`\n${id}`)) this.lastReport.delete(k);
    }
  }

  close(): void {
    this.engine.off('container', this.onContainer);
    for (const id of [...this.followers.keys()]) this.stopFor(id, true);
  }
}
