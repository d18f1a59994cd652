// Point id → shard: a stable 32-bit hash of the id's canonical bytes, and shards owning contiguous
// hash ranges, so that splitting a shard later is a range split. The hash must never change (it
// decides where every stored point lives): test/query/hash.test.ts pins it with a golden table.
import type { PointId } from '../storage/types.js';
import { assert } from '../util/errors.js';
import { murmur3 } from '../util/murmur3.js';

export { murmur3 };

export const HASH_SPACE = 2 ** 32;

/** A shard's hash range: [start, end), 0 ≤ start < end ≤ 2^32. */
export interface HashRange {
  start: number;
  end: number;
}

const idBytes = new Uint8Array(17);
const idView = new DataView(idBytes.buffer);

/**
 * The hash of a point id: integers as a 0 tag + 8 bytes little-endian, UUIDs as a 1 tag + their 16
 * bytes, so 7 and a UUID never share an encoding. Ids are already normalized (parsePointId).
 */
export function pointHash(id: PointId): number {
  if (typeof id === 'number') {
    idBytes[0] = 0;
    idView.setUint32(1, id % 0x100000000, true);
    idView.setUint32(5, Math.floor(id / 0x100000000), true);
    return murmur3(idBytes.subarray(0, 9));
  }
  idBytes[0] = 1;
  const hex = id.replace(/-/g, '');
  assert(hex.length === 32, 'a normalized UUID has 32 hex digits');
  for (let i = 0; i < 16; i++) idBytes[1 + i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return murmur3(idBytes);
}

/** `n` equal ranges covering the hash space: shard i gets [⌊i·2^32/n⌋, ⌊(i+1)·2^32/n⌋). */
export function evenRanges(n: number): HashRange[] {
  assert(Number.isInteger(n) && n >= 1, 'at least one shard');
  return Array.from({ length: n }, (_, i) => ({ start: Math.floor((i * HASH_SPACE) / n), end: Math.floor(((i + 1) * HASH_SPACE) / n) }));
}

/** Checks that ranges, in order, tile the hash space with no gap or overlap. */
export function rangesTileHashSpace(ranges: readonly HashRange[]): boolean {
  if (ranges.length === 0 || ranges[0].start !== 0 || ranges.at(-1)!.end !== HASH_SPACE) return false;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i];
    if (!Number.isInteger(r.start) || !Number.isInteger(r.end) || r.start >= r.end) return false;
    if (i > 0 && ranges[i - 1].end !== r.start) return false;
  }
  return true;
}

/** The index of the range holding `hash` (ranges tile the space, in order). */
export function rangeIndexOf(ranges: readonly HashRange[], hash: number): number {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ranges[mid].start <= hash) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Splits a range in two at its midpoint (the future split of a shard). */
export function splitRange(r: HashRange): [HashRange, HashRange] {
  assert(r.end - r.start >= 2, 'a range of one hash cannot be split');
  const mid = r.start + Math.floor((r.end - r.start) / 2);
  return [
    { start: r.start, end: mid },
    { start: mid, end: r.end },
  ];
}
