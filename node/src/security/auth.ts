// API-key authentication. The key is compared in constant time and never logged. A node that
// binds to anything but loopback must have a key (main.ts refuses to start otherwise).
import { createHash, timingSafeEqual } from 'node:crypto';
import { JadeError } from '../util/errors.js';

export interface AuthConfig {
  /** When null, requests are not authenticated (only allowed on loopback). */
  apiKey: string | null;
  /** Paths served without a key: liveness and readiness probes. */
  publicPaths: readonly string[];
}

export const API_KEY_LENGTH_MIN = 16;

/** `Bearer <token>`: the scheme is case-insensitive, followed by one or more spaces (RFC 9110 §11.1, RFC 6750 §2.1). */
const BEARER_RE = /^bearer +(.*)$/i;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export class Authenticator {
  private readonly keyDigest: Buffer | null;

  constructor(private readonly config: AuthConfig) {
    this.keyDigest = config.apiKey === null ? null : digest(config.apiKey);
  }

  get enabled(): boolean {
    return this.keyDigest !== null;
  }

  /** Accepts `api-key: KEY` (Qdrant's header) or `Authorization: Bearer KEY` (the scheme in any case, RFC 9110 §11.1). */
  check(path: string, headers: Record<string, string | string[] | undefined>): void {
    if (this.keyDigest === null) return;
    const bare = path.split('?')[0];
    if (this.config.publicPaths.includes(bare)) return;
    let presented = headers['api-key'];
    if (Array.isArray(presented)) presented = presented[0];
    if (presented === undefined) {
      const auth = headers.authorization;
      const value = Array.isArray(auth) ? auth[0] : auth;
      const bearer = value === undefined ? null : BEARER_RE.exec(value);
      if (bearer) presented = bearer[1];
    }
    if (presented === undefined) throw new JadeError('JADE_ERR_UNAUTHENTICATED', 'missing API key: send the "api-key" header or "Authorization: Bearer <key>"');
    // Compare digests so the comparison time depends on neither key's length nor content.
    if (!timingSafeEqual(digest(presented), this.keyDigest)) throw new JadeError('JADE_ERR_UNAUTHENTICATED', 'invalid API key');
  }
}
