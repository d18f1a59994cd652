// Exact search over the arena: always correct, the test oracle and the planner's path for
// small filtered candidate sets.
import { VectorArena } from './arena.js';
import { distance, l2SquaredBounded } from './distance.js';
import { TopK } from './topk.js';
import type { IndexHit, Metric, SearchOptions, VectorIndex } from './types.js';

export class FlatIndex implements VectorIndex {
  readonly arena: VectorArena;

  constructor(readonly dimension: number, readonly metric: Metric, arena?: VectorArena) {
    this.arena = arena ?? new VectorArena(dimension);
  }

  add(label: number, vector: Float32Array): void {
    this.arena.set(label, vector);
  }

  remove(label: number): void {
    this.arena.delete(label);
  }

  size(): number {
    return this.arena.count;
  }

  search(query: Float32Array, k: number, options: SearchOptions = {}): IndexHit[] {
    return this.searchLabels(query, k, this.arena.labels(), options.filter);
  }

  /** Exact top-k among the given labels (unknown labels are skipped). */
  searchLabels(query: Float32Array, k: number, labels: Iterable<number>, filter?: (label: number) => boolean): IndexHit[] {
    const top = new TopK(k);
    const arena = this.arena;
    const dim = this.dimension;
    if (this.metric === 'l2') {
      // Squared distances with early abandoning against the current k-th (sqrt only of the kept):
      // the scan of a filter's candidates is the planner's path for small tenants.
      for (const label of labels) {
        const slot = arena.slotOf(label);
        if (slot < 0) continue;
        if (filter && !filter(label)) continue;
        const worst = top.worst();
        const d2 = l2SquaredBounded(query, 0, arena.chunkOf(slot), arena.offsetOf(slot), dim, worst);
        if (d2 <= worst) top.push(label, d2);
      }
      return top.sorted().map((h) => ({ label: h.label, distance: Math.sqrt(h.distance) }));
    }
    for (const label of labels) {
      const slot = arena.slotOf(label);
      if (slot < 0) continue;
      if (filter && !filter(label)) continue;
      top.push(label, distance(this.metric, query, 0, arena.chunkOf(slot), arena.offsetOf(slot), dim));
    }
    return top.sorted();
  }
}
