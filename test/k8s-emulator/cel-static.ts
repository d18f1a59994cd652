// Static facts about a CEL rule read from its syntax tree, for CRD creation and admission: whether it
// uses oldSelf (a transition rule), and the field selections on self/oldSelf that the schema does not
// declare (cel-go's type checker refuses those with "undefined field"). @bufbuild/cel has no checker
// for schema-typed values, so this covers the selection chains rooted at self/oldSelf only.
import { parse } from '@bufbuild/cel';

type Expr = any;
export type ParsedRule = { expr: Expr; sourceInfo?: { positions: Record<string, number> } };

const parsedCacheMax = 1000;
const parsedCache = new Map<string, ParsedRule>();

/** Parse (cached); throws with the parser's message on a syntax error. */
export function parseRule(rule: string): ParsedRule {
  let parsed = parsedCache.get(rule);
  if (!parsed) {
    parsed = parse(rule) as unknown as ParsedRule;
    if (parsedCache.size >= parsedCacheMax) parsedCache.clear();
    parsedCache.set(rule, parsed);
  }
  return parsed;
}

/** Every direct sub-expression of e (macros are already expanded to comprehensions). */
export function children(e: Expr): Expr[] {
  const v = e?.exprKind?.value;
  switch (e?.exprKind?.case) {
    case 'selectExpr': return [v.operand];
    case 'callExpr': return [...(v.target ? [v.target] : []), ...v.args];
    case 'listExpr': return [...v.elements];
    case 'structExpr': return v.entries.flatMap((entry: any) => [...(entry.keyKind?.case === 'mapKey' ? [entry.keyKind.value] : []), entry.value]);
    case 'comprehensionExpr': return [v.iterRange, v.accuInit, v.loopCondition, v.loopStep, v.result];
    default: return [];
  }
}

function walk(e: Expr, visit: (e: Expr) => void): void {
  if (!e) return;
  visit(e);
  for (const c of children(e)) walk(c, visit);
}

/** True when the rule refers to oldSelf, the way cel-go marks a compiled rule UsesOldSelf. */
export function usesOldSelf(rule: string): boolean {
  let found = false;
  try {
    walk(parseRule(rule).expr, (e) => { if (e.exprKind?.case === 'identExpr' && e.exprKind.value.name === 'oldSelf') found = true; });
  } catch {
    return /\boldSelf\b/.test(rule);
  }
  return found;
}

/** The schema self has in a rule on `schema`; at a resource root CEL sees apiVersion, kind and metadata.name/generateName. */
export function selfSchema(schema: any, isResourceRoot: boolean): any {
  if (!isResourceRoot) return schema;
  return {
    ...schema,
    properties: {
      ...(schema.properties ?? {}),
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object', properties: { name: { type: 'string' }, generateName: { type: 'string' } } },
    },
  };
}

/** The schema of a select chain rooted at self/oldSelf, or undefined when it is not one (or not typed). */
function resolve(e: Expr, self: any, errors: { id: string; field: string }[]): any {
  const kind = e?.exprKind?.case;
  if (kind === 'identExpr') return e.exprKind.value.name === 'self' || e.exprKind.value.name === 'oldSelf' ? self : undefined;
  if (kind !== 'selectExpr') return undefined;
  const { operand, field } = e.exprKind.value;
  const s = resolve(operand, self, errors);
  if (!s || s['x-kubernetes-preserve-unknown-fields'] || s['x-kubernetes-int-or-string']) return undefined;
  if (s['x-kubernetes-embedded-resource'] && ['apiVersion', 'kind', 'metadata'].includes(field)) return undefined;
  if (s.type !== 'object') return undefined;
  if (typeof s.additionalProperties === 'object' || s.additionalProperties === true) {
    return typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined;
  }
  const prop = s.properties?.[field];
  if (!prop) errors.push({ id: String(e.id), field });
  return prop;
}

/**
 * cel-go compile errors for fields selected on self/oldSelf that the schema does not declare, formatted
 * like cel-go's (`ERROR: <input>:1:5: undefined field 'foo'` with the source line and a caret).
 */
export function undefinedFieldErrors(rule: string, schema: any, isResourceRoot: boolean): string[] {
  const parsed = parseRule(rule);
  const self = selfSchema(schema, isResourceRoot);
  const errors: { id: string; field: string }[] = [];
  const seen = new Set<string>();
  walk(parsed.expr, (e) => {
    if (e.exprKind?.case !== 'selectExpr') return;
    const found: { id: string; field: string }[] = [];
    resolve(e, self, found);
    for (const f of found) if (!seen.has(f.id)) { seen.add(f.id); errors.push(f); }
  });
  return errors.map(({ id, field }) => {
    const offset = parsed.sourceInfo?.positions?.[id] ?? 0;
    const lineStart = rule.lastIndexOf('\n', offset - 1) + 1;
    const lineEnd = rule.indexOf('\n', offset);
    const line = rule.slice(0, offset).split('\n').length;
    const column = offset - lineStart;
    const text = rule.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
    return `ERROR: <input>:${line}:${column + 1}: undefined field '${field}'\n | ${text}\n | ${'.'.repeat(column)}^`;
  });
}
