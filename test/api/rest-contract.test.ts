// Checks the REST contract of every route through fastify inject(): the Qdrant-dialect bodies and
// envelopes on success (each answer of a Qdrant route validated against the JSON Schema of Qdrant's
// response type, generated from @qdrant/js-client-rest's types: qdrant-schemas.ts), and every error code the API can produce (400/401/404/409/413/429/431/500/503) with
// the shape { status: { error, code }, time }. After every rejected request the stored data is
// compared with a fingerprint taken before (count, one retrieved point, checksum of all points).
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TABLE, type ErrorCode } from '../../node/src/util/errors.js';
import { QDRANT_OPERATIONS, qdrantContract, operationOf } from './qdrant-schemas.js';
import { base64Vector, call as rawCall, collectionChecksum, GatedDisk, makeHarness, randomVector, rng, type Harness, type HarnessOptions } from './harness.js';

const DIM = 4;
const C = 'items';
const UUID_A = '550e8400-e29b-41d4-a716-446655440000';
const UUID_B = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const LIMITS = { bodyBytesMax: 32 * 1024, batchPointsMax: 20, searchBatchMax: 3, payloadBytesMax: 256, searchLimitMax: 100, searchEfMax: 500 };

interface SeedPoint {
  id: number | string;
  vector: number[];
  payload: Record<string, unknown>;
}

const COLORS = ['red', 'green', 'blue'];
const r = rng(7);
const SEED: SeedPoint[] = [
  ...Array.from({ length: 18 }, (_, i) => ({ id: i + 1, vector: randomVector(r, DIM), payload: { color: COLORS[i % 3], n: i + 1, nested: { level: i % 4 } } })),
  { id: UUID_A, vector: randomVector(r, DIM), payload: { color: 'black', n: 100, nested: { level: 9 } } },
  { id: UUID_B, vector: randomVector(r, DIM), payload: { color: 'white', n: 200, tags: ['x', 'y'] } },
];

function l2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

/** Exact Euclid top-k over the seed points that pass `keep` (the oracle for exact searches). */
function oracle(query: number[], k: number, keep: (p: SeedPoint) => boolean = () => true): { id: number | string; score: number }[] {
  return SEED.filter(keep)
    .map((p) => ({ id: p.id, score: l2(p.vector, query) }))
    .sort((a, b) => a.score - b.score)
    .slice(0, k);
}

const contract = qdrantContract();

/** inject(), and every answer of a Qdrant route checked against Qdrant's response schema. */
async function call(target: FastifyInstance, opts: InjectOptions): ReturnType<typeof rawCall> {
  const res = await rawCall(target, opts);
  const op = operationOf(opts.method ?? 'GET', String(opts.url ?? '/'));
  if (op) contract.check(op, res.status, res.body);
  return res;
}

let h: Harness;
let app: FastifyInstance;
let fingerprint: { checksum: string; count: number; point1: unknown };

async function takeFingerprint() {
  const count = await call(app, { method: 'POST', url: `/collections/${C}/points/count`, payload: {} });
  const point1 = await call(app, { method: 'GET', url: `/collections/${C}/points/1` });
  expect(count.status).toBe(200);
  expect(point1.status).toBe(200);
  return { checksum: collectionChecksum(h.catalog, C), count: count.body.result.count as number, point1: point1.body.result };
}

async function expectUnchanged() {
  const now = await takeFingerprint();
  expect(now.count).toBe(SEED.length);
  expect(now).toEqual(fingerprint);
}

function expectErrorShape(res: { status: number; body: any }, status: number, code: ErrorCode) {
  expect(ERROR_TABLE[code].http).toBe(status);
  expect({ status: res.status, code: res.body?.status?.code }).toEqual({ status, code });
  expect(typeof res.body.status.error).toBe('string');
  expect(res.body.status.error.length).toBeGreaterThan(0);
  expect(typeof res.body.time).toBe('number');
  expect(res.body.result).toBeUndefined();
}

async function expectRejected(opts: InjectOptions, status: number, code: ErrorCode) {
  const res = await call(app, opts);
  expectErrorShape(res, status, code);
  await expectUnchanged();
  return res;
}

const json = (method: 'POST' | 'PUT', url: string, raw: string): InjectOptions => ({ method, url, headers: { 'content-type': 'application/json' }, payload: raw });

beforeAll(async () => {
  h = await makeHarness({ limits: LIMITS });
  app = h.app;
  expect((await call(app, { method: 'PUT', url: `/collections/${C}`, payload: { vectors: { size: DIM, distance: 'Euclid' } } })).status).toBe(200);
  // Half as JSON points, half as a base64 batch, so both forms feed the same collection.
  const half = SEED.length / 2;
  const a = await call(app, { method: 'PUT', url: `/collections/${C}/points?wait=true`, payload: { points: SEED.slice(0, half) } });
  expect(a.status).toBe(200);
  const rest = SEED.slice(half);
  const b = await call(app, {
    method: 'PUT',
    url: `/collections/${C}/points`,
    payload: { batch: { ids: rest.map((p) => p.id), vectors: rest.map((p) => base64Vector(p.vector)), payloads: rest.map((p) => p.payload) } },
  });
  expect(b.status).toBe(200);
  fingerprint = await takeFingerprint();
  expect(fingerprint.count).toBe(SEED.length);
});

afterAll(async () => {
  await h?.close();
});

describe('system routes', () => {
  it('GET / answers the Qdrant client compatibility probe with a 1.x version', async () => {
    const res = await call(app, { method: 'GET', url: '/' });
    expect(res.status).toBe(200);
    expect(res.body.title).toBe('JadeVectorDB');
    expect(res.body.version).toMatch(/^1\.\d+\.\d+$/);
    // Nothing beside Qdrant's fields (its clients refuse extra ones): our version is in /v1/status.
    expect(Object.keys(res.body).sort()).toEqual(['title', 'version']);
  });

  it('GET /healthz and /readyz say ok and ready', async () => {
    expect(await call(app, { method: 'GET', url: '/healthz' })).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call(app, { method: 'GET', url: '/readyz' })).toMatchObject({ status: 200, body: { status: 'ready' } });
  });

  it('GET /v1/status reports version, collections, points and memory', async () => {
    const res = await call(app, { method: 'GET', url: '/v1/status' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ version: '0.1.0-test', nodeId: 'node-test', ready: true, points: SEED.length });
    expect(res.body.collections).toEqual([expect.objectContaining({ name: C, points: SEED.length, dimension: DIM, metric: 'l2' })]);
    expect(res.body.walBytes).toBeGreaterThan(0);
    expect(res.body.memory.rssBytes).toBeGreaterThan(0);
    expect(typeof res.body.uptimeSeconds).toBe('number');
  });

  it('GET /metrics exposes request latency by route and points per collection', async () => {
    await call(app, { method: 'POST', url: `/collections/${C}/points/search`, payload: { vector: [0, 0, 0, 0] } });
    const res = await call(app, { method: 'GET', url: '/metrics' });
    expect(res.status).toBe(200);
    expect(res.res.headers['content-type']).toMatch(/^text\/plain/);
    const text = String(res.body);
    expect(text).toContain(`jade_collection_points{collection="${C}"} ${SEED.length}`);
    expect(text).toMatch(/jade_http_request_duration_seconds_count\{method="POST",route="\/collections\/:name\/points\/search",status="200"\} [1-9]/);
    expect(text).toMatch(new RegExp(`jade_wal_fsync_seconds_count\{collection="${C}"\} [1-9]`));
  });

  it('GET /metrics keeps route labels bounded: unknown URLs share one label', async () => {
    for (let i = 0; i < 3; i++) await call(app, { method: 'GET', url: `/no/such/path/${i}` });
    const text = String((await call(app, { method: 'GET', url: '/metrics' })).body);
    expect(text).toMatch(/jade_http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} [3-9]/);
    expect(text).not.toContain('/no/such/path');
  });

  it('GET /openapi.json lists every route with its methods, and request bodies where there are any', async () => {
    const routes: [string, string, boolean][] = [
      ['get', '/', false],
      ['get', '/healthz', false],
      ['get', '/readyz', false],
      ['get', '/v1/status', false],
      ['get', '/v1/diagnostics', false],
      ['get', '/metrics', false],
      ['get', '/cluster/fence', false],
      ['post', '/cluster/fence', true],
      ['delete', '/cluster/fence', false],
      ['get', '/collections', false],
      ['put', '/collections/{name}', true],
      ['get', '/collections/{name}', false],
      ['patch', '/collections/{name}', true],
      ['delete', '/collections/{name}', false],
      ['get', '/v1/collections/{name}', false],
      ['post', '/collections/aliases', true],
      ['get', '/collections/{name}/aliases', false],
      ['get', '/aliases', false],
      ['post', '/collections/{name}/points/payload', true],
      ['put', '/collections/{name}/points/payload', true],
      ['post', '/collections/{name}/points/payload/delete', true],
      ['post', '/collections/{name}/points/payload/clear', true],
      ['put', '/collections/{name}/points/vectors', true],
      ['get', '/collections/{name}/exists', false],
      ['put', '/collections/{name}/index', true],
      ['put', '/collections/{name}/points', true],
      ['post', '/collections/{name}/points', true],
      ['get', '/collections/{name}/points/{id}', false],
      ['post', '/collections/{name}/points/delete', true],
      ['post', '/collections/{name}/points/count', true],
      ['post', '/collections/{name}/points/scroll', true],
      ['post', '/collections/{name}/points/search', true],
      ['post', '/collections/{name}/points/search/batch', true],
      ['post', '/collections/{name}/points/query', true],
      ['post', '/collections/{name}/points/query/batch', true],
      ['get', '/cluster', false],
      ['get', '/collections/{name}/cluster', false],
      ['delete', '/cluster/peer/{id}', false],
      ['post', '/cluster/bootstrap', false],
      ['post', '/collections/{name}/cluster', true],
      ['post', '/cluster/peer/{id}/drain', false],
      ['get', '/cluster/peer/{id}/drain', false],
      ['post', '/cluster/peer/{id}/dead', false],
      ['post', '/cluster/rebalance', false],
      ['get', '/cluster/rebalance', false],
      ['delete', '/cluster/rebalance', false],
      ['post', '/collections/{name}/snapshots', false],
      ['get', '/collections/{name}/snapshots', false],
      ['post', '/backups', true],
      ['get', '/backups', false],
      ['get', '/backups/{id}', false],
      ['delete', '/backups/{id}', false],
      ['post', '/backups/{id}/verify', false],
      ['post', '/backups/{id}/restore', true],
    ];
    const res = await call(app, { method: 'GET', url: '/openapi.json' });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    const listed = Object.entries(res.body.paths as Record<string, Record<string, any>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(listed.sort()).toEqual(routes.map(([m, p]) => `${m} ${p}`).sort());
    for (const [m, p, hasBody] of routes) {
      expect(app.hasRoute({ method: m.toUpperCase() as 'GET', url: p.replace(/\{(\w+)\}/g, ':$1') }), `${m} ${p} is a real route`).toBe(true);
      expect(res.body.paths[p][m].requestBody !== undefined, `${m} ${p} documents its body`).toBe(hasBody);
    }
    // The spec itself is served but not listed.
    expect(app.hasRoute({ method: 'GET', url: '/openapi.json' })).toBe(true);
  });
});

describe('cluster routes on a standalone node', () => {
  it('GET /cluster says disabled, GET /collections/{name}/cluster lists the one local shard, DELETE /cluster/peer, moves and drains are refused', async () => {
    expect((await call(app, { method: 'GET', url: '/cluster' })).body.result).toEqual({ status: 'disabled' });
    const info = await call(app, { method: 'GET', url: `/collections/${C}/cluster` });
    expect(info.body.result).toMatchObject({ shard_count: 1, local_shards: [{ shard_id: 0, points_count: SEED.length, state: 'Active' }], remote_shards: [], shard_transfers: [] });
    expectErrorShape(await call(app, { method: 'DELETE', url: '/cluster/peer/n9' }), 400, 'JADE_ERR_BAD_REQUEST');
    const move = await call(app, { method: 'POST', url: `/collections/${C}/cluster`, payload: { move_shard: { shard_id: 0, from_peer_id: 'a', to_peer_id: 'b' } } });
    expectErrorShape(move, 400, 'JADE_ERR_BAD_REQUEST');
    expect(move.body.status.error).toMatch(/cluster mode/);
    expectErrorShape(await call(app, { method: 'POST', url: '/collections/nope/cluster', payload: { drop_replica: { shard_id: 0, peer_id: 'a' } } }), 404, 'JADE_ERR_COLLECTION_NOT_FOUND');
    expectErrorShape(await call(app, { method: 'POST', url: '/cluster/peer/n9/drain' }), 400, 'JADE_ERR_BAD_REQUEST');
    expectErrorShape(await call(app, { method: 'GET', url: '/cluster/peer/n9/drain' }), 400, 'JADE_ERR_BAD_REQUEST');
  });
});

describe('collections', () => {
  it('create, list, get, exists and delete', async () => {
    const created = await call(app, { method: 'PUT', url: '/collections/tmp_c-1.x', payload: { vectors: { size: 3, distance: 'Cosine' }, hnsw_config: { m: 8, ef_construct: 50, ef: 20 } } });
    expect(created).toMatchObject({ status: 200, body: { result: true, status: 'ok' } });
    expect(typeof created.body.time).toBe('number');

    const list = await call(app, { method: 'GET', url: '/collections' });
    expect(list.body.result.collections.map((c: { name: string }) => c.name).sort()).toEqual([C, 'tmp_c-1.x']);

    const info = await call(app, { method: 'GET', url: '/collections/tmp_c-1.x' });
    expect(info.status).toBe(200);
    expect(info.body.result).toMatchObject({
      points_count: 0,
      config: { params: { vectors: { size: 3, distance: 'Cosine' } }, hnsw_config: { m: 8, ef_construct: 50 } },
    });
    const own = await call(app, { method: 'GET', url: '/v1/collections/tmp_c-1.x' });
    expect(own.body).toMatchObject({ name: 'tmp_c-1.x', dimension: 3, metric: 'cosine', vector_name: null, hnsw: { m: 8, ef_construct: 50, ef: 20 }, points: 0, index_status: 'ready' });

    expect((await call(app, { method: 'GET', url: '/collections/tmp_c-1.x/exists' })).body.result).toEqual({ exists: true });
    expect((await call(app, { method: 'DELETE', url: '/collections/tmp_c-1.x' })).body).toMatchObject({ result: true, status: 'ok' });
    expect((await call(app, { method: 'GET', url: '/collections/tmp_c-1.x/exists' })).body.result).toEqual({ exists: false });
    expect((await call(app, { method: 'GET', url: '/collections' })).body.result.collections).toEqual([{ name: C }]);
    // As Qdrant: deleting what is not there answers 200 with false (recreate_collection deletes first).
    expect((await call(app, { method: 'DELETE', url: '/collections/tmp_c-1.x' })).body).toMatchObject({ status: 'ok', result: false });
    await expectUnchanged();
  });

  it('takes names of up to 255 characters and payloads nested up to PAYLOAD_DEPTH_MAX', async () => {
    const own = await makeHarness({ limits: LIMITS });
    try {
      const name = `n${'x'.repeat(254)}`;
      expect((await call(own.app, { method: 'PUT', url: `/collections/${name}`, payload: { vectors: { size: 1, distance: 'Dot' } } })).status).toBe(200);
      expect((await call(own.app, { method: 'GET', url: `/collections/${name}` })).body.result.config.params.vectors.size).toBe(1);
      const deep = { a: JSON.parse('['.repeat(63) + '1' + ']'.repeat(63)) }; // 64 levels, under payloadBytesMax
      expect((await call(own.app, { method: 'PUT', url: `/collections/${name}/points`, payload: { points: [{ id: 1, vector: [1], payload: deep }] } })).status).toBe(200);
      expect((await call(own.app, { method: 'GET', url: `/collections/${name}/points/1` })).body.result.payload).toEqual(deep);
    } finally {
      await own.close();
    }
  });

  // Regression: delete used to rename the directory to `.trash-<name>-<ms>`, over NAME_MAX (255
  // bytes) for names longer than 234 characters (ENAMETOOLONG → 500, the collection back after a
  // restart); the trash name is short now.
  it('deletes a collection with a 255-character name', async () => {
    const own = await makeHarness({ limits: LIMITS });
    try {
      const name = `d${'x'.repeat(254)}`;
      expect((await call(own.app, { method: 'PUT', url: `/collections/${name}`, payload: { vectors: { size: 1, distance: 'Dot' } } })).status).toBe(200);
      expect((await call(own.app, { method: 'DELETE', url: `/collections/${name}` })).status).toBe(200);
      expect(readdirSync(path.join(own.dataDir, 'collections'))).toEqual([]);
    } finally {
      await own.close();
    }
  });

  it('GET /collections/{name} reports the seeded collection in Qdrant shape', async () => {
    const info = await call(app, { method: 'GET', url: `/collections/${C}` });
    expect(info.body.result).toMatchObject({ points_count: SEED.length, config: { params: { vectors: { size: DIM, distance: 'Euclid' } } } });
    expect(['green', 'yellow']).toContain(info.body.result.status);
  });

  it('accepts every distance spelling and refuses an existing name with 409', async () => {
    for (const [i, d] of ['Euclid', 'Dot', 'l2', 'ip', 'cosine'].entries()) {
      const name = `dist${i}`;
      expect((await call(app, { method: 'PUT', url: `/collections/${name}`, payload: { vectors: { size: 2, distance: d } } })).status).toBe(200);
      const again = await call(app, { method: 'PUT', url: `/collections/${name}`, payload: { vectors: { size: 2, distance: d } } });
      expectErrorShape(again, 409, 'JADE_ERR_COLLECTION_EXISTS');
      expect((await call(app, { method: 'DELETE', url: `/collections/${name}` })).status).toBe(200);
    }
    await expectRejected({ method: 'PUT', url: `/collections/${C}`, payload: { vectors: { size: DIM, distance: 'Euclid' } } }, 409, 'JADE_ERR_COLLECTION_EXISTS');
    // A different shape under the same name is no exception.
    await expectRejected({ method: 'PUT', url: `/collections/${C}`, payload: { vectors: { size: 8, distance: 'Dot' } } }, 409, 'JADE_ERR_COLLECTION_EXISTS');
  });

  it('creates a payload index and shows it in payload_schema', async () => {
    const res = await call(app, { method: 'PUT', url: `/collections/${C}/index?wait=true`, payload: { field_name: 'color', field_schema: 'keyword' } });
    expect(res.status).toBe(200);
    expect(res.body.result.status).toBe('completed');
    const res2 = await call(app, { method: 'PUT', url: `/collections/${C}/index`, payload: { field_name: 'n', field_schema: { type: 'integer' } } });
    expect(res2.status).toBe(200);
    const info = await call(app, { method: 'GET', url: `/collections/${C}` });
    expect(info.body.result.payload_schema).toMatchObject({ color: { data_type: 'keyword' }, n: { data_type: 'integer' } });
    // Qdrant's is_tenant form: kept and shown as Qdrant shows it.
    const res3 = await call(app, { method: 'PUT', url: `/collections/${C}/index?wait=true`, payload: { field_name: 'tenant', field_schema: { type: 'keyword', is_tenant: true, on_disk: false } } });
    expect(res3.status).toBe(200);
    const info2 = await call(app, { method: 'GET', url: `/collections/${C}` });
    expect(info2.body.result.payload_schema.tenant).toMatchObject({ data_type: 'keyword', params: { type: 'keyword', is_tenant: true } });
    expect(info2.body.result.payload_schema.color.params).toBeUndefined();
    // Indexes change no point.
    expect(collectionChecksum(h.catalog, C)).toBe(fingerprint.checksum);
    const count = await call(app, { method: 'POST', url: `/collections/${C}/points/count`, payload: { filter: { must: [{ key: 'color', match: { value: 'red' } }] } } });
    expect(count.body.result.count).toBe(SEED.filter((p) => p.payload.color === 'red').length);
  });
});

describe('points: reads', () => {
  it('retrieves by ids, leaving missing ids out as Qdrant does', async () => {
    const res = await call(app, { method: 'POST', url: `/collections/${C}/points`, payload: { ids: [1, UUID_A.toUpperCase(), 999, '00000000-0000-0000-0000-000000000000'], with_vector: true } });
    expect(res.status).toBe(200);
    expect(res.body.result.map((p: { id: unknown }) => p.id)).toEqual([1, UUID_A]);
    expect(Object.keys(res.body).sort()).toEqual(['result', 'status', 'time']);
    expect(res.body.result[0].payload).toEqual(SEED[0].payload);
    expect(res.body.result[0].vector).toEqual(SEED[0].vector);
  });

  it('retrieve honours with_payload include / exclude / false and omits vectors by default', async () => {
    const inc = await call(app, { method: 'POST', url: `/collections/${C}/points`, payload: { ids: [2], with_payload: ['color'] } });
    expect(inc.body.result).toEqual([{ id: 2, payload: { color: SEED[1].payload.color } }]);
    const exc = await call(app, { method: 'POST', url: `/collections/${C}/points`, payload: { ids: [2], with_payload: { exclude: ['nested'] } } });
    expect(exc.body.result).toEqual([{ id: 2, payload: { color: SEED[1].payload.color, n: 2 } }]);
    const none = await call(app, { method: 'POST', url: `/collections/${C}/points`, payload: { ids: [2], with_payload: false } });
    expect(none.body.result).toEqual([{ id: 2 }]);
  });

  it('GET one point returns id, payload and vector; integer and UUID ids', async () => {
    const one = await call(app, { method: 'GET', url: `/collections/${C}/points/3` });
    expect(one.body.result).toEqual({ id: 3, payload: SEED[2].payload, vector: SEED[2].vector });
    const uuid = await call(app, { method: 'GET', url: `/collections/${C}/points/${UUID_B.replace(/-/g, '')}` });
    expect(uuid.body.result.id).toBe(UUID_B);
  });

  it('counts with and without a filter', async () => {
    expect((await call(app, { method: 'POST', url: `/collections/${C}/points/count` })).body.result.count).toBe(SEED.length);
    const range = await call(app, { method: 'POST', url: `/collections/${C}/points/count`, payload: { exact: true, filter: { must: [{ key: 'n', range: { gte: 5, lt: 12 } }], must_not: [{ key: 'color', match: { any: ['red'] } }] } } });
    expect(range.body.result.count).toBe(SEED.filter((p) => (p.payload.n as number) >= 5 && (p.payload.n as number) < 12 && p.payload.color !== 'red').length);
    const nested = await call(app, { method: 'POST', url: `/collections/${C}/points/count`, payload: { filter: { must: [{ key: 'nested.level', match: { value: 2 } }] } } });
    expect(nested.body.result.count).toBe(SEED.filter((p) => (p.payload.nested as { level: number } | undefined)?.level === 2).length);
    const isNull = await call(app, { method: 'POST', url: `/collections/${C}/points/count`, payload: { filter: { must: [{ is_null: { key: 'tags' } }] } } });
    expect(isNull.body.result.count).toBe(0);
    const hasId = await call(app, { method: 'POST', url: `/collections/${C}/points/count`, payload: { filter: { must: [{ has_id: [1, 2, UUID_A, 12345] }] } } });
    expect(hasId.body.result.count).toBe(3);
  });

  it('scrolls every point exactly once by following next_page_offset', async () => {
    const seen: unknown[] = [];
    let offset: unknown = null;
    let pages = 0;
    do {
      const res = await call(app, { method: 'POST', url: `/collections/${C}/points/scroll`, payload: { limit: 7, offset, with_vector: true } });
      expect(res.status).toBe(200);
      for (const p of res.body.result.points) {
        seen.push(p.id);
        expect(p.vector).toEqual(SEED.find((s) => s.id === p.id)!.vector);
        expect(p.version).toBeUndefined();
      }
      offset = res.body.result.next_page_offset;
      pages++;
    } while (offset !== null && pages < 100);
    expect(pages).toBe(Math.ceil(SEED.length / 7));
    expect(new Set(seen).size).toBe(SEED.length);
    expect([...seen].sort()).toEqual(SEED.map((p) => p.id).sort());
  });

  it('scroll with a filter returns only matching points', async () => {
    const res = await call(app, { method: 'POST', url: `/collections/${C}/points/scroll`, payload: { limit: 20, filter: { should: [{ key: 'color', match: { value: 'blue' } }, { key: 'color', match: { value: 'black' } }] }, with_payload: false } });
    const expected = SEED.filter((p) => p.payload.color === 'blue' || p.payload.color === 'black').map((p) => p.id);
    expect(res.body.result.points.map((p: { id: unknown }) => p.id).sort()).toEqual(expected.sort());
    expect(res.body.result.points[0].payload).toBeUndefined();
    expect(res.body.result.next_page_offset).toBeNull();
  });
});

describe('points: search and query', () => {
  const q = [0.1, -0.2, 0.3, 0.05];

  it('search with exact:true matches the flat oracle in ids, order and score', async () => {
    const res = await call(app, { method: 'POST', url: `/collections/${C}/points/search`, payload: { vector: q, limit: 5, params: { exact: true } } });
    expect(res.status).toBe(200);
    const want = oracle(q, 5);
    expect(res.body.result.map((p: { id: unknown }) => p.id)).toEqual(want.map((w) => w.id));
    res.body.result.forEach((p: { score: number }, i: number) => expect(p.score).toBeCloseTo(want[i].score, 5));
    expect(res.body.result[0].payload).toBeUndefined(); // search defaults to with_payload false
  });

  it('search honours filter, offset, with_payload, with_vector and score_threshold', async () => {
    const keep = (p: SeedPoint) => p.payload.color === 'green';
    const res = await call(app, {
      method: 'POST',
      url: `/collections/${C}/points/search`,
      payload: { vector: base64Vector(q), limit: 3, offset: 1, filter: { must: [{ key: 'color', match: { value: 'green' } }] }, with_payload: true, with_vector: true, params: { hnsw_ef: 64 } },
    });
    const want = oracle(q, 4, keep).slice(1);
    expect(res.body.result.map((p: { id: unknown }) => p.id)).toEqual(want.map((w) => w.id));
    for (const p of res.body.result) {
      expect(p.payload.color).toBe('green');
      expect(p.vector).toHaveLength(DIM);
    }
    const threshold = oracle(q, 3)[2].score;
    const thr = await call(app, { method: 'POST', url: `/collections/${C}/points/search`, payload: { vector: q, limit: 10, score_threshold: threshold, params: { exact: true } } });
    expect(thr.body.result.map((p: { id: unknown }) => p.id)).toEqual(oracle(q, 3).map((w) => w.id));
  });

  it('search/batch answers each search in order', async () => {
    const q2 = [0.5, 0.5, -0.5, 0];
    const res = await call(app, { method: 'POST', url: `/collections/${C}/points/search/batch`, payload: { searches: [{ vector: q, limit: 2, params: { exact: true } }, { vector: q2, limit: 3, params: { exact: true } }] } });
    expect(res.status).toBe(200);
    expect(res.body.result.map((r: { id: unknown }[]) => r.map((p) => p.id))).toEqual([oracle(q, 2).map((w) => w.id), oracle(q2, 3).map((w) => w.id)]);
  });

  it('query accepts a vector, {nearest}, a base64 vector and a point id', async () => {
    const want = oracle(q, 4).map((w) => w.id);
    for (const query of [q, { nearest: q }, base64Vector(q)]) {
      const res = await call(app, { method: 'POST', url: `/collections/${C}/points/query`, payload: { query, limit: 4, params: { exact: true }, with_payload: true } });
      expect(res.status).toBe(200);
      expect(res.body.result.points.map((p: { id: unknown }) => p.id)).toEqual(want);
      expect(res.body.result.points[0].payload).toBeDefined();
    }
    for (const id of [5, UUID_A]) {
      const seedPoint = SEED.find((p) => p.id === id)!;
      const res = await call(app, { method: 'POST', url: `/collections/${C}/points/query`, payload: { query: id, limit: 3, params: { exact: true } } });
      expect(res.body.result.points.map((p: { id: unknown }) => p.id)).toEqual(oracle(seedPoint.vector, 3).map((w) => w.id));
    }
  });

  it('consistency=eventual (query string or body) answers like a strong read on a standalone node', async () => {
    const strong = await call(app, { method: 'POST', url: `/collections/${C}/points/search`, payload: { vector: q, limit: 5, params: { exact: true } } });
    for (const opts of [
      { url: `/collections/${C}/points/search?consistency=eventual`, payload: { vector: q, limit: 5, params: { exact: true } } },
      { url: `/collections/${C}/points/search?consistency=majority`, payload: { vector: q, limit: 5, params: { exact: true } } },
      { url: `/collections/${C}/points/search`, payload: { vector: q, limit: 5, params: { exact: true }, consistency: 'one' } },
    ]) {
      const res = await call(app, { method: 'POST', ...opts });
      expect(res.status).toBe(200);
      expect(res.body.result).toEqual(strong.body.result);
    }
    const count = await call(app, { method: 'POST', url: `/collections/${C}/points/count?consistency=eventual`, payload: {} });
    expect(count.body.result.count).toBe(SEED.length);
  });

  it('query/batch answers each query in order', async () => {
    const res = await call(app, { method: 'POST', url: `/collections/${C}/points/query/batch`, payload: { searches: [{ query: q, limit: 2, params: { exact: true } }, { query: { nearest: 7 }, limit: 1 }] } });
    expect(res.status).toBe(200);
    expect(res.body.result).toHaveLength(2);
    expect(res.body.result[0].points.map((p: { id: unknown }) => p.id)).toEqual(oracle(q, 2).map((w) => w.id));
    expect(res.body.result[1].points[0].id).toBe(7);
  });
});

describe('points: writes', () => {
  const W = 'writes';

  beforeAll(async () => {
    expect((await call(app, { method: 'PUT', url: `/collections/${W}`, payload: { vectors: { size: 2, distance: 'Dot' } } })).status).toBe(200);
  });

  async function ids(): Promise<unknown[]> {
    const res = await call(app, { method: 'POST', url: `/collections/${W}/points/scroll`, payload: { limit: 20 } });
    return res.body.result.points.map((p: { id: unknown }) => p.id);
  }

  it('upserts points and batches, replacing an existing id', async () => {
    const a = await call(app, { method: 'PUT', url: `/collections/${W}/points`, payload: { points: [{ id: 1, vector: [1, 0], payload: { v: 1 } }, { id: 2, vector: base64Vector([0, 1]) }] } });
    expect(a.body.result).toMatchObject({ status: 'completed' });
    expect(typeof a.body.result.operation_id).toBe('number');
    const b = await call(app, { method: 'PUT', url: `/collections/${W}/points`, payload: { batch: { ids: [1, 3], vectors: [[2, 2], base64Vector([3, 3])], payloads: [{ v: 2 }, null] } } });
    expect(b.status).toBe(200);
    expect(b.body.result.operation_id).toBeGreaterThan(a.body.result.operation_id);
    expect(await ids()).toEqual([1, 2, 3]);
    const one = await call(app, { method: 'GET', url: `/collections/${W}/points/1` });
    expect(one.body.result).toEqual({ id: 1, payload: { v: 2 }, vector: [2, 2] });
    const dot = await call(app, { method: 'POST', url: `/collections/${W}/points/search`, payload: { vector: [1, 1], limit: 1, params: { exact: true } } });
    expect(dot.body.result[0]).toMatchObject({ id: 3, score: 6 });
  });

  it('deletes by ids (missing ids are fine) and by filter', async () => {
    await call(app, { method: 'PUT', url: `/collections/${W}/points`, payload: { points: [4, 5, 6, 7].map((id) => ({ id, vector: [id, 1], payload: { even: id % 2 === 0 } })) } });
    const byIds = await call(app, { method: 'POST', url: `/collections/${W}/points/delete?wait=true`, payload: { points: [2, 99] } });
    expect(byIds.body.result.status).toBe('completed');
    expect(await ids()).toEqual([1, 3, 4, 5, 6, 7]);
    const byFilter = await call(app, { method: 'POST', url: `/collections/${W}/points/delete`, payload: { filter: { must: [{ key: 'even', match: { value: true } }] } } });
    expect(byFilter.status).toBe(200);
    expect(await ids()).toEqual([1, 3, 5, 7]);
    const empty = await call(app, { method: 'POST', url: `/collections/${W}/points/delete`, payload: { filter: { must: [{ key: 'even', match: { value: 'nothing' } }] } } });
    expect(empty.status).toBe(200);
    expect(await ids()).toEqual([1, 3, 5, 7]);
  });

  it('deletes by filter in one write however many points match, and a bad filter deletes nothing', async () => {
    const count = async (filter?: unknown) => (await call(app, { method: 'POST', url: `/collections/${W}/points/count`, payload: filter ? { filter } : {} })).body.result.count as number;
    const bulk = { must: [{ key: 'bulk', match: { value: true } }] };
    // More matching points than one batch may name: they were deleted in batchPointsMax chunks before.
    const many = Array.from({ length: 3 * LIMITS.batchPointsMax }, (_, i) => 1000 + i);
    for (let i = 0; i < many.length; i += LIMITS.batchPointsMax) {
      const chunk = many.slice(i, i + LIMITS.batchPointsMax);
      await call(app, { method: 'PUT', url: `/collections/${W}/points`, payload: { points: chunk.map((id) => ({ id, vector: [1, id], payload: { bulk: true } })) } });
    }
    const total = await count();
    expect(await count(bulk)).toBe(many.length);
    const bad = await call(app, { method: 'POST', url: `/collections/${W}/points/delete`, payload: { filter: { must: [{ key: 'bulk', match: { nope: 1 } }] } } });
    expectErrorShape(bad, 400, 'JADE_ERR_BAD_FILTER');
    expect(await count()).toBe(total);
    const lsnBefore = (await call(app, { method: 'POST', url: `/collections/${W}/points/delete`, payload: { points: [99999] } })).body.result.operation_id as number;
    const res = await call(app, { method: 'POST', url: `/collections/${W}/points/delete`, payload: { filter: bulk } });
    expect(res.status).toBe(200);
    expect(res.body.result.operation_id).toBe(lsnBefore + 1); // one logged write
    expect(await count(bulk)).toBe(0);
    expect(await count()).toBe(total - many.length);
  });

  it('reads JSON bodies as UTF-8 (non-ASCII payloads), and refuses proto poisoning and bad UTF-8 JSON', async () => {
    const text = 'Zürich · 東京 · 🚀';
    const res = await call(app, { method: 'PUT', url: `/collections/${W}/points`, headers: { 'content-type': 'application/json; charset=utf-8' }, payload: Buffer.from(JSON.stringify({ points: [{ id: 40, vector: [1, 2], payload: { city: text } }] })) });
    expect(res.status).toBe(200);
    expect((await call(app, { method: 'GET', url: `/collections/${W}/points/40` })).body.result.payload).toEqual({ city: text });
    const poisoned = await call(app, { method: 'PUT', url: `/collections/${W}/points`, headers: { 'content-type': 'application/json' }, payload: '{"points":[{"id":41,"vector":[1,2],"payload":{"__proto__":{"x":1}}}]}' });
    expectErrorShape(poisoned, 400, 'JADE_ERR_BAD_JSON');
    const notJson = await call(app, { method: 'PUT', url: `/collections/${W}/points`, headers: { 'content-type': 'application/json' }, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) });
    expectErrorShape(notJson, 400, 'JADE_ERR_BAD_JSON');
    await call(app, { method: 'POST', url: `/collections/${W}/points/delete`, payload: { points: [40] } });
  });

  it('an upsert with one bad point stores none of the batch', async () => {
    const before = collectionChecksum(h.catalog, W);
    const res = await call(app, { method: 'PUT', url: `/collections/${W}/points`, payload: { points: [{ id: 50, vector: [1, 1] }, { id: 51, vector: [1, 1, 1] }] } });
    expectErrorShape(res, 400, 'JADE_ERR_DIMENSION_MISMATCH');
    expect(collectionChecksum(h.catalog, W)).toBe(before);
  });
});

describe('400: bad requests change nothing', () => {
  const P = `/collections/${C}/points`;
  const cases: [string, InjectOptions, ErrorCode][] = [
    ['truncated JSON', json('PUT', P, '{"points":['), 'JADE_ERR_BAD_JSON'],
    ['JSON with trailing garbage', json('POST', `${P}/search`, '{"vector":[1,2,3,4]} x'), 'JADE_ERR_BAD_JSON'],
    ['empty JSON body', json('POST', `${P}/search`, ''), 'JADE_ERR_BAD_JSON'],
    ['__proto__ key in a payload', json('PUT', P, '{"points":[{"id":1,"vector":[1,2,3,4],"payload":{"__proto__":{"x":1}}}]}'), 'JADE_ERR_BAD_JSON'],
    ['body that is not an object', json('POST', `${P}/search`, '[1,2,3,4]'), 'JADE_ERR_BAD_REQUEST'],
    ['upsert of the wrong dimension', { method: 'PUT', url: P, payload: { points: [{ id: 1, vector: [1, 2, 3] }] } }, 'JADE_ERR_DIMENSION_MISMATCH'],
    ['base64 upsert of the wrong dimension', { method: 'PUT', url: P, payload: { batch: { ids: [1], vectors: [base64Vector([1, 2])] } } }, 'JADE_ERR_DIMENSION_MISMATCH'],
    ['search of the wrong dimension', { method: 'POST', url: `${P}/search`, payload: { vector: [1, 2, 3, 4, 5] } }, 'JADE_ERR_DIMENSION_MISMATCH'],
    ['query of the wrong dimension', { method: 'POST', url: `${P}/query`, payload: { query: [1] } }, 'JADE_ERR_DIMENSION_MISMATCH'],
    // 1e999 parses to Infinity: refused by the JSON schema (type number) or our own checks, as NOT_FINITE.
    ['Infinity (1e999) in a JSON vector', json('PUT', P, '{"points":[{"id":1,"vector":[1,2,3,1e999]}]}'), 'JADE_ERR_NOT_FINITE'],
    ['-Infinity (-1e999) in a search vector', json('POST', `${P}/search`, '{"vector":[-1e999,0,0,0]}'), 'JADE_ERR_NOT_FINITE'],
    ['Infinity as a search limit', json('POST', `${P}/search`, '{"vector":[0,0,0,0],"limit":1e999}'), 'JADE_ERR_NOT_FINITE'],
    ['Infinity as a score_threshold', json('POST', `${P}/query`, '{"query":[0,0,0,0],"score_threshold":-1e999}'), 'JADE_ERR_NOT_FINITE'],
    ['Infinity in a batch vector', json('PUT', P, '{"batch":{"ids":[1],"vectors":[[1e999,0,0,0]]}}'), 'JADE_ERR_NOT_FINITE'],
    // Stored as JSON text, Infinity would come back as null after a restart (a range filter would change its answer).
    ['Infinity in a payload', json('PUT', P, '{"points":[{"id":1,"vector":[1,2,3,4],"payload":{"x":1e999}}]}'), 'JADE_ERR_NOT_FINITE'],
    ['-Infinity deep in a batch payload', json('PUT', P, '{"batch":{"ids":[1],"vectors":[[1,2,3,4]],"payloads":[{"a":{"b":[1,-1e999]}}]}}'), 'JADE_ERR_NOT_FINITE'],
    ['Infinity in a filter range', json('POST', `${P}/count`, '{"filter":{"must":[{"key":"n","range":{"gt":1e999}}]}}'), 'JADE_ERR_BAD_FILTER'],
    ['a finite double that overflows float32', { method: 'PUT', url: P, payload: { points: [{ id: 1, vector: [1, 2, 3, 1e39] }] } }, 'JADE_ERR_NOT_FINITE'],
    ['float32 overflow in a search vector', { method: 'POST', url: `${P}/search`, payload: { vector: [1, 2, 3, -1e39] } }, 'JADE_ERR_NOT_FINITE'],
    ['NaN in a base64 vector', { method: 'PUT', url: P, payload: { batch: { ids: [1], vectors: [base64Vector([1, NaN, 3, 4])] } } }, 'JADE_ERR_NOT_FINITE'],
    ['Infinity in a base64 query', { method: 'POST', url: `${P}/query`, payload: { query: base64Vector([Infinity, 0, 0, 0]) } }, 'JADE_ERR_NOT_FINITE'],
    ['invalid base64', { method: 'PUT', url: P, payload: { batch: { ids: [1], vectors: ['!!!!'] } } }, 'JADE_ERR_BAD_REQUEST'],
    ['base64 that is not whole float32s', { method: 'POST', url: `${P}/search`, payload: { vector: Buffer.alloc(6).toString('base64') } }, 'JADE_ERR_BAD_REQUEST'],
    ['a named vector', { method: 'POST', url: `${P}/query`, payload: { query: { nearest: { name: 'a', vector: [1, 2, 3, 4] } } } }, 'JADE_ERR_BAD_REQUEST'],
    ['filter condition without an operator', { method: 'POST', url: `${P}/count`, payload: { filter: { must: [{ key: 'color' }] } } }, 'JADE_ERR_BAD_FILTER'],
    ['filter range over a string', { method: 'POST', url: `${P}/search`, payload: { vector: [0, 0, 0, 0], filter: { must: [{ key: 'n', range: { gt: 'a' } }] } } }, 'JADE_ERR_BAD_FILTER'],
    ['bad filter on delete', { method: 'POST', url: `${P}/delete`, payload: { filter: { must: [{ key: 'color', match: { value: { nested: 1 } } }] } } }, 'JADE_ERR_BAD_FILTER'],
    ['bad filter on scroll', { method: 'POST', url: `${P}/scroll`, payload: { filter: { must: 'red' } } }, 'JADE_ERR_BAD_FILTER'],
    ['nested (unsupported) filter on query', { method: 'POST', url: `${P}/query`, payload: { query: [0, 0, 0, 0], filter: { must: [{ nested: { key: 'a', filter: {} } }] } } }, 'JADE_ERR_BAD_FILTER'],
    ['filter nested too deep', { method: 'POST', url: `${P}/count`, payload: { filter: JSON.parse('{"must":'.repeat(40) + '[]' + '}'.repeat(40)) } }, 'JADE_ERR_BAD_FILTER'],
    ['string id that is no UUID on upsert', { method: 'PUT', url: P, payload: { points: [{ id: 'abc', vector: [1, 2, 3, 4] }] } }, 'JADE_ERR_BAD_ID'],
    ['id beyond 2^53 on upsert', json('PUT', P, '{"points":[{"id":18446744073709551615,"vector":[1,2,3,4]}]}'), 'JADE_ERR_BAD_ID'],
    ['bad id on retrieve', { method: 'POST', url: P, payload: { ids: [1, 'nope'] } }, 'JADE_ERR_BAD_ID'],
    ['bad id in the URL', { method: 'GET', url: `${P}/not-an-id` }, 'JADE_ERR_BAD_ID'],
    ['bad id on delete', { method: 'POST', url: `${P}/delete`, payload: { points: [1, 'x'] } }, 'JADE_ERR_BAD_ID'],
    ['bad scroll offset', { method: 'POST', url: `${P}/scroll`, payload: { offset: 'zz' } }, 'JADE_ERR_BAD_ID'],
    ['fractional point id as query (schema)', { method: 'POST', url: `${P}/query`, payload: { query: 1.5 } }, 'JADE_ERR_BAD_REQUEST'],
    ['bad id inside has_id', { method: 'POST', url: `${P}/count`, payload: { filter: { must: [{ has_id: ['x'] }] } } }, 'JADE_ERR_BAD_ID'],
    ['negative id (schema)', { method: 'PUT', url: P, payload: { points: [{ id: -1, vector: [1, 2, 3, 4] }] } }, 'JADE_ERR_BAD_REQUEST'],
    ['point without a vector (schema)', { method: 'PUT', url: P, payload: { points: [{ id: 1 }] } }, 'JADE_ERR_BAD_REQUEST'],
    ['payload that is not an object (schema)', { method: 'PUT', url: P, payload: { points: [{ id: 1, vector: [1, 2, 3, 4], payload: [1] }] } }, 'JADE_ERR_BAD_REQUEST'],
    ['upsert with neither points nor batch', { method: 'PUT', url: P, payload: { ids: [1] } }, 'JADE_ERR_BAD_REQUEST'],
    ['batch whose lengths differ', { method: 'PUT', url: P, payload: { batch: { ids: [1, 2], vectors: [[1, 2, 3, 4]] } } }, 'JADE_ERR_BAD_REQUEST'],
    ['delete with neither points nor filter', { method: 'POST', url: `${P}/delete`, payload: {} }, 'JADE_ERR_BAD_REQUEST'],
    ['retrieve without ids (schema)', { method: 'POST', url: P, payload: { with_payload: true } }, 'JADE_ERR_BAD_REQUEST'],
    ['bad with_payload', { method: 'POST', url: P, payload: { ids: [1], with_payload: { neither: 1 } } }, 'JADE_ERR_BAD_REQUEST'],
    ['search without a vector (schema)', { method: 'POST', url: `${P}/search`, payload: { limit: 3 } }, 'JADE_ERR_BAD_REQUEST'],
    ['negative limit (schema)', { method: 'POST', url: `${P}/search`, payload: { vector: [0, 0, 0, 0], limit: -1 } }, 'JADE_ERR_BAD_REQUEST'],
    ['hnsw_ef 0 (schema)', { method: 'POST', url: `${P}/search`, payload: { vector: [0, 0, 0, 0], params: { hnsw_ef: 0 } } }, 'JADE_ERR_BAD_REQUEST'],
    ['with_vector as a string (schema)', { method: 'POST', url: `${P}/scroll`, payload: { with_vector: 'yes' } }, 'JADE_ERR_BAD_REQUEST'],
    ['query missing', { method: 'POST', url: `${P}/query`, payload: { limit: 3 } }, 'JADE_ERR_BAD_REQUEST'],
    ['recommend query (unsupported)', { method: 'POST', url: `${P}/query`, payload: { query: { recommend: { positive: [1] } } } }, 'JADE_ERR_BAD_REQUEST'],
    // Fields that would change the answer if silently ignored are refused.
    ['query with prefetch (unsupported)', { method: 'POST', url: `${P}/query`, payload: { prefetch: [{ query: [1, 2, 3, 4], limit: 5 }], query: [1, 2, 3, 4] } }, 'JADE_ERR_BAD_REQUEST'],
    ['query using a named vector (unsupported)', { method: 'POST', url: `${P}/query`, payload: { query: [1, 2, 3, 4], using: 'image' } }, 'JADE_ERR_BAD_REQUEST'],
    ['query/batch with lookup_from (unsupported)', { method: 'POST', url: `${P}/query/batch`, payload: { searches: [{ query: 1, lookup_from: { collection: 'other' } }] } }, 'JADE_ERR_BAD_REQUEST'],
    ['scroll with order_by (unsupported)', { method: 'POST', url: `${P}/scroll`, payload: { order_by: 'n' } }, 'JADE_ERR_BAD_REQUEST'],
    ['searches missing on search/batch', { method: 'POST', url: `${P}/search/batch`, payload: {} }, 'JADE_ERR_BAD_REQUEST'],
    ['one bad query in query/batch', { method: 'POST', url: `${P}/query/batch`, payload: { searches: [{ query: [0, 0, 0, 0] }, { query: [1, 2] }] } }, 'JADE_ERR_DIMENSION_MISMATCH'],
    ['create without vectors (schema)', { method: 'PUT', url: '/collections/newone', payload: { hnsw_config: { m: 8 } } }, 'JADE_ERR_BAD_REQUEST'],
    ['create with dimension 0 (schema)', { method: 'PUT', url: '/collections/newone', payload: { vectors: { size: 0, distance: 'Dot' } } }, 'JADE_ERR_BAD_REQUEST'],
    ['create with an unsupported distance', { method: 'PUT', url: '/collections/newone', payload: { vectors: { size: 4, distance: 'Manhattan' } } }, 'JADE_ERR_BAD_REQUEST'],
    ['create with hnsw m out of range', { method: 'PUT', url: '/collections/newone', payload: { vectors: { size: 4, distance: 'Dot' }, hnsw_config: { m: 1 } } }, 'JADE_ERR_BAD_REQUEST'],
    ['create with a name starting with a dot', { method: 'PUT', url: '/collections/.hidden', payload: { vectors: { size: 4, distance: 'Dot' } } }, 'JADE_ERR_BAD_REQUEST'],
    ['create with a slash in the name', { method: 'PUT', url: '/collections/a%2Fb', payload: { vectors: { size: 4, distance: 'Dot' } } }, 'JADE_ERR_BAD_REQUEST'],
    ['payload index of an unsupported type', { method: 'PUT', url: `/collections/${C}/index`, payload: { field_name: 'geo', field_schema: 'geo' } }, 'JADE_ERR_BAD_REQUEST'],
    ['payload index without a field name (schema)', { method: 'PUT', url: `/collections/${C}/index`, payload: { field_schema: 'keyword' } }, 'JADE_ERR_BAD_REQUEST'],
    ['payload index with is_tenant on a float field', { method: 'PUT', url: `/collections/${C}/index`, payload: { field_name: 'f', field_schema: { type: 'float', is_tenant: true } } }, 'JADE_ERR_BAD_REQUEST'],
    ['payload index with a param JadeVectorDB does not act on', { method: 'PUT', url: `/collections/${C}/index`, payload: { field_name: 'k', field_schema: { type: 'keyword', on_disk: true } } }, 'JADE_ERR_BAD_REQUEST'],
    ['payload index with a non-boolean is_tenant', { method: 'PUT', url: `/collections/${C}/index`, payload: { field_name: 'k', field_schema: { type: 'keyword', is_tenant: 'yes' } } }, 'JADE_ERR_BAD_REQUEST'],
    // Nesting that once overflowed the stack (500): a payload and a {nearest} query thousands deep.
    ['payload nested 15000 deep', json('PUT', P, `{"points":[{"id":1,"vector":[1,2,3,4],"payload":{"a":${'['.repeat(15_000)}1${']'.repeat(15_000)}}}]}`), 'JADE_ERR_BAD_REQUEST'],
    ['payload nested past PAYLOAD_DEPTH_MAX', { method: 'PUT', url: P, payload: { points: [{ id: 1, vector: [1, 2, 3, 4], payload: { a: JSON.parse('['.repeat(64) + '1' + ']'.repeat(64)) } }] } }, 'JADE_ERR_BAD_REQUEST'],
    ['{nearest} nested 2500 deep', json('POST', `${P}/query`, `{"query":${'{"nearest":'.repeat(2500)}[1,2,3,4]${'}'.repeat(2500)}}`), 'JADE_ERR_BAD_REQUEST'],
    ['malformed %-encoding in the URL', { method: 'GET', url: '/collections/%E0%A4%A' }, 'JADE_ERR_BAD_REQUEST'],
    ['collection name over 255 characters', { method: 'GET', url: `/collections/${'n'.repeat(256)}` }, 'JADE_ERR_BAD_REQUEST'],
    ['path parameter over the router limit', { method: 'GET', url: `/collections/${'n'.repeat(600)}` }, 'JADE_ERR_BAD_REQUEST'],
  ];

  it.each(cases)('%s → 400', async (_name, opts, code) => {
    await expectRejected(opts, 400, code);
  });

  it('no collection was created by the rejected creates', async () => {
    expect((await call(app, { method: 'GET', url: '/collections/newone/exists' })).body.result.exists).toBe(false);
    expect((await call(app, { method: 'GET', url: '/collections' })).body.result.collections.map((c: { name: string }) => c.name)).not.toContain('newone');
  });
});

describe('404: missing collections, points and routes', () => {
  const N = '/collections/nope';
  const cases: [string, InjectOptions, ErrorCode][] = [
    ['get a missing collection', { method: 'GET', url: N }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['update a missing collection', { method: 'PATCH', url: N, payload: { hnsw_config: { ef: 10 } } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['set payload in a missing collection', { method: 'POST', url: `${N}/points/payload`, payload: { payload: { a: 1 }, points: [1] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['aliases of a missing collection', { method: 'GET', url: `${N}/aliases` }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['index on a missing collection', { method: 'PUT', url: `${N}/index`, payload: { field_name: 'a', field_schema: 'keyword' } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['upsert into a missing collection', { method: 'PUT', url: `${N}/points`, payload: { points: [{ id: 1, vector: [1, 2, 3, 4] }] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['retrieve from a missing collection', { method: 'POST', url: `${N}/points`, payload: { ids: [1] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['get a point of a missing collection', { method: 'GET', url: `${N}/points/1` }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['delete from a missing collection', { method: 'POST', url: `${N}/points/delete`, payload: { points: [1] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['count in a missing collection', { method: 'POST', url: `${N}/points/count`, payload: {} }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['scroll a missing collection', { method: 'POST', url: `${N}/points/scroll`, payload: {} }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['search a missing collection', { method: 'POST', url: `${N}/points/search`, payload: { vector: [1, 2, 3, 4] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['search/batch on a missing collection', { method: 'POST', url: `${N}/points/search/batch`, payload: { searches: [{ vector: [1, 2, 3, 4] }] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['query a missing collection', { method: 'POST', url: `${N}/points/query`, payload: { query: [1, 2, 3, 4] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['query/batch on a missing collection', { method: 'POST', url: `${N}/points/query/batch`, payload: { searches: [{ query: [1, 2, 3, 4] }] } }, 'JADE_ERR_COLLECTION_NOT_FOUND'],
    ['a missing point', { method: 'GET', url: `/collections/${C}/points/424242` }, 'JADE_ERR_NOT_FOUND'],
    ['a missing UUID point', { method: 'GET', url: `/collections/${C}/points/00000000-0000-0000-0000-000000000001` }, 'JADE_ERR_NOT_FOUND'],
    ['a missing point used as query', { method: 'POST', url: `/collections/${C}/points/query`, payload: { query: 424242 } }, 'JADE_ERR_NOT_FOUND'],
    ['an unknown route', { method: 'GET', url: '/v2/anything' }, 'JADE_ERR_NOT_FOUND'],
    ['an unsupported Qdrant route', { method: 'POST', url: `/collections/${C}/points/recommend`, payload: { positive: [1] } }, 'JADE_ERR_NOT_FOUND'],
    ['a wrong method', { method: 'POST', url: `/collections/${C}/exists`, payload: {} }, 'JADE_ERR_NOT_FOUND'],
  ];

  it.each(cases)('%s → 404', async (_name, opts, code) => {
    await expectRejected(opts, 404, code);
  });

  it('exists on a missing collection is a 200 with exists:false', async () => {
    expect(await call(app, { method: 'GET', url: `${N}/exists` })).toMatchObject({ status: 200, body: { result: { exists: false } } });
  });
});

describe('413: every limit', () => {
  const P = `/collections/${C}/points`;
  const big = (n: number) => Array.from({ length: n }, (_, i) => ({ id: 1000 + i, vector: [1, 2, 3, 4] }));
  const cases: [string, () => InjectOptions, ErrorCode][] = [
    ['body over bodyBytesMax', () => json('PUT', P, JSON.stringify({ points: [{ id: 1, vector: [1, 2, 3, 4], payload: { s: 'x'.repeat(LIMITS.bodyBytesMax) } }] })), 'JADE_ERR_PAYLOAD_TOO_LARGE'],
    ['points over batchPointsMax', () => ({ method: 'PUT', url: P, payload: { points: big(LIMITS.batchPointsMax + 1) } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['batch over batchPointsMax', () => {
      const pts = big(LIMITS.batchPointsMax + 1);
      return { method: 'PUT', url: P, payload: { batch: { ids: pts.map((p) => p.id), vectors: pts.map((p) => p.vector) } } };
    }, 'JADE_ERR_BATCH_TOO_LARGE'],
    ['retrieve over batchPointsMax', () => ({ method: 'POST', url: P, payload: { ids: big(LIMITS.batchPointsMax + 1).map((p) => p.id) } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['delete over batchPointsMax', () => ({ method: 'POST', url: `${P}/delete`, payload: { points: big(LIMITS.batchPointsMax + 1).map((p) => p.id) } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['scroll limit over batchPointsMax', () => ({ method: 'POST', url: `${P}/scroll`, payload: { limit: LIMITS.batchPointsMax + 1 } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['search/batch over searchBatchMax', () => ({ method: 'POST', url: `${P}/search/batch`, payload: { searches: Array.from({ length: LIMITS.searchBatchMax + 1 }, () => ({ vector: [1, 2, 3, 4] })) } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['query/batch over searchBatchMax', () => ({ method: 'POST', url: `${P}/query/batch`, payload: { searches: Array.from({ length: LIMITS.searchBatchMax + 1 }, () => ({ query: [1, 2, 3, 4] })) } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['search limit over searchLimitMax', () => ({ method: 'POST', url: `${P}/search`, payload: { vector: [1, 2, 3, 4], limit: LIMITS.searchLimitMax + 1 } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['query offset over searchLimitMax', () => ({ method: 'POST', url: `${P}/query`, payload: { query: [1, 2, 3, 4], offset: LIMITS.searchLimitMax + 1 } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['hnsw_ef over searchEfMax', () => ({ method: 'POST', url: `${P}/search`, payload: { vector: [1, 2, 3, 4], params: { hnsw_ef: LIMITS.searchEfMax + 1 } } }), 'JADE_ERR_BATCH_TOO_LARGE'],
    ['payload over payloadBytesMax', () => ({ method: 'PUT', url: P, payload: { points: [{ id: 1, vector: [1, 2, 3, 4], payload: { s: 'y'.repeat(LIMITS.payloadBytesMax) } }] } }), 'JADE_ERR_PAYLOAD_TOO_LARGE'],
  ];

  it.each(cases)('%s → 413', async (_name, opts, code) => {
    await expectRejected(opts(), 413, code);
  });

  it('exactly at the limits is accepted', async () => {
    const W = 'limits_ok';
    await call(app, { method: 'PUT', url: `/collections/${W}`, payload: { vectors: { size: DIM, distance: 'Euclid' } } });
    const pts = big(LIMITS.batchPointsMax);
    pts[0] = { ...pts[0], payload: { s: 'z'.repeat(LIMITS.payloadBytesMax - 8) } } as (typeof pts)[0];
    expect((await call(app, { method: 'PUT', url: `/collections/${W}/points`, payload: { points: pts } })).status).toBe(200);
    const searches = Array.from({ length: LIMITS.searchBatchMax }, () => ({ vector: [1, 2, 3, 4], limit: LIMITS.searchLimitMax, params: { hnsw_ef: LIMITS.searchEfMax } }));
    const res = await call(app, { method: 'POST', url: `/collections/${W}/points/search/batch`, payload: { searches } });
    expect(res.status).toBe(200);
    expect(res.body.result.map((r: unknown[]) => r.length)).toEqual(Array(LIMITS.searchBatchMax).fill(LIMITS.batchPointsMax));
    await call(app, { method: 'DELETE', url: `/collections/${W}` });
  });
});

describe('401: API key', () => {
  const KEY = 'k3y-that-is-long-enough-123';
  let auth: Harness;

  beforeAll(async () => {
    auth = await makeHarness({ apiKey: KEY });
    await auth.catalog.create('secret', { dimension: 2, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } });
  });
  afterAll(async () => {
    await auth?.close();
  });

  const protectedRoutes: InjectOptions[] = [
    { method: 'GET', url: '/' },
    { method: 'GET', url: '/v1/status' },
    { method: 'GET', url: '/metrics' },
    { method: 'GET', url: '/openapi.json' },
    { method: 'GET', url: '/collections' },
    { method: 'GET', url: '/collections/secret' },
    { method: 'PUT', url: '/collections/other', payload: { vectors: { size: 2, distance: 'Dot' } } },
    { method: 'DELETE', url: '/collections/secret' },
    { method: 'PUT', url: '/collections/secret/points', payload: { points: [{ id: 1, vector: [1, 2] }] } },
    { method: 'POST', url: '/collections/secret/points/search', payload: { vector: [1, 2] } },
    { method: 'POST', url: '/collections/secret/points/delete', payload: { points: [1] } },
    { method: 'GET', url: '/no/such/route' },
    { method: 'GET', url: '/healthz/' },
  ];

  it.each(protectedRoutes.map((o) => [`${o.method} ${o.url}`, o] as const))('%s needs the key', async (_name, opts) => {
    for (const headers of [{}, { 'api-key': 'wrong' }, { 'api-key': '' }, { authorization: `Basic ${KEY}` }, { authorization: `Bearer${KEY}` }, { authorization: `Bearer ${KEY}x` }, { authorization: `bearer ${KEY}x` }]) {
      expectErrorShape(await call(auth.app, { ...opts, headers }), 401, 'JADE_ERR_UNAUTHENTICATED');
    }
    expect(auth.catalog.names()).toEqual(['secret']);
    expect(auth.catalog.get('secret').shard.state.count).toBe(0);
  });

  it('accepts both api-key and Authorization: Bearer (the scheme in any case, RFC 9110)', async () => {
    for (const headers of [{ 'api-key': KEY }, { authorization: `Bearer ${KEY}` }, { authorization: `bearer ${KEY}` }, { authorization: `BEARER  ${KEY}` }]) {
      expect((await call(auth.app, { method: 'GET', url: '/collections', headers })).body.result.collections).toEqual([{ name: 'secret' }]);
    }
    const up = await call(auth.app, { method: 'PUT', url: '/collections/secret/points', headers: { 'api-key': KEY }, payload: { points: [{ id: 1, vector: [1, 2] }] } });
    expect(up.status).toBe(200);
    expect(auth.catalog.get('secret').shard.state.count).toBe(1);
  });

  it('/healthz and /readyz stay public', async () => {
    expect((await call(auth.app, { method: 'GET', url: '/healthz' })).status).toBe(200);
    expect((await call(auth.app, { method: 'GET', url: '/readyz?probe=1' })).status).toBe(200);
    auth.setReady(false);
    expectErrorShape(await call(auth.app, { method: 'GET', url: '/readyz' }), 503, 'JADE_ERR_NOT_READY');
    auth.setReady(true);
  });
});

describe('431 and malformed requests: errors of the HTTP parser', () => {
  // Node's parser answers these before fastify sees a request; inject() bypasses the parser, so
  // the app listens on 127.0.0.1 and a raw socket sends the bytes.
  let h: Harness;
  let port = 0;
  beforeAll(async () => {
    h = await makeHarness();
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    port = (h.app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await h?.close();
  });

  function rawRequest(bytes: string): Promise<{ status: number; headers: string; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('error', () => undefined); // the server resets after answering
      socket.on('close', () => {
        const [head, ...rest] = text.split('\r\n\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
        if (!status) reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
        else resolve({ status, headers: head, body: rest.join('\r\n\r\n') });
      });
    });
  }

  it('answers headers over the size limit with 431 in the JSON error envelope', async () => {
    const res = await rawRequest(`GET /collections HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.headers).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(res.body)).toMatchObject({ status: { code: 'JADE_ERR_HEADERS_TOO_LARGE', error: expect.stringContaining('header') } });
    expect(ERROR_TABLE.JADE_ERR_HEADERS_TOO_LARGE.http).toBe(431);
  });

  it('answers a malformed request line with 400 in the envelope', async () => {
    const res = await rawRequest('NOT A REQUEST\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ status: { code: 'JADE_ERR_BAD_REQUEST' } });
  });
});

describe('409: collectionsMax', () => {
  it('refuses a collection past collectionsMax with 409 JADE_ERR_CONFLICT', async () => {
    const small = await makeHarness({ limits: { collectionsMax: 1 } });
    try {
      expect((await call(small.app, { method: 'PUT', url: '/collections/one', payload: { vectors: { size: 2, distance: 'Dot' } } })).status).toBe(200);
      expectErrorShape(await call(small.app, { method: 'PUT', url: '/collections/two', payload: { vectors: { size: 2, distance: 'Dot' } } }), 409, 'JADE_ERR_CONFLICT');
      expect(small.catalog.names()).toEqual(['one']);
    } finally {
      await small.close();
    }
  });
});

describe('409: a name that is being deleted', () => {
  // Regression: delete() did not mark the name busy, so a create arriving while the old shard was
  // still closing reused the directory that delete then renamed away (500, the name gone).
  it('answers 409 to a create of a collection whose delete is still running', async () => {
    const disk = new GatedDisk();
    const g = await makeHarness({ disk });
    try {
      await call(g.app, { method: 'PUT', url: '/collections/d', payload: { vectors: { size: 2, distance: 'Euclid' } } });
      disk.closeGate();
      const held = g.app.inject({ method: 'PUT', url: '/collections/d/points', payload: { points: [{ id: 1, vector: [1, 1] }] } });
      for (let i = 0; i < 1000 && disk.waitingSyncs === 0; i++) await new Promise((r) => setTimeout(r, 2));
      const deleting = g.app.inject({ method: 'DELETE', url: '/collections/d' }); // waits for the held fsync
      await new Promise((r) => setTimeout(r, 20));
      const creating = g.app.inject({ method: 'PUT', url: '/collections/d', payload: { vectors: { size: 3, distance: 'Dot' } } });
      await new Promise((r) => setTimeout(r, 20));
      disk.releaseGate();
      await held;
      expect((await deleting).statusCode).toBe(200);
      expect((await creating).statusCode).toBe(409);
    } finally {
      disk.releaseGate();
      await g.close();
    }
  });
});

describe('429: write backpressure', () => {
  async function gated(limits: HarnessOptions['limits']) {
    const disk = new GatedDisk();
    const g = await makeHarness({ disk, limits });
    await call(g.app, { method: 'PUT', url: '/collections/q', payload: { vectors: { size: 2, distance: 'Euclid' } } });
    await call(g.app, { method: 'PUT', url: '/collections/q/points', payload: { points: [{ id: 1, vector: [1, 1] }] } });
    return { g, disk };
  }

  async function untilWaiting(disk: GatedDisk) {
    for (let i = 0; i < 1000 && disk.waitingSyncs === 0; i++) await new Promise((r) => setTimeout(r, 2));
    expect(disk.waitingSyncs).toBeGreaterThan(0);
  }

  it('past writesInFlightMax a write gets 429 and changes nothing; the held write completes', async () => {
    const { g, disk } = await gated({ writesInFlightMax: 1 });
    try {
      const before = collectionChecksum(g.catalog, 'q');
      disk.closeGate();
      const held = g.app.inject({ method: 'PUT', url: '/collections/q/points', payload: { points: [{ id: 2, vector: [2, 2] }] } });
      await untilWaiting(disk);
      for (const opts of [
        { method: 'PUT', url: '/collections/q/points', payload: { points: [{ id: 3, vector: [3, 3] }] } },
        { method: 'POST', url: '/collections/q/points/delete', payload: { points: [1] } },
        { method: 'PUT', url: '/collections/q/index', payload: { field_name: 'a', field_schema: 'keyword' } },
      ] as InjectOptions[]) {
        const res = await call(g.app, opts);
        expectErrorShape(res, 429, 'JADE_ERR_QUEUE_FULL');
        expect(res.res.headers['retry-after']).toBe('1');
      }
      // Reads are not writes: they still answer while the write waits.
      expect((await call(g.app, { method: 'POST', url: '/collections/q/points/count', payload: {} })).body.result.count).toBe(1);
      expect(collectionChecksum(g.catalog, 'q')).toBe(before);
      disk.releaseGate();
      expect((await held).statusCode).toBe(200);
      expect(g.catalog.get('q').shard.state.count).toBe(2);
      expect(g.catalog.get('q').shard.state.get(3)).toBeNull();
      // Once the slot is free, writes are accepted again.
      expect((await call(g.app, { method: 'PUT', url: '/collections/q/points', payload: { points: [{ id: 3, vector: [3, 3] }] } })).status).toBe(200);
    } finally {
      disk.releaseGate();
      await g.close();
    }
  });

  it('past the WAL pendingBytesMax a write gets 429 and changes nothing', async () => {
    const { g, disk } = await gated({ writesInFlightMax: 100, walPendingBytesMax: 1024 });
    try {
      disk.closeGate();
      const held = g.app.inject({ method: 'PUT', url: '/collections/q/points', payload: { points: [{ id: 2, vector: [2, 2] }] } });
      await untilWaiting(disk);
      const before = collectionChecksum(g.catalog, 'q');
      const bigPoints = Array.from({ length: 40 }, (_, i) => ({ id: 100 + i, vector: [i, i], payload: { pad: 'p'.repeat(20) } }));
      const res = await call(g.app, { method: 'PUT', url: '/collections/q/points', payload: { points: bigPoints } });
      expectErrorShape(res, 429, 'JADE_ERR_QUEUE_FULL');
      expect(res.body.status.error).toContain('pendingBytesMax');
      expect(collectionChecksum(g.catalog, 'q')).toBe(before);
      disk.releaseGate();
      expect((await held).statusCode).toBe(200);
      expect(g.catalog.get('q').shard.state.count).toBe(2);
      expect(g.catalog.get('q').shard.state.get(100)).toBeNull();
    } finally {
      disk.releaseGate();
      await g.close();
    }
  });
});

describe('429: indexing backlog', () => {
  it('an upsert that would push the HNSW backlog past indexBacklogMax gets 429; once indexed, writes go on', async () => {
    const g = await makeHarness({ limits: { indexBacklogMax: 8 } });
    try {
      await call(g.app, { method: 'PUT', url: '/collections/b', payload: { vectors: { size: 2, distance: 'Euclid' } } });
      const points = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ id: from + i, vector: [from + i, 1] }));
      const refused = await call(g.app, { method: 'PUT', url: '/collections/b/points', payload: { points: points(0, 9) } });
      expectErrorShape(refused, 429, 'JADE_ERR_QUEUE_FULL');
      expect(refused.body.status.error).toContain('indexBacklogMax');
      expect(g.catalog.get('b').shard.state.count).toBe(0);
      expect((await call(g.app, { method: 'PUT', url: '/collections/b/points', payload: { points: points(0, 8) } })).status).toBe(200);
      for (let i = 0; i < 500; i++) {
        const own = await call(g.app, { method: 'GET', url: '/v1/collections/b' });
        if (own.body.index_backlog === 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const info = await call(g.app, { method: 'GET', url: '/collections/b' });
      expect(info.body.result).toMatchObject({ status: 'green', indexed_vectors_count: 8 });
      expect((await call(g.app, { method: 'GET', url: '/v1/collections/b' })).body).toMatchObject({ index_backlog: 0, index_status: 'ready' });
      expect((await call(g.app, { method: 'PUT', url: '/collections/b/points', payload: { points: points(8, 8) } })).status).toBe(200);
      expect(g.catalog.get('b').shard.state.count).toBe(16);
    } finally {
      await g.close();
    }
  });
});

describe('delete by filter on replay', () => {
  it('replays from the WAL to the same state (the filter is evaluated again in log order)', async () => {
    const g = await makeHarness({});
    let open = true;
    try {
      await call(g.app, { method: 'PUT', url: '/collections/r', payload: { vectors: { size: 2, distance: 'Euclid' } } });
      await call(g.app, { method: 'PUT', url: '/collections/r/points', payload: { points: [1, 2, 3, 4].map((id) => ({ id, vector: [id, 0], payload: { odd: id % 2 === 1 } })) } });
      expect((await call(g.app, { method: 'POST', url: '/collections/r/points/delete', payload: { filter: { must: [{ key: 'odd', match: { value: true } }] } } })).status).toBe(200);
      // Written after the delete: it matches the filter but must survive the replay.
      await call(g.app, { method: 'PUT', url: '/collections/r/points', payload: { points: [{ id: 5, vector: [5, 0], payload: { odd: true } }] } });
      const before = collectionChecksum(g.catalog, 'r');
      await g.close({ keepData: true, checkpoint: false });
      open = false;
      const reopened = await makeHarness({ dataDir: g.dataDir });
      try {
        const ids = (await call(reopened.app, { method: 'POST', url: '/collections/r/points/scroll', payload: {} })).body.result.points.map((p: { id: number }) => p.id);
        expect(ids).toEqual([2, 4, 5]);
        expect(collectionChecksum(reopened.catalog, 'r')).toBe(before);
      } finally {
        await reopened.close();
      }
    } finally {
      if (open) await g.close();
    }
  });
});

describe('500: storage faults', () => {
  it.each(['EIO', 'ENOSPC'])('a failed fsync (%s) answers 500 JADE_ERR_STORAGE, stores nothing, and the next write succeeds', async (errno) => {
    const disk = new GatedDisk();
    const g = await makeHarness({ disk });
    let open = true;
    try {
      await call(g.app, { method: 'PUT', url: '/collections/s', payload: { vectors: { size: 2, distance: 'Euclid' } } });
      expect((await call(g.app, { method: 'PUT', url: '/collections/s/points', payload: { points: [{ id: 1, vector: [1, 1] }] } })).status).toBe(200);
      const before = collectionChecksum(g.catalog, 's');
      disk.syncFailures.push(errno);
      const failed = await call(g.app, { method: 'PUT', url: '/collections/s/points', payload: { points: [{ id: 2, vector: [2, 2] }] } });
      expectErrorShape(failed, 500, 'JADE_ERR_STORAGE');
      expect(failed.body.status.error).toContain(errno);
      // No server paths in what the client sees.
      expect(failed.body.status.error).not.toMatch(/\//);
      expect(collectionChecksum(g.catalog, 's')).toBe(before);
      expect((await call(g.app, { method: 'GET', url: '/collections/s/points/2' })).status).toBe(404);
      expect((await call(g.app, { method: 'PUT', url: '/collections/s/points', payload: { points: [{ id: 3, vector: [3, 3] }] } })).status).toBe(200);
      // The unacknowledged write does not come back on replay either.
      await g.close({ keepData: true, checkpoint: false });
      open = false;
      const reopened = await makeHarness({ dataDir: g.dataDir });
      try {
        const ids = (await call(reopened.app, { method: 'POST', url: '/collections/s/points/scroll', payload: {} })).body.result.points.map((p: { id: number }) => p.id);
        expect(ids).toEqual([1, 3]);
      } finally {
        await reopened.close();
      }
    } finally {
      if (open) await g.close();
    }
  });
});

describe('503: readiness', () => {
  it('/readyz answers 503 JADE_ERR_NOT_READY until the node is ready', async () => {
    const starting = await makeHarness({ ready: false });
    try {
      expectErrorShape(await call(starting.app, { method: 'GET', url: '/readyz' }), 503, 'JADE_ERR_NOT_READY');
      expect((await call(starting.app, { method: 'GET', url: '/healthz' })).status).toBe(200);
      expect((await call(starting.app, { method: 'GET', url: '/v1/status' })).body.ready).toBe(false);
      starting.setReady(true);
      expect((await call(starting.app, { method: 'GET', url: '/readyz' })).status).toBe(200);
    } finally {
      await starting.close();
    }
  });
});

describe('named vectors (one per collection, as the frameworks use them)', () => {
  let g: Harness;
  beforeAll(async () => {
    g = await makeHarness({ limits: LIMITS });
  });
  afterAll(async () => {
    await g?.close();
  });
  const pts = [1, 2, 3].map((id) => ({ id, vector: [id, 1, 0, 0], payload: { n: id } }));

  it('takes the empty-name unnamed vector as LangChain (Python) sends it: create, upsert, query with using: ""', async () => {
    expect((await call(g.app, { method: 'PUT', url: '/collections/lc', payload: { vectors: { '': { size: 4, distance: 'Cosine' } } } })).status).toBe(200);
    const info = await call(g.app, { method: 'GET', url: '/collections/lc' });
    expect(info.body.result.config.params.vectors).toEqual({ '': { size: 4, distance: 'Cosine' } });
    const up = await call(g.app, { method: 'PUT', url: '/collections/lc/points?wait=true', payload: { points: pts.map((p) => ({ ...p, vector: { '': p.vector } })) } });
    expect(up.status).toBe(200);
    // A plain vector is the unnamed one too.
    expect((await call(g.app, { method: 'PUT', url: '/collections/lc/points', payload: { points: [{ id: 4, vector: [4, 1, 0, 0] }] } })).status).toBe(200);
    const q = await call(g.app, { method: 'POST', url: '/collections/lc/points/query', payload: { query: [3, 1, 0, 0], using: '', limit: 2, with_vector: [''], with_payload: true, params: { exact: true } } });
    expect(q.status).toBe(200);
    expect(q.body.result.points.map((p: { id: number }) => p.id)).toEqual([3, 4]);
    // Qdrant returns the unnamed vector as a plain array, whatever name it was given under.
    expect(Array.isArray(q.body.result.points[0].vector)).toBe(true);
    const got = await call(g.app, { method: 'POST', url: '/collections/lc/points', payload: { ids: [1], with_vector: true } });
    expect(got.body.result[0].vector).toHaveLength(4);
    expectErrorShape(await call(g.app, { method: 'POST', url: '/collections/lc/points/query', payload: { query: [1, 0, 0, 0], using: 'other' } }), 400, 'JADE_ERR_BAD_REQUEST');
  });

  it('keeps one named vector: {name: vector} in writes, using / {name, vector} / with_vector [name] in reads', async () => {
    expect((await call(g.app, { method: 'PUT', url: '/collections/nv', payload: { vectors: { text: { size: 4, distance: 'Euclid' } } } })).status).toBe(200);
    expect((await call(g.app, { method: 'GET', url: '/collections/nv' })).body.result.config.params.vectors).toEqual({ text: { size: 4, distance: 'Euclid' } });
    expect((await call(g.app, { method: 'GET', url: '/v1/collections/nv' })).body.vector_name).toBe('text');
    expect((await call(g.app, { method: 'PUT', url: '/collections/nv/points', payload: { points: pts.slice(0, 2).map((p) => ({ ...p, vector: { text: p.vector } })) } })).status).toBe(200);
    expect((await call(g.app, { method: 'PUT', url: '/collections/nv/points', payload: { batch: { ids: [3], vectors: { text: [pts[2].vector] }, payloads: [pts[2].payload] } } })).status).toBe(200);
    const q = await call(g.app, { method: 'POST', url: '/collections/nv/points/query', payload: { query: [1, 1, 0, 0], using: 'text', limit: 1, with_vector: ['text'], params: { exact: true } } });
    expect(q.body.result.points[0]).toMatchObject({ id: 1, score: 0, vector: { text: [1, 1, 0, 0] } });
    const s = await call(g.app, { method: 'POST', url: '/collections/nv/points/search', payload: { vector: { name: 'text', vector: [3, 1, 0, 0] }, limit: 1, with_vector: true, params: { exact: true } } });
    expect(s.body.result[0]).toMatchObject({ id: 3, vector: { text: [3, 1, 0, 0] } });
    const scrolled = await call(g.app, { method: 'POST', url: '/collections/nv/points/scroll', payload: { limit: 1, with_vector: ['text'] } });
    expect(scrolled.body.result.points[0].vector).toEqual({ text: [1, 1, 0, 0] });
    const uv = await call(g.app, { method: 'PUT', url: '/collections/nv/points/vectors', payload: { points: [{ id: 2, vector: { text: [9, 9, 9, 9] } }] } });
    expect(uv.status).toBe(200);
    expect((await call(g.app, { method: 'GET', url: '/collections/nv/points/2' })).body.result).toEqual({ id: 2, payload: { n: 2 }, vector: { text: [9, 9, 9, 9] } });
    const before = collectionChecksum(g.catalog, 'nv');
    for (const [what, opts] of [
      ['a plain vector into a named collection', { method: 'PUT', url: '/collections/nv/points', payload: { points: [{ id: 9, vector: [1, 1, 1, 1] }] } }],
      ['another name', { method: 'PUT', url: '/collections/nv/points', payload: { points: [{ id: 9, vector: { image: [1, 1, 1, 1] } }] } }],
      ['two names', { method: 'PUT', url: '/collections/nv/points', payload: { points: [{ id: 9, vector: { text: [1, 1, 1, 1], image: [1] } }] } }],
      ['query without using', { method: 'POST', url: '/collections/nv/points/query', payload: { query: [1, 1, 1, 1] } }],
      ['search by another name', { method: 'POST', url: '/collections/nv/points/search', payload: { vector: { name: 'image', vector: [1, 1, 1, 1] } } }],
      ['with_vector of another name', { method: 'POST', url: '/collections/nv/points', payload: { ids: [1], with_vector: ['image'] } }],
      ['a sparse vector', { method: 'PUT', url: '/collections/nv/points', payload: { points: [{ id: 9, vector: { text: { indices: [1], values: [0.5] } } }] } }],
    ] as [string, InjectOptions][]) {
      expectErrorShape(await call(g.app, opts), 400, 'JADE_ERR_BAD_REQUEST');
      expect(collectionChecksum(g.catalog, 'nv'), what).toBe(before);
    }
  });

  it('refuses a second vector name, sparse vectors and per-vector options clearly', async () => {
    for (const body of [
      { vectors: { a: { size: 4, distance: 'Dot' }, b: { size: 4, distance: 'Dot' } } },
      { vectors: {} },
      { vectors: { size: 4, distance: 'Dot' }, sparse_vectors: { s: {} } },
      { vectors: { a: { size: 4, distance: 'Dot', multivector_config: { comparator: 'max_sim' } } } },
      { vectors: { size: 4, distance: 'Dot', datatype: 'uint8' } },
    ]) {
      const res = await call(g.app, { method: 'PUT', url: '/collections/refused', payload: body });
      expectErrorShape(res, 400, 'JADE_ERR_BAD_REQUEST');
    }
    expect(g.catalog.names()).not.toContain('refused');
  });

  it('keeps the vector name across a restart (and a record without one is unnamed)', async () => {
    await g.close({ keepData: true });
    g = await makeHarness({ limits: LIMITS, dataDir: g.dataDir });
    expect((await call(g.app, { method: 'GET', url: '/collections/nv' })).body.result.config.params.vectors).toEqual({ text: { size: 4, distance: 'Euclid' } });
    expect((await call(g.app, { method: 'GET', url: '/collections/lc' })).body.result.config.params.vectors).toEqual({ '': { size: 4, distance: 'Cosine' } });
    expect(g.catalog.get('lc').record.params.vectorName).toBe('');
  });
});

describe('payload and vector updates', () => {
  let g: Harness;
  const U = 'upd';
  const get = async (id: number) => (await call(g.app, { method: 'GET', url: `/collections/${U}/points/${id}` })).body.result;
  const count = async (filter: unknown) => (await call(g.app, { method: 'POST', url: `/collections/${U}/points/count`, payload: { filter } })).body.result.count as number;
  beforeAll(async () => {
    g = await makeHarness({ limits: LIMITS });
    await call(g.app, { method: 'PUT', url: `/collections/${U}`, payload: { vectors: { size: 2, distance: 'Euclid' } } });
    await call(g.app, { method: 'PUT', url: `/collections/${U}/index`, payload: { field_name: 'color', field_schema: 'keyword' } });
    await call(g.app, { method: 'PUT', url: `/collections/${U}/points`, payload: { points: [1, 2, 3, 4, 5, 6].map((id) => ({ id, vector: [id, 0], payload: { color: id % 2 ? 'red' : 'blue', n: id, deep: { a: 1, b: 2 } } })) } });
  });
  afterAll(async () => {
    await g?.close();
  });

  it('set_payload merges keys, by ids and by filter; the payload index follows', async () => {
    const r = await call(g.app, { method: 'POST', url: `/collections/${U}/points/payload?wait=true`, payload: { payload: { color: 'green', extra: true }, points: [1, 2] } });
    expect(r.body.result).toMatchObject({ status: 'completed' });
    expect((await get(1)).payload).toEqual({ color: 'green', n: 1, deep: { a: 1, b: 2 }, extra: true });
    expect(await count({ must: [{ key: 'color', match: { value: 'green' } }] })).toBe(2);
    expect(await count({ must: [{ key: 'color', match: { value: 'red' } }] })).toBe(2);
    await call(g.app, { method: 'POST', url: `/collections/${U}/points/payload`, payload: { payload: { tagged: 1 }, filter: { must: [{ key: 'color', match: { value: 'red' } }] } } });
    expect(await count({ must: [{ key: 'tagged', match: { value: 1 } }] })).toBe(2);
    expect((await get(3)).payload.tagged).toBe(1);
  });

  it('overwrite_payload replaces, delete_payload removes (nested keys too), clear_payload empties', async () => {
    await call(g.app, { method: 'PUT', url: `/collections/${U}/points/payload`, payload: { payload: { color: 'blue' }, points: [1] } });
    expect((await get(1)).payload).toEqual({ color: 'blue' });
    await call(g.app, { method: 'POST', url: `/collections/${U}/points/payload/delete`, payload: { keys: ['n', 'deep.a'], points: [4] } });
    expect((await get(4)).payload).toEqual({ color: 'blue', deep: { b: 2 } });
    await call(g.app, { method: 'POST', url: `/collections/${U}/points/payload/delete`, payload: { keys: ['deep'], filter: { must: [{ key: 'n', range: { gte: 5 } }] } } });
    expect((await get(5)).payload).toEqual({ color: 'red', n: 5, tagged: 1 });
    await call(g.app, { method: 'POST', url: `/collections/${U}/points/payload/clear`, payload: { points: [6] } });
    expect((await get(6)).payload).toEqual({});
    // Blue now: 1 (overwritten) and 4; 2 is green, 6 was cleared.
    expect(await count({ must: [{ key: 'color', match: { value: 'blue' } }] })).toBe(2);
  });

  it('update_vectors replaces vectors and keeps payloads; search sees the new vectors', async () => {
    const before = (await get(3)).payload;
    await call(g.app, { method: 'PUT', url: `/collections/${U}/points/vectors`, payload: { points: [{ id: 3, vector: [100, 100] }] } });
    expect(await get(3)).toEqual({ id: 3, payload: before, vector: [100, 100] });
    const s = await call(g.app, { method: 'POST', url: `/collections/${U}/points/search`, payload: { vector: [99, 99], limit: 1, params: { exact: true } } });
    expect(s.body.result[0].id).toBe(3);
  });

  it('refuses bad updates with coded errors and changes nothing', async () => {
    const before = collectionChecksum(g.catalog, U);
    const P = `/collections/${U}/points`;
    const cases: [InjectOptions, number, ErrorCode][] = [
      [{ method: 'POST', url: `${P}/payload`, payload: { payload: { a: 1 }, points: [1, 999] } }, 404, 'JADE_ERR_NOT_FOUND'],
      [{ method: 'PUT', url: `${P}/vectors`, payload: { points: [{ id: 999, vector: [1, 1] }] } }, 404, 'JADE_ERR_NOT_FOUND'],
      [{ method: 'PUT', url: `${P}/vectors`, payload: { points: [{ id: 1, vector: [1, 1, 1] }] } }, 400, 'JADE_ERR_DIMENSION_MISMATCH'],
      [{ method: 'POST', url: `${P}/payload`, payload: { payload: { a: 1 } } }, 400, 'JADE_ERR_BAD_REQUEST'],
      [{ method: 'POST', url: `${P}/payload`, payload: { payload: { a: 1 }, points: [1], filter: { must: [] } } }, 400, 'JADE_ERR_BAD_REQUEST'],
      [{ method: 'POST', url: `${P}/payload`, payload: { payload: { a: 1 }, filter: { must: [{ key: 'a' }] } } }, 400, 'JADE_ERR_BAD_FILTER'],
      [{ method: 'POST', url: `${P}/payload`, payload: { payload: { a: 1 }, points: [1], key: 'deep' } }, 400, 'JADE_ERR_BAD_REQUEST'],
      [{ method: 'POST', url: `${P}/payload`, payload: { payload: { big: 'x'.repeat(400) }, points: [1] } }, 413, 'JADE_ERR_PAYLOAD_TOO_LARGE'],
      [{ method: 'POST', url: `${P}/payload`, payload: { payload: { a: 1 }, points: Array.from({ length: 21 }, (_, i) => i) } }, 413, 'JADE_ERR_BATCH_TOO_LARGE'],
      [{ method: 'POST', url: `${P}/payload/delete`, payload: { keys: [], points: [1] } }, 400, 'JADE_ERR_BAD_REQUEST'],
      [{ method: 'POST', url: `${P}/payload/delete`, payload: { keys: ['a[0]'], points: [1] } }, 400, 'JADE_ERR_BAD_REQUEST'],
      [{ method: 'POST', url: `${P}/payload/clear`, payload: {} }, 400, 'JADE_ERR_BAD_REQUEST'],
    ];
    for (const [opts, status, code] of cases) {
      expectErrorShape(await call(g.app, opts), status, code);
      expect(collectionChecksum(g.catalog, U), JSON.stringify(opts.payload)).toBe(before);
    }
  });

  it('replays every update from the WAL to the same points after a crash-like restart', async () => {
    const before = collectionChecksum(g.catalog, U);
    await g.close({ keepData: true, checkpoint: false });
    g = await makeHarness({ limits: LIMITS, dataDir: g.dataDir });
    expect(collectionChecksum(g.catalog, U)).toBe(before);
    expect(await count({ must: [{ key: 'color', match: { value: 'green' } }] })).toBe(1);
  });
});

describe('PATCH /collections/{name}', () => {
  it('changes the default search ef, durably; m and ef_construct and unknown settings are refused', async () => {
    const g = await makeHarness({ limits: LIMITS });
    let open = true;
    try {
      await call(g.app, { method: 'PUT', url: '/collections/p', payload: { vectors: { size: 2, distance: 'Dot' }, hnsw_config: { m: 8, ef_construct: 40, ef: 16 } } });
      expect((await call(g.app, { method: 'PATCH', url: '/collections/p', payload: { hnsw_config: { ef: 99 } } })).body).toMatchObject({ result: true, status: 'ok' });
      expect((await call(g.app, { method: 'GET', url: '/v1/collections/p' })).body.hnsw).toEqual({ m: 8, ef_construct: 40, ef: 99 });
      expect((await call(g.app, { method: 'PATCH', url: '/collections/p', payload: { hnsw_config: { m: 8, ef_construct: 40 } } })).status).toBe(200);
      expect((await call(g.app, { method: 'PATCH', url: '/collections/p', payload: {} })).status).toBe(200);
      for (const body of [{ hnsw_config: { m: 16 } }, { hnsw_config: { ef_construct: 10 } }, { hnsw_config: { ef: 0 } }, { optimizers_config: { indexing_threshold: 1000 } }, { hnsw_config: { payload_m: 4 } }]) {
        const res = await call(g.app, { method: 'PATCH', url: '/collections/p', payload: body });
        expectErrorShape(res, 400, 'JADE_ERR_BAD_REQUEST');
      }
      await g.close({ keepData: true });
      open = false;
      const again = await makeHarness({ limits: LIMITS, dataDir: g.dataDir });
      try {
        expect((await call(again.app, { method: 'GET', url: '/v1/collections/p' })).body.hnsw.ef).toBe(99);
        expect(again.catalog.get('p').record.params.hnsw.efSearch).toBe(99);
      } finally {
        await again.close();
      }
    } finally {
      if (open) await g.close();
    }
  });
});

describe('aliases', () => {
  it('resolve on every collection route, change all or none, go with their collection, and survive a restart', async () => {
    const g = await makeHarness({ limits: LIMITS });
    let open = true;
    const aliases = async () => (await call(g.app, { method: 'GET', url: '/aliases' })).body.result.aliases;
    try {
      for (const n of ['v1', 'v2']) await call(g.app, { method: 'PUT', url: `/collections/${n}`, payload: { vectors: { size: 2, distance: 'Euclid' } } });
      await call(g.app, { method: 'PUT', url: '/collections/v1/points', payload: { points: [{ id: 1, vector: [1, 0], payload: { c: 'v1' } }] } });
      expect((await call(g.app, { method: 'POST', url: '/collections/aliases', payload: { actions: [{ create_alias: { collection_name: 'v1', alias_name: 'prod' } }] } })).body.result).toBe(true);
      // Every route takes the alias.
      const via = (method: string, path: string, payload?: unknown) => call(g.app, { method: method as 'GET', url: `/collections/prod${path}`, payload: payload as object });
      expect((await via('GET', '')).body.result.points_count).toBe(1);
      expect((await via('GET', '/exists')).body.result).toEqual({ exists: true });
      expect((await via('PUT', '/points', { points: [{ id: 2, vector: [2, 0], payload: { c: 'v1' } }] })).status).toBe(200);
      expect((await via('POST', '/points/count', {})).body.result.count).toBe(2);
      expect((await via('POST', '/points/query', { query: [2, 0], limit: 1 })).body.result.points[0].id).toBe(2);
      expect((await via('POST', '/points/payload', { payload: { hot: true }, points: [1] })).status).toBe(200);
      expect((await via('PATCH', '', { hnsw_config: { ef: 33 } })).status).toBe(200);
      expect((await call(g.app, { method: 'GET', url: '/v1/collections/v1' })).body).toMatchObject({ hnsw: { ef: 33 }, aliases: ['prod'] });
      expect((await via('GET', '/aliases')).body.result.aliases).toEqual([{ alias_name: 'prod', collection_name: 'v1' }]);
      expect(g.catalog.get('v1').shard.state.count).toBe(2);
      // Switch the alias in one request.
      await call(g.app, { method: 'POST', url: '/collections/aliases', payload: { actions: [{ delete_alias: { alias_name: 'prod' } }, { create_alias: { collection_name: 'v2', alias_name: 'prod' } }] } });
      expect((await via('POST', '/points/count', {})).body.result.count).toBe(0);
      // All or none: the second action fails, so the first is not applied either.
      const failed = await call(g.app, { method: 'POST', url: '/collections/aliases', payload: { actions: [{ create_alias: { collection_name: 'v1', alias_name: 'old' } }, { delete_alias: { alias_name: 'nope' } }] } });
      expectErrorShape(failed, 404, 'JADE_ERR_NOT_FOUND');
      expect(await aliases()).toEqual([{ alias_name: 'prod', collection_name: 'v2' }]);
      expectErrorShape(await call(g.app, { method: 'POST', url: '/collections/aliases', payload: { actions: [{ create_alias: { collection_name: 'v1', alias_name: 'v2' } }] } }), 409, 'JADE_ERR_CONFLICT');
      expectErrorShape(await call(g.app, { method: 'POST', url: '/collections/aliases', payload: { actions: [{ create_alias: { collection_name: 'missing', alias_name: 'x' } }] } }), 404, 'JADE_ERR_COLLECTION_NOT_FOUND');
      expectErrorShape(await call(g.app, { method: 'PUT', url: '/collections/prod', payload: { vectors: { size: 2, distance: 'Dot' } } }), 409, 'JADE_ERR_COLLECTION_EXISTS');
      await call(g.app, { method: 'POST', url: '/collections/aliases', payload: { actions: [{ rename_alias: { old_alias_name: 'prod', new_alias_name: 'live' } }, { create_alias: { collection_name: 'v1', alias_name: 'old' } }] } });
      expect(await aliases()).toEqual([{ alias_name: 'live', collection_name: 'v2' }, { alias_name: 'old', collection_name: 'v1' }]);
      // Deleting an alias name deletes nothing; deleting a collection takes its aliases along.
      expect((await call(g.app, { method: 'DELETE', url: '/collections/live' })).body.result).toBe(false);
      expect(g.catalog.names()).toEqual(['v1', 'v2']);
      expect((await call(g.app, { method: 'DELETE', url: '/collections/v2' })).body.result).toBe(true);
      expect(await aliases()).toEqual([{ alias_name: 'old', collection_name: 'v1' }]);
      await g.close({ keepData: true });
      open = false;
      const again = await makeHarness({ limits: LIMITS, dataDir: g.dataDir });
      try {
        expect((await call(again.app, { method: 'GET', url: '/aliases' })).body.result.aliases).toEqual([{ alias_name: 'old', collection_name: 'v1' }]);
        expect((await call(again.app, { method: 'POST', url: '/collections/old/points', payload: { ids: [1] } })).body.result[0].payload).toEqual({ c: 'v1', hot: true });
      } finally {
        await again.close();
      }
    } finally {
      if (open) await g.close();
    }
  });
});

describe('MMR (query: {nearest, mmr})', () => {
  it('re-ranks the nearest candidates as Qdrant does, checked against an oracle written here', async () => {
    const g = await makeHarness({ limits: { ...LIMITS, batchPointsMax: 200 } });
    try {
      const rand = rng(99);
      const P = Array.from({ length: 60 }, (_, id) => ({ id, vector: randomVector(rand, 4) }));
      await call(g.app, { method: 'PUT', url: '/collections/m', payload: { vectors: { size: 4, distance: 'Cosine' } } });
      await call(g.app, { method: 'PUT', url: '/collections/m/points', payload: { points: P } });
      const unit = (v: number[]) => {
        const n = Math.hypot(...v);
        return v.map((x) => x / n);
      };
      const dotp = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
      const oracle = (q: number[], limit: number, diversity: number, candidatesLimit: number) => {
        const qn = unit(q);
        const cand = P.map((p) => ({ id: p.id, v: unit(p.vector) })).sort((a, b) => dotp(b.v, qn) - dotp(a.v, qn) || a.id - b.id).slice(0, candidatesLimit);
        const picked = [cand[0]];
        let left = cand.slice(1);
        while (picked.length < limit && left.length > 0) {
          let best = left[0];
          let bestScore = -Infinity;
          for (const c of left) {
            const score = (1 - diversity) * dotp(c.v, qn) - diversity * Math.max(...picked.map((p) => dotp(p.v, c.v)));
            if (score > bestScore) [best, bestScore] = [c, score];
          }
          picked.push(best);
          left = left.filter((c) => c !== best);
        }
        return picked.map((p) => p.id);
      };
      for (const [diversity, candidates] of [[0, 20], [0.5, 20], [0.9, 30], [1, 10]] as const) {
        const q = randomVector(rand, 4);
        const res = await call(g.app, { method: 'POST', url: '/collections/m/points/query', payload: { query: { nearest: q, mmr: { diversity, candidates_limit: candidates } }, limit: 5, params: { exact: true } } });
        expect(res.status).toBe(200);
        expect(res.body.result.points.map((p: { id: number }) => p.id), `diversity ${diversity}`).toEqual(oracle(q, 5, diversity, candidates));
        expect(res.body.result.points[0].vector).toBeUndefined();
      }
      // diversity 0 is plain nearest-neighbour order.
      const q = randomVector(rand, 4);
      const plain = await call(g.app, { method: 'POST', url: '/collections/m/points/query', payload: { query: q, limit: 5, params: { exact: true } } });
      const mmr = await call(g.app, { method: 'POST', url: '/collections/m/points/query', payload: { query: { nearest: q, mmr: { diversity: 0 } }, limit: 5, with_vector: true, params: { exact: true } } });
      expect(mmr.body.result.points.map((p: { id: number }) => p.id)).toEqual(plain.body.result.points.map((p: { id: number }) => p.id));
      expect(mmr.body.result.points[0].vector).toHaveLength(4);
      expectErrorShape(await call(g.app, { method: 'POST', url: '/collections/m/points/query', payload: { query: { nearest: q, mmr: { diversity: 2 } } } }), 400, 'JADE_ERR_BAD_REQUEST');
    } finally {
      await g.close();
    }
  });
});

describe('restart', () => {
  it('a crash-like restart replays the WAL to the same points: no rejected request reached the log', async () => {
    const before = await takeFingerprint();
    expect(before).toEqual(fingerprint);
    await h.close({ keepData: true, checkpoint: false });
    h = await makeHarness({ limits: LIMITS, dataDir: h.dataDir });
    app = h.app;
    await expectUnchanged();
  });
});

describe('the Qdrant response contract', () => {
  it('every Qdrant operation we serve answered at least once, and each answer matched its schema', () => {
    // remove_peer succeeds only in cluster mode (this suite runs standalone: it answers 400 here).
    const served = [...new Set(QDRANT_OPERATIONS.map(([, , op]) => op))].filter((op) => op !== 'remove_peer');
    expect(served.filter((op) => !contract.checkedOk.has(op))).toEqual([]);
  });
});
