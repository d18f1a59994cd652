// What the REST API and the CLI ask of backups, whatever the mode: the routes hold this, not the
// standalone or cluster implementation.
import type { CollectionRestoreRequest, CollectionRestoreResult } from './restore-into.js';
import type { RestoreResult } from './restore.js';
import type { BackupRequest, BackupSummary } from './summary.js';

export interface BackupService {
  create(request: BackupRequest): Promise<BackupSummary>;
  list(): Promise<BackupSummary[]>;
  get(id: string): Promise<BackupSummary>;
  /** Re-reads every file, checks the digests, restores into a scratch directory and compares. */
  verify(id: string): Promise<RestoreResult>;
  /** Restores one collection of a backup into this running node or cluster (re-indexed: see restore-into.ts). */
  restoreCollection(request: CollectionRestoreRequest): Promise<CollectionRestoreResult>;
  /** Removes a whole backup: 404 when there is none, 409 while a backup, verify or restore runs on this node. */
  delete(id: string): Promise<void>;
}
