// Deleting a whole backup from a directory target: its directory is first renamed to a hidden
// .partial-<id>-deleted-… name (one atomic step, so the backup is listed whole or not at all even if
// the node dies half way through the removal), then removed. A backup that does not exist is a coded
// 404. The callers run it in the node's backup slot: while a backup, verify or restore is in
// progress on the node the delete is refused with 409 rather than pulling files from under it.
import path from 'node:path';
import type { Disk } from '../storage/disk.js';
import { JadeError } from '../util/errors.js';
import { MANIFEST_FILE } from './manifest.js';
import { resolveInside, validateBackupName } from './names.js';

export async function deleteBackup(disk: Disk, root: string, id: string): Promise<void> {
  validateBackupName(id);
  const dir = await resolveInside(root, id);
  if (!(await disk.exists(dir)) || !(await disk.exists(await resolveInside(root, `${id}/${MANIFEST_FILE}`)))) {
    throw new JadeError('JADE_ERR_NOT_FOUND', `no backup named ${id}`);
  }
  // The .partial-<id>- prefix: a leftover of a crash here is swept by the next backup with this id.
  const doomed = path.join(root, `.partial-${id}-deleted-${process.pid}-${Date.now()}`);
  await disk.rename(dir, doomed);
  await disk.syncDir(root);
  await disk.removeAll(doomed);
}
