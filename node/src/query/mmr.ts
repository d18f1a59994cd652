// Maximal Marginal Relevance over a collection's merged candidates, as Qdrant's Query API does it
// (`query: {nearest, mmr: {diversity, candidates_limit}}`, lib/collection/src/collection/mmr.rs):
// the most relevant candidate first, then repeatedly the one with the best
//   (1 - diversity) · sim(query, c) - diversity · max over picked p of sim(c, p)
// where sim is the metric's raw similarity (cosine and dot: the dot product of the stored vectors;
// Euclid: minus the squared distance). Each hit keeps its ordinary score. Ties go to the candidate
// nearer the query (the candidates come nearest first), so the answer is deterministic.
import { normalized } from '../index/distance.js';
import type { Metric } from '../index/types.js';
import type { Hit } from './types.js';

function similarity(metric: Metric, a: Float32Array, b: Float32Array): number {
  let s = 0;
  if (metric === 'l2') {
    for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
    return -s;
  }
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Picks up to `limit` of `candidates` (sorted nearest first, each with its stored vector). */
export function maximalMarginalRelevance(metric: Metric, query: Float32Array, candidates: readonly Hit[], diversity: number, limit: number): Hit[] {
  const pool = candidates.filter((c) => c.vector !== undefined);
  if (pool.length === 0 || limit <= 0) return [];
  const q = metric === 'cosine' ? normalized(query) : query;
  const relevance = pool.map((c) => similarity(metric, q, c.vector!));
  const lambda = 1 - diversity;
  // For each candidate, its largest similarity to a picked point so far.
  const nearestPicked = new Array<number>(pool.length).fill(-Infinity);
  const picked: number[] = [];
  const left = new Set(pool.map((_, i) => i));
  let first = 0;
  for (let i = 1; i < pool.length; i++) if (relevance[i] > relevance[first]) first = i;
  for (let next: number | null = first; next !== null && picked.length < limit; ) {
    picked.push(next);
    left.delete(next);
    const chosen = pool[next].vector!;
    let best: number | null = null;
    let bestScore = -Infinity;
    for (const i of left) {
      nearestPicked[i] = Math.max(nearestPicked[i], similarity(metric, pool[i].vector!, chosen));
      const score = lambda * relevance[i] - diversity * nearestPicked[i];
      if (best === null || score > bestScore) {
        best = i;
        bestScore = score;
      }
    }
    next = best;
  }
  return picked.map((i) => pool[i]);
}
