// Qdrant's scores and ordering for each metric: shards and the merge compare distances (lower is
// nearer for every metric); answers carry Qdrant's score.
import type { Metric } from '../index/types.js';
import type { PayloadSelector, Payload } from './types.js';

/** Qdrant scores: Euclid = distance (lower is better), Cosine = similarity, Dot = dot product. */
export function scoreOf(metric: Metric, distance: number): number {
  switch (metric) {
    case 'l2':
      return distance;
    case 'cosine':
      return 1 - distance;
    case 'ip':
      return -distance;
  }
}

/** Whether a score passes Qdrant's score_threshold (an upper bound for Euclid, a lower bound otherwise). */
export function passesThreshold(metric: Metric, score: number, threshold: number | undefined): boolean {
  if (threshold === undefined || threshold === null) return true;
  return metric === 'l2' ? score <= threshold : score >= threshold;
}

/** The payload an answer carries under a with_payload selector; undefined = leave the field out. */
export function selectPayload(payload: Payload | null, selector: PayloadSelector): Payload | null | undefined {
  if (selector === false) return undefined;
  if (selector === true || payload === null) return payload ?? {};
  const out: Payload = {};
  if ('include' in selector) {
    for (const k of selector.include) if (k in payload) out[k] = payload[k];
    return out;
  }
  for (const [k, v] of Object.entries(payload)) if (!selector.exclude.includes(k)) out[k] = v;
  return out;
}
