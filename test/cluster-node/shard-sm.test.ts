// Checks that a shard replica's snapshot image restores exactly when it arrives as a view into a
// larger Buffer at any byte offset (how the gRPC transport hands over a received snapshot):
// Buffer#slice is a view, so a restore that took `.slice(...).buffer` read the whole pool; and that
// the image is the state when snapshot() was called, though it is encoded while entries go on
// being applied (deletes and upserts that reuse the arena's slots included).
import { describe, expect, it } from 'vitest';
import { ShardStateMachine } from '../../node/src/cluster/shard-sm.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { encodeWriteBatch } from '../../node/src/storage/codec.js';

const PARAMS = { dimension: 2, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };

describe('shard state machine snapshot', () => {
  it('restores from a Buffer view at any offset', async () => {
    const source = new ShardStateMachine(PARAMS, DEFAULT_SHARD_LIMITS);
    const pointCount = 7;
    for (let i = 0; i < pointCount; i++) {
      const batch = { ops: [{ kind: 'upsert' as const, points: [{ id: i, vector: Float32Array.from([i, 2 * i + 1]), payload: { n: i } }] }] };
      expect(source.apply({ index: i + 2, term: 2, type: 'normal', data: encodeWriteBatch(batch) })).toBe(i + 2);
    }
    const image = await source.snapshot();
    source.indexer.stop();
    for (const offset of [0, 3, 8, 13]) {
      const pool = Buffer.alloc(offset + image.length + 5, 0xee);
      pool.set(image, offset);
      const replica = new ShardStateMachine(PARAMS, DEFAULT_SHARD_LIMITS);
      replica.restore(pool.subarray(offset, offset + image.length));
      replica.indexer.stop();
      expect(replica.state.count).toBe(pointCount);
      for (let i = 0; i < pointCount; i++) {
        const p = replica.state.get(i);
        expect(p?.payload).toEqual({ n: i });
        expect(Array.from(p!.vector)).toEqual([i, 2 * i + 1]);
      }
    }
  });

  it('captures the state when called, while later entries are applied during the encode', async () => {
    const source = new ShardStateMachine(PARAMS, DEFAULT_SHARD_LIMITS);
    const upsert = (index: number, id: number, v: number) =>
      source.apply({ index, term: 2, type: 'normal', data: encodeWriteBatch({ ops: [{ kind: 'upsert', points: [{ id, vector: Float32Array.from([v, v]), payload: { v } }] }] }) });
    for (let i = 0; i < 5; i++) upsert(i + 2, i, i);
    const pending = source.snapshot();
    // Delete 0..4 and write new points: their vectors land in the slots the snapshot read from.
    source.apply({ index: 7, term: 2, type: 'normal', data: encodeWriteBatch({ ops: [{ kind: 'delete', ids: [0, 1, 2, 3, 4] }] }) });
    for (let i = 0; i < 5; i++) upsert(8 + i, 100 + i, 99);
    const replica = new ShardStateMachine(PARAMS, DEFAULT_SHARD_LIMITS);
    replica.restore(await pending);
    source.indexer.stop();
    replica.indexer.stop();
    expect(replica.state.count).toBe(5);
    for (let i = 0; i < 5; i++) {
      expect(Array.from(replica.state.get(i)!.vector)).toEqual([i, i]);
      expect(replica.state.get(i)!.payload).toEqual({ v: i });
    }
    expect(replica.state.get(100)).toBeNull();
  });
});
