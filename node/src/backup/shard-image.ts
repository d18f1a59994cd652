// One shard's image in a backup: the same files as a standalone checkpoint (the snapshot of points
// and payload-index definitions, the labels, the next label, the graph's backlog, and the saved HNSW
// graph), captured synchronously so that every file describes one position, and written back as a
// checkpoint of a shard directory on restore (DESIGN.md: one persistence format for a replica's image).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHECKPOINT_NAME } from '../shard/local-shard.js';
import type { ShardState } from '../shard/state.js';
import { writeCheckpoint } from '../storage/checkpoint.js';
import { encodeShardSnapshot } from '../storage/codec.js';
import type { Disk } from '../storage/disk.js';
import { digestOf } from './digest.js';

/** Roles of an image's files and the names the checkpoint gives them. */
export const IMAGE_FILES = { snapshot: 'snapshot.fb', labels: 'labels.bin', meta: 'meta.json', unindexed: 'unindexed.bin', graph: 'hnsw.bin' } as const;
export type ImageRole = keyof typeof IMAGE_FILES;

export interface ShardImage {
  points: number;
  contentDigest: string;
  files: Partial<Record<ImageRole, Uint8Array>>;
}

/**
 * The shard as it is at this instant, with the position it stands at (every batch up to lsn
 * applied, none after). Synchronous on purpose: no write can land between the parts. The vectors
 * are copied into the encoded snapshot here, so writes may go on once it returns.
 */
export function captureShardImage(state: ShardState, lsn: number, scratchDir?: string): ShardImage {
  const exported = state.exportPoints();
  const { points, digest } = digestOf(exported.points);
  const snapshot = encodeShardSnapshot({
    configJson: JSON.stringify(state.params),
    lastAppliedLsn: lsn,
    points: exported.points,
    payloadIndexes: state.payloadIndexList().map(({ field, schema, isTenant }) => ({ field, schema, isTenant })),
  });
  const files: ShardImage['files'] = {
    snapshot,
    labels: new Uint8Array(exported.labels.buffer, exported.labels.byteOffset, exported.labels.byteLength),
    meta: new TextEncoder().encode(JSON.stringify({ nextLabel: exported.nextLabel })),
    unindexed: new Uint8Array(exported.unindexed.buffer, exported.unindexed.byteOffset, exported.unindexed.byteLength),
  };
  if (points > 0) {
    // hnswlib writes its graph by path only: one scratch file, read back at once.
    const dir = mkdtempSync(path.join(scratchDir ?? tmpdir(), 'jade-backup-graph-'));
    try {
      const file = path.join(dir, IMAGE_FILES.graph);
      state.saveGraph(file);
      files.graph = new Uint8Array(readFileSync(file));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { points, contentDigest: digest, files };
}

/** Writes an image as the checkpoint of a (new, empty) shard directory; its WAL starts empty past the image's position. */
export async function writeImageAsCheckpoint(disk: Disk, shardDir: string, files: Partial<Record<ImageRole, Uint8Array>>): Promise<void> {
  const extra: Record<string, Uint8Array> = {};
  for (const role of ['labels', 'meta', 'unindexed', 'graph'] as const) {
    const bytes = files[role];
    if (bytes) extra[IMAGE_FILES[role]] = bytes;
  }
  await writeCheckpoint(disk, shardDir, CHECKPOINT_NAME, { snapshot: files.snapshot!, extra });
}
