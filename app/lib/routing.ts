// Where a visitor belongs, from auth.status alone (pure, so it is unit-tested).

export const PUBLIC_PATHS = ['/login', '/setup'];

/** Where a visitor of `path` belongs, or null when they may stay. */
export function redirectFor(path: string, status: { needsSetup: boolean; signedIn: boolean }): string | null {
  if (status.needsSetup) return path === '/setup' ? null : '/setup';
  if (path === '/setup') return status.signedIn ? '/' : '/login';
  if (!status.signedIn) return path === '/login' ? null : '/login';
  if (path === '/login') return '/';
  return null;
}
