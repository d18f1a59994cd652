// Finds the fields a CEL rule reads that may be absent when the rule runs. A field is surely present
// when its object is and the schema makes it required or gives it a default (defaulting fills it
// before validation); otherwise the rule must test it with has() first: `has(x) && x…`, `!has(x) || x…`,
// `has(x) ? x… : …`, or `has(x) == has(y) && (!has(x) || … y …)`. Reading an absent field is a CEL
// runtime error ("no such key"), which the apiserver reports as a refusal of the object.
import { children, parseRule } from '../k8s-emulator/cel-static.js';

type Expr = any;

interface Facts {
  present: Set<string>;
  /** Pairs (a, b) with has(a) == has(b). */
  same: [string, string][];
}

/** The dotted path of a select chain rooted at self or oldSelf (e.g. "self.storage.size"), else undefined. */
function pathOf(e: Expr): string | undefined {
  const kind = e?.exprKind?.case;
  if (kind === 'identExpr') return e.exprKind.value.name === 'self' || e.exprKind.value.name === 'oldSelf' ? e.exprKind.value.name : undefined;
  if (kind !== 'selectExpr' || e.exprKind.value.testOnly) return undefined;
  const base = pathOf(e.exprKind.value.operand);
  return base === undefined ? undefined : `${base}.${e.exprKind.value.field}`;
}

/** The path tested by has(path), else undefined. */
function hasPath(e: Expr): string | undefined {
  if (e?.exprKind?.case !== 'selectExpr' || !e.exprKind.value.testOnly) return undefined;
  const base = pathOf(e.exprKind.value.operand);
  return base === undefined ? undefined : `${base}.${e.exprKind.value.field}`;
}

function call(e: Expr, fn: string): Expr[] | undefined {
  return e?.exprKind?.case === 'callExpr' && e.exprKind.value.function === fn ? e.exprKind.value.args : undefined;
}

function closed(facts: Facts): Facts {
  const present = new Set(facts.present);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [a, b] of facts.same) {
      if (present.has(a) && !present.has(b)) { present.add(b); grew = true; }
      if (present.has(b) && !present.has(a)) { present.add(a); grew = true; }
    }
  }
  return { present, same: facts.same };
}

/** What e being true tells about presence. */
function whenTrue(e: Expr): Facts {
  const tested = hasPath(e);
  if (tested) return { present: new Set([tested]), same: [] };
  const and = call(e, '_&&_');
  if (and) return merge(whenTrue(and[0]), whenTrue(and[1]));
  const eq = call(e, '_==_');
  if (eq) {
    const [a, b] = [hasPath(eq[0]), hasPath(eq[1])];
    if (a && b) return { present: new Set(), same: [[a, b]] };
  }
  const not = call(e, '!_');
  if (not) return whenFalse(not[0]);
  return { present: new Set(), same: [] };
}

/** What e being false tells about presence. */
function whenFalse(e: Expr): Facts {
  const not = call(e, '!_');
  if (not) return whenTrue(not[0]);
  const or = call(e, '_||_');
  if (or) return merge(whenFalse(or[0]), whenFalse(or[1]));
  return { present: new Set(), same: [] };
}

function merge(a: Facts, b: Facts): Facts {
  return { present: new Set([...a.present, ...b.present]), same: [...a.same, ...b.same] };
}

/** Schema of a dotted path below the rule's schema, or undefined. */
function schemaAt(root: any, path: string[]): any {
  let s = root;
  for (const field of path) {
    if (!s || s.type !== 'object') return undefined;
    s = typeof s.additionalProperties === 'object' ? s.additionalProperties : s.properties?.[field];
  }
  return s;
}

function surelyPresent(root: any, path: string, facts: Facts): boolean {
  if (path === 'self' || path === 'oldSelf') return true;
  if (closed(facts).present.has(path)) return true;
  const parts = path.split('.');
  const parentPath = parts.slice(0, -1).join('.');
  const field = parts[parts.length - 1];
  const parent = schemaAt(root, parts.slice(1, -1));
  if (!parent || parent.type !== 'object' || typeof parent.additionalProperties === 'object') return false;
  const child = parent.properties?.[field];
  const guaranteed = (parent.required ?? []).includes(field) || (child && child.default !== undefined);
  return guaranteed && surelyPresent(root, parentPath, facts);
}

function visit(e: Expr, root: any, facts: Facts, out: Set<string>): void {
  if (!e) return;
  const and = call(e, '_&&_');
  if (and) { visit(and[0], root, facts, out); visit(and[1], root, merge(facts, whenTrue(and[0])), out); return; }
  const or = call(e, '_||_');
  if (or) { visit(or[0], root, facts, out); visit(or[1], root, merge(facts, whenFalse(or[0])), out); return; }
  const ternary = call(e, '_?_:_');
  if (ternary) {
    visit(ternary[0], root, facts, out);
    visit(ternary[1], root, merge(facts, whenTrue(ternary[0])), out);
    visit(ternary[2], root, merge(facts, whenFalse(ternary[0])), out);
    return;
  }
  const read = pathOf(e);
  if (read && read !== 'self' && read !== 'oldSelf' && !surelyPresent(root, read, facts)) out.add(read);
  const tested = hasPath(e);
  if (tested) {
    // has(a.b) reads a: a must be present.
    const parent = tested.split('.').slice(0, -1).join('.');
    if (parent !== 'self' && parent !== 'oldSelf' && !surelyPresent(root, parent, facts)) out.add(parent);
    return;
  }
  for (const c of children(e)) visit(c, root, facts, out);
}

/** Paths (self.… / oldSelf.…) that rule reads without knowing they are present, on a value of schema. */
export function unguardedReads(rule: string, schema: any): string[] {
  const out = new Set<string>();
  visit(parseRule(rule).expr, schema, { present: new Set(), same: [] }, out);
  return [...out].sort();
}

/** Every x-kubernetes-validations rule of a schema with the schema it applies to and its path. */
export function rulesOf(schema: any, path = ''): { path: string; schema: any; rule: string }[] {
  if (!schema || typeof schema !== 'object') return [];
  const here = (schema['x-kubernetes-validations'] ?? []).map((r: any) => ({ path: path || '<root>', schema, rule: String(r.rule) }));
  const below = [
    ...Object.entries(schema.properties ?? {}).flatMap(([k, v]) => rulesOf(v, `${path}.${k}`)),
    ...(schema.items ? rulesOf(schema.items, `${path}[*]`) : []),
    ...(typeof schema.additionalProperties === 'object' ? rulesOf(schema.additionalProperties, `${path}[*]`) : []),
  ];
  return [...here, ...below];
}
