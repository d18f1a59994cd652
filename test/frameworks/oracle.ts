// What the framework suites compare against: a deterministic fake embedding (no model provider is
// called) and exact cosine search and Maximal Marginal Relevance over it in plain JS.
import { createHash } from 'node:crypto';

export const EMBEDDING_DIM = 16;

/**
 * Hashed bag of words: each word adds a fixed pseudo-random unit direction, so texts that share
 * words are near each other and distinct texts are (almost surely) never tied.
 */
export function embed(text: string): number[] {
  const v = new Array<number>(EMBEDDING_DIM).fill(0);
  for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
    const h = createHash('sha256').update(word).digest();
    for (let i = 0; i < EMBEDDING_DIM; i++) v[i] += h.readInt8(i) / 128;
  }
  return v;
}

function unit(v: readonly number[]): number[] {
  const n = Math.hypot(...v);
  return n === 0 ? v.slice() : v.map((x) => x / n);
}

export function cosine(a: readonly number[], b: readonly number[]): number {
  const ua = unit(a);
  const ub = unit(b);
  return ua.reduce((s, x, i) => s + x * ub[i], 0);
}

export interface Doc {
  id: string;
  text: string;
  vector: number[];
}

/** Exact cosine top-k, best first. */
export function nearest(docs: readonly Doc[], query: readonly number[], k: number): { id: string; score: number }[] {
  return docs
    .map((d) => ({ id: d.id, score: cosine(d.vector, query) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

/** Qdrant's MMR: the nearest `candidates`, the best first, then the best (1 - diversity)·relevance - diversity·(max similarity to those picked). */
export function mmr(docs: readonly Doc[], query: readonly number[], k: number, diversity: number, candidates: number): string[] {
  const pool = nearest(docs, query, candidates).map((c) => docs.find((d) => d.id === c.id)!);
  const picked = pool.slice(0, 1);
  let left = pool.slice(1);
  while (picked.length < k && left.length > 0) {
    let best = left[0];
    let bestScore = -Infinity;
    for (const c of left) {
      const score = (1 - diversity) * cosine(c.vector, query) - diversity * Math.max(...picked.map((p) => cosine(p.vector, c.vector)));
      if (score > bestScore) [best, bestScore] = [c, score];
    }
    picked.push(best);
    left = left.filter((c) => c !== best);
  }
  return picked.map((p) => p.id);
}

export const CORPUS: { text: string; source: string; lang: string }[] = [
  'the quick brown fox jumps over the lazy dog',
  'a fast auburn fox leaps above a sleepy hound',
  'vector databases index embeddings for similarity search',
  'raft keeps replicas of a log in the same order',
  'hnsw graphs find approximate nearest neighbours quickly',
  'kubernetes operators reconcile desired and observed state',
  'the lazy cat sleeps in the warm sun all day',
  'payload filters narrow a vector search by metadata',
  'a write ahead log makes every write durable before it is acknowledged',
  'snapshots let a lagging follower catch up without the whole log',
  'cosine similarity compares the angle between two vectors',
  'dogs and foxes are both canines with bushy tails',
  'maximal marginal relevance trades relevance for diversity',
  'the brown dog chases the quick fox through the field',
  'leader election picks one node to order the writes',
  'a collection holds points with vectors and payloads',
  'embedding models turn text into dense vectors',
  'the sun warms the sleepy cat and the lazy dog',
  'shards split a collection by a hash of the point id',
  'filters on indexed payload fields use exact candidate sets',
].map((text, i) => ({ text, source: i % 3 === 0 ? 'wiki' : i % 3 === 1 ? 'blog' : 'docs', lang: i % 2 ? 'en' : 'de' }));
