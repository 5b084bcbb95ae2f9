// Where a visitor belongs, from auth.status alone (pure, so it is unit-tested).

export const PUBLIC_PATHS = ['/login', '/setup'];

/** Where a signed-in user who is in no team lands (e.g. provisioned by OpenID Connect with no group mapped). */
export const NO_TEAM_PATH = '/no-team';

/** Where a visitor of `path` belongs, or null when they may stay. */
export function redirectFor(path: string, status: { needsSetup: boolean; signedIn: boolean; mustChangePassword?: boolean; role?: string | null }): string | null {
  if (status.needsSetup) return path === '/setup' ? null : '/setup';
  // An invitation link is for the signed in and the signed out alike.
  if (path.startsWith('/invite/')) return null;
  // After an admin's reset nothing works until the user has chosen a password of their own.
  if (status.signedIn && status.mustChangePassword) return path === '/account' ? null : '/account';
  if (path === '/setup') return status.signedIn ? '/' : '/login';
  if (!status.signedIn) return path === '/login' ? null : '/login';
  if (path === '/login') return '/';
  // role is null (not absent) when auth.status says the user is in no team: the hosts list would be an error.
  if (path === '/' && status.role === null) return NO_TEAM_PATH;
  if (path === NO_TEAM_PATH && status.role) return '/';
  return null;
}
