// Alerts in the database: each transition happens once, whichever process (or how many)
// decided it. Opening inserts a row whose openKey (rule + subject) is unique while it is
// open; resolving clears that key in a conditional update only one caller can win. The
// winner alone delivers, so two processes evaluating the same host send one webhook.
import { open as openSecret } from '../auth/secret-box';
import type { PrismaClient } from '../../generated/prisma/client';
import { deliver, deliveryOptions, webhookRequest, type AlertPayload, type DeliveryOptions } from './deliver';
import { keyOf, type Transition } from './evaluate';
import type { WebhookKind } from './rules';

export const webhookAad = (teamId: string, ruleId: string) => `alert-webhook\n${teamId}\n${ruleId}`;

interface AlertRow {
  id: string;
  ruleId: string;
  teamId: string;
  hostId: string | null;
  subject: string;
  title: string;
  detail: string;
  openedAt: Date;
  resolvedAt: Date | null;
}

export class AlertStore {
  /** Deliveries under way, so a test (or a shutdown) can wait for them. */
  readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly prisma: () => PrismaClient,
    private readonly now: () => number = Date.now,
    private readonly delivery: () => DeliveryOptions = () => deliveryOptions(),
  ) {}

  /** Opens the alert unless it is open already; true when this call opened it. */
  async open(t: Transition): Promise<boolean> {
    const db = this.prisma();
    const rule = await db.alertRule.findUnique({ where: { id: t.rule.id } });
    if (!rule || !rule.enabled) return false;
    const now = new Date(this.now());
    const muted = !!rule.mutedUntil && rule.mutedUntil > now;
    const recent = muted
      ? null
      : await db.alert.findFirst({ where: { ruleId: rule.id, subject: t.subject, notified: true, openedAt: { gte: new Date(now.getTime() - rule.quietSeconds * 1000) } }, select: { id: true } });
    const notify = !muted && !recent && !!rule.webhookKind && !!rule.webhookUrl;
    let row: AlertRow;
    try {
      row = await db.alert.create({
        data: {
          ruleId: rule.id,
          teamId: rule.teamId,
          hostId: t.hostId,
          subject: t.subject,
          openKey: keyOf(rule.id, t.subject),
          title: t.title.slice(0, 500),
          detail: JSON.stringify(t.detail),
          openedAt: now,
          lastAt: now,
          notified: notify,
          delivery: muted ? 'muted' : recent ? 'quiet' : notify ? 'pending' : 'none',
        },
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') return false;
      throw err;
    }
    if (notify) this.send(rule, row, 'firing');
    return true;
  }

  /** Resolves the open alert of the transition's rule and subject; true when this call did. */
  async resolve(t: Pick<Transition, 'rule' | 'subject'>): Promise<boolean> {
    const db = this.prisma();
    const openKey = keyOf(t.rule.id, t.subject);
    const row = await db.alert.findUnique({ where: { openKey } });
    if (!row) return false;
    const now = new Date(this.now());
    const won = await db.alert.updateMany({ where: { id: row.id, openKey }, data: { openKey: null, resolvedAt: now } });
    if (won.count !== 1) return false;
    if (row.notified) {
      const rule = await db.alertRule.findUnique({ where: { id: row.ruleId } });
      if (rule && rule.webhookKind && rule.webhookUrl && !(rule.mutedUntil && rule.mutedUntil > now)) this.send(rule, { ...row, resolvedAt: now }, 'resolved');
    }
    return true;
  }

  /** A log rule matched again: its open alert's last-seen time and line move on. */
  async touch(t: Pick<Transition, 'rule' | 'subject' | 'detail'>): Promise<void> {
    await this.prisma().alert.updateMany({ where: { openKey: keyOf(t.rule.id, t.subject) }, data: { lastAt: new Date(this.now()), detail: JSON.stringify(t.detail) } });
  }

  async apply(t: Transition): Promise<boolean> {
    return t.type === 'open' ? this.open(t) : this.resolve(t);
  }

  /** The open alerts of a host, for the evaluator that now holds it. */
  openFor(hostId: string): Promise<Array<{ ruleId: string; subject: string; lastAt: Date }>> {
    return this.prisma().alert.findMany({ where: { hostId, openKey: { not: null } }, select: { ruleId: true, subject: true, lastAt: true } });
  }

  private send(rule: { id: string; teamId: string; name: string; kind: string; webhookKind: string | null; webhookUrl: string | null }, row: AlertRow, status: 'firing' | 'resolved'): void {
    const db = this.prisma();
    let url: string;
    try {
      url = openSecret(rule.webhookUrl!, webhookAad(rule.teamId, rule.id));
    } catch (err) {
      const result = `error: ${(err as Error).message}`;
      void db.alert.update({ where: { id: row.id }, data: { delivery: result } }).catch(() => undefined);
      return;
    }
    const payload = alertPayload(rule, row, status);
    const p = deliver(url, webhookRequest(rule.webhookKind as WebhookKind, payload), this.delivery(), async (attempt, result) => {
      const at = new Date(this.now());
      await Promise.all([
        db.alert.update({ where: { id: row.id }, data: { delivery: `${status}: ${result}`, deliveryAttempts: attempt } }),
        db.alertRule.updateMany({ where: { id: rule.id }, data: { lastDeliveryAt: at, lastDeliveryResult: `${status}: ${result}` } }),
      ]).catch((err: Error) => console.error(`alert ${row.id}: cannot record its delivery: ${err.message}`));
    }).catch((err: Error) => console.error(`alert ${row.id}: delivery failed: ${err.message}`));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }
}

export function alertPayload(rule: { id: string; teamId: string; name: string; kind: string }, row: AlertRow, status: AlertPayload['status']): AlertPayload {
  let detail: Record<string, unknown> = {};
  try {
    detail = JSON.parse(row.detail) as Record<string, unknown>;
  } catch {
    detail = {};
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const hostName = str(detail.host);
  const containerId = str(detail.containerId);
  return {
    version: 1,
    status,
    alert: { id: row.id, title: row.title, subject: row.subject, openedAt: row.openedAt.toISOString(), resolvedAt: row.resolvedAt?.toISOString() ?? null },
    rule: { id: rule.id, name: rule.name, kind: rule.kind },
    team: { id: rule.teamId },
    host: row.hostId ? { id: row.hostId, name: hostName ?? row.hostId } : null,
    container: containerId ? { id: containerId, name: str(detail.container) ?? containerId } : null,
    detail,
  };
}
