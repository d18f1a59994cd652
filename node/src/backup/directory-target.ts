// A backup target that is a directory: <root>/<id>/manifest.json plus the files it lists. A backup
// is written into <root>/.partial-<id>-<n>/ (every file fsynced, the manifest last), then renamed to
// <root>/<id> and the directory fsynced: a crash or kill -9 leaves either no backup or a whole one,
// and leftovers of .partial- are removed on the next write. Reads refuse symlinks on the way.
// Every file is stored zstd-compressed and, with a key ring, encrypted (file-codec.ts); the
// manifest's size and SHA-256 are of the stored bytes, checked before any decoded byte is used.
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { writeAll, type Disk } from '../storage/disk.js';
import { JadeError } from '../util/errors.js';
import { deleteBackup } from './delete.js';
import type { BackupKeyRing } from './keys.js';
import { MANIFEST_FILE, encodeManifest, type BackupManifest, type ManifestFile } from './manifest.js';
import { resolveInside, validateBackupFilePath, validateBackupName } from './names.js';
import {
  BACKUP_IO_CHUNK_BYTES,
  StoredFileReader,
  checkedManifest,
  completeManifest,
  corruptFile,
  encodeFile,
  writeWhole,
  type BackupFileData,
  type BackupTarget,
  type ManifestDraft,
  type ManifestRead,
  type TargetCodecOptions,
  type TargetWriter,
} from './target.js';

// Moved to target.ts (shared by every target); re-exported for the modules that import them from here.
export { BACKUP_IO_CHUNK_BYTES, sha256Hex, type BackupFileData, type ManifestDraft, type TargetCodecOptions } from './target.js';

const PARTIAL_PREFIX = '.partial-';

export class DirectoryTarget implements BackupTarget {
  private partialSeq = 0;
  constructor(
    private readonly disk: Disk,
    readonly root: string,
    private readonly codec: TargetCodecOptions = { keys: null, keySetting: 'JADE_BACKUP_KEY_FILE' },
  ) {}

  get location(): string {
    return this.root;
  }

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
    return writeWhole(this, manifest, files);
  }

  /** Renamed to a hidden .partial- name, then removed (delete.ts). */
  delete(id: string): Promise<void> {
    return deleteBackup(this.disk, this.root, id);
  }

  /** The manifest of backup id, checked; 404 when there is no such backup. */
  async readManifest(id: string): Promise<ManifestRead> {
    const dir = await this.backupDir(id);
    const file = await resolveInside(this.root, `${id}/${MANIFEST_FILE}`);
    if (!(await this.disk.exists(dir)) || !(await this.disk.exists(file))) throw new JadeError('JADE_ERR_NOT_FOUND', `no backup named ${id}`);
    return checkedManifest(id, await this.disk.readFile(file));
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
    const reader = new StoredFileReader(entry, this.codec); // a missing or wrong key fails here, before any read
    const buf = Buffer.allocUnsafe(Math.min(BACKUP_IO_CHUNK_BYTES, Math.max(1, entry.sizeBytes)));
    const fh = await this.disk.open(file, 'r');
    try {
      for (;;) {
        const n = await fh.read(buf, reader.bytesRead);
        if (n <= 0) break;
        reader.push(buf.subarray(0, n));
      }
    } finally {
      await fh.close();
    }
    return reader.finish();
  }
}

/**
 * One backup being written: each file goes to <partial>/<path> chunk by chunk (encoded and hashed
 * as it goes, fsynced at its end), so an image of hundreds of MiB never has to be whole in memory
 * here, nor its compressed or encrypted copy.
 */
export class BackupWriter implements TargetWriter {
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
    let size = 0;
    const fh = await this.disk.open(target, 'create');
    let entry: ManifestFile;
    try {
      entry = await encodeFile(file, chunks, this.keys, async (b) => {
        await writeAll(fh, b, size);
        size += b.length;
      }, expectedSha256);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.listed.push(entry);
    return entry;
  }

  /** Fsyncs the directories, writes the manifest (listing every file written), renames the backup into place. */
  async commit(manifest: ManifestDraft): Promise<BackupManifest> {
    if (manifest.id !== this.id) throw new Error(`manifest of ${manifest.id} committed as backup ${this.id}`);
    for (const d of this.dirs) await this.disk.syncDir(d);
    const full = completeManifest(manifest, this.listed, this.keys);
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
