// Alert rules and alerts. Admins make, change, mute and delete rules and send test deliveries;
// every member reads the rules (a webhook's URL only as its hint: it holds a secret) and the
// alerts of the hosts they may see. Every change is an audit row.
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { containerSelectorSchema } from '../../../protocol/alerts';
import { member, seesHost } from '../../auth/access';
import { seal, open as openSecret } from '../../auth/secret-box';
import { alertService } from '../../alerts/service';
import { deliveryOptions, postOnce, webhookRequest } from '../../alerts/deliver';
import { alertPayload, webhookAad } from '../../alerts/store';
import { checkWebhookUrl, parseOptions, RULE_KINDS, WEBHOOK_KINDS, webhookHint, type WebhookKind } from '../../alerts/rules';
import { audited } from '../host-ops';
import { authedProcedure, router, type AuthedContext } from '../init';
import { teamOf } from '../team-scope';

const teamId = z.string().min(1).max(100).optional();
const ruleId = z.string().min(1).max(100);
const webhook = z.strictObject({ kind: z.enum(WEBHOOK_KINDS), url: z.string().min(1).max(2048).optional() });
const ruleFields = {
  name: z.string().trim().min(1).max(200),
  kind: z.enum(RULE_KINDS),
  options: z.record(z.string().max(100), z.unknown()),
  /** null: every host of the team. */
  hostIds: z.array(z.string().min(1).max(100)).max(500).nullable(),
  containers: containerSelectorSchema.nullable(),
  quietSeconds: z.number().int().min(0).max(7 * 86_400),
  enabled: z.boolean(),
};

function bad(message: string): never {
  throw new TRPCError({ code: 'BAD_REQUEST', message });
}

async function checkHosts(ctx: AuthedContext, team: string, hostIds: string[] | null): Promise<void> {
  if (!hostIds) return;
  const found = await ctx.prisma.host.findMany({ where: { id: { in: hostIds }, teamId: team, revokedAt: null }, select: { id: true } });
  const missing = hostIds.filter((h) => !found.some((f) => f.id === h));
  if (missing.length) throw new TRPCError({ code: 'NOT_FOUND', message: `No such host in this team: ${missing.join(', ')}` });
}

function checkedOptions(kind: string, options: unknown): string {
  try {
    return JSON.stringify(parseOptions(kind, options));
  } catch (err) {
    bad((err as Error).message);
  }
}

function checkedUrl(url: string): string {
  try {
    return checkWebhookUrl(url);
  } catch (err) {
    bad((err as Error).message);
  }
}

async function ruleRow(ctx: AuthedContext, id: string) {
  const r = await ctx.prisma.alertRule.findUnique({ where: { id } });
  const m = r && (await ctx.prisma.membership.findUnique({ where: { userId_teamId: { userId: ctx.user.id, teamId: r.teamId } } }));
  if (!r || !m) throw new TRPCError({ code: 'NOT_FOUND', message: `No such alert rule: ${id}` });
  return r;
}

function changed(teamId: string): void {
  void alertService()
    .rulesChanged(teamId)
    .catch((err: Error) => console.error(`alerts: after a rule change: ${err.message}`));
}

type RuleRecord = Awaited<ReturnType<typeof ruleRow>>;

/** What a browser sees of a rule: never the webhook URL, and only the hosts the member may see. */
function ruleView(r: RuleRecord, visible: (hostId: string) => boolean) {
  const hostIds = r.hostIds ? (JSON.parse(r.hostIds) as string[]).filter(visible) : null;
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    options: JSON.parse(r.options) as Record<string, unknown>,
    hostIds,
    containers: r.containers ? (JSON.parse(r.containers) as z.infer<typeof containerSelectorSchema>) : null,
    quietSeconds: r.quietSeconds,
    enabled: r.enabled,
    mutedUntil: r.mutedUntil?.toISOString() ?? null,
    webhook: r.webhookKind ? { kind: r.webhookKind, hint: r.webhookHint ?? '' } : null,
    lastDelivery: r.lastDeliveryAt ? { at: r.lastDeliveryAt.toISOString(), result: r.lastDeliveryResult ?? '' } : null,
  };
}

async function visibility(ctx: AuthedContext, team: string) {
  const m = await member(ctx.user.id, team, ctx.prisma);
  return { m, visible: (hostId: string) => seesHost(m, hostId) };
}

export const alertsRouter = router({
  rules: authedProcedure.input(z.object({ teamId }).optional()).query(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input?.teamId, 'viewer');
    const { visible } = await visibility(ctx, team.id);
    const rows = await ctx.prisma.alertRule.findMany({ where: { teamId: team.id }, orderBy: { createdAt: 'asc' } });
    return rows.map((r) => ruleView(r, visible));
  }),

  createRule: authedProcedure.input(z.object({ teamId, ...ruleFields, webhook: webhook.nullable() })).mutation(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input.teamId, 'viewer');
    return audited(ctx, { action: 'alerts.createRule', teamId: team.id, target: input.name }, async () => {
      await teamOf(ctx, team.id, 'admin');
      const options = checkedOptions(input.kind, input.options);
      await checkHosts(ctx, team.id, input.hostIds);
      if (input.webhook && !input.webhook.url) bad('webhook.url: needed for a new rule');
      const url = input.webhook?.url ? checkedUrl(input.webhook.url) : null;
      const r = await ctx.prisma.alertRule.create({
        data: {
          teamId: team.id,
          name: input.name,
          kind: input.kind,
          options,
          hostIds: input.hostIds ? JSON.stringify(input.hostIds) : null,
          containers: input.containers ? JSON.stringify(input.containers) : null,
          quietSeconds: input.quietSeconds,
          enabled: input.enabled,
        },
      });
      if (url && input.webhook) {
        // Sealed with the rule's id, which only exists now.
        await ctx.prisma.alertRule.update({ where: { id: r.id }, data: { webhookKind: input.webhook.kind, webhookUrl: seal(url, webhookAad(team.id, r.id)), webhookHint: webhookHint(url) } });
      }
      changed(team.id);
      return { id: r.id };
    });
  }),

  /** Changes a rule; `webhook` undefined keeps it, null removes it, without `url` keeps the URL and changes the kind. */
  updateRule: authedProcedure.input(z.object({ ruleId, ...ruleFields, webhook: webhook.nullable().optional() })).mutation(async ({ ctx, input }) => {
    const r = await ruleRow(ctx, input.ruleId);
    return audited(ctx, { action: 'alerts.updateRule', teamId: r.teamId, target: input.name }, async () => {
      await teamOf(ctx, r.teamId, 'admin');
      const options = checkedOptions(input.kind, input.options);
      await checkHosts(ctx, r.teamId, input.hostIds);
      let hook: { webhookKind: string | null; webhookUrl: string | null; webhookHint: string | null } | undefined;
      if (input.webhook === null) hook = { webhookKind: null, webhookUrl: null, webhookHint: null };
      else if (input.webhook) {
        if (input.webhook.url) {
          const url = checkedUrl(input.webhook.url);
          hook = { webhookKind: input.webhook.kind, webhookUrl: seal(url, webhookAad(r.teamId, r.id)), webhookHint: webhookHint(url) };
        } else if (r.webhookUrl) hook = { webhookKind: input.webhook.kind, webhookUrl: r.webhookUrl, webhookHint: r.webhookHint };
        else bad('webhook.url: the rule has no webhook yet');
      }
      await ctx.prisma.alertRule.update({
        where: { id: r.id },
        data: {
          name: input.name,
          kind: input.kind,
          options,
          hostIds: input.hostIds ? JSON.stringify(input.hostIds) : null,
          containers: input.containers ? JSON.stringify(input.containers) : null,
          quietSeconds: input.quietSeconds,
          enabled: input.enabled,
          updatedAt: new Date(),
          ...(hook ?? {}),
        },
      });
      changed(r.teamId);
      return { ok: true as const };
    });
  }),

  deleteRule: authedProcedure.input(z.object({ ruleId })).mutation(async ({ ctx, input }) => {
    const r = await ruleRow(ctx, input.ruleId);
    return audited(ctx, { action: 'alerts.deleteRule', teamId: r.teamId, target: r.name }, async () => {
      await teamOf(ctx, r.teamId, 'admin');
      await ctx.prisma.alertRule.delete({ where: { id: r.id } });
      changed(r.teamId);
      return { ok: true as const };
    });
  }),

  /** Mutes a rule for `minutes` from now (0: unmutes): alerts still open and show, nothing is delivered. */
  mute: authedProcedure.input(z.object({ ruleId, minutes: z.number().int().min(0).max(366 * 24 * 60) })).mutation(async ({ ctx, input }) => {
    const r = await ruleRow(ctx, input.ruleId);
    const until = input.minutes ? new Date(Date.now() + input.minutes * 60_000) : null;
    return audited(ctx, { action: 'alerts.mute', teamId: r.teamId, target: `${r.name} until ${until?.toISOString() ?? 'unmuted'}` }, async () => {
      await teamOf(ctx, r.teamId, 'admin');
      await ctx.prisma.alertRule.update({ where: { id: r.id }, data: { mutedUntil: until } });
      return { mutedUntil: until?.toISOString() ?? null };
    });
  }),

  /** One delivery of a test message to the rule's webhook, now; its result is the answer (and the rule's last delivery). */
  testRule: authedProcedure.input(z.object({ ruleId })).mutation(async ({ ctx, input }) => {
    const r = await ruleRow(ctx, input.ruleId);
    return audited(ctx, { action: 'alerts.testRule', teamId: r.teamId, target: r.name }, async () => {
      await teamOf(ctx, r.teamId, 'admin');
      if (!r.webhookKind || !r.webhookUrl) bad('the rule has no webhook to test');
      const url = openSecret(r.webhookUrl, webhookAad(r.teamId, r.id));
      const now = new Date();
      const payload = alertPayload(r, { id: 'test', ruleId: r.id, teamId: r.teamId, hostId: null, subject: 'test', title: `Test delivery of rule "${r.name}"`, detail: '{}', openedAt: now, resolvedAt: null }, 'test');
      let result: string;
      try {
        result = await postOnce(url, webhookRequest(r.webhookKind as WebhookKind, payload), deliveryOptions().timeoutMs);
      } catch (err) {
        result = `error: ${(err as Error).message}`;
      }
      await ctx.prisma.alertRule.update({ where: { id: r.id }, data: { lastDeliveryAt: new Date(), lastDeliveryResult: `test: ${result}` } });
      return { result };
    });
  }),

  /** Open alerts, or the recent ones (open and resolved), newest first, of the hosts the member sees. */
  list: authedProcedure.input(z.object({ teamId, open: z.boolean().optional(), limit: z.number().int().min(1).max(500).optional() }).optional()).query(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input?.teamId, 'viewer');
    const { m } = await visibility(ctx, team.id);
    const rows = await ctx.prisma.alert.findMany({
      where: { teamId: team.id, ...(input?.open ? { openKey: { not: null } } : {}), ...(m?.hostIds ? { OR: [{ hostId: null }, { hostId: { in: [...m.hostIds] } }] } : {}) },
      orderBy: { openedAt: 'desc' },
      take: input?.limit ?? 100,
      include: { rule: { select: { name: true, kind: true } } },
    });
    return rows.map((a) => ({
      id: a.id,
      ruleId: a.ruleId,
      ruleName: a.rule.name,
      kind: a.rule.kind,
      hostId: a.hostId,
      subject: a.subject,
      title: a.title,
      detail: JSON.parse(a.detail) as Record<string, unknown>,
      open: a.openKey !== null,
      openedAt: a.openedAt.toISOString(),
      lastAt: a.lastAt.toISOString(),
      resolvedAt: a.resolvedAt?.toISOString() ?? null,
      delivery: a.delivery,
      deliveryAttempts: a.deliveryAttempts,
    }));
  }),

  /** The header's badge. */
  openCount: authedProcedure.input(z.object({ teamId }).optional()).query(async ({ ctx, input }) => {
    const team = await teamOf(ctx, input?.teamId, 'viewer');
    const { m } = await visibility(ctx, team.id);
    const count = await ctx.prisma.alert.count({
      where: { teamId: team.id, openKey: { not: null }, ...(m?.hostIds ? { OR: [{ hostId: null }, { hostId: { in: [...m.hostIds] } }] } : {}) },
    });
    return { count };
  }),
});
