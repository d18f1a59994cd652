// Exact distances in plain JS: the oracle for tests and the exact-scan path of the planner.
import type { Metric } from './types.js';

export function l2Squared(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let sum = 0;
  for (let i = 0; i < dim; i++) {
    const d = a[aOffset + i] - b[bOffset + i];
    sum += d * d;
  }
  return sum;
}

export function dot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let sum = 0;
  for (let i = 0; i < dim; i++) sum += a[aOffset + i] * b[bOffset + i];
  return sum;
}

export function norm(v: Float32Array): number {
  return Math.sqrt(dot(v, 0, v, 0, v.length));
}

/** Returns a unit-length copy (cosine is inner product of normalized vectors); zero stays zero. */
export function normalized(v: Float32Array): Float32Array {
  const n = norm(v);
  const out = new Float32Array(v.length);
  if (n === 0) return out;
  for (let i = 0; i < v.length; i++) out[i] = v[i] / n;
  return out;
}

/** Distance where smaller is closer; for cosine both sides must already be normalized. */
export function distance(metric: Metric, a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  switch (metric) {
    case 'l2':
      return Math.sqrt(l2Squared(a, aOffset, b, bOffset, dim));
    case 'cosine':
      return 1 - dot(a, aOffset, b, bOffset, dim);
    case 'ip':
      return -dot(a, aOffset, b, bOffset, dim);
  }
}
