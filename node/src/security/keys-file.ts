// The API keys file (JADE_API_KEYS_FILE) and the JWT secret file (JADE_JWT_SECRET_FILE), read
// once at start. A file that cannot be used stops the node: a typo must not widen or drop access.
// Error messages name an entry by its index and id, never by its key.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ROLES, type KeyLimitOverrides, type Role } from './access.js';

export const KEY_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Shortest accepted API key (the same floor as JADE_API_KEY's). */
export const API_KEY_LENGTH_MIN = 16;
/** HS256 keys shorter than the hash output (32 bytes) weaken it (RFC 7518 §3.2). */
export const JWT_SECRET_BYTES_MIN = 32;
const COLLECTION_NAME_LENGTH_MAX = 255;
const FIELDS = ['id', 'key', 'sha256', 'role', 'collections', 'requests_per_second_max', 'requests_burst_max', 'requests_in_flight_max'] as const;

export interface ApiKeyRecord {
  id: string;
  /** SHA-256 of the key: the key itself is not kept once hashed. */
  sha256: Buffer;
  role: Role;
  /** null = every collection. */
  collections: string[] | null;
  limits: KeyLimitOverrides;
}

export class AccessFileError extends Error {}

export function sha256Of(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function fail(setting: string, message: string): never {
  throw new AccessFileError(`${setting}: ${message}`);
}

function limitField(setting: string, where: string, raw: unknown, name: string): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > 1_000_000) fail(setting, `${where}: ${name} must be an integer in 0..1000000`);
  return raw;
}

/** Parses the keys file's text: a JSON array of {id, key | sha256, role, collections?, limits?}. */
export function parseKeysFile(text: string, setting = 'JADE_API_KEYS_FILE'): ApiKeyRecord[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // JSON.parse's message may quote the file's text, keys included: give only the position.
    const at = /position \d+/.exec((e as Error).message)?.[0];
    fail(setting, `not valid JSON${at ? ` (at ${at})` : ''}`);
  }
  if (!Array.isArray(raw) || raw.length === 0) fail(setting, 'must be a non-empty JSON array of keys');
  const ids = new Set<string>();
  const digests = new Set<string>();
  return raw.map((entry: unknown, i): ApiKeyRecord => {
    let where = `entry ${i}`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) fail(setting, `${where} must be an object`);
    const e = entry as Record<string, unknown>;
    if (typeof e.id !== 'string' || !KEY_ID_RE.test(e.id)) fail(setting, `${where}: id must be 1-64 of letters, digits, _ . -`);
    where = `entry ${i} (id "${e.id}")`;
    if (ids.has(e.id)) fail(setting, `${where}: the id is used twice`);
    ids.add(e.id);
    // An unknown field (a misspelt "collection", say) would otherwise silently widen the key.
    const unknown = Object.keys(e).filter((k) => !(FIELDS as readonly string[]).includes(k));
    if (unknown.length > 0) fail(setting, `${where}: unknown field(s) ${unknown.join(', ')}`);
    if ((e.key === undefined) === (e.sha256 === undefined)) fail(setting, `${where}: give exactly one of key and sha256`);
    let digest: Buffer;
    if (e.key !== undefined) {
      if (typeof e.key !== 'string' || e.key.length < API_KEY_LENGTH_MIN) fail(setting, `${where}: key must be a string of at least ${API_KEY_LENGTH_MIN} characters`);
      digest = sha256Of(e.key);
    } else {
      if (typeof e.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.sha256)) fail(setting, `${where}: sha256 must be 64 hex digits (sha256sum of the key)`);
      digest = Buffer.from(e.sha256, 'hex');
    }
    const hex = digest.toString('hex');
    if (digests.has(hex)) fail(setting, `${where}: the same key as an earlier entry`);
    digests.add(hex);
    if (typeof e.role !== 'string' || !(ROLES as readonly string[]).includes(e.role)) fail(setting, `${where}: role must be one of ${ROLES.join(', ')}`);
    const role = e.role as Role;
    let collections: string[] | null = null;
    if (e.collections !== undefined) {
      if (role === 'admin') fail(setting, `${where}: an admin key manages the whole node and cannot be limited to collections (use write or read)`);
      if (!Array.isArray(e.collections) || e.collections.length === 0 || !e.collections.every((c) => typeof c === 'string' && c.length > 0 && c.length <= COLLECTION_NAME_LENGTH_MAX)) {
        fail(setting, `${where}: collections must be a non-empty array of collection names`);
      }
      collections = [...new Set(e.collections as string[])];
    }
    return {
      id: e.id,
      sha256: digest,
      role,
      collections,
      limits: {
        requestsPerSecondMax: limitField(setting, where, e.requests_per_second_max, 'requests_per_second_max'),
        requestsBurstMax: limitField(setting, where, e.requests_burst_max, 'requests_burst_max'),
        requestsInFlightMax: limitField(setting, where, e.requests_in_flight_max, 'requests_in_flight_max'),
      },
    };
  });
}

export async function readKeysFile(file: string, setting = 'JADE_API_KEYS_FILE'): Promise<ApiKeyRecord[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    fail(setting, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseKeysFile(text, setting);
}

/** The HS256 secret: the file's bytes, without a trailing newline (as `echo` or an editor leaves). */
export async function readJwtSecretFile(file: string, setting = 'JADE_JWT_SECRET_FILE'): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    fail(setting, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  const secret = bytes.subarray(0, end);
  if (secret.length < JWT_SECRET_BYTES_MIN) fail(setting, `the secret must be at least ${JWT_SECRET_BYTES_MIN} bytes (e.g. openssl rand -base64 48)`);
  return new Uint8Array(secret);
}
