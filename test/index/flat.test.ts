// Checks the exact scan against a plain sort of every distance: the L2 path's early abandoning
// (partial sums past the current k-th) must give the same hits and the same distances, ties included.
import { describe, expect, it } from 'vitest';
import { distance } from '../../node/src/index/distance.js';
import { FlatIndex } from '../../node/src/index/flat.js';

function rng(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

describe('FlatIndex.searchLabels', () => {
  for (const metric of ['l2', 'ip'] as const) {
    it(`equals a full sort of exact distances (${metric}, 130 dims, with duplicates)`, () => {
      const dim = 130; // not a multiple of 4 or of the check interval
      const r = rng(5);
      const flat = new FlatIndex(dim, metric);
      const vectors: Float32Array[] = [];
      for (let i = 0; i < 500; i++) {
        const v = i % 50 === 7 ? vectors[i - 1] : Float32Array.from({ length: dim }, () => r() * 2 - 1); // ties by distance
        vectors.push(v);
        flat.add(i, v);
      }
      for (let q = 0; q < 20; q++) {
        const query = Float32Array.from({ length: dim }, () => r() * 2 - 1);
        const labels = Array.from({ length: 500 }, (_, i) => i).filter((i) => i % 3 !== q % 3);
        const truth = labels
          .map((label) => ({ label, distance: distance(metric, query, 0, vectors[label], 0, dim) }))
          .sort((a, b) => a.distance - b.distance || a.label - b.label)
          .slice(0, 10);
        expect(flat.searchLabels(query, 10, labels)).toEqual(truth);
      }
    });
  }
});
