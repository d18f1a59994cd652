// Builds a node's backup service (standalone or cluster) from its configuration slice, with its
// target: the backup directory, or S3 when a bucket is configured.
import path from 'node:path';
import type { LocalShardOptions } from '../shard/local-shard.js';
import type { Disk } from '../storage/disk.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { ClusterBackups } from './cluster.js';
import { DirectoryTarget } from './directory-target.js';
import type { S3TargetSettings } from './s3-settings.js';
import type { BackupTarget } from './target.js';
import { loadBackupKeys, type BackupKeyRing } from './keys.js';
import type { RestoreSink } from './restore-into.js';
import { StandaloneBackups, type CatalogView } from './standalone.js';

export function defaultBackupDir(dataDir: string): string {
  return path.join(dataDir, 'backups');
}

/** The key ring of the configured key file, or null when none is (backups stay unencrypted); a bad file is JADE_ERR_BACKUP_KEY. */
export async function backupKeysOf(keyFile: string | null): Promise<BackupKeyRing | null> {
  return keyFile === null ? null : loadBackupKeys(keyFile);
}

export interface BackupTargetOptions {
  dataDir: string;
  backupDir: string | null;
  /** S3 instead of the directory (the configuration refuses both). */
  s3: S3TargetSettings | null;
  keys: BackupKeyRing | null;
  /** The setting naming the key file, for errors. */
  keySetting: string;
}

/** The node's backup target (its S3 bucket, else its backup directory), encoding with its keys. */
export async function backupTarget(disk: Disk, options: BackupTargetOptions): Promise<BackupTarget> {
  if (options.s3) {
    // Loaded only when configured: the AWS SDK costs ~170 ms and some MiB at every start otherwise.
    const { S3Target } = await import('./s3-target.js');
    return new S3Target(options.s3, { keys: options.keys, keySetting: options.keySetting });
  }
  return new DirectoryTarget(disk, options.backupDir ?? defaultBackupDir(options.dataDir), { keys: options.keys, keySetting: options.keySetting });
}

export async function standaloneBackups(disk: Disk, catalog: CatalogView, options: BackupTargetOptions & { nodeVersion: string; shard: LocalShardOptions; sink?: RestoreSink }): Promise<StandaloneBackups> {
  const target = await backupTarget(disk, options);
  return new StandaloneBackups(catalog, target, { nodeVersion: options.nodeVersion, disk, scratchDir: options.dataDir, shardOptions: options.shard, sink: options.sink });
}

/** A cluster node's backup service: it coordinates backups into its own backup directory (or the S3 bucket) and serves captures of its replicas. */
export async function clusterBackups(disk: Disk, node: ClusterNode, sink: RestoreSink, options: BackupTargetOptions & { nodeVersion: string; shard: LocalShardOptions }): Promise<ClusterBackups> {
  const target = await backupTarget(disk, options);
  return new ClusterBackups(node, target, { nodeVersion: options.nodeVersion, disk, scratchDir: options.dataDir, shardOptions: options.shard, sink });
}
