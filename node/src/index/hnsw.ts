// HNSW through hnswlib-node. Cosine uses hnswlib's inner-product space on vectors the shard
// has already normalized, so nothing is normalized twice. Deleted slots are reused
// (allowReplaceDeleted) and the index doubles when full, so it has no fixed maximum.
import { createRequire } from 'node:module';
import type { HierarchicalNSW as HierarchicalNSWType } from 'hnswlib-node';
import { assert } from '../util/errors.js';
import type { HnswParams, IndexHit, Metric, SearchOptions, VectorIndex } from './types.js';

const require = createRequire(import.meta.url);
// hnswlib-node is CommonJS; loading it through require fails loudly if the native build is missing.
const { HierarchicalNSW } = require('hnswlib-node') as typeof import('hnswlib-node');

export const HNSW_CAPACITY_INITIAL = 1024;

export class HnswIndex implements VectorIndex {
  private hnsw: HierarchicalNSWType;
  private readonly present = new Set<number>();
  private deletedSlots = 0;
  private currentEf: number;
  /** Set while saveAsync() writes the graph on a worker thread: the graph must not change meanwhile. */
  private saving = false;
  /** Labels removed during a save: gone from `present` now, marked deleted in the graph after it. */
  private removedWhileSaving: number[] = [];
  // hnswlib-node only accepts number[]: one reused array avoids allocating per call.
  private readonly scratch: number[];

  /**
   * Labels marked deleted but still in the graph, when slots are not reused (reuseDeletedSlots
   * false): adding one again un-deletes it. With reuse, hnswlib may give a deleted label's slot to
   * another label, so a removed label must never come back (the shard never re-adds one: a new
   * vector gets a new label); a tenant graph re-adds a label whose point moved away and back.
   */
  private readonly deletedLabels: Set<number> | null;

  constructor(readonly dimension: number, readonly metric: Metric, readonly params: HnswParams, randomSeed = 100, options: { capacityInitial?: number; reuseDeletedSlots?: boolean } = {}) {
    const reuse = options.reuseDeletedSlots ?? true;
    this.deletedLabels = reuse ? null : new Set();
    this.hnsw = new HierarchicalNSW(metric === 'l2' ? 'l2' : 'ip', dimension);
    this.hnsw.initIndex({
      maxElements: Math.max(1, options.capacityInitial ?? HNSW_CAPACITY_INITIAL),
      m: params.m,
      efConstruction: params.efConstruction,
      randomSeed,
      allowReplaceDeleted: reuse,
    });
    this.currentEf = params.efSearch;
    this.hnsw.setEf(params.efSearch);
    this.scratch = new Array<number>(dimension).fill(0);
  }

  /** Loads a graph written by save(); `labels` are the live labels it must contain. */
  static load(path: string, dimension: number, metric: Metric, params: HnswParams, labels: Iterable<number>): HnswIndex {
    const index = new HnswIndex(dimension, metric, params);
    index.hnsw = new HierarchicalNSW(metric === 'l2' ? 'l2' : 'ip', dimension);
    index.hnsw.readIndexSync(path, true);
    return index.adoptLoaded(labels);
  }

  /** As load(), read on a libuv worker thread: a large graph takes seconds, the event loop goes on. */
  static async loadAsync(path: string, dimension: number, metric: Metric, params: HnswParams, labels: Iterable<number>): Promise<HnswIndex> {
    const index = new HnswIndex(dimension, metric, params);
    index.hnsw = new HierarchicalNSW(metric === 'l2' ? 'l2' : 'ip', dimension);
    await index.hnsw.readIndex(path, true);
    return index.adoptLoaded(labels);
  }

  private adoptLoaded(labels: Iterable<number>): HnswIndex {
    this.hnsw.setEf(this.params.efSearch);
    for (const label of labels) this.present.add(label);
    this.deletedSlots = this.hnsw.getCurrentCount() - this.present.size;
    assert(this.deletedSlots >= 0, 'saved graph holds every live label');
    return this;
  }

  save(path: string): void {
    this.hnsw.writeIndexSync(path);
  }

  /**
   * Writes the graph as it is now on a libuv worker thread (searches go on meanwhile). Until the
   * promise settles add() is refused and remove() only takes the label out of the answers; its
   * mark in the graph waits for the write, so the file describes exactly the graph at the call.
   */
  async saveAsync(path: string): Promise<void> {
    assert(!this.saving, 'one graph save at a time');
    this.saving = true;
    try {
      await this.hnsw.writeIndex(path);
    } finally {
      this.saving = false;
      for (const label of this.removedWhileSaving.splice(0)) this.hnsw.markDelete(label);
    }
  }

  /** True while saveAsync() is writing: add() must wait. */
  get isSaving(): boolean {
    return this.saving;
  }

  add(label: number, vector: Float32Array): void {
    assert(!this.saving, 'no graph insertion while the graph is being saved');
    assert(vector.length === this.dimension, 'vector length equals index dimension');
    const point = this.fill(vector);
    if (this.present.has(label)) {
      this.hnsw.addPoint(point, label, false); // in-place update of a live label
      return;
    }
    if (this.deletedLabels?.delete(label)) {
      this.hnsw.addPoint(point, label, false); // un-deletes the label's own slot
      this.deletedSlots--;
    } else if (this.deletedSlots > 0 && !this.deletedLabels) {
      this.hnsw.addPoint(point, label, true);
      this.deletedSlots--;
    } else {
      if (this.hnsw.getCurrentCount() >= this.hnsw.getMaxElements()) {
        this.hnsw.resizeIndex(this.hnsw.getMaxElements() * 2);
      }
      this.hnsw.addPoint(point, label, false);
    }
    this.present.add(label);
  }

  remove(label: number): void {
    if (!this.present.delete(label)) return;
    if (this.saving) this.removedWhileSaving.push(label);
    else this.hnsw.markDelete(label);
    this.deletedLabels?.add(label);
    this.deletedSlots++;
  }

  size(): number {
    return this.present.size;
  }

  /** Slots of removed labels still in the graph. */
  get deletedCount(): number {
    return this.deletedSlots;
  }

  capacity(): number {
    return this.hnsw.getMaxElements();
  }

  /** Rough native memory: vectors plus level-0 links (4 bytes × 2m) per slot. */
  memoryBytes(): number {
    return this.hnsw.getMaxElements() * (this.dimension * 4 + this.params.m * 2 * 4 + 16);
  }

  search(query: Float32Array, k: number, options: SearchOptions = {}): IndexHit[] {
    const live = this.present.size;
    if (live === 0 || k <= 0) return [];
    const kEffective = Math.min(k, this.hnsw.getMaxElements());
    const ef = Math.max(options.ef ?? this.params.efSearch, kEffective);
    if (ef !== this.currentEf) {
      this.hnsw.setEf(ef);
      this.currentEf = ef;
    }
    // During a save, labels removed meanwhile are still live in the graph: keep them out.
    const pending = this.removedWhileSaving.length;
    const userFilter = options.filter;
    const filter = pending > 0 && userFilter ? (label: number) => this.present.has(label) && userFilter(label) : userFilter;
    const asked = pending > 0 && !userFilter ? Math.min(kEffective + pending, this.hnsw.getCurrentCount()) : kEffective;
    const result = filter ? this.hnsw.searchKnn(this.fill(query), asked, filter) : this.hnsw.searchKnn(this.fill(query), asked);
    const hits: IndexHit[] = [];
    for (let i = 0; i < result.neighbors.length && hits.length < kEffective; i++) {
      const label = result.neighbors[i];
      if (pending > 0 && !this.present.has(label)) continue;
      hits.push({ label, distance: this.toDistance(result.distances[i]) });
    }
    return hits;
  }

  private toDistance(raw: number): number {
    switch (this.metric) {
      case 'l2':
        return Math.sqrt(Math.max(0, raw)); // hnswlib reports squared L2
      case 'cosine':
        return raw; // 1 − dot of unit vectors
      case 'ip':
        return raw - 1; // hnswlib's ip distance is 1 − dot
    }
  }

  private fill(vector: Float32Array): number[] {
    const s = this.scratch;
    for (let i = 0; i < vector.length; i++) s[i] = vector[i];
    return s;
  }
}
