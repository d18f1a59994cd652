// A backup target that is a directory: <root>/<id>/manifest.json plus the files it lists. A backup
// is written into <root>/.partial-<id>-<n>/ (every file fsynced, the manifest last), then renamed to
// <root>/<id> and the directory fsynced: a crash or kill -9 leaves either no backup or a whole one,
// and leftovers of .partial- are removed on the next write. Reads refuse symlinks on the way.
// Every file is stored zstd-compressed and, with a key ring, encrypted (file-codec.ts); the
// manifest's size and SHA-256 are of the stored bytes, checked before any decoded byte is used.
import { createHash } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { writeAll, type Disk } from '../storage/disk.js';
import { JadeError } from '../util/errors.js';
import { DecodeError, FileDecoder, FileEncoder } from './file-codec.js';
import type { BackupKeyRing } from './keys.js';
import { MANIFEST_FILE, encodeManifest, parseManifest, type BackupManifest, type ManifestFile } from './manifest.js';
import { resolveInside, validateBackupFilePath, validateBackupName } from './names.js';

const PARTIAL_PREFIX = '.partial-';
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

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function corruptFile(file: string, detail: string): JadeError {
  return new JadeError('JADE_ERR_BACKUP_CORRUPT', `backup file ${file}: ${detail}`, { file });
}

export class DirectoryTarget {
  private partialSeq = 0;
  constructor(
    private readonly disk: Disk,
    readonly root: string,
    private readonly codec: TargetCodecOptions = { keys: null, keySetting: 'JADE_BACKUP_KEY_FILE' },
  ) {}

  private async backupDir(id: string): Promise<string> {
    validateBackupName(id);
    return resolveInside(this.root, id);
  }

  async exists(id: string): Promise<boolean> {
    return this.disk.exists(await this.backupDir(id));
  }

  /** Ids of the whole backups in the target (those with a manifest), sorted. */
  async list(): Promise<string[]> {
    if (!(await this.disk.exists(this.root))) return [];
    const ids: string[] = [];
    for (const name of await this.disk.list(this.root)) {
      if (name.startsWith('.')) continue;
      const dir = path.join(this.root, name);
      const st = await lstat(dir).catch(() => null);
      if (!st || !st.isDirectory()) continue; // symlinks and stray files are not backups
      if (await this.disk.exists(path.join(dir, MANIFEST_FILE))) ids.push(name);
    }
    return ids;
  }

  /**
   * Starts a backup: files are written one by one (whole or in chunks) into a .partial- directory,
   * and only commit() makes it visible under its id. 409 if the id is taken.
   */
  async begin(id: string): Promise<BackupWriter> {
    validateBackupName(id);
    await this.disk.mkdirp(this.root);
    const finalDir = await this.backupDir(id);
    if (await this.disk.exists(finalDir)) throw new JadeError('JADE_ERR_CONFLICT', `a backup named ${id} already exists`);
    for (const name of await this.disk.list(this.root)) {
      // Leftovers of writes that crashed; a write in flight in this process has a fresh number.
      if (name.startsWith(`${PARTIAL_PREFIX}${id}-`)) await this.disk.removeAll(path.join(this.root, name));
    }
    const partial = path.join(this.root, `${PARTIAL_PREFIX}${id}-${process.pid}-${this.partialSeq++}`);
    await this.disk.mkdirp(partial);
    return new BackupWriter(this.disk, this.root, id, partial, finalDir, this.codec.keys);
  }

  /**
   * Writes the files, then the manifest (listing each with size and SHA-256, filled in here), then
   * makes the backup visible under its id. 409 if the id is taken.
   */
  async write(manifest: ManifestDraft, files: BackupFileData[]): Promise<BackupManifest> {
    const writer = await this.begin(manifest.id);
    try {
      for (const f of files) await writer.writeFile(f.path, [f.bytes]);
      return await writer.commit(manifest);
    } catch (e) {
      await writer.abort();
      throw e;
    }
  }

  /** The manifest of backup id, checked; 404 when there is no such backup. */
  async readManifest(id: string): Promise<{ manifest: BackupManifest; sha256: string; sizeBytes: number }> {
    const dir = await this.backupDir(id);
    const file = await resolveInside(this.root, `${id}/${MANIFEST_FILE}`);
    if (!(await this.disk.exists(dir)) || !(await this.disk.exists(file))) throw new JadeError('JADE_ERR_NOT_FOUND', `no backup named ${id}`);
    const bytes = await this.disk.readFile(file);
    const manifest = parseManifest(bytes);
    if (manifest.id !== id) throw new JadeError('JADE_ERR_BACKUP_CORRUPT', `${MANIFEST_FILE}: names backup ${manifest.id}, found under ${id}`, { file: MANIFEST_FILE });
    const sizeBytes = manifest.files.reduce((n, f) => n + f.sizeBytes, bytes.length);
    return { manifest, sha256: sha256Hex(bytes), sizeBytes };
  }

  /**
   * One file of a backup, its content decoded: the stored bytes are read a chunk at a time, hashed
   * and decoded as they come, and the content is handed back only when the stored size and
   * SHA-256 match the manifest and every chunk decoded (else an error naming the file).
   */
  async readFile(id: string, entry: ManifestFile): Promise<Uint8Array> {
    validateBackupFilePath(entry.path);
    const file = await resolveInside(this.root, `${validateBackupName(id)}/${entry.path}`);
    const st = await lstat(file).catch(() => null);
    if (!st) throw corruptFile(entry.path, 'missing');
    if (!st.isFile()) throw corruptFile(entry.path, 'not a regular file');
    if (st.size !== entry.sizeBytes) throw corruptFile(entry.path, `${st.size} bytes, the manifest says ${entry.sizeBytes} (truncated or changed)`);
    const decoder = new FileDecoder(entry, this.codec.keys, this.codec.keySetting); // a missing or wrong key fails here, before any read
    let content: Buffer;
    try {
      content = Buffer.allocUnsafeSlow(entry.contentSizeBytes);
    } catch {
      throw corruptFile(entry.path, `its content size of ${entry.contentSizeBytes} bytes (from the manifest) cannot be held in memory`);
    }
    let produced = 0;
    const sink = (bytes: Uint8Array) => {
      if (produced + bytes.length > content.length) throw new DecodeError(`decodes to more than the ${entry.contentSizeBytes} bytes the manifest says`);
      content.set(bytes, produced);
      produced += bytes.length;
    };
    // Hashing goes on past a decode failure, so a changed file is reported as changed, not as undecodable.
    let failure: unknown = null;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(BACKUP_IO_CHUNK_BYTES, Math.max(1, entry.sizeBytes)));
    let read = 0;
    const fh = await this.disk.open(file, 'r');
    try {
      for (;;) {
        const n = await fh.read(buf, read);
        if (n <= 0) break;
        const chunk = buf.subarray(0, n);
        hash.update(chunk);
        read += n;
        if (failure === null) {
          try {
            decoder.push(chunk, sink);
          } catch (e) {
            failure = e;
          }
        }
      }
    } finally {
      await fh.close();
    }
    if (read !== entry.sizeBytes) throw corruptFile(entry.path, `${read} bytes, the manifest says ${entry.sizeBytes}`);
    if (hash.digest('hex') !== entry.sha256) throw corruptFile(entry.path, 'SHA-256 does not match the manifest (the file was changed or damaged)');
    if (failure === null) {
      try {
        decoder.end(sink);
      } catch (e) {
        failure = e;
      }
    }
    if (failure instanceof DecodeError) throw corruptFile(entry.path, failure.message);
    if (failure !== null) throw failure;
    if (produced !== entry.contentSizeBytes) throw corruptFile(entry.path, `decodes to ${produced} bytes, the manifest says ${entry.contentSizeBytes}`);
    return content;
  }
}

/**
 * One backup being written: each file goes to <partial>/<path> chunk by chunk (encoded and hashed
 * as it goes, fsynced at its end), so an image of hundreds of MiB never has to be whole in memory
 * here, nor its compressed or encrypted copy.
 */
export class BackupWriter {
  private readonly listed: ManifestFile[] = [];
  private readonly dirs = new Set<string>();
  private done = false;

  constructor(
    private readonly disk: Disk,
    private readonly root: string,
    readonly id: string,
    readonly partialDir: string,
    private readonly finalDir: string,
    private readonly keys: BackupKeyRing | null,
  ) {
    this.dirs.add(partialDir);
  }

  /**
   * Writes one file from its content's chunks, in order, compressed (and encrypted with the key
   * ring's primary key, if any). With `expectedSha256` (what the sender computed over the content),
   * a file whose content hashes otherwise is refused with JADE_ERR_BACKUP_CORRUPT naming it.
   */
  async writeFile(file: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, expectedSha256?: string): Promise<ManifestFile> {
    if (this.done) throw new Error(`backup ${this.id} is already committed or aborted`);
    validateBackupFilePath(file);
    if (this.listed.some((f) => f.path === file)) throw new JadeError('JADE_ERR_CONFLICT', `backup ${this.id}: file ${file} is written twice`);
    const target = path.join(this.partialDir, ...file.split('/'));
    await this.disk.mkdirp(path.dirname(target));
    this.dirs.add(path.dirname(target));
    const encoder = new FileEncoder(file, { compression: 'zstd', keys: this.keys });
    const contentHash = createHash('sha256');
    const storedHash = createHash('sha256');
    let contentSize = 0;
    let size = 0;
    const fh = await this.disk.open(target, 'create');
    try {
      let out: Uint8Array[] = [];
      const collect = (b: Uint8Array) => out.push(b);
      const flush = async () => {
        for (const b of out) {
          await writeAll(fh, b, size);
          storedHash.update(b);
          size += b.length;
        }
        out = [];
      };
      for await (const chunk of chunks) {
        contentHash.update(chunk);
        contentSize += chunk.length;
        // In pieces, so one large chunk is not compressed whole before anything is written.
        for (let at = 0; at < chunk.length; at += BACKUP_IO_CHUNK_BYTES) {
          encoder.push(chunk.subarray(at, at + BACKUP_IO_CHUNK_BYTES), collect);
          await flush();
        }
      }
      encoder.end(collect);
      await flush();
      await fh.sync();
    } finally {
      await fh.close();
    }
    const sha256 = contentHash.digest('hex');
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) throw corruptFile(file, `received bytes hash to ${sha256}, the sender reported ${expectedSha256} (damaged in transit)`);
    const entry: ManifestFile = { path: file, sizeBytes: size, sha256: storedHash.digest('hex'), contentSizeBytes: contentSize, compression: 'zstd', encryption: encoder.encryption };
    this.listed.push(entry);
    return entry;
  }

  /** Fsyncs the directories, writes the manifest (listing every file written), renames the backup into place. */
  async commit(manifest: ManifestDraft): Promise<BackupManifest> {
    if (manifest.id !== this.id) throw new Error(`manifest of ${manifest.id} committed as backup ${this.id}`);
    for (const d of this.dirs) await this.disk.syncDir(d);
    const keyId = this.keys?.primaryKeyId;
    const encryption = this.keys && keyId ? { algorithm: 'aes-256-gcm' as const, keyId, keyFingerprint: this.keys.fingerprint(keyId)! } : null;
    const full: BackupManifest = { ...manifest, compression: 'zstd', encryption, files: [...this.listed] };
    await this.disk.writeFileAtomic(path.join(this.partialDir, MANIFEST_FILE), encodeManifest(full));
    if (await this.disk.exists(this.finalDir)) throw new JadeError('JADE_ERR_CONFLICT', `a backup named ${this.id} already exists`);
    await this.disk.rename(this.partialDir, this.finalDir);
    this.done = true;
    await this.disk.syncDir(this.root);
    return full;
  }

  /** Removes the partial directory: nothing of this backup is left. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.disk.removeAll(this.partialDir).catch(() => undefined);
  }
}
