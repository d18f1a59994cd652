// Converts between Qdrant's REST dialect and the collection layer's types: vectors (JSON arrays
// or base64 little-endian float32), metrics, with_payload selectors, points and hits.
import type { Metric } from '../../index/types.js';
import type { Hit, PayloadSelector, PointOutput } from '../../query/types.js';
import { checkPayload } from '../../query/vocabulary.js';
import type { PointId } from '../../storage/types.js';
import { JadeError } from '../../util/errors.js';

export const QDRANT_DISTANCE: Record<Metric, 'Euclid' | 'Cosine' | 'Dot'> = { l2: 'Euclid', cosine: 'Cosine', ip: 'Dot' };

export function parseMetric(raw: unknown): Metric {
  if (typeof raw !== 'string') throw new JadeError('JADE_ERR_BAD_REQUEST', 'distance must be one of Euclid, Cosine, Dot (or l2, cosine, ip)');
  switch (raw.toLowerCase()) {
    case 'euclid':
    case 'l2':
      return 'l2';
    case 'cosine':
      return 'cosine';
    case 'dot':
    case 'ip':
      return 'ip';
    default:
      throw new JadeError('JADE_ERR_BAD_REQUEST', `distance "${raw}" is not supported: use Euclid, Cosine or Dot (Manhattan is not supported)`);
  }
}

/** Bytes a well-formed base64 string of this length decodes to (Node's decoder skips bad characters, so fewer means invalid). */
function base64DecodedLength(s: string): number {
  const padding = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return (s.length / 4) * 3 - padding;
}

/** A vector as a JSON array of numbers, or a base64 string of little-endian float32 (fast path). */
export function parseVector(raw: unknown, where: string): Float32Array {
  return parseVectors([raw], () => where)[0];
}

/** Floats in one vector given as a JSON array or base64; throws the coded error of a malformed one. */
function vectorLength(raw: unknown, where: string): number {
  if (Array.isArray(raw)) return raw.length;
  if (typeof raw === 'string') {
    // Checked by length instead of a regex over every character (the hot path of bulk ingest).
    if (raw.length % 4 !== 0) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: not valid base64`);
    const bytes = base64DecodedLength(raw);
    if (bytes % 4 !== 0) {
      // Bad characters make the decode shorter than the length says: that is named first.
      if (Buffer.from(raw, 'base64').length !== bytes) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: not valid base64`);
      throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: base64 vector must decode to a multiple of 4 bytes (float32)`);
    }
    return bytes / 4;
  }
  if (raw && typeof raw === 'object') {
    throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: named and sparse vectors are not supported; send one unnamed dense vector`);
  }
  throw new JadeError('JADE_ERR_BAD_REQUEST', `${where} must be an array of numbers or a base64 string`);
}

/**
 * The vectors of one upsert, parsed into one Float32Array for the whole batch (each point gets a
 * view of its part): base64 is decoded in place with Buffer#write, so bulk ingest allocates
 * nothing per vector (it allocated two: the decoded bytes and an aligned copy). Float32
 * little-endian is the machine's order (asserted by the storage codecs).
 */
export function parseVectors(raws: readonly unknown[], where: (i: number) => string): Float32Array[] {
  const lengths = raws.map((raw, i) => vectorLength(raw, where(i)));
  let total = 0;
  for (const n of lengths) total += n;
  const all = new Float32Array(total);
  const bytes = Buffer.from(all.buffer);
  const out = new Array<Float32Array>(raws.length);
  let at = 0;
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i];
    const n = lengths[i];
    const v = all.subarray(at, at + n);
    if (typeof raw === 'string') {
      // Node's decoder skips characters outside the alphabet: fewer bytes than expected = invalid.
      if (bytes.write(raw, at * 4, n * 4, 'base64') !== n * 4) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where(i)}: not valid base64`);
      for (let j = 0; j < n; j++) if (!Number.isFinite(v[j])) throw new JadeError('JADE_ERR_NOT_FINITE', `${where(i)}[${j}] is not a finite number`);
    } else {
      const arr = raw as unknown[];
      for (let j = 0; j < n; j++) {
        const x = arr[j];
        if (typeof x !== 'number') throw new JadeError('JADE_ERR_BAD_REQUEST', `${where(i)}[${j}] must be a number`);
        if (!Number.isFinite(x)) throw new JadeError('JADE_ERR_NOT_FINITE', `${where(i)}[${j}] is not a finite number`);
        v[j] = x;
      }
    }
    out[i] = v;
    at += n;
  }
  return out;
}

/** A point's payload from a request body: one set of rules with the shard's (shard/validate.ts). */
export function parsePayload(raw: unknown, where: string): Record<string, unknown> | null {
  return checkPayload(raw, where);
}

export function parseWithPayload(raw: unknown, fallback: boolean): PayloadSelector {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw === 'boolean') return raw;
  if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return { include: raw };
  if (typeof raw === 'object') {
    const o = raw as Record<string, unknown>;
    if (Array.isArray(o.include)) return { include: o.include.map(String) };
    if (Array.isArray(o.exclude)) return { exclude: o.exclude.map(String) };
  }
  throw new JadeError('JADE_ERR_BAD_REQUEST', 'with_payload must be a boolean, a list of fields, or {include} / {exclude}');
}

/** A point as Qdrant's JSON writes it (retrieve, scroll). */
export interface PointJson {
  id: PointId;
  version?: number;
  score?: number;
  payload?: Record<string, unknown> | null;
  vector?: number[];
}

export function vectorOut(v: Float32Array): number[] {
  return Array.from(v);
}

export function pointJson(p: PointOutput): PointJson {
  const out: PointJson = { id: p.id };
  if (p.payload !== undefined) out.payload = p.payload;
  if (p.vector) out.vector = vectorOut(p.vector);
  return out;
}

/** A search hit as Qdrant's ScoredPoint. */
export function hitJson(h: Hit): PointJson {
  const out: PointJson = { id: h.id, version: 0, score: h.score };
  if (h.payload !== undefined) out.payload = h.payload;
  if (h.vector) out.vector = vectorOut(h.vector);
  return out;
}
