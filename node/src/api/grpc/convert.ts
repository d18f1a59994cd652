// Converts Qdrant's gRPC messages to the collection layer's types and back. Filters become the same
// Qdrant filter JSON the REST API passes down (the shards parse and validate it), payloads the same
// JSON objects, vectors the same Float32Arrays (through the REST conversions, so both APIs check
// them by one set of rules). A field JadeVectorDB does not implement is refused, naming it.
import { create } from '@bufbuild/protobuf';
import {
  PointIdSchema,
  RetrievedPointSchema,
  ScoredPointSchema,
  ValueSchema,
  VectorsOutputSchema,
  type Condition,
  type FieldCondition,
  type Filter,
  type PointId as PointIdMsg,
  type RetrievedPoint,
  type ScoredPoint,
  type Value,
  type Vectors,
  type WithPayloadSelector,
  type WithVectorsSelector,
} from '@qdrant/js-client-grpc';
import type { Hit, PayloadSelector, PointOutput } from '../../query/types.js';
import { checkPayload, parsePointId, type CollectionParams } from '../../query/vocabulary.js';
import type { PointId } from '../../storage/types.js';
import { JadeError } from '../../util/errors.js';
import { parseWithVector, unwrapVector } from '../rest/convert.js';

/** Nested payload values (objects, lists) deeper than this are refused: a decoder's recursion bound. */
export const PAYLOAD_DEPTH_MAX = 64;

export function invalid(message: string): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', message);
}

/** A field of a request JadeVectorDB does not implement: refused, never ignored. */
export function unsupported(field: string, why = 'is not supported by JadeVectorDB'): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', `${field} ${why} (README "gRPC API (Qdrant-compatible)")`);
}

/** A uint64/int64 field as a JS number, refused when it does not fit exactly. */
export function safeNumber(v: bigint, where: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) invalid(`${where}: ${v} is beyond 2^53 - 1`);
  return Number(v);
}

/** A proto field's name as Qdrant's .proto and docs write it (geoRadius -> geo_radius). */
export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

// ---- Point ids ----

export function pointIdIn(msg: PointIdMsg | undefined, where: string): PointId {
  const o = msg?.pointIdOptions;
  if (!o || o.case === undefined) throw new JadeError('JADE_ERR_BAD_ID', `${where}: a point id needs num or uuid`);
  if (o.case === 'num') {
    if (o.value > BigInt(Number.MAX_SAFE_INTEGER)) throw new JadeError('JADE_ERR_BAD_ID', `${where}: point id ${o.value} is beyond 2^53 - 1, the largest JadeVectorDB stores`);
    return parsePointId(Number(o.value), where);
  }
  return parsePointId(o.value, where);
}

export function pointIdOut(id: PointId): PointIdMsg {
  return create(PointIdSchema, { pointIdOptions: typeof id === 'number' ? { case: 'num', value: BigInt(id) } : { case: 'uuid', value: id } });
}

// ---- Payload values (Qdrant's json_with_int Value: integers stay integers) ----

export function valueIn(v: Value, where: string, depth = 0): unknown {
  if (depth > PAYLOAD_DEPTH_MAX) invalid(`${where}: nests deeper than ${PAYLOAD_DEPTH_MAX} levels`);
  const k = v.kind;
  switch (k.case) {
    case undefined:
    case 'nullValue':
      return null;
    case 'doubleValue':
      if (!Number.isFinite(k.value)) throw new JadeError('JADE_ERR_NOT_FINITE', `${where} is not a finite number`);
      return k.value;
    case 'integerValue':
      return safeNumber(k.value, where);
    case 'stringValue':
    case 'boolValue':
      return k.value;
    case 'structValue':
      return structIn(k.value.fields, where, depth + 1);
    case 'listValue':
      return k.value.values.map((x, i) => valueIn(x, `${where}[${i}]`, depth + 1));
  }
}

function structIn(fields: { [key: string]: Value }, where: string, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = valueIn(value, `${where}.${key}`, depth);
  return out;
}

/** A point's payload from a request: the shard's own rules (size, keys) apply, as for REST. */
export function payloadIn(fields: { [key: string]: Value }, where: string): Record<string, unknown> | null {
  return checkPayload(structIn(fields, where, 0), where);
}

export function valueOut(v: unknown): Value {
  if (v === null || v === undefined) return create(ValueSchema, { kind: { case: 'nullValue', value: 0 } });
  switch (typeof v) {
    case 'number':
      return create(ValueSchema, { kind: Number.isSafeInteger(v) ? { case: 'integerValue', value: BigInt(v) } : { case: 'doubleValue', value: v } });
    case 'string':
      return create(ValueSchema, { kind: { case: 'stringValue', value: v } });
    case 'boolean':
      return create(ValueSchema, { kind: { case: 'boolValue', value: v } });
    default:
      if (Array.isArray(v)) return create(ValueSchema, { kind: { case: 'listValue', value: { values: v.map(valueOut) } } });
      return create(ValueSchema, { kind: { case: 'structValue', value: { fields: payloadOut(v as Record<string, unknown>) } } });
  }
}

export function payloadOut(p: Record<string, unknown> | null | undefined): { [key: string]: Value } {
  const out: { [key: string]: Value } = {};
  if (!p) return out;
  for (const [key, value] of Object.entries(p)) out[key] = valueOut(value);
  return out;
}

// ---- Filters: proto Filter -> Qdrant filter JSON (what the shards parse) ----

function rangeIn(r: { lt?: number | bigint; gt?: number | bigint; gte?: number | bigint; lte?: number | bigint }, where: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of ['lt', 'gt', 'gte', 'lte'] as const) {
    const x = r[op];
    if (x !== undefined) out[op] = typeof x === 'bigint' ? safeNumber(x, `${where}.${op}`) : x;
  }
  return out;
}

function fieldConditionIn(f: FieldCondition, where: string): Record<string, unknown> {
  for (const field of ['geoBoundingBox', 'geoRadius', 'geoPolygon', 'datetimeRange'] as const) if (f[field]) unsupported(`${where}.${snakeCase(field)}`);
  const set = [f.match, f.range, f.valuesCount, f.isEmpty, f.isNull].filter((x) => x !== undefined);
  if (set.length !== 1) invalid(`${where}: a field condition needs exactly one of match, range, values_count, is_empty, is_null`);
  const key = f.key;
  if (f.isEmpty !== undefined) return f.isEmpty ? { is_empty: { key } } : { must_not: [{ is_empty: { key } }] };
  if (f.isNull !== undefined) return f.isNull ? { is_null: { key } } : { must_not: [{ is_null: { key } }] };
  if (f.range) return { key, range: rangeIn(f.range, `${where}.range`) };
  if (f.valuesCount) return { key, values_count: rangeIn(f.valuesCount, `${where}.values_count`) };
  const m = f.match!.matchValue;
  switch (m.case) {
    case 'keyword':
    case 'boolean':
      return { key, match: { value: m.value } };
    case 'integer':
      return { key, match: { value: safeNumber(m.value, `${where}.match.integer`) } };
    case 'text':
      return { key, match: { text: m.value } };
    case 'keywords':
      return { key, match: { any: m.value.strings } };
    case 'integers':
      return { key, match: { any: m.value.integers.map((x) => safeNumber(x, `${where}.match.integers`)) } };
    case 'exceptKeywords':
      return { key, match: { except: m.value.strings } };
    case 'exceptIntegers':
      return { key, match: { except: m.value.integers.map((x) => safeNumber(x, `${where}.match.except_integers`)) } };
    case 'phrase':
    case 'textAny':
      return unsupported(`${where}.match.${m.case === 'phrase' ? 'phrase' : 'text_any'}`);
    default:
      return invalid(`${where}.match needs a value`);
  }
}

function conditionIn(c: Condition, where: string, depth: number): Record<string, unknown> {
  const o = c.conditionOneOf;
  switch (o.case) {
    case 'field':
      return fieldConditionIn(o.value, `${where}.field`);
    case 'isEmpty':
      return { is_empty: { key: o.value.key } };
    case 'isNull':
      return { is_null: { key: o.value.key } };
    case 'hasId':
      return { has_id: o.value.hasId.map((id, i) => pointIdIn(id, `${where}.has_id[${i}]`)) };
    case 'filter':
      return filterJsonAt(o.value, `${where}.filter`, depth + 1);
    case 'nested':
      return unsupported(`${where}.nested`, 'conditions are not supported; use dotted keys (a.b) instead');
    case 'hasVector':
      return unsupported(`${where}.has_vector`, 'is not supported: every point has the collection\'s one vector');
    default:
      return invalid(`${where}: empty condition`);
  }
}

/** Bounds recursion before the shard's parser (FILTER_DEPTH_MAX) sees the JSON. */
const FILTER_NESTING_MAX = 32;

function filterJsonAt(f: Filter, where: string, depth: number): Record<string, unknown> {
  if (depth > FILTER_NESTING_MAX) invalid(`${where}: filter nests deeper than ${FILTER_NESTING_MAX} levels`);
  const out: Record<string, unknown> = {};
  const list = (cs: Condition[], name: string) => cs.map((c, i) => conditionIn(c, `${where}.${name}[${i}]`, depth));
  if (f.must.length > 0) out.must = list(f.must, 'must');
  if (f.should.length > 0) out.should = list(f.should, 'should');
  if (f.mustNot.length > 0) out.must_not = list(f.mustNot, 'must_not');
  if (f.minShould) out.min_should = { conditions: list(f.minShould.conditions, 'min_should.conditions'), min_count: safeNumber(f.minShould.minCount, `${where}.min_should.min_count`) };
  return out;
}

/** Qdrant filter JSON of a request's filter, or undefined when it has none. */
export function filterIn(f: Filter | undefined): Record<string, unknown> | undefined {
  return f === undefined ? undefined : filterJsonAt(f, 'filter', 0);
}

// ---- Selectors ----

export function withPayloadIn(s: WithPayloadSelector | undefined, fallback: boolean): PayloadSelector {
  const o = s?.selectorOptions;
  if (!o || o.case === undefined) return fallback;
  if (o.case === 'enable') return o.value;
  if (o.case === 'include') return { include: o.value.fields };
  return { exclude: o.value.fields };
}

export function withVectorsIn(s: WithVectorsSelector | undefined, params: CollectionParams): boolean {
  const o = s?.selectorOptions;
  if (!o || o.case === undefined) return false;
  if (o.case === 'enable') return o.value;
  return parseWithVector(o.value.names, params);
}

// ---- Vectors ----

/** A dense vector (number[]) of a Vector message; anything else is refused, naming what it is. */
export function denseIn(v: { data: number[]; indices?: unknown; vectorsCount?: number; vector: { case: string | undefined; value?: unknown } }, where: string): number[] {
  if (v.indices !== undefined) unsupported(`${where}.indices`, 'sparse vectors are not supported');
  if (v.vectorsCount !== undefined && v.vectorsCount !== 1) unsupported(`${where}.vectors_count`, 'multi-vectors are not supported');
  switch (v.vector.case) {
    case undefined:
      return v.data;
    case 'dense':
      return (v.vector.value as { data: number[] }).data;
    case 'sparse':
      return unsupported(`${where}.sparse`, 'sparse vectors are not supported');
    case 'multiDense':
      return unsupported(`${where}.multi_dense`, 'multi-vectors are not supported');
    default:
      return unsupported(`${where}.${v.vector.case}`, 'inference (documents, images, objects) is not supported: send a dense vector');
  }
}

/** A point's `vectors`: one dense vector, or named vectors naming the collection's one vector (the REST rules, unwrapVector). */
export function pointVectorIn(v: Vectors | undefined, params: CollectionParams, where: string): number[] {
  const o = v?.vectorsOptions;
  if (!o || o.case === undefined) invalid(`${where} is required`);
  if (o.case === 'vector') return unwrapVector(denseIn(o.value, where), params, where) as number[];
  const named: Record<string, number[]> = {};
  for (const [name, vec] of Object.entries(o.value.vectors)) named[name] = denseIn(vec, `${where}.vectors[${JSON.stringify(name)}]`);
  return unwrapVector(named, params, where) as number[];
}

function vectorsOut(v: Float32Array, params: CollectionParams) {
  const dense = { vector: { case: 'dense' as const, value: { data: Array.from(v) } } };
  return create(VectorsOutputSchema, params.vectorName ? { vectorsOptions: { case: 'vectors', value: { vectors: { [params.vectorName]: dense } } } } : { vectorsOptions: { case: 'vector', value: dense } });
}

export function retrievedOut(p: PointOutput, params: CollectionParams): RetrievedPoint {
  return create(RetrievedPointSchema, { id: pointIdOut(p.id), payload: payloadOut(p.payload), ...(p.vector ? { vectors: vectorsOut(p.vector, params) } : {}) });
}

export function scoredOut(h: Hit, params: CollectionParams): ScoredPoint {
  return create(ScoredPointSchema, { id: pointIdOut(h.id), payload: payloadOut(h.payload), score: h.score, version: 0n, ...(h.vector ? { vectors: vectorsOut(h.vector, params) } : {}) });
}
