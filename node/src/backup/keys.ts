// Backup encryption keys, read from the key file (JADE_BACKUP_KEY_FILE): one key a line as
// `keyId:base64key` (32 bytes of key, AES-256), `#` comments and blank lines ignored. Every key of
// the file decrypts; the first one encrypts new backups, so a key rotates by putting the new key
// first and keeping the old ones below it for as long as backups made with them are kept.
// Key bytes never leave this module in a message: errors name the file and the line number only,
// and a key ring prints as its key ids.
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { JadeError } from '../util/errors.js';

export const BACKUP_KEY_BYTES = 32;
export const BACKUP_KEY_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** A key file bigger than this is not one (a key line is under 120 bytes). */
const KEY_FILE_BYTES_MAX = 1024 * 1024;
/** What the fingerprint of a key is a MAC of: it tells a wrong key from a damaged file, and says nothing of the key. */
const FINGERPRINT_LABEL = 'jadevectordb backup key fingerprint v1';

/** A short public check value of a key (HMAC-SHA256 of a fixed label under it, first 16 bytes in hex). */
export function keyFingerprint(key: Uint8Array): string {
  return createHmac('sha256', key).update(FINGERPRINT_LABEL).digest('hex').slice(0, 32);
}

function keyError(message: string, details?: Record<string, unknown>): JadeError {
  return new JadeError('JADE_ERR_BACKUP_KEY', message, details);
}

export class BackupKeyRing {
  readonly #keys: Map<string, Buffer>;
  /** The key new backups are encrypted with: the file's first. */
  readonly primaryKeyId: string;

  private constructor(keys: Map<string, Buffer>, primaryKeyId: string) {
    this.#keys = keys;
    this.primaryKeyId = primaryKeyId;
  }

  /** Parses a key file's text; `source` (its path) names it in errors. */
  static parse(text: string, source: string): BackupKeyRing {
    const keys = new Map<string, Buffer>();
    let primary: string | null = null;
    for (const [i, raw] of text.split(/\r?\n/).entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const where = `${source} line ${i + 1}`;
      const colon = line.indexOf(':');
      if (colon < 0) throw keyError(`${where}: expected keyId:base64key`);
      const id = line.slice(0, colon).trim();
      const encoded = line.slice(colon + 1).trim();
      if (!BACKUP_KEY_ID_RE.test(id)) throw keyError(`${where}: the key id must be 1-64 characters of letters, digits, _ . -`);
      if (keys.has(id)) throw keyError(`${where}: key id ${id} is given twice`);
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw keyError(`${where}: key ${id} is not base64`);
      const key = Buffer.from(encoded, 'base64');
      if (key.length !== BACKUP_KEY_BYTES) throw keyError(`${where}: key ${id} is ${key.length} bytes, AES-256 needs ${BACKUP_KEY_BYTES} (make one with: openssl rand -base64 32)`);
      keys.set(id, key);
      primary ??= id;
    }
    if (primary === null) throw keyError(`${source}: holds no key (one keyId:base64key a line; the first one encrypts)`);
    return new BackupKeyRing(keys, primary);
  }

  /** A ring of the given keys, the first encrypting (tests, tools). */
  static of(keys: [string, Uint8Array][]): BackupKeyRing {
    return BackupKeyRing.parse(keys.map(([id, k]) => `${id}:${Buffer.from(k).toString('base64')}`).join('\n'), 'keys');
  }

  keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  has(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** The key of keyId, for the backup codec only. */
  key(keyId: string): Buffer | undefined {
    return this.#keys.get(keyId);
  }

  fingerprint(keyId: string): string | undefined {
    const k = this.#keys.get(keyId);
    return k === undefined ? undefined : keyFingerprint(k);
  }

  toJSON(): unknown {
    return { keyIds: this.keyIds(), primaryKeyId: this.primaryKeyId };
  }

  [inspect.custom](): string {
    return `BackupKeyRing { keyIds: ${this.keyIds().join(', ')}, primary: ${this.primaryKeyId} }`;
  }
}

/** Reads the key file at `file`; a missing, unreadable or malformed file is a coded error naming it (never its contents). */
export async function loadBackupKeys(file: string): Promise<BackupKeyRing> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw keyError(`backup key file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { file });
  }
  if (bytes.length > KEY_FILE_BYTES_MAX) throw keyError(`backup key file ${file} is ${bytes.length} bytes, over ${KEY_FILE_BYTES_MAX}: not a key file`, { file });
  return BackupKeyRing.parse(bytes.toString('utf8'), file);
}
