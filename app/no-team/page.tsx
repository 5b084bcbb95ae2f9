'use client';
import Link from 'next/link';
import { trpc } from '../lib/trpc';

/** A signed-in user in no team: what they can do about it, instead of a hosts list that would only say "forbidden". */
export default function NoTeamPage() {
  const me = trpc.account.me.useQuery();
  return (
    <div className="mx-auto max-w-xl space-y-4" data-testid="no-team">
      <h1 className="text-xl font-semibold">You are not in any team yet</h1>
      <p className="text-sm text-slate-700">
        {me.data ? `Signed in as ${me.data.name} (${me.data.email}). ` : ''}
        Ask an admin of the team you work with for an invitation; open the link they send you while signed in, and the team is added to this account.
      </p>
      <p className="text-sm text-slate-600">
        Or make a team of your own on the{' '}
        <Link href="/team" className="text-sky-700 underline">
          Team page
        </Link>
        ; your <Link href="/account" className="text-sky-700 underline">account page</Link> has your sessions.
      </p>
    </div>
  );
}
