'use client';
import Link from 'next/link';
import { trpc } from '../lib/trpc';

/** The header's link to the Alerts page with the number of open alerts (looked at again every 15 s). */
export function AlertsBadge() {
  const open = trpc.alerts.openCount.useQuery(undefined, { refetchInterval: 15_000 });
  const n = open.data?.count ?? 0;
  return (
    <Link
      href="/alerts"
      className="flex shrink-0 items-center gap-1.5 text-slate-300 hover:text-white"
      data-testid="alerts-badge"
      data-count={n}
      aria-label={`Alerts: ${n} open`}
      title={n ? `${n} open alert${n === 1 ? '' : 's'}` : 'No open alerts'}
    >
      {/* On a phone the count alone: the word would push Sign out off the screen. */}
      <span className="hidden sm:inline">Alerts</span>
      <span className={`min-w-5 rounded-full px-1.5 text-center text-xs font-semibold ${n ? 'bg-rose-500 text-white' : 'bg-slate-700 text-slate-300'}`}>{n}</span>
    </Link>
  );
}
