'use client';
// The account page's personal access tokens for the docker CLI through the control plane:
// make one (team, role ceiling, hosts, expiry), see it once with the lines to paste, revoke it.
import { useState } from 'react';
import { useConfirmation } from '../components/confirm-dialog';
import { DataTable } from '../components/data-table';
import { Field, Form } from '../components/form';
import { ErrorText, Section } from '../components/ui';
import { formatTime } from '../lib/format';
import { trpc } from '../lib/trpc';

const ROLES = ['viewer', 'operator', 'admin', 'owner'] as const;
type Role = (typeof ROLES)[number];

function Copyable({ label, text, testId }: { label: string; text: string; testId: string }) {
  return (
    <div>
      <div className="mb-1 text-xs font-medium text-slate-600">{label}</div>
      <pre className="overflow-x-auto rounded-md bg-slate-900 px-3 py-2 text-xs text-slate-100 select-all" data-testid={testId}>
        {text}
      </pre>
    </div>
  );
}

export function AccessTokens() {
  const utils = trpc.useUtils();
  const tokens = trpc.tokens.list.useQuery();
  const options = trpc.tokens.options.useQuery();
  const [name, setName] = useState('');
  const [picked, setPicked] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [hosts, setHosts] = useState<string[]>([]);
  const [days, setDays] = useState('30');
  const create = trpc.tokens.create.useMutation({
    onSuccess: async () => {
      setName('');
      setHosts([]);
      await utils.tokens.list.invalidate();
    },
  });
  const revoke = trpc.tokens.revoke.useMutation({ onSuccess: () => utils.tokens.list.invalidate() });
  const confirm = useConfirmation();
  const teams = options.data?.teams ?? [];
  const team = teams.find((t) => t.id === picked) ?? teams[0];
  const allowed = team ? ROLES.slice(0, ROLES.indexOf(team.role) + 1) : [];
  const made = create.data;

  return (
    <Section title="Access tokens for the docker CLI">
      <p className="mb-3 text-sm text-slate-600">
        A token lets your own <code>docker</code> CLI, docker-compose or dockerode drive a host of the team through Berth, with at most the role you choose (and never more than yours in the team at the time). It is shown once.
      </p>
      <Form
        onSubmit={() => team && create.mutate({ teamId: team.id, name, role: allowed.includes(role) ? role : 'viewer', hostIds: hosts, expiresInDays: Number(days) })}
        testId="token-form"
        submitLabel="Create token"
        pendingLabel="Creating…"
        pending={create.isPending}
        canSubmit={!!team && !!name.trim() && Number(days) >= 1}
        error={create.error?.message ?? options.error?.message}
        errorTestId="token-error"
      >
        <Field id="token-name" label="Name (what it is for)" value={name} onChange={(e) => setName(e.target.value)} maxLength={100} required />
        {teams.length > 1 && (
          <div>
            <label htmlFor="token-team" className="label">
              Team
            </label>
            <select id="token-team" className="input" value={team?.id ?? ''} onChange={(e) => (setPicked(e.target.value), setHosts([]))}>
              {teams.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name} ({t.role})
                </option>
              ))}
            </select>
          </div>
        )}
        <div>
          <label htmlFor="token-role" className="label">
            Role ceiling
          </label>
          <select id="token-role" className="input" data-testid="token-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {allowed.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        {!!team?.hosts.length && (
          <fieldset>
            <legend className="label">Hosts (none ticked: every host of the team)</legend>
            {team.hosts.map((h) => (
              <label key={h.id} className="mr-4 inline-flex items-center gap-1 text-sm">
                <input type="checkbox" checked={hosts.includes(h.id)} onChange={(e) => setHosts(e.target.checked ? [...hosts, h.id] : hosts.filter((x) => x !== h.id))} data-testid="token-host" />
                {h.name}
              </label>
            ))}
          </fieldset>
        )}
        <Field id="token-days" label="Expires after (days, 1 to 365)" type="number" min={1} max={365} value={days} onChange={(e) => setDays(e.target.value)} required />
      </Form>
      {made && (
        <div className="mt-4 space-y-3 rounded-md border border-emerald-300 bg-emerald-50 p-3" data-testid="token-made">
          <p className="text-sm font-medium text-emerald-900">Copy the token now: Berth keeps only its hash and cannot show it again.</p>
          <Copyable label="Token" text={made.token} testId="token-secret" />
          <Copyable label="Add to ~/.docker/config.json (the docker CLI sends it with every request)" text={made.config} testId="token-config" />
          {made.setup.map((s) => (
            <Copyable key={s.id} label={`A docker context for ${s.name}`} text={`${s.context}\n${s.use}`} testId="token-context" />
          ))}
          {!made.setup.length && <p className="text-sm">The team has no hosts yet; add one, then use <code>-H tcp://SERVER/docker/HOST</code>.</p>}
        </div>
      )}
      <ErrorText testId="tokens-error">{tokens.error?.message ?? revoke.error?.message}</ErrorText>
      <div className="mt-4">
        <DataTable testId="tokens-table" columns={['Name', 'Team', 'Role', 'Hosts', 'Expires', 'Last used', '']} loading={tokens.isLoading} empty={tokens.data?.length === 0 ? 'No access tokens.' : null}>
          {tokens.data?.map((t) => (
            <tr key={t.id} data-testid="token-row" className="align-top">
              <td className="px-4 py-2">
                {t.name}
                <div className="font-mono text-xs text-slate-500">{t.hint}</div>
              </td>
              <td className="px-4 py-2">{t.team}</td>
              <td className="px-4 py-2">{t.role}</td>
              <td className="px-4 py-2 text-xs">{t.hosts ? t.hosts.map((h) => h.name).join(', ') : 'every host'}</td>
              <td className="px-4 py-2 whitespace-nowrap">{t.expired ? <span className="text-red-700">expired</span> : formatTime(t.expiresAt)}</td>
              <td className="px-4 py-2 whitespace-nowrap">{t.lastUsedAt ? formatTime(t.lastUsedAt) : 'never'}</td>
              <td className="px-4 py-2 text-right">
                <button type="button" className="btn-danger" data-testid="revoke-token" disabled={revoke.isPending} onClick={() => confirm.ask({ title: `Revoke ${t.name}?`, body: 'Anything using this token is refused from now on; this cannot be undone.', confirmLabel: 'Revoke', run: () => revoke.mutate({ tokenId: t.id }) })}>
                  Revoke
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
        {confirm.dialog}
      </div>
    </Section>
  );
}
