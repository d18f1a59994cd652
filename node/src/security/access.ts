// Who may do what: roles, the principal a request authenticated as, and the one decision
// (allowed or a coded 403). Modelled on Qdrant's JWT RBAC: its global "m" is our admin, its "r"
// our read, its per-collection "r"/"rw" our read/write limited to named collections. Manage
// (admin) is always global, as Qdrant's "m" is.
import { JadeError } from '../util/errors.js';

export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { read: 0, write: 1, admin: 2 };

/** Per-key overrides of the node's request limits (keys file); absent fields use the node's. */
export interface KeyLimitOverrides {
  requestsPerSecondMax?: number;
  requestsBurstMax?: number;
  requestsInFlightMax?: number;
}

export interface Principal {
  /** Names the key in logs, audit lines and limits; never the key or token itself. */
  readonly id: string;
  readonly kind: 'key' | 'jwt' | 'anonymous';
  /** The role on the node and every collection, or null when limited to `collections`. */
  readonly global: Role | null;
  /** When global is null: the role on each named collection (nothing else is reachable). */
  readonly collections: ReadonlyMap<string, Role> | null;
  readonly limits?: KeyLimitOverrides;
}

/** What a request needs: a role on the node (collection null), or on one collection (already alias-resolved). */
export interface Requirement {
  level: Role;
  collection: string | null;
}

/** The request is authenticated but not allowed: 403 with a machine-readable reason. */
function forbidden(reason: 'ROLE_TOO_LOW' | 'COLLECTION_NOT_GRANTED' | 'NODE_ACCESS_REQUIRED', message: string): never {
  throw new JadeError('JADE_ERR_FORBIDDEN', message, { reason });
}

/** The principal's role on a collection, or null when it may not touch it. */
export function roleOn(p: Principal, collection: string): Role | null {
  return p.global ?? p.collections?.get(collection) ?? null;
}

export function atLeast(role: Role | null, level: Role): boolean {
  return role !== null && RANK[role] >= RANK[level];
}

/** Throws JADE_ERR_FORBIDDEN unless the principal meets the requirement. */
export function authorize(p: Principal, need: Requirement): void {
  // Managing (create, delete, aliases, cluster, backups) needs the global admin role even when
  // the route names a collection: a collection-limited key never manages (Qdrant's "m" is global).
  if (need.collection === null || need.level === 'admin') {
    if (p.global === null) forbidden('NODE_ACCESS_REQUIRED', `key "${p.id}" is limited to named collections; this operation needs a ${need.level} key for the whole node`);
    if (!atLeast(p.global, need.level)) forbidden('ROLE_TOO_LOW', `key "${p.id}" has role ${p.global}; this operation needs ${need.level}`);
    return;
  }
  const role = roleOn(p, need.collection);
  if (role === null) forbidden('COLLECTION_NOT_GRANTED', `key "${p.id}" may not access collection "${need.collection}"`);
  if (!atLeast(role, need.level)) forbidden('ROLE_TOO_LOW', `key "${p.id}" has role ${role} on collection "${need.collection}"; this operation needs ${need.level}`);
}

/** The names a principal may read, out of `names` (list answers show only these). */
export function visible(p: Principal, names: readonly string[]): string[] {
  return p.global !== null ? [...names] : names.filter((n) => p.collections?.has(n));
}

/** Auth off (loopback only): every request acts as this. */
export const ANONYMOUS: Principal = { id: 'anonymous', kind: 'anonymous', global: 'admin', collections: null };
