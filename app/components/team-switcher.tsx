'use client';
import { useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { trpc } from '../lib/trpc';

/** The header's team menu: the team this browser works in; every list on every page follows it. */
export function TeamSwitcher() {
  const me = trpc.account.me.useQuery(undefined, { staleTime: 5_000 });
  const queryClient = useQueryClient();
  const router = useRouter();
  const change = trpc.team.switch.useMutation({
    // Everything on screen was of the other team.
    onSuccess: () => queryClient.invalidateQueries(),
  });
  const teams = me.data?.teams ?? [];
  if (!teams.length) return null;
  return (
    <label className="flex items-center gap-2 text-xs text-slate-300">
      <span className="sr-only sm:not-sr-only">Team</span>
      <select
        aria-label="Current team"
        data-testid="team-switcher"
        className="rounded border border-slate-600 bg-slate-800 px-2 py-1 text-sm text-slate-100"
        value={me.data?.currentTeamId ?? ''}
        disabled={change.isPending}
        onChange={(e) => {
          // The Team page's New team form.
          if (e.target.value === '__new') return router.push('/team');
          change.mutate({ teamId: e.target.value });
        }}
      >
        {teams.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name} ({t.role})
          </option>
        ))}
        <option value="__new">New team…</option>
      </select>
    </label>
  );
}
