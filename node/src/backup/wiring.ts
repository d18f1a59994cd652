// Builds a node's backup service (standalone or cluster) from its configuration slice.
import path from 'node:path';
import type { LocalShardOptions } from '../shard/local-shard.js';
import type { Disk } from '../storage/disk.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { ClusterBackups } from './cluster.js';
import { DirectoryTarget } from './directory-target.js';
import type { RestoreSink } from './restore-into.js';
import { StandaloneBackups, type CatalogView } from './standalone.js';

export function defaultBackupDir(dataDir: string): string {
  return path.join(dataDir, 'backups');
}

export function standaloneBackups(disk: Disk, catalog: CatalogView, options: { dataDir: string; backupDir: string | null; nodeVersion: string; shard: LocalShardOptions; sink?: RestoreSink }): StandaloneBackups {
  const target = new DirectoryTarget(disk, options.backupDir ?? defaultBackupDir(options.dataDir));
  return new StandaloneBackups(catalog, target, { nodeVersion: options.nodeVersion, disk, scratchDir: options.dataDir, shardOptions: options.shard, sink: options.sink });
}

/** A cluster node's backup service: it coordinates backups into its own backup directory and serves captures of its replicas. */
export function clusterBackups(disk: Disk, node: ClusterNode, sink: RestoreSink, options: { dataDir: string; backupDir: string | null; nodeVersion: string; shard: LocalShardOptions }): ClusterBackups {
  const target = new DirectoryTarget(disk, options.backupDir ?? defaultBackupDir(options.dataDir));
  return new ClusterBackups(node, target, { nodeVersion: options.nodeVersion, disk, scratchDir: options.dataDir, shardOptions: options.shard, sink });
}
