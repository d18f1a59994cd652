// Per-value HNSW graphs of an `is_tenant` payload field. A search filtered to one tenant walks a
// small graph built from that tenant's points only, so it costs what an unfiltered search of a
// collection that size costs, instead of walking the whole graph through a JS predicate and
// visiting ~1/selectivity times more nodes. This is Qdrant's design for is_tenant fields (extra
// per-value links built only for values with more points than full_scan_threshold; smaller values
// are scanned exactly, which at that size is cheaper than any graph). ACORN (predicate-agnostic
// denser graphs) helps arbitrary predicates but needs a graph library change hnswlib-node does
// not allow; the tenant case, the one users care most about, needs none.
//
// Graphs are derived state: built from the payload index and the vectors, never saved. After a
// restart or a snapshot install they are rebuilt in the background (every point pending); until
// a value's graph is complete its pending points are scanned exactly and merged, so answers are
// right at once and fast once built.
import { HnswIndex } from '../index/hnsw.js';
import type { HnswParams, Metric } from '../index/types.js';
import type { MatchValue } from './filter.js';
import type { PayloadFieldIndex } from './payload-index.js';

export interface TenantGraph {
  readonly graph: HnswIndex;
  /** Labels of this value not yet in the graph: searched exactly and merged meanwhile. */
  readonly pending: Set<number>;
}

/** A graph whose removed slots outnumber its live points (and this many) is rebuilt from scratch. */
const TENANT_GRAPH_DELETED_MIN = 1024;

export class TenantGraphs {
  private readonly graphs = new Map<MatchValue, TenantGraph>();

  /**
   * `pointsMin`: a value gets a graph once it has this many points, and loses it below half
   * (hysteresis, so a value at the threshold does not build and drop a graph on every write).
   */
  constructor(
    readonly index: PayloadFieldIndex,
    private readonly dimension: number,
    private readonly metric: Metric,
    private readonly hnsw: HnswParams,
    readonly pointsMin: number,
  ) {
    for (const [value, labels] of index.entries()) if (labels.size >= pointsMin) this.create(value, labels);
  }

  get field(): string {
    return this.index.field;
  }

  /** Call after the payload index has taken `label` with these values. */
  added(label: number, values: readonly MatchValue[]): void {
    for (const v of values) {
      const g = this.graphs.get(v);
      if (g) g.pending.add(label);
      else {
        const labels = this.index.labelsOf(v);
        if (labels.size >= this.pointsMin) this.create(v, labels);
      }
    }
  }

  /** Call after the payload index has dropped `label`, with the values it had. */
  removed(label: number, values: readonly MatchValue[]): void {
    for (const v of values) {
      const g = this.graphs.get(v);
      if (!g) continue;
      if (!g.pending.delete(label)) g.graph.remove(label);
      const live = this.index.labelsOf(v);
      if (live.size < this.pointsMin / 2) this.graphs.delete(v);
      else if (g.graph.deletedCount > Math.max(TENANT_GRAPH_DELETED_MIN, g.graph.size())) this.create(v, live);
    }
  }

  graphFor(value: MatchValue): TenantGraph | undefined {
    return this.graphs.get(value);
  }

  /** Points waiting to enter their value's graph. */
  get backlog(): number {
    let n = 0;
    for (const g of this.graphs.values()) n += g.pending.size;
    return n;
  }

  get graphCount(): number {
    return this.graphs.size;
  }

  /** Inserts up to `maxPoints` pending points; `vectorOf` gives the stored vector. */
  indexSome(maxPoints: number, vectorOf: (label: number) => Float32Array): number {
    let done = 0;
    for (const g of this.graphs.values()) {
      for (const label of g.pending) {
        if (done >= maxPoints) return done;
        g.pending.delete(label);
        g.graph.add(label, vectorOf(label));
        done++;
      }
    }
    return done;
  }

  memoryBytes(): number {
    let n = 0;
    for (const g of this.graphs.values()) n += g.graph.memoryBytes();
    return n;
  }

  private create(value: MatchValue, labels: ReadonlySet<number>): void {
    // Slots are not reused: a point whose tenant changes away and back re-enters with its label.
    const graph = new HnswIndex(this.dimension, this.metric, this.hnsw, 100, { capacityInitial: labels.size + 64, reuseDeletedSlots: false });
    this.graphs.set(value, { graph, pending: new Set(labels) });
  }
}
