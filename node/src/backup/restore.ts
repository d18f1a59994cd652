// Restore of a backup into a node's data directory, and verify (a restore into a scratch directory
// that is then dropped). Every file is read back and checked against the manifest's size and
// SHA-256 as it is written into a staging directory inside the data directory; every shard is then
// opened from there (its graph loaded) and its point count, content digest and position compared
// with the manifest. Only when all of it matched is the staged collections/ renamed into place in
// one step: a wrong byte in any file is an error naming that file, and nothing is restored half-way.
import path from 'node:path';
import { LocalShard, type LocalShardOptions } from '../shard/local-shard.js';
import type { Disk } from '../storage/disk.js';
import { JadeError } from '../util/errors.js';
import { combineDigests, digestOf } from './digest.js';
import type { BackupTarget } from './target.js';
import { MANIFEST_FILE, type BackupManifest, type ManifestFile } from './manifest.js';
import { writeImageAsCheckpoint, type ImageRole } from './shard-image.js';

/** The data directory layout a standalone node reads (query/catalog.ts). */
const COLLECTIONS_DIR = 'collections';
const RECORD_FILE = 'collection.json';
const ALIASES_FILE = '.aliases.json';
const STAGING_PREFIX = '.restore-';

export interface RestoredCollection {
  name: string;
  points: number;
  contentDigest: string;
}

export interface RestoreResult {
  id: string;
  collections: RestoredCollection[];
  bytesRead: number;
  seconds: number;
}

function mismatch(what: string, detail: string, file?: string): JadeError {
  return new JadeError('JADE_ERR_BACKUP_CORRUPT', `${what}: ${detail}`, file ? { file } : undefined);
}

/**
 * Stages every collection of the manifest under stagingRoot/collections/<name>/shard-<i>: each
 * shard's files read back and checked, written as a checkpoint, opened as a node opens it, and its
 * position, count and content digest compared; the collection's count and digest are the sums over
 * its shards. A standalone node's data directory holds one shard per collection: `singleShard`
 * refuses the others (restore them into a cluster); verify stages any.
 */
async function stage(disk: Disk, target: BackupTarget, manifest: BackupManifest, stagingRoot: string, shardOptions: LocalShardOptions, singleShard: boolean): Promise<{ collections: RestoredCollection[]; bytesRead: number }> {
  const byPath = new Map<string, ManifestFile>(manifest.files.map((f) => [f.path, f]));
  const root = path.join(stagingRoot, COLLECTIONS_DIR);
  await disk.mkdirp(root);
  let bytesRead = 0;
  const restored: RestoredCollection[] = [];
  for (const c of manifest.collections) {
    if (singleShard && c.shards.length !== 1) throw new JadeError('JADE_ERR_BAD_REQUEST', `collection ${c.name} has ${c.shards.length} shards: a standalone node restores collections of one shard (restore it into a cluster)`);
    const digests: string[] = [];
    let total = 0;
    for (const shard of c.shards) {
      const what = c.shards.length === 1 ? `collection ${c.name}` : `collection ${c.name} shard ${shard.index}`;
      const shardDir = path.join(root, c.name, `shard-${shard.index}`);
      const files: Partial<Record<ImageRole, Uint8Array>> = {};
      for (const [role, file] of Object.entries(shard.files)) {
        const bytes = await target.readFile(manifest.id, byPath.get(file)!);
        bytesRead += bytes.length;
        files[role as ImageRole] = bytes;
      }
      await writeImageAsCheckpoint(disk, shardDir, files);
      // Open it as the node will: decodes the snapshot and loads the graph, then count and digest.
      let opened: LocalShard;
      try {
        opened = await LocalShard.open(disk, shardDir, c.params, shardOptions);
      } catch (e) {
        throw mismatch(what, `its image does not open: ${(e as Error).message}`, shard.files.snapshot);
      }
      try {
        const { points, digest } = digestOf(opened.state.exportPoints().points);
        // A cluster shard's image records its Raft index where a standalone one has its WAL position.
        const position = shard.position.kind === 'wal' ? shard.position.lsn : shard.position.index;
        if (opened.lastAppliedLsn !== position) throw mismatch(what, `image stands at position ${opened.lastAppliedLsn}, the manifest says ${position}`, shard.files.snapshot);
        if (points !== shard.points) throw mismatch(what, `${points} points restored, the manifest says ${shard.points}`, shard.files.snapshot);
        if (digest !== shard.contentDigest) throw mismatch(what, `content digest ${digest} restored, the manifest says ${shard.contentDigest}`, shard.files.snapshot);
        digests.push(digest);
        total += points;
      } finally {
        await opened.close({ checkpoint: false });
      }
    }
    const digest = combineDigests(digests);
    if (total !== c.points) throw mismatch(`collection ${c.name}`, `${total} points restored, the manifest says ${c.points}`, MANIFEST_FILE);
    if (digest !== c.contentDigest) throw mismatch(`collection ${c.name}`, `content digest ${digest} restored, the manifest says ${c.contentDigest}`, MANIFEST_FILE);
    restored.push({ name: c.name, points: total, contentDigest: digest });
    await disk.writeFileAtomic(path.join(root, c.name, RECORD_FILE), new TextEncoder().encode(JSON.stringify({ name: c.name, params: c.params, createdAtMs: c.createdAtMs }, null, 2)));
  }
  if (manifest.aliases.length > 0) {
    const map = Object.fromEntries(manifest.aliases.map((a) => [a.alias, a.collection]));
    await disk.writeFileAtomic(path.join(root, ALIASES_FILE), new TextEncoder().encode(JSON.stringify(map, null, 2)));
  }
  await disk.syncDir(root);
  return { collections: restored, bytesRead };
}

async function removeStale(disk: Disk, dir: string): Promise<void> {
  if (!(await disk.exists(dir))) return;
  for (const name of await disk.list(dir)) if (name.startsWith(STAGING_PREFIX)) await disk.removeAll(path.join(dir, name));
}

/**
 * Restores backup `id` of `target` into dataDir, which must hold no collections (a new node's, or
 * one whose collections/ is empty). The caller holds the data directory's lock.
 */
export async function restoreBackup(disk: Disk, target: BackupTarget, id: string, dataDir: string, shardOptions: LocalShardOptions): Promise<RestoreResult> {
  const started = performance.now();
  const { manifest } = await target.readManifest(id);
  if (manifest.mode !== 'standalone') throw new JadeError('JADE_ERR_BAD_REQUEST', `backup ${id} is of a cluster; restore it into a cluster (a standalone node restores standalone backups)`);
  const destination = path.join(dataDir, COLLECTIONS_DIR);
  const present = (await disk.exists(destination)) ? await disk.list(destination) : [];
  if (present.length > 0) throw new JadeError('JADE_ERR_CONFLICT', `${destination} is not empty (${present.length} entries): restore into a new data directory`);
  await disk.mkdirp(dataDir);
  await removeStale(disk, dataDir);
  const staging = path.join(dataDir, `${STAGING_PREFIX}${process.pid}-${Date.now().toString(36)}`);
  try {
    const { collections, bytesRead } = await stage(disk, target, manifest, staging, shardOptions, true);
    await disk.removeAll(destination); // empty (checked above)
    await disk.rename(path.join(staging, COLLECTIONS_DIR), destination);
    await disk.syncDir(dataDir);
    return { id, collections, bytesRead, seconds: (performance.now() - started) / 1000 };
  } finally {
    await disk.removeAll(staging).catch(() => undefined);
  }
}

/** Verifies backup `id`: every file re-read and checked, then restored into scratchDir and compared; scratchDir is removed after. */
export async function verifyBackup(disk: Disk, target: BackupTarget, id: string, scratchDir: string, shardOptions: LocalShardOptions): Promise<RestoreResult> {
  const started = performance.now();
  const { manifest } = await target.readManifest(id);
  const staging = path.join(scratchDir, `${STAGING_PREFIX}verify-${process.pid}-${Date.now().toString(36)}`);
  try {
    const { collections, bytesRead } = await stage(disk, target, manifest, staging, shardOptions, false);
    return { id, collections, bytesRead, seconds: (performance.now() - started) / 1000 };
  } finally {
    await disk.removeAll(staging).catch(() => undefined);
  }
}
