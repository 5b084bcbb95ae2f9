'use client';
import { useState } from 'react';
import { hasRole, roleRank, ROLES, type Role } from '../../protocol/roles';
import { ConfirmDialog } from '../components/confirm-dialog';
import { DataTable } from '../components/data-table';
import { Form } from '../components/form';
import { ErrorText, Notice, Section } from '../components/ui';
import { formatTime } from '../lib/format';
import { trpc } from '../lib/trpc';
import { TeamAccessTokens } from './access-tokens';

type Pending = { kind: 'remove' | 'reset'; userId: string; email: string } | null;

export default function TeamPage() {
  const me = trpc.account.me.useQuery();
  const [picked, setPicked] = useState<string | null>(null);
  const teamId = picked ?? me.data?.teams[0]?.id ?? '';
  const utils = trpc.useUtils();
  const members = trpc.team.members.useQuery({ teamId }, { enabled: !!teamId });
  const myRole = (members.data?.myRole ?? 'viewer') as Role;
  const isAdmin = hasRole(myRole, 'admin');
  const invitations = trpc.team.invitations.useQuery({ teamId }, { enabled: !!teamId && isAdmin });
  const refresh = () => Promise.all([utils.team.members.invalidate(), utils.team.invitations.invalidate()]);
  const setRole = trpc.team.setRole.useMutation({ onSettled: refresh });
  const remove = trpc.team.removeMember.useMutation({ onSettled: refresh });
  const reset = trpc.team.resetPassword.useMutation();
  const invite = trpc.team.invite.useMutation({ onSuccess: refresh });
  const revoke = trpc.team.revokeInvitation.useMutation({ onSuccess: refresh });
  const [inviteRole, setInviteRole] = useState<Role>('viewer');
  const [hours, setHours] = useState(72);
  const [pending, setPending] = useState<Pending>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const grantable = ROLES.filter((r) => roleRank(r) <= roleRank(myRole));
  const link = invite.data ? `${typeof window === 'undefined' ? '' : window.location.origin}${invite.data.path}` : null;

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-end gap-4">
        <div>
          <h1 className="text-xl font-semibold">Team</h1>
          <p className="text-sm text-slate-600">Members, their roles, and invitation links.</p>
        </div>
        {(me.data?.teams.length ?? 0) > 1 && (
          <label className="ml-auto text-sm">
            <span className="label">Team</span>
            <select className="input" data-testid="team-picker" value={teamId} onChange={(e) => setPicked(e.target.value)}>
              {me.data!.teams.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name} ({t.role})
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <ErrorText testId="team-error">{members.error?.message ?? setRole.error?.message ?? remove.error?.message ?? reset.error?.message}</ErrorText>
      <Notice testId="team-notice">{notice}</Notice>
      <DataTable testId="members-table" columns={['Name', 'Email', 'Role', 'Member since', '']} loading={members.isLoading} empty={members.data?.members.length === 0 ? 'Nobody.' : null}>
        {members.data?.members.map((m) => {
          const canTouch = isAdmin && !m.me && roleRank(m.role as Role) <= roleRank(myRole);
          return (
            <tr key={m.userId} data-testid="member-row" data-email={m.email}>
              <td className="px-4 py-2">{m.name}</td>
              <td className="px-4 py-2">{m.email}</td>
              <td className="px-4 py-2">
                {canTouch ? (
                  <select
                    aria-label={`Role of ${m.email}`}
                    data-testid="member-role"
                    className="input py-1"
                    value={m.role}
                    disabled={setRole.isPending}
                    onChange={(e) => setRole.mutate({ teamId, userId: m.userId, role: e.target.value as Role })}
                  >
                    {grantable.map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                ) : (
                  <span data-testid="member-role-text">{m.role}</span>
                )}
              </td>
              <td className="px-4 py-2 whitespace-nowrap">{formatTime(m.since)}</td>
              <td className="space-x-2 px-4 py-2 text-right whitespace-nowrap">
                {canTouch && (
                  <>
                    <button type="button" className="btn-secondary" data-testid="member-reset" onClick={() => setPending({ kind: 'reset', userId: m.userId, email: m.email })}>
                      Reset password
                    </button>
                    <button type="button" className="btn-danger" data-testid="member-remove" onClick={() => setPending({ kind: 'remove', userId: m.userId, email: m.email })}>
                      Remove
                    </button>
                  </>
                )}
              </td>
            </tr>
          );
        })}
      </DataTable>

      {isAdmin && (
        <Section title="Invite someone">
          <Form onSubmit={() => invite.mutate({ teamId, role: inviteRole, expiresInHours: hours })} layout="row" testId="invite-create" submitLabel="Make a link" pendingLabel="Making…" pending={invite.isPending} error={invite.error?.message}>
            <label className="text-sm">
              <span className="label">Role</span>
              <select className="input" data-testid="invite-role" value={inviteRole} onChange={(e) => setInviteRole(e.target.value as Role)}>
                {grantable.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
            <label className="text-sm">
              <span className="label">Valid for (hours)</span>
              <input className="input w-24" type="number" min={1} max={720} value={hours} onChange={(e) => setHours(Number(e.target.value) || 1)} data-testid="invite-hours" />
            </label>
          </Form>
          {link && (
            <div className="mt-3 flex items-center gap-2">
              <input readOnly className="input font-mono text-xs" value={link} data-testid="invite-link" aria-label="Invitation link" />
              <button type="button" className="btn-secondary" onClick={() => navigator.clipboard?.writeText(link)}>
                Copy
              </button>
            </div>
          )}
          <p className="mt-2 text-xs text-slate-500">The link is shown once; it works for one person, until it expires.</p>
          <DataTable testId="invitations-table" columns={['Role', 'Expires', 'Made by', '']} loading={invitations.isLoading} empty={invitations.data?.length === 0 ? 'No open invitations.' : null}>
            {invitations.data?.map((i) => (
              <tr key={i.id} data-testid="invitation-row">
                <td className="px-4 py-2">{i.role}</td>
                <td className="px-4 py-2">{formatTime(i.expiresAt)}</td>
                <td className="px-4 py-2">{i.createdBy ?? '—'}</td>
                <td className="px-4 py-2 text-right">
                  <button type="button" className="btn-secondary" data-testid="invitation-revoke" disabled={revoke.isPending} onClick={() => revoke.mutate({ invitationId: i.id })}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        </Section>
      )}

      <ConfirmDialog
        open={!!pending}
        title={pending?.kind === 'remove' ? `Remove ${pending.email}?` : `Reset the password of ${pending?.email}?`}
        confirmLabel={pending?.kind === 'remove' ? 'Remove' : 'Reset password'}
        onCancel={() => setPending(null)}
        onConfirm={async () => {
          const p = pending!;
          setPending(null);
          setNotice(null);
          if (p.kind === 'remove') await remove.mutateAsync({ teamId, userId: p.userId }).catch(() => {});
          else {
            const r = await reset.mutateAsync({ teamId, userId: p.userId }).catch(() => null);
            if (r) setNotice(`Temporary password for ${p.email}: ${r.temporaryPassword} — give it to them; they choose their own at their next sign-in. Their sessions have ended.`);
          }
        }}
      >
        {pending?.kind === 'remove' ? 'They lose access to this team’s hosts at once, open pages included.' : 'Their sessions end at once and they must choose a new password at their next sign-in.'}
      </ConfirmDialog>
      {isAdmin && !!teamId && <TeamAccessTokens teamId={teamId} />}
    </div>
  );
}
