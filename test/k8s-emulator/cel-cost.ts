// Estimated cost of a CEL rule at CRD creation, as a lower bound of the apiserver's estimate: the
// apiserver refuses a rule whose worst-case cost (cel-go's estimator, sizes from maxLength/maxItems/
// maxProperties or, without them, from the 3 MiB request limit) times the number of places it can run
// exceeds 10^7, and a CRD whose rules together exceed 10^8. This follows cel-go's checker/cost.go but
// counts only what it surely charges (1 per identifier, field selection and plain call, iterations of
// comprehensions over schema-typed lists and maps, string traversal by contains/matches/startsWith/
// endsWith/comparisons; sizes it cannot derive count as 0), so a CRD refused here is refused there.
import { children, parseRule, selfSchema } from './cel-static.js';

/** apiserver limits (k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation). */
export const STATIC_ESTIMATED_COST_LIMIT = 10_000_000;
export const STATIC_ESTIMATED_CRD_COST_LIMIT = 100_000_000;
const MAX_REQUEST_SIZE_BYTES = 3 * 1024 * 1024;
const STRING_TRAVERSAL_COST_FACTOR = 0.1;

type Expr = any;

/** Smallest JSON encoding of a value of the schema (like the apiserver's estimateMinSizeJSON). */
export function minSizeJson(s: any): number {
  if (!s || s['x-kubernetes-int-or-string']) return 1;
  switch (s.type) {
    case 'string': return 2;
    case 'integer': case 'number': return 1;
    case 'boolean': return 4;
    case 'array': return 2;
    case 'object': {
      let size = 2;
      for (const name of s.required ?? []) {
        const prop = s.properties?.[name];
        if (prop && prop.default === undefined) size += name.length + minSizeJson(prop) + 4;
      }
      return size;
    }
    default: return 1;
  }
}

/** Worst-case length of a string, or count of list items or map entries, of the schema. */
export function maxElements(s: any): number {
  if (!s) return 0;
  if (s.type === 'string' || s['x-kubernetes-int-or-string']) {
    if (s.maxLength !== undefined) return Math.max(0, s.maxLength);
    if (Array.isArray(s.enum) && s.enum.length > 0) return Math.max(...s.enum.map((e: unknown) => String(e).length));
    return MAX_REQUEST_SIZE_BYTES - 2;
  }
  if (s.type === 'array') return s.maxItems !== undefined ? Math.max(0, s.maxItems) : Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / (minSizeJson(s.items) + 1));
  if (s.type === 'object' && typeof s.additionalProperties === 'object') {
    return s.maxProperties !== undefined ? Math.max(0, s.maxProperties) : Math.floor((MAX_REQUEST_SIZE_BYTES - 2) / (minSizeJson(s.additionalProperties) + 6));
  }
  return 0;
}

/** How many times data of a schema nested under unbounded lists or maps can occur in one object. */
export function unboundedCardinality(s: any): number {
  return Math.floor(MAX_REQUEST_SIZE_BYTES / (minSizeJson(s) + 1));
}

/** How many children of a schema node occur per occurrence of the node (undefined: unbounded). */
export function childCardinalityFactor(s: any): number | undefined {
  if (s?.type === 'array') return s.maxItems;
  if (s?.type === 'object' && s.additionalProperties !== undefined && s.additionalProperties !== false) return s.maxProperties;
  return 1;
}

interface Scope { [name: string]: any }

/** The schema of an expression when it is a field path from self, oldSelf or a comprehension variable. */
function schemaOf(e: Expr, scope: Scope): any {
  const kind = e?.exprKind?.case;
  if (kind === 'identExpr') return scope[e.exprKind.value.name];
  if (kind !== 'selectExpr' || e.exprKind.value.testOnly) return undefined;
  const s = schemaOf(e.exprKind.value.operand, scope);
  if (!s || s.type !== 'object') return undefined;
  if (typeof s.additionalProperties === 'object') return s.additionalProperties;
  return s.properties?.[e.exprKind.value.field];
}

function sizeOf(e: Expr, scope: Scope): number | undefined {
  if (e?.exprKind?.case === 'constExpr' && e.exprKind.value.constantKind?.case === 'stringValue') return e.exprKind.value.constantKind.value.length;
  const s = schemaOf(e, scope);
  return s ? maxElements(s) : undefined;
}

function traversal(size: number | undefined): number {
  return size === undefined ? 0 : Math.ceil(size * STRING_TRAVERSAL_COST_FACTOR);
}

function cost(e: Expr, scope: Scope): number {
  const kind = e?.exprKind?.case;
  const v = e?.exprKind?.value;
  switch (kind) {
    case undefined: case 'constExpr': return 0;
    case 'identExpr': return 1;
    case 'selectExpr': return 1 + cost(v.operand, scope);
    case 'comprehensionExpr': {
      const range = schemaOf(v.iterRange, scope);
      const iterations = range ? maxElements(range) : 1;
      const element = range?.type === 'array' ? range.items : undefined;
      const inner: Scope = { ...scope, [v.iterVar]: element };
      if (v.iterVar2) inner[v.iterVar2] = undefined;
      inner[v.accuVar] = undefined;
      return cost(v.iterRange, scope) + cost(v.accuInit, scope) + iterations * (cost(v.loopCondition, inner) + cost(v.loopStep, inner)) + cost(v.result, inner);
    }
    case 'callExpr': {
      const args: Expr[] = v.args;
      const target: Expr | undefined = v.target;
      if (v.function === '_?_:_') return cost(args[0], scope) + Math.max(cost(args[1], scope), cost(args[2], scope));
      const base = children(e).reduce((sum: number, c: Expr) => sum + cost(c, scope), 0);
      const isString = (a: Expr) => schemaOf(a, scope)?.type === 'string' || a?.exprKind?.value?.constantKind?.case === 'stringValue';
      switch (v.function) {
        case '_&&_': case '_||_': return base;
        // cel-go: ceil(0.1 * size(target)) * ceil(0.1 * size(arg)); unknown sizes count as 0 here (cel-go: unbounded).
        case 'contains': return base + (target ? traversal(sizeOf(target, scope) ?? 0) * traversal(sizeOf(args[0], scope) ?? 0) : 0);
        // cel-go: ceil(0.1 * (size(target) + 1)) * ceil(0.25 * size(regex)).
        case 'matches': {
          const [text, regex] = target ? [target, args[0]] : [args[0], args[1]];
          return base + traversal((sizeOf(text, scope) ?? 0) + 1) * Math.ceil((sizeOf(regex, scope) ?? 0) * 0.25);
        }
        case 'startsWith': case 'endsWith': return base + traversal(sizeOf(args[0], scope) ?? 0);
        // cel-go: ceil(0.1 * the smaller max size) for strings; no base cost, so scalars add nothing here.
        case '_==_': case '_!=_': case '_<_': case '_<=_': case '_>_': case '_>=_': {
          const [l, r] = [sizeOf(args[0], scope), sizeOf(args[1], scope)];
          return base + (isString(args[0]) && isString(args[1]) && l !== undefined && r !== undefined ? traversal(Math.min(l, r)) : 0);
        }
        // String concatenation and list membership may cost nothing beyond their arguments in cel-go.
        case '_+_': case '@in': return base;
        default: return base + 1;
      }
    }
    default: return children(e).reduce((sum: number, c: Expr) => sum + cost(c, scope), 0);
  }
}

/** Lower bound of cel-go's worst-case cost of one evaluation of rule on a value of schema. */
export function estimateRuleCost(rule: string, schema: any, isResourceRoot: boolean): number {
  const self = selfSchema(schema, isResourceRoot);
  return cost(parseRule(rule).expr, { self, oldSelf: self });
}

/** The apiserver's wording (getCostErrorMessage). */
export function costErrorMessage(costName: string, estimated: number, limit: number): string {
  const factor = estimated / limit;
  const shown = factor > 100 ? 'more than 100x' : factor < 1.5 ? `${factor.toFixed(6)}x` : `${factor.toFixed(1)}x`;
  return `${costName} exceeds budget by factor of ${shown} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)`;
}
