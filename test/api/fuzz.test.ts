// Property tests (fast-check) on REST bodies: garbage text, random JSON, valid bodies with one
// field replaced by something random, and random Qdrant filters, sent to every POST/PUT route (and
// random path parameters to the GET/DELETE ones). No answer may be a 5xx; every error must carry a
// coded envelope; and a rejected request must leave the stored data exactly as it was (count and a
// checksum of every point, plus the list of collections), also after a crash-like restart that
// replays the WAL. Accepted points must read back unchanged after replay, and concurrent writes
// must land as a model applying them in operation_id order says. A failing run prints its seed.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_TABLE, type ErrorCode } from '../../node/src/util/errors.js';
import { base64Vector, call, collectionChecksum, collectionDump, makeHarness, randomVector, rng, type Harness } from './harness.js';

const DIM = 4;
const C = 'fuzz';
const SEED_POINTS = (() => {
  const r = rng(99);
  return Array.from({ length: 40 }, (_, i) => ({
    id: i % 5 === 0 ? `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` : i,
    vector: randomVector(r, DIM),
    payload: { color: ['red', 'green', 'blue'][i % 3], n: i, f: i / 3, ok: i % 2 === 0, tags: ['t' + (i % 4)], nested: { level: i % 5 } },
  }));
})();
const SEED_IDS = new Set(SEED_POINTS.map((p) => JSON.stringify(p.id)));
const LIMITS = { bodyBytesMax: 64 * 1024, batchPointsMax: 50, searchBatchMax: 4, payloadBytesMax: 512, searchLimitMax: 100, searchEfMax: 1000 };
const FIELDS = ['color', 'n', 'f', 'ok', 'tags', 'nested.level', 'missing'];

let h: Harness;
let baseline: { checksum: string; names: string[] };

function snapshot() {
  // Hashed so that a failure prints two short strings, not two copies of every point.
  return { checksum: createHash('sha256').update(collectionChecksum(h.catalog, C)).digest('hex'), count: h.catalog.get(C).shard.state.count, names: h.catalog.names() };
}

/** Puts the fuzz collection back to the seed after a request that was allowed to change it. */
async function restore() {
  for (const name of h.catalog.names()) if (name !== C) await h.catalog.delete(name);
  const up = await call(h.app, { method: 'PUT', url: `/collections/${C}/points`, payload: { points: SEED_POINTS } });
  expect(up.status).toBe(200);
  const extra: unknown[] = [];
  let offset: unknown = null;
  do {
    const page = await call(h.app, { method: 'POST', url: `/collections/${C}/points/scroll`, payload: { limit: 50, offset, with_payload: false } });
    for (const p of page.body.result.points) if (!SEED_IDS.has(JSON.stringify(p.id))) extra.push(p.id);
    offset = page.body.result.next_page_offset;
  } while (offset !== null);
  for (let i = 0; i < extra.length; i += LIMITS.batchPointsMax) {
    expect((await call(h.app, { method: 'POST', url: `/collections/${C}/points/delete`, payload: { points: extra.slice(i, i + LIMITS.batchPointsMax) } })).status).toBe(200);
  }
  baseline = snapshot();
}

/** Sends one request and checks the properties; restores the seed after an accepted write. */
async function check(opts: InjectOptions, mutating: boolean): Promise<void> {
  const res = await call(h.app, opts);
  const context = `${opts.method} ${String(opts.url).slice(0, 120)} body=${String(typeof opts.payload === 'string' ? opts.payload : JSON.stringify(opts.payload)).slice(0, 300)} → ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`;
  expect(res.status, context).toBeLessThan(500);
  expect(typeof res.body, context).toBe('object');
  if (res.status >= 400) {
    const code = res.body?.status?.code as ErrorCode;
    expect(ERROR_TABLE[code]?.http, context).toBe(res.status);
    expect(typeof res.body.status.error, context).toBe('string');
    expect(snapshot(), context).toEqual(baseline);
  } else if (mutating) {
    await restore();
  } else {
    expect(snapshot(), context).toEqual(baseline);
  }
}

// ---- arbitraries: mostly valid values (to reach deep code), sometimes anything ----

/** Valid most of the time, wild otherwise. */
function mostly<T>(valid: fc.Arbitrary<T>, wild: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: wild });
}
const anyJson = (maxDepth: number) => fc.jsonValue({ maxDepth });

const number = fc.oneof(
  fc.integer({ min: -5, max: 50 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e39, -1e39, 2 ** 53, 2 ** 64, 1e-320, Number.MAX_VALUE),
);
const smallInt = mostly(fc.integer({ min: 0, max: 20 }), number);
const bool = mostly(fc.boolean(), anyJson(0));
const pointId = mostly(
  fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constantFrom(...SEED_POINTS.map((p) => p.id)), fc.uuid(), fc.constantFrom('0000000000004000800000000000000a', '00000000-0000-4000-8000-00000000000A')),
  fc.oneof(fc.integer({ min: -3, max: 60 }), fc.string({ maxLength: 40 }), number, anyJson(1)),
);
const unit = fc.double({ min: -1, max: 1, noNaN: true });
const vector = mostly(
  fc.oneof(fc.array(unit, { minLength: DIM, maxLength: DIM }), fc.array(unit, { minLength: DIM, maxLength: DIM }).map((v) => base64Vector(v))),
  fc.oneof(
    fc.array(number, { maxLength: 7 }),
    fc.array(fc.float({ noNaN: false }), { minLength: DIM, maxLength: DIM }).map((v) => base64Vector(v)),
    fc.base64String({ maxLength: 40 }),
    fc.constant([0, 0, 0, 0]),
    anyJson(2),
  ),
);
const fieldKey = mostly(fc.constantFrom(...FIELDS), fc.oneof(fc.constant(''), fc.string({ maxLength: 12 }), anyJson(1)));
const matchValue = mostly(fc.oneof(fc.constantFrom('red', 'green', 'blue', 't1', true, false), fc.integer({ min: 0, max: 45 })), fc.oneof(fc.string({ maxLength: 6 }), number, anyJson(1)));
const bound = mostly(fc.oneof(fc.integer({ min: -1, max: 45 }), fc.double({ min: -1, max: 45, noNaN: true })), fc.oneof(number, fc.string({ maxLength: 3 }), fc.constant(null)));
const range = mostly(
  fc.record({ gt: bound, gte: bound, lt: bound, lte: bound }, { requiredKeys: [] }),
  fc.dictionary(fc.constantFrom('gt', 'gte', 'lt', 'lte', 'eq', 'x'), fc.oneof(number, fc.string({ maxLength: 3 }), fc.constant(null)), { maxKeys: 3 }),
);
const condition = mostly(
  fc.oneof(
    fc.record({ key: fieldKey, match: fc.oneof(fc.record({ value: matchValue }), fc.record({ any: fc.array(matchValue, { maxLength: 4 }) }), fc.record({ except: fc.array(matchValue, { maxLength: 4 }) }), fc.record({ text: matchValue })) }),
    fc.record({ key: fieldKey, range }),
    fc.record({ key: fieldKey, values_count: range }),
    fc.record({ is_null: fc.oneof(fc.record({ key: fieldKey }), fieldKey) }),
    fc.record({ is_empty: fc.oneof(fc.record({ key: fieldKey }), fieldKey) }),
    fc.record({ has_id: fc.array(pointId, { maxLength: 5 }) }),
  ),
  fc.oneof(fc.record({ nested: anyJson(2) }), fc.record({ key: fieldKey, match: anyJson(2) }), fc.record({ has_id: anyJson(1) }), anyJson(2)),
);
const { filter } = fc.letrec<{ filter: unknown; clause: unknown }>((tie) => ({
  clause: fc.oneof({ depthSize: 'small' }, condition, fc.array(fc.oneof({ weight: 3, arbitrary: condition }, { weight: 1, arbitrary: tie('filter') }), { maxLength: 4 })),
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: fc.record({ must: tie('clause'), should: tie('clause'), must_not: tie('clause') }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.record({ min_should: fc.record({ conditions: fc.array(condition, { maxLength: 3 }), min_count: smallInt }) }) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: anyJson(2) },
  ),
}));
const withPayload = mostly(fc.oneof(fc.boolean(), fc.array(fc.constantFrom(...FIELDS), { maxLength: 3 }), fc.record({ include: fc.array(fc.constantFrom(...FIELDS), { maxLength: 3 }) }), fc.record({ exclude: fc.array(fc.constantFrom(...FIELDS), { maxLength: 3 }) })), fc.oneof(fc.record({ include: anyJson(1) }), anyJson(1)));
const payload = mostly(fc.dictionary(fc.constantFrom(...FIELDS, 'x'), fc.oneof(matchValue, anyJson(2)), { maxKeys: 4 }), anyJson(2));
const point = mostly(fc.record({ id: pointId, vector, payload }, { requiredKeys: ['id', 'vector'] }), fc.record({ id: pointId, vector, payload }, { requiredKeys: [] }));
const params = mostly(fc.record({ hnsw_ef: mostly(fc.integer({ min: 1, max: 200 }), number), exact: bool }, { requiredKeys: [] }), anyJson(1));
const searchFields = { limit: smallInt, offset: smallInt, filter, params, with_payload: withPayload, with_vector: bool, score_threshold: mostly(fc.double({ min: -2, max: 2, noNaN: true }), anyJson(0)) };
const searchBody = mostly(fc.record({ vector, ...searchFields }, { requiredKeys: ['vector'] }), fc.record({ vector, ...searchFields }, { requiredKeys: [] }));
const query = mostly(fc.oneof(vector, pointId, fc.record({ nearest: fc.oneof(vector, pointId) })), anyJson(2));
const queryBody = mostly(fc.record({ query, ...searchFields }, { requiredKeys: ['query'] }), fc.record({ query, ...searchFields }, { requiredKeys: [] }));

interface Route {
  method: 'POST' | 'PUT';
  url: string;
  mutating: boolean;
  body: fc.Arbitrary<unknown>;
}

const P = `/collections/${C}/points`;
const ROUTES: Route[] = [
  { method: 'PUT', url: '/collections/fuzz_new', mutating: true, body: fc.record({ vectors: mostly(fc.record({ size: mostly(fc.integer({ min: 1, max: 8 }), number), distance: mostly(fc.constantFrom('Cosine', 'Euclid', 'Dot', 'ip'), fc.oneof(fc.constant('Manhattan'), anyJson(0))) }), anyJson(2)), hnsw_config: mostly(fc.record({ m: mostly(fc.integer({ min: 2, max: 32 }), number), ef_construct: mostly(fc.integer({ min: 4, max: 100 }), number), ef: mostly(fc.integer({ min: 1, max: 100 }), number) }, { requiredKeys: [] }), anyJson(1)) }, { requiredKeys: [] }) },
  { method: 'PUT', url: `/collections/${C}`, mutating: false, body: fc.record({ vectors: fc.record({ size: smallInt, distance: fc.constantFrom('Cosine', 'Euclid') }) }) },
  { method: 'PUT', url: `/collections/${C}/index`, mutating: true, body: fc.record({ field_name: fieldKey, field_schema: mostly(fc.oneof(fc.constantFrom('keyword', 'integer', 'float', 'bool'), fc.record({ type: fc.constantFrom('keyword', 'integer', 'float', 'bool') })), fc.oneof(fc.constantFrom('geo', 'text', 'uuid'), anyJson(1))) }, { requiredKeys: [] }) },
  { method: 'PUT', url: P, mutating: true, body: mostly(fc.record({ points: fc.array(point, { maxLength: 4 }) }), fc.oneof(fc.record({ batch: fc.record({ ids: fc.array(pointId, { maxLength: 4 }), vectors: fc.array(vector, { maxLength: 4 }), payloads: mostly(fc.array(payload, { maxLength: 4 }), fc.constant(null)) }, { requiredKeys: [] }) }), fc.record({ points: anyJson(2) }))) },
  { method: 'POST', url: P, mutating: false, body: fc.record({ ids: mostly(fc.array(pointId, { maxLength: 6 }), anyJson(1)), with_payload: withPayload, with_vector: bool }, { requiredKeys: [] }) },
  { method: 'POST', url: `${P}/delete`, mutating: true, body: fc.oneof(fc.record({ points: mostly(fc.array(pointId, { maxLength: 4 }), anyJson(1)) }), fc.record({ filter })) },
  { method: 'POST', url: `${P}/count`, mutating: false, body: fc.record({ filter, exact: bool }, { requiredKeys: [] }) },
  { method: 'POST', url: `${P}/scroll`, mutating: false, body: fc.record({ filter, limit: smallInt, offset: mostly(pointId, fc.constant(null)), with_payload: withPayload, with_vector: bool }, { requiredKeys: [] }) },
  { method: 'POST', url: `${P}/search`, mutating: false, body: searchBody },
  { method: 'POST', url: `${P}/search/batch`, mutating: false, body: fc.record({ searches: mostly(fc.array(searchBody, { maxLength: 3 }), anyJson(2)) }, { requiredKeys: [] }) },
  { method: 'POST', url: `${P}/query`, mutating: false, body: queryBody },
  { method: 'POST', url: `${P}/query/batch`, mutating: false, body: fc.record({ searches: mostly(fc.array(queryBody, { maxLength: 3 }), anyJson(2)) }, { requiredKeys: [] }) },
];

/** Bodies that are not JSON at all, or JSON with traps in it. */
const garbageText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 3 }).chain((j) => fc.nat({ max: Math.max(0, j.length) }).map((cut) => j.slice(0, cut))),
  fc.constantFrom('', '{', '[', 'null', '1e999', '{"points":[{"id":1,"vector":[1e999,0,0,0]}]}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"vector":[1,2,3,4],"vector":"AAAA"}', '\u0000', '{"a":"\\ud800"}'),
);

beforeAll(async () => {
  h = await makeHarness({ limits: LIMITS });
  expect((await call(h.app, { method: 'PUT', url: `/collections/${C}`, payload: { vectors: { size: DIM, distance: 'Cosine' } } })).status).toBe(200);
  expect((await call(h.app, { method: 'PUT', url: `/collections/${C}/index`, payload: { field_name: 'color', field_schema: 'keyword' } })).status).toBe(200);
  expect((await call(h.app, { method: 'PUT', url: `/collections/${C}/index`, payload: { field_name: 'n', field_schema: 'integer' } })).status).toBe(200);
  await restore();
  expect(h.catalog.get(C).shard.state.count).toBe(SEED_POINTS.length);
});

afterAll(async () => {
  await h?.close();
});

describe('REST fuzz', () => {
  beforeEach(restore);

  it('garbage bodies with any content type never give a 5xx nor change data', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), garbageText, fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream', undefined), async (route, body, contentType) => {
        await check({ method: route.method, url: route.url, payload: body, headers: contentType ? { 'content-type': contentType } : {} }, route.mutating);
      }),
      { numRuns: 250 },
    );
  });

  it('random JSON values as bodies never give a 5xx nor change data', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), fc.jsonValue({ maxDepth: 4 }), async (route, body) => {
        await check({ method: route.method, url: route.url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) ?? 'null' }, route.mutating);
      }),
      { numRuns: 250 },
    );
  });

  it('route-shaped bodies with random fields never give a 5xx, and rejected ones change nothing', async () => {
    const routeAndBody = fc.constantFrom(...ROUTES).chain((route) => route.body.map((body) => ({ route, body })));
    await fc.assert(
      fc.asyncProperty(routeAndBody, async ({ route, body }) => {
        await check({ method: route.method, url: route.url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) }, route.mutating);
      }),
      { numRuns: 600 },
    );
  });

  it('random filters on count, scroll, search, query and delete never give a 5xx', async () => {
    const targets: [Route['method'], string, (f: unknown) => unknown, boolean][] = [
      ['POST', `${P}/count`, (f) => ({ filter: f }), false],
      ['POST', `${P}/scroll`, (f) => ({ filter: f, limit: 50 }), false],
      ['POST', `${P}/search`, (f) => ({ vector: [0.1, 0.2, 0.3, 0.4], filter: f, limit: 5 }), false],
      ['POST', `${P}/query`, (f) => ({ query: [0.4, 0.3, 0.2, 0.1], filter: f, limit: 5, params: { exact: true } }), false],
      ['POST', `${P}/delete`, (f) => ({ filter: f }), true],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...targets), filter, async ([method, url, wrap, mutating], f) => {
        await check({ method, url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(wrap(f)) }, mutating);
      }),
      { numRuns: 400 },
    );
  });

  it('random path parameters on GET and DELETE routes never give a 5xx nor change data', async () => {
    const segment = fc.oneof(fc.string({ maxLength: 300 }), fc.uuid(), fc.nat().map(String), fc.constantFrom(C, '..', '.', '%', '%E0%A4%A', '%00', '__proto__', 'constructor'));
    const request = fc.oneof(
      segment.map((s) => ({ method: 'GET' as const, url: `/collections/${encodeURIComponent(s)}` })),
      segment.map((s) => ({ method: 'GET' as const, url: `/collections/${encodeURIComponent(s)}/exists` })),
      segment.map((s) => ({ method: 'GET' as const, url: `/collections/${C}/points/${encodeURIComponent(s)}` })),
      segment.map((s) => ({ method: 'GET' as const, url: `/collections/${s}` })),
      segment.filter((s) => s !== C).map((s) => ({ method: 'DELETE' as const, url: `/collections/${encodeURIComponent(s)}` })),
    );
    await fc.assert(
      fc.asyncProperty(request, async (opts) => {
        await check(opts, false);
      }),
      { numRuns: 300 },
    );
  });

  it('accepted points read back identically from memory and after a crash-like restart', async () => {
    const INFINITY_MARK = 'INFINITY_MARK'; // replaced by 1e999 (JSON.parse: Infinity) in the request text
    // Payload values that JSON text might not carry back unchanged; all batches are written, then
    // one restart replays them and every point must read back as it was in memory.
    const tricky = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(1e-320, 2 ** 53 + 2, 1e308, -1e308, '\u0000', '\ud800', 'é', '𝄞', '__proto__', INFINITY_MARK), fc.string({ unit: 'binary', maxLength: 8 }));
    const points = fc.uniqueArray(
      fc.record({ id: fc.oneof(fc.integer({ min: 100, max: 10_000 }), fc.uuid()), vector: fc.array(fc.double({ min: -1e30, max: 1e30, noNaN: true }), { minLength: DIM, maxLength: DIM }), payload: fc.dictionary(fc.string({ maxLength: 6 }), tricky, { maxKeys: 5 }) }),
      { selector: (p) => String(p.id).toLowerCase(), minLength: 1, maxLength: 10 },
    );
    await fc.assert(
      fc.asyncProperty(points, async (batch) => {
        const text = JSON.stringify({ points: batch });
        const res = await call(h.app, { method: 'PUT', url: P, headers: { 'content-type': 'application/json' }, payload: text.replaceAll(`"${INFINITY_MARK}"`, '1e999') });
        // Valid JSON of valid points: only a limit or an Infinity may refuse it, and then nothing changes.
        if (res.status !== 200) {
          expect(res.body.status.code, JSON.stringify(res.body)).toBe(text.includes(INFINITY_MARK) && res.status === 400 ? 'JADE_ERR_NOT_FINITE' : 'JADE_ERR_PAYLOAD_TOO_LARGE');
          expect(snapshot()).toEqual(baseline);
        }
        baseline = snapshot();
      }),
      { numRuns: 60 },
    );
    const inMemory = collectionDump(h.catalog, C);
    expect(inMemory.length).toBeGreaterThan(SEED_POINTS.length);
    await h.close({ keepData: true, checkpoint: false });
    h = await makeHarness({ limits: LIMITS, dataDir: h.dataDir });
    const replayed = collectionDump(h.catalog, C);
    expect(replayed.filter((line) => !inMemory.includes(line))).toEqual([]);
    expect(replayed.length).toBe(inMemory.length);
  });

  it('concurrent writes apply in operation_id order: the result equals a model replaying them in that order', async () => {
    const K = 'concurrent';
    expect((await call(h.app, { method: 'PUT', url: `/collections/${K}`, payload: { vectors: { size: 2, distance: 'Euclid' } } })).status).toBe(200);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('upsert' as const), points: fc.uniqueArray(fc.record({ id: fc.integer({ min: 0, max: 9 }), vector: fc.tuple(fc.integer({ min: -99, max: 99 }), fc.integer({ min: -99, max: 99 })), payload: fc.record({ v: fc.integer() }) }), { selector: (p) => p.id, minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('delete' as const), ids: fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 3 }) }),
    );
    const model = new Map<number, string>();
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 12 }), async (ops) => {
        const answers = await Promise.all(
          ops.map((o) =>
            o.kind === 'upsert'
              ? call(h.app, { method: 'PUT', url: `/collections/${K}/points`, payload: { points: o.points } })
              : call(h.app, { method: 'POST', url: `/collections/${K}/points/delete`, payload: { points: o.ids } }),
          ),
        );
        const applied = answers.map((a, i) => {
          expect(a.status, JSON.stringify(a.body)).toBe(200);
          return { lsn: a.body.result.operation_id as number, op: ops[i] };
        });
        expect(new Set(applied.map((a) => a.lsn)).size).toBe(ops.length);
        for (const { op: o } of applied.sort((a, b) => a.lsn - b.lsn)) {
          if (o.kind === 'upsert') for (const p of o.points) model.set(p.id, `${p.id}|${p.vector.join(',')}|${JSON.stringify(p.payload)}`);
          else for (const id of o.ids) model.delete(id);
        }
        expect(collectionDump(h.catalog, K)).toEqual([...model.keys()].sort((a, b) => a - b).map((id) => model.get(id)));
      }),
      { numRuns: 40 },
    );
    // And a replay of the WAL reaches the same state.
    const before = collectionDump(h.catalog, K);
    await h.close({ keepData: true, checkpoint: false });
    h = await makeHarness({ limits: LIMITS, dataDir: h.dataDir });
    expect(collectionDump(h.catalog, K)).toEqual(before);
  });

  it('after a crash-like restart the WAL replays to exactly the data the API last showed', async () => {
    // Rejected requests must have left nothing in the WAL either: replay would bring it back.
    const before = snapshot();
    await h.close({ keepData: true, checkpoint: false });
    h = await makeHarness({ limits: LIMITS, dataDir: h.dataDir });
    expect(snapshot()).toEqual(before);
  });
});
