// Who may do what. Roles are ordered: each one can do everything the ones below can.
export type Role = 'owner' | 'admin' | 'operator' | 'viewer';

export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin', 'owner'];

export function isRole(x: unknown): x is Role {
  return typeof x === 'string' && (ROLES as readonly string[]).includes(x);
}

export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/** True when `role` is `min` or above; an unknown role is worth nothing. */
export function hasRole(role: string | null | undefined, min: Role): boolean {
  return isRole(role) && roleRank(role) >= roleRank(min);
}

export type Access = 'none' | 'forbidden' | 'ok';

/**
 * A user without a membership in the host's team must not learn the host exists
 * ('none' → NOT_FOUND); a member with too small a role gets 'forbidden'.
 */
export function accessTo(memberRole: string | null | undefined, min: Role): Access {
  if (!memberRole) return 'none';
  return hasRole(memberRole, min) ? 'ok' : 'forbidden';
}
