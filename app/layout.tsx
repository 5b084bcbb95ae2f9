import type { Metadata, Viewport } from 'next';
import { headers } from 'next/headers';
import type { ReactNode } from 'react';
import './globals.css';
import { THEME_BOOT_SCRIPT } from './lib/theme';
import { Providers } from './providers';

// Every page is rendered per request: the Content-Security-Policy carries a fresh nonce
// each time (server/http/security-headers.ts), and a page built ahead of time would
// have scripts without it, which the browser refuses.
export const dynamic = 'force-dynamic';

// No title here: each page's <title> comes from RouteTitle (app/components/route-title.tsx),
// which knows host and container names; a second <title> from metadata would win over it.
export const metadata: Metadata = {
  description: 'Containers on your fleet of Linux hosts',
  icons: { icon: { url: '/icon.svg', type: 'image/svg+xml' } },
  manifest: '/manifest.webmanifest',
  // A private dashboard; public/robots.txt says the same to crawlers that ask first.
  robots: { index: false, follow: false },
};

export const viewport: Viewport = {
  themeColor: [
    { media: '(prefers-color-scheme: light)', color: '#0ea5e9' },
    { media: '(prefers-color-scheme: dark)', color: '#0f172a' },
  ],
};

export default async function RootLayout({ children }: { children: ReactNode }) {
  // The nonce Next puts on its own scripts, from the CSP the custom server set on the request.
  const csp = (await headers()).get('content-security-policy') ?? '';
  const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
  return (
    // The boot script sets data-theme on <html> before React hydrates it.
    <html lang="en" suppressHydrationWarning>
      <head>
        <script nonce={nonce} suppressHydrationWarning dangerouslySetInnerHTML={{ __html: THEME_BOOT_SCRIPT }} />
      </head>
      <body className="min-h-full font-sans">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
