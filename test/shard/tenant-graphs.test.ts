// Checks per-tenant graphs (is_tenant payload indexes, plan hnsw_partition) against an exact
// oracle over a model of the points: recall, k results whenever k points match, the plan chosen
// per selectivity, and that the graphs follow payload changes (a point moving between tenants
// and back), deletes, delete_by_filter, re-upserts, the indexing backlog, a checkpoint restart
// and a snapshot restore (graphs rebuilt: right answers before and after the rebuild).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ShardStateMachine } from '../../node/src/cluster/shard-sm.js';
import { LocalShard } from '../../node/src/shard/local-shard.js';
import { type Filter, matchFilter, parseFilter } from '../../node/src/shard/filter.js';
import { type CollectionParams, DEFAULT_SHARD_LIMITS, type SearchPlan, type ShardLimits, ShardState } from '../../node/src/shard/state.js';
import { decodeShardSnapshot, decodeWriteBatch, encodeShardSnapshot, encodeWriteBatch } from '../../node/src/storage/codec.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import type { PointRecord } from '../../node/src/storage/types.js';

const DIM = 8;
const params: CollectionParams = { dimension: DIM, metric: 'l2', hnsw: { m: 8, efConstruction: 64, efSearch: 32 } };
// Tenant graphs from 256 points at 8 dimensions.
const limits: ShardLimits = { ...DEFAULT_SHARD_LIMITS, tenantGraphElementsMin: 256 * DIM };
const scratch = mkdtempSync(path.join(tmpdir(), 'jade-tenant-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function rng(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

/** 1,200 points of tenant "a", 900 of "b", 20 small tenants of 30; `kind` alternates x/y. */
function tenantOf(i: number): string {
  if (i < 1200) return 'a';
  if (i < 2100) return 'b';
  return `s${(i - 2100) % 20}`;
}

function makePoints(seed: number, n = 2700): PointRecord[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => ({ id: i, vector: Float32Array.from({ length: DIM }, () => r() * 2 - 1), payload: { tenant: tenantOf(i), kind: i % 2 === 0 ? 'x' : 'y', n: i } }));
}

/** The model: what the state should hold, searched exactly. */
class Model {
  readonly points = new Map<number, PointRecord>();
  apply(points: PointRecord[]): void {
    for (const p of points) this.points.set(p.id as number, p);
  }
  exact(query: Float32Array, k: number, filter: Filter): { id: number; distance: number }[] {
    const out: { id: number; distance: number }[] = [];
    for (const p of this.points.values()) {
      if (!matchFilter(filter, p)) continue;
      let s = 0;
      for (let j = 0; j < DIM; j++) s += (query[j] - p.vector[j]) ** 2;
      out.push({ id: p.id as number, distance: Math.sqrt(s) });
    }
    return out.sort((a, b) => a.distance - b.distance || a.id - b.id).slice(0, k);
  }
}

function tenantIndexOp() {
  return { kind: 'create_payload_index' as const, field: 'tenant', schema: 'keyword' as const, isTenant: true };
}

function build(seed = 1): { s: ShardState; model: Model } {
  const s = new ShardState(params, limits);
  const model = new Model();
  const points = makePoints(seed);
  s.apply(s.validateBatch({ ops: [tenantIndexOp(), { kind: 'create_payload_index', field: 'kind', schema: 'keyword' }] }));
  for (let i = 0; i < points.length; i += 1000) s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: points.slice(i, i + 1000) }] }));
  model.apply(points);
  return { s, model };
}

/** Searches `queries` random vectors with the filter; returns the plans seen and the mean recall@k. */
function check(s: ShardState, model: Model, filterJson: unknown, k = 10, queries = 40, seed = 7): { plans: Set<SearchPlan>; recall: number } {
  const filter = parseFilter(filterJson)!;
  const r = rng(seed);
  const plans = new Set<SearchPlan>();
  let found = 0;
  let wanted = 0;
  for (let q = 0; q < queries; q++) {
    const vector = Float32Array.from({ length: DIM }, () => r() * 2 - 1);
    const truth = model.exact(vector, k, filter);
    const { hits, plan } = s.search({ vector, k, filter });
    plans.add(plan);
    // Always k results when k points match (fewer only when fewer match), and only matches.
    expect(hits.length).toBe(truth.length);
    for (const h of hits) expect(matchFilter(filter, model.points.get(h.id as number)!)).toBe(true);
    const limit = truth.length ? truth[truth.length - 1].distance + 1e-6 : 0;
    found += hits.filter((h) => h.distance <= limit).length;
    wanted += truth.length;
  }
  return { plans, recall: wanted === 0 ? 1 : found / wanted };
}

const tenant = (t: string) => ({ must: [{ key: 'tenant', match: { value: t } }] });

describe('tenant graphs: plan and recall', () => {
  it('walks the tenant graph for large tenants and scans small ones, with recall ≥ 0.95 and k results', () => {
    const { s, model } = build();
    s.indexAll();
    expect(s.indexWork).toBe(0);
    expect(s.payloadIndexList().find((i) => i.field === 'tenant')).toMatchObject({ isTenant: true, tenantGraphs: 2 });
    for (const t of ['a', 'b']) {
      const r = check(s, model, tenant(t));
      expect(r.plans).toEqual(new Set(['hnsw_partition']));
      expect(r.recall).toBeGreaterThanOrEqual(0.95);
    }
    const small = check(s, model, tenant('s3'));
    expect(small.plans).toEqual(new Set(['exact_filtered']));
    expect(small.recall).toBe(1);
    // Another condition besides the tenant: checked in the walk of the tenant's graph.
    const combined = check(s, model, { must: [{ key: 'tenant', match: { value: 'a' } }, { range: { lt: 900 }, key: 'n' }] });
    expect(combined.plans).toEqual(new Set(['hnsw_partition']));
    expect(combined.recall).toBeGreaterThanOrEqual(0.95);
    const notX = check(s, model, { must: [{ key: 'tenant', match: { value: 'b' } }], must_not: [{ key: 'kind', match: { value: 'x' } }] });
    expect(notX.plans).toEqual(new Set(['hnsw_partition']));
    expect(notX.recall).toBeGreaterThanOrEqual(0.95);
    // A rare extra condition (12 matches in the tenant): the walk cannot find k, the scan does.
    const rare = check(s, model, { must: [{ key: 'tenant', match: { value: 'a' } }, { key: 'n', range: { gte: 600, lt: 612 } }] });
    expect(rare.recall).toBe(1);
    // Indexed candidates that are few already: scanned, not walked.
    const few = check(s, model, { must: [{ key: 'tenant', match: { value: 'a' } }, { has_id: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] }] });
    expect(few.plans).toEqual(new Set(['exact_filtered']));
    // Unfiltered and a non-tenant field keep their plans.
    expect(s.search({ vector: new Float32Array(DIM), k: 5 }).plan).toBe('hnsw');
    expect(check(s, model, { must: [{ key: 'kind', match: { value: 'x' } }] }, 10, 5).plans).not.toContain('hnsw_partition');
  });

  it('answers right while the tenant graphs are still being built (pending points scanned and merged)', () => {
    const { s, model } = build(2);
    s.indexSome(2700); // the main graph only
    expect(s.indexBacklog).toBe(0);
    expect(s.tenantGraphBacklog).toBe(2100);
    expect(check(s, model, tenant('a')).recall).toBe(1); // all of "a" is pending: scanned exactly
    s.indexSome(700); // part of "a" in its graph
    expect(s.tenantGraphBacklog).toBe(1400);
    const partial = check(s, model, tenant('a'));
    expect(partial.plans).toEqual(new Set(['hnsw_partition']));
    expect(partial.recall).toBeGreaterThanOrEqual(0.95);
    s.indexAll();
    expect(s.indexWork).toBe(0);
  });
});

describe('tenant graphs follow writes', () => {
  it('moves points between tenants and back on payload updates, and forgets deleted ones', () => {
    const { s, model } = build(3);
    s.indexAll();
    const moved = Array.from({ length: 300 }, (_, i) => i * 4); // from tenant "a"
    const setTenant = (ids: number[], t: string) => {
      s.apply(s.validateBatch({ ops: [{ kind: 'set_payload', payload: { tenant: t }, overwrite: false, target: { ids } }] }));
      for (const id of ids) {
        const p = model.points.get(id)!;
        model.points.set(id, { ...p, payload: { ...p.payload, tenant: t } });
      }
    };
    setTenant(moved, 'b');
    for (const t of ['a', 'b']) expect(check(s, model, tenant(t)).recall).toBeGreaterThanOrEqual(0.95);
    s.indexAll();
    for (const t of ['a', 'b']) expect(check(s, model, tenant(t), 10, 40, 11).recall).toBeGreaterThanOrEqual(0.95);
    // Back again: each re-enters "a"'s graph under the label it had there.
    setTenant(moved, 'a');
    s.indexAll();
    for (const t of ['a', 'b']) {
      const r = check(s, model, tenant(t), 10, 40, 12);
      expect(r.plans).toEqual(new Set(['hnsw_partition']));
      expect(r.recall).toBeGreaterThanOrEqual(0.95);
    }
    // Deletes by id and by filter, and re-upserts (a new vector, a new label).
    s.apply(s.validateBatch({ ops: [{ kind: 'delete', ids: [1, 2, 3, 5, 6, 7] }] }));
    for (const id of [1, 2, 3, 5, 6, 7]) model.points.delete(id);
    s.apply(s.validateBatch({ ops: [{ kind: 'delete_by_filter', filterJson: JSON.stringify({ must: [{ key: 'tenant', match: { value: 'b' } }, { key: 'kind', match: { value: 'y' } }] }) }] }));
    for (const [id, p] of model.points) if (p.payload!.tenant === 'b' && p.payload!.kind === 'y') model.points.delete(id);
    const r = rng(99);
    const fresh = [8, 9, 10, 1300, 1301].map((id) => ({ id, vector: Float32Array.from({ length: DIM }, () => r() * 2 - 1), payload: { tenant: 'a', kind: 'x', n: id } }));
    s.apply(s.validateBatch({ ops: [{ kind: 'upsert', points: fresh }] }));
    model.apply(fresh);
    for (const t of ['a', 'b']) expect(check(s, model, tenant(t), 10, 40, 13).recall).toBeGreaterThanOrEqual(0.95);
    s.indexAll();
    for (const t of ['a', 'b']) expect(check(s, model, tenant(t), 10, 40, 14).recall).toBeGreaterThanOrEqual(0.95);
    // Each fresh point is found by its own vector, in its tenant.
    for (const p of fresh) expect(s.search({ vector: p.vector, k: 1, filter: parseFilter(tenant('a')) }).hits[0].id).toBe(p.id);
  });

  it('drops a tenant graph when the tenant shrinks below half the threshold, and scans it', () => {
    const { s, model } = build(4);
    s.indexAll();
    const doomed = Array.from({ length: 900 - 100 }, (_, i) => 1200 + i); // "b" keeps 100 points
    s.apply(s.validateBatch({ ops: [{ kind: 'delete', ids: doomed }] }));
    for (const id of doomed) model.points.delete(id);
    expect(s.payloadIndexList().find((i) => i.field === 'tenant')!.tenantGraphs).toBe(1);
    const r = check(s, model, tenant('b'));
    expect(r.plans).toEqual(new Set(['exact_filtered']));
    expect(r.recall).toBe(1);
  });

  it('refuses is_tenant on a float index and keeps is_tenant through the WAL encoding', () => {
    const s = new ShardState(params, limits);
    expect(() => s.validateBatch({ ops: [{ kind: 'create_payload_index', field: 'f', schema: 'float', isTenant: true }] })).toThrow(/is_tenant is only supported/);
    const batch = { ops: [tenantIndexOp(), { kind: 'create_payload_index' as const, field: 'kind', schema: 'keyword' as const }] };
    expect(decodeWriteBatch(encodeWriteBatch(batch)).ops).toEqual(batch.ops);
  });
});

describe('tenant graphs after restart and snapshot restore', () => {
  it('rebuilds the tenant graphs after a checkpoint restart, right before and after the rebuild', async () => {
    const disk = new RealDisk();
    const dir = mkdtempSync(path.join(scratch, 'shard-'));
    const opts = { wal: { segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 22, pendingBytesMax: 1 << 24 }, limits, checkpointWalBytes: 1 << 30, scratchDir: scratch };
    const a = await LocalShard.open(disk, dir, params, opts);
    const model = new Model();
    const points = makePoints(5);
    await a.write({ ops: [tenantIndexOp()] });
    for (let i = 0; i < points.length; i += 1000) await a.write({ ops: [{ kind: 'upsert', points: points.slice(i, i + 1000) }] });
    model.apply(points);
    await a.waitIndexed();
    await a.checkpoint();
    const moved = [0, 4, 8, 12];
    await a.write({ ops: [{ kind: 'set_payload', payload: { tenant: 'b' }, overwrite: false, target: { ids: moved } }] }); // the WAL tail
    for (const id of moved) model.points.set(id, { ...model.points.get(id)!, payload: { ...model.points.get(id)!.payload, tenant: 'b' } });
    await a.close();

    const b = await LocalShard.open(disk, dir, params, opts);
    expect(b.state.payloadIndexList().find((i) => i.field === 'tenant')).toMatchObject({ isTenant: true, tenantGraphs: 2 });
    expect(b.state.tenantGraphBacklog).toBeGreaterThan(0);
    for (const t of ['a', 'b']) expect(check(b.state, model, tenant(t), 10, 20).recall).toBe(1); // all pending: exact
    await b.waitIndexed();
    expect(b.state.indexWork).toBe(0);
    for (const t of ['a', 'b']) {
      const r = check(b.state, model, tenant(t), 10, 40, 21);
      expect(r.plans).toEqual(new Set(['hnsw_partition']));
      expect(r.recall).toBeGreaterThanOrEqual(0.95);
    }
    await b.close();
  });

  it('a replica installing a Raft snapshot image gets the is_tenant index and rebuilds the tenant graphs', async () => {
    const leader = new ShardStateMachine(params, limits);
    const model = new Model();
    const points = makePoints(8);
    leader.apply({ term: 1, index: 2, type: 'normal', data: encodeWriteBatch({ ops: [tenantIndexOp(), { kind: 'upsert', points }] }) });
    model.apply(points);
    const image = await leader.snapshot();
    leader.indexer.stop();
    const replica = new ShardStateMachine(params, limits);
    replica.indexer.stop(); // indexed by hand below, to look at the state before the rebuild
    replica.restore(image);
    expect(replica.state.payloadIndexList().find((i) => i.field === 'tenant')).toMatchObject({ isTenant: true, tenantGraphs: 2 });
    expect(check(replica.state, model, tenant('b'), 10, 10).recall).toBe(1);
    replica.state.indexAll();
    const r = check(replica.state, model, tenant('b'), 10, 40, 41);
    expect(r.plans).toEqual(new Set(['hnsw_partition']));
    expect(r.recall).toBeGreaterThanOrEqual(0.95);
  });

  it('keeps is_tenant and the answers through a snapshot image (freeze → encode → decode → restore)', () => {
    const { s, model } = build(6);
    s.indexAll();
    const frozen = s.freeze();
    const points: PointRecord[] = [];
    const labels = new Uint32Array(frozen.points.size);
    let i = 0;
    for (const [label, p] of frozen.points) {
      labels[i++] = label;
      points.push({ id: p.id, payload: p.payload, vector: frozen.vectors.get(label)! });
    }
    const snap = decodeShardSnapshot(encodeShardSnapshot({ configJson: '{}', lastAppliedLsn: 0, points, payloadIndexes: frozen.payloadIndexes }));
    frozen.vectors.release();
    expect(snap.payloadIndexes.find((p) => p.field === 'tenant')).toEqual({ field: 'tenant', schema: 'keyword', isTenant: true });
    const restored = ShardState.restore(params, limits, { labels, points: snap.points, nextLabel: frozen.nextLabel, unindexed: new Uint32Array(0), payloadIndexes: snap.payloadIndexes }, null);
    expect(check(restored, model, tenant('a'), 10, 10).recall).toBe(1);
    restored.indexAll();
    const r = check(restored, model, tenant('a'), 10, 40, 31);
    expect(r.plans).toEqual(new Set(['hnsw_partition']));
    expect(r.recall).toBeGreaterThanOrEqual(0.95);
  });
});
