// Vectors of live labels in one growable Float32Array: exact scans read it without copies,
// and slots of removed labels are reused so memory follows the live count, not history.
import { assert } from '../util/errors.js';

export class VectorArena {
  private data: Float32Array;
  private readonly slotOfLabel = new Map<number, number>();
  private readonly freeSlots: number[] = [];
  private slotsUsed = 0;

  constructor(readonly dimension: number, capacityInitial = 1024) {
    this.data = new Float32Array(dimension * Math.max(1, capacityInitial));
  }

  get count(): number {
    return this.slotOfLabel.size;
  }

  has(label: number): boolean {
    return this.slotOfLabel.has(label);
  }

  set(label: number, vector: Float32Array): void {
    assert(vector.length === this.dimension, 'vector length equals arena dimension');
    let slot = this.slotOfLabel.get(label);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.slotsUsed++;
      this.ensureCapacity(slot + 1);
      this.slotOfLabel.set(label, slot);
    }
    this.data.set(vector, slot * this.dimension);
  }

  delete(label: number): boolean {
    const slot = this.slotOfLabel.get(label);
    if (slot === undefined) return false;
    this.slotOfLabel.delete(label);
    this.freeSlots.push(slot);
    return true;
  }

  /** A view (no copy) valid until the next set(); copy it if you keep it. */
  get(label: number): Float32Array | undefined {
    const slot = this.slotOfLabel.get(label);
    if (slot === undefined) return undefined;
    return this.data.subarray(slot * this.dimension, (slot + 1) * this.dimension);
  }

  /** The raw buffer and offset of a label, for distance loops without allocation. */
  offsetOf(label: number): number {
    const slot = this.slotOfLabel.get(label);
    return slot === undefined ? -1 : slot * this.dimension;
  }

  buffer(): Float32Array {
    return this.data;
  }

  labels(): IterableIterator<number> {
    return this.slotOfLabel.keys();
  }

  byteSize(): number {
    return this.data.byteLength;
  }

  private ensureCapacity(slots: number): void {
    if (slots * this.dimension <= this.data.length) return;
    let capacity = this.data.length / this.dimension;
    while (capacity < slots) capacity *= 2;
    const grown = new Float32Array(capacity * this.dimension);
    grown.set(this.data);
    this.data = grown;
  }
}
