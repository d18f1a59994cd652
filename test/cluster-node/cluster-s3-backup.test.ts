// Cluster backups into one S3 bucket shared by every node (s3rver on the loopback): three
// ClusterNodes in this process, a collection of 3 shards × 1 replica. n0 backs up (pulling the
// shards it lacks in chunks, each file streamed into the bucket as it arrives); n1, which wrote
// nothing, lists and verifies that backup from the bucket, and n2 restores its collection into the
// cluster under a new name with the backup's count and content digest.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterBackups } from '../../node/src/backup/cluster.js';
import { S3Target } from '../../node/src/backup/s3-target.js';
import { ClusterDatabase } from '../../node/src/query/cluster-database.js';
import { databaseSink } from '../../node/src/restore-sink.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const PARAMS = { dimension: 16, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const NAME = 'shared';
const BUCKET = 'jade-cluster-backups';
const CHUNK_BYTES = 1024;

describe('cluster backups in a shared S3 bucket', () => {
  const cluster = new ThreeNodes();
  const backups = new Map<string, ClusterBackups>();
  let s3rver: S3rver;
  let s3Dir: string;

  beforeAll(async () => {
    s3Dir = mkdtempSync(path.join(tmpdir(), 'jade-cluster-s3-'));
    s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3Dir });
    const { port } = await s3rver.run();
    const endpoint = `http://127.0.0.1:${port}`;
    const admin = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
    admin.destroy();
    await cluster.startAll();
    const disk = new RealDisk();
    for (const [id, node] of cluster.running) {
      const database = new ClusterDatabase(node, { readStrategy: 'round-robin' });
      const shardOptions = { wal: { segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 20, pendingBytesMax: 8 << 20 }, limits: DEFAULT_SHARD_LIMITS, checkpointWalBytes: 1 << 20 };
      const target = new S3Target({ bucket: BUCKET, prefix: 'cluster', endpoint, region: 'us-east-1', partSizeBytes: 64 * 1024, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
      backups.set(id, new ClusterBackups(node, target, { nodeVersion: 'test', disk, scratchDir: path.join(cluster.baseDir, id), shardOptions, sink: databaseSink(database), imageChunkBytes: CHUNK_BYTES }));
    }
    const leader = await waitFor('a meta leader', () => cluster.leaderOf('meta'));
    await leader.create(NAME, PARAMS, { shardNumber: 3, replicationFactor: 1 });
    const db = new ClusterDatabase(cluster.node('n0'), { readStrategy: 'round-robin' });
    await waitFor('the collection on n0', () => cluster.node('n0').has(NAME));
    const points = Array.from({ length: 240 }, (_, i) => ({ id: i, vector: Float32Array.from({ length: 16 }, (_, k) => i * 0.5 + k), payload: { i, text: `p${i}`.repeat(8) } }));
    await db.collection(NAME).write({ ops: [{ kind: 'upsert', points }] }, { deadlineMs: Date.now() + 20_000 });
  }, 60_000);

  afterAll(async () => {
    for (const b of backups.values()) b.close();
    await cluster.cleanUp();
    await s3rver?.close();
    if (s3Dir) rmSync(s3Dir, { recursive: true, force: true });
  });

  it('one node backs up into the bucket; another lists and verifies it; a third restores its collection', async () => {
    const summary = await backups.get('n0')!.create({ id: 'shared-1' });
    expect(summary).toMatchObject({ mode: 'cluster', kind: 'full' });
    const c = summary.collections[0];
    expect(c).toMatchObject({ name: NAME, points: 240 });
    expect(c.shards.some((s) => s.capturedFrom !== 'n0')).toBe(true);

    expect((await backups.get('n1')!.list()).map((b) => b.id)).toEqual(['shared-1']);
    const verified = await backups.get('n1')!.verify('shared-1');
    expect(verified.collections).toEqual([{ name: NAME, points: 240, contentDigest: c.contentDigest }]);

    const restored = await backups.get('n2')!.restoreCollection({ id: 'shared-1', collection: NAME, as: 'shared-copy' });
    expect(restored).toMatchObject({ restoredAs: 'shared-copy', shards: 3, points: 240, contentDigest: c.contentDigest });
  }, 60_000);
});
