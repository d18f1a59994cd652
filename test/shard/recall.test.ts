// Checks search quality on real data: on a 10k subset of the shared Fashion-MNIST base, recall@10
// of HNSW at the default parameters is ≥ 0.95 against the exact (flat) oracle on the same subset,
// both unfiltered and with a label filter (which walks the graph with the filter inside).
import { describe, expect, it } from 'vitest';
import { DEFAULT_HNSW_PARAMS } from '../../node/src/index/types.js';
import { parseFilter } from '../../node/src/shard/filter.js';
import { ShardState } from '../../node/src/shard/state.js';
import { fashionAvailable, loadFashion } from '../helpers/fashion.js';

const BASE = 10_000;
const QUERIES = 200;
const K = 10;

describe.skipIf(!fashionAvailable())('recall on Fashion-MNIST (10k subset)', () => {
  const data = loadFashion(BASE, QUERIES);
  const state = new ShardState({ dimension: 784, metric: 'l2', hnsw: DEFAULT_HNSW_PARAMS });
  for (let start = 0; start < BASE; start += 1000) {
    const points = [];
    for (let i = start; i < start + 1000; i++) points.push({ id: i, vector: data.base[i], payload: { label: data.baseLabels[i] } });
    state.apply(state.validateBatch({ ops: [{ kind: 'upsert', points }] }));
  }
  state.indexAll();

  /** ann-benchmarks recall: a returned id counts if its distance is within the k-th true distance (+1e-3). */
  function recall(filterOf: (q: number) => unknown, expectedPlan: string): number {
    let hits = 0;
    for (let q = 0; q < QUERIES; q++) {
      const filter = parseFilter(filterOf(q));
      const truth = state.search({ vector: data.queries[q], k: K, filter, exact: true }).hits;
      const kth = truth[K - 1].distance + 1e-3;
      const { hits: got, plan } = state.search({ vector: data.queries[q], k: K, filter });
      expect(plan).toBe(expectedPlan);
      expect(got.length).toBe(K);
      hits += got.filter((h) => h.distance <= kth).length;
    }
    return hits / (QUERIES * K);
  }

  it('reaches recall@10 ≥ 0.95 unfiltered at default ef', () => {
    const r = recall(() => null, 'hnsw');
    console.log(`recall@10 unfiltered (ef=${DEFAULT_HNSW_PARAMS.efSearch}): ${r.toFixed(4)}`);
    expect(r).toBeGreaterThanOrEqual(0.95);
  }, 120_000);

  it('reaches recall@10 ≥ 0.95 with a label filter (~10% selectivity) at default ef', () => {
    const r = recall((q) => ({ must: [{ key: 'label', match: { value: q % 10 } }] }), 'hnsw_filtered');
    console.log(`recall@10 label-filtered: ${r.toFixed(4)}`);
    expect(r).toBeGreaterThanOrEqual(0.95);
  }, 120_000);
});
