'use client';
// The team's live access tokens for the docker CLI, for its admins: who holds which, where it
// reaches, when it was last used, and Revoke for those of members not above oneself.
import { useConfirmation } from '../components/confirm-dialog';
import { DataTable } from '../components/data-table';
import { ErrorText, Section } from '../components/ui';
import { formatTime } from '../lib/format';
import { trpc } from '../lib/trpc';

export function TeamAccessTokens({ teamId }: { teamId: string }) {
  const utils = trpc.useUtils();
  const tokens = trpc.tokens.team.useQuery({ teamId });
  const revoke = trpc.tokens.revoke.useMutation({ onSettled: () => Promise.all([utils.tokens.team.invalidate(), utils.tokens.list.invalidate()]) });
  const confirm = useConfirmation();
  return (
    <Section title="Access tokens (the docker CLI through Berth)">
      <ErrorText testId="team-tokens-error">{tokens.error?.message ?? revoke.error?.message}</ErrorText>
      <DataTable testId="team-tokens-table" columns={['Name', 'Held by', 'Role', 'Hosts', 'Expires', 'Last used', '']} loading={tokens.isLoading} empty={tokens.data?.length === 0 ? 'No access tokens in this team.' : null}>
        {tokens.data?.map((t) => (
          <tr key={t.id} data-testid="team-token-row" className="align-top">
            <td className="px-4 py-2">
              {t.name}
              <div className="font-mono text-xs text-slate-500">{t.hint}</div>
            </td>
            <td className="px-4 py-2">{t.owner}</td>
            <td className="px-4 py-2">{t.role}</td>
            <td className="px-4 py-2 text-xs">{t.hosts ? t.hosts.join(', ') : 'every host'}</td>
            <td className="px-4 py-2 whitespace-nowrap">{formatTime(t.expiresAt)}</td>
            <td className="px-4 py-2 whitespace-nowrap">{t.lastUsedAt ? formatTime(t.lastUsedAt) : 'never'}</td>
            <td className="px-4 py-2 text-right">
              {t.canRevoke && (
                <button type="button" className="btn-danger" data-testid="team-revoke-token" disabled={revoke.isPending} onClick={() => confirm.ask({ title: `Revoke ${t.name} of ${t.owner}?`, body: 'Anything using this token is refused from now on; this cannot be undone.', confirmLabel: 'Revoke', run: () => revoke.mutate({ tokenId: t.id }) })}>
                  Revoke
                </button>
              )}
            </td>
          </tr>
        ))}
      </DataTable>
      {confirm.dialog}
    </Section>
  );
}
