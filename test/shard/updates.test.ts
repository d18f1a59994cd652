// Checks the shard's payload and vector updates (set / overwrite / delete / clear payload, update
// vectors, by ids and by filter) against a plain-JS model of the points: after each of a seeded
// run of random writes every payload and vector equals the model's, and filtered counts answered
// through the payload indexes equal a brute-force evaluation of the model, so the indexes follow
// every change. Refused updates (missing point, bad filter or key, over-large payload, wrong
// dimension) are coded errors and change nothing.
import { describe, expect, it } from 'vitest';
import { parseFilter } from '../../node/src/shard/filter.js';
import { ShardState, withoutPaths } from '../../node/src/shard/state.js';
import type { PointId, WriteOp } from '../../node/src/storage/types.js';
import { JadeError } from '../../node/src/util/errors.js';

const DIM = 4;
const COLORS = ['red', 'green', 'blue'];

function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

type Payload = Record<string, unknown> | null;
interface ModelPoint {
  vector: number[];
  payload: Payload;
}

function makeState(metric: 'l2' | 'cosine' = 'l2') {
  const s = new ShardState({ dimension: DIM, metric, hnsw: { m: 8, efConstruction: 32, efSearch: 32 } }, { batchPointsMax: 1000, payloadBytesMax: 512, exactScanCandidatesMax: 2000, exactScanElementsMax: 8_000_000, indexBacklogMax: 100_000 });
  s.apply(s.validateBatch({ ops: [{ kind: 'create_payload_index', field: 'color', schema: 'keyword' }, { kind: 'create_payload_index', field: 'size', schema: 'integer' }, { kind: 'create_payload_index', field: 'meta.kind', schema: 'keyword' }] }));
  return s;
}

/** Brute-force filters over the model (the oracle), each with its Qdrant form. */
const FILTERS: { json: unknown; keep: (p: Payload) => boolean }[] = [
  ...COLORS.map((c) => ({ json: { must: [{ key: 'color', match: { value: c } }] }, keep: (p: Payload) => p?.color === c })),
  { json: { must: [{ key: 'size', range: { gte: 10, lt: 30 } }] }, keep: (p) => typeof p?.size === 'number' && Number.isInteger(p.size) && p.size >= 10 && p.size < 30 },
  { json: { must: [{ key: 'meta.kind', match: { value: 'a' } }] }, keep: (p) => (p?.meta as Record<string, unknown> | undefined)?.kind === 'a' },
  { json: { must_not: [{ key: 'color', match: { any: ['red'] } }] }, keep: (p) => p?.color !== 'red' },
];

function expectSame(s: ShardState, model: Map<number, ModelPoint>) {
  expect(s.count).toBe(model.size);
  for (const [id, m] of model) {
    const got = s.get(id)!;
    expect(got, `point ${id}`).not.toBeNull();
    expect(got.payload, `payload of ${id}`).toEqual(m.payload);
    expect(Array.from(got.vector), `vector of ${id}`).toEqual(m.vector);
  }
  for (const f of FILTERS) {
    const want = [...model.values()].filter((m) => f.keep(m.payload)).length;
    expect(s.countMatching(parseFilter(f.json)), JSON.stringify(f.json)).toBe(want);
  }
}

function expectRefused(s: ShardState, op: WriteOp, code: string) {
  let caught: unknown = null;
  try {
    s.validateBatch({ ops: [op] });
  } catch (e) {
    caught = e;
  }
  expect(caught, JSON.stringify(op)).toBeInstanceOf(JadeError);
  expect((caught as JadeError).code).toBe(code);
}

describe('payload and vector updates', () => {
  it('a seeded run of random updates keeps every point and every payload index equal to the model', () => {
    const r = rng(1234);
    const s = makeState();
    const model = new Map<number, ModelPoint>();
    const randomPayload = (): Record<string, unknown> => ({ color: COLORS[Math.floor(r() * 3)], size: Math.floor(r() * 50), meta: { kind: r() < 0.5 ? 'a' : 'b', n: Math.floor(r() * 5) } });
    const randomVector = () => Array.from({ length: DIM }, () => Math.fround(r() * 2 - 1));
    const initial = Array.from({ length: 120 }, (_, id) => ({ id, vector: randomVector(), payload: randomPayload() }));
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: initial.map((p) => ({ ...p, vector: Float32Array.from(p.vector) })) }] }));
    for (const p of initial) model.set(p.id, { vector: p.vector, payload: p.payload });
    const someIds = (): number[] => {
      const ids = [...model.keys()];
      return Array.from({ length: 1 + Math.floor(r() * 6) }, () => ids[Math.floor(r() * ids.length)]);
    };
    const kinds = ['set', 'set_filter', 'overwrite', 'overwrite_filter', 'delete_keys', 'delete_keys_filter', 'clear', 'vectors', 'upsert', 'delete'] as const;
    const seen = new Set<string>();
    for (let step = 0; step < 400; step++) {
      const kind = kinds[Math.floor(r() * kinds.length)];
      seen.add(kind);
      const f = FILTERS[Math.floor(r() * FILTERS.length)];
      const matching = () => [...model.entries()].filter(([, m]) => f.keep(m.payload)).map(([id]) => id);
      let op: WriteOp;
      let targets: number[];
      switch (kind) {
        case 'set':
        case 'set_filter':
        case 'overwrite':
        case 'overwrite_filter': {
          const patch: Record<string, unknown> = r() < 0.5 ? { color: COLORS[Math.floor(r() * 3)] } : { size: Math.floor(r() * 50), extra: step };
          const byFilter = kind.endsWith('_filter');
          targets = byFilter ? matching() : someIds();
          const overwrite = kind.startsWith('overwrite');
          op = { kind: 'set_payload', payload: patch, overwrite, target: byFilter ? { filterJson: JSON.stringify(f.json) } : { ids: targets } };
          for (const id of targets) {
            const m = model.get(id)!;
            m.payload = overwrite ? { ...patch } : { ...(m.payload ?? {}), ...patch };
          }
          break;
        }
        case 'delete_keys':
        case 'delete_keys_filter': {
          const keys = [['color'], ['meta.kind'], ['size', 'meta'], ['nope', 'meta.n']][Math.floor(r() * 4)];
          const byFilter = kind === 'delete_keys_filter';
          targets = byFilter ? matching() : someIds();
          op = { kind: 'delete_payload', keys, target: byFilter ? { filterJson: JSON.stringify(f.json) } : { ids: targets } };
          for (const id of targets) model.get(id)!.payload = withoutPaths(model.get(id)!.payload, keys);
          break;
        }
        case 'clear':
          targets = someIds();
          op = { kind: 'set_payload', payload: {}, overwrite: true, target: { ids: targets } };
          for (const id of targets) model.get(id)!.payload = {};
          break;
        case 'vectors': {
          targets = [...new Set(someIds())];
          const vectors = targets.map(() => randomVector());
          op = { kind: 'update_vectors', points: targets.map((id, i) => ({ id, vector: Float32Array.from(vectors[i]) })) };
          targets.forEach((id, i) => (model.get(id)!.vector = vectors[i]));
          break;
        }
        case 'upsert': {
          const id = 1000 + step;
          const vector = randomVector();
          const payload = randomPayload();
          op = { kind: 'upsert', points: [{ id, vector: Float32Array.from(vector), payload }] };
          model.set(id, { vector, payload });
          break;
        }
        case 'delete': {
          const ids = someIds();
          op = { kind: 'delete', ids };
          for (const id of ids) model.delete(id);
          break;
        }
      }
      s.apply(s.validateBatch({ ops: [op] }));
      if (step % 40 === 39) expectSame(s, model);
    }
    expectSame(s, model);
    expect(seen.size).toBe(kinds.length);
    // Exact search sees the updated vectors.
    const q = new Float32Array([0.3, -0.1, 0.2, 0.9]);
    const l2 = (v: number[]) => Math.sqrt(v.reduce((a, x, i) => a + (x - q[i]) ** 2, 0));
    const want = [...model.entries()].sort((a, b) => l2(a[1].vector) - l2(b[1].vector) || a[0] - b[0]).slice(0, 5).map(([id]) => id);
    expect(s.search({ vector: q, k: 5, exact: true }).hits.map((h) => h.id)).toEqual(want);
    s.indexAll();
    expect(s.search({ vector: q, k: 5, ef: 200 }).hits.map((h) => h.id)).toEqual(want);
  });

  it('refuses bad updates with coded errors and changes nothing', () => {
    const s = makeState();
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: [{ id: 1, vector: new Float32Array(DIM), payload: { color: 'red' } }] }] }));
    const before = JSON.stringify(s.get(1));
    expectRefused(s, { kind: 'set_payload', payload: { a: 1 }, overwrite: false, target: { ids: [1, 2] } }, 'JADE_ERR_NOT_FOUND');
    expectRefused(s, { kind: 'delete_payload', keys: ['color'], target: { ids: [99] } }, 'JADE_ERR_NOT_FOUND');
    expectRefused(s, { kind: 'update_vectors', points: [{ id: 7, vector: new Float32Array(DIM) }] }, 'JADE_ERR_NOT_FOUND');
    expectRefused(s, { kind: 'update_vectors', points: [{ id: 1, vector: new Float32Array(DIM + 1) }] }, 'JADE_ERR_DIMENSION_MISMATCH');
    expectRefused(s, { kind: 'update_vectors', points: [{ id: 1, vector: new Float32Array([1, NaN, 0, 0]) }] }, 'JADE_ERR_NOT_FINITE');
    expectRefused(s, { kind: 'set_payload', payload: { a: 1 }, overwrite: false, target: { filterJson: '{"must":[{"key":"a"}]}' } }, 'JADE_ERR_BAD_FILTER');
    expectRefused(s, { kind: 'set_payload', payload: { a: 1 }, overwrite: false, target: { filterJson: 'not json' } }, 'JADE_ERR_BAD_FILTER');
    expectRefused(s, { kind: 'delete_payload', keys: ['tags[0]'], target: { ids: [1] } }, 'JADE_ERR_BAD_REQUEST');
    expectRefused(s, { kind: 'delete_payload', keys: [], target: { ids: [1] } }, 'JADE_ERR_BAD_REQUEST');
    expectRefused(s, { kind: 'set_payload', payload: { big: 'x'.repeat(600) }, overwrite: true, target: { ids: [1] } }, 'JADE_ERR_PAYLOAD_TOO_LARGE');
    // A merge that would grow the stored payload past the limit.
    s.apply(s.validateBatch({ ops: [{ kind: 'set_payload', payload: { pad: 'p'.repeat(300) }, overwrite: false, target: { ids: [1] } }] }));
    expectRefused(s, { kind: 'set_payload', payload: { pad2: 'q'.repeat(300) }, overwrite: false, target: { ids: [1] } }, 'JADE_ERR_PAYLOAD_TOO_LARGE');
    expectRefused(s, { kind: 'set_payload', payload: [] as unknown as Record<string, unknown>, overwrite: false, target: { ids: [1] } }, 'JADE_ERR_BAD_REQUEST');
    expect(s.get(1)!.payload).toEqual({ color: 'red', pad: 'p'.repeat(300) });
    expect(JSON.stringify(s.get(1))).not.toBe(before); // the accepted merge did change it
  });

  it('an update whose point was deleted after validation is skipped where it is applied', () => {
    const s = makeState('cosine');
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: [1, 2].map((id) => ({ id, vector: new Float32Array([id, 0, 0, 1]), payload: { color: 'red' } })) }] }));
    const set = s.validateBatch({ ops: [{ kind: 'set_payload', payload: { color: 'blue' }, overwrite: false, target: { ids: [1, 2] } }] });
    const vec = s.validateBatch({ ops: [{ kind: 'update_vectors', points: [{ id: 2 as PointId, vector: new Float32Array([0, 3, 4, 0]) }] }] });
    s.apply(s.validateBatch({ ops: [{ kind: 'delete', ids: [2] }] }));
    s.apply(set);
    s.apply(vec);
    expect(s.count).toBe(1);
    expect(s.get(1)!.payload).toEqual({ color: 'blue' });
    expect(s.get(2)).toBeNull();
    expect(s.countMatching(parseFilter({ must: [{ key: 'color', match: { value: 'blue' } }] }))).toBe(1);
    // Cosine vectors are normalized on update too.
    s.apply(s.validateBatch({ ops: [{ kind: 'update_vectors', points: [{ id: 1, vector: new Float32Array([0, 3, 4, 0]) }] }] }));
    expect(Array.from(s.get(1)!.vector)).toEqual([0, 0.6000000238418579, 0.800000011920929, 0]);
  });
});
