// Checks the shard state machine: upsert/replace/delete semantics, Qdrant filter semantics, the
// planner's promise of k results whenever k points match, and scroll order — each against a
// plain-JS evaluation over the same points; apply() of a batch that never passed validateBatch
// (as a bad entry already in a Raft log) fails as a whole, with a coded error, changing nothing.
import { describe, expect, it } from 'vitest';
import { parseFilter } from '../../node/src/shard/filter.js';
import { ShardState } from '../../node/src/shard/state.js';
import { JadeError } from '../../node/src/util/errors.js';

function rng(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

function makeState(metric: 'l2' | 'cosine' | 'ip' = 'l2', dimension = 8) {
  return new ShardState({ dimension, metric, hnsw: { m: 8, efConstruction: 64, efSearch: 32 } });
}

function randomPoints(n: number, dim: number, seed: number) {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    vector: Float32Array.from({ length: dim }, () => r() * 2 - 1),
    payload: { color: ['red', 'green', 'blue'][i % 3], size: i % 50, tags: i % 7 === 0 ? ['rare', 'x'] : ['common'], nested: { level: i % 4 } },
  }));
}

describe('ShardState writes', () => {
  it('replaces an existing id on upsert and forgets it on delete', () => {
    const s = makeState();
    const batch = s.validateBatch({ ops: [{ kind: 'upsert', points: randomPoints(10, 8, 1) }] });
    s.apply(batch);
    expect(s.count).toBe(10);
    const replacement = new Float32Array(8).fill(0.5);
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: [{ id: 3, vector: replacement, payload: { color: 'black' } }] }] }));
    expect(s.count).toBe(10);
    expect(s.get(3)?.payload).toEqual({ color: 'black' });
    expect(Array.from(s.get(3)!.vector)).toEqual(Array.from(replacement));
    const hit = s.search({ vector: replacement, k: 1 }).hits[0];
    expect(hit.id).toBe(3);
    s.apply(s.validateBatch({ ops: [{ kind: 'delete', ids: [3, 4, 999] }] }));
    expect(s.count).toBe(8);
    expect(s.get(3)).toBeNull();
    expect(s.search({ vector: replacement, k: 10 }).hits.map((h) => h.id)).not.toContain(3);
  });

  it('rejects bad points with coded errors and leaves the state unchanged', () => {
    const s = makeState();
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: randomPoints(5, 8, 2) }] }));
    const cases: [unknown, string][] = [
      [{ id: 1, vector: new Float32Array(7), payload: null }, 'JADE_ERR_DIMENSION_MISMATCH'],
      [{ id: 1, vector: new Float32Array(8).fill(NaN), payload: null }, 'JADE_ERR_NOT_FINITE'],
      [{ id: -1, vector: new Float32Array(8), payload: null }, 'JADE_ERR_BAD_ID'],
      [{ id: 'not-a-uuid', vector: new Float32Array(8), payload: null }, 'JADE_ERR_BAD_ID'],
      [{ id: 1, vector: new Float32Array(8), payload: { big: 'x'.repeat(70_000) } }, 'JADE_ERR_PAYLOAD_TOO_LARGE'],
    ];
    for (const [point, code] of cases) {
      let caught: unknown;
      try {
        s.validateBatch({ ops: [{ kind: 'upsert', points: [point as any] }] });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(JadeError);
      expect((caught as JadeError).code).toBe(code);
    }
    expect(s.count).toBe(5);
    expect(s.get(1)?.payload).toEqual(randomPoints(5, 8, 2)[1].payload);
  });

  it('apply refuses a whole unvalidated batch with a coded error before changing anything', () => {
    const s = makeState();
    const seed = randomPoints(5, 8, 3);
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: seed }] }));
    const fresh = { id: 100, vector: new Float32Array(8).fill(0.25), payload: { fresh: true } };
    const deep = JSON.parse('{"a":' + '['.repeat(70) + '1' + ']'.repeat(70) + '}');
    const cases: [string, unknown, string][] = [
      // The probe: a good new point, then a wrong-dimension vector for an existing id.
      ['wrong dimension next to an existing id', { ops: [{ kind: 'upsert', points: [fresh, { id: 2, vector: new Float32Array(3), payload: null }] }] }, 'JADE_ERR_DIMENSION_MISMATCH'],
      ['NaN', { ops: [{ kind: 'upsert', points: [fresh, { id: 1, vector: new Float32Array(8).fill(NaN), payload: null }] }] }, 'JADE_ERR_NOT_FINITE'],
      ['Infinity after a delete', { ops: [{ kind: 'delete', ids: [0] }, { kind: 'upsert', points: [{ id: 1, vector: Float32Array.from([1, 2, 3, 4, 5, 6, 7, Infinity]), payload: null }] }] }, 'JADE_ERR_NOT_FINITE'],
      ['non-canonical UUID', { ops: [{ kind: 'upsert', points: [fresh, { id: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', vector: new Float32Array(8), payload: null }] }] }, 'JADE_ERR_BAD_ID'],
      ['negative id to delete', { ops: [{ kind: 'upsert', points: [fresh] }, { kind: 'delete', ids: [-1] }] }, 'JADE_ERR_BAD_ID'],
      ['filter that is not JSON', { ops: [{ kind: 'delete', ids: [1] }, { kind: 'delete_by_filter', filterJson: '{' }] }, 'JADE_ERR_BAD_FILTER'],
      ['payload nested too deep', { ops: [{ kind: 'upsert', points: [fresh, { id: 3, vector: new Float32Array(8), payload: deep }] }] }, 'JADE_ERR_BAD_REQUEST'],
      ['payload with an infinite number', { ops: [{ kind: 'upsert', points: [{ id: 3, vector: new Float32Array(8), payload: JSON.parse('{"x":1e999}') }] }] }, 'JADE_ERR_NOT_FINITE'],
      ['unknown index schema', { ops: [{ kind: 'delete', ids: [1] }, { kind: 'create_payload_index', field: 'f', schema: 'geo' }] }, 'JADE_ERR_BAD_REQUEST'],
    ];
    const before = seed.map((p) => ({ vector: Array.from(s.get(p.id)!.vector), payload: s.get(p.id)!.payload }));
    for (const [name, batch, code] of cases) {
      expect(() => s.apply(batch as any), name).toThrow(expect.objectContaining({ code }));
      expect(s.count, name).toBe(5);
      expect(s.get(100), name).toBeNull();
      seed.forEach((p, i) => expect({ vector: Array.from(s.get(p.id)!.vector), payload: s.get(p.id)!.payload }, `${name}: point ${p.id}`).toEqual(before[i]));
    }
    // Every stored point is still found by search and scrolled with its full vector.
    for (const p of seed) expect(s.search({ vector: p.vector, k: 1, exact: true }).hits[0].id).toBe(p.id);
    expect(s.scroll(null, 10, null).labels.map((l) => s.pointByLabel(l).vector.length)).toEqual([8, 8, 8, 8, 8]);
  });

  it('normalizes UUID ids and cosine vectors', () => {
    const s = makeState('cosine', 2);
    const id = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11';
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: [{ id, vector: Float32Array.from([3, 4]), payload: null }] }] }));
    const got = s.get('a0eebc999c0b4ef8bb6d6bb9bd380a11');
    expect(got?.id).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(got!.vector[0]).toBeCloseTo(0.6, 6);
    expect(got!.vector[1]).toBeCloseTo(0.8, 6);
  });
});

describe('filters and the planner', () => {
  const points = randomPoints(3000, 8, 7);
  const filters: unknown[] = [
    { must: [{ key: 'color', match: { value: 'red' } }] },
    { must: [{ key: 'size', range: { gte: 10, lt: 12 } }] },
    { must: [{ key: 'tags', match: { any: ['rare'] } }], must_not: [{ key: 'color', match: { value: 'blue' } }] },
    { should: [{ key: 'size', match: { value: 1 } }, { key: 'size', match: { value: 2 } }] },
    { must: [{ key: 'nested.level', match: { value: 3 } }, { has_id: [3, 7, 11, 15, 19, 23] }] },
    { must: [{ must_not: [{ key: 'color', match: { value: 'red' } }] }] },
    { must: [{ is_empty: { key: 'missing' } }, { key: 'color', match: { except: ['red', 'green'] } }] },
    { min_should: { conditions: [{ key: 'color', match: { value: 'red' } }, { key: 'size', range: { lt: 5 } }], min_count: 2 } },
  ];

  function oracle(rawFilter: unknown) {
    // A brute-force evaluation of the same conditions in plain JS.
    const f = rawFilter as any;
    const cond = (c: any, p: (typeof points)[number]): boolean => {
      if (c.must || c.should || c.must_not || c.min_should) return evalFilter(c, p);
      if (c.has_id) return c.has_id.includes(p.id);
      if (c.is_empty) return (p.payload as any)[c.is_empty.key] === undefined;
      const v = c.key === 'nested.level' ? p.payload.nested.level : (p.payload as any)[c.key];
      const vals = Array.isArray(v) ? v : [v];
      if (c.match?.value !== undefined) return vals.includes(c.match.value);
      if (c.match?.any) return vals.some((x: unknown) => c.match.any.includes(x));
      if (c.match?.except) return vals.some((x: unknown) => !c.match.except.includes(x));
      if (c.range) return vals.some((x: number) => (c.range.gte === undefined || x >= c.range.gte) && (c.range.lt === undefined || x < c.range.lt));
      throw new Error('oracle: unknown condition');
    };
    const evalFilter = (g: any, p: (typeof points)[number]): boolean =>
      (g.must ?? []).every((c: any) => cond(c, p)) &&
      !(g.must_not ?? []).some((c: any) => cond(c, p)) &&
      ((g.should ?? []).length === 0 || g.should.some((c: any) => cond(c, p))) &&
      (!g.min_should || g.min_should.conditions.filter((c: any) => cond(c, p)).length >= g.min_should.min_count);
    return points.filter((p) => evalFilter(f, p)).map((p) => p.id);
  }

  for (const indexed of [false, true]) {
    it(`count and search agree with a brute-force filter (${indexed ? 'with' : 'without'} payload indexes)`, () => {
      const s = makeState();
      s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points }] }));
      s.indexAll();
      if (indexed) {
        s.apply(s.validateBatch({ ops: [
          { kind: 'create_payload_index', field: 'color', schema: 'keyword' },
          { kind: 'create_payload_index', field: 'size', schema: 'integer' },
          { kind: 'create_payload_index', field: 'tags', schema: 'keyword' },
        ] }));
      }
      const query = new Float32Array(8).fill(0.1);
      for (const raw of filters) {
        const expected = oracle(raw);
        const filter = parseFilter(raw);
        expect(s.countMatching(filter), JSON.stringify(raw)).toBe(expected.length);
        const k = 10;
        const { hits } = s.search({ vector: query, k, filter });
        expect(hits.length, JSON.stringify(raw)).toBe(Math.min(k, expected.length));
        const allowed = new Set(expected);
        for (const h of hits) expect(allowed.has(h.id as number)).toBe(true);
        const exact = s.search({ vector: query, k, filter, exact: true }).hits;
        expect(exact.map((h) => h.id)).toEqual(
          expected
            .map((id) => ({ id, d: Math.hypot(...Array.from(points[id].vector, (x, j) => x - query[j])) }))
            .sort((a, b) => a.d - b.d || a.id - b.id)
            .slice(0, k)
            .map((x) => x.id),
        );
      }
    });
  }

  it('finds points still in the indexing backlog, merged with graph results', () => {
    const s = makeState();
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: points.slice(0, 2000) }] }));
    s.indexAll();
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: points.slice(2000) }] }));
    expect(s.indexBacklog).toBe(1000);
    const r = rng(99);
    for (let q = 0; q < 20; q++) {
      const query = Float32Array.from({ length: 8 }, () => r() * 2 - 1);
      const exact = s.search({ vector: query, k: 5, exact: true }).hits.map((h) => h.id);
      const mixed = s.search({ vector: query, k: 5, ef: 200 }).hits.map((h) => h.id);
      expect(mixed).toEqual(exact);
    }
    expect(s.indexSome(400)).toBe(400);
    expect(s.indexBacklog).toBe(600);
  });

  it('refuses writes past the indexing backlog limit with JADE_ERR_QUEUE_FULL', () => {
    const s = new ShardState({ dimension: 8, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } }, { batchPointsMax: 1000, payloadBytesMax: 1000, exactScanCandidatesMax: 10, exactScanElementsMax: 80, indexBacklogMax: 100 });
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: points.slice(0, 90) }] }));
    expect(() => s.validateBatch({ ops: [{ kind: 'upsert', points: points.slice(90, 120) }] })).toThrowError(expect.objectContaining({ code: 'JADE_ERR_QUEUE_FULL' }));
    s.indexAll();
    expect(s.validateBatch({ ops: [{ kind: 'upsert', points: points.slice(90, 120) }] }).ops.length).toBe(1);
  });

  it('rejects malformed filters with JADE_ERR_BAD_FILTER', () => {
    for (const raw of [{ must: 'x' }, { must: [{ key: 'a' }] }, { must: [{ key: 'a', range: { gt: 'x' } }] }, { bogus: [] }, { must: [{ key: 'a', match: {} }] }]) {
      expect(() => parseFilter(raw)).toThrowError(expect.objectContaining({ code: 'JADE_ERR_BAD_FILTER' }));
    }
  });

  it('returns k results from the filtered graph walk even when matches are sparse', () => {
    const s = makeState();
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points }] }));
    s.indexAll();
    // 3000/50 = 60 points with size 17; no index, so the planner must walk the graph and raise ef.
    const { hits } = s.search({ vector: new Float32Array(8), k: 50, ef: 8, filter: parseFilter({ must: [{ key: 'size', match: { value: 17 } }] }) });
    expect(hits.length).toBe(50);
    expect(hits.every((h) => (h.id as number) % 50 === 17)).toBe(true);
  });

  it('scrolls every point once, in id order, across pages', () => {
    const s = makeState();
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: points.slice(0, 95) }] }));
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: [{ id: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', vector: new Float32Array(8), payload: null }] }] }));
    const seen: unknown[] = [];
    let offset: number | string | null = null;
    do {
      const page = s.scroll(offset, 10, null);
      seen.push(...page.labels.map((l) => s.pointByLabel(l).id));
      offset = page.nextOffset;
    } while (offset !== null);
    expect(seen).toEqual([...Array.from({ length: 95 }, (_, i) => i), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11']);
  });
});
