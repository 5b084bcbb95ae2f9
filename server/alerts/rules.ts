// Alert rules: what each kind takes, checked when a rule is saved and again when it is read
// back, and the rule as the evaluator uses it.
import { z } from 'zod';
import { containerSelectorSchema, LOG_PATTERN_MAX, UPDATE_FAILED_KIND, type ContainerSelector } from '../../protocol/alerts';

export const RULE_KINDS = ['container.died', 'container.restarts', 'container.unhealthy', 'host.offline', 'metric.cpu', 'metric.memory', 'host.disk', 'log.pattern', UPDATE_FAILED_KIND] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

const seconds = (max: number) => z.number().int().min(0).max(max);
const target = z.enum(['container', 'host']);

/** Each kind's options. Strict: an option the kind does not have is refused by name. */
export const ruleOptionSchemas = {
  /** anyExit: every exit, 0 too (a job that finished); otherwise a non-zero exit code only. */
  'container.died': z.strictObject({ anyExit: z.boolean().default(false) }),
  /** `count` restarts by the restart policy within `withinMinutes`. */
  'container.restarts': z.strictObject({ count: z.number().int().min(1).max(1000), withinMinutes: z.number().int().min(1).max(1440) }),
  'container.unhealthy': z.strictObject({ forSeconds: seconds(86_400).default(0) }),
  /** Offline for longer than `graceSeconds`. */
  'host.offline': z.strictObject({ graceSeconds: seconds(86_400).default(60) }),
  /** CPU above `abovePercent` (a container: of one CPU, as `docker stats`, so 200 = two CPUs busy; a host: of all of them). */
  'metric.cpu': z.strictObject({ target, abovePercent: z.number().positive().max(100_000), forSeconds: seconds(86_400).default(60) }),
  /** Memory above `abovePercent` of the limit (a container without one, and a host: of the host's memory). */
  'metric.memory': z.strictObject({ target, abovePercent: z.number().positive().max(100), forSeconds: seconds(86_400).default(60) }),
  /** The agent's root filesystem with less than `freeBelowPercent` free. */
  'host.disk': z.strictObject({ freeBelowPercent: z.number().positive().max(100), forSeconds: seconds(86_400).default(0) }),
  /** A regex on the lines of the selected containers, tested on the agent; resolves after `resolveAfterSeconds` without a match. */
  'log.pattern': z.strictObject({
    pattern: z.string().min(1).max(LOG_PATTERN_MAX),
    caseSensitive: z.boolean().default(false),
    resolveAfterSeconds: z.number().int().min(10).max(86_400).default(300),
    /** At most one report per container this often (the agent counts the rest). */
    minIntervalSec: z.number().int().min(1).max(3600).default(30),
  }),
  /**
   * An image update failed or was rolled back; resolved by a later update of the same container
   * (by name) that succeeds. automaticOnly: only updates the automatic pass started.
   */
  [UPDATE_FAILED_KIND]: z.strictObject({ automaticOnly: z.boolean().default(false) }),
} satisfies Record<RuleKind, z.ZodType>;

export type RuleOptions = { [K in RuleKind]: z.output<(typeof ruleOptionSchemas)[K]> };

export const WEBHOOK_KINDS = ['json', 'slack', 'ntfy'] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

/** A rule as the evaluator sees it. */
export type Rule = {
  [K in RuleKind]: {
    id: string;
    teamId: string;
    name: string;
    kind: K;
    options: RuleOptions[K];
    /** null: every host of the team. */
    hostIds: string[] | null;
    containers: ContainerSelector | null;
    quietSeconds: number;
    mutedUntil: Date | null;
  };
}[RuleKind];

/** Kinds whose subject is a container (the others: a host, or a container/host by `target`). */
export function aboutContainers(r: Pick<Rule, 'kind' | 'options'>): boolean {
  if (r.kind === 'metric.cpu' || r.kind === 'metric.memory') return (r.options as { target: string }).target === 'container';
  return r.kind.startsWith('container.') || r.kind === 'log.pattern' || r.kind === UPDATE_FAILED_KIND;
}

/** Checks a kind's options (an unknown kind or option is refused by name); the defaults filled in. */
export function parseOptions(kind: string, options: unknown): RuleOptions[RuleKind] {
  if (!(RULE_KINDS as readonly string[]).includes(kind)) throw new Error(`kind: ${JSON.stringify(kind)} is not an alert kind (${RULE_KINDS.join(', ')})`);
  const r = ruleOptionSchemas[kind as RuleKind].safeParse(options ?? {});
  if (!r.success) throw new Error(r.error.issues.map((i) => `options${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`).join('; '));
  if (kind === 'log.pattern') {
    const o = r.data as RuleOptions['log.pattern'];
    try {
      new RegExp(o.pattern, o.caseSensitive ? '' : 'i');
    } catch (err) {
      throw new Error(`options.pattern: not a valid regex: ${(err as Error).message}`);
    }
  }
  return r.data;
}

export interface RuleRow {
  id: string;
  teamId: string;
  name: string;
  kind: string;
  options: string;
  hostIds: string | null;
  containers: string | null;
  quietSeconds: number;
  mutedUntil: Date | null;
}

/** A stored rule for the evaluator; one that no longer reads (edited by hand) is left out, with a message. */
export function ruleFromRow(row: RuleRow): Rule | null {
  try {
    const options = parseOptions(row.kind, JSON.parse(row.options));
    const hostIds = row.hostIds ? z.array(z.string()).parse(JSON.parse(row.hostIds)) : null;
    const containers = row.containers ? containerSelectorSchema.parse(JSON.parse(row.containers)) : null;
    return { id: row.id, teamId: row.teamId, name: row.name, kind: row.kind, options, hostIds, containers, quietSeconds: row.quietSeconds, mutedUntil: row.mutedUntil } as Rule;
  } catch (err) {
    console.error(`alert rule ${row.id}: unreadable, skipped: ${(err as Error).message}`);
    return null;
  }
}

export function ruleCoversHost(r: Pick<Rule, 'hostIds'>, hostId: string): boolean {
  return r.hostIds === null || r.hostIds.includes(hostId);
}

/** What a browser may see of a webhook URL: scheme, host and port, the path's first characters. */
export function webhookHint(url: string): string {
  const u = new URL(url);
  const path = u.pathname.length > 1 ? `/${u.pathname.slice(1, 4)}…` : '/';
  return `${u.protocol}//${u.host}${path}`;
}

/** A webhook URL that can be posted to: http(s), no user:password in it (put a token in the path or query). */
export function checkWebhookUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('webhook.url: not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`webhook.url: ${u.protocol} is not supported (http: or https:)`);
  if (u.username || u.password) throw new Error('webhook.url: a user name or password in the URL is not supported');
  return u.toString();
}
