// Checks that a shard replica's snapshot image restores exactly when it arrives as a view into a
// larger Buffer at any byte offset (how the gRPC transport hands over a received snapshot):
// Buffer#slice is a view, so a restore that took `.slice(...).buffer` read the whole pool.
import { describe, expect, it } from 'vitest';
import { ShardStateMachine } from '../../node/src/cluster/shard-sm.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { encodeWriteBatch } from '../../node/src/storage/codec.js';

const PARAMS = { dimension: 2, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };

describe('shard state machine snapshot', () => {
  it('restores from a Buffer view at any offset', () => {
    const source = new ShardStateMachine(PARAMS, DEFAULT_SHARD_LIMITS);
    const pointCount = 7;
    for (let i = 0; i < pointCount; i++) {
      const batch = { ops: [{ kind: 'upsert' as const, points: [{ id: i, vector: Float32Array.from([i, 2 * i + 1]), payload: { n: i } }] }] };
      expect(source.apply({ index: i + 2, term: 2, type: 'normal', data: encodeWriteBatch(batch) })).toBe(i + 2);
    }
    const image = source.snapshot();
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
});
