// What the apiserver checks in a CustomResourceDefinition's schemas before it accepts it
// (apiextensions-apiserver pkg/apis/apiextensions/validation/validation.go and pkg/apiserver/schema):
// 1. the schema is structural (ValidateStructural), 2. every default, as written, is pruned and valid
// against its schema and CEL rules, with oldSelf bound to the default (defaulting/validation.go),
// 3. the OpenAPI keywords and x-kubernetes-* extensions are used as allowed, 4. each CEL rule compiles
// (syntax, fields of self/oldSelf), uses oldSelf only where old values correlate, and stays within the
// estimated cost limits. Causes are worded and ordered like the apiserver's.
import { invalid as invalidError, type FieldCause } from './errors.js';
import { canonicalJson, clone } from './patch.js';
import { compileRule, prune, validateValue } from './schema.js';
import { parseRule, undefinedFieldErrors, usesOldSelf } from './cel-static.js';
import {
  STATIC_ESTIMATED_COST_LIMIT, STATIC_ESTIMATED_CRD_COST_LIMIT, childCardinalityFactor, costErrorMessage, estimateRuleCost, unboundedCardinality,
} from './cel-cost.js';

type Level = 'root' | 'item' | 'field';

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function sortedEntries(o: unknown): [string, any][] {
  return isObject(o) ? Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : [];
}

/** A value as Go's field errors print it: strings quoted, maps and slices as %#v of decoded JSON. */
export function goValue(v: unknown, nested = false): string {
  if (v === null || v === undefined) return nested ? 'interface {}(nil)' : 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[]interface {}{${v.map((x) => goValue(x, true)).join(', ')}}`;
  return `map[string]interface {}{${sortedEntries(v).map(([k, x]) => `${JSON.stringify(k)}:${goValue(x, true)}`).join(', ')}}`;
}

const required = (field: string, detail = ''): FieldCause => ({ field, reason: 'FieldValueRequired', message: `${field}: Required value${detail ? `: ${detail}` : ''}` });
const forbidden = (field: string, detail: string): FieldCause => ({ field, reason: 'FieldValueForbidden', message: `${field}: Forbidden: ${detail}` });
const invalid = (field: string, value: unknown, detail: string, shown = goValue(value)): FieldCause => ({ field, reason: 'FieldValueInvalid', message: `${field}: Invalid value: ${shown}: ${detail}` });
const notSupported = (field: string, value: unknown, values: string[]): FieldCause => ({
  field, reason: 'FieldValueNotSupported', message: `${field}: Unsupported value: ${goValue(value)}: supported values: ${values.map((x) => JSON.stringify(x)).join(', ')}`,
});

// ---------------------------------------------------------------------------------------------
// 1. Structural schema (schema/validation.go: validateStructuralInvariants and completeness)

function isIntOrStringAnyOf(anyOf: unknown): boolean {
  return canonicalJson(anyOf) === canonicalJson([{ type: 'integer' }, { type: 'string' }]);
}

const nestedForbidden: [string, (v: any) => boolean, string][] = [
  ['type', (v) => typeof v.type === 'string' && v.type !== '', 'must be empty to be structural'],
  ['default', (v) => v.default !== undefined, 'must be undefined to be structural'],
  ['title', (v) => !!v.title, 'must be empty to be structural'],
  ['description', (v) => !!v.description, 'must be empty to be structural'],
  ['nullable', (v) => v.nullable === true, 'must be false to be structural'],
  ['externalDocs', (v) => v.externalDocs !== undefined, 'must be undefined to be structural'],
  ['x-kubernetes-preserve-unknown-fields', (v) => v['x-kubernetes-preserve-unknown-fields'] === true, 'must be false to be structural'],
  ['x-kubernetes-embedded-resource', (v) => v['x-kubernetes-embedded-resource'] === true, 'must be false to be structural'],
  ['x-kubernetes-int-or-string', (v) => v['x-kubernetes-int-or-string'] === true, 'must be false to be structural'],
  ['x-kubernetes-list-map-keys', (v) => (v['x-kubernetes-list-map-keys'] ?? []).length > 0, 'must be empty to be structural'],
  ['x-kubernetes-list-type', (v) => v['x-kubernetes-list-type'] !== undefined, 'must be undefined to be structural'],
  ['x-kubernetes-map-type', (v) => v['x-kubernetes-map-type'] !== undefined, 'must be undefined to be structural'],
  ['x-kubernetes-validations', (v) => (v['x-kubernetes-validations'] ?? []).length > 0, 'must be empty to be structural'],
];

/** Go's regexp is RE2: no lookaround, no backreferences. */
function regexpError(pattern: string): string | undefined {
  const perl = /\(\?<?[=!]|\\[1-9]/.exec(pattern);
  if (perl) return `error parsing regexp: invalid or unsupported Perl syntax: \`${perl[0]}\``;
  try {
    new RegExp(pattern);
  } catch (e) {
    return `error parsing regexp: ${(e as Error).message}`;
  }
  return undefined;
}

/** anyOf/allOf/oneOf/not: only value validations, no structure of their own. */
function valueValidation(s: any, skipAnyOf: boolean, skipFirstAllOfAnyOf: boolean, path: string, out: FieldCause[]): void {
  if (!skipAnyOf) (s.anyOf ?? []).forEach((n: any, i: number) => nestedValueValidation(n, false, `${path}.anyOf[${i}]`, out));
  (s.allOf ?? []).forEach((n: any, i: number) => nestedValueValidation(n, skipFirstAllOfAnyOf && i === 0, `${path}.allOf[${i}]`, out));
  (s.oneOf ?? []).forEach((n: any, i: number) => nestedValueValidation(n, false, `${path}.oneOf[${i}]`, out));
  if (isObject(s.not)) nestedValueValidation(s.not, false, `${path}.not`, out);
  if (typeof s.pattern === 'string' && s.pattern !== '') {
    const error = regexpError(s.pattern);
    if (error) out.push(invalid(`${path}.pattern`, s.pattern, `must be a valid regular expression, but isn't: ${error}`));
  }
}

function nestedValueValidation(n: any, skipAnyOf: boolean, path: string, out: FieldCause[]): void {
  if (!isObject(n)) return;
  valueValidation(n, skipAnyOf, false, path, out);
  if (isObject(n.items)) nestedValueValidation(n.items, false, `${path}.items`, out);
  for (const [k, p] of sortedEntries(n.properties)) nestedValueValidation(p, false, `${path}.properties[${k}]`, out);
  if (n.additionalProperties !== undefined) out.push(forbidden(`${path}.additionalProperties`, 'must be undefined to be structural'));
  for (const [key, present, detail] of nestedForbidden) if (present(n)) out.push(forbidden(`${path}.${key}`, detail));
  if (isObject(n.properties) && n.properties.metadata !== undefined) out.push(forbidden(`${path}.properties[metadata]`, 'must not be specified in a nested context'));
}

/** Fields and items named inside value validations must exist in the structural part too. */
function completeness(s: any, nested: any, where: string, path: string, out: FieldCause[]): void {
  if (!isObject(nested)) return;
  for (const [k, p] of sortedEntries(nested.properties)) {
    if (!isObject(s?.properties?.[k])) out.push(required(`${path}.properties[${k}]`, `because it is defined in ${where}.properties[${k}]`));
    else completeness(s.properties[k], p, `${where}.properties[${k}]`, `${path}.properties[${k}]`, out);
  }
  if (isObject(nested.items)) {
    if (!isObject(s?.items)) out.push(required(`${path}.items`, `because it is defined in ${where}.items`));
    else completeness(s.items, nested.items, `${where}.items`, `${path}.items`, out);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf']) (nested[key] ?? []).forEach((n: any, i: number) => completeness(s, n, `${where}.${key}[${i}]`, path, out));
  if (isObject(nested.not)) completeness(s, nested.not, `${where}.not`, path, out);
}

function structural(s: any, lvl: Level, path: string, out: FieldCause[]): void {
  if (!isObject(s)) return;
  if (s.type === 'array' && s.items === undefined) out.push(required(`${path}.items`, 'must be specified'));
  if (isObject(s.items)) structural(s.items, 'item', `${path}.items`, out);
  for (const [k, p] of sortedEntries(s.properties)) structural(p, 'field', `${path}.properties[${k}]`, out);
  if (s.additionalProperties !== undefined) {
    if (lvl === 'root') out.push(forbidden(`${path}.additionalProperties`, 'must not be used at the root'));
    if (isObject(s.additionalProperties)) structural(s.additionalProperties, 'field', `${path}.additionalProperties`, out);
  }
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  if (intOrString && preserve) out.push(invalid(`${path}.x-kubernetes-preserve-unknown-fields`, true, 'must be false if x-kubernetes-int-or-string is true'));
  if (intOrString && embedded) out.push(invalid(`${path}.x-kubernetes-embedded-resource`, true, 'must be false if x-kubernetes-int-or-string is true'));
  valueValidation(s, isIntOrStringAnyOf(s.anyOf), isIntOrStringAnyOf(s.allOf?.[0]?.anyOf), path, out);
  for (const key of ['allOf', 'anyOf', 'oneOf']) (s[key] ?? []).forEach((n: any, i: number) => completeness(s, n, `${key}[${i}]`, path, out));
  if (isObject(s.not)) completeness(s, s.not, 'not', path, out);

  const type = typeof s.type === 'string' ? s.type : '';
  if (embedded && type !== 'object') {
    if (type === '') out.push(required(`${path}.type`, 'must be object if x-kubernetes-embedded-resource is true'));
    else out.push(invalid(`${path}.type`, type, 'must be object if x-kubernetes-embedded-resource is true'));
  } else if (type === '' && !intOrString && !preserve) {
    const detail = { root: 'must not be empty at the root', item: 'must not be empty for specified array items', field: 'must not be empty for specified object fields' }[lvl];
    out.push(required(`${path}.type`, detail));
  }
  if (embedded && s.additionalProperties !== undefined) out.push(forbidden(`${path}.additionalProperties`, 'must not be used if x-kubernetes-embedded-resource is set'));
  if (lvl === 'root' && type !== '' && type !== 'object') out.push(invalid(`${path}.type`, type, 'must be object at the root'));

  const checkMetadata = lvl === 'root' || embedded;
  const props = isObject(s.properties) ? s.properties : {};
  for (const key of ['kind', 'apiVersion']) {
    if (checkMetadata && isObject(props[key]) && props[key].type !== 'string') out.push(invalid(`${path}.properties[${key}].type`, props[key].type ?? '', 'must be string'));
  }
  if (isObject(props.metadata)) {
    const m = props.metadata;
    const mPath = `${path}.properties[metadata]`;
    if (checkMetadata && m.type !== 'object') out.push(invalid(`${mPath}.type`, m.type ?? '', 'must be object'));
    if (lvl === 'root') {
      // Only name and generateName may be restricted; the apiserver validates the rest of metadata itself.
      const names = Object.keys(isObject(m.properties) ? m.properties : {});
      const onlyNames = names.every((n) => n === 'name' || n === 'generateName');
      const others = Object.keys(m).filter((k) => k !== 'type' && k !== 'default' && k !== 'properties');
      if (!onlyNames || others.length > 0) out.push(forbidden(mPath, 'must not specify anything other than name and generateName, but metadata is implicitly specified'));
    }
  }
  if (embedded && !preserve && Object.keys(props).length === 0) {
    out.push(required(`${path}.properties`, 'must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields'));
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Defaults (schema/defaulting/validation.go)

/** Re-roots causes of a value validated at '' under the default's path, as ValidateCustomResource(pth.Child("default")) does. */
function underDefault(causes: FieldCause[], defaultPath: string): FieldCause[] {
  return causes.map((c) => {
    const field = c.field ? `${defaultPath}.${c.field}` : defaultPath;
    const body = c.message.startsWith(`${c.field}: `) ? c.message.slice(c.field.length + 2) : c.message.replace(/^(<nil>)?: /, '');
    return { ...c, field, message: `${field}: ${body}` };
  });
}

/**
 * The apiserver validates each default as written (its fields' defaults are not filled in first):
 * it must already be pruned, pass the OpenAPI validation of its schema and then the CEL rules of its
 * schema and of every schema below it, evaluated with oldSelf bound to the default itself (so
 * transition rules run too). Defaults under additionalProperties and inside metadata are not checked.
 */
export function defaultCauses(s: any, path: string, out: FieldCause[], insideMeta = false): void {
  if (!isObject(s)) return;
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  if (embedded) insideMeta = false;
  if (s.default !== undefined && s.default !== null && !insideMeta) {
    const defaultPath = `${path}.default`;
    const value = s.default;
    if (canonicalJson(prune(s, clone(value), embedded)) !== canonicalJson(value)) out.push(invalid(defaultPath, value, 'must not have unknown fields'));
    const schemaCauses: FieldCause[] = [];
    validateValue(s, value, undefined, '', schemaCauses, { cel: false });
    if (schemaCauses.length > 0) {
      out.push(...underDefault(schemaCauses, defaultPath));
    } else {
      const celCauses: FieldCause[] = [];
      validateValue(s, value, value, '', celCauses);
      out.push(...underDefault(celCauses, defaultPath));
    }
  }
  if (isObject(s.items)) defaultCauses(s.items, `${path}.items`, out, insideMeta);
  for (const [k, p] of sortedEntries(s.properties)) {
    defaultCauses(p, `${path}.properties[${k}]`, out, insideMeta || (embedded && ['metadata', 'apiVersion', 'kind'].includes(k)));
  }
}

// ---------------------------------------------------------------------------------------------
// 3 and 4. OpenAPI keywords, x-kubernetes-* extensions, CEL rules (ValidateCustomResourceDefinitionOpenAPISchema)

const openapiV3Types = ['array', 'boolean', 'integer', 'number', 'object', 'string'];
const supportedReasons = ['FieldValueDuplicate', 'FieldValueForbidden', 'FieldValueInvalid', 'FieldValueRequired'];
const metaFields = new Set(['metadata', 'kind', 'apiVersion']);

interface SchemaContext {
  allowDefaults: boolean;
  disallowDefaultsReason?: string;
  insideMeta: boolean;
  /** Path of the nearest ancestor under which old and new values cannot be correlated (oldSelf forbidden). */
  uncorrelatable?: string;
  /** undefined: CEL checks are off (the schema is not structural or a default is invalid). */
  cel?: { cardinality: number | undefined; total: { cost: number; expensive: { path: string; cost: number }[] } };
  isRoot: boolean;
}

/** The rule as Go prints apiextensions.ValidationRule with %#v. */
function goRule(r: any): string {
  const ptr = (v: unknown, type: string) => (v === undefined ? `(${type})(nil)` : `(${type})(${goValue(v)})`);
  return `apiextensions.ValidationRule{Rule:${JSON.stringify(String(r.rule ?? ''))}, Message:${JSON.stringify(String(r.message ?? ''))}, `
    + `MessageExpression:${JSON.stringify(String(r.messageExpression ?? ''))}, Reason:${ptr(r.reason, '*apiextensions.FieldValueErrorReason')}, `
    + `FieldPath:${JSON.stringify(String(r.fieldPath ?? ''))}, OptionalOldSelf:${ptr(r.optionalOldSelf, '*bool')}}`;
}

/** cel.ValidFieldPath: `.a.b` or `['a']` steps through properties (or map keys). */
function validFieldPath(s: any, fieldPath: string): boolean {
  const tokens = fieldPath.match(/'(?:[^'\\]|\\.)*'|[.[\]]|[^.[\]']+/g) ?? [];
  let node = s;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    let name: string;
    if (t === '.') name = tokens[++i] ?? '';
    else if (t === '[') {
      const quoted = tokens[++i] ?? '';
      if (!/^'.*'$/.test(quoted) || tokens[++i] !== ']') return false;
      name = quoted.slice(1, -1).replace(/\\(.)/g, '$1');
    } else return false;
    if (!name) return false;
    if (isObject(node?.properties)) {
      node = node.properties[name];
      if (!node) return false;
    } else if (isObject(node?.additionalProperties)) node = node.additionalProperties;
    else return false;
  }
  return tokens.length > 0;
}

function childCel(ctx: SchemaContext, parent: any): SchemaContext['cel'] {
  if (!ctx.cel) return undefined;
  const factor = childCardinalityFactor(parent);
  const cardinality = ctx.cel.cardinality === undefined || factor === undefined ? undefined : ctx.cel.cardinality * factor;
  return { ...ctx.cel, cardinality };
}

function ruleCauses(s: any, path: string, ctx: SchemaContext, schemaErrorsBelow: boolean, schemaOut: FieldCause[], celOut: FieldCause[]): void {
  const rules: any[] = s['x-kubernetes-validations'] ?? [];
  rules.forEach((r, i) => {
    const rPath = `${path}.x-kubernetes-validations[${i}]`;
    const rule = String(r.rule ?? '');
    const message = r.message === undefined ? '' : String(r.message);
    const hasNewline = (x: string) => /[\n\r]/.test(x);
    if (rule.trim() === '') schemaOut.push(required(`${rPath}.rule`, 'rule is not specified'));
    else if (message.length > 0 && message.trim() === '') schemaOut.push(invalid(`${rPath}.message`, message, 'message must be non-empty if specified'));
    else if (hasNewline(message.trim())) schemaOut.push(invalid(`${rPath}.message`, message, 'message must not contain line breaks'));
    else if (hasNewline(rule.trim()) && message.trim() === '') schemaOut.push(required(`${rPath}.message`, 'message must be specified if rule contains line breaks'));
    if (r.messageExpression !== undefined && String(r.messageExpression).length > 0 && String(r.messageExpression).trim() === '') {
      schemaOut.push(required(`${rPath}.messageExpression`, 'messageExpression must be non-empty if specified'));
    }
    if (r.reason !== undefined && !supportedReasons.includes(r.reason)) schemaOut.push(notSupported(`${rPath}.reason`, r.reason, supportedReasons));
    if (r.fieldPath !== undefined) {
      const fp = String(r.fieldPath);
      if (fp.length > 0 && fp.trim() === '') schemaOut.push(invalid(`${rPath}.fieldPath`, fp, 'fieldPath must be non-empty if specified'));
      if (hasNewline(fp)) schemaOut.push(invalid(`${rPath}.fieldPath`, fp, 'fieldPath must not contain line breaks'));
      if (fp.length > 0 && !validFieldPath(s, fp)) schemaOut.push(invalid(`${rPath}.fieldPath`, fp, 'fieldPath must be a valid path'));
    }
  });
  if (schemaErrorsBelow || schemaOut.length > 0 || !ctx.cel) return;
  rules.forEach((r, i) => {
    const rPath = `${path}.x-kubernetes-validations[${i}]`;
    const rule = String(r.rule ?? '');
    if (rule.trim() === '') return;
    try {
      parseRule(rule);
      compileRule(rule);
    } catch (e) {
      celOut.push(invalid(`${rPath}.rule`, r, `compilation failed: ${(e as Error).message}`, goRule(r)));
      return;
    }
    const undefinedFields = undefinedFieldErrors(rule, s, ctx.isRoot);
    if (undefinedFields.length > 0) {
      celOut.push(invalid(`${rPath}.rule`, r, `compilation failed: ${undefinedFields.join('\n')}`, goRule(r)));
      return;
    }
    const perCall = estimateRuleCost(rule, s, ctx.isRoot);
    const estimated = perCall * (ctx.cel!.cardinality ?? unboundedCardinality(s));
    if (estimated > STATIC_ESTIMATED_COST_LIMIT) celOut.push(forbidden(`${rPath}.rule`, costErrorMessage('estimated rule cost', estimated, STATIC_ESTIMATED_COST_LIMIT)));
    const total = ctx.cel!.total;
    total.cost += estimated;
    if (estimated >= STATIC_ESTIMATED_CRD_COST_LIMIT / 100) {
      total.expensive.push({ path: `${rPath}.rule`, cost: estimated });
      total.expensive.sort((a, b) => b.cost - a.cost);
      total.expensive.length = Math.min(total.expensive.length, 4);
    }
    if (r.messageExpression !== undefined && String(r.messageExpression).trim() !== '') {
      try {
        compileRule(String(r.messageExpression));
      } catch (e) {
        celOut.push(invalid(`${rPath}.messageExpression`, r, `messageExpression compilation failed: ${(e as Error).message}`, goRule(r)));
      }
    }
    if (usesOldSelf(rule)) {
      if (ctx.uncorrelatable !== undefined) celOut.push(invalid(`${rPath}.rule`, rule, `oldSelf cannot be used on the uncorrelatable portion of the schema within ${ctx.uncorrelatable}`));
    } else if (r.optionalOldSelf !== undefined) {
      celOut.push(invalid(`${rPath}.optionalOldSelf`, r.optionalOldSelf, 'may not be set if oldSelf is not used in rule'));
    }
  });
}

function openApiSchema(s: any, path: string, ctx: SchemaContext, schemaOut: FieldCause[], celOut: FieldCause[]): void {
  if (!isObject(s)) return;
  const mine: FieldCause[] = [];
  const below: FieldCause[] = [];
  if (typeof s.type === 'string' && s.type !== '' && !openapiV3Types.includes(s.type)) mine.push(notSupported(`${path}.type`, s.type, openapiV3Types));
  if (s.default !== undefined && !ctx.allowDefaults) mine.push(forbidden(`${path}.default`, `must not be set${ctx.disallowDefaultsReason ? ` ${ctx.disallowDefaultsReason}` : ''}`));
  if (s.id !== undefined && s.id !== '') mine.push(forbidden(`${path}.id`, 'id is not supported'));
  if (s.additionalItems !== undefined) mine.push(forbidden(`${path}.additionalItems`, 'additionalItems is not supported'));
  if (isObject(s.patternProperties) && Object.keys(s.patternProperties).length > 0) mine.push(forbidden(`${path}.patternProperties`, 'patternProperties is not supported'));
  if (isObject(s.definitions) && Object.keys(s.definitions).length > 0) mine.push(forbidden(`${path}.definitions`, 'definitions is not supported'));
  if (s.dependencies !== undefined) mine.push(forbidden(`${path}.dependencies`, 'dependencies is not supported'));
  if (s.$ref !== undefined) mine.push(forbidden(`${path}.$ref`, '$ref is not supported'));
  if (s.type === 'null') mine.push(forbidden(`${path}.type`, 'type cannot be set to null, use nullable as an alternative'));
  if (Array.isArray(s.items)) mine.push(forbidden(`${path}.items`, 'items must be a schema object and not an array'));
  if (ctx.insideMeta && s['x-kubernetes-embedded-resource'] === true) mine.push(forbidden(`${path}.x-kubernetes-embedded-resource`, 'must not be used inside of resource meta'));
  if (s.uniqueItems === true) mine.push(forbidden(`${path}.uniqueItems`, 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic'));

  const props = isObject(s.properties) ? s.properties : {};
  const child = (extra: Partial<SchemaContext>): SchemaContext => ({ ...ctx, isRoot: false, cel: childCel(ctx, s), ...extra });
  if (s.additionalProperties !== undefined) {
    if (Object.keys(props).length > 0 && s.additionalProperties !== true) {
      mine.push(forbidden(`${path}.additionalProperties`, 'additionalProperties and properties are mutual exclusive'));
    }
    const sub = ctx.insideMeta ? { allowDefaults: false, disallowDefaultsReason: 'inside additionalProperties applying to object metadata' } : {};
    openApiSchema(s.additionalProperties, `${path}.additionalProperties`, child(sub), below, celOut);
  }
  const mapType = s['x-kubernetes-map-type'];
  for (const [k, p] of sortedEntries(props)) {
    const sub: Partial<SchemaContext> = {};
    if (!(mapType === undefined || mapType === 'granular' || mapType === 'atomic')) sub.uncorrelatable = ctx.uncorrelatable ?? path;
    if ((ctx.isRoot || s['x-kubernetes-embedded-resource'] === true) && metaFields.has(k)) {
      sub.insideMeta = true;
      if (ctx.isRoot) Object.assign(sub, { allowDefaults: false, disallowDefaultsReason: `in top-level ${k}` });
    }
    openApiSchema(p, `${path}.properties[${k}]`, child(sub), below, celOut);
  }
  if (isObject(s.not)) openApiSchema(s.not, `${path}.not`, { ...ctx, isRoot: false, cel: undefined }, below, celOut);
  for (const key of ['allOf', 'oneOf', 'anyOf']) {
    (s[key] ?? []).forEach((n: any, i: number) => openApiSchema(n, `${path}.${key}[${i}]`, { ...ctx, isRoot: false, cel: undefined }, below, celOut));
  }
  const listType = s['x-kubernetes-list-type'];
  if (isObject(s.items)) {
    openApiSchema(s.items, `${path}.items`, child({ uncorrelatable: listType === 'map' ? ctx.uncorrelatable : ctx.uncorrelatable ?? path }), below, celOut);
  }

  if (s['x-kubernetes-preserve-unknown-fields'] === false) mine.push(invalid(`${path}.x-kubernetes-preserve-unknown-fields`, false, 'must be true or undefined'));
  const typeRequiredOr = (detail: string) => mine.push(s.type ? invalid(`${path}.type`, s.type, detail) : required(`${path}.type`, detail));
  if (mapType !== undefined && s.type !== 'object') typeRequiredOr('must be object if x-kubernetes-map-type is specified');
  if (mapType !== undefined && mapType !== 'atomic' && mapType !== 'granular') mine.push(notSupported(`${path}.x-kubernetes-map-type`, mapType, ['atomic', 'granular']));
  const items = isObject(s.items) ? s.items : undefined;
  if (listType !== undefined && s.type !== 'array') typeRequiredOr('must be array if x-kubernetes-list-type is specified');
  else if (listType === 'set' && items) {
    if (items.type === 'array' && items['x-kubernetes-list-type'] !== undefined && items['x-kubernetes-list-type'] !== 'atomic') {
      mine.push(invalid(`${path}.items.x-kubernetes-list-type`, items['x-kubernetes-list-type'], 'must be atomic as item of a list with x-kubernetes-list-type=set'));
    }
    if (items.type === 'object' && items['x-kubernetes-map-type'] !== 'atomic') {
      mine.push(invalid(`${path}.items.x-kubernetes-map-type`, items['x-kubernetes-list-type'] ?? null, 'must be atomic as item of a list with x-kubernetes-list-type=set'));
    }
  }
  if (listType !== undefined && !['atomic', 'set', 'map'].includes(listType)) mine.push(notSupported(`${path}.x-kubernetes-list-type`, listType, ['atomic', 'set', 'map']));
  const keys: string[] = s['x-kubernetes-list-map-keys'] ?? [];
  if (keys.length > 0) {
    if (listType === undefined) mine.push(required(`${path}.x-kubernetes-list-type`, 'must be map if x-kubernetes-list-map-keys is non-empty'));
    else if (listType !== 'map') mine.push(invalid(`${path}.x-kubernetes-list-type`, listType, 'must be map if x-kubernetes-list-map-keys is non-empty'));
  }
  if (listType === 'map') {
    if (keys.length === 0) mine.push(required(`${path}.x-kubernetes-list-map-keys`, 'must not be empty if x-kubernetes-list-type is map'));
    if (s.items === undefined) mine.push(required(`${path}.items`, 'must have a schema if x-kubernetes-list-type is map'));
    if (Array.isArray(s.items)) mine.push(invalid(`${path}.items`, s.items, 'must only have a single schema if x-kubernetes-list-type is map'));
    if (items && items.type !== 'object') mine.push(invalid(`${path}.items.type`, items.type ?? '', "must be object if parent array's x-kubernetes-list-type is map"));
    if (items && items.type === 'object') {
      const seen = new Set<string>();
      for (const k of keys) {
        const p = items.properties?.[k];
        if (p) {
          if (p.type === 'array' || p.type === 'object') mine.push(invalid(`${path}.items.properties[${k}].type`, items.type, "must be a scalar type if parent array's x-kubernetes-list-type is map"));
        } else mine.push(invalid(`${path}.x-kubernetes-list-map-keys`, keys, 'entries must all be names of item properties'));
        if (seen.has(k)) mine.push(invalid(`${path}.x-kubernetes-list-map-keys`, keys, 'must not contain duplicate entries'));
        seen.add(k);
      }
    }
  }
  if (items && (listType === 'set' || listType === 'map')) {
    if (items.nullable === true) mine.push(forbidden(`${path}.items.nullable`, `cannot be nullable when x-kubernetes-list-type is ${listType}`));
    if (listType === 'map') {
      for (const k of keys) {
        const p = items.properties?.[k];
        if (!p) continue;
        if (!(items.required ?? []).includes(k) && p.default === undefined) {
          mine.push(required(`${path}.items.properties[${k}].default`, 'this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property'));
        }
        if (p.nullable === true) mine.push(forbidden(`${path}.items.properties[${k}].nullable`, 'this property is in x-kubernetes-list-map-keys, so it cannot be nullable'));
      }
    }
  }
  const mineCel: FieldCause[] = [];
  ruleCauses(s, path, ctx, below.length > 0 || mine.length > 0, mine, mineCel);
  schemaOut.push(...mine, ...below);
  celOut.push(...mineCel);
}

// ---------------------------------------------------------------------------------------------

const rootStatusKeys = new Set([
  'description', 'type', 'format', 'title', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern',
  'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'required', 'items', 'properties', 'externalDocs', 'example',
  'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-validations',
]);
const rootStatusNames = '[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]';

/** validateCustomResourceDefinitionValidation for one openAPIV3Schema at path. */
export function schemaCauses(schema: any, path: string, statusEnabled: boolean): FieldCause[] {
  const out: FieldCause[] = [];
  if (statusEnabled) {
    if (schema.type !== undefined && schema.type !== 'object') out.push(invalid(`${path}.type`, schema.type, 'only "object" is allowed as the type at the root of the schema if the status subresource is enabled'));
    else if (Object.keys(schema).some((k) => k !== 'type' && !rootStatusKeys.has(k))) out.push(invalid(path, schema, `only ${rootStatusNames} fields are allowed at the root of the schema if the status subresource is enabled`));
  }
  if (schema.nullable === true) out.push(forbidden(`${path}.nullable`, 'nullable cannot be true at the root'));
  const structuralCauses: FieldCause[] = [];
  structural(schema, 'root', path, structuralCauses);
  structuralCauses.sort((a, b) => (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
  out.push(...structuralCauses);
  let celOn = false;
  if (structuralCauses.length === 0) {
    const defaults: FieldCause[] = [];
    // The resource root is validated as an embedded resource: its metadata, apiVersion and kind are "meta".
    defaultCauses({ ...schema, 'x-kubernetes-embedded-resource': true }, path, defaults);
    out.push(...defaults);
    celOn = defaults.length === 0;
  }
  const schemaOut: FieldCause[] = [];
  const celOut: FieldCause[] = [];
  const total = { cost: 0, expensive: [] as { path: string; cost: number }[] };
  openApiSchema(schema, path, { allowDefaults: true, insideMeta: false, isRoot: true, cel: celOn ? { cardinality: 1, total } : undefined }, schemaOut, celOut);
  out.push(...schemaOut, ...celOut);
  if (celOn && total.cost > STATIC_ESTIMATED_CRD_COST_LIMIT) {
    for (const e of total.expensive) out.push(forbidden(e.path, 'contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema'));
    out.push(forbidden(path, costErrorMessage('x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema', total.cost, STATIC_ESTIMATED_CRD_COST_LIMIT)));
  }
  return out;
}

/**
 * Every schema cause of a CRD. Like the apiserver's internal form, versions that share one schema are
 * checked once under spec.validation.openAPIV3Schema, otherwise each under spec.versions[i].schema.
 */
export function crdSchemaCauses(crd: any): FieldCause[] {
  const versions: any[] = Array.isArray(crd?.spec?.versions) ? crd.spec.versions : [];
  const out: FieldCause[] = [];
  versions.forEach((v, i) => {
    if (!isObject(v?.schema?.openAPIV3Schema)) out.push(required(`spec.versions[${i}].schema.openAPIV3Schema`, 'schemas are required'));
  });
  if (out.length > 0 || versions.length === 0) return out;
  const schemas = versions.map((v) => v.schema.openAPIV3Schema);
  const statusOf = (v: any) => isObject(v.subresources) && v.subresources.status !== undefined && v.subresources.status !== null;
  if (schemas.every((s) => canonicalJson(s) === canonicalJson(schemas[0]))) {
    return schemaCauses(schemas[0], 'spec.validation.openAPIV3Schema', versions.some(statusOf));
  }
  versions.forEach((v, i) => out.push(...schemaCauses(v.schema.openAPIV3Schema, `spec.versions[${i}].schema.openAPIV3Schema`, statusOf(v))));
  return out;
}

/** Throws the apiserver's 422 when the CRD's schemas would be refused. */
export function checkCrdSchemas(crd: any): void {
  const causes = crdSchemaCauses(crd);
  if (causes.length > 0) throw invalidError('CustomResourceDefinition', 'apiextensions.k8s.io', String(crd?.metadata?.name ?? ''), causes);
}
