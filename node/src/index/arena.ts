// Vectors of live labels in Float32Array chunks: exact scans read them without copies, and slots
// of removed labels are reused so memory follows the live count, not history. Growth adds a
// chunk instead of copying everything into a buffer twice the size: fresh memory is costly
// (page faults; on the 2-core VM copying the whole arena at each doubling took ~30 µs per
// ingested 784-dim vector), and a copy of the full arena would also double peak memory.
import { assert } from '../util/errors.js';

/** Bytes of one full chunk (the first chunk starts small and doubles up to this). */
export const ARENA_CHUNK_BYTES = 4 << 20;
const FIRST_CHUNK_SLOTS_MAX = 1024;

export class VectorArena {
  private chunks: Float32Array[];
  /** Slots per full chunk; chunk 0 may be smaller until it has grown to this. */
  private readonly slotsPerChunk: number;
  private slotOfLabel = new Map<number, number>();
  private freeSlots: number[] = [];
  private slotsUsed = 0;

  constructor(readonly dimension: number, capacityInitial = FIRST_CHUNK_SLOTS_MAX) {
    this.slotsPerChunk = Math.max(1, Math.floor(ARENA_CHUNK_BYTES / (4 * dimension)));
    this.chunks = [new Float32Array(dimension * Math.min(this.slotsPerChunk, Math.max(1, capacityInitial)))];
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
    this.chunkOf(slot).set(vector, this.offsetOf(slot));
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
    const offset = this.offsetOf(slot);
    return this.chunkOf(slot).subarray(offset, offset + this.dimension);
  }

  /** The slot of a label (-1 when absent), for distance loops without allocation: see chunkOf / offsetOf. */
  slotOf(label: number): number {
    return this.slotOfLabel.get(label) ?? -1;
  }

  /** The chunk that holds `slot`. */
  chunkOf(slot: number): Float32Array {
    return this.chunks[Math.floor(slot / this.slotsPerChunk)];
  }

  /** Where `slot`'s vector starts inside its chunk. */
  offsetOf(slot: number): number {
    return (slot % this.slotsPerChunk) * this.dimension;
  }

  /** An independent copy (chunk by chunk: a few large copies, not one per vector), e.g. for a snapshot taken while writes go on. */
  clone(): VectorArena {
    const c = new VectorArena(this.dimension, 1);
    c.chunks = this.chunks.map((chunk) => chunk.slice());
    c.slotOfLabel = new Map(this.slotOfLabel);
    c.freeSlots = [...this.freeSlots];
    c.slotsUsed = this.slotsUsed;
    return c;
  }

  labels(): IterableIterator<number> {
    return this.slotOfLabel.keys();
  }

  byteSize(): number {
    let bytes = 0;
    for (const c of this.chunks) bytes += c.byteLength;
    return bytes;
  }

  private ensureCapacity(slots: number): void {
    const first = this.chunks[0];
    const firstSlots = first.length / this.dimension;
    if (firstSlots < this.slotsPerChunk) {
      if (slots <= firstSlots) return;
      // Chunk 0 doubles (small collections stay small) until it is a full chunk.
      let capacity = firstSlots;
      while (capacity < slots && capacity < this.slotsPerChunk) capacity *= 2;
      const grown = new Float32Array(Math.min(capacity, this.slotsPerChunk) * this.dimension);
      grown.set(first);
      this.chunks[0] = grown;
      if (slots <= this.slotsPerChunk) return;
    }
    while (this.chunks.length * this.slotsPerChunk < slots) this.chunks.push(new Float32Array(this.slotsPerChunk * this.dimension));
  }
}
