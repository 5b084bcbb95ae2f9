'use client';
import { useState } from 'react';
import { DataTable } from '../components/data-table';
import { useConfirmation } from '../components/confirm-dialog';
import { Form } from '../components/form';
import { ErrorText, Section } from '../components/ui';
import { formatTime } from '../lib/format';
import { trpc } from '../lib/trpc';

/** The current team's registry logins: the server never sends a secret back, only that one is set. */
export default function RegistriesPage() {
  const utils = trpc.useUtils();
  const list = trpc.registries.list.useQuery();
  const refresh = () => utils.registries.list.invalidate();
  const add = trpc.registries.add.useMutation({ onSuccess: () => (setForm({ server: '', username: '', secret: '' }), refresh()) });
  const rotate = trpc.registries.rotate.useMutation({ onSuccess: () => (setRotating(null), refresh()) });
  const remove = trpc.registries.remove.useMutation({ onSuccess: refresh });
  const [form, setForm] = useState({ server: '', username: '', secret: '' });
  const [rotating, setRotating] = useState<{ id: string; secret: string } | null>(null);
  const confirm = useConfirmation();

  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-xl font-semibold">Registries</h1>
        <p className="text-sm text-slate-600">Logins the team’s hosts use to pull and push. Secrets are encrypted at rest, handed to an agent only for the pull or push that needs them, and never shown again.</p>
      </div>
      <ErrorText testId="registries-error">{list.error?.message ?? remove.error?.message ?? rotate.error?.message}</ErrorText>
      <DataTable testId="registries-table" columns={['Server', 'Username', 'Secret', 'Changed', '']} loading={list.isLoading} empty={list.data?.length === 0 ? 'No registry logins.' : null}>
        {list.data?.map((r) => (
          <tr key={r.id} data-testid="registry-row" data-server={r.server}>
            <td className="px-4 py-2 font-mono text-xs">{r.server}</td>
            <td className="px-4 py-2">{r.username}</td>
            <td className="px-4 py-2" data-testid="registry-secret">
              {r.secretSet ? 'set' : '—'}
            </td>
            <td className="px-4 py-2 whitespace-nowrap">{formatTime(r.updatedAt)}</td>
            <td className="space-x-2 px-4 py-2 text-right whitespace-nowrap">
              {rotating?.id === r.id ? (
                <>
                  <input className="input w-48" type="password" aria-label={`New secret for ${r.server}`} value={rotating.secret} onChange={(e) => setRotating({ id: r.id, secret: e.target.value })} data-testid="registry-rotate-secret" />
                  <button type="button" className="btn-primary" disabled={!rotating.secret || rotate.isPending} onClick={() => rotate.mutate({ registryId: r.id, secret: rotating.secret })} data-testid="registry-rotate-save">
                    Save
                  </button>
                </>
              ) : (
                <button type="button" className="btn-secondary" onClick={() => setRotating({ id: r.id, secret: '' })} data-testid="registry-rotate">
                  Rotate
                </button>
              )}
              <button type="button" className="btn-danger" disabled={remove.isPending} onClick={() =>
                  confirm.ask({
                    title: `Remove the login for ${r.server}?`,
                    body: `The team's hosts pull from and push to ${r.server} without it from now on, and its secret is deleted.`,
                    confirmLabel: 'Remove',
                    run: () => remove.mutate({ registryId: r.id }),
                  })
                }
                data-testid="registry-remove">
                Remove
              </button>
            </td>
          </tr>
        ))}
      </DataTable>
      {confirm.dialog}
      <Section title="Add a login">
        <Form onSubmit={() => add.mutate(form)} layout="row" testId="registry-add" submitLabel="Add" pendingLabel="Adding…" pending={add.isPending} canSubmit={!!form.server && !!form.username && !!form.secret} error={add.error?.message}>
          <label className="text-sm">
            <span className="label">Server</span>
            <input className="input" placeholder="registry.example.com" value={form.server} onChange={(e) => setForm({ ...form, server: e.target.value })} data-testid="registry-server" />
          </label>
          <label className="text-sm">
            <span className="label">Username</span>
            <input className="input" value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} data-testid="registry-username" />
          </label>
          <label className="text-sm">
            <span className="label">Password or token</span>
            <input className="input" type="password" autoComplete="new-password" value={form.secret} onChange={(e) => setForm({ ...form, secret: e.target.value })} data-testid="registry-secret-input" />
          </label>
        </Form>
      </Section>
    </div>
  );
}
