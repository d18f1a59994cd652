// Authentication: who a request is. API keys (JADE_API_KEY, the admin key, and the keys file's
// keys with roles) and, with a JWT secret, Qdrant-style JWTs (HS256, `exp`, `access`). Keys are
// kept only as SHA-256 digests and never logged; a key is named by its id. A node that binds to
// anything but loopback must have some authentication (main.ts refuses to start otherwise).
import { createHash } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { JadeError } from '../util/errors.js';
import { ANONYMOUS, type Principal, type Role } from './access.js';
import { API_KEY_LENGTH_MIN, AccessFileError, readJwtSecretFile, readKeysFile, sha256Of, type ApiKeyRecord } from './keys-file.js';

export { API_KEY_LENGTH_MIN };

export interface AuthConfig {
  /** JADE_API_KEY: the admin key (id ENV_ADMIN_KEY_ID). When it, keys and jwtSecret are all absent, requests are not authenticated (loopback only). */
  apiKey: string | null;
  /** Paths served without a key: liveness and readiness probes. */
  publicPaths: readonly string[];
  /** The keys file's keys. */
  keys?: readonly ApiKeyRecord[];
  /** HS256 secret of JWTs (JADE_JWT_SECRET_FILE); null or absent = JWTs are not accepted. */
  jwtSecret?: Uint8Array | null;
}

/** The id JADE_API_KEY is known by in logs and audit lines (file ids cannot contain ':'). */
export const ENV_ADMIN_KEY_ID = 'env:JADE_API_KEY';

/** A token's `exp`/`nbf` may be off by this much (clock skew between issuer and node). */
export const JWT_CLOCK_TOLERANCE_SECONDS = 5;

/** `Bearer <token>`: the scheme is case-insensitive, followed by one or more spaces (RFC 9110 §11.1, RFC 6750 §2.1). */
const BEARER_RE = /^bearer +(.*)$/i;
/** A JWS in compact form: three base64url parts. */
const JWS_COMPACT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** A `sub` that names the token in logs and limits: printable ASCII without spaces (e-mail addresses, UUIDs, paths). */
const JWT_SUB_RE = /^[\x21-\x7e]{1,128}$/;
/** Qdrant's access modes: global "r" / "m", per collection "r" / "rw"; global "rw" is our extension (write on every collection). */
const ACCESS_MODE: Record<string, Role> = { r: 'read', rw: 'write', m: 'admin' };

type Unauthenticated = 'MISSING_CREDENTIALS' | 'INVALID_KEY' | 'INVALID_TOKEN' | 'TOKEN_EXPIRED' | 'UNSUPPORTED_CLAIM';

function unauthenticated(reason: Unauthenticated, message: string): never {
  throw new JadeError('JADE_ERR_UNAUTHENTICATED', message, { reason });
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The credential a request presents: `api-key: X` (Qdrant's header) or `Authorization: Bearer X`. */
export function presentedCredential(headers: Record<string, string | string[] | undefined>): string | undefined {
  let presented = headers['api-key'];
  if (Array.isArray(presented)) presented = presented[0];
  if (presented !== undefined) return presented;
  const auth = headers.authorization;
  const value = Array.isArray(auth) ? auth[0] : auth;
  const bearer = value === undefined ? null : BEARER_RE.exec(value);
  return bearer ? bearer[1] : undefined;
}

function principalOfRecord(k: ApiKeyRecord): Principal {
  return {
    id: k.id,
    kind: 'key',
    global: k.collections === null ? k.role : null,
    collections: k.collections === null ? null : new Map(k.collections.map((c) => [c, k.role])),
    limits: k.limits,
  };
}

/** Qdrant's `access` claim: "r" | "m" (| "rw"), or [{collection, access: "r" | "rw"}]. */
function accessOfClaim(raw: unknown): Pick<Principal, 'global' | 'collections'> {
  if (typeof raw === 'string') {
    const role = ACCESS_MODE[raw];
    if (!role) unauthenticated('INVALID_TOKEN', `JWT claim "access" must be "r", "rw" or "m", or a list of {collection, access}`);
    return { global: role, collections: null };
  }
  if (!Array.isArray(raw)) unauthenticated('INVALID_TOKEN', 'JWT claim "access" is missing: give "r", "rw", "m" or a list of {collection, access}');
  const collections = new Map<string, Role>();
  for (const entry of raw as unknown[]) {
    const e = entry as Record<string, unknown> | null;
    if (e === null || typeof e !== 'object' || typeof e.collection !== 'string' || e.collection === '') unauthenticated('INVALID_TOKEN', 'JWT claim "access": each entry needs a collection name');
    // A payload constraint narrows a key to some points: refused rather than ignored (ignoring it would widen the token).
    if (e.payload !== undefined) unauthenticated('UNSUPPORTED_CLAIM', 'JWT claim "access": payload constraints are not supported');
    if (e.access !== 'r' && e.access !== 'rw') unauthenticated('INVALID_TOKEN', `JWT claim "access": collection "${e.collection}" needs access "r" or "rw"`);
    if (collections.has(e.collection)) unauthenticated('INVALID_TOKEN', `JWT claim "access": collection "${e.collection}" is listed twice`);
    collections.set(e.collection, ACCESS_MODE[e.access]);
  }
  return { global: null, collections };
}

export class Authenticator {
  /** SHA-256 (hex) of each key → its principal. */
  private readonly byDigest = new Map<string, Principal>();
  private readonly jwtSecret: Uint8Array | null;

  constructor(private readonly config: AuthConfig) {
    if (config.apiKey !== null) this.byDigest.set(sha256Of(config.apiKey).toString('hex'), { id: ENV_ADMIN_KEY_ID, kind: 'key', global: 'admin', collections: null });
    for (const k of config.keys ?? []) {
      const hex = k.sha256.toString('hex');
      if (this.byDigest.has(hex)) throw new AccessFileError(`key "${k.id}" of the keys file is the same key as ${this.byDigest.get(hex)!.id}`);
      this.byDigest.set(hex, principalOfRecord(k));
    }
    this.jwtSecret = config.jwtSecret ?? null;
  }

  get enabled(): boolean {
    return this.byDigest.size > 0 || this.jwtSecret !== null;
  }

  isPublic(path: string): boolean {
    return this.config.publicPaths.includes(path.split('?')[0]);
  }

  /**
   * The principal a request acts as, or ANONYMOUS when authentication is off; throws a coded 401
   * (status.reason: MISSING_CREDENTIALS, INVALID_KEY, INVALID_TOKEN, TOKEN_EXPIRED, UNSUPPORTED_CLAIM).
   */
  async authenticate(headers: Record<string, string | string[] | undefined>): Promise<Principal> {
    if (!this.enabled) return ANONYMOUS;
    const presented = presentedCredential(headers);
    if (presented === undefined) unauthenticated('MISSING_CREDENTIALS', 'missing API key: send the "api-key" header or "Authorization: Bearer <key>"');
    // A map lookup by digest leaks, through timing, at most something about the digest, which
    // does not help find a key (preimage resistance); keys are never compared directly.
    const byKey = this.byDigest.get(sha256Of(presented).toString('hex'));
    if (byKey) return byKey;
    if (this.jwtSecret !== null && JWS_COMPACT_RE.test(presented)) return this.verifyJwt(presented);
    unauthenticated('INVALID_KEY', 'invalid API key');
  }

  private async verifyJwt(token: string): Promise<Principal> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.jwtSecret!, { algorithms: ['HS256'], requiredClaims: ['exp'], clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) unauthenticated('TOKEN_EXPIRED', 'the JWT has expired');
      if (e instanceof joseErrors.JWTClaimValidationFailed) unauthenticated('INVALID_TOKEN', `invalid JWT: claim "${e.claim}" ${e.reason === 'missing' ? 'is missing' : 'does not hold'}`);
      unauthenticated('INVALID_TOKEN', 'invalid JWT (signature, algorithm or form)');
    }
    // Qdrant's value_exists makes a token valid only while some point exists: not supported, so refused.
    if (payload.value_exists !== undefined) unauthenticated('UNSUPPORTED_CLAIM', 'JWT claim "value_exists" is not supported');
    const access = accessOfClaim(payload.access);
    const sub = typeof payload.sub === 'string' && JWT_SUB_RE.test(payload.sub) ? payload.sub : null;
    // Without a usable `sub`, a digest prefix names the token: stable per token, and not the token.
    const id = `jwt:${sub ?? `sha256:${createHash('sha256').update(token).digest('hex').slice(0, 16)}`}`;
    return { id, kind: 'jwt', ...access };
  }
}

/**
 * The node's authenticator: JADE_API_KEY plus the keys file's keys and the JWT secret, both read
 * once at start; a file that cannot be used throws (the node does not start).
 */
export async function authenticatorOf(c: { apiKey: string | null; apiKeysFile: string | null; jwtSecretFile: string | null; publicPaths: readonly string[]; settings: { apiKeysFile: string; jwtSecretFile: string } }): Promise<Authenticator> {
  const keys = c.apiKeysFile === null ? [] : await readKeysFile(c.apiKeysFile, c.settings.apiKeysFile);
  const jwtSecret = c.jwtSecretFile === null ? null : await readJwtSecretFile(c.jwtSecretFile, c.settings.jwtSecretFile);
  return new Authenticator({ apiKey: c.apiKey, publicPaths: c.publicPaths, keys, jwtSecret });
}
