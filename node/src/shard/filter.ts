// Qdrant's filter language: parse and validate once (bad filters are a coded 400), then compile to a
// predicate over a point. Keys are dotted paths; an array value matches if any element matches.
import { JadeError } from '../util/errors.js';
import type { PointId } from '../storage/types.js';

export type MatchValue = string | number | boolean;

export type Condition =
  | { type: 'match'; key: string; value: MatchValue }
  | { type: 'match_any'; key: string; any: MatchValue[] }
  | { type: 'match_except'; key: string; except: MatchValue[] }
  | { type: 'match_text'; key: string; text: string }
  | { type: 'range'; key: string; gt?: number; gte?: number; lt?: number; lte?: number }
  | { type: 'is_null'; key: string }
  | { type: 'is_empty'; key: string }
  | { type: 'has_id'; ids: Set<string> }
  | { type: 'values_count'; key: string; gt?: number; gte?: number; lt?: number; lte?: number }
  | { type: 'filter'; filter: Filter };

export interface Filter {
  must: Condition[];
  should: Condition[];
  mustNot: Condition[];
  minShould?: { conditions: Condition[]; minCount: number };
}

export const FILTER_DEPTH_MAX = 16;
export const FILTER_CONDITIONS_MAX = 1024;

function bad(message: string): never {
  throw new JadeError('JADE_ERR_BAD_FILTER', message);
}

/** Canonical string key of a point id: integers as decimal, UUIDs as 32 lower-case hex digits. */
export function idKey(id: PointId): string {
  return typeof id === 'number' ? String(id) : id.replace(/-/g, '').toLowerCase();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asKey(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) bad(`${where}: "key" must be a non-empty string`);
  return v;
}

function asMatchValue(v: unknown, where: string): MatchValue {
  if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
  return bad(`${where}: match value must be a string, finite number or boolean`);
}

function asRange(v: unknown, where: string): { gt?: number; gte?: number; lt?: number; lte?: number } {
  if (!isRecord(v)) bad(`${where}: range must be an object`);
  const out: { gt?: number; gte?: number; lt?: number; lte?: number } = {};
  let any = false;
  for (const op of ['gt', 'gte', 'lt', 'lte'] as const) {
    const x = v[op];
    if (x === undefined || x === null) continue;
    if (typeof x !== 'number' || !Number.isFinite(x)) bad(`${where}: range.${op} must be a finite number`);
    out[op] = x;
    any = true;
  }
  for (const k of Object.keys(v)) if (!['gt', 'gte', 'lt', 'lte'].includes(k)) bad(`${where}: unknown range operator "${k}"`);
  if (!any) bad(`${where}: range needs at least one of gt, gte, lt, lte`);
  return out;
}

interface ParseBudget {
  conditions: number;
}

function parseCondition(raw: unknown, where: string, depth: number, budget: ParseBudget): Condition {
  if (++budget.conditions > FILTER_CONDITIONS_MAX) bad(`filter has more than ${FILTER_CONDITIONS_MAX} conditions`);
  if (!isRecord(raw)) bad(`${where}: condition must be an object`);
  if ('must' in raw || 'should' in raw || 'must_not' in raw || 'min_should' in raw) {
    return { type: 'filter', filter: parseFilterAt(raw, where, depth + 1, budget) };
  }
  if ('has_id' in raw) {
    const ids = raw.has_id;
    if (!Array.isArray(ids)) bad(`${where}: has_id must be an array of ids`);
    return { type: 'has_id', ids: new Set(ids.map((id) => idKey(parsePointId(id, where)))) };
  }
  if ('is_null' in raw) {
    const inner = raw.is_null;
    return { type: 'is_null', key: asKey(isRecord(inner) ? inner.key : inner, `${where}.is_null`) };
  }
  if ('is_empty' in raw) {
    const inner = raw.is_empty;
    return { type: 'is_empty', key: asKey(isRecord(inner) ? inner.key : inner, `${where}.is_empty`) };
  }
  if ('nested' in raw) bad(`${where}: "nested" conditions are not supported; use dotted keys (a.b) instead`);
  const key = asKey(raw.key, where);
  if (raw.match !== undefined) {
    const m = raw.match;
    if (!isRecord(m)) bad(`${where}: match must be an object`);
    if ('value' in m) return { type: 'match', key, value: asMatchValue(m.value, where) };
    if ('any' in m) {
      if (!Array.isArray(m.any)) bad(`${where}: match.any must be an array`);
      return { type: 'match_any', key, any: m.any.map((x) => asMatchValue(x, where)) };
    }
    if ('except' in m) {
      if (!Array.isArray(m.except)) bad(`${where}: match.except must be an array`);
      return { type: 'match_except', key, except: m.except.map((x) => asMatchValue(x, where)) };
    }
    if ('text' in m) {
      if (typeof m.text !== 'string') bad(`${where}: match.text must be a string`);
      return { type: 'match_text', key, text: m.text };
    }
    bad(`${where}: match needs one of value, any, except, text`);
  }
  if (raw.range !== undefined) return { type: 'range', key, ...asRange(raw.range, where) };
  if (raw.values_count !== undefined) return { type: 'values_count', key, ...asRange(raw.values_count, where) };
  return bad(`${where}: condition needs match, range, values_count, is_null, is_empty, has_id or a nested filter`);
}

function parseList(raw: unknown, where: string, depth: number, budget: ParseBudget): Condition[] {
  if (raw === undefined || raw === null) return [];
  // Qdrant accepts a single condition where a list is expected.
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((c, i) => parseCondition(c, `${where}[${i}]`, depth, budget));
}

function parseFilterAt(raw: unknown, where: string, depth: number, budget: ParseBudget): Filter {
  if (depth > FILTER_DEPTH_MAX) bad(`filter nests deeper than ${FILTER_DEPTH_MAX} levels`);
  if (!isRecord(raw)) bad(`${where}: filter must be an object`);
  for (const k of Object.keys(raw)) {
    if (!['must', 'should', 'must_not', 'min_should'].includes(k)) bad(`${where}: unknown filter clause "${k}"`);
  }
  const filter: Filter = {
    must: parseList(raw.must, `${where}.must`, depth, budget),
    should: parseList(raw.should, `${where}.should`, depth, budget),
    mustNot: parseList(raw.must_not, `${where}.must_not`, depth, budget),
  };
  if (raw.min_should !== undefined && raw.min_should !== null) {
    const ms = raw.min_should;
    if (!isRecord(ms) || typeof ms.min_count !== 'number' || !Number.isInteger(ms.min_count) || ms.min_count < 0) {
      bad(`${where}.min_should: needs conditions and a non-negative integer min_count`);
    }
    filter.minShould = { conditions: parseList(ms.conditions, `${where}.min_should.conditions`, depth, budget), minCount: ms.min_count };
  }
  return filter;
}

export function parseFilter(raw: unknown): Filter | null {
  if (raw === undefined || raw === null) return null;
  return parseFilterAt(raw, 'filter', 0, { conditions: 0 });
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Validates an external id: unsigned integer ≤ 2^53−1, or a UUID (normalized to hyphenated lower-case). */
export function parsePointId(raw: unknown, where = 'id'): PointId {
  if (typeof raw === 'number') {
    if (Number.isSafeInteger(raw) && raw >= 0) return raw;
  } else if (typeof raw === 'string' && UUID_RE.test(raw)) {
    const hex = raw.replace(/-/g, '').toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  throw new JadeError('JADE_ERR_BAD_ID', `${where}: point id must be an unsigned integer or a UUID, got ${JSON.stringify(raw)?.slice(0, 80)}`);
}

/** All values at a dotted path; arrays along the way are flattened (Qdrant semantics). */
export function valuesAt(payload: Record<string, unknown> | null, key: string): unknown[] {
  if (!payload) return [];
  let current: unknown[] = [payload];
  for (const part of key.split('.')) {
    const next: unknown[] = [];
    for (const c of current) {
      if (isRecord(c) && part in c) {
        const v = c[part];
        if (Array.isArray(v)) next.push(...v);
        else next.push(v);
      } else if (Array.isArray(c)) {
        for (const e of c) if (isRecord(e) && part in e) next.push(e[part]);
      }
    }
    current = next;
  }
  return current;
}

function inRange(x: unknown, r: { gt?: number; gte?: number; lt?: number; lte?: number }): boolean {
  if (typeof x !== 'number') return false;
  if (r.gt !== undefined && !(x > r.gt)) return false;
  if (r.gte !== undefined && !(x >= r.gte)) return false;
  if (r.lt !== undefined && !(x < r.lt)) return false;
  if (r.lte !== undefined && !(x <= r.lte)) return false;
  return true;
}

export interface FilterSubject {
  id: PointId;
  payload: Record<string, unknown> | null;
}

function matchCondition(c: Condition, p: FilterSubject): boolean {
  switch (c.type) {
    case 'filter':
      return matchFilter(c.filter, p);
    case 'has_id':
      return c.ids.has(idKey(p.id));
    case 'match':
      return valuesAt(p.payload, c.key).some((v) => v === c.value);
    case 'match_any':
      return valuesAt(p.payload, c.key).some((v) => c.any.includes(v as MatchValue));
    case 'match_except': {
      const values = valuesAt(p.payload, c.key);
      return values.length === 0 || values.some((v) => !c.except.includes(v as MatchValue));
    }
    case 'match_text':
      return valuesAt(p.payload, c.key).some((v) => typeof v === 'string' && v.includes(c.text));
    case 'range':
      return valuesAt(p.payload, c.key).some((v) => inRange(v, c));
    case 'values_count':
      return inRange(valuesAt(p.payload, c.key).length, c);
    case 'is_null': {
      const values = valuesAt(p.payload, c.key);
      return values.length === 1 && values[0] === null;
    }
    case 'is_empty': {
      const values = valuesAt(p.payload, c.key);
      return values.length === 0 || values.every((v) => v === null);
    }
  }
}

export function matchFilter(f: Filter, p: FilterSubject): boolean {
  for (const c of f.must) if (!matchCondition(c, p)) return false;
  for (const c of f.mustNot) if (matchCondition(c, p)) return false;
  if (f.should.length > 0 && !f.should.some((c) => matchCondition(c, p))) return false;
  if (f.minShould) {
    let n = 0;
    for (const c of f.minShould.conditions) if (matchCondition(c, p)) n++;
    if (n < f.minShould.minCount) return false;
  }
  return true;
}
