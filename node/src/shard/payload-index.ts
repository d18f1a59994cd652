// Per-field payload indexes: value → labels. They answer match/range conditions exactly, which
// gives the planner a true cardinality for the filter instead of a guess.
import type { Condition, MatchValue } from './filter.js';
import { valuesAt } from './filter.js';

export type PayloadSchema = 'keyword' | 'integer' | 'float' | 'bool';
export const PAYLOAD_SCHEMAS: readonly PayloadSchema[] = ['keyword', 'integer', 'float', 'bool'];
/**
 * Schemas that take `is_tenant: true` (a graph per value, see tenant-graphs.ts). Qdrant takes it on
 * keyword (and uuid) fields; integer tenant ids are a JadeVectorDB extension.
 */
export const TENANT_SCHEMAS: readonly PayloadSchema[] = ['keyword', 'integer'];

function accepts(schema: PayloadSchema, v: unknown): v is MatchValue {
  switch (schema) {
    case 'keyword':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'float':
      return typeof v === 'number' && Number.isFinite(v);
    case 'bool':
      return typeof v === 'boolean';
  }
}

const EMPTY: ReadonlySet<number> = new Set();

export class PayloadFieldIndex {
  private readonly byValue = new Map<MatchValue, Set<number>>();
  private sortedNumericKeys: number[] | null = null;

  /** Points holding at least one value of this field's type (Qdrant's payload_schema.<field>.points). */
  private pointsIndexed = 0;

  /** `isTenant`: the field partitions the points (Qdrant's is_tenant): values with many points get their own graph. */
  constructor(readonly field: string, readonly schema: PayloadSchema, readonly isTenant = false) {}

  /** The distinct values of this field's type in a payload. */
  valuesOf(payload: Record<string, unknown> | null): MatchValue[] {
    const out: MatchValue[] = [];
    for (const v of valuesAt(payload, this.field)) if (accepts(this.schema, v) && !out.includes(v)) out.push(v);
    return out;
  }

  /** Every value with its labels (read-only). */
  entries(): IterableIterator<[MatchValue, ReadonlySet<number>]> {
    return this.byValue.entries();
  }

  /** The labels holding `value` (read-only; empty when none). */
  labelsOf(value: MatchValue): ReadonlySet<number> {
    return this.byValue.get(value) ?? EMPTY;
  }

  add(label: number, payload: Record<string, unknown> | null): void {
    let any = false;
    for (const v of valuesAt(payload, this.field)) {
      if (!accepts(this.schema, v)) continue;
      any = true;
      let set = this.byValue.get(v);
      if (!set) {
        set = new Set();
        this.byValue.set(v, set);
        this.sortedNumericKeys = null;
      }
      set.add(label);
    }
    if (any) this.pointsIndexed++;
  }

  remove(label: number, payload: Record<string, unknown> | null): void {
    let any = false;
    for (const v of valuesAt(payload, this.field)) {
      const set = this.byValue.get(v as MatchValue);
      if (!set) continue;
      if (set.delete(label)) any = true;
      if (set.size === 0) {
        this.byValue.delete(v as MatchValue);
        this.sortedNumericKeys = null;
      }
    }
    if (any) this.pointsIndexed--;
  }

  get points(): number {
    return this.pointsIndexed;
  }

  distinctValues(): number {
    return this.byValue.size;
  }

  /** Labels satisfying the condition, or null when this index cannot answer it exactly. */
  candidates(c: Condition): Set<number> | null {
    if (!('key' in c) || c.key !== this.field) return null;
    switch (c.type) {
      case 'match':
        return this.byValue.get(c.value) ?? new Set();
      case 'match_any': {
        const out = new Set<number>();
        for (const v of c.any) for (const l of this.byValue.get(v) ?? []) out.add(l);
        return out;
      }
      case 'range': {
        if (this.schema !== 'integer' && this.schema !== 'float') return null;
        const keys = this.numericKeys();
        const out = new Set<number>();
        let i = lowerBound(keys, c.gte ?? c.gt ?? -Infinity);
        for (; i < keys.length; i++) {
          const k = keys[i];
          if (c.gt !== undefined && !(k > c.gt)) continue;
          if (c.lt !== undefined && !(k < c.lt)) break;
          if (c.lte !== undefined && !(k <= c.lte)) break;
          for (const l of this.byValue.get(k)!) out.add(l);
        }
        return out;
      }
      default:
        return null;
    }
  }

  private numericKeys(): number[] {
    if (!this.sortedNumericKeys) {
      this.sortedNumericKeys = [...this.byValue.keys()].filter((k): k is number => typeof k === 'number').sort((a, b) => a - b);
    }
    return this.sortedNumericKeys;
  }
}

function lowerBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
