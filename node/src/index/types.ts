// The vector index contract. Labels are dense non-negative integers chosen by the shard;
// the index knows nothing of external ids or payloads.

export type Metric = 'l2' | 'cosine' | 'ip';

export interface IndexHit {
  label: number;
  /** Smaller is closer: L2 = Euclidean distance, cosine = 1 − cos, ip = −dot. */
  distance: number;
}

export interface SearchOptions {
  ef?: number;
  /** Applied inside the graph walk: only labels for which it returns true are results. */
  filter?: (label: number) => boolean;
}

export interface VectorIndex {
  readonly dimension: number;
  readonly metric: Metric;
  /** Adds, or replaces the vector stored under label. */
  add(label: number, vector: Float32Array): void;
  remove(label: number): void;
  search(query: Float32Array, k: number, options?: SearchOptions): IndexHit[];
  size(): number;
}

export interface HnswParams {
  m: number;
  efConstruction: number;
  efSearch: number;
}

export const DEFAULT_HNSW_PARAMS: HnswParams = { m: 16, efConstruction: 200, efSearch: 64 };
