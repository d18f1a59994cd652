// Defaulting and validation of custom resources against their schema, the way the apiserver does it
// (defaults first, then structure, then CEL rules via their TypeScript twins). The operator uses it to
// refuse specs an older CRD let through; tests use it to prove the schema and the CEL rules agree.
import { applyDefaults } from './schema.js';
import type { JSONSchemaProps } from './schema.js';
import { vectorClusterSpecSchema } from './types.js';
import type { DefaultedSpec, VectorClusterSpec } from './types.js';

export interface FieldError {
  path: string;
  message: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export { applyDefaults };

export function defaultSpec(spec: VectorClusterSpec | undefined): DefaultedSpec {
  return applyDefaults(vectorClusterSpecSchema, spec ?? {}) as DefaultedSpec;
}

/** Validates value (already defaulted) and, for updates, the transition rules against old. */
export function validate(schema: JSONSchemaProps, value: unknown, old?: unknown, path = ''): FieldError[] {
  const errors: FieldError[] = [];
  const here = path || '<root>';
  const fail = (message: string) => errors.push({ path: here, message });
  if (value === undefined || value === null) return errors;
  if (schema['x-kubernetes-int-or-string']) {
    if (typeof value !== 'string' && !Number.isInteger(value)) fail('must be an integer or a string');
  }
  switch (schema.type) {
    case 'string': if (typeof value !== 'string') { fail('must be a string'); return errors; } break;
    case 'integer': if (!Number.isInteger(value)) { fail('must be an integer'); return errors; } break;
    case 'number': if (typeof value !== 'number' || !Number.isFinite(value)) { fail('must be a number'); return errors; } break;
    case 'boolean': if (typeof value !== 'boolean') { fail('must be a boolean'); return errors; } break;
    case 'array': if (!Array.isArray(value)) { fail('must be an array'); return errors; } break;
    case 'object': if (!isPlainObject(value)) { fail('must be an object'); return errors; } break;
    default: break;
  }
  if (typeof value === 'string') {
    if (schema.enum && !schema.enum.includes(value)) fail(`must be one of ${schema.enum.join(', ')}`);
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) fail(`must match ${schema.pattern}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) fail(`must be at most ${schema.maxLength} characters`);
    if (schema.minLength !== undefined && value.length < schema.minLength) fail(`must be at least ${schema.minLength} characters`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) fail(`must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) fail(`must be <= ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`must have at most ${schema.maxItems} items`);
    if (schema.minItems !== undefined && value.length < schema.minItems) fail(`must have at least ${schema.minItems} items`);
    if (schema.items) value.forEach((item, i) => errors.push(...validate(schema.items!, item, undefined, `${path}[${i}]`)));
  }
  if (isPlainObject(value)) {
    const oldObj = isPlainObject(old) ? old : undefined;
    if (schema.maxProperties !== undefined && Object.keys(value).length > schema.maxProperties) fail(`must have at most ${schema.maxProperties} properties`);
    for (const key of schema.required ?? []) if (value[key] === undefined) errors.push({ path: `${path}.${key}`, message: 'Required value' });
    if (schema.properties) {
      for (const [key, child] of Object.entries(value)) {
        const childSchema = schema.properties[key];
        if (!childSchema) {
          if (!schema['x-kubernetes-preserve-unknown-fields']) errors.push({ path: `${path}.${key}`, message: 'unknown field' });
          continue;
        }
        errors.push(...validate(childSchema, child, oldObj?.[key], `${path}.${key}`));
      }
    } else if (schema.additionalProperties) {
      for (const [key, child] of Object.entries(value)) errors.push(...validate(schema.additionalProperties, child, oldObj?.[key], `${path}.${key}`));
    }
  }
  if (errors.length === 0) {
    for (const rule of schema['x-kubernetes-validations'] ?? []) {
      if (rule.transition && (old === undefined || old === null)) continue;
      // A twin that throws (e.g. reads an absent field) fails, as the CEL rule's evaluation error does.
      let holds: boolean;
      try { holds = rule.check(value, old); } catch { holds = false; }
      if (!holds) errors.push({ path: rule.fieldPath ? `${path}${rule.fieldPath}` : here, message: rule.message });
    }
  }
  return errors;
}

/**
 * Defaults the apiserver would refuse when the CRD is created: it validates every default (under
 * properties and items) as written, against its schema and the rules at and below it, with oldSelf
 * bound to the default itself, so transition rules run too.
 */
export function invalidDefaults(schema: JSONSchemaProps, path = ''): FieldError[] {
  const errors: FieldError[] = [];
  if (schema.default !== undefined && schema.default !== null) errors.push(...validate(schema, schema.default, schema.default, `${path}.default`));
  if (schema.items) errors.push(...invalidDefaults(schema.items, `${path}.items`));
  for (const [key, child] of Object.entries(schema.properties ?? {})) errors.push(...invalidDefaults(child, `${path}.properties[${key}]`));
  return errors;
}

/** Defaults then validates a VectorCluster spec; old is the previous spec on updates. */
export function validateClusterSpec(spec: VectorClusterSpec, old?: VectorClusterSpec): FieldError[] {
  const oldDefaulted = old === undefined ? undefined : defaultSpec(old);
  return validate(vectorClusterSpecSchema, defaultSpec(spec), oldDefaulted, 'spec');
}
