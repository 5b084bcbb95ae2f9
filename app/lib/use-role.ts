'use client';
import type { Role } from '../../protocol/ui-socket';
import { trpc } from './trpc';

/**
 * The user's role in the current team, as auth.status reports it: undefined while
 * loading, null without a team. Same query (and cache) as the AuthGate's.
 */
export function useRole(): Role | null | undefined {
  const status = trpc.auth.status.useQuery(undefined, { staleTime: 5_000 });
  return status.data?.role;
}
