// Checks the collection layer over several in-memory shards against one shard holding the same
// points (the oracle): writes split by hash land on the owning shard, and search (with offset,
// filters and thresholds), batch search, query by id, retrieve, scroll (paged to the end) and
// count give the same answers; a shard that does not answer is a 503 naming it, or a partial
// answer when allowed; a bad request fails at once.
import { describe, expect, it } from 'vitest';
import { ShardState } from '../../node/src/shard/state.js';
import { ShardedCollection, mergeHits, type ShardSet } from '../../node/src/query/collection.js';
import { evenRanges, type HashRange } from '../../node/src/query/hash.js';
import { LocalShardReader } from '../../node/src/query/local-reader.js';
import { shardOfPoint, splitBatch } from '../../node/src/query/split.js';
import type { ReadOptions, SearchSpec, ShardReader } from '../../node/src/query/types.js';
import type { PointRecord, WriteBatch } from '../../node/src/storage/types.js';
import { JadeError } from '../../node/src/util/errors.js';

const PARAMS = { dimension: 8, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 64, efSearch: 64 } };
const READ: () => ReadOptions = () => ({ consistency: 'strong', deadlineMs: Date.now() + 5_000 });

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function makeSet(ranges: HashRange[], options: { broken?: Set<number>; slow?: Set<number> } = {}): { set: ShardSet; states: ShardState[] } {
  const states = ranges.map(() => new ShardState(PARAMS));
  const readers = states.map((state, i): ShardReader => {
    const local = new LocalShardReader({ state: () => state, walBytes: () => 0 });
    if (options.broken?.has(i)) {
      const fail = async () => {
        throw new JadeError('JADE_ERR_UNAVAILABLE', `replica of shard ${i} is down`);
      };
      return { search: fail, retrieve: fail, scroll: fail, count: fail, info: fail };
    }
    if (options.slow?.has(i)) {
      const never = () => new Promise<never>(() => undefined);
      return { search: never, retrieve: never, scroll: never, count: never, info: never };
    }
    return local;
  });
  let lsn = 0;
  const set: ShardSet = {
    name: 'c',
    params: PARAMS,
    createdAtMs: 0,
    replicationFactor: 1,
    ranges,
    reader: (i) => readers[i],
    write: async (i, batch) => {
      states[i].apply(states[i].validateBatch(batch));
      states[i].indexAll();
      return ++lsn;
    },
  };
  return { set, states };
}

function points(n: number, seed: number): PointRecord[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: i % 7 === 0 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : i * 3 + 1,
    vector: Float32Array.from({ length: PARAMS.dimension }, () => r() * 2 - 1),
    payload: { tag: ['a', 'b', 'c'][i % 3], n: i },
  }));
}

describe('splitting a batch', () => {
  it('sends each point and id to the shard owning its hash, and filter ops to every shard, in op order', () => {
    const ranges = evenRanges(4);
    const pts = points(100, 1);
    const batch: WriteBatch = { ops: [{ kind: 'upsert', points: pts }, { kind: 'delete_by_filter', filterJson: '{"must":[]}' }, { kind: 'delete', ids: pts.slice(0, 10).map((p) => p.id) }] };
    const parts = splitBatch(batch, ranges);
    expect([...parts.keys()]).toEqual([0, 1, 2, 3]);
    let upserted = 0;
    for (const [shard, part] of parts) {
      expect(part.ops.map((o) => o.kind).filter((k, i, a) => a.indexOf(k) === i)).toEqual(part.ops.map((o) => o.kind));
      for (const op of part.ops) {
        if (op.kind === 'upsert') {
          for (const p of op.points) expect(shardOfPoint(ranges, p.id)).toBe(shard);
          upserted += op.points.length;
        }
        if (op.kind === 'delete') for (const id of op.ids) expect(shardOfPoint(ranges, id)).toBe(shard);
      }
      expect(part.ops.some((o) => o.kind === 'delete_by_filter')).toBe(true);
    }
    expect(upserted).toBe(100);
  });

  it('sends payload and vector updates by id to the owning shard, and by filter to every shard', () => {
    const ranges = evenRanges(4);
    const ids = points(60, 3).map((p) => p.id);
    const batch: WriteBatch = {
      ops: [
        { kind: 'set_payload', payload: { a: 1 }, overwrite: false, target: { ids } },
        { kind: 'set_payload', payload: {}, overwrite: true, target: { filterJson: '{"must":[]}' } },
        { kind: 'delete_payload', keys: ['a'], target: { ids: ids.slice(0, 30) } },
        { kind: 'delete_payload', keys: ['b'], target: { filterJson: '{"should":[]}' } },
        { kind: 'update_vectors', points: ids.map((id) => ({ id, vector: new Float32Array(8) })) },
      ],
    };
    const parts = splitBatch(batch, ranges);
    expect([...parts.keys()]).toEqual([0, 1, 2, 3]);
    const routed = { set: 0, del: 0, vec: 0 };
    for (const [shard, part] of parts) {
      expect(part.ops.filter((o) => (o.kind === 'set_payload' || o.kind === 'delete_payload') && 'filterJson' in o.target)).toHaveLength(2);
      for (const op of part.ops) {
        if ((op.kind === 'set_payload' || op.kind === 'delete_payload') && 'ids' in op.target) {
          for (const id of op.target.ids) expect(shardOfPoint(ranges, id)).toBe(shard);
          routed[op.kind === 'set_payload' ? 'set' : 'del'] += op.target.ids.length;
        }
        if (op.kind === 'update_vectors') {
          for (const p of op.points) expect(shardOfPoint(ranges, p.id)).toBe(shard);
          routed.vec += op.points.length;
        }
      }
      // Each shard's part keeps the batch's op order.
      const order = part.ops.map((o) => batch.ops.indexOf(batch.ops.find((b) => b.kind === o.kind && JSON.stringify('target' in b ? 'filterJson' in b.target : 0) === JSON.stringify('target' in o ? 'filterJson' in o.target : 0))!));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(routed).toEqual({ set: 60, del: 30, vec: 60 });
  });
});

describe('a collection over 5 shards answers as one shard does', () => {
  const sharded = makeSet(evenRanges(5));
  const oracle = makeSet(evenRanges(1));
  const many = new ShardedCollection(sharded.set);
  const one = new ShardedCollection(oracle.set);
  const pts = points(400, 7);

  it('stores each point on its shard only', async () => {
    for (const c of [many, one]) await c.write({ ops: [{ kind: 'upsert', points: pts }, { kind: 'create_payload_index', field: 'tag', schema: 'keyword' }] }, { deadlineMs: Date.now() + 5_000 });
    expect(sharded.states.reduce((a, s) => a + s.count, 0)).toBe(400);
    expect(sharded.states.every((s) => s.count > 40)).toBe(true);
    for (const p of pts) expect(sharded.states[shardOfPoint(sharded.set.ranges, p.id)].get(p.id)).not.toBeNull();
    const info = await many.info(READ());
    expect(info).toMatchObject({ shardNumber: 5, points: 400, payloadIndexes: [{ field: 'tag', schema: 'keyword', points: 400 }] });
  });

  it('search, with offset, filter, threshold and batch, equals the oracle (exact)', async () => {
    const r = rng(99);
    const specs: SearchSpec[] = Array.from({ length: 20 }, (_, i) => ({
      vector: Float32Array.from({ length: 8 }, () => r() * 2 - 1),
      limit: 1 + (i % 10),
      offset: i % 4,
      filter: i % 2 ? { must: [{ key: 'tag', match: { value: 'b' } }] } : null,
      exact: true,
      withPayload: i % 3 === 0,
      withVector: i % 5 === 0,
      scoreThreshold: i % 6 === 5 ? 2.5 : undefined,
    }));
    const a = await many.searchBatch(specs, READ());
    const b = await one.searchBatch(specs, READ());
    expect(a).toEqual(b);
    expect(a.every((x) => !x.partial)).toBe(true);
    const byId = await many.search({ pointId: pts[5].id, limit: 3, offset: 0, filter: null, exact: true, withPayload: false, withVector: false }, READ());
    expect(byId.hits[0].id).toBe(pts[5].id);
    expect(byId).toEqual(await one.search({ pointId: pts[5].id, limit: 3, offset: 0, filter: null, exact: true, withPayload: false, withVector: false }, READ()));
  });

  it('retrieve keeps the request order and lists missing ids; count sums the shards', async () => {
    const ids = [pts[3].id, 999_999, pts[0].id, pts[200].id];
    const got = await many.retrieve(ids, { include: ['n'] }, true, READ());
    expect(got.found.map((p) => p.id)).toEqual([pts[3].id, pts[0].id, pts[200].id]);
    expect(got.missing).toEqual([999_999]);
    expect(got).toEqual(await one.retrieve(ids, { include: ['n'] }, true, READ()));
    const filter = { must: [{ key: 'tag', match: { value: 'a' } }] };
    expect(await many.count(filter, READ())).toBe(await one.count(filter, READ()));
    expect(await many.count(null, READ())).toBe(400);
  });

  it('scroll pages through every point in id order across shards, as one shard does', async () => {
    for (const [limit, filter] of [[7, null], [50, { must: [{ key: 'tag', match: { value: 'c' } }] }], [1, { must: [{ key: 'n', range: { lt: 20 } }] }]] as const) {
      let offsetA: string | number | null = null;
      let offsetB: string | number | null = null;
      let seen = 0;
      do {
        const a = await many.scroll({ offset: offsetA, limit, filter, withPayload: true, withVector: false }, READ());
        const b = await one.scroll({ offset: offsetB, limit, filter, withPayload: true, withVector: false }, READ());
        expect(a).toEqual(b);
        seen += a.points.length;
        offsetA = a.nextOffset;
        offsetB = b.nextOffset;
      } while (offsetA !== null);
      expect(seen).toBe(await one.count(filter, READ()));
    }
  });

  it('deletes by id and by filter reach every shard', async () => {
    for (const c of [many, one]) await c.write({ ops: [{ kind: 'delete', ids: pts.slice(0, 50).map((p) => p.id) }, { kind: 'delete_by_filter', filterJson: JSON.stringify({ must: [{ key: 'tag', match: { value: 'a' } }] }) }] }, { deadlineMs: Date.now() + 5_000 });
    expect(await many.count(null, READ())).toBe(await one.count(null, READ()));
    expect(await many.count({ must: [{ key: 'tag', match: { value: 'a' } }] }, READ())).toBe(0);
  });

  it('payload and vector updates by id and by filter reach the owning shards, as on one shard', async () => {
    const ids = (await one.retrieve(pts.slice(60, 140).map((p) => p.id), false, false, READ())).found.map((p) => p.id).slice(0, 50);
    expect(ids).toHaveLength(50);
    const opts = { deadlineMs: Date.now() + 5_000 };
    for (const c of [many, one]) {
      await c.write({ ops: [{ kind: 'set_payload', payload: { tag: 'z', hot: true }, overwrite: false, target: { ids } }] }, opts);
      await c.write({ ops: [{ kind: 'set_payload', payload: { tag: 'y' }, overwrite: true, target: { filterJson: JSON.stringify({ must: [{ key: 'tag', match: { value: 'b' } }] }) } }] }, opts);
      await c.write({ ops: [{ kind: 'delete_payload', keys: ['hot'], target: { ids: ids.slice(0, 10) } }] }, opts);
      await c.write({ ops: [{ kind: 'update_vectors', points: ids.slice(0, 20).map((id) => ({ id, vector: new Float32Array(8).fill(0.25) })) }] }, opts);
    }
    for (const filter of [{ must: [{ key: 'tag', match: { value: 'z' } }] }, { must: [{ key: 'tag', match: { value: 'y' } }] }, { must: [{ key: 'hot', match: { value: true } }] }]) {
      expect(await many.count(filter, READ()), JSON.stringify(filter)).toBe(await one.count(filter, READ()));
    }
    expect(await many.count({ must: [{ key: 'hot', match: { value: true } }] }, READ())).toBe(40); // 50 set, 10 deleted again
    const a = await many.retrieve(ids, true, true, READ());
    const b = await one.retrieve(ids, true, true, READ());
    expect(a.found.map((p) => [p.id, p.payload, Array.from(p.vector!)])).toEqual(b.found.map((p) => [p.id, p.payload, Array.from(p.vector!)]));
    // A missing id is refused by the shard that owns it with its own 404, and nothing is written there.
    await expect(many.write({ ops: [{ kind: 'set_payload', payload: { q: 1 }, overwrite: false, target: { ids: [424242] } }] }, opts)).rejects.toMatchObject({ code: 'JADE_ERR_NOT_FOUND', message: 'point 424242 does not exist' });
    expect(await many.count({ must: [{ key: 'q', match: { value: 1 } }] }, READ())).toBe(0);
  });
});

describe('shards that do not answer', () => {
  const spec: SearchSpec = { vector: new Float32Array(8), limit: 5, offset: 0, filter: null, exact: true, withPayload: false, withVector: false };

  it('a down shard is a 503 naming it, or a partial answer listing it when allowed', async () => {
    const { set } = makeSet(evenRanges(3), { broken: new Set([1]) });
    const c = new ShardedCollection(set);
    await c.write({ ops: [{ kind: 'upsert', points: points(30, 3).filter((p) => set.ranges.length && shardOfPoint(set.ranges, p.id) !== 1) }] }, { deadlineMs: Date.now() + 1_000 });
    await expect(c.search(spec, READ())).rejects.toMatchObject({ code: 'JADE_ERR_UNAVAILABLE', details: { missingShards: [1] } });
    const partial = await c.search(spec, { ...READ(), allowPartial: true });
    expect(partial).toMatchObject({ partial: true, missingShards: [1] });
    expect(partial.hits).toHaveLength(5);
    await expect(c.count(null, { ...READ(), allowPartial: true })).rejects.toMatchObject({ code: 'JADE_ERR_UNAVAILABLE' });
  });

  it('a shard that never answers is cut at the request deadline', async () => {
    const { set } = makeSet(evenRanges(2), { slow: new Set([0]) });
    const c = new ShardedCollection(set);
    const started = Date.now();
    await expect(c.search(spec, { consistency: 'strong', deadlineMs: Date.now() + 150 })).rejects.toMatchObject({ code: 'JADE_ERR_DEADLINE' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await c.search(spec, { consistency: 'strong', deadlineMs: Date.now() + 150, allowPartial: true })).toMatchObject({ partial: true, missingShards: [0] });
  });

  it('a bad request fails at once with its own error, never as a partial answer', async () => {
    const { set } = makeSet(evenRanges(3));
    const c = new ShardedCollection(set);
    await expect(c.search({ ...spec, vector: new Float32Array(3) }, { ...READ(), allowPartial: true })).rejects.toMatchObject({ code: 'JADE_ERR_DIMENSION_MISMATCH' });
    await expect(c.search({ ...spec, filter: { must: [{ nonsense: 1 }] } }, { ...READ(), allowPartial: true })).rejects.toMatchObject({ code: 'JADE_ERR_BAD_FILTER' });
  });

  it('a write failing on one of several shards names what was applied and what failed', async () => {
    const { set } = makeSet(evenRanges(3));
    const write = set.write;
    (set as { write: ShardSet['write'] }).write = async (i, batch, opts) => {
      if (i === 2) throw new JadeError('JADE_ERR_UNAVAILABLE', 'no leader for shard 2');
      return write(i, batch, opts);
    };
    const c = new ShardedCollection(set);
    await expect(c.write({ ops: [{ kind: 'upsert', points: points(30, 5) }] }, { deadlineMs: Date.now() + 1_000 })).rejects.toMatchObject({
      code: 'JADE_ERR_UNAVAILABLE',
      details: { appliedShards: [0, 1], failedShards: [2] },
    });
  });
});

describe('merging shard answers', () => {
  it('orders by distance, ties by id, then pages', () => {
    const h = (id: number | string, distance: number) => ({ id, distance, score: distance });
    const merged = mergeHits([[h(5, 0.1), h(2, 0.3)], [h(1, 0.3), h(9, 0.5)], [h('00000000-0000-0000-0000-000000000001', 0.3)]], 1, 3);
    expect(merged.map((x) => x.id)).toEqual([1, 2, '00000000-0000-0000-0000-000000000001']);
  });
});
