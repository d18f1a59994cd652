// Builds a standalone node's backup service from its configuration slice.
import path from 'node:path';
import type { LocalShardOptions } from '../shard/local-shard.js';
import type { Disk } from '../storage/disk.js';
import { DirectoryTarget } from './directory-target.js';
import { StandaloneBackups, type CatalogView } from './standalone.js';

export function defaultBackupDir(dataDir: string): string {
  return path.join(dataDir, 'backups');
}

export function standaloneBackups(disk: Disk, catalog: CatalogView, options: { dataDir: string; backupDir: string | null; nodeVersion: string; shard: LocalShardOptions }): StandaloneBackups {
  const target = new DirectoryTarget(disk, options.backupDir ?? defaultBackupDir(options.dataDir));
  return new StandaloneBackups(catalog, target, { nodeVersion: options.nodeVersion, disk, scratchDir: options.dataDir, shardOptions: options.shard });
}
