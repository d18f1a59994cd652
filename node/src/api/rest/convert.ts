// Converts between Qdrant's REST dialect and the collection layer's types: vectors (JSON arrays
// or base64 little-endian float32), metrics, with_payload selectors, points and hits.
import type { Metric } from '../../index/types.js';
import type { Hit, PayloadSelector, PointOutput } from '../../query/types.js';
import { VECTOR_NAME_LENGTH_MAX, checkPayload, type CollectionParams } from '../../query/vocabulary.js';
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
    throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: sparse and multi-vectors are not supported; send a dense vector (an array of numbers or base64)`);
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

// ---- The collection's one vector: unnamed, or named (Qdrant's named vectors, one per collection) ----

/** The name a request uses for the collection's vector: '' is Qdrant's name of the unnamed one. */
function nameOf(params: CollectionParams): string {
  return params.vectorName ?? '';
}

function describe(params: CollectionParams): string {
  return params.vectorName ? `the vector "${params.vectorName}"` : 'one unnamed vector';
}

function checkName(name: unknown, params: CollectionParams, where: string): void {
  if (name !== nameOf(params)) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: no vector named ${JSON.stringify(name)} in this collection, which has ${describe(params)} (JadeVectorDB keeps one vector per collection)`);
  }
}

/** Qdrant's `vectors` of a create: {size, distance} (unnamed) or {name: {size, distance}} with exactly one name ('' included). */
export function parseVectorsConfig(raw: unknown): Pick<CollectionParams, 'dimension' | 'metric' | 'vectorName'> {
  const one = (v: unknown, where: string) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where} must be {"size", "distance"}`);
    const o = v as Record<string, unknown>;
    for (const field of ['multivector_config', 'quantization_config', 'hnsw_config']) {
      if (o[field] !== undefined && o[field] !== null) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}.${field} is not supported by JadeVectorDB (see the README's differences from Qdrant)`);
    }
    if (o.datatype !== undefined && o.datatype !== null && o.datatype !== 'float32') throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}.datatype: only float32 vectors are stored`);
    if (o.on_disk === true) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}.on_disk: vectors are kept in memory`);
    if (typeof o.size !== 'number' || !Number.isInteger(o.size) || o.size < 1) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}.size must be a positive integer`);
    return { dimension: o.size, metric: parseMetric(o.distance) };
  };
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'size' in raw) return one(raw, 'vectors');
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'vectors must be {"size", "distance"} or {"<name>": {"size", "distance"}}');
  const names = Object.keys(raw);
  if (names.length !== 1) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', names.length === 0 ? 'vectors names no vector' : `vectors names ${names.length} vectors (${names.map((n) => JSON.stringify(n)).join(', ')}); JadeVectorDB keeps one vector per collection, unnamed or with one name`);
  }
  const [name] = names;
  if (name.length > VECTOR_NAME_LENGTH_MAX) throw new JadeError('JADE_ERR_BAD_REQUEST', `a vector name may have at most ${VECTOR_NAME_LENGTH_MAX} characters`);
  return { ...one((raw as Record<string, unknown>)[name], `vectors[${JSON.stringify(name)}]`), vectorName: name };
}

/** `vectors` as Qdrant's collection info writes it: the form it was created with. */
export function vectorsConfigJson(params: CollectionParams): Record<string, unknown> {
  const config = { size: params.dimension, distance: QDRANT_DISTANCE[params.metric] };
  return params.vectorName === undefined ? config : { [params.vectorName]: config };
}

/** A point's vector in an upsert or update: dense as is, or {name: dense} naming the collection's vector. */
export function unwrapVector(raw: unknown, params: CollectionParams, where: string): unknown {
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const names = Object.keys(raw);
    if (names.length !== 1) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: ${names.length} named vectors given; this collection has ${describe(params)}`);
    checkName(names[0], params, where);
    return (raw as Record<string, unknown>)[names[0]];
  }
  if (params.vectorName) checkName('', params, where); // Qdrant: a plain vector is the unnamed one
  return raw;
}

/** The search API's `vector`: dense, or Qdrant's NamedVectorStruct {name, vector}. */
export function unwrapSearchVector(raw: unknown, params: CollectionParams, where: string): unknown {
  if (raw && typeof raw === 'object' && !Array.isArray(raw) && 'name' in raw && 'vector' in raw) {
    const o = raw as { name: unknown; vector: unknown };
    checkName(o.name, params, `${where}.name`);
    return o.vector;
  }
  if (params.vectorName) checkName('', params, where);
  return raw;
}

/** The Query API's `using` (absent: the unnamed vector). */
export function checkUsing(using: unknown, params: CollectionParams): void {
  if (using === undefined || using === null) {
    if (params.vectorName) checkName('', params, 'using');
    return;
  }
  checkName(using, params, 'using');
}

/** Qdrant's with_vector: a boolean, or a list of vector names to return. */
export function parseWithVector(raw: unknown, params: CollectionParams): boolean {
  if (raw === undefined || raw === null) return false;
  if (typeof raw === 'boolean') return raw;
  if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) {
    for (const name of raw) checkName(name, params, 'with_vector');
    return raw.length > 0;
  }
  throw new JadeError('JADE_ERR_BAD_REQUEST', 'with_vector must be a boolean or a list of vector names');
}

/** A point as Qdrant's JSON writes it (retrieve, scroll). */
export interface PointJson {
  id: PointId;
  version?: number;
  score?: number;
  payload?: Record<string, unknown> | null;
  vector?: number[] | Record<string, number[]>;
}

/** A stored vector as Qdrant returns it: a plain array for the unnamed vector ('' included), else {name: array}. */
export function vectorOut(v: Float32Array, params?: CollectionParams): number[] | Record<string, number[]> {
  const arr = Array.from(v);
  return params?.vectorName ? { [params.vectorName]: arr } : arr;
}

export function pointJson(p: PointOutput, params?: CollectionParams): PointJson {
  const out: PointJson = { id: p.id };
  if (p.payload !== undefined) out.payload = p.payload;
  if (p.vector) out.vector = vectorOut(p.vector, params);
  return out;
}

/** A search hit as Qdrant's ScoredPoint. */
export function hitJson(h: Hit, params?: CollectionParams): PointJson {
  const out: PointJson = { id: h.id, version: 0, score: h.score };
  if (h.payload !== undefined) out.payload = h.payload;
  if (h.vector) out.vector = vectorOut(h.vector, params);
  return out;
}
