// Backup and snapshot names become directory names under the backup target, and file paths come
// from a manifest a person may have edited: both are checked here, once. A name is a single path
// segment of letters, digits, _ . - (no separators, no "..", never absolute); a path read from a
// manifest is such segments joined by "/"; and nothing on the way is a symlink (Qdrant's snapshot
// CVEs were path traversal and symlinks out of the snapshot directory).
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { JadeError } from '../util/errors.js';

export const BACKUP_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** Segments of a file path inside a backup (collections/0/hnsw.bin). */
const SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const SEGMENTS_MAX = 4;

function badName(message: string, name: unknown): JadeError {
  return new JadeError('JADE_ERR_BAD_BACKUP_NAME', message, { name: typeof name === 'string' ? name.slice(0, 300) : null });
}

export function validateBackupName(name: unknown): string {
  if (typeof name !== 'string') throw badName('backup name must be a string', name);
  if (path.isAbsolute(name) || name.includes('/') || name.includes('\\')) throw badName(`backup name ${JSON.stringify(name.slice(0, 300))} is a path: give a name of one segment (letters, digits, _ . -)`, name);
  if (name.includes('..')) throw badName(`backup name ${JSON.stringify(name.slice(0, 300))} contains ".."`, name);
  if (!BACKUP_NAME_RE.test(name)) throw badName(`backup name ${JSON.stringify(name.slice(0, 300))} must be 1-128 characters of letters, digits, _ . - (not starting with . or -)`, name);
  return name;
}

/** A relative file path as a manifest lists it; refused (coded 400) unless it stays inside the backup. */
export function validateBackupFilePath(file: unknown): string {
  if (typeof file !== 'string' || file.length === 0) throw badName('a file path in the manifest is not a string', file);
  if (path.isAbsolute(file) || file.includes('\\')) throw badName(`manifest names an absolute path ${JSON.stringify(file.slice(0, 300))}`, file);
  const segments = file.split('/');
  if (segments.length > SEGMENTS_MAX || !segments.every((s) => SEGMENT_RE.test(s) && !s.includes('..'))) {
    throw badName(`manifest names a file outside the backup: ${JSON.stringify(file.slice(0, 300))}`, file);
  }
  return file;
}

/**
 * root/relative, after checking that no component below root is a symlink (a missing component is
 * fine: it is about to be created, or the read fails with ENOENT).
 */
export async function resolveInside(root: string, relative: string): Promise<string> {
  let current = root;
  for (const segment of relative.split('/')) {
    current = path.join(current, segment);
    const st = await lstat(current).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (st === null) break;
    if (st.isSymbolicLink()) throw badName(`${relative} in the backup target is a symlink; backups never follow links`, relative);
  }
  return current;
}
