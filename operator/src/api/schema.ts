// A tiny typed builder for OpenAPI v3 structural schemas: each builder returns the JSON schema the CRD
// needs and carries the TypeScript type it validates, so the CRD YAML and the TS types come from one source.

export interface CelRule {
  rule: string;
  message: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
}

/** A CEL rule plus its TypeScript twin, used by the operator's own validation (a test proves they agree). */
export interface CelRuleWithCheck extends CelRule {
  /** Same meaning as `rule`; `old` is undefined unless this is a transition rule and an old value exists. */
  check: (self: any, old: any) => boolean;
  /** Transition rules mention oldSelf and run only on updates. */
  transition?: boolean;
}

export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  items?: JSONSchemaProps;
  additionalProperties?: JSONSchemaProps;
  enum?: readonly string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  pattern?: string;
  format?: string;
  nullable?: boolean;
  'x-kubernetes-validations'?: CelRuleWithCheck[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

declare const phantom: unique symbol;
/** A schema that validates values of type T (T exists only at compile time). */
export type Schema<T> = JSONSchemaProps & { readonly [phantom]?: T };
export type Static<S> = S extends Schema<infer T> ? T : never;

type Opts = Omit<JSONSchemaProps, 'type' | 'properties' | 'required' | 'items' | 'additionalProperties' | 'enum'>;
type Prettify<T> = { [K in keyof T]: T[K] } & {};

export function str(description: string, opts: Opts = {}): Schema<string> {
  return { type: 'string', description, maxLength: 253, ...opts };
}
export function enumOf<const E extends readonly string[]>(values: E, description: string, opts: Opts = {}): Schema<E[number]> {
  return { type: 'string', description, enum: values, ...opts };
}
export function int(description: string, opts: Opts = {}): Schema<number> {
  return { type: 'integer', description, ...opts };
}
export function bool(description: string, opts: Opts = {}): Schema<boolean> {
  return { type: 'boolean', description, ...opts };
}
export function intOrString(description: string, opts: Opts = {}): Schema<number | string> {
  return { 'x-kubernetes-int-or-string': true, description, ...opts };
}
export function arr<T>(items: Schema<T>, description: string, opts: Opts = {}): Schema<T[]> {
  return { type: 'array', description, items, ...opts };
}
export function map<T>(values: Schema<T>, description: string, opts: Opts = {}): Schema<Record<string, T>> {
  return { type: 'object', description, additionalProperties: values, ...opts };
}
/** An object whose fields Kubernetes keeps as given (e.g. a core/v1 Affinity we pass through). */
export function free(description: string, opts: Opts = {}): Schema<Record<string, unknown>> {
  return { type: 'object', description, 'x-kubernetes-preserve-unknown-fields': true, ...opts };
}
/**
 * An object with named fields. Its `default`, if any, is completed with its fields' defaults: the
 * apiserver validates a default as written (its fields' defaults are not filled in first) against the
 * schema and every CEL rule below it, transition rules included with oldSelf = the default, so a bare
 * `default: {}` fails any rule that reads a defaulted field. Completed, the default is exactly the value
 * defaulting gives an omitted field.
 */
export function obj<P extends Record<string, Schema<any>>, R extends keyof P & string = never>(
  properties: P,
  description: string,
  opts: Opts & { required?: readonly R[] } = {},
): Schema<Prettify<{ [K in R]: Static<P[K]> } & { [K in Exclude<keyof P, R>]?: Static<P[K]> }>> {
  const { required, ...rest } = opts;
  const out: JSONSchemaProps = { type: 'object', description, properties };
  if (required && required.length > 0) out.required = [...required];
  Object.assign(out, rest);
  if (isPlainObject(out.default)) out.default = applyDefaults({ ...out, default: undefined }, out.default);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns a copy of value with schema defaults filled in where fields are missing, as the apiserver defaults (never mutates). */
export function applyDefaults(schema: JSONSchemaProps, value: unknown): unknown {
  let v = value;
  if (v === undefined && schema.default !== undefined) v = structuredClone(schema.default);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = { ...v };
    if (schema.properties) {
      for (const [key, child] of Object.entries(schema.properties)) {
        const next = applyDefaults(child, out[key]);
        if (next !== undefined) out[key] = next;
      }
    } else if (schema.additionalProperties) {
      for (const key of Object.keys(out)) out[key] = applyDefaults(schema.additionalProperties, out[key]);
    }
    return out;
  }
  if (Array.isArray(v) && schema.items) return v.map((item) => applyDefaults(schema.items!, item));
  return v;
}

/** The schema as Kubernetes stores it: CEL twins removed, keys in a stable order. */
export function toCrdSchema(schema: JSONSchemaProps): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (value === undefined) continue;
    if (key === 'properties' || key === 'additionalProperties' || key === 'items') continue;
    if (key === 'x-kubernetes-validations') {
      out[key] = (value as CelRuleWithCheck[]).map(({ rule, message, reason, fieldPath }) => ({
        rule, message, ...(reason ? { reason } : {}), ...(fieldPath ? { fieldPath } : {}),
      }));
      continue;
    }
    out[key] = value;
  }
  if (schema.properties) {
    out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, toCrdSchema(v)]));
  }
  if (schema.items) out.items = toCrdSchema(schema.items);
  if (schema.additionalProperties) out.additionalProperties = toCrdSchema(schema.additionalProperties);
  return out;
}
