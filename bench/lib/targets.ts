// In-process search targets built from the same data: raw hnswlib-node (the ceiling),
// JadeVectorDB's engine (ShardState), USearch and LanceDB. Each build is timed.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { HierarchicalNSW as HierarchicalNSWType } from 'hnswlib-node';
import { parseFilter } from '../../node/src/shard/filter.js';
import type { Filter } from '../../node/src/shard/filter.js';
import { ShardState } from '../../node/src/shard/state.js';
import type { PointRecord } from '../../node/src/storage/types.js';
import { type BenchData, K } from './data.js';
import type { Ids } from './measure.js';

const require = createRequire(import.meta.url);

export interface GraphParams {
  m: number;
  efConstruction: number;
}

export interface BuildReport {
  seconds: number;
  vectorsPerSecond: number;
  notes: string;
}

export interface Target {
  name: string;
  /** True when search returns a promise (timed with measureAsync). */
  isAsync: boolean;
  build: BuildReport;
  search(q: number, ef: number): Ids | Promise<Ids>;
  /** Search with the filter label == q % 10, when the target supports filters. */
  searchFiltered?(q: number, ef: number): Ids | Promise<Ids>;
  close?(): Promise<void> | void;
  /** When set, queries go `batch` per call through searchBatch (measured with measureBatched). */
  batch?: { size: number; search(qs: number[], ef: number, filtered: boolean): Promise<Ids[]> };
}

function buildReport(n: number, seconds: number, notes: string): BuildReport {
  return { seconds, vectorsPerSecond: n / seconds, notes };
}

/** hnswlib-node with a reused number[] filled from the Float32Array (its fastest input path). */
export function buildHnswlib(data: BenchData, g: GraphParams): Target {
  const { HierarchicalNSW } = require('hnswlib-node') as typeof import('hnswlib-node');
  const index: HierarchicalNSWType = new HierarchicalNSW('l2', data.dimension);
  const scratch = new Array<number>(data.dimension).fill(0);
  const fill = (v: Float32Array) => {
    for (let i = 0; i < v.length; i++) scratch[i] = v[i];
    return scratch;
  };
  const t0 = performance.now();
  index.initIndex(data.base.length, g.m, g.efConstruction, 100);
  for (let i = 0; i < data.base.length; i++) index.addPoint(fill(data.base[i]), i);
  const seconds = (performance.now() - t0) / 1000;
  let currentEf = -1;
  const setEf = (ef: number) => {
    if (ef !== currentEf) index.setEf((currentEf = ef));
  };
  return {
    name: 'hnswlib-node (raw)',
    isAsync: false,
    build: buildReport(data.base.length, seconds, '1 thread, addPoint per vector'),
    search(q, ef) {
      setEf(ef);
      return index.searchKnn(fill(data.queries[q]), K).neighbors;
    },
    searchFiltered(q, ef) {
      setEf(ef);
      const want = data.filterLabel(q);
      return index.searchKnn(fill(data.queries[q]), K, (label) => data.baseLabels[label] === want).neighbors;
    },
  };
}

export const ENGINE_BATCH_POINTS = 1000;

export interface EngineTarget extends Target {
  state: ShardState;
  applySeconds: number;
  indexSeconds: number;
  createLabelIndex(): number;
}

/** JadeVectorDB's shard state machine in-process: validateBatch + apply, then indexAll. */
export function buildEngine(data: BenchData, g: GraphParams): EngineTarget {
  const state = new ShardState({ dimension: data.dimension, metric: 'l2', hnsw: { m: g.m, efConstruction: g.efConstruction, efSearch: 64 } });
  const t0 = performance.now();
  for (let start = 0; start < data.base.length; start += ENGINE_BATCH_POINTS) {
    const points: PointRecord[] = [];
    for (let i = start; i < Math.min(start + ENGINE_BATCH_POINTS, data.base.length); i++) points.push({ id: i, vector: data.base[i], payload: { label: data.baseLabels[i] } });
    state.apply(state.validateBatch({ ops: [{ kind: 'upsert', points }] }));
  }
  const t1 = performance.now();
  state.indexAll();
  const t2 = performance.now();
  const filters: Filter[] = Array.from({ length: 10 }, (_, label) => parseFilter({ must: [{ key: 'label', match: { value: label } }] })!);
  const ids = (hits: { id: number | string }[]) => hits.map((h) => h.id as number);
  return {
    name: 'engine in-process',
    isAsync: false,
    state,
    applySeconds: (t1 - t0) / 1000,
    indexSeconds: (t2 - t1) / 1000,
    build: buildReport(data.base.length, (t2 - t0) / 1000, `apply ${Math.round(data.base.length / ((t1 - t0) / 1000))}/s (batches of ${ENGINE_BATCH_POINTS}, no WAL), then indexAll`),
    search(q, ef) {
      return ids(state.search({ vector: data.queries[q], k: K, ef }).hits);
    },
    searchFiltered(q, ef) {
      return ids(state.search({ vector: data.queries[q], k: K, ef, filter: filters[data.filterLabel(q)] }).hits);
    },
    createLabelIndex() {
      const t = performance.now();
      state.createPayloadIndex('label', 'integer');
      return (performance.now() - t) / 1000;
    },
  };
}

/**
 * USearch (f32, l2sq). Its JS API fixes expansion_search at construction, so the built index is
 * saved once and viewed (memory-mapped) by one Index per ef.
 */
export function buildUsearch(data: BenchData, g: GraphParams, efs: number[], threads: number): Target {
  const usearch = require('usearch') as typeof import('usearch');
  const config = (ef: number) => ({ dimensions: data.dimension, metric: usearch.MetricKind.L2sq, quantization: usearch.ScalarKind.F32, connectivity: g.m, expansion_add: g.efConstruction, expansion_search: ef, multi: false });
  const t0 = performance.now();
  const built = new usearch.Index(config(efs[0]));
  const keys = BigUint64Array.from({ length: data.base.length }, (_, i) => BigInt(i));
  built.add(keys, data.baseFlat, threads);
  const seconds = (performance.now() - t0) / 1000;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jade-bench-usearch-'));
  const file = path.join(dir, 'index.usearch');
  built.save(file);
  const byEf = new Map<number, InstanceType<typeof usearch.Index>>();
  for (const ef of efs) {
    const ix = new usearch.Index(config(ef));
    ix.view(file);
    byEf.set(ef, ix);
  }
  return {
    name: 'usearch',
    isAsync: false,
    build: buildReport(data.base.length, seconds, `${threads === 0 ? 'all' : threads} thread(s), one batch add`),
    search(q, ef) {
      return byEf.get(ef)!.search(data.queries[q], K, 1).keys;
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** LanceDB embedded, IVF_HNSW_SQ with one partition (one HNSW graph), as ann-benchmarks runs it. */
export async function buildLancedb(data: BenchData, g: GraphParams): Promise<Target> {
  const lancedb = await import('@lancedb/lancedb');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jade-bench-lancedb-'));
  const db = await lancedb.connect(dir);
  const t0 = performance.now();
  const rows = data.base.map((v, i) => ({ id: i, label: data.baseLabels[i], vector: Array.from(v) }));
  const table = await db.createTable('fashion', rows, { mode: 'overwrite' });
  const t1 = performance.now();
  await table.createIndex('vector', { config: lancedb.Index.hnswSq({ distanceType: 'l2', numPartitions: 1, m: g.m, efConstruction: g.efConstruction }) });
  const t2 = performance.now();
  const ids = (rows: { id: number }[]) => rows.map((r) => r.id);
  return {
    name: 'lancedb (IVF_HNSW_SQ)',
    isAsync: true,
    build: buildReport(data.base.length, (t2 - t0) / 1000, `table ${((t1 - t0) / 1000).toFixed(1)} s + index ${((t2 - t1) / 1000).toFixed(1)} s (all threads); 1 partition, SQ, no refine`),
    async search(q, ef) {
      return ids(await table.vectorSearch(data.queries[q]).distanceType('l2').limit(K).ef(ef).select(['id', '_distance']).toArray());
    },
    async searchFiltered(q, ef) {
      return ids(await table.vectorSearch(data.queries[q]).distanceType('l2').where(`label = ${data.filterLabel(q)}`).limit(K).ef(ef).select(['id', '_distance']).toArray());
    },
    close() {
      table.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
