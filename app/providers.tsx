'use client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { httpBatchLink } from '@trpc/client';
import { SessionProvider } from 'next-auth/react';
import { useState, type ReactNode } from 'react';
import superjson from 'superjson';
import { AuthGate } from './components/auth-gate';
import { trpc } from './lib/trpc';

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () =>
      new QueryClient({
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
      }),
  );
  const [trpcClient] = useState(() =>
    trpc.createClient({
      links: [httpBatchLink({ url: '/api/trpc', transformer: superjson })],
    }),
  );

  return (
    <SessionProvider refetchOnWindowFocus={false}>
      <trpc.Provider client={trpcClient} queryClient={queryClient}>
        <QueryClientProvider client={queryClient}>
          <AuthGate>{children}</AuthGate>
        </QueryClientProvider>
      </trpc.Provider>
    </SessionProvider>
  );
}
