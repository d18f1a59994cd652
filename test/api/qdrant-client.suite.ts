// The @qdrant/js-client-rest suite, run by qdrant-client.test.ts against a standalone node and by
// qdrant-client-cluster.test.ts against a 3-node cluster with 3 shards. Drives a real node with the
// official client for every call we support, and compares search and query answers with a
// flat oracle computed here in plain JS: exact searches must match it in ids, order and score,
// default HNSW searches must reach recall@10 ≥ 0.9. Errors come back as thrown HTTP statuses.
// Every answer the node sends is captured on its HTTP server and validated against the JSON Schema
// of Qdrant's response type for that operation (generated from the client's own types).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CONFIG, type NodeConfig } from '../../node/src/config.js';
import { startNode } from '../../node/src/node.js';
import { randomVector, rng } from './harness.js';
import { checkAnswersOf, qdrantContract, type AnswerCheck } from './qdrant-schemas.js';

const DIM = 16;
const POINTS = 400;
const QUERIES = 20;
type Distance = 'Euclid' | 'Cosine' | 'Dot';
const DISTANCES: Distance[] = ['Euclid', 'Cosine', 'Dot'];
const CATEGORIES = ['a', 'b', 'c', 'd'];

interface P {
  id: number;
  vector: number[];
  payload: { category: string; rank: number };
}

const random = rng(20240611);
const POINT_SET: P[] = Array.from({ length: POINTS }, (_, i) => ({ id: i, vector: randomVector(random, DIM), payload: { category: CATEGORIES[i % 4], rank: i } }));
const QUERY_SET: number[][] = Array.from({ length: QUERIES }, () => randomVector(random, DIM));

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
const norm = (a: number[]) => Math.sqrt(dot(a, a));

/** Qdrant's score per distance: Euclid = distance (smaller is closer), Cosine = similarity, Dot = dot product. */
function score(distance: Distance, a: number[], b: number[]): number {
  if (distance === 'Euclid') return Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
  if (distance === 'Cosine') return dot(a, b) / (norm(a) * norm(b));
  return dot(a, b);
}

function oracle(distance: Distance, query: number[], k: number, keep: (p: P) => boolean = () => true): { id: number; score: number }[] {
  const better = distance === 'Euclid' ? (x: number, y: number) => x - y : (x: number, y: number) => y - x;
  return POINT_SET.filter(keep)
    .map((p) => ({ id: p.id, score: score(distance, p.vector, query) }))
    .sort((x, y) => better(x.score, y.score))
    .slice(0, k);
}

function expectExact(distance: Distance, got: { id: string | number; score: number }[], query: number[], k: number, keep?: (p: P) => boolean) {
  const want = oracle(distance, query, k, keep);
  expect(got.map((p) => p.id)).toEqual(want.map((w) => w.id));
  got.forEach((p, i) => expect(p.score).toBeCloseTo(want[i].score, 4));
}

function recall(got: { id: string | number }[], want: { id: number }[]): number {
  const truth = new Set(want.map((w) => w.id));
  return got.filter((p) => truth.has(p.id as number)).length / want.length;
}

/** The client throws ApiError (status) or QdrantClientUnexpectedResponseError; either way the status is recoverable. */
async function statusOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
  } catch (e) {
    const err = e as { status?: number; message?: string };
    if (typeof err.status === 'number') return err.status;
    const m = /Unexpected Response: (\d{3})/.exec(err.message ?? '');
    if (m) return Number(m[1]);
    throw e;
  }
  throw new Error('expected the call to fail');
}

const collectionOf = (d: Distance) => `client_${d.toLowerCase()}`;

/** A node (or one node of a cluster) the suite talks to. */
export interface SuiteNode {
  url: string;
  /** Its HTTP server, whose answers are checked against Qdrant's schemas. */
  server: Server;
  close(): Promise<void>;
}

export interface SuiteTarget {
  name: string;
  start(): Promise<SuiteNode>;
  /** Extra fields of every createCollection (e.g. shard_number). */
  createOptions: Record<string, unknown>;
  standalone: boolean;
}

/** A standalone node's configuration on 127.0.0.1, any free port, no logs. */
export function standaloneConfig(overrides: Partial<NodeConfig> = {}): NodeConfig {
  return { ...DEFAULT_CONFIG, host: '127.0.0.1', port: 0, logLevel: 'silent', ...overrides };
}

/**
 * Node n<i> of an in-process cluster under `dir`: REST on ports[2i], gRPC on ports[2i+1]; n0
 * bootstraps and the others join through n0's gRPC port.
 */
export function clusterMemberConfig(i: number, dir: string, ports: readonly number[], overrides: Partial<NodeConfig> = {}): NodeConfig {
  return standaloneConfig({ nodeId: `n${i}`, dataDir: path.join(dir, `n${i}`), port: ports[2 * i], grpcPort: ports[2 * i + 1], bootstrap: i === 0, join: i === 0 ? [] : [`127.0.0.1:${ports[1]}`], ...overrides });
}

export function qdrantClientSuite(target: SuiteTarget): void {
  const contract = qdrantContract();
  /** Every answer of a Qdrant route the node sends, checked against Qdrant's schema. */
  let answers: AnswerCheck;

  let node: SuiteNode;
  let client: QdrantClient;
  // Captured, not printed: the test asserts on what the client would have warned about.
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);

  beforeAll(async () => {
    node = await target.start();
    answers = checkAnswersOf(node.server);
    let rootProbes = 0;
    node.server.on('request', (req: { method?: string; url?: string }) => {
      if (req.method === 'GET' && req.url === '/') rootProbes++;
    });
    client = new QdrantClient({ url: node.url, checkCompatibility: true });
    // The compatibility probe runs in the background: wait until the server has answered it.
    for (let i = 0; i < 200 && rootProbes === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(rootProbes).toBe(1);
    await client.getCollections();
    await new Promise((r) => setTimeout(r, 50));

    for (const d of DISTANCES) {
      const name = collectionOf(d);
      expect(await client.createCollection(name, { vectors: { size: DIM, distance: d }, hnsw_config: { m: 16, ef_construct: 100 }, ...target.createOptions })).toBe(true);
      // Both upsert forms: the first half as points, the rest as a column batch.
      const half = POINTS / 2;
      for (let i = 0; i < half; i += 100) {
        const r = await client.upsert(name, { wait: true, points: POINT_SET.slice(i, Math.min(i + 100, half)) });
        expect(r.status).toBe('completed');
      }
      const rest = POINT_SET.slice(half);
      await client.upsert(name, { wait: true, batch: { ids: rest.map((p) => p.id), vectors: rest.map((p) => p.vector), payloads: rest.map((p) => p.payload) } });
    }
  });

  afterAll(async () => {
    warn.mockRestore();
    await node?.close();
  });

  describe(`@qdrant/js-client-rest against ${target.name}`, () => {
    it('passes the client compatibility check without a warning', async () => {
      const info = await client.versionInfo();
      expect(info.version).toMatch(/^1\./);
      const warnings = warn.mock.calls.map((c) => String(c[0]));
      expect(warnings.filter((w) => /incompatible|Unable to check/.test(w))).toEqual([]);
    });

    it('lists, describes and checks collections', async () => {
      const { collections } = await client.getCollections();
      expect(collections.map((c) => c.name).sort()).toEqual(DISTANCES.map(collectionOf).sort());
      for (const d of DISTANCES) {
        const info = await client.getCollection(collectionOf(d));
        expect(info.points_count).toBe(POINTS);
        expect(info.config.params.vectors).toEqual({ size: DIM, distance: d });
        expect(info.config.hnsw_config.m).toBe(16);
        expect(await client.collectionExists(collectionOf(d))).toEqual({ exists: true });
      }
      expect(await client.collectionExists('missing')).toEqual({ exists: false });
    });

    it.each(DISTANCES)('%s: exact query and search match the flat oracle in ids, order and score', async (d) => {
      const name = collectionOf(d);
      for (const q of QUERY_SET.slice(0, 8)) {
        const viaQuery = await client.query(name, { query: q, limit: 10, params: { exact: true } });
        expectExact(d, viaQuery.points as { id: number; score: number }[], q, 10);
        const viaNearest = await client.query(name, { query: { nearest: q }, limit: 5, params: { exact: true }, with_payload: true });
        expectExact(d, viaNearest.points as { id: number; score: number }[], q, 5);
        expect(viaNearest.points[0].payload).toEqual(POINT_SET[viaNearest.points[0].id as number].payload);
        const viaSearch = await client.search(name, { vector: q, limit: 10, params: { exact: true } });
        expectExact(d, viaSearch, q, 10);
      }
    });

    it.each(DISTANCES)('%s: default HNSW reaches recall@10 ≥ 0.9 through query, search and their batches', async (d) => {
      const name = collectionOf(d);
      const single = await Promise.all(QUERY_SET.map((q) => client.query(name, { query: q, limit: 10 })));
      const searched = await Promise.all(QUERY_SET.map((q) => client.search(name, { vector: q, limit: 10 })));
      const batchQuery = await client.queryBatch(name, { searches: QUERY_SET.map((q) => ({ query: q, limit: 10 })) });
      const batchSearch = await client.searchBatch(name, { searches: QUERY_SET.map((q) => ({ vector: q, limit: 10 })) });
      expect(batchQuery).toHaveLength(QUERIES);
      expect(batchSearch).toHaveLength(QUERIES);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const truths = QUERY_SET.map((q) => oracle(d, q, 10));
      expect(mean(single.map((r, i) => recall(r.points, truths[i])))).toBeGreaterThanOrEqual(0.9);
      expect(mean(searched.map((r, i) => recall(r, truths[i])))).toBeGreaterThanOrEqual(0.9);
      expect(mean(batchQuery.map((r, i) => recall(r.points, truths[i])))).toBeGreaterThanOrEqual(0.9);
      expect(mean(batchSearch.map((r, i) => recall(r, truths[i])))).toBeGreaterThanOrEqual(0.9);
      // Scores come back in the metric's order: ascending distance for Euclid, descending otherwise.
      for (const r of single) {
        const scores = r.points.map((p) => p.score);
        const sorted = [...scores].sort((x, y) => (d === 'Euclid' ? x - y : y - x));
        expect(scores).toEqual(sorted);
      }
    });

    it('exact batch queries and filtered searches match the oracle', async () => {
      const d: Distance = 'Cosine';
      const name = collectionOf(d);
      const keep = (p: P) => p.payload.category === 'b' && p.payload.rank < 300;
      const filter = { must: [{ key: 'category', match: { value: 'b' } }, { key: 'rank', range: { lt: 300 } }] };
      const batch = await client.queryBatch(name, { searches: QUERY_SET.slice(0, 4).map((q) => ({ query: q, limit: 7, filter, params: { exact: true } })) });
      batch.forEach((r, i) => expectExact(d, r.points as { id: number; score: number }[], QUERY_SET[i], 7, keep));
      const sbatch = await client.searchBatch(name, { searches: QUERY_SET.slice(4, 8).map((q) => ({ vector: q, limit: 7, filter, params: { exact: true } })) });
      sbatch.forEach((r, i) => expectExact(d, r, QUERY_SET[4 + i], 7, keep));
      // Filtered HNSW (no exact) still returns k results that all match.
      const hnsw = await client.query(name, { query: QUERY_SET[9], limit: 10, filter, with_payload: true });
      expect(hnsw.points).toHaveLength(10);
      for (const p of hnsw.points) expect(keep({ id: p.id as number, vector: [], payload: p.payload as P['payload'] })).toBe(true);
    });

    it('query by point id uses the stored vector', async () => {
      const d: Distance = 'Euclid';
      const res = await client.query(collectionOf(d), { query: 42, limit: 5, params: { exact: true } });
      expectExact(d, res.points as { id: number; score: number }[], POINT_SET[42].vector, 5);
    });

    it('retrieves points with payload and vector', async () => {
      const got = await client.retrieve(collectionOf('Euclid'), { ids: [3, 7, 9999], with_vector: true });
      expect(got.map((p) => p.id)).toEqual([3, 7]);
      expect(got[0].payload).toEqual(POINT_SET[3].payload);
      expect(got[1].vector).toEqual(POINT_SET[7].vector);
      // Cosine vectors are stored normalized, as Qdrant does.
      const [cos] = await client.retrieve(collectionOf('Cosine'), { ids: [3], with_vector: true, with_payload: false });
      const v = cos.vector as number[];
      expect(norm(v)).toBeCloseTo(1, 5);
      expect(dot(v, POINT_SET[3].vector) / norm(POINT_SET[3].vector)).toBeCloseTo(1, 5);
      expect(cos.payload).toBeUndefined();
    });

    it('scrolls to the end and counts with a filter', async () => {
      const name = collectionOf('Dot');
      const seen: number[] = [];
      let offset: string | number | null | undefined;
      let pages = 0;
      do {
        const page = await client.scroll(name, { limit: 37, offset: offset ?? undefined, with_payload: true, filter: { must_not: [{ key: 'category', match: { value: 'a' } }] } });
        for (const p of page.points) seen.push(p.id as number);
        offset = page.next_page_offset as string | number | null | undefined;
        pages++;
      } while (offset !== null && offset !== undefined && pages < 50);
      const expected = POINT_SET.filter((p) => p.payload.category !== 'a').map((p) => p.id);
      expect(seen).toEqual(expected);
      expect(pages).toBe(Math.ceil(expected.length / 37));
      expect((await client.count(name, { exact: true })).count).toBe(POINTS);
      const filtered = await client.count(name, { filter: { must: [{ key: 'category', match: { any: ['a', 'c'] } }, { key: 'rank', range: { gte: 100, lt: 200 } }] } });
      expect(filtered.count).toBe(POINT_SET.filter((p) => ['a', 'c'].includes(p.payload.category) && p.payload.rank >= 100 && p.payload.rank < 200).length);
    });

    it('creates a payload index, then deletes by ids and by filter', async () => {
      const name = 'client_scratch';
      await client.createCollection(name, { vectors: { size: DIM, distance: 'Euclid' } });
      await client.upsert(name, { wait: true, points: POINT_SET.slice(0, 60) });
      const idx = await client.createPayloadIndex(name, { field_name: 'category', field_schema: 'keyword', wait: true });
      expect(idx.status).toBe('completed');
      expect((await client.getCollection(name)).payload_schema.category?.data_type).toBe('keyword');

      const byIds = await client.delete(name, { wait: true, points: [0, 1, 2, 1000] });
      expect(byIds.status).toBe('completed');
      expect((await client.count(name)).count).toBe(57);
      await client.delete(name, { wait: true, filter: { must: [{ key: 'category', match: { value: 'b' } }] } });
      const left = POINT_SET.slice(3, 60).filter((p) => p.payload.category !== 'b');
      expect((await client.count(name)).count).toBe(left.length);
      expect((await client.retrieve(name, { ids: [5, 6] })).map((p) => p.id)).toEqual([6]); // 5 is category b

      expect(await client.deleteCollection(name)).toBe(true);
      expect(await client.collectionExists(name)).toEqual({ exists: false });
    });

    it('reports errors as HTTP statuses through the client', async () => {
      const name = collectionOf('Euclid');
      expect(await statusOf(client.getCollection('missing'))).toBe(404);
      expect(await statusOf(client.createCollection(name, { vectors: { size: DIM, distance: 'Euclid' } }))).toBe(409);
      expect(await statusOf(client.upsert(name, { wait: true, points: [{ id: 1, vector: [1, 2, 3] }] }))).toBe(400);
      expect(await statusOf(client.query(name, { query: [1, 2], limit: 3 }))).toBe(400);
      expect(await statusOf(client.search(name, { vector: QUERY_SET[0], filter: { must: [{ key: 'rank', range: {} }] } }))).toBe(400);
      expect(await statusOf(client.upsert('missing', { wait: true, points: [{ id: 1, vector: QUERY_SET[0] }] }))).toBe(404);
      // As Qdrant: deleting what is not there is no error, it answers false.
      expect(await client.deleteCollection('missing')).toBe(false);
      expect(await statusOf(client.query(name, { query: 123456, limit: 1 }))).toBe(404);
      // Nothing of that reached the data.
      expect((await client.count(name)).count).toBe(POINTS);
      const [p1] = await client.retrieve(name, { ids: [1], with_vector: true });
      expect(p1.vector).toEqual(POINT_SET[1].vector);
    });

    it('updates payloads and vectors, the collection and aliases through the client; recreate deletes first', async () => {
      const name = 'client_updates';
      // What recreateCollection does: delete (false when absent, not an error), then create.
      expect(await client.deleteCollection(name)).toBe(false);
      await client.createCollection(name, { vectors: { size: DIM, distance: 'Euclid' } });
      await client.createPayloadIndex(name, { field_name: 'category', field_schema: 'keyword', wait: true });
      await client.upsert(name, { wait: true, points: POINT_SET.slice(0, 20) });
      const count = async (category: string) => (await client.count(name, { filter: { must: [{ key: 'category', match: { value: category } }] } })).count;
      expect((await client.setPayload(name, { payload: { category: 'z', touched: true }, points: [0, 1, 2], wait: true })).status).toBe('completed');
      expect(await count('z')).toBe(3);
      await client.setPayload(name, { payload: { flagged: 1 }, filter: { must: [{ key: 'category', match: { value: 'b' } }] }, wait: true });
      expect((await client.retrieve(name, { ids: [5] }))[0].payload).toEqual({ category: 'b', rank: 5, flagged: 1 });
      await client.overwritePayload(name, { payload: { only: 'this' }, points: [3], wait: true });
      expect((await client.retrieve(name, { ids: [3] }))[0].payload).toEqual({ only: 'this' });
      await client.deletePayload(name, { keys: ['rank'], points: [4], wait: true });
      expect((await client.retrieve(name, { ids: [4] }))[0].payload).toEqual({ category: 'a' });
      await client.clearPayload(name, { points: [6], wait: true });
      expect((await client.retrieve(name, { ids: [6] }))[0].payload).toEqual({});
      const v = POINT_SET[50].vector;
      await client.updateVectors(name, { points: [{ id: 7, vector: v }], wait: true });
      expect((await client.retrieve(name, { ids: [7], with_vector: true }))[0].vector).toEqual(v);
      expect((await client.query(name, { query: v, limit: 1, params: { exact: true } })).points[0]).toMatchObject({ id: 7, score: 0 });
      expect(await statusOf(client.setPayload(name, { payload: { a: 1 }, points: [12345], wait: true }))).toBe(404);
      expect(await client.updateCollection(name, { hnsw_config: { m: 16 } })).toBe(true);
      expect(await statusOf(client.updateCollection(name, { hnsw_config: { m: 32 } }))).toBe(400);
      expect(await client.updateCollectionAliases({ actions: [{ create_alias: { collection_name: name, alias_name: `${name}_alias` } }] })).toBe(true);
      expect(await client.getCollectionAliases(name)).toEqual({ aliases: [{ alias_name: `${name}_alias`, collection_name: name }] });
      expect((await client.getAliases()).aliases).toContainEqual({ alias_name: `${name}_alias`, collection_name: name });
      expect((await client.getCollection(`${name}_alias`)).points_count).toBe(20);
      expect((await client.query(`${name}_alias`, { query: v, limit: 1, params: { exact: true } })).points[0].id).toBe(7);
      expect(await client.deleteCollection(name)).toBe(true);
      expect((await client.getAliases()).aliases).toEqual([]);
    });

    it("every answer matched Qdrant's response schema for its operation", () => {
      expect(answers.mismatches).toEqual([]);
      expect(answers.validated).toBeGreaterThan(50);
      for (const op of ['get_collections', 'get_collection', 'create_collection', 'delete_collection', 'collection_exists', 'upsert_points', 'query_points', 'search_points', 'get_points', 'scroll_points', 'count_points', 'delete_points', 'set_payload', 'overwrite_payload', 'delete_payload', 'clear_payload', 'update_vectors', 'update_collection', 'update_aliases', 'get_collection_aliases', 'get_collections_aliases', 'create_field_index', 'query_batch_points', 'search_batch_points']) {
        expect(contract.checkedOk.has(op), op).toBe(true);
      }
    });

    it.skipIf(!target.standalone)('needs the API key when the node has one', async () => {
      const keyedDir = mkdtempSync(path.join(tmpdir(), 'jade-qdrant-client-key-'));
      const key = 'a-long-enough-test-key-0123';
      const keyed = await startNode(standaloneConfig({ dataDir: keyedDir, apiKey: key }));
      try {
        const anonymous = new QdrantClient({ url: keyed.url, checkCompatibility: false });
        expect(await statusOf(anonymous.getCollections())).toBe(401);
        const wrong = new QdrantClient({ url: keyed.url, apiKey: 'wrong-key', https: false, checkCompatibility: false });
        expect(await statusOf(wrong.getCollections())).toBe(401);
        const right = new QdrantClient({ url: keyed.url, apiKey: key, https: false, checkCompatibility: false });
        expect(await right.getCollections()).toEqual({ collections: [] });
      } finally {
        await keyed.close();
        rmSync(keyedDir, { recursive: true, force: true });
      }
    });
  });
}
