// Custom resource admission like the apiserver's: prune unknown fields, apply defaults, validate
// against the structural OpenAPI v3 schema, then evaluate x-kubernetes-validations CEL rules
// (with oldSelf for transition rules on update) using @bufbuild/cel.
import { CelScalar, celEnv, celFunc, celMethod, isCelError, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { invalid, type FieldCause } from './errors.js';
import { clone } from './patch.js';
import { usesOldSelf } from './cel-static.js';

/** Kubernetes quantity ("10Gi", "500m", "1e3") → number of base units; NaN when malformed. */
export function parseQuantity(text: string): number {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(String(text).trim());
  if (!m) return Number.NaN;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  const factors: Record<string, number> = {
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
    n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  };
  return base * (m[3] ? factors[m[3]] : 1);
}

// Subset of the Kubernetes CEL quantity library: a quantity is represented as a double of base units.
const kubernetesFuncs = [
  celFunc('quantity', [CelScalar.STRING], CelScalar.DOUBLE, (s: string) => {
    const q = parseQuantity(s);
    if (Number.isNaN(q)) throw new Error(`invalid quantity: ${s}`);
    return q;
  }),
  celFunc('isQuantity', [CelScalar.STRING], CelScalar.BOOL, (s: string) => !Number.isNaN(parseQuantity(s))),
  celMethod('compareTo', CelScalar.DOUBLE, [CelScalar.DOUBLE], CelScalar.INT, function (this: number, o: number) {
    return this < o ? -1n : this > o ? 1n : 0n;
  }),
  celMethod('isGreaterThan', CelScalar.DOUBLE, [CelScalar.DOUBLE], CelScalar.BOOL, function (this: number, o: number) { return this > o; }),
  celMethod('isLessThan', CelScalar.DOUBLE, [CelScalar.DOUBLE], CelScalar.BOOL, function (this: number, o: number) { return this < o; }),
  celMethod('asInteger', CelScalar.DOUBLE, [], CelScalar.INT, function (this: number) { return BigInt(Math.trunc(this)); }),
  celMethod('asApproximateFloat', CelScalar.DOUBLE, [], CelScalar.DOUBLE, function (this: number) { return this; }),
];

const env = celEnv({ funcs: [...strings, ...kubernetesFuncs] });
type Program = (ctx?: Record<string, any>) => unknown;
const programCacheMax = 1000;
const programCache = new Map<string, Program>();

/** Compile a CEL rule (cached); throws on a syntax error. */
export function compileRule(rule: string): Program {
  let program = programCache.get(rule);
  if (!program) {
    program = plan(env, parse(rule)) as Program;
    if (programCache.size >= programCacheMax) programCache.clear();
    programCache.set(rule, program);
  }
  return program;
}

/** Every CEL rule text of a schema (for compile checks when a CRD is installed). */
export function collectRules(schema: any, out: string[] = []): string[] {
  if (!schema || typeof schema !== 'object') return out;
  for (const v of schema['x-kubernetes-validations'] ?? []) {
    out.push(String(v.rule));
    if (v.messageExpression) out.push(String(v.messageExpression));
  }
  for (const s of Object.values(schema.properties ?? {})) collectRules(s, out);
  if (schema.items) collectRules(schema.items, out);
  if (typeof schema.additionalProperties === 'object') collectRules(schema.additionalProperties, out);
  for (const key of ['allOf', 'anyOf', 'oneOf']) for (const s of schema[key] ?? []) collectRules(s, out);
  return out;
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Remove fields the schema does not know (unless x-kubernetes-preserve-unknown-fields). */
export function prune(schema: any, value: any, isRoot = false): any {
  if (!schema || schema['x-kubernetes-int-or-string']) return value;
  if (Array.isArray(value)) return schema.items ? value.map((v) => prune(schema.items, v)) : value;
  if (!isObject(value)) return value;
  if (schema['x-kubernetes-embedded-resource'] && !isRoot) {
    // apiVersion, kind and metadata of an embedded object are always kept.
  }
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const properties = schema.properties ?? {};
  const additional = schema.additionalProperties;
  const result: Record<string, any> = {};
  for (const [key, v] of Object.entries(value)) {
    if (isRoot && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) {
      result[key] = v;
    } else if (schema['x-kubernetes-embedded-resource'] && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) {
      result[key] = v;
    } else if (properties[key]) {
      result[key] = prune(properties[key], v);
    } else if (isObject(additional)) {
      result[key] = prune(additional, v);
    } else if (additional === true || preserve) {
      result[key] = v;
    }
  }
  return result;
}

/** Apply `default` of missing properties, recursively (like the apiserver's structural defaulting). */
export function applyDefaults(schema: any, value: any): any {
  if (!schema) return value;
  if (Array.isArray(value)) return schema.items ? value.map((v) => applyDefaults(schema.items, v)) : value;
  if (!isObject(value)) return value;
  const result: Record<string, any> = { ...value };
  for (const [key, propSchema] of Object.entries<any>(schema.properties ?? {})) {
    // null of a non-nullable field is dropped before defaulting, as the apiserver does.
    if (result[key] === null && !propSchema.nullable) delete result[key];
    if (result[key] === undefined && propSchema.default !== undefined) result[key] = clone(propSchema.default);
    if (result[key] !== undefined) result[key] = applyDefaults(propSchema, result[key]);
  }
  if (isObject(schema.additionalProperties)) {
    for (const key of Object.keys(result)) {
      if (!(schema.properties ?? {})[key]) result[key] = applyDefaults(schema.additionalProperties, result[key]);
    }
  }
  return result;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function formatValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(typeName(v));
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (!path) return key;
  return /^[A-Za-z_][\w-]*$/.test(key) && !key.includes('-') ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function typeMatches(type: string, v: unknown): boolean {
  switch (type) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number';
    case 'boolean': return typeof v === 'boolean';
    default: return true;
  }
}

/** Convert JSON to CEL input guided by the schema: integers become int (bigint), objects maps. */
export function toCel(schema: any, v: any): any {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((item) => toCel(schema?.items, item));
  if (isObject(v)) {
    const m = new Map<string, any>();
    for (const [key, item] of Object.entries(v)) {
      const propSchema = schema?.properties?.[key] ?? (isObject(schema?.additionalProperties) ? schema.additionalProperties : undefined);
      m.set(key, toCel(propSchema, item));
    }
    return m;
  }
  if (typeof v === 'number') {
    const declared = schema?.type;
    if (declared === 'number') return v;
    return Number.isInteger(v) ? BigInt(v) : v;
  }
  return v;
}

function celTypeName(schema: any, v: unknown): string {
  if (schema?.type) return schema.type;
  return typeName(v);
}

function correlatedOldItem(schema: any, item: any, oldList: any): any {
  if (!Array.isArray(oldList) || schema['x-kubernetes-list-type'] !== 'map' || !isObject(item)) return undefined;
  const keys: string[] = schema['x-kubernetes-list-map-keys'] ?? [];
  return oldList.find((o) => isObject(o) && keys.every((k) => o[k] === item[k]));
}

/** cel-go's wording for the common runtime errors (@bufbuild/cel says "field not found" where cel-go says "no such key"). */
function celErrorDetail(e: unknown): string {
  const text = isCelError(e) || e instanceof Error ? (e as Error).message : `rule did not evaluate to a bool: ${String(e)}`;
  return text.replace(/^field not found: /, 'no such key: ');
}

function evaluateRules(schema: any, value: any, oldValue: any, path: string, causes: FieldCause[]): void {
  const rules = schema['x-kubernetes-validations'];
  if (!Array.isArray(rules) || rules.length === 0) return;
  const self = toCel(schema, value);
  const oldSelf = oldValue === undefined ? undefined : toCel(schema, oldValue);
  for (const r of rules) {
    const rule = String(r.rule);
    if (usesOldSelf(rule) && oldValue === undefined) continue;
    const fieldPath = r.fieldPath ? `${path}${r.fieldPath.startsWith('[') ? '' : '.'}${String(r.fieldPath).replace(/^\./, '')}` : path;
    let result: unknown;
    try {
      result = compileRule(rule)({ self, oldSelf });
    } catch (e) {
      result = e;
    }
    if (result === true) continue;
    let message: string;
    if (result !== false) {
      // Like the apiserver: an evaluation error names the rule's schema node (not fieldPath) and the rule's message.
      const ruleText = String(r.message ?? '').trim() || rule.trim();
      causes.push({ field: path, message: `${path || '<nil>'}: Invalid value: ${JSON.stringify(celTypeName(schema, value))}: ${celErrorDetail(result)} evaluating rule: ${ruleText}` });
      continue;
    }
    message = r.message ? String(r.message) : `failed rule: ${rule}`;
    if (r.messageExpression) {
      try {
        const m = compileRule(String(r.messageExpression))({ self, oldSelf });
        if (typeof m === 'string' && m !== '') message = m;
      } catch {
        // fall back to message, as the apiserver does
      }
    }
    const reason = String(r.reason ?? 'FieldValueInvalid');
    const shown = fieldPath || '<nil>';
    if (reason === 'FieldValueForbidden') causes.push({ field: fieldPath, reason, message: `${shown}: Forbidden: ${message}` });
    else if (reason === 'FieldValueRequired') causes.push({ field: fieldPath, reason, message: `${shown}: Required value: ${message}` });
    else if (reason === 'FieldValueDuplicate') causes.push({ field: fieldPath, reason, message: `${shown}: Duplicate value: ${JSON.stringify(celTypeName(schema, value))}: ${message}` });
    else causes.push({ field: fieldPath, reason, message: `${shown}: Invalid value: ${JSON.stringify(celTypeName(schema, value))}: ${message}` });
  }
}

export interface ValidateOptions {
  /** Evaluate x-kubernetes-validations (default true); the apiserver checks a CRD default's OpenAPI validity before its CEL rules. */
  cel?: boolean;
}

/** OpenAPI v3 structural validation plus CEL; appends causes formatted like the apiserver. */
export function validateValue(schema: any, value: any, oldValue: any, path: string, causes: FieldCause[], options: ValidateOptions = {}): void {
  if (!schema) return;
  if (value === null) {
    if (!schema.nullable) causes.push({ field: path, message: `${path}: Invalid value: "null": ${path} in body must be of type ${schema.type ?? 'object'}: "null"` });
    return;
  }
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  if (intOrString) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
      causes.push({ field: path, message: `${path}: Invalid value: ${formatValue(value)}: ${path} in body must be of type integer-or-string` });
      return;
    }
  } else if (schema.type && !typeMatches(schema.type, value)) {
    causes.push({ field: path, message: `${path}: Invalid value: ${JSON.stringify(typeName(value))}: ${path} in body must be of type ${schema.type}: ${JSON.stringify(typeName(value))}` });
    return;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e: unknown) => JSON.stringify(e) === JSON.stringify(value))) {
    causes.push({ field: path, reason: 'FieldValueNotSupported', message: `${path}: Unsupported value: ${formatValue(value)}: supported values: ${schema.enum.map((e: unknown) => JSON.stringify(e)).join(', ')}` });
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined) {
      const bad = schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum;
      if (bad) causes.push({ field: path, message: `${path}: Invalid value: ${value}: ${path} in body should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}` });
    }
    if (schema.maximum !== undefined) {
      const bad = schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum;
      if (bad) causes.push({ field: path, message: `${path}: Invalid value: ${value}: ${path} in body should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}` });
    }
    if (schema.multipleOf !== undefined && value % schema.multipleOf !== 0) {
      causes.push({ field: path, message: `${path}: Invalid value: ${value}: ${path} in body should be a multiple of ${schema.multipleOf}` });
    }
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (schema.maxLength !== undefined && length > schema.maxLength) {
      causes.push({ field: path, reason: 'FieldValueTooLong', message: `${path}: Too long: may not be more than ${schema.maxLength} bytes` });
    }
    if (schema.minLength !== undefined && length < schema.minLength) {
      causes.push({ field: path, message: `${path}: Invalid value: ${formatValue(value)}: ${path} in body should be at least ${schema.minLength} chars long` });
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      causes.push({ field: path, message: `${path}: Invalid value: ${formatValue(value)}: ${path} in body should match '${schema.pattern}'` });
    }
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      causes.push({ field: path, reason: 'FieldValueTooMany', message: `${path}: Too many: ${value.length}: must have at most ${schema.maxItems} items` });
    }
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      causes.push({ field: path, message: `${path}: Invalid value: ${value.length}: ${path} in body should have at least ${schema.minItems} items` });
    }
    if (schema.items) {
      value.forEach((item, i) => validateValue(schema.items, item, correlatedOldItem(schema, item, oldValue), join(path, i), causes, options));
    }
  }
  if (isObject(value)) {
    for (const key of schema.required ?? []) {
      if (value[key] === undefined) causes.push({ field: join(path, key), reason: 'FieldValueRequired', message: `${join(path, key)}: Required value` });
    }
    const count = Object.keys(value).length;
    if (schema.maxProperties !== undefined && count > schema.maxProperties) {
      causes.push({ field: path, reason: 'FieldValueTooMany', message: `${path}: Too many: ${count}: must have at most ${schema.maxProperties} items` });
    }
    if (schema.minProperties !== undefined && count < schema.minProperties) {
      causes.push({ field: path, message: `${path}: Invalid value: ${count}: ${path} in body should have at least ${schema.minProperties} properties` });
    }
    const oldObject = isObject(oldValue) ? oldValue : undefined;
    for (const [key, item] of Object.entries(value)) {
      const propSchema = schema.properties?.[key] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (propSchema) validateValue(propSchema, item, oldObject?.[key], join(path, key), causes, options);
    }
  }
  for (const sub of schema.allOf ?? []) validateValue({ ...sub, type: sub.type }, value, oldValue, path, causes, options);
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((sub: any) => collect(sub, value).length === 0)) {
    causes.push({ field: path, message: `${path}: Invalid value: ${formatValue(value)}: ${path} in body must match at least one schema in anyOf` });
  }
  if (Array.isArray(schema.oneOf) && schema.oneOf.filter((sub: any) => collect(sub, value).length === 0).length !== 1) {
    causes.push({ field: path, message: `${path}: Invalid value: ${formatValue(value)}: ${path} in body must validate one and only one schema (oneOf)` });
  }
  if (schema.not && collect(schema.not, value).length === 0) {
    causes.push({ field: path, message: `${path}: Invalid value: ${formatValue(value)}: ${path} in body must not validate the schema (not)` });
  }
  if (options.cel !== false) evaluateRules(schema, value, oldValue, path, causes);
}

function collect(schema: any, value: any): FieldCause[] {
  const causes: FieldCause[] = [];
  validateValue(schema, value, undefined, '', causes);
  return causes;
}

/** The openAPIV3Schema of a CRD version, or undefined. */
export function schemaOf(crd: any, version: string): any {
  const v = (crd.spec.versions ?? []).find((x: any) => x.name === version);
  return v?.schema?.openAPIV3Schema;
}

/**
 * Admit a custom resource for create (old undefined) or update: prune, default, validate.
 * Returns the admitted object; throws a 422 ApiError listing every cause.
 */
export function admitCustomResource(crd: any, version: string, obj: any, old: any | undefined): any {
  const schema = schemaOf(crd, version);
  if (!schema) return obj;
  const metadata = obj.metadata;
  let admitted = prune(schema, obj, true);
  admitted = applyDefaults(schema, admitted);
  admitted.metadata = metadata;
  const causes: FieldCause[] = [];
  // Root rules see apiVersion, kind and metadata.name/generateName only, like the apiserver's.
  const visibleMetadata = (m: any): any => ({
    ...(m?.name !== undefined ? { name: m.name } : {}),
    ...(m?.generateName !== undefined ? { generateName: m.generateName } : {}),
  });
  const body = { ...admitted, metadata: visibleMetadata(metadata) };
  const oldBody = old ? { ...old, metadata: visibleMetadata(old.metadata) } : undefined;
  const rootSchema = {
    ...schema,
    properties: {
      ...(schema.properties ?? {}),
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object', properties: { name: { type: 'string' }, generateName: { type: 'string' } } },
    },
  };
  validateValue(rootSchema, body, oldBody, '', causes);
  if (causes.length > 0) {
    for (const c of causes) {
      if (c.message.startsWith(': ')) c.message = `<nil>${c.message}`;
    }
    throw invalid(crd.spec.names.kind, crd.spec.group, String(metadata?.name ?? ''), causes);
  }
  return admitted;
}
