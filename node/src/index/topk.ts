// A bounded max-heap keeping the k smallest distances: exact scans and the k-way merge use it.

export interface Scored {
  label: number;
  distance: number;
}

export class TopK {
  private readonly heap: Scored[] = [];
  constructor(private readonly k: number) {}

  get size(): number {
    return this.heap.length;
  }

  /** The distance a new candidate must beat to enter once the heap is full. */
  worst(): number {
    return this.heap.length < this.k ? Infinity : this.heap[0].distance;
  }

  push(label: number, distance: number): void {
    if (this.k <= 0) return;
    const h = this.heap;
    if (h.length < this.k) {
      h.push({ label, distance });
      this.siftUp(h.length - 1);
    } else if (distance < h[0].distance || (distance === h[0].distance && label < h[0].label)) {
      h[0] = { label, distance };
      this.siftDown(0);
    }
  }

  /** Ascending by distance, ties by lower label (deterministic, like the ground truth files). */
  sorted(): Scored[] {
    return [...this.heap].sort((a, b) => a.distance - b.distance || a.label - b.label);
  }

  private greater(i: number, j: number): boolean {
    const a = this.heap[i];
    const b = this.heap[j];
    return a.distance > b.distance || (a.distance === b.distance && a.label > b.label);
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.greater(i, p)) break;
      [this.heap[i], this.heap[p]] = [this.heap[p], this.heap[i]];
      i = p;
    }
  }

  private siftDown(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.greater(l, m)) m = l;
      if (r < n && this.greater(r, m)) m = r;
      if (m === i) break;
      [this.heap[i], this.heap[m]] = [this.heap[m], this.heap[i]];
      i = m;
    }
  }
}
