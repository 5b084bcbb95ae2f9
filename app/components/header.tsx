'use client';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { signOut, useSession } from 'next-auth/react';
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { hasRole } from '../../protocol/roles';
import { useSocket } from '../lib/socket';
import { trpc } from '../lib/trpc';
import { useRole } from '../lib/use-role';
import { TeamSwitcher } from './team-switcher';
import { AlertsBadge } from '../alerts/badge';
import { ThemeSwitcher } from './theme-switcher';

export function Header() {
  const { data: session } = useSession();
  const { connected } = useSocket();
  const router = useRouter();
  const path = usePathname() ?? '/';
  const queryClient = useQueryClient();
  const [leaving, setLeaving] = useState(false);
  // Join tokens and the audit log are for admins and owners; the server refuses them to everyone else.
  const isAdmin = hasRole(useRole(), 'admin');
  const signOutHere = trpc.account.signOut.useMutation();

  // No redirect from next-auth: its callback URL is built from NEXTAUTH_URL, which
  // may name another host than the one in the address bar.
  async function onSignOut() {
    setLeaving(true);
    // The session's row first: a copy of the cookie must not outlive the sign-out.
    await signOutHere.mutateAsync().catch(() => {});
    await signOut({ redirect: false });
    queryClient.clear();
    router.replace('/login');
  }

  const nav = [
    { href: '/', label: 'Hosts', active: path === '/' || (path.startsWith('/hosts/') && path !== '/hosts/new' && !path.endsWith('/images') && !path.endsWith('/logs')) },
    { href: '/containers', label: 'Containers', active: path === '/containers' },
    { href: '/logs', label: 'Logs', active: path === '/logs' || (path.startsWith('/hosts/') && path.endsWith('/logs')) },
    { href: '/images', label: 'Images', active: path === '/images' || (path.startsWith('/hosts/') && path.endsWith('/images')) },
    { href: '/resources', label: 'Volumes & networks', active: path === '/resources' },
    { href: '/team', label: 'Team', active: path === '/team' },
    ...(isAdmin
      ? [
          { href: '/hosts/new', label: 'Add host', active: path === '/hosts/new' },
          { href: '/registries', label: 'Registries', active: path === '/registries' },
          { href: '/audit', label: 'Audit log', active: path === '/audit' },
        ]
      : []),
    // On a phone the header has no room for the account link and the theme switch; the
    // account page has both (and the password and sessions).
    { href: '/account', label: 'Account', active: path === '/account', phoneOnly: true },
  ];

  return (
    <header className="border-b border-slate-800 bg-slate-900 text-slate-100">
      <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-1 px-4 py-2 sm:px-6 2xl:h-14 2xl:flex-nowrap 2xl:py-0">
        <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
          <span aria-hidden className="grid h-7 w-7 place-items-center rounded bg-sky-500 text-sm font-bold text-white">
            B
          </span>
          Berth
        </Link>
        <nav className="order-last -mx-1 flex w-full gap-1 overflow-x-auto text-sm whitespace-nowrap 2xl:order-none 2xl:mx-0 2xl:w-auto" aria-label="Main">
          {nav.map((n) => (
            <Link
              key={n.href}
              href={n.href}
              className={`rounded px-3 py-1.5 ${'phoneOnly' in n ? 'sm:hidden' : ''} ${n.active ? 'bg-slate-700 text-white' : 'text-slate-300 hover:bg-slate-800 hover:text-white'}`}
            >
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="ml-auto flex min-w-0 items-center gap-3 text-sm sm:gap-4">
          <AlertsBadge />
          <TeamSwitcher />
          <span
            className={`flex items-center gap-1.5 text-xs ${connected ? 'text-emerald-300' : 'text-amber-300'}`}
            data-testid="live-indicator"
            title={connected ? 'Live updates connected' : 'Live updates reconnecting'}
          >
            <span className={`h-2 w-2 rounded-full ${connected ? 'bg-emerald-400' : 'bg-amber-400'}`} />
            <span className="hidden sm:inline">{connected ? 'live' : 'reconnecting'}</span>
          </span>
          <Link href="/account" className="hidden max-w-[12rem] truncate text-slate-300 hover:text-white sm:inline" data-testid="current-user" title="Account: password and sessions">
            {session?.user?.name || session?.user?.email || ''}
          </Link>
          <ThemeSwitcher className="hidden sm:block" />
          <button
            type="button"
            onClick={onSignOut}
            disabled={leaving}
            className="shrink-0 rounded border border-slate-600 px-3 py-1 whitespace-nowrap text-slate-200 hover:bg-slate-800 disabled:opacity-50"
          >
            Sign out
          </button>
        </div>
      </div>
    </header>
  );
}
