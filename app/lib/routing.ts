// Where a visitor belongs, from auth.status alone (pure, so it is unit-tested).

export const PUBLIC_PATHS = ['/login', '/setup'];

/** Where a visitor of `path` belongs, or null when they may stay. */
export function redirectFor(path: string, status: { needsSetup: boolean; signedIn: boolean; mustChangePassword?: boolean }): string | null {
  if (status.needsSetup) return path === '/setup' ? null : '/setup';
  // An invitation link is for the signed in and the signed out alike.
  if (path.startsWith('/invite/')) return null;
  // After an admin's reset nothing works until the user has chosen a password of their own.
  if (status.signedIn && status.mustChangePassword) return path === '/account' ? null : '/account';
  if (path === '/setup') return status.signedIn ? '/' : '/login';
  if (!status.signedIn) return path === '/login' ? null : '/login';
  if (path === '/login') return '/';
  return null;
}
