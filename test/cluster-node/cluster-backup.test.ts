// Cluster backups at the cluster-node level (three ClusterNodes in this process, real internal
// calls): a collection of 3 shards × 1 replica, so the coordinator holds at most one shard and
// pulls the others from their nodes, here in chunks of 1 KiB (many per file). Checked: the pulled
// files equal what the replica reported (size, SHA-256), each shard stands at a Raft position and
// names the node it came from, verify passes; with a shard's only node stopped, a backup is a
// coded 503 naming that shard and leaves nothing in the backup directory. A capture asked while the
// driver is between applying a batch and recording its index reads the index after the batch. The
// replica's image holds:
// at most IMAGES_HELD_MAX, only their owner reads them, dropped after the TTL.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterBackups } from '../../node/src/backup/cluster.js';
import { DirectoryTarget } from '../../node/src/backup/directory-target.js';
import { IMAGES_HELD_MAX, ImageHolds } from '../../node/src/backup/replica-images.js';
import { nodeOfMember } from '../../node/src/cluster/identity.js';
import { ClusterDatabase } from '../../node/src/query/cluster-database.js';
import { databaseSink } from '../../node/src/restore-sink.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const PARAMS = { dimension: 16, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const NAME = 'pulled';
const CHUNK_BYTES = 1024;

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a refusal');
}

describe('cluster backups between nodes', () => {
  const cluster = new ThreeNodes();
  const backups = new Map<string, ClusterBackups>();
  const root = (id: string) => path.join(cluster.baseDir, id, 'backups');

  beforeAll(async () => {
    await cluster.startAll();
    const disk = new RealDisk();
    for (const [id, node] of cluster.running) {
      const database = new ClusterDatabase(node, { readStrategy: 'round-robin' });
      const shardOptions = { wal: { segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 20, pendingBytesMax: 8 << 20 }, limits: DEFAULT_SHARD_LIMITS, checkpointWalBytes: 1 << 20 };
      backups.set(id, new ClusterBackups(node, new DirectoryTarget(disk, root(id)), { nodeVersion: 'test', disk, scratchDir: path.join(cluster.baseDir, id), shardOptions, sink: databaseSink(database), imageChunkBytes: CHUNK_BYTES }));
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
  });

  it('pulls the shards it lacks from their nodes in chunks, checked file by file; verify passes', async () => {
    const summary = await backups.get('n0')!.create({ id: 'chunked' });
    expect(summary).toMatchObject({ mode: 'cluster', kind: 'full' });
    const dir = path.join(root('n0'), 'chunked');
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const c = manifest.collections[0];
    expect(c).toMatchObject({ name: NAME, shardNumber: 3, replicationFactor: 1, points: 240 });
    const placement = cluster.node('n0').collectionMeta(NAME).shards.map((s) => nodeOfMember(s.replicas[0]));
    expect(c.shards.map((s: any) => s.capturedFrom)).toEqual(placement);
    expect(placement.filter((n) => n !== 'n0').length).toBeGreaterThan(0);
    for (const s of c.shards) {
      expect(s.position).toMatchObject({ kind: 'raft' });
      expect(s.position.index).toBeGreaterThan(0);
      expect(s.position.term).toBeGreaterThan(0);
    }
    // Pulled images are bigger than a chunk: each came in several calls (the image is pulled as it is
    // and compressed into the backup, so its decoded size is what was pulled).
    const remote = c.shards.find((s: any) => s.capturedFrom !== 'n0');
    const snapshot = manifest.files.find((f: any) => f.path === remote.files.snapshot);
    expect(snapshot.contentSizeBytes).toBeGreaterThan(4 * CHUNK_BYTES);
    // Nothing is held on the replicas once the backup is done.
    for (const b of backups.values()) expect(b.holds.size).toBe(0);
    const verified = await backups.get('n0')!.verify('chunked');
    expect(verified.collections).toEqual([{ name: NAME, points: 240, contentDigest: c.contentDigest }]);
  }, 30_000);

  it('a capture asked while the driver is applying a batch reads the position after it, never one behind its state', async () => {
    const meta = cluster.node('n0').collectionMeta(NAME);
    const holder = cluster.node(nodeOfMember(meta.shards[0].replicas[0]));
    const replica = holder.localReplica(meta.shards[0].groupId)!;
    const apply = replica.sm.apply.bind(replica.sm);
    const seen: Promise<{ entry: number; index: number }>[] = [];
    // Called inside apply, where the state already holds the entry but the driver has not recorded its index.
    replica.sm.apply = (entry) => {
      const r = apply(entry);
      seen.push(replica.group.atAppliedPosition((p) => ({ entry: entry.index, index: p.index }), 5_000));
      return r;
    };
    try {
      const db = new ClusterDatabase(cluster.node('n0'), { readStrategy: 'round-robin' });
      for (let k = 0; k < 5; k++) {
        const points = Array.from({ length: 30 }, (_, i) => ({ id: 1_000 + k * 30 + i, vector: Float32Array.from({ length: 16 }, () => k), payload: null }));
        await db.collection(NAME).write({ ops: [{ kind: 'upsert', points }] }, { deadlineMs: Date.now() + 10_000 });
      }
    } finally {
      replica.sm.apply = apply;
    }
    const positions = await Promise.all(seen);
    expect(positions.length).toBeGreaterThan(0);
    for (const p of positions) expect(p.index).toBeGreaterThanOrEqual(p.entry);
  }, 30_000);

  it('a shard whose only node is gone: a coded 503 naming the shard, and no backup left behind', async () => {
    const placement = cluster.node('n0').collectionMeta(NAME).shards.map((s) => nodeOfMember(s.replicas[0]));
    const gone = placement.findIndex((n) => n !== 'n0');
    await cluster.stop(placement[gone]);
    const e = await refusal(backups.get('n0')!.create({ id: 'half' }));
    expect(e.code).toBe('JADE_ERR_UNAVAILABLE');
    expect(e.message).toContain(`shard ${gone} of "${NAME}"`);
    expect(e.details).toMatchObject({ collection: NAME, shard: gone });
    expect(readdirSync(root('n0')).sort()).toEqual(['chunked']);
    expect(await backups.get('n0')!.target.exists('half')).toBe(false);
  }, 90_000);
});

describe('image holds on a replica', () => {
  const image = { points: 1, contentDigest: '0'.repeat(64), files: { snapshot: new Uint8Array([1, 2, 3, 4, 5]), labels: new Uint8Array(0), meta: new Uint8Array(0), unindexed: new Uint8Array(0) } };

  it('holds at most IMAGES_HELD_MAX, reads only for their owner, in ranges, and drops them after the TTL', async () => {
    const holds = new ImageHolds(50);
    const tokens = Array.from({ length: IMAGES_HELD_MAX }, () => holds.hold('n0', image));
    expect(() => holds.hold('n0', image)).toThrow(expect.objectContaining({ code: 'JADE_ERR_QUEUE_FULL' }));
    expect([...holds.read(tokens[0], 'n0', 'snapshot', 1, 3)]).toEqual([2, 3, 4]);
    expect([...holds.read(tokens[0], 'n0', 'snapshot', 4, 3)]).toEqual([5]);
    expect(() => holds.read(tokens[0], 'n1', 'snapshot', 0, 3)).toThrow(expect.objectContaining({ code: 'JADE_ERR_NOT_FOUND' }));
    expect(() => holds.read(tokens[0], 'n0', 'snapshot', 6, 3)).toThrow(expect.objectContaining({ code: 'JADE_ERR_BAD_REQUEST' }));
    expect(holds.release(tokens[1], 'n1')).toBe(false);
    expect(holds.release(tokens[1], 'n0')).toBe(true);
    await new Promise((r) => setTimeout(r, 120));
    expect(holds.size).toBe(0);
    expect(() => holds.read(tokens[0], 'n0', 'snapshot', 0, 3)).toThrow(expect.objectContaining({ code: 'JADE_ERR_NOT_FOUND' }));
  });
});
