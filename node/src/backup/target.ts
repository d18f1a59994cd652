// What the backup services need of a place that holds backups (a directory, an S3 bucket): write a
// backup so that it appears whole or not at all, list the whole ones, read a manifest, read one
// file back checked. The encoding (file-codec.ts) and its checks live here, once, so every target
// stores the same bytes and refuses the same damage with the same errors.
import { createHash } from 'node:crypto';
import { JadeError } from '../util/errors.js';
import { DecodeError, FileDecoder, FileEncoder } from './file-codec.js';
import type { BackupKeyRing } from './keys.js';
import { MANIFEST_FILE, parseManifest, type BackupManifest, type ManifestFile } from './manifest.js';

/** Bytes read, or handed to the encoder, at a time: what a file costs in memory on its way besides its content. */
export const BACKUP_IO_CHUNK_BYTES = 1024 * 1024;

/** What a manifest is committed without: the writer fills in the files and how they were encoded. */
export type ManifestDraft = Omit<BackupManifest, 'files' | 'compression' | 'encryption'>;

export interface TargetCodecOptions {
  /** Keys to encrypt (the primary) and decrypt with; null: new backups unencrypted, encrypted ones unreadable. */
  keys: BackupKeyRing | null;
  /** The setting that names the key file, for errors ("JADE_BACKUP_KEY_FILE"). */
  keySetting: string;
}

export interface BackupFileData {
  path: string;
  bytes: Uint8Array;
}

export interface ManifestRead {
  manifest: BackupManifest;
  sha256: string;
  /** Stored bytes of the files and the manifest. */
  sizeBytes: number;
}

export interface BackupTarget {
  /** Where the backups are, for messages: a directory, or s3://bucket/prefix. Never holds a secret. */
  readonly location: string;
  /** Whether a whole backup (or, in a directory, anything) has this id. */
  exists(id: string): Promise<boolean>;
  /** Ids of the whole backups (those with a manifest), sorted. */
  list(): Promise<string[]>;
  /** Starts a backup that only commit() makes visible; leftovers of an earlier failed write of this id are removed. 409 if the id is taken. */
  begin(id: string): Promise<TargetWriter>;
  /** begin(), every file, commit(); abort() on any failure. */
  write(manifest: ManifestDraft, files: BackupFileData[]): Promise<BackupManifest>;
  /** The manifest of backup id, checked; 404 when there is no such backup. */
  readManifest(id: string): Promise<ManifestRead>;
  /** One file's content, decoded, handed back only once its stored size and SHA-256 matched the manifest. */
  readFile(id: string, entry: ManifestFile): Promise<Uint8Array>;
  /** Removes a whole backup, unlisted in one step before its files go; 404 when there is none. */
  delete(id: string): Promise<void>;
  /** Releases what the target holds open (an S3 client's connections). */
  close?(): void;
}

export interface TargetWriter {
  readonly id: string;
  /**
   * Writes one file from its content's chunks, in order, compressed (and encrypted with the key
   * ring's primary key, if any). With `expectedSha256` (what the sender computed over the content),
   * a file whose content hashes otherwise is refused with JADE_ERR_BACKUP_CORRUPT naming it.
   */
  writeFile(file: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, expectedSha256?: string): Promise<ManifestFile>;
  /** Writes the manifest (listing every file written) last, which makes the backup whole and visible. */
  commit(manifest: ManifestDraft): Promise<BackupManifest>;
  /** Removes what was written (best effort): nothing of this backup is left, or only what the next write of its id removes. */
  abort(): Promise<void>;
}

/** begin(), every file, commit(); abort() on any failure. */
export async function writeWhole(target: BackupTarget, manifest: ManifestDraft, files: BackupFileData[]): Promise<BackupManifest> {
  const writer = await target.begin(manifest.id);
  try {
    for (const f of files) await writer.writeFile(f.path, [f.bytes]);
    return await writer.commit(manifest);
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function corruptFile(file: string, detail: string): JadeError {
  return new JadeError('JADE_ERR_BACKUP_CORRUPT', `backup file ${file}: ${detail}`, { file });
}

/**
 * Encodes one file's content chunk by chunk, handing each stored piece to `store` in order (awaited,
 * so a slow store holds the reading back); returns its manifest entry, sizes and SHA-256 of the
 * stored bytes.
 */
export async function encodeFile(file: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, keys: BackupKeyRing | null, store: (stored: Uint8Array) => Promise<void>, expectedSha256?: string): Promise<ManifestFile> {
  const encoder = new FileEncoder(file, { compression: 'zstd', keys });
  const contentHash = createHash('sha256');
  const storedHash = createHash('sha256');
  let contentSize = 0;
  let size = 0;
  let out: Uint8Array[] = [];
  const collect = (b: Uint8Array) => out.push(b);
  const flush = async () => {
    for (const b of out) {
      await store(b);
      storedHash.update(b);
      size += b.length;
    }
    out = [];
  };
  for await (const chunk of chunks) {
    contentHash.update(chunk);
    contentSize += chunk.length;
    // In pieces, so one large chunk is not compressed whole before anything is stored.
    for (let at = 0; at < chunk.length; at += BACKUP_IO_CHUNK_BYTES) {
      encoder.push(chunk.subarray(at, at + BACKUP_IO_CHUNK_BYTES), collect);
      await flush();
    }
  }
  encoder.end(collect);
  await flush();
  const sha256 = contentHash.digest('hex');
  if (expectedSha256 !== undefined && sha256 !== expectedSha256) throw corruptFile(file, `received bytes hash to ${sha256}, the sender reported ${expectedSha256} (damaged in transit)`);
  return { path: file, sizeBytes: size, sha256: storedHash.digest('hex'), contentSizeBytes: contentSize, compression: 'zstd', encryption: encoder.encryption };
}

/** The manifest a writer commits: the draft, how every file was encoded, and the files. */
export function completeManifest(draft: ManifestDraft, files: ManifestFile[], keys: BackupKeyRing | null): BackupManifest {
  const keyId = keys?.primaryKeyId;
  const encryption = keys && keyId ? { algorithm: 'aes-256-gcm' as const, keyId, keyFingerprint: keys.fingerprint(keyId)! } : null;
  return { ...draft, compression: 'zstd', encryption, files: [...files] };
}

/** A manifest's bytes as read from backup `id`, checked (parsed strictly, and naming that id). */
export function checkedManifest(id: string, bytes: Uint8Array): ManifestRead {
  const manifest = parseManifest(bytes);
  if (manifest.id !== id) throw new JadeError('JADE_ERR_BACKUP_CORRUPT', `${MANIFEST_FILE}: names backup ${manifest.id}, found under ${id}`, { file: MANIFEST_FILE });
  const sizeBytes = manifest.files.reduce((n, f) => n + f.sizeBytes, bytes.length);
  return { manifest, sha256: sha256Hex(bytes), sizeBytes };
}

/**
 * The stored bytes of one file → its content: pushed a chunk at a time, hashed and decoded as they
 * come; finish() hands the content back only when the stored size and SHA-256 match the manifest
 * and every chunk decoded (else an error naming the file). A missing or wrong key fails in the
 * constructor, before any read.
 */
export class StoredFileReader {
  private readonly decoder: FileDecoder;
  private readonly content: Buffer;
  private readonly hash = createHash('sha256');
  private produced = 0;
  private read = 0;
  // Hashing goes on past a decode failure, so a changed file is reported as changed, not as undecodable.
  private failure: unknown = null;
  private readonly sink = (bytes: Uint8Array) => {
    if (this.produced + bytes.length > this.content.length) throw new DecodeError(`decodes to more than the ${this.entry.contentSizeBytes} bytes the manifest says`);
    this.content.set(bytes, this.produced);
    this.produced += bytes.length;
  };

  constructor(private readonly entry: ManifestFile, codec: TargetCodecOptions) {
    this.decoder = new FileDecoder(entry, codec.keys, codec.keySetting);
    try {
      this.content = Buffer.allocUnsafeSlow(entry.contentSizeBytes);
    } catch {
      throw corruptFile(entry.path, `its content size of ${entry.contentSizeBytes} bytes (from the manifest) cannot be held in memory`);
    }
  }

  /** Stored bytes read so far. */
  get bytesRead(): number {
    return this.read;
  }

  push(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.read += chunk.length;
    if (this.failure !== null) return;
    try {
      this.decoder.push(chunk, this.sink);
    } catch (e) {
      this.failure = e;
    }
  }

  finish(): Uint8Array {
    const entry = this.entry;
    if (this.read !== entry.sizeBytes) throw corruptFile(entry.path, `${this.read} bytes, the manifest says ${entry.sizeBytes}`);
    if (this.hash.digest('hex') !== entry.sha256) throw corruptFile(entry.path, 'SHA-256 does not match the manifest (the file was changed or damaged)');
    if (this.failure === null) {
      try {
        this.decoder.end(this.sink);
      } catch (e) {
        this.failure = e;
      }
    }
    if (this.failure instanceof DecodeError) throw corruptFile(entry.path, this.failure.message);
    if (this.failure !== null) throw this.failure;
    if (this.produced !== entry.contentSizeBytes) throw corruptFile(entry.path, `decodes to ${this.produced} bytes, the manifest says ${entry.contentSizeBytes}`);
    return this.content;
  }
}
