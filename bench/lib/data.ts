// Benchmark data: the shared Fashion-MNIST files read in place, ground-truth thresholds, and
// recall@k as ann-benchmarks counts it (a returned id counts if its true L2 distance is within
// the k-th ground-truth distance + 1e-3, so ties never penalise).
import { loadFashion, loadGroundTruth } from '../../test/helpers/fashion.js';

export const K = 10;
export const RECALL_EPSILON = 1e-3;
export const FULL_BASE_COUNT = 60_000;
export const FULL_QUERY_COUNT = 10_000;

export interface BenchData {
  dimension: number;
  base: Float32Array[];
  /** The base as one row-major matrix (for USearch and LanceDB). */
  baseFlat: Float32Array;
  baseLabels: Uint8Array;
  queries: Float32Array[];
  /** The filter label of query i: i % 10, as in gt10-label. */
  filterLabel(i: number): number;
  /** k-th true distance of query i, unfiltered. */
  thresholdAll: Float64Array;
  /** k-th true distance of query i among base points with label == i % 10. */
  thresholdLabel: Float64Array;
  groundTruthSource: 'files' | 'computed' | 'none';
}

export function l2(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

/**
 * Loads `baseCount` base rows and `queryCount` queries. With the full base the ground truth comes
 * from the shared files; a smaller base (--quick) gets its thresholds by exact scan.
 */
export function loadBenchData(baseCount: number, queryCount: number, withGroundTruth = true): BenchData {
  const f = loadFashion(baseCount, queryCount);
  const dimension = f.base[0].length;
  const baseFlat = new Float32Array(f.base.length * dimension);
  f.base.forEach((v, i) => baseFlat.set(v, i * dimension));
  const thresholdAll = new Float64Array(f.queries.length);
  const thresholdLabel = new Float64Array(f.queries.length);
  let source: 'files' | 'computed' | 'none';
  if (!withGroundTruth) {
    thresholdAll.fill(Infinity);
    thresholdLabel.fill(Infinity);
    source = 'none';
  } else if (f.base.length === FULL_BASE_COUNT) {
    const gt = loadGroundTruth('gt100');
    const gtl = loadGroundTruth('gt10-label');
    for (let q = 0; q < f.queries.length; q++) {
      thresholdAll[q] = gt.dist[q * gt.width + K - 1];
      thresholdLabel[q] = gtl.dist[q * gtl.width + K - 1];
    }
    source = 'files';
  } else {
    for (let q = 0; q < f.queries.length; q++) {
      const all: number[] = [];
      const labelled: number[] = [];
      for (let i = 0; i < f.base.length; i++) {
        const d = l2(f.queries[q], f.base[i]);
        all.push(d);
        if (f.baseLabels[i] === q % 10) labelled.push(d);
      }
      thresholdAll[q] = kthSmallest(all, K);
      thresholdLabel[q] = kthSmallest(labelled, K);
    }
    source = 'computed';
  }
  return { dimension, base: f.base, baseFlat, baseLabels: f.baseLabels, queries: f.queries, filterLabel: (i) => i % 10, thresholdAll, thresholdLabel, groundTruthSource: source };
}

function kthSmallest(values: number[], k: number): number {
  values.sort((a, b) => a - b);
  return values[Math.min(k, values.length) - 1] ?? Infinity;
}

/** Result ids of every query, K per row, -1 where fewer were returned. */
export class ResultIds {
  readonly ids: Int32Array;
  constructor(readonly queryCount: number) {
    this.ids = new Int32Array(queryCount * K).fill(-1);
  }

  set(q: number, ids: ArrayLike<number | bigint>): void {
    const n = Math.min(K, ids.length);
    for (let i = 0; i < n; i++) this.ids[q * K + i] = Number(ids[i]);
  }
}

/** Mean recall@K over the queries, recomputing true distances of returned ids. */
export function recallAt10(data: BenchData, results: ResultIds, filtered: boolean): number {
  const thresholds = filtered ? data.thresholdLabel : data.thresholdAll;
  let hits = 0;
  for (let q = 0; q < results.queryCount; q++) {
    const limit = thresholds[q] + RECALL_EPSILON;
    for (let i = 0; i < K; i++) {
      const id = results.ids[q * K + i];
      if (id < 0) continue;
      if (filtered && data.baseLabels[id] !== data.filterLabel(q)) continue;
      if (l2(data.queries[q], data.base[id]) <= limit) hits++;
    }
  }
  return hits / (results.queryCount * K);
}
