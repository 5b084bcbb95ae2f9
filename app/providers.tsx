'use client';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { httpBatchLink } from '@trpc/client';
import { SessionProvider } from 'next-auth/react';
import { useState, type ReactNode } from 'react';
import superjson from 'superjson';
import { AuthGate } from './components/auth-gate';
import { RouteTitle } from './components/route-title';
import { trpc } from './lib/trpc';

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(() => {
    // An expired session shows up as UNAUTHORIZED on any call: asking auth.status
    // again lets the gate send the user to the sign-in page.
    const onError = (err: unknown) => {
      if ((err as { data?: { code?: string } } | null)?.data?.code === 'UNAUTHORIZED') {
        void client.invalidateQueries({ queryKey: [['auth', 'status']] });
      }
    };
    const client: QueryClient = new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: {
        queries: {
          // Live data comes over the socket; polling on focus would only add noise.
          refetchOnWindowFocus: false,
          // A 4xx will not get better by asking again.
          retry: (count, err) => {
            const code = (err as { data?: { httpStatus?: number } } | null)?.data?.httpStatus;
            return count < 2 && (code === undefined || code >= 500);
          },
        },
      },
    });
    return client;
  });
  const [trpcClient] = useState(() =>
    trpc.createClient({
      links: [httpBatchLink({ url: '/api/trpc', transformer: superjson })],
    }),
  );

  return (
    <SessionProvider refetchOnWindowFocus={false}>
      <trpc.Provider client={trpcClient} queryClient={queryClient}>
        <QueryClientProvider client={queryClient}>
          <RouteTitle />
          <AuthGate>{children}</AuthGate>
        </QueryClientProvider>
      </trpc.Provider>
    </SessionProvider>
  );
}
