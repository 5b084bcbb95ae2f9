import type { Metadata, Viewport } from 'next';
import type { ReactNode } from 'react';
import './globals.css';
import { Providers } from './providers';

// Every page is rendered per request: the Content-Security-Policy carries a fresh nonce
// each time (server/http/security-headers.ts), and a page built ahead of time would
// have scripts without it, which the browser refuses.
export const dynamic = 'force-dynamic';

export const metadata: Metadata = {
  title: 'Berth',
  description: 'Containers on your fleet of Linux hosts',
  icons: { icon: { url: '/icon.svg', type: 'image/svg+xml' } },
  manifest: '/manifest.webmanifest',
  // A private dashboard; public/robots.txt says the same to crawlers that ask first.
  robots: { index: false, follow: false },
};

export const viewport: Viewport = {
  themeColor: '#0ea5e9',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-full font-sans">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
