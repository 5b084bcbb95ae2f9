'use client';
import { useState } from 'react';
import { hasRole } from '../../protocol/roles';
import { useConfirmation } from '../components/confirm-dialog';
import { DataTable } from '../components/data-table';
import { Form } from '../components/form';
import { ErrorText, Section } from '../components/ui';
import { formatTime } from '../lib/format';
import { trpc } from '../lib/trpc';
import { useRole } from '../lib/use-role';

type Kind = 'container.died' | 'container.restarts' | 'container.unhealthy' | 'host.offline' | 'metric.cpu' | 'metric.memory' | 'host.disk' | 'log.pattern' | 'update.failed';
type OptionField = { key: string; label: string; type: 'number' | 'text' | 'bool' | 'target'; value: string | boolean };

const KINDS: Array<{ kind: Kind; label: string; fields: OptionField[] }> = [
  { kind: 'container.died', label: 'Container died', fields: [{ key: 'anyExit', label: 'Any exit (0 too)', type: 'bool', value: false }] },
  {
    kind: 'container.restarts',
    label: 'Restart loop',
    fields: [
      { key: 'count', label: 'Restarts', type: 'number', value: '3' },
      { key: 'withinMinutes', label: 'Within minutes', type: 'number', value: '10' },
    ],
  },
  { kind: 'container.unhealthy', label: 'Unhealthy', fields: [{ key: 'forSeconds', label: 'For seconds', type: 'number', value: '0' }] },
  { kind: 'host.offline', label: 'Host offline', fields: [{ key: 'graceSeconds', label: 'Grace seconds', type: 'number', value: '60' }] },
  {
    kind: 'metric.cpu',
    label: 'CPU above',
    fields: [
      { key: 'target', label: 'Of', type: 'target', value: 'container' },
      { key: 'abovePercent', label: 'Above %', type: 'number', value: '90' },
      { key: 'forSeconds', label: 'For seconds', type: 'number', value: '60' },
    ],
  },
  {
    kind: 'metric.memory',
    label: 'Memory above',
    fields: [
      { key: 'target', label: 'Of', type: 'target', value: 'container' },
      { key: 'abovePercent', label: 'Above %', type: 'number', value: '90' },
      { key: 'forSeconds', label: 'For seconds', type: 'number', value: '60' },
    ],
  },
  {
    kind: 'host.disk',
    label: 'Agent root disk nearly full',
    fields: [
      { key: 'freeBelowPercent', label: 'Free below %', type: 'number', value: '10' },
      { key: 'forSeconds', label: 'For seconds', type: 'number', value: '0' },
    ],
  },
  {
    kind: 'log.pattern',
    label: 'Log pattern',
    fields: [
      { key: 'pattern', label: 'Regex', type: 'text', value: '' },
      { key: 'caseSensitive', label: 'Case sensitive', type: 'bool', value: false },
      { key: 'resolveAfterSeconds', label: 'Resolve after s without a match', type: 'number', value: '300' },
      { key: 'minIntervalSec', label: 'At most one report per s', type: 'number', value: '30' },
    ],
  },
  { kind: 'update.failed', label: 'Image update failed', fields: [{ key: 'automaticOnly', label: 'Automatic updates only', type: 'bool', value: false }] },
];

const kindLabel = (k: string) => KINDS.find((x) => x.kind === k)?.label ?? k;

interface Draft {
  id: string | null;
  name: string;
  kind: Kind;
  options: Record<string, string | boolean>;
  allHosts: boolean;
  hostIds: string[];
  names: string;
  labels: string;
  quietSeconds: string;
  enabled: boolean;
  webhookKind: '' | 'json' | 'slack' | 'ntfy';
  webhookUrl: string;
  /** Editing a rule that has a webhook: an empty URL keeps it. */
  webhookHint: string | null;
}

function defaults(kind: Kind): Record<string, string | boolean> {
  return Object.fromEntries(KINDS.find((k) => k.kind === kind)!.fields.map((f) => [f.key, f.value]));
}

const EMPTY: Draft = { id: null, name: '', kind: 'container.died', options: defaults('container.died'), allHosts: true, hostIds: [], names: '', labels: '', quietSeconds: '300', enabled: true, webhookKind: '', webhookUrl: '', webhookHint: null };

/** "a=b, c=d" → { a: "b", c: "d" }; a piece without "=" is refused by name. */
function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`label selector: "${part}" is not key=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function toInput(d: Draft) {
  const fields = KINDS.find((k) => k.kind === d.kind)!.fields;
  const options: Record<string, unknown> = {};
  for (const f of fields) {
    const v = d.options[f.key];
    if (f.type === 'number') {
      if (v === '' || v === undefined) continue;
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`${f.label}: not a number`);
      options[f.key] = n;
    } else options[f.key] = v;
  }
  const names = d.names.split(',').map((s) => s.trim()).filter(Boolean);
  const labels = parseLabels(d.labels);
  const containers = names.length || Object.keys(labels).length ? { ...(names.length ? { names } : {}), ...(Object.keys(labels).length ? { labels } : {}) } : null;
  return {
    name: d.name,
    kind: d.kind,
    options,
    hostIds: d.allHosts ? null : d.hostIds,
    containers,
    quietSeconds: Number(d.quietSeconds) || 0,
    enabled: d.enabled,
  };
}

function describe(options: Record<string, unknown>): string {
  return Object.entries(options)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
}

export default function AlertsPage() {
  const isAdmin = hasRole(useRole(), 'admin');
  const utils = trpc.useUtils();
  const open = trpc.alerts.list.useQuery({ open: true }, { refetchInterval: 5_000 });
  const recent = trpc.alerts.list.useQuery({ limit: 50 }, { refetchInterval: 5_000 });
  const rules = trpc.alerts.rules.useQuery(undefined, { refetchInterval: 10_000 });
  const hosts = trpc.hosts.list.useQuery();
  const refresh = () => Promise.all([utils.alerts.rules.invalidate(), utils.alerts.list.invalidate(), utils.alerts.openCount.invalidate()]);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [formError, setFormError] = useState<string | null>(null);
  const [testResult, setTestResult] = useState<Record<string, string>>({});
  const create = trpc.alerts.createRule.useMutation({ onSuccess: () => (setDraft(EMPTY), refresh()) });
  const update = trpc.alerts.updateRule.useMutation({ onSuccess: () => (setDraft(EMPTY), refresh()) });
  const remove = trpc.alerts.deleteRule.useMutation({ onSuccess: refresh });
  const confirm = useConfirmation();
  const mute = trpc.alerts.mute.useMutation({ onSuccess: refresh });
  const test = trpc.alerts.testRule.useMutation({ onSuccess: (r, v) => (setTestResult((t) => ({ ...t, [v.ruleId]: r.result })), refresh()) });
  const hostName = (id: string | null) => hosts.data?.find((h) => h.id === id)?.name ?? id ?? '';

  function save() {
    setFormError(null);
    let input;
    try {
      input = toInput(draft);
    } catch (err) {
      return setFormError((err as Error).message);
    }
    const webhook = draft.webhookKind ? { kind: draft.webhookKind, ...(draft.webhookUrl ? { url: draft.webhookUrl } : {}) } : null;
    if (draft.id) update.mutate({ ruleId: draft.id, ...input, webhook });
    else create.mutate({ ...input, webhook });
  }

  function edit(r: NonNullable<typeof rules.data>[number]) {
    const kind = r.kind as Kind;
    const opts = defaults(kind);
    for (const [k, v] of Object.entries(r.options)) opts[k] = typeof v === 'boolean' ? v : String(v);
    setDraft({
      id: r.id,
      name: r.name,
      kind,
      options: opts,
      allHosts: r.hostIds === null,
      hostIds: r.hostIds ?? [],
      names: r.containers?.names?.join(', ') ?? '',
      labels: Object.entries(r.containers?.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', '),
      quietSeconds: String(r.quietSeconds),
      enabled: r.enabled,
      webhookKind: (r.webhook?.kind as Draft['webhookKind']) ?? '',
      webhookUrl: '',
      webhookHint: r.webhook?.hint ?? null,
    });
  }

  const fields = KINDS.find((k) => k.kind === draft.kind)!.fields;
  const pending = create.isPending || update.isPending;

  return (
    <div className="space-y-6">
      {confirm.dialog}
      <div>
        <h1 className="text-xl font-semibold">Alerts</h1>
        <p className="text-sm text-slate-600">Rules watch the team’s hosts and containers; an alert opens once per rule and subject, resolves when its condition clears, and goes to the rule’s webhook (JSON, Slack or ntfy) outside its quiet period.</p>
      </div>
      <ErrorText testId="alerts-error">{open.error?.message ?? rules.error?.message ?? remove.error?.message ?? mute.error?.message ?? test.error?.message}</ErrorText>

      <Section title={`Open alerts (${open.data?.length ?? 0})`}>
        <DataTable flush testId="alerts-open" columns={['Alert', 'Rule', 'Host', 'Since', 'Delivery']} loading={open.isLoading} empty={open.data?.length === 0 ? 'Nothing is open.' : null}>
          {open.data?.map((a) => (
            <tr key={a.id} data-testid="alert-open-row" data-rule={a.ruleName}>
              <td className="px-4 py-2">
                <div data-testid="alert-title">{a.title}</div>
                {typeof a.detail.line === 'string' ? <div className="font-mono text-xs text-slate-500">{a.detail.line}</div> : null}
              </td>
              <td className="px-4 py-2">{a.ruleName}</td>
              <td className="px-4 py-2">{hostName(a.hostId)}</td>
              <td className="px-4 py-2 whitespace-nowrap">{formatTime(a.openedAt)}</td>
              <td className="px-4 py-2 text-xs" data-testid="alert-delivery">
                {a.delivery}
              </td>
            </tr>
          ))}
        </DataTable>
      </Section>

      <Section title="Recent alerts">
        <DataTable flush testId="alerts-recent" columns={['Alert', 'Rule', 'Opened', 'Resolved', 'Delivery']} loading={recent.isLoading} empty={recent.data?.length === 0 ? 'No alerts yet.' : null}>
          {recent.data?.map((a) => (
            <tr key={a.id} data-testid="alert-recent-row" data-open={a.open ? 'yes' : 'no'}>
              <td className="px-4 py-2">{a.title}</td>
              <td className="px-4 py-2">{a.ruleName}</td>
              <td className="px-4 py-2 whitespace-nowrap">{formatTime(a.openedAt)}</td>
              <td className="px-4 py-2 whitespace-nowrap">{a.resolvedAt ? formatTime(a.resolvedAt) : 'open'}</td>
              <td className="px-4 py-2 text-xs">{a.delivery}</td>
            </tr>
          ))}
        </DataTable>
      </Section>

      <Section title="Rules">
        <DataTable flush testId="alert-rules" columns={['Name', 'Kind', 'Scope', 'Webhook', 'Last delivery', '']} loading={rules.isLoading} empty={rules.data?.length === 0 ? 'No rules.' : null}>
          {rules.data?.map((r) => (
            <tr key={r.id} data-testid="alert-rule-row" data-name={r.name}>
              <td className="px-4 py-2">
                {r.name}
                {!r.enabled ? <span className="ml-2 text-xs text-slate-500">(off)</span> : null}
                {r.mutedUntil && Date.parse(r.mutedUntil) > Date.now() ? <span className="ml-2 text-xs text-amber-700">muted until {formatTime(r.mutedUntil)}</span> : null}
              </td>
              <td className="px-4 py-2">
                <div>{kindLabel(r.kind)}</div>
                <div className="font-mono text-xs text-slate-500">{describe(r.options)}</div>
              </td>
              <td className="px-4 py-2 text-xs">
                {r.hostIds === null ? 'all hosts' : r.hostIds.map(hostName).join(', ')}
                {r.containers?.names?.length ? ` · ${r.containers.names.join(', ')}` : ''}
                {r.containers?.labels ? ` · ${describe(r.containers.labels)}` : ''}
              </td>
              <td className="px-4 py-2 font-mono text-xs" data-testid="alert-rule-webhook">
                {r.webhook ? `${r.webhook.kind} ${r.webhook.hint}` : '—'}
              </td>
              <td className="px-4 py-2 text-xs" data-testid="alert-rule-last-delivery">
                {testResult[r.id] ? `test: ${testResult[r.id]}` : r.lastDelivery ? `${r.lastDelivery.result} (${formatTime(r.lastDelivery.at)})` : '—'}
              </td>
              <td className="space-x-2 px-4 py-2 text-right whitespace-nowrap">
                {isAdmin ? (
                  <>
                    <button type="button" className="btn-secondary" onClick={() => edit(r)} data-testid="alert-rule-edit">
                      Edit
                    </button>
                    {r.webhook ? (
                      <button type="button" className="btn-secondary" disabled={test.isPending} onClick={() => test.mutate({ ruleId: r.id })} data-testid="alert-rule-test">
                        Test
                      </button>
                    ) : null}
                    <button type="button" className="btn-secondary" onClick={() => mute.mutate({ ruleId: r.id, minutes: r.mutedUntil && Date.parse(r.mutedUntil) > Date.now() ? 0 : 60 })} data-testid="alert-rule-mute">
                      {r.mutedUntil && Date.parse(r.mutedUntil) > Date.now() ? 'Unmute' : 'Mute 1 h'}
                    </button>
                    <button
                      type="button"
                      className="btn-danger"
                      disabled={remove.isPending}
                      onClick={() => confirm.ask({ title: `Delete the rule "${r.name}"?`, body: 'Its alerts, open and past, go with it.', confirmLabel: 'Delete', run: () => remove.mutate({ ruleId: r.id }) })}
                      data-testid="alert-rule-delete"
                    >
                      Delete
                    </button>
                  </>
                ) : null}
              </td>
            </tr>
          ))}
        </DataTable>
      </Section>

      {isAdmin ? (
        <Section title={draft.id ? `Edit rule "${draft.name}"` : 'New rule'}>
          <Form onSubmit={save} testId="alert-rule-form" submitLabel={draft.id ? 'Save' : 'Create rule'} pendingLabel="Saving…" pending={pending} canSubmit={!!draft.name} error={formError ?? create.error?.message ?? update.error?.message} errorTestId="alert-rule-form-error">
            <div className="grid gap-3 sm:grid-cols-3">
              <label className="text-sm">
                <span className="label">Name</span>
                <input className="input" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} data-testid="alert-rule-name" />
              </label>
              <label className="text-sm">
                <span className="label">When</span>
                <select className="input" value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: e.target.value as Kind, options: defaults(e.target.value as Kind) })} data-testid="alert-rule-kind">
                  {KINDS.map((k) => (
                    <option key={k.kind} value={k.kind}>
                      {k.label}
                    </option>
                  ))}
                </select>
              </label>
              <label className="text-sm">
                <span className="label">Quiet period (s)</span>
                <input className="input" inputMode="numeric" value={draft.quietSeconds} onChange={(e) => setDraft({ ...draft, quietSeconds: e.target.value })} data-testid="alert-rule-quiet" />
              </label>
              {fields.map((f) => (
                <label key={f.key} className="text-sm">
                  <span className="label">{f.label}</span>
                  {f.type === 'bool' ? (
                    <input type="checkbox" className="ml-1" checked={draft.options[f.key] === true} onChange={(e) => setDraft({ ...draft, options: { ...draft.options, [f.key]: e.target.checked } })} data-testid={`alert-opt-${f.key}`} />
                  ) : f.type === 'target' ? (
                    <select className="input" value={String(draft.options[f.key])} onChange={(e) => setDraft({ ...draft, options: { ...draft.options, [f.key]: e.target.value } })} data-testid={`alert-opt-${f.key}`}>
                      <option value="container">each container</option>
                      <option value="host">the whole host</option>
                    </select>
                  ) : (
                    <input className="input" value={String(draft.options[f.key] ?? '')} onChange={(e) => setDraft({ ...draft, options: { ...draft.options, [f.key]: e.target.value } })} data-testid={`alert-opt-${f.key}`} />
                  )}
                </label>
              ))}
              <label className="text-sm">
                <span className="label">Container names (comma-separated; empty: all)</span>
                <input className="input" value={draft.names} onChange={(e) => setDraft({ ...draft, names: e.target.value })} data-testid="alert-rule-names" />
              </label>
              <label className="text-sm">
                <span className="label">Labels (key=value, …; a stack: com.docker.compose.project=NAME)</span>
                <input className="input" value={draft.labels} onChange={(e) => setDraft({ ...draft, labels: e.target.value })} data-testid="alert-rule-labels" />
              </label>
              <fieldset className="text-sm">
                <legend className="label">Hosts</legend>
                <label className="mr-3">
                  <input type="checkbox" checked={draft.allHosts} onChange={(e) => setDraft({ ...draft, allHosts: e.target.checked })} data-testid="alert-rule-all-hosts" /> all of the team’s
                </label>
                {!draft.allHosts
                  ? hosts.data?.map((h) => (
                      <label key={h.id} className="mr-3">
                        <input
                          type="checkbox"
                          checked={draft.hostIds.includes(h.id)}
                          onChange={(e) => setDraft({ ...draft, hostIds: e.target.checked ? [...draft.hostIds, h.id] : draft.hostIds.filter((x) => x !== h.id) })}
                          data-testid="alert-rule-host"
                        />{' '}
                        {h.name}
                      </label>
                    ))
                  : null}
              </fieldset>
              <label className="text-sm">
                <span className="label">Webhook</span>
                <select className="input" value={draft.webhookKind} onChange={(e) => setDraft({ ...draft, webhookKind: e.target.value as Draft['webhookKind'] })} data-testid="alert-rule-webhook-kind">
                  <option value="">none (dashboard only)</option>
                  <option value="json">generic JSON</option>
                  <option value="slack">Slack-compatible</option>
                  <option value="ntfy">ntfy topic</option>
                </select>
              </label>
              {draft.webhookKind ? (
                <label className="text-sm sm:col-span-2">
                  <span className="label">Webhook URL {draft.webhookHint ? `(set: ${draft.webhookHint}; empty keeps it)` : ''}</span>
                  <input className="input" type="password" autoComplete="off" value={draft.webhookUrl} onChange={(e) => setDraft({ ...draft, webhookUrl: e.target.value })} data-testid="alert-rule-webhook-url" />
                </label>
              ) : null}
              <label className="text-sm">
                <input type="checkbox" checked={draft.enabled} onChange={(e) => setDraft({ ...draft, enabled: e.target.checked })} data-testid="alert-rule-enabled" /> enabled
              </label>
            </div>
          </Form>
          {draft.id ? (
            <button type="button" className="btn-secondary mt-2" onClick={() => setDraft(EMPTY)}>
              Cancel editing
            </button>
          ) : null}
        </Section>
      ) : null}
    </div>
  );
}
