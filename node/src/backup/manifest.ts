// The backup manifest (manifest.json at the top of a backup): what was captured, where each shard
// stood (a WAL position standalone, a Raft index in a cluster), and every file with its size and
// SHA-256. Read back strictly: a manifest that does not have this shape, or names a file outside
// the backup, is refused before any file is opened.
//
// A file's sizeBytes and sha256 are of the bytes stored (compressed, then encrypted when a key was
// configured), so verify checks what is on disk (a changed file is reported as changed, whatever
// its decoding says) and needs no key for that; contentSizeBytes is the decoded size. The manifest
// itself is neither compressed nor encrypted: names, counts and digests stay readable, the files'
// contents do not. Manifests written before compression (no per-file compression or encryption)
// read as stored raw.
import buffer from 'node:buffer';
import type { CollectionParams } from '../shard/state.js';
import { JadeError } from '../util/errors.js';
import { BACKUP_KEY_ID_RE } from './keys.js';
import { validateBackupFilePath, validateBackupName } from './names.js';

export const MANIFEST_FILE = 'manifest.json';
export const BACKUP_FORMAT = 'jadevectordb-backup';
export const BACKUP_FORMAT_VERSION = 1;
/** A manifest bigger than this is not one of ours (1000 collections of a few shards is ~1 MiB). */
export const MANIFEST_BYTES_MAX = 16 * 1024 * 1024;

export type BackupCompression = 'none' | 'zstd';

/** How one file is encrypted (file-codec.ts): the key, and the file's own nonce and chunk size. */
export interface FileEncryption {
  algorithm: 'aes-256-gcm';
  keyId: string;
  /** HMAC of a fixed label under the key: tells a wrong key from a damaged file (keys.ts). */
  keyFingerprint: string;
  /** The file's random 96-bit nonce, hex; chunk i's nonce is this XOR i. */
  nonce: string;
  /** Plaintext bytes per encrypted chunk (the last may be shorter). */
  chunkBytes: number;
}

export interface ManifestFile {
  path: string;
  /** Of the stored bytes. */
  sizeBytes: number;
  /** Of the stored bytes. */
  sha256: string;
  /** Of the content once decrypted and decompressed (= sizeBytes for a file stored raw). */
  contentSizeBytes: number;
  compression: BackupCompression;
  encryption: FileEncryption | null;
}

/** The backup's encryption as a whole: every file is encrypted with this key, or none is. */
export interface BackupEncryption {
  algorithm: 'aes-256-gcm';
  keyId: string;
  keyFingerprint: string;
}

/** Where a shard's image stands: every write up to it is in, nothing after it. */
export type ShardPosition = { kind: 'wal'; lsn: number } | { kind: 'raft'; index: number; term: number };

export interface ManifestShard {
  index: number;
  points: number;
  contentDigest: string;
  position: ShardPosition;
  /** The replica the image was read from (cluster mode). */
  capturedFrom?: string;
  /** Files of the shard image by role: snapshot, labels, meta, unindexed, and graph when there is one. */
  files: Record<string, string>;
}

export interface ManifestCollection {
  name: string;
  params: CollectionParams;
  createdAtMs: number;
  shardNumber: number;
  replicationFactor: number;
  points: number;
  contentDigest: string;
  shards: ManifestShard[];
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  id: string;
  /** 'collection': a snapshot of one collection (Qdrant's /collections/{name}/snapshots); 'full': every collection. */
  kind: 'collection' | 'full';
  mode: 'standalone' | 'cluster';
  nodeVersion: string;
  createdAt: string;
  /** Incremental backups are not built yet: always null (a full backup). */
  parent: null;
  /** Of every file ('none' in backups made before compression). */
  compression: BackupCompression;
  /** null: files stored unencrypted (no key file was configured). */
  encryption: BackupEncryption | null;
  collections: ManifestCollection[];
  aliases: { alias: string; collection: string }[];
  files: ManifestFile[];
}

/** Chunks of encrypted files: at least one byte, and no more than a decoder should hold at once. */
const CHUNK_BYTES_MAX = 64 * 1024 * 1024;

function corrupt(message: string): JadeError {
  return new JadeError('JADE_ERR_BACKUP_CORRUPT', `${MANIFEST_FILE}: ${message}`, { file: MANIFEST_FILE });
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isHex = (v: unknown, bytes: number): v is string => typeof v === 'string' && v.length === bytes * 2 && /^[0-9a-f]+$/.test(v);

function parseEncryption(e: unknown, where: string): BackupEncryption {
  if (!isObject(e) || e.algorithm !== 'aes-256-gcm') throw corrupt(`${where}: algorithm must be "aes-256-gcm"`);
  if (typeof e.keyId !== 'string' || !BACKUP_KEY_ID_RE.test(e.keyId)) throw corrupt(`${where}: keyId must be 1-64 characters of letters, digits, _ . -`);
  if (!isHex(e.keyFingerprint, 16)) throw corrupt(`${where}: keyFingerprint must be 32 hex digits`);
  return { algorithm: 'aes-256-gcm', keyId: e.keyId, keyFingerprint: e.keyFingerprint };
}

/**
 * Checks a file entry's encoding against the backup's (every file compressed and encrypted as the
 * backup says, so no single file can be swapped for a plain one) and fills in what a manifest
 * from before compression lacks.
 */
function normalizeFile(f: Record<string, unknown>, compression: 'none' | 'zstd', encryption: BackupEncryption | null): void {
  const where = `file ${f.path as string}`;
  const fileCompression = f.compression ?? 'none';
  if (fileCompression !== compression) throw corrupt(`${where}: compression ${JSON.stringify(fileCompression)}, the backup's is "${compression}"`);
  f.compression = fileCompression;
  const e = f.encryption ?? null;
  if (encryption === null) {
    if (e !== null) throw corrupt(`${where} is encrypted, the backup says none of its files is`);
  } else {
    if (e === null) throw corrupt(`${where} is not encrypted, the backup says every file is`);
    const fe = parseEncryption(e, `${where}: encryption`) as FileEncryption;
    if (fe.keyId !== encryption.keyId || fe.keyFingerprint !== encryption.keyFingerprint) throw corrupt(`${where}: encrypted with key ${fe.keyId}, the backup says ${encryption.keyId}`);
    const raw = e as Record<string, unknown>;
    if (!isHex(raw.nonce, 12)) throw corrupt(`${where}: encryption nonce must be 24 hex digits`);
    if (!Number.isSafeInteger(raw.chunkBytes) || (raw.chunkBytes as number) < 1 || (raw.chunkBytes as number) > CHUNK_BYTES_MAX) throw corrupt(`${where}: encryption chunkBytes must be an integer in 1..${CHUNK_BYTES_MAX}`);
    f.encryption = { ...fe, nonce: raw.nonce, chunkBytes: raw.chunkBytes };
  }
  f.encryption = f.encryption ?? null;
  if (f.contentSizeBytes === undefined && f.compression === 'none' && f.encryption === null) f.contentSizeBytes = f.sizeBytes;
  if (!isCount(f.contentSizeBytes) || (f.contentSizeBytes as number) > buffer.constants.MAX_LENGTH) throw corrupt(`${where}: contentSizeBytes must be a count of at most ${buffer.constants.MAX_LENGTH}`);
  if (f.compression === 'none' && f.encryption === null && f.contentSizeBytes !== f.sizeBytes) throw corrupt(`${where}: stored raw, but contentSizeBytes differs from sizeBytes`);
}

export function encodeManifest(m: BackupManifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(m, null, 2)}\n`);
}

/** Parses and checks a manifest; a bad file path is JADE_ERR_BAD_BACKUP_NAME, any other flaw JADE_ERR_BACKUP_CORRUPT. */
export function parseManifest(bytes: Uint8Array): BackupManifest {
  if (bytes.length > MANIFEST_BYTES_MAX) throw corrupt(`${bytes.length} bytes, over the limit of ${MANIFEST_BYTES_MAX}`);
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw corrupt('not JSON');
  }
  if (!isObject(m) || m.format !== BACKUP_FORMAT) throw corrupt(`not a JadeVectorDB backup manifest (format is not "${BACKUP_FORMAT}")`);
  if (m.formatVersion !== BACKUP_FORMAT_VERSION) throw corrupt(`format version ${JSON.stringify(m.formatVersion)}; this node reads version ${BACKUP_FORMAT_VERSION}`);
  validateBackupName(m.id);
  if (m.kind !== 'collection' && m.kind !== 'full') throw corrupt('kind must be "collection" or "full"');
  if (m.mode !== 'standalone' && m.mode !== 'cluster') throw corrupt('mode must be "standalone" or "cluster"');
  if (m.parent !== null) throw corrupt('incremental backups (a parent) are not supported yet');
  if (m.compression !== 'none' && m.compression !== 'zstd') throw corrupt(`compression ${JSON.stringify(m.compression)} is not one this node reads (none, zstd)`);
  const encryption = m.encryption === null ? null : parseEncryption(m.encryption, 'encryption');
  if (typeof m.createdAt !== 'string' || typeof m.nodeVersion !== 'string') throw corrupt('createdAt and nodeVersion must be strings');
  if (!Array.isArray(m.files) || !Array.isArray(m.collections) || !Array.isArray(m.aliases)) throw corrupt('files, collections and aliases must be lists');
  const listed = new Set<string>();
  for (const f of m.files as unknown[]) {
    if (!isObject(f)) throw corrupt('a file entry is not an object');
    validateBackupFilePath(f.path);
    if (f.path === MANIFEST_FILE) throw corrupt('the manifest lists itself');
    if (!isCount(f.sizeBytes) || !isHex(f.sha256, 32)) throw corrupt(`file ${f.path as string}: sizeBytes and sha256 (64 hex digits) are required`);
    if (listed.has(f.path as string)) throw corrupt(`file ${f.path as string} is listed twice`);
    listed.add(f.path as string);
    normalizeFile(f, m.compression, encryption);
  }
  const names = new Set<string>();
  for (const c of m.collections as unknown[]) {
    if (!isObject(c) || typeof c.name !== 'string' || !isObject(c.params) || !Array.isArray(c.shards) || !isCount(c.points) || !isHex(c.contentDigest, 32)) throw corrupt('a collection entry is malformed');
    if (names.has(c.name)) throw corrupt(`collection ${c.name} is listed twice`);
    names.add(c.name);
    if (!isCount(c.shardNumber) || c.shardNumber !== c.shards.length || c.shards.length === 0) throw corrupt(`collection ${c.name}: shardNumber does not match its shards`);
    for (const [i, s] of (c.shards as unknown[]).entries()) {
      if (!isObject(s) || s.index !== i || !isCount(s.points) || !isHex(s.contentDigest, 32) || !isObject(s.position) || !isObject(s.files)) throw corrupt(`collection ${c.name}: shard ${i} is malformed`);
      const pos = s.position;
      const posOk = (pos.kind === 'wal' && isCount(pos.lsn)) || (pos.kind === 'raft' && isCount(pos.index) && isCount(pos.term));
      if (!posOk) throw corrupt(`collection ${c.name}: shard ${i} has no valid position`);
      for (const [role, file] of Object.entries(s.files)) {
        validateBackupFilePath(file);
        if (!listed.has(file as string)) throw corrupt(`collection ${c.name}: shard ${i} names ${role} file ${file as string}, which the file list lacks`);
      }
      if (typeof s.files.snapshot !== 'string' || typeof s.files.labels !== 'string' || typeof s.files.meta !== 'string') throw corrupt(`collection ${c.name}: shard ${i} lacks its snapshot, labels or meta file`);
    }
  }
  for (const a of m.aliases as unknown[]) {
    if (!isObject(a) || typeof a.alias !== 'string' || typeof a.collection !== 'string' || !names.has(a.collection)) throw corrupt('an alias entry is malformed or names a collection the backup lacks');
  }
  return m as unknown as BackupManifest;
}
