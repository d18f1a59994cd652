// Checks the chunked vector arena against a plain Map model under a seeded mix of inserts,
// overwrites and deletes that crosses many chunk boundaries (large dimensions make chunks hold few
// slots), and the exact flat search over it against a brute-force scan of the model.
import { describe, expect, it } from 'vitest';
import { ARENA_CHUNK_BYTES, VectorArena } from '../../node/src/index/arena.js';
import { FlatIndex } from '../../node/src/index/flat.js';

function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

function l2(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s;
}

const sameBytes = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('VectorArena', () => {
  it.each([
    { dimension: 4, ops: 6_000 }, // chunk 0 doubles from 1024 slots, never fills a chunk
    { dimension: Math.floor(ARENA_CHUNK_BYTES / 4 / 5), ops: 150 }, // 5 slots per chunk: ~10 chunks
    { dimension: ARENA_CHUNK_BYTES / 4, ops: 30 }, // one slot per chunk
  ])('matches a Map model and an exact scan (dimension $dimension)', ({ dimension, ops }) => {
    const r = rng(dimension);
    const arena = new VectorArena(dimension);
    const model = new Map<number, Float32Array>();
    const labelSpace = Math.max(8, Math.floor(ops / 3));
    for (let i = 0; i < ops; i++) {
      const label = Math.floor(r() * labelSpace);
      if (r() < 0.25) {
        expect(arena.delete(label)).toBe(model.delete(label));
      } else {
        // Random head, constant tail: cheap to make at a million dimensions, still distinct.
        const v = new Float32Array(dimension).fill(r());
        for (let j = 0; j < Math.min(dimension, 64); j++) v[j] = r();
        arena.set(label, v);
        model.set(label, v);
      }
    }
    expect(arena.count).toBe(model.size);
    expect(new Set(arena.labels())).toEqual(new Set(model.keys()));
    for (let label = 0; label < labelSpace; label++) {
      const want = model.get(label);
      expect(arena.has(label)).toBe(want !== undefined);
      if (!want) {
        expect(arena.slotOf(label)).toBe(-1);
        continue;
      }
      expect(sameBytes(arena.get(label)!, want)).toBe(true);
      const slot = arena.slotOf(label);
      const offset = arena.offsetOf(slot);
      expect(sameBytes(arena.chunkOf(slot).subarray(offset, offset + dimension), want)).toBe(true);
    }
    // Slots are reused: memory follows the live count (plus at most one partly used chunk).
    const slotBytes = dimension * 4;
    expect(arena.byteSize()).toBeLessThanOrEqual(Math.max(labelSpace * slotBytes * 2, ARENA_CHUNK_BYTES) + ARENA_CHUNK_BYTES);

    // A frozen view keeps today's vectors while the arena is written to (reused slots and
    // overwrites included), without the arena's own reads changing; released, writes stop copying.
    const frozen = arena.freeze();
    const before = new Map(model);
    const changed = [...model.keys()].slice(0, 5);
    for (const label of changed) arena.delete(label);
    for (let j = 0; j < 5; j++) arena.set(labelSpace + j, new Float32Array(dimension).fill(-1));
    for (const label of [...model.keys()].slice(5, 8)) arena.set(label, new Float32Array(dimension).fill(-2));
    expect(frozen.count).toBe(before.size);
    for (const [label, v] of before) expect(sameBytes(frozen.get(label)!, v)).toBe(true);
    expect(frozen.get(labelSpace)).toBeUndefined();
    for (let j = 0; j < 5; j++) expect(arena.get(labelSpace + j)![0]).toBe(-1);
    frozen.release();
    for (let j = 0; j < 5; j++) arena.delete(labelSpace + j);
    for (const label of [...before.keys()].slice(0, 8)) arena.set(label, before.get(label)!);

    const flat = new FlatIndex(dimension, 'l2', arena);
    const query = new Float32Array(dimension).fill(r());
    const k = 5;
    const want = [...model].map(([label, v]) => ({ label, d: l2(query, v) })).sort((a, b) => a.d - b.d).slice(0, k);
    const got = flat.search(query, k);
    expect(got.map((h) => h.label)).toEqual(want.map((w) => w.label));
  });
});
