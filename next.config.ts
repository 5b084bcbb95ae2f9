import type { NextConfig } from 'next';

// These load native addons or keep process-wide state, so route handlers must
// require them from node_modules at run time instead of bundling a copy.
const nextConfig: NextConfig = {
  serverExternalPackages: ['better-sqlite3', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', 'pg', '@prisma/client', 'socket.io'],
  // The server is a custom one (server/main.ts); Next must not print its own banner
  // or try to reach the network at build time.
  poweredByHeader: false,
  reactStrictMode: true,
  // `npm run typecheck` is the type gate. next build would otherwise type-check the
  // whole repo (agent included, which Next never bundles) and refuse to build the
  // web app over an error in engine code, taking `npm start` down with it.
  typescript: { ignoreBuildErrors: true },
};

export default nextConfig;
