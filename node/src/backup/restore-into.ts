// Restore of one collection of a backup into a running node or cluster, under its own name or a
// new one (POST /backups/{id}/restore). The collection is created through the normal create path
// with the backup's parameters, shard number and replication factor, and every point of every
// shard image is written back through the normal write path (batched upserts, acknowledged once
// applied), ids, vectors and payloads kept; the payload indexes of the images are created first.
//
// It re-indexes: the HNSW graph is rebuilt from the points, not copied. The new collection's
// replica groups are new Raft groups, and an image's position (and its graph's labels) belong to
// the old group's log; only the points mean the same thing in both. That is also why a standalone
// backup (one shard, at a WAL position) restores into a cluster the same way.
//
// Nothing is created unless every shard's snapshot file matches the manifest (SHA-256, point
// count and content digest); at the end the restored collection's count and content digest, as
// its replicas hold it, are compared with the manifest.
import type { CollectionParams } from '../shard/state.js';
import { decodeShardSnapshot } from '../storage/codec.js';
import type { PointRecord, WriteBatch } from '../storage/types.js';
import { JadeError, isJadeError } from '../util/errors.js';
import { digestOf } from './digest.js';
import type { BackupTarget } from './target.js';
import type { ManifestCollection, ManifestFile } from './manifest.js';

/** Points of one restoring upsert (each one replicated write)... */
export const RESTORE_BATCH_POINTS_MAX = 256;
/** ... and at most about this many bytes of vectors and payloads (far under a Raft entry's limit). */
export const RESTORE_BATCH_BYTES_MAX = 8 * 1024 * 1024;
/** How long one restoring write or read-back page may take (a new collection elects its leaders first). */
export const RESTORE_CALL_TIMEOUT_MS = 60_000;

/** What a restore needs of the node's database (query/ is above this layer: handed in, not imported). */
export interface RestoreSink {
  /** Whether the name is taken (by a collection or an alias). */
  taken(name: string): boolean;
  create(name: string, params: CollectionParams, options: { shardNumber: number; replicationFactor: number }): Promise<void>;
  /** Resolves once the batch is applied (upserts wait). */
  write(name: string, batch: WriteBatch, deadlineMs: number): Promise<void>;
  delete(name: string): Promise<boolean>;
}

/**
 * The point count and content digest of a collection as its replicas hold it (each after a read
 * barrier). Read from the stored points, not through the API: an answer shows a null payload as {}.
 */
export type CollectionDigest = (name: string) => Promise<{ points: number; digest: string }>;

export interface CollectionRestoreRequest {
  id: string;
  /** The collection's name in the backup. */
  collection: string;
  /** The name to restore it as (default: its name in the backup). */
  as?: string;
}

export interface CollectionRestoreResult {
  id: string;
  collection: string;
  restoredAs: string;
  shards: number;
  points: number;
  contentDigest: string;
  payloadIndexes: number;
  bytesRead: number;
  seconds: number;
}

function corrupt(file: string, detail: string): JadeError {
  return new JadeError('JADE_ERR_BACKUP_CORRUPT', `backup file ${file}: ${detail}`, { file });
}

function pointBytes(p: PointRecord): number {
  return p.vector.byteLength + (p.payload === null ? 0 : JSON.stringify(p.payload).length) + 64;
}

/** Upsert batches of a shard's points under both named limits. */
function* batchesOf(points: PointRecord[]): Generator<PointRecord[]> {
  let batch: PointRecord[] = [];
  let bytes = 0;
  for (const p of points) {
    const b = pointBytes(p);
    if (batch.length > 0 && (batch.length >= RESTORE_BATCH_POINTS_MAX || bytes + b > RESTORE_BATCH_BYTES_MAX)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(p);
    bytes += b;
  }
  if (batch.length > 0) yield batch;
}

export async function restoreCollection(target: BackupTarget, request: CollectionRestoreRequest, sink: RestoreSink, readBack: CollectionDigest): Promise<CollectionRestoreResult> {
  const started = performance.now();
  const { manifest } = await target.readManifest(request.id);
  const c: ManifestCollection | undefined = manifest.collections.find((x) => x.name === request.collection);
  if (!c) throw new JadeError('JADE_ERR_NOT_FOUND', `backup ${request.id} holds no collection "${request.collection}" (it holds: ${manifest.collections.map((x) => x.name).join(', ') || 'none'})`);
  const name = request.as ?? c.name;
  if (sink.taken(name)) throw new JadeError('JADE_ERR_COLLECTION_EXISTS', `collection "${name}" already exists: restore under another name ("as"), or delete it first`);
  const byPath = new Map<string, ManifestFile>(manifest.files.map((f) => [f.path, f]));
  let bytesRead = 0;
  const snapshotOf = async (shard: ManifestCollection['shards'][number]) => {
    const file = shard.files.snapshot;
    const bytes = await target.readFile(manifest.id, byPath.get(file)!);
    bytesRead += bytes.length;
    try {
      return { file, data: decodeShardSnapshot(bytes) };
    } catch (e) {
      throw corrupt(file, `does not decode: ${(e as Error).message}`);
    }
  };

  // 1. Every shard's points checked against the manifest before anything is created.
  const indexes = new Map<string, { schema: string; isTenant: boolean }>();
  for (const shard of c.shards) {
    const { file, data } = await snapshotOf(shard);
    const d = digestOf(data.points);
    if (d.points !== shard.points || d.digest !== shard.contentDigest) throw corrupt(file, `holds ${d.points} points (content digest ${d.digest}), the manifest says ${shard.points} (${shard.contentDigest})`);
    for (const ix of data.payloadIndexes) indexes.set(ix.field, { schema: ix.schema, isTenant: ix.isTenant === true });
  }

  // 2. Created and filled through the normal paths; a failure part-way deletes what was made.
  await sink.create(name, c.params, { shardNumber: c.shardNumber, replicationFactor: c.replicationFactor });
  let written = 0;
  try {
    if (indexes.size > 0) {
      const ops = [...indexes].map(([field, ix]) => ({ kind: 'create_payload_index' as const, field, schema: ix.schema as 'keyword' | 'integer' | 'float' | 'bool', ...(ix.isTenant ? { isTenant: true } : {}) }));
      await sink.write(name, { ops }, Date.now() + RESTORE_CALL_TIMEOUT_MS);
    }
    for (const shard of c.shards) {
      const { data } = await snapshotOf(shard);
      for (const points of batchesOf(data.points)) {
        await sink.write(name, { ops: [{ kind: 'upsert', points }] }, Date.now() + RESTORE_CALL_TIMEOUT_MS);
        written += points.length;
      }
    }
  } catch (e) {
    const deleted = await sink.delete(name).catch(() => false);
    const why = e instanceof Error ? e.message : String(e);
    throw new JadeError(isJadeError(e) ? e.code : 'JADE_ERR_INTERNAL', `restore of "${c.name}" from backup ${request.id} as "${name}" failed after ${written} of ${c.points} points (${why}); ${deleted ? 'the partly restored collection was deleted' : `delete the partly restored collection "${name}" before retrying`}`, { restoredPoints: written });
  }

  // 3. Read back: the count and content digest the backup recorded, or a coded refusal saying so.
  const back = await readBack(name);
  if (back.points !== c.points || back.digest !== c.contentDigest) {
    throw new JadeError('JADE_ERR_CONFLICT', `restored collection "${name}" holds ${back.points} points (content digest ${back.digest}), backup ${request.id} says ${c.points} (${c.contentDigest}); it is left in place to inspect (was it written to during the restore?): delete it and restore again`, { reason: 'RESTORE_MISMATCH', points: back.points, contentDigest: back.digest });
  }
  return { id: request.id, collection: c.name, restoredAs: name, shards: c.shards.length, points: back.points, contentDigest: back.digest, payloadIndexes: indexes.size, bytesRead, seconds: (performance.now() - started) / 1000 };
}
