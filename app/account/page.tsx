'use client';
import { useRouter } from 'next/navigation';
import { signOut } from 'next-auth/react';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { DataTable } from '../components/data-table';
import { useConfirmation } from '../components/confirm-dialog';
import { Field, Form } from '../components/form';
import { ErrorText, Notice, Section } from '../components/ui';
import { formatTime } from '../lib/format';
import { trpc } from '../lib/trpc';
import { AccessTokens } from './access-tokens';
import { ThemeSwitcher } from '../components/theme-switcher';

export default function AccountPage() {
  const router = useRouter();
  const queryClient = useQueryClient();
  const utils = trpc.useUtils();
  const me = trpc.account.me.useQuery();
  const sessions = trpc.account.sessions.useQuery();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const change = trpc.account.changePassword.useMutation({
    onSuccess: async (r) => {
      setCurrent('');
      setNext('');
      setAgain('');
      setNotice(`Password changed. ${r.otherSessionsEnded} other session${r.otherSessionsEnded === 1 ? '' : 's'} signed out.`);
      await utils.invalidate();
    },
  });
  const revoke = trpc.account.revokeSession.useMutation({ onSuccess: () => utils.account.sessions.invalidate() });
  const everywhere = trpc.account.signOutEverywhere.useMutation({
    onSuccess: async () => {
      await signOut({ redirect: false });
      queryClient.clear();
      router.replace('/login');
    },
  });
  const mismatch = again.length > 0 && again !== next;
  const confirm = useConfirmation();

  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-xl font-semibold">Account</h1>
        <p className="text-sm text-slate-600" data-testid="account-who">
          {me.data ? `${me.data.name} · ${me.data.email}` : ' '}
        </p>
      </div>
      {me.data?.mustChangePassword && (
        <p role="alert" data-testid="must-change-password" className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900">
          An admin reset your password. Choose a new one to go on.
        </p>
      )}
      {confirm.dialog}
      <Section title="Appearance">
        <label htmlFor="theme-choice" className="label">
          Theme
        </label>
        <ThemeSwitcher variant="page" id="theme-choice" />
        <p className="mt-1 text-xs text-slate-500">Kept in the browser, not in your account.</p>
      </Section>
      {me.data && (!me.data.hasPassword || me.data.identities.length > 0) && (
        <Section title="Sign-in">
          <p className="text-sm text-slate-700" data-testid="account-identities">
            You sign in with {me.data.identities.map((i) => `${i.name} (${i.email})`).join(', ') || 'an outside provider'}
            {me.data.hasPassword ? ', or with your email and password.' : '. Berth keeps no password for this account; your provider does.'}
          </p>
        </Section>
      )}
      {me.data?.hasPassword && (
        <Section title="Password">
          <Form
            onSubmit={() => {
              setNotice(null);
              change.mutate({ current, next });
            }}
            testId="password-form"
            submitLabel="Change password"
            pendingLabel="Changing…"
            pending={change.isPending}
            canSubmit={!!current && next.length >= 8 && next === again}
            error={change.error?.message ?? (mismatch ? 'The two new passwords differ.' : null)}
            errorTestId="password-error"
          >
            <Field id="pw-current" label="Current password" type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
            <Field id="pw-next" label="New password (8 characters or more)" type="password" autoComplete="new-password" minLength={8} value={next} onChange={(e) => setNext(e.target.value)} required />
            <Field id="pw-again" label="New password again" type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} required />
          </Form>
          <Notice testId="password-notice">{notice}</Notice>
        </Section>
      )}
      {!me.data?.mustChangePassword && (
        <Section
          title="Sessions"
          actions={
            <button type="button" className="btn-danger" data-testid="sign-out-everywhere" disabled={everywhere.isPending} onClick={() => confirm.ask({ title: 'Sign out everywhere?', body: 'Every session of yours ends, this one too; each browser has to sign in again.', confirmLabel: 'Sign out everywhere', run: () => everywhere.mutate() })}>
              Sign out everywhere
            </button>
          }
        >
          <ErrorText testId="sessions-error">{sessions.error?.message ?? revoke.error?.message ?? everywhere.error?.message}</ErrorText>
          <DataTable testId="sessions-table" columns={['Signed in', 'Last seen', 'From', 'Browser', '']} loading={sessions.isLoading} empty={sessions.data?.length === 0 ? 'No sessions.' : null}>
            {sessions.data?.map((s) => (
              <tr key={s.id} data-testid="session-row" className="align-top">
                <td className="px-4 py-2 whitespace-nowrap">{formatTime(s.createdAt)}</td>
                <td className="px-4 py-2 whitespace-nowrap">{formatTime(s.lastSeenAt)}</td>
                <td className="px-4 py-2 font-mono text-xs">{s.address}</td>
                <td className="max-w-xs truncate px-4 py-2 text-xs" title={s.userAgent}>
                  {s.userAgent || '—'}
                </td>
                <td className="px-4 py-2 text-right">
                  {s.current ? (
                    <span className="text-xs text-slate-500">this browser</span>
                  ) : (
                    <button type="button" className="btn-secondary" data-testid="end-session" disabled={revoke.isPending} onClick={() => revoke.mutate({ sessionId: s.id })}>
                      Sign out
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        </Section>
      )}
      {!me.data?.mustChangePassword && !!me.data?.teams.length && <AccessTokens />}
      {!!me.data?.teams.length && (
        <Section title="Teams">
          <ul className="text-sm" data-testid="account-teams">
            {me.data.teams.map((t) => (
              <li key={t.id}>
                {t.name} <span className="text-slate-500">({t.role})</span>
              </li>
            ))}
          </ul>
        </Section>
      )}
    </div>
  );
}
