'use client';
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, type ReactNode } from 'react';
import { trpc } from '../lib/trpc';
import { PUBLIC_PATHS, redirectFor } from '../lib/routing';
import { SocketProvider } from '../lib/socket';
import { Header } from './header';

/**
 * Sends everyone where they belong (setup first, then sign-in) and wraps signed-in
 * pages in the header and the live socket. The server checks every call anyway;
 * this only keeps people from landing on pages that would fail.
 */
export function AuthGate({ children }: { children: ReactNode }) {
  const path = usePathname() ?? '/';
  const router = useRouter();
  const status = trpc.auth.status.useQuery(undefined, { staleTime: 5_000 });
  const target = status.data ? redirectFor(path, status.data) : null;

  useEffect(() => {
    if (target) router.replace(target);
  }, [target, router]);

  if (status.error) {
    return (
      <Centered>
        <div role="alert" className="rounded-lg border border-red-200 bg-white p-6 text-sm shadow-sm">
          <p className="font-medium text-red-700">Cannot reach the Berth server.</p>
          <p className="mt-1 text-slate-600">{status.error.message}</p>
          <button className="btn-secondary mt-4" onClick={() => status.refetch()}>
            Try again
          </button>
        </div>
      </Centered>
    );
  }
  if (!status.data || target) {
    return (
      <Centered>
        <p className="text-sm text-slate-500" data-testid="loading">
          Loading…
        </p>
      </Centered>
    );
  }
  if (PUBLIC_PATHS.includes(path) || (path.startsWith('/invite/') && !status.data.signedIn)) return <Centered>{children}</Centered>;

  return (
    <SocketProvider enabled={status.data.signedIn}>
      <Header />
      <main className="mx-auto max-w-7xl px-4 py-6 sm:px-6">{children}</main>
    </SocketProvider>
  );
}

function Centered({ children }: { children: ReactNode }) {
  return <div className="flex min-h-screen items-center justify-center px-4">{children}</div>;
}
