import type { NextConfig } from 'next';

// These load native addons or keep process-wide state, so route handlers must
// require them from node_modules at run time instead of bundling a copy.
const nextConfig: NextConfig = {
  serverExternalPackages: ['better-sqlite3', '@prisma/adapter-better-sqlite3', '@prisma/client', 'socket.io', 'pg'],
  // The server is a custom one (server/main.ts); Next must not print its own banner
  // or try to reach the network at build time.
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
