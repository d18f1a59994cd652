// Vectors of live labels in Float32Array chunks: exact scans read them without copies, and slots
// of removed labels are reused so memory follows the live count, not history. Growth adds a
// chunk instead of copying everything into a buffer twice the size: fresh memory is costly
// (page faults; on the 2-core VM copying the whole arena at each doubling took ~30 µs per
// ingested 784-dim vector), and a copy of the full arena would also double peak memory.
import { assert } from '../util/errors.js';

/** Bytes of one full chunk (the first chunk starts small and doubles up to this). */
export const ARENA_CHUNK_BYTES = 4 << 20;
const FIRST_CHUNK_SLOTS_MAX = 1024;

/** The vectors as they were when VectorArena.freeze() was called. */
export interface FrozenVectors {
  readonly count: number;
  /** A view of the label's vector then (undefined if it had none). */
  get(label: number): Float32Array | undefined;
  /** Done reading: later writes stop copying the chunks this view shares. */
  release(): void;
}

export class VectorArena {
  private chunks: Float32Array[];
  /** Chunk i is also read by a frozen view (see freeze): copied before the next write into it. */
  private shared: boolean[] = [];
  private freezeGeneration = 0;
  /** Slots per full chunk; chunk 0 may be smaller until it has grown to this. */
  private readonly slotsPerChunk: number;
  private readonly slotOfLabel = new Map<number, number>();
  private readonly freeSlots: number[] = [];
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
    const c = Math.floor(slot / this.slotsPerChunk);
    if (this.shared[c]) {
      this.chunks[c] = this.chunks[c].slice();
      this.shared[c] = false;
    }
    this.chunks[c].set(vector, this.offsetOf(slot));
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

  /**
   * The vectors as they are now, for a snapshot encoded while writes go on, without copying them
   * up front (a copy of a large arena blocked the event loop for as long as it took): the view
   * shares the chunks, and a write into a shared chunk copies that chunk first. One view at a time
   * (a new freeze ends the sharing of the previous one).
   */
  freeze(): FrozenVectors {
    const chunks = [...this.chunks];
    const slots = new Map(this.slotOfLabel);
    const { dimension, slotsPerChunk } = this;
    this.shared = chunks.map(() => true);
    const generation = ++this.freezeGeneration;
    return {
      count: slots.size,
      get(label) {
        const slot = slots.get(label);
        if (slot === undefined) return undefined;
        const offset = (slot % slotsPerChunk) * dimension;
        return chunks[Math.floor(slot / slotsPerChunk)].subarray(offset, offset + dimension);
      },
      release: () => {
        if (generation === this.freezeGeneration) this.shared = [];
      },
    };
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
      this.shared[0] = false; // a frozen view keeps the old chunk 0
      if (slots <= this.slotsPerChunk) return;
    }
    while (this.chunks.length * this.slotsPerChunk < slots) this.chunks.push(new Float32Array(this.slotsPerChunk * this.dimension));
  }
}
