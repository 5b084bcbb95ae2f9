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
  // The header's switcher picks the team; this page shows that one.
  const teamId = me.data?.currentTeamId ?? '';
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
  const hosts = trpc.hosts.list.useQuery(undefined, { enabled: isAdmin });
  const grantable = ROLES.filter((r) => roleRank(r) <= roleRank(myRole));
  const link = invite.data ? `${typeof window === 'undefined' ? '' : window.location.origin}${invite.data.path}` : null;

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-end gap-4">
        <div>
          <h1 className="text-xl font-semibold">Team</h1>
          <p className="text-sm text-slate-600" data-testid="team-name">
            {me.data?.teams.find((t) => t.id === teamId)?.name ?? ''}: members, their roles and hosts, and invitation links.
          </p>
        </div>
      </div>
      <ErrorText testId="team-error">{members.error?.message ?? setRole.error?.message ?? remove.error?.message ?? reset.error?.message}</ErrorText>
      <Notice testId="team-notice">{notice}</Notice>
      <DataTable testId="members-table" columns={['Name', 'Email', 'Role', 'Hosts', 'Member since', '']} loading={members.isLoading} empty={members.data?.members.length === 0 ? 'Nobody.' : null}>
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
              <td className="px-4 py-2">
                <MemberHosts teamId={teamId} member={m} editable={canTouch && !hasRole(m.role as Role, 'admin')} hosts={hosts.data ?? []} onSaved={refresh} />
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

      {isAdmin && <HostMoves teamId={teamId} hosts={hosts.data ?? []} teams={(me.data?.teams ?? []).filter((t) => t.id !== teamId && hasRole(t.role as Role, 'admin'))} />}
      {myRole === 'owner' && <OwnerActions teamId={teamId} teamName={me.data?.teams.find((t) => t.id === teamId)?.name ?? ''} members={(members.data?.members ?? []).filter((m) => !m.me)} />}
      <NewTeam />

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

type MemberRow = { userId: string; email: string; role: string; hostIds?: string[] | null };
type HostRow = { id: string; name: string };

/** "All hosts", or the few a narrowed member sees; admins edit it with a checkbox per host. */
function MemberHosts({ teamId, member, editable, hosts, onSaved }: { teamId: string; member: MemberRow; editable: boolean; hosts: HostRow[]; onSaved: () => unknown }) {
  const [editing, setEditing] = useState<Set<string> | null>(null);
  const save = trpc.team.setHosts.useMutation({ onSuccess: () => (setEditing(null), onSaved()) });
  const names = member.hostIds?.map((id) => hosts.find((h) => h.id === id)?.name ?? id);
  // undefined: not told (only admins see everyone's hosts).
  const summary = member.hostIds === undefined ? '—' : member.hostIds === null ? 'all hosts' : names!.length ? names!.join(', ') : 'no hosts';
  if (!editing)
    return (
      <span className="flex items-center gap-2">
        <span data-testid="member-hosts">{summary}</span>
        {editable && (
          // Until the team's hosts are in, "all hosts" would start the editor with none ticked.
          <button type="button" className="btn-secondary py-0.5 text-xs" data-testid="member-hosts-edit" disabled={!hosts.length} onClick={() => setEditing(new Set(member.hostIds ?? hosts.map((h) => h.id)))}>
            Choose
          </button>
        )}
      </span>
    );
  const toggle = (id: string) => setEditing((cur) => {
    const next = new Set(cur);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  });
  return (
    <div className="space-y-1" data-testid="member-hosts-editor">
      {hosts.map((h) => (
        <label key={h.id} className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={editing.has(h.id)} onChange={() => toggle(h.id)} data-testid="member-host-option" data-host={h.name} />
          {h.name}
        </label>
      ))}
      <div className="flex gap-2">
        <button type="button" className="btn-primary py-0.5 text-xs" data-testid="member-hosts-save" disabled={save.isPending} onClick={() => save.mutate({ teamId, userId: member.userId, hostIds: [...editing] })}>
          Only these
        </button>
        <button type="button" className="btn-secondary py-0.5 text-xs" data-testid="member-hosts-all" disabled={save.isPending} onClick={() => save.mutate({ teamId, userId: member.userId, hostIds: null })}>
          All hosts
        </button>
        <button type="button" className="btn-secondary py-0.5 text-xs" onClick={() => setEditing(null)}>
          Cancel
        </button>
      </div>
      <ErrorText testId="member-hosts-error">{save.error?.message}</ErrorText>
    </div>
  );
}

function HostMoves({ teamId, hosts, teams }: { teamId: string; hosts: HostRow[]; teams: Array<{ id: string; name: string }> }) {
  const utils = trpc.useUtils();
  const move = trpc.hosts.move.useMutation({ onSuccess: () => void Promise.all([utils.hosts.list.invalidate(), utils.hosts.overview.invalidate()]) });
  const [hostId, setHostId] = useState('');
  const [to, setTo] = useState('');
  if (!hosts.length || !teams.length) return null;
  return (
    <Section title="Move a host to another team">
      <Form onSubmit={() => move.mutate({ hostId, teamId: to })} layout="row" testId="host-move" submitLabel="Move" pendingLabel="Moving…" pending={move.isPending} canSubmit={!!hostId && !!to && !!teamId} error={move.error?.message}>
        <label className="text-sm">
          <span className="label">Host</span>
          <select className="input" value={hostId} onChange={(e) => setHostId(e.target.value)} data-testid="host-move-host">
            <option value="">—</option>
            {hosts.map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="label">To team (where you are admin)</span>
          <select className="input" value={to} onChange={(e) => setTo(e.target.value)} data-testid="host-move-team">
            <option value="">—</option>
            {teams.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
      </Form>
      <p className="mt-2 text-xs text-slate-500">This team’s members lose the host at once; the other team’s get it.</p>
    </Section>
  );
}

function OwnerActions({ teamId, teamName, members }: { teamId: string; teamName: string; members: MemberRow[] }) {
  const utils = trpc.useUtils();
  const done = () => utils.invalidate();
  const transfer = trpc.team.transferOwnership.useMutation({ onSuccess: done });
  const del = trpc.team.delete.useMutation({ onSuccess: done });
  const [to, setTo] = useState('');
  const [confirmName, setConfirmName] = useState('');
  return (
    <Section title="Owner">
      <Form onSubmit={() => transfer.mutate({ teamId, userId: to })} layout="row" testId="team-transfer" submitLabel="Make owner" pendingLabel="Transferring…" pending={transfer.isPending} canSubmit={!!to} error={transfer.error?.message}>
        <label className="text-sm">
          <span className="label">Transfer ownership to (you become admin)</span>
          <select className="input" value={to} onChange={(e) => setTo(e.target.value)} data-testid="team-transfer-to">
            <option value="">—</option>
            {members.map((m) => (
              <option key={m.userId} value={m.userId}>
                {m.email} ({m.role})
              </option>
            ))}
          </select>
        </label>
      </Form>
      <Form onSubmit={() => del.mutate({ teamId, confirmName })} layout="row" testId="team-delete" submitLabel="Delete team" pendingLabel="Deleting…" pending={del.isPending} canSubmit={confirmName === teamName} error={del.error?.message} className="mt-4">
        <label className="text-sm">
          <span className="label">Type {teamName} to delete it (refused while it has hosts)</span>
          <input className="input" value={confirmName} onChange={(e) => setConfirmName(e.target.value)} data-testid="team-delete-name" />
        </label>
      </Form>
    </Section>
  );
}

function NewTeam() {
  const utils = trpc.useUtils();
  const create = trpc.team.create.useMutation({ onSuccess: () => (setName(''), utils.invalidate()) });
  const [name, setName] = useState('');
  return (
    <Section title="New team">
      <Form onSubmit={() => create.mutate({ name })} layout="row" testId="team-create" submitLabel="Create" pendingLabel="Creating…" pending={create.isPending} canSubmit={!!name.trim()} error={create.error?.message}>
        <label className="text-sm">
          <span className="label">Name</span>
          <input className="input" value={name} onChange={(e) => setName(e.target.value)} data-testid="team-create-name" />
        </label>
      </Form>
      <p className="mt-2 text-xs text-slate-500">You will be its owner, and the header switches to it.</p>
    </Section>
  );
}
