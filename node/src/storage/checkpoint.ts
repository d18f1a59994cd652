// Checkpoint files: a snapshot plus optional extra files (e.g. the saved HNSW graph), each with a
// CRC32C recorded in a manifest. Layout in dir:
//   <name>.manifest        the atomic pointer: header (magic, version, length, crc32c) + JSON body
//   <name>.<seq>/<file>    the files of checkpoint number seq
// Writing fills a fresh <name>.<seq+1>/ directory, fsyncs every file and the directories, then
// replaces the manifest atomically (tmp + fsync + rename + fsync dir); only then are older
// directories removed. A crash at any point leaves the old or the new checkpoint, whole.
import * as path from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { JadeError, isJadeError } from '../util/errors.js';
import { writeAll, type Disk } from './disk.js';

const MANIFEST_MAGIC = 0x4d4b434a; // 'JCKM' read as little-endian u32
const MANIFEST_VERSION = 1;
const MANIFEST_HEADER_BYTES = 16;
const SNAPSHOT_FILE = 'snapshot.fb';
const EXTRA_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

interface ManifestFile {
  key: string;
  file: string;
  sizeBytes: number;
  crc32c: number;
}

interface Manifest {
  name: string;
  seq: number;
  createdAt: string;
  files: ManifestFile[];
}

export interface CheckpointFiles {
  snapshot: Uint8Array;
  extra?: Record<string, Uint8Array>;
}

function manifestPath(dir: string, name: string): string {
  return path.join(dir, `${name}.manifest`);
}

function checkName(name: string): void {
  if (!EXTRA_NAME.test(name)) throw new JadeError('JADE_ERR_INTERNAL', `bad checkpoint name ${JSON.stringify(name)}`);
}

function encodeManifest(m: Manifest): Uint8Array {
  const body = new TextEncoder().encode(JSON.stringify(m));
  const out = new Uint8Array(MANIFEST_HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MANIFEST_MAGIC, true);
  view.setUint32(4, MANIFEST_VERSION, true);
  view.setUint32(8, body.length, true);
  view.setUint32(12, crc32c(body), true);
  out.set(body, MANIFEST_HEADER_BYTES);
  return out;
}

function corruptCheckpoint(file: string, detail: string): JadeError {
  return new JadeError('JADE_ERR_STORAGE', `corrupt checkpoint file ${file}: ${detail}`, { file });
}

function decodeManifest(bytes: Uint8Array, file: string): Manifest {
  if (bytes.length < MANIFEST_HEADER_BYTES) throw corruptCheckpoint(file, 'truncated header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MANIFEST_MAGIC) throw corruptCheckpoint(file, 'bad magic');
  if (view.getUint32(4, true) !== MANIFEST_VERSION) throw corruptCheckpoint(file, `unsupported version ${view.getUint32(4, true)}`);
  const len = view.getUint32(8, true);
  if (len !== bytes.length - MANIFEST_HEADER_BYTES) throw corruptCheckpoint(file, `length ${len} does not match file`);
  const body = bytes.subarray(MANIFEST_HEADER_BYTES);
  if (crc32c(body) !== view.getUint32(12, true)) throw corruptCheckpoint(file, 'checksum mismatch');
  let m: Manifest;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body)) as Manifest;
  } catch {
    throw corruptCheckpoint(file, 'manifest is not JSON');
  }
  const ok =
    m && typeof m === 'object' && Number.isSafeInteger(m.seq) && Array.isArray(m.files) &&
    m.files.every((f) => f && typeof f.key === 'string' && typeof f.file === 'string' && EXTRA_NAME.test(f.file) &&
      Number.isSafeInteger(f.sizeBytes) && Number.isInteger(f.crc32c));
  if (!ok) throw corruptCheckpoint(file, 'malformed manifest');
  return m;
}

function wrap(e: unknown, message: string, details: Record<string, unknown>): JadeError {
  if (isJadeError(e)) return e;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return new JadeError('JADE_ERR_STORAGE', `${message}: ${code ?? (e instanceof Error ? e.message : String(e))}`, { ...details, errno: code });
}

/** Numbers of the <name>.<seq> directories present in dir. */
async function checkpointSeqs(disk: Disk, dir: string, name: string): Promise<number[]> {
  const re = new RegExp(`^${name.replace(/[.]/g, '\\.')}\\.(\\d{1,15})$`);
  const seqs: number[] = [];
  for (const n of await disk.list(dir)) {
    const m = re.exec(n);
    if (m) seqs.push(Number(m[1]));
  }
  return seqs;
}

/** Writes checkpoint `name` in dir; after it resolves the new checkpoint is durable and current. */
export async function writeCheckpoint(disk: Disk, dir: string, name: string, files: CheckpointFiles): Promise<void> {
  checkName(name);
  const entries: [string, string, Uint8Array][] = [['snapshot', SNAPSHOT_FILE, files.snapshot]];
  for (const [key, data] of Object.entries(files.extra ?? {})) {
    if (!EXTRA_NAME.test(key) || key === SNAPSHOT_FILE) throw new JadeError('JADE_ERR_INTERNAL', `bad checkpoint extra file name ${JSON.stringify(key)}`);
    entries.push([key, key, data]);
  }
  try {
    await disk.mkdirp(dir);
    const seqs = await checkpointSeqs(disk, dir, name);
    let current = -1;
    try {
      current = (await readManifest(disk, dir, name))?.seq ?? -1;
    } catch {
      // A corrupt manifest is replaced below; pick a number past every directory present.
    }
    const seq = Math.max(current, ...seqs, 0) + 1;
    const seqDir = path.join(dir, `${name}.${seq}`);
    await disk.removeAll(seqDir);
    await disk.mkdirp(seqDir);
    const manifestFiles: ManifestFile[] = [];
    for (const [key, file, data] of entries) {
      const f = await disk.open(path.join(seqDir, file), 'create');
      try {
        await writeAll(f, data, 0);
        await f.sync();
      } finally {
        await f.close();
      }
      manifestFiles.push({ key, file, sizeBytes: data.length, crc32c: crc32c(data) });
    }
    await disk.syncDir(seqDir);
    await disk.syncDir(dir);
    const manifest: Manifest = { name, seq, createdAt: new Date().toISOString(), files: manifestFiles };
    await disk.writeFileAtomic(manifestPath(dir, name), encodeManifest(manifest));
    // The new checkpoint is current; old directories are garbage. Failing to remove them is harmless
    // (the next checkpoint retries), so it does not fail the checkpoint.
    try {
      for (const s of seqs) if (s !== seq) await disk.removeAll(path.join(dir, `${name}.${s}`));
      await disk.syncDir(dir);
    } catch {
      /* retried by the next writeCheckpoint */
    }
  } catch (e) {
    throw wrap(e, `cannot write checkpoint ${name} in ${dir}`, { dir, name });
  }
}

async function readManifest(disk: Disk, dir: string, name: string): Promise<Manifest | null> {
  const mp = manifestPath(dir, name);
  if (!(await disk.exists(mp))) return null;
  return decodeManifest(await disk.readFile(mp), mp);
}

/**
 * Reads checkpoint `name`; null when there is none. Every file is checked against the size and
 * CRC in the manifest before anything is returned, so a damaged checkpoint is never half-loaded:
 * it throws JADE_ERR_STORAGE naming the bad file.
 */
export async function readCheckpoint(
  disk: Disk,
  dir: string,
  name: string,
): Promise<{ snapshot: Uint8Array; extra: Record<string, Uint8Array> } | null> {
  checkName(name);
  try {
    if (!(await disk.exists(dir))) return null;
    const m = await readManifest(disk, dir, name);
    if (!m) return null;
    const seqDir = path.join(dir, `${name}.${m.seq}`);
    let snapshot: Uint8Array | null = null;
    const extra: Record<string, Uint8Array> = {};
    for (const f of m.files) {
      const fp = path.join(seqDir, f.file);
      if (!(await disk.exists(fp))) throw corruptCheckpoint(fp, 'missing');
      const data = await disk.readFile(fp);
      if (data.length !== f.sizeBytes) throw corruptCheckpoint(fp, `size ${data.length}, manifest says ${f.sizeBytes}`);
      if (crc32c(data) !== f.crc32c) throw corruptCheckpoint(fp, 'checksum mismatch');
      if (f.key === 'snapshot') snapshot = data;
      else extra[f.key] = data;
    }
    if (!snapshot) throw corruptCheckpoint(manifestPath(dir, name), 'no snapshot listed');
    return { snapshot, extra };
  } catch (e) {
    throw wrap(e, `cannot read checkpoint ${name} in ${dir}`, { dir, name });
  }
}
