// The client gRPC API driven by Qdrant's official gRPC client (@qdrant/js-client-grpc), against a
// standalone node and a 3-node in-process cluster (3 shards × 3 replicas, the client on a node that
// did not bootstrap). Answers are compared with a flat exact oracle computed here in plain JS;
// errors come back as gRPC status codes with the stable code in the `jade-code` trailer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConnectError, Distance, FieldType, QdrantClient, type Filter, type PointId, type ScoredPoint } from '@qdrant/js-client-grpc';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { freeLoopbackPorts } from '../helpers/ports.js';
import { randomVector, rng } from './harness.js';
import { clusterMemberConfig, standaloneConfig } from './qdrant-client.suite.js';

const DIM = 16;
const POINTS = 300;
const CATEGORIES = ['a', 'b', 'c', 'd'];
const ADMIN_KEY = 'grpc-admin-key-0123456789abcdef';
const READER_KEY = 'grpc-reader-key-0123456789abcdef';
// gRPC status codes (google.rpc.Code), as the client's ConnectError reports them.
const CODE = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, UNIMPLEMENTED: 12, UNAUTHENTICATED: 16 } as const;

interface P {
  id: number;
  vector: number[];
  payload: { category: string; rank: number };
}
const random = rng(20261204);
const POINT_SET: P[] = Array.from({ length: POINTS }, (_, i) => ({ id: i, vector: randomVector(random, DIM), payload: { category: CATEGORIES[i % 4], rank: i } }));
const QUERY_SET: number[][] = Array.from({ length: 8 }, () => randomVector(random, DIM));

const euclid = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
function oracle(query: number[], k: number, keep: (p: P) => boolean = () => true): { id: number; score: number }[] {
  return POINT_SET.filter(keep).map((p) => ({ id: p.id, score: euclid(p.vector, query) })).sort((x, y) => x.score - y.score).slice(0, k);
}

const num = (id: PointId | undefined) => (id?.pointIdOptions.case === 'num' ? Number(id.pointIdOptions.value) : id?.pointIdOptions.value);
const idOf = (n: number) => ({ pointIdOptions: { case: 'num' as const, value: BigInt(n) } });
const kw = (key: string, value: string) => ({ conditionOneOf: { case: 'field' as const, value: { key, match: { matchValue: { case: 'keyword' as const, value } } } } });
const range = (key: string, r: { gte?: number; lt?: number }) => ({ conditionOneOf: { case: 'field' as const, value: { key, range: r } } });
const dense = (v: number[]) => ({ vectorsOptions: { case: 'vector' as const, value: { vector: { case: 'dense' as const, value: { data: v } } } } });
const payloadOf = (p: P['payload']) => ({ category: { kind: { case: 'stringValue' as const, value: p.category } }, rank: { kind: { case: 'integerValue' as const, value: BigInt(p.rank) } } });

function expectExact(got: ScoredPoint[], query: number[], k: number, keep?: (p: P) => boolean) {
  const want = oracle(query, k, keep);
  expect(got.map((p) => num(p.id))).toEqual(want.map((w) => w.id));
  got.forEach((p, i) => expect(p.score).toBeCloseTo(want[i].score, 4));
}

/** The gRPC status and jade-code of a failed call. */
async function failureOf(promise: Promise<unknown>): Promise<{ code: number; jadeCode: string | null; message: string }> {
  try {
    await promise;
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    return { code: e.code, jadeCode: e.metadata.get('jade-code'), message: e.rawMessage };
  }
  throw new Error('expected the call to fail');
}

interface RunningTarget {
  grpcPort: number;
  restUrl: string;
  /** The node's log lines, when the target captures them. */
  logs?: Record<string, unknown>[];
  close(): Promise<void>;
}

interface Target {
  name: string;
  shardNumber?: number;
  replicationFactor?: number;
  start(keysFile: string): Promise<RunningTarget>;
}

function grpcSuite(target: Target) {
  describe(`gRPC API with @qdrant/js-client-grpc: ${target.name}`, () => {
    let dir: string;
    let node: RunningTarget;
    let client: QdrantClient;
    const clientWith = (apiKey?: string) => new QdrantClient({ url: `http://127.0.0.1:${node.grpcPort}`, apiKey, checkCompatibility: false });
    const name = 'grpc_euclid';

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'jade-grpc-client-'));
      const keysFile = path.join(dir, 'keys.json');
      writeFileSync(keysFile, JSON.stringify([{ id: 'reader', key: READER_KEY, role: 'read' }]));
      node = await target.start(keysFile);
      client = clientWith(ADMIN_KEY);
      await client.api('collections').create({
        collectionName: name,
        vectorsConfig: { config: { case: 'params', value: { size: BigInt(DIM), distance: Distance.Euclid } } },
        shardNumber: target.shardNumber,
        replicationFactor: target.replicationFactor,
      });
      for (let i = 0; i < POINTS; i += 100) {
        const res = await client.api('points').upsert({ collectionName: name, wait: true, points: POINT_SET.slice(i, i + 100).map((p) => ({ id: idOf(p.id), vectors: dense(p.vector), payload: payloadOf(p.payload) })) });
        expect(res.result?.status).toBe(2); // Completed
      }
    }, 60_000);

    afterAll(async () => {
      await node?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('answers the health check with the Qdrant version it speaks, and lists and describes collections', async () => {
      const health = await client.api('service').healthCheck({});
      expect(health.version).toBe('1.18.0');
      // A client with its defaults checks the server's version on connect and finds it compatible.
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
      try {
        const checking = new QdrantClient({ url: `http://127.0.0.1:${node.grpcPort}`, apiKey: ADMIN_KEY });
        await checking.api('collections').list({});
        await new Promise((r) => setTimeout(r, 200));
        expect(warn.mock.calls.map((c) => String(c[0])).filter((m) => /version|incompatible/i.test(m))).toEqual([]);
      } finally {
        warn.mockRestore();
      }
      const list = await client.api('collections').list({});
      expect(list.collections.map((c) => c.name)).toEqual([name]);
      const info = await client.api('collections').get({ collectionName: name });
      expect(info.result?.pointsCount).toBe(BigInt(POINTS));
      const params = info.result?.config?.params;
      expect(params?.vectorsConfig?.config.case).toBe('params');
      expect(params?.vectorsConfig?.config.value).toMatchObject({ size: BigInt(DIM), distance: Distance.Euclid });
      expect(params?.shardNumber).toBe(target.shardNumber ?? 1);
      expect((await client.api('collections').collectionExists({ collectionName: name })).result?.exists).toBe(true);
      expect((await client.api('collections').collectionExists({ collectionName: 'missing' })).result?.exists).toBe(false);
    });

    it('gets points with payload and vector', async () => {
      const got = await client.api('points').get({ collectionName: name, ids: [idOf(3), idOf(7), idOf(9999)], withVectors: { selectorOptions: { case: 'enable', value: true } } });
      expect(got.result.map((p) => num(p.id))).toEqual([3, 7]);
      expect(got.result[0].payload.category.kind).toEqual({ case: 'stringValue', value: POINT_SET[3].payload.category });
      expect(got.result[0].payload.rank.kind).toEqual({ case: 'integerValue', value: 3n });
      const v = got.result[1].vectors?.vectorsOptions;
      expect(v?.case).toBe('vector');
      const data = v?.case === 'vector' && v.value.vector.case === 'dense' ? v.value.vector.value.data : [];
      data.forEach((x, i) => expect(x).toBeCloseTo(POINT_SET[7].vector[i], 5));
    });

    it('searches exactly as the oracle, with and without a filter, single and batched', async () => {
      const exact = { exact: true };
      for (const q of QUERY_SET.slice(0, 3)) {
        const res = await client.api('points').search({ collectionName: name, vector: q, limit: 10n, params: exact, withPayload: { selectorOptions: { case: 'enable', value: true } } });
        expectExact(res.result, q, 10);
        expect(res.result[0].payload.category.kind.case).toBe('stringValue');
      }
      const filter: Filter = { must: [kw('category', 'b'), range('rank', { gte: 50, lt: 250 })], should: [], mustNot: [] } as unknown as Filter;
      const keep = (p: P) => p.payload.category === 'b' && p.payload.rank >= 50 && p.payload.rank < 250;
      const filtered = await client.api('points').search({ collectionName: name, vector: QUERY_SET[3], limit: 7n, params: exact, filter });
      expectExact(filtered.result, QUERY_SET[3], 7, keep);
      // Offset pages through the same ranking; score_threshold cuts it (Euclid: an upper bound).
      const paged = await client.api('points').search({ collectionName: name, vector: QUERY_SET[4], limit: 5n, offset: 5n, params: exact });
      expect(paged.result.map((p) => num(p.id))).toEqual(oracle(QUERY_SET[4], 10).slice(5).map((w) => w.id));
      const threshold = oracle(QUERY_SET[4], 4)[3].score + 1e-4;
      const cut = await client.api('points').search({ collectionName: name, vector: QUERY_SET[4], limit: 50n, params: exact, scoreThreshold: threshold });
      expect(cut.result.map((p) => num(p.id))).toEqual(oracle(QUERY_SET[4], 4).map((w) => w.id));

      const batch = await client.api('points').searchBatch({ collectionName: name, searchPoints: QUERY_SET.map((q, i) => ({ collectionName: name, vector: q, limit: 5n, params: exact, ...(i % 2 ? { filter } : {}) })) });
      expect(batch.result).toHaveLength(QUERY_SET.length);
      batch.result.forEach((r, i) => expectExact(r.result, QUERY_SET[i], 5, i % 2 ? keep : undefined));
    });

    it('queries nearest by vector and by point id', async () => {
      const byVector = await client.api('points').query({ collectionName: name, query: { variant: { case: 'nearest', value: { variant: { case: 'dense', value: { data: QUERY_SET[5] } } } } }, limit: 6n, params: { exact: true } });
      expectExact(byVector.result, QUERY_SET[5], 6);
      const byId = await client.api('points').query({ collectionName: name, query: { variant: { case: 'nearest', value: { variant: { case: 'id', value: idOf(42) } } } }, limit: 5n, params: { exact: true }, filter: { must: [kw('category', 'c')], should: [], mustNot: [] } as unknown as Filter });
      expectExact(byId.result, POINT_SET[42].vector, 5, (p) => p.payload.category === 'c');
    });

    it('scrolls every page and counts with filters', async () => {
      const seen: number[] = [];
      let offset: PointId | undefined;
      let pages = 0;
      const notA = { must: [], should: [], mustNot: [kw('category', 'a')] } as unknown as Filter;
      do {
        const page = await client.api('points').scroll({ collectionName: name, limit: 37, offset, filter: notA });
        for (const p of page.result) seen.push(num(p.id) as number);
        offset = page.nextPageOffset;
        pages++;
      } while (offset !== undefined && pages < 50);
      const expected = POINT_SET.filter((p) => p.payload.category !== 'a').map((p) => p.id);
      expect(seen).toEqual(expected);
      expect(pages).toBe(Math.ceil(expected.length / 37));
      expect((await client.api('points').count({ collectionName: name, exact: true })).result?.count).toBe(BigInt(POINTS));
      const anyAC = { conditionOneOf: { case: 'field' as const, value: { key: 'category', match: { matchValue: { case: 'keywords' as const, value: { strings: ['a', 'c'] } } } } } };
      const filtered = await client.api('points').count({ collectionName: name, filter: { must: [anyAC, range('rank', { gte: 100, lt: 200 })], should: [], mustNot: [] } as unknown as Filter });
      expect(filtered.result?.count).toBe(BigInt(POINT_SET.filter((p) => ['a', 'c'].includes(p.payload.category) && p.payload.rank >= 100 && p.payload.rank < 200).length));
    });

    it('creates a payload index, deletes by ids and by filter, and drops a collection', async () => {
      const scratch = 'grpc_scratch';
      await client.api('collections').create({ collectionName: scratch, vectorsConfig: { config: { case: 'params', value: { size: BigInt(DIM), distance: Distance.Euclid } } }, shardNumber: target.shardNumber, replicationFactor: target.replicationFactor });
      await client.api('points').upsert({ collectionName: scratch, wait: true, points: POINT_SET.slice(0, 60).map((p) => ({ id: idOf(p.id), vectors: dense(p.vector), payload: payloadOf(p.payload) })) });
      const idx = await client.api('points').createFieldIndex({ collectionName: scratch, fieldName: 'category', fieldType: FieldType.FieldTypeKeyword, wait: true });
      expect(idx.result?.status).toBe(2);
      const info = await client.api('collections').get({ collectionName: scratch });
      expect(info.result?.payloadSchema.category?.dataType).toBe(1); // Keyword
      // Qdrant's keyword_index_params.is_tenant reaches the shards (the field's values get their own graphs), as over REST.
      await client.api('points').createFieldIndex({ collectionName: scratch, fieldName: 'tenant', fieldType: FieldType.FieldTypeKeyword, fieldIndexParams: { indexParams: { case: 'keywordIndexParams', value: { isTenant: true } } }, wait: true });
      const rest = (await (await fetch(`${node.restUrl}/collections/${scratch}`, { headers: { 'api-key': ADMIN_KEY } })).json()) as { result: { payload_schema: Record<string, { params?: { is_tenant?: boolean } }> } };
      expect(rest.result.payload_schema.tenant?.params?.is_tenant).toBe(true);
      const onDisk = await failureOf(client.api('points').createFieldIndex({ collectionName: scratch, fieldName: 'other', fieldType: FieldType.FieldTypeKeyword, fieldIndexParams: { indexParams: { case: 'keywordIndexParams', value: { onDisk: true } } }, wait: true }));
      expect(onDisk).toMatchObject({ code: CODE.INVALID_ARGUMENT });
      expect(onDisk.message).toContain('field_index_params.keyword_index_params.on_disk');
      await client.api('points').delete({ collectionName: scratch, wait: true, points: { pointsSelectorOneOf: { case: 'points', value: { ids: [idOf(0), idOf(1), idOf(2), idOf(1000)] } } } });
      expect((await client.api('points').count({ collectionName: scratch })).result?.count).toBe(57n);
      await client.api('points').delete({ collectionName: scratch, wait: true, points: { pointsSelectorOneOf: { case: 'filter', value: { must: [kw('category', 'b')], should: [], mustNot: [] } as unknown as Filter } } });
      const left = POINT_SET.slice(3, 60).filter((p) => p.payload.category !== 'b');
      expect((await client.api('points').count({ collectionName: scratch })).result?.count).toBe(BigInt(left.length));
      expect((await client.api('points').get({ collectionName: scratch, ids: [idOf(5), idOf(6)] })).result.map((p) => num(p.id))).toEqual([6]);
      expect((await client.api('collections').delete({ collectionName: scratch })).result).toBe(true);
      expect((await client.api('collections').delete({ collectionName: scratch })).result).toBe(false);
    });

    it('sets, overwrites, deletes and clears payloads and replaces vectors', async () => {
      const scratch = 'grpc_payload';
      const points = client.api('points');
      await client.api('collections').create({ collectionName: scratch, vectorsConfig: { config: { case: 'params', value: { size: BigInt(DIM), distance: Distance.Euclid } } }, shardNumber: target.shardNumber, replicationFactor: target.replicationFactor });
      await points.upsert({ collectionName: scratch, wait: true, points: POINT_SET.slice(0, 20).map((p) => ({ id: idOf(p.id), vectors: dense(p.vector), payload: payloadOf(p.payload) })) });
      const ids = (...n: number[]) => ({ pointsSelectorOneOf: { case: 'points' as const, value: { ids: n.map(idOf) } } });
      const byFilter = (f: Filter) => ({ pointsSelectorOneOf: { case: 'filter' as const, value: f } });
      const str = (s: string) => ({ kind: { case: 'stringValue' as const, value: s } });
      const payloads = async (...n: number[]) => (await points.get({ collectionName: scratch, ids: n.map(idOf) })).result.map((p) => Object.fromEntries(Object.entries(p.payload).map(([k, v]) => [k, v.kind.value])));
      await points.setPayload({ collectionName: scratch, wait: true, payload: { color: str('red') }, pointsSelector: ids(1, 2) });
      expect(await payloads(1, 3)).toEqual([{ category: 'b', rank: 1n, color: 'red' }, { category: 'd', rank: 3n }]);
      await points.setPayload({ collectionName: scratch, wait: true, payload: { color: str('blue') }, pointsSelector: byFilter({ must: [kw('category', 'd')], should: [], mustNot: [] } as unknown as Filter) });
      expect(await payloads(3, 7)).toEqual([{ category: 'd', rank: 3n, color: 'blue' }, { category: 'd', rank: 7n, color: 'blue' }]);
      await points.overwritePayload({ collectionName: scratch, wait: true, payload: { only: str('this') }, pointsSelector: ids(1) });
      expect(await payloads(1)).toEqual([{ only: 'this' }]);
      await points.deletePayload({ collectionName: scratch, wait: true, keys: ['color'], pointsSelector: ids(2, 3) });
      expect(await payloads(2, 3)).toEqual([{ category: 'c', rank: 2n }, { category: 'd', rank: 3n }]);
      await points.clearPayload({ collectionName: scratch, wait: true, points: ids(7) });
      expect(await payloads(7)).toEqual([{}]);
      await points.updateVectors({ collectionName: scratch, wait: true, points: [{ id: idOf(4), vectors: dense(QUERY_SET[0]) }] });
      const near = await points.search({ collectionName: scratch, vector: QUERY_SET[0], limit: 1n, params: { exact: true } });
      expect(num(near.result[0].id)).toBe(4);
      expect(near.result[0].score).toBeCloseTo(0, 4);
      expect((await failureOf(points.setPayload({ collectionName: scratch, wait: true, payload: { a: str('b') }, key: 'nested', pointsSelector: ids(1) }))).message).toContain('key');
      await client.api('collections').delete({ collectionName: scratch });
    });

    it('refuses with gRPC statuses and the jade-code trailer, and leaves the data untouched', async () => {
      const missing = await failureOf(client.api('points').search({ collectionName: 'missing', vector: QUERY_SET[0], limit: 3n }));
      expect(missing).toMatchObject({ code: CODE.NOT_FOUND, jadeCode: 'JADE_ERR_COLLECTION_NOT_FOUND' });
      expect(missing.message).toContain('JADE_ERR_COLLECTION_NOT_FOUND');
      const exists = await failureOf(client.api('collections').create({ collectionName: name, vectorsConfig: { config: { case: 'params', value: { size: BigInt(DIM), distance: Distance.Euclid } } } }));
      expect(exists).toMatchObject({ code: CODE.ALREADY_EXISTS, jadeCode: 'JADE_ERR_COLLECTION_EXISTS' });
      const dim = await failureOf(client.api('points').upsert({ collectionName: name, wait: true, points: [{ id: idOf(1), vectors: dense([1, 2, 3]) }] }));
      expect(dim.code).toBe(CODE.INVALID_ARGUMENT);
      expect(dim.jadeCode).toMatch(/^JADE_ERR_(DIMENSION_MISMATCH|BAD_REQUEST)$/);
      const searchDim = await failureOf(client.api('points').search({ collectionName: name, vector: [1, 2], limit: 3n }));
      expect(searchDim.code).toBe(CODE.INVALID_ARGUMENT);
      // Unsupported fields are refused, naming them, never ignored.
      const sparse = await failureOf(client.api('points').upsert({ collectionName: name, wait: true, points: [{ id: idOf(1), vectors: { vectorsOptions: { case: 'vector', value: { vector: { case: 'sparse', value: { values: [1], indices: [3] } } } } } }] }));
      expect(sparse.code).toBe(CODE.INVALID_ARGUMENT);
      expect(sparse.message).toContain('sparse');
      const quant = await failureOf(client.api('points').search({ collectionName: name, vector: QUERY_SET[0], limit: 3n, params: { quantization: { rescore: true } } }));
      expect(quant).toMatchObject({ code: CODE.INVALID_ARGUMENT, jadeCode: 'JADE_ERR_BAD_REQUEST' });
      expect(quant.message).toContain('params.quantization');
      const named = await failureOf(client.api('points').search({ collectionName: name, vector: QUERY_SET[0], limit: 3n, vectorName: 'image' }));
      expect(named.code).toBe(CODE.INVALID_ARGUMENT);
      const fusion = await failureOf(client.api('points').query({ collectionName: name, query: { variant: { case: 'fusion', value: 0 } } }));
      expect(fusion.message).toContain('query.fusion');
      // A method JadeVectorDB does not serve names itself.
      const recommend = await failureOf(client.api('points').recommend({ collectionName: name, positive: [idOf(1)], limit: 3n }));
      expect(recommend.code).toBe(CODE.UNIMPLEMENTED);
      expect(recommend.message).toContain('/qdrant.Points/Recommend');
      expect((await failureOf(client.api('snapshots').list({ collectionName: name }))).code).toBe(CODE.UNIMPLEMENTED);
      // Nothing of that reached the data.
      expect((await client.api('points').count({ collectionName: name })).result?.count).toBe(BigInt(POINTS));
    });

    it('authenticates as REST does: no key or a wrong key is UNAUTHENTICATED, a read key may read but not write', async () => {
      const none = await failureOf(clientWith().api('collections').list({}));
      expect(none).toMatchObject({ code: CODE.UNAUTHENTICATED, jadeCode: 'JADE_ERR_UNAUTHENTICATED' });
      const wrong = await failureOf(clientWith('not-a-key-of-this-node-0123456789').api('points').count({ collectionName: name }));
      expect(wrong.code).toBe(CODE.UNAUTHENTICATED);
      const reader = clientWith(READER_KEY);
      expect((await reader.api('points').count({ collectionName: name })).result?.count).toBe(BigInt(POINTS));
      const write = await failureOf(reader.api('points').upsert({ collectionName: name, wait: true, points: [{ id: idOf(1), vectors: dense(QUERY_SET[0]) }] }));
      expect(write).toMatchObject({ code: CODE.PERMISSION_DENIED, jadeCode: 'JADE_ERR_FORBIDDEN' });
      const drop = await failureOf(reader.api('collections').delete({ collectionName: name }));
      expect(drop.code).toBe(CODE.PERMISSION_DENIED);
      // A JWT-style bearer header carries a key as well.
      const bearer = new QdrantClient({ url: `http://127.0.0.1:${node.grpcPort}`, checkCompatibility: false, headers: { authorization: `Bearer ${READER_KEY}` } });
      expect((await bearer.api('collections').list({})).collections.map((c) => c.name)).toEqual([name]);
      // The read key's refused upsert changed nothing.
      const [p1] = (await client.api('points').get({ collectionName: name, ids: [idOf(1)], withVectors: { selectorOptions: { case: 'enable', value: true } } })).result;
      const v = p1.vectors?.vectorsOptions;
      const data = v?.case === 'vector' && v.value.vector.case === 'dense' ? v.value.vector.value.data : [];
      expect(data[0]).toBeCloseTo(POINT_SET[1].vector[0], 5);
    });

    it('writes an audit line for every manage call, refused or not', async () => {
      if (!node.logs) return; // only the standalone target captures its log
      const audit = node.logs.filter((l) => l.audit === true && l.api === 'grpc');
      expect(audit).toContainEqual(expect.objectContaining({ keyId: 'env:JADE_API_KEY', method: 'qdrant.Collections/Create', collection: name, outcome: 'OK' }));
      expect(audit).toContainEqual(expect.objectContaining({ keyId: 'env:JADE_API_KEY', method: 'qdrant.Collections/Create', collection: name, outcome: 'JADE_ERR_COLLECTION_EXISTS' }));
      expect(audit).toContainEqual(expect.objectContaining({ keyId: 'reader', method: 'qdrant.Collections/Delete', outcome: 'JADE_ERR_FORBIDDEN' }));
      // Reads are not audited, and no line carries a key.
      expect(audit.some((l) => l.method === 'qdrant.Points/Search')).toBe(false);
      expect(JSON.stringify(node.logs)).not.toContain(READER_KEY);
    });

    it('counts calls per method and status in /metrics', async () => {
      const text = await (await fetch(`${node.restUrl}/metrics`, { headers: { 'api-key': ADMIN_KEY } })).text();
      const count = (method: string, code: string) => Number(new RegExp(`^jade_grpc_request_duration_seconds_count\\{method="${method}",code="${code}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      expect(count('qdrant.Points/Search', 'OK')).toBeGreaterThanOrEqual(6);
      expect(count('qdrant.Points/Search', 'NOT_FOUND')).toBe(1);
      expect(count('qdrant.Points/Upsert', 'PERMISSION_DENIED')).toBe(1);
      expect(count('qdrant.Points/Recommend', 'UNIMPLEMENTED')).toBe(1);
    });
  });
}

grpcSuite({
  name: 'a standalone node',
  async start(keysFile) {
    const dir = mkdtempSync(path.join(tmpdir(), 'jade-grpc-standalone-'));
    const logs: Record<string, unknown>[] = [];
    const n = await startNode(standaloneConfig({ dataDir: dir, apiGrpcPort: 0, apiKey: ADMIN_KEY, apiKeysFile: keysFile }), { logger: { level: 'info', stream: { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) } } });
    return {
      logs,
      grpcPort: n.grpcPort!,
      restUrl: n.url,
      async close() {
        await n.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

grpcSuite({
  name: 'a 3-node cluster with 3 shards per collection',
  shardNumber: 3,
  replicationFactor: 3,
  async start(keysFile) {
    const dir = mkdtempSync(path.join(tmpdir(), 'jade-grpc-cluster-'));
    const ports = await freeLoopbackPorts(6);
    const nodes: RunningNode[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await startNode(clusterMemberConfig(i, dir, ports, { apiGrpcPort: 0, apiKey: ADMIN_KEY, apiKeysFile: keysFile })));
    // Collections get 3 replicas only once all three are members and meta voters.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const c = (await (await fetch(`${nodes[1].url}/cluster`, { headers: { 'api-key': ADMIN_KEY } })).json()) as { result: { jade?: { members: { meta_role: string }[] } } };
      if (c.result.jade?.members.filter((m) => m.meta_role === 'voter').length === 3) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not form: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      grpcPort: nodes[1].grpcPort!,
      restUrl: nodes[1].url,
      async close() {
        for (const n of nodes) await n.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
