// Splitting a write batch by shard: points and ids go to the shard owning their hash (upserts,
// deletes, payload updates by id, vector updates); ops that are about every point (delete or
// payload updates by filter, payload indexes) go to every shard. Each shard's part
// keeps the batch's op order, so it is applied atomically and in order on that shard (a batch is
// atomic per shard, not across shards, as in Qdrant).
import type { PointId, WriteBatch, WriteOp } from '../storage/types.js';
import { pointHash, rangeIndexOf, type HashRange } from './hash.js';

export function shardOfPoint(ranges: readonly HashRange[], id: PointId): number {
  return ranges.length === 1 ? 0 : rangeIndexOf(ranges, pointHash(id));
}

/** One part per shard that has something to do, by shard index. */
export function splitBatch(batch: WriteBatch, ranges: readonly HashRange[]): Map<number, WriteBatch> {
  if (ranges.length === 1) return new Map([[0, batch]]);
  const parts = new Map<number, WriteOp[]>();
  const push = (shard: number, op: WriteOp) => {
    let ops = parts.get(shard);
    if (!ops) parts.set(shard, (ops = []));
    ops.push(op);
  };
  for (const op of batch.ops) {
    switch (op.kind) {
      case 'upsert': {
        const byShard = groupBy(op.points, (p) => shardOfPoint(ranges, p.id));
        for (const [shard, points] of byShard) push(shard, { kind: 'upsert', points });
        break;
      }
      case 'delete': {
        const byShard = groupBy(op.ids, (id) => shardOfPoint(ranges, id));
        for (const [shard, ids] of byShard) push(shard, { kind: 'delete', ids });
        break;
      }
      case 'update_vectors': {
        const byShard = groupBy(op.points, (p) => shardOfPoint(ranges, p.id));
        for (const [shard, points] of byShard) push(shard, { kind: 'update_vectors', points });
        break;
      }
      case 'set_payload':
      case 'delete_payload': {
        if ('ids' in op.target) {
          const byShard = groupBy(op.target.ids, (id) => shardOfPoint(ranges, id));
          for (const [shard, ids] of byShard) push(shard, { ...op, target: { ids } });
          break;
        }
        for (let shard = 0; shard < ranges.length; shard++) push(shard, op);
        break;
      }
      default:
        for (let shard = 0; shard < ranges.length; shard++) push(shard, op);
    }
  }
  return new Map([...parts].sort((a, b) => a[0] - b[0]).map(([shard, ops]) => [shard, { ops }]));
}

export function groupBy<T>(items: readonly T[], key: (item: T) => number): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const item of items) {
    const k = key(item);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(item);
  }
  return out;
}
