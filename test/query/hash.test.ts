// Pins the point-id → shard hash: it decides where every stored point lives, so a change would
// strand data. Checks murmur3 against the reference algorithm's published vectors, a golden table
// of point hashes, and that even ranges tile the hash space and split into halves.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HASH_SPACE, evenRanges, murmur3, pointHash, rangeIndexOf, rangesTileHashSpace, splitRange } from '../../node/src/query/hash.js';

const text = (s: string) => new TextEncoder().encode(s);

describe('point hash', () => {
  it('is MurmurHash3 x86_32 (reference test vectors)', () => {
    expect(murmur3(text(''))).toBe(0);
    expect(murmur3(text(''), 1)).toBe(0x514e28b7);
    expect(murmur3(text('hello'))).toBe(0x248bfa47);
    expect(murmur3(text('aaaa'), 0x9747b28c)).toBe(0x5a97808a);
    expect(murmur3(text('The quick brown fox jumps over the lazy dog'))).toBe(0x2e4ff723);
  });

  it('never changes for a point id (golden table)', () => {
    const golden: [number | string, number][] = [
      [0, 4183281807],
      [1, 3204173907],
      [2, 4176927462],
      [3, 2877973990],
      [42, 3768868891],
      [1000, 467715672],
      [2 ** 32, 3679152238],
      [2 ** 53 - 1, 682421508],
      ['550e8400-e29b-41d4-a716-446655440000', 3693774071],
      ['00000000-0000-0000-0000-000000000000', 3542052287],
    ];
    for (const [id, hash] of golden) expect(pointHash(id), JSON.stringify(id)).toBe(hash);
  });

  it('spreads sequential ids evenly over 6 shards (each within 5% of its share)', () => {
    const ranges = evenRanges(6);
    const counts = new Array(6).fill(0);
    for (let id = 0; id < 60_000; id++) counts[rangeIndexOf(ranges, pointHash(id))]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });
});

describe('hash ranges', () => {
  it('even ranges tile the space and every hash falls in exactly its range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: HASH_SPACE - 1 }), (n, hash) => {
        const ranges = evenRanges(n);
        expect(rangesTileHashSpace(ranges)).toBe(true);
        const i = rangeIndexOf(ranges, hash);
        expect(ranges[i].start <= hash && hash < ranges[i].end).toBe(true);
      }),
    );
  });

  it('a split gives two halves that tile the original range', () => {
    const ranges = evenRanges(3);
    const [a, b] = splitRange(ranges[1]);
    const split = [ranges[0], a, b, ranges[2]];
    expect(rangesTileHashSpace(split)).toBe(true);
    expect(rangesTileHashSpace([ranges[0], a, ranges[2]])).toBe(false);
  });
});
