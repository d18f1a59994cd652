// Checks the emulator's CRD-creation checks against what kube-apiserver does: the VectorCluster CRD a
// real v1.32 server refused (issue 10) is refused with the same two causes, the repository's CRDs pass,
// and each family of apiserver checks (defaults as written with oldSelf = the default, structural
// schema rules, x-kubernetes-* constraints, CEL compilation, oldSelf correlation, cost limits) refuses
// a small schema that breaks it, with the apiserver's path and wording, and accepts the fixed one.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkCrdSchemas, crdSchemaCauses } from './crd-check.js';
import { ApiError } from './errors.js';
import { estimateRuleCost } from './cel-cost.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const P = 'spec.validation.openAPIV3Schema';

function crdWith(spec: any, opts: { status?: boolean; versions?: any[] } = {}): any {
  const schema = { type: 'object', properties: { spec } };
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'things.test.jadevectordb.io' },
    spec: {
      group: 'test.jadevectordb.io', scope: 'Namespaced', names: { plural: 'things', singular: 'thing', kind: 'Thing' },
      versions: opts.versions ?? [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema }, ...(opts.status ? { subresources: { status: {} } } : {}) }],
    },
  };
}
const messages = (spec: any) => crdSchemaCauses(crdWith(spec)).map((c) => c.message);

describe('the VectorCluster CRD of issue 10', () => {
  it('is refused with the two causes a real kube-apiserver v1.32 gave', () => {
    const crd = parse(readFileSync(path.join(here, 'fixtures/vectorclusters-refused-by-apiserver.yaml'), 'utf8'));
    const causes = crdSchemaCauses(crd);
    expect(causes.map((c) => c.message)).toEqual([
      `${P}.properties[spec].properties[node].properties[ports].default: Invalid value: "object": no such key: rest evaluating rule: node.ports.rest and node.ports.grpc must differ`,
      `${P}.properties[spec].properties[storage].default: Invalid value: "object": no such key: size evaluating rule: storage.size cannot be decreased`,
    ]);
    expect(causes.map((c) => c.field)).toEqual([`${P}.properties[spec].properties[node].properties[ports].default`, `${P}.properties[spec].properties[storage].default`]);
    let error: unknown;
    try { checkCrdSchemas(crd); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe(422);
    expect((error as ApiError).message).toBe(`CustomResourceDefinition.apiextensions.k8s.io "vectorclusters.jadevectordb.io" is invalid: [${causes.map((c) => c.message).join(', ')}]`);
  });

  for (const dir of ['crds', 'helm/jadevectordb-operator/crds']) {
    it(`every CRD in ${dir}/ passes`, () => {
      const files = readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.yaml'));
      expect(files.length).toBe(3);
      for (const f of files) expect(crdSchemaCauses(parse(readFileSync(path.join(root, dir, f), 'utf8'))), f).toEqual([]);
    });
  }
});

describe('defaults are validated as written when the CRD is created', () => {
  const ports = (dflt: unknown) => ({
    type: 'object', properties: { ports: {
      type: 'object', default: dflt,
      properties: { rest: { type: 'integer', default: 8080 }, grpc: { type: 'integer', default: 9090 } },
      'x-kubernetes-validations': [{ rule: 'self.rest != self.grpc', message: 'ports must differ' }],
    } },
  });

  it('does not fill the fields\' defaults into a default first', () => {
    expect(messages(ports({}))).toEqual([`${P}.properties[spec].properties[ports].default: Invalid value: "object": no such key: rest evaluating rule: ports must differ`]);
    expect(messages(ports({ rest: 8080, grpc: 9090 }))).toEqual([]);
    expect(messages(ports({ rest: 1, grpc: 1 }))).toEqual([`${P}.properties[spec].properties[ports].default: Invalid value: "object": ports must differ`]);
  });

  it('evaluates transition rules on a default, with oldSelf bound to the default', () => {
    const spec = (rule: string) => ({ type: 'object', properties: { size: { type: 'string', default: '1Gi' } }, default: { size: '1Gi' }, 'x-kubernetes-validations': [{ rule, message: 'm' }] });
    expect(messages({ type: 'object', properties: { s: spec('self.size == oldSelf.size') } })).toEqual([]);
    expect(messages({ type: 'object', properties: { s: spec('self.size != oldSelf.size') } })).toEqual([`${P}.properties[spec].properties[s].default: Invalid value: "object": m`]);
  });

  it('runs the rules below a default on the parts the default has, under the default\'s path', () => {
    const spec = { ...ports(undefined), default: { ports: {} } };
    expect(messages(spec)).toEqual([`${P}.properties[spec].default.ports: Invalid value: "object": no such key: rest evaluating rule: ports must differ`]);
  });

  it('checks the OpenAPI schema before CEL, and that a default is pruned', () => {
    expect(messages({ type: 'object', properties: { n: { type: 'integer', minimum: 1, default: 0 } } }))
      .toEqual([`${P}.properties[spec].properties[n].default: Invalid value: 0:  in body should be greater than or equal to 1`]);
    expect(messages({ type: 'object', default: { n: 'x' }, properties: { n: { type: 'integer' } } }))
      .toEqual([`${P}.properties[spec].default.n: Invalid value: "string": n in body must be of type integer: "string"`]);
    expect(messages({ type: 'object', default: { n: 1, extra: true }, properties: { n: { type: 'integer' } } }))
      .toEqual([`${P}.properties[spec].default: Invalid value: map[string]interface {}{"extra":true, "n":1}: must not have unknown fields`]);
    expect(messages({ type: 'object', default: {}, required: ['n'], properties: { n: { type: 'integer' } } }))
      .toEqual([`${P}.properties[spec].default.n: Required value`]);
  });

  it('does not look at defaults under additionalProperties, like the apiserver', () => {
    expect(messages({ type: 'object', additionalProperties: { type: 'integer', minimum: 1, default: 0 } })).toEqual([]);
  });

  it('forbids defaults in top-level metadata, apiVersion and kind', () => {
    const crd = crdWith({ type: 'object' });
    crd.spec.versions[0].schema.openAPIV3Schema.properties.kind = { type: 'string', default: 'Thing' };
    expect(crdSchemaCauses(crd).map((c) => c.message)).toEqual([`${P}.properties[kind].default: Forbidden: must not be set in top-level kind`]);
  });
});

describe('structural schema and OpenAPI keyword rules', () => {
  it('requires types and items, and keeps properties and additionalProperties apart', () => {
    expect(messages({ type: 'object', properties: { a: { description: 'no type' }, b: { type: 'array' } } })).toEqual([
      `${P}.properties[spec].properties[a].type: Required value: must not be empty for specified object fields`,
      `${P}.properties[spec].properties[b].items: Required value: must be specified`,
    ]);
    expect(messages({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: { type: 'string' } }))
      .toEqual([`${P}.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`]);
    expect(messages({ type: 'object', properties: { a: { type: 'string', uniqueItems: true }, b: { type: 'blob' } } })).toEqual([
      `${P}.properties[spec].properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic`,
      `${P}.properties[spec].properties[b].type: Unsupported value: "blob": supported values: "array", "boolean", "integer", "number", "object", "string"`,
    ]);
  });

  it('keeps value validations free of structure, and every field they name in the structure', () => {
    expect(messages({ type: 'object', properties: { a: { type: 'string' } }, anyOf: [{ type: 'object', properties: { b: {} } }] })).toEqual([
      `${P}.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural`,
      `${P}.properties[spec].properties[b]: Required value: because it is defined in anyOf[0].properties[b]`,
    ]);
    expect(messages({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] })).toEqual([]);
  });

  it('restricts root metadata to name and generateName, and the root when status is a subresource', () => {
    const crd = crdWith({ type: 'object' }, { status: true });
    const s = crd.spec.versions[0].schema.openAPIV3Schema;
    s.properties.metadata = { type: 'object', properties: { labels: { type: 'object' } } };
    s.nullable = true;
    const got = crdSchemaCauses(crd).map((c) => c.message);
    expect(got[0]).toMatch(new RegExp(`^${P.replace(/\./g, '\\.')}: Invalid value: .*: only \\[Description Type .* XValidations\\] fields are allowed at the root of the schema if the status subresource is enabled$`));
    expect(got.slice(1)).toEqual([
      `${P}.nullable: Forbidden: nullable cannot be true at the root`,
      `${P}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified`,
    ]);
  });

  it('enforces the x-kubernetes-* list and map constraints', () => {
    expect(messages({ type: 'object', properties: {
      a: { type: 'object', 'x-kubernetes-list-type': 'set' },
      b: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-map-keys': ['k'] },
      c: { type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['k'], items: { type: 'object', properties: { k: { type: 'string' } } } },
      d: { type: 'array', 'x-kubernetes-list-type': 'set', items: { type: 'object', properties: { k: { type: 'string' } } } },
      e: { type: 'string', 'x-kubernetes-preserve-unknown-fields': false },
    } })).toEqual([
      `${P}.properties[spec].properties[a].type: Invalid value: "object": must be array if x-kubernetes-list-type is specified`,
      `${P}.properties[spec].properties[b].x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty`,
      `${P}.properties[spec].properties[c].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property`,
      `${P}.properties[spec].properties[d].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set`,
      `${P}.properties[spec].properties[e].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined`,
    ]);
  });
});

describe('CEL rules at CRD creation', () => {
  const withRule = (rule: any, props: any = { n: { type: 'integer' } }) => ({ type: 'object', properties: props, 'x-kubernetes-validations': [rule] });

  it('refuses a rule that does not parse or selects a field the schema does not declare', () => {
    const [syntax] = messages(withRule({ rule: 'self.n >' }));
    expect(syntax).toMatch(/^spec\.validation\.openAPIV3Schema\.properties\[spec\]\.x-kubernetes-validations\[0\]\.rule: Invalid value: apiextensions\.ValidationRule\{Rule:"self\.n >", .*\}: compilation failed: /);
    const [undefinedField] = messages(withRule({ rule: 'self.m > 0', message: 'm' }));
    expect(undefinedField).toContain(": compilation failed: ERROR: <input>:1:5: undefined field 'm'\n | self.m > 0\n | ....^");
    expect(messages(withRule({ rule: 'has(self.n) && self.n > 0' }))).toEqual([]);
    expect(messages(withRule({ rule: "self.labels.all(k, k != '')" }, { labels: { type: 'object', maxProperties: 8, additionalProperties: { type: 'string', maxLength: 63 } } }))).toEqual([]);
  });

  it('checks message, reason and fieldPath', () => {
    expect(messages(withRule({ rule: 'self.n > 0', message: 'two\nlines', reason: 'Nope', fieldPath: '.m' }))).toEqual([
      `${P}.properties[spec].x-kubernetes-validations[0].message: Invalid value: "two\\nlines": message must not contain line breaks`,
      `${P}.properties[spec].x-kubernetes-validations[0].reason: Unsupported value: "Nope": supported values: "FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"`,
      `${P}.properties[spec].x-kubernetes-validations[0].fieldPath: Invalid value: ".m": fieldPath must be a valid path`,
    ]);
    expect(messages(withRule({ rule: 'self.n > 0', fieldPath: '.n' }))).toEqual([]);
  });

  it('allows oldSelf only where old values correlate (not under atomic or set lists)', () => {
    const items = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 10 } }, 'x-kubernetes-validations': [{ rule: 'self.name == oldSelf.name' }] };
    expect(messages({ type: 'object', properties: { list: { type: 'array', maxItems: 5, items } } }))
      .toEqual([`${P}.properties[spec].properties[list].items.x-kubernetes-validations[0].rule: Invalid value: "self.name == oldSelf.name": oldSelf cannot be used on the uncorrelatable portion of the schema within ${P}.properties[spec].properties[list]`]);
    expect(messages({ type: 'object', properties: { list: { type: 'array', maxItems: 5, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], items } } })).toEqual([]);
  });

  it('refuses rules whose estimated cost exceeds the limits, and accepts them once bounded', () => {
    const list = (bounds: any) => ({ type: 'object', properties: { tags: { type: 'array', items: { type: 'string', ...bounds.item }, ...bounds.list, 'x-kubernetes-validations': [{ rule: "self.all(t, t.contains('abc'))" }] } } });
    expect(messages(list({ item: {}, list: {} }))).toEqual([
      `${P}.properties[spec].properties[tags].x-kubernetes-validations[0].rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)`,
      `${P}.properties[spec].properties[tags].x-kubernetes-validations[0].rule: Forbidden: contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema`,
      `${P}: Forbidden: x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema exceeds budget by factor of more than 100x (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)`,
    ]);
    expect(messages(list({ item: { maxLength: 64 }, list: { maxItems: 32 } }))).toEqual([]);
    // A cheap rule on each item of an unbounded list is fine; an expensive one runs once per possible item.
    const perItem = (rule: string) => ({ type: 'object', properties: { tags: { type: 'array', items: { type: 'string', 'x-kubernetes-validations': [{ rule }] } } } });
    expect(messages(perItem("self != ''"))).toEqual([]);
    expect(messages(perItem("self.contains('abc')"))[0]).toContain('estimated rule cost exceeds budget by factor of more than 100x');
  });
});

describe('cost estimate', () => {
  it('equals cel-go\'s on simple rules (worked through checker/cost.go by hand)', () => {
    // ident self (1) + ceil(100 * 0.1) * ceil(3 * 0.1) = 11
    expect(estimateRuleCost("self.contains('abc')", { type: 'string', maxLength: 100 }, false)).toBe(11);
    // self (1) + 10 * (@not_strictly_false(@result): 2 + @result && t.startsWith('a'): 1 + 1 + ceil(0.1)) + @result (1) = 52
    expect(estimateRuleCost("self.all(t, t.startsWith('a'))", { type: 'array', maxItems: 10, items: { type: 'string' } }, false)).toBe(52);
    // has() costs 1 plus its operand; equality of integers adds nothing to its operands (self.a: 2, 1: 0)
    expect(estimateRuleCost('has(self.a) && self.a == 1', { type: 'object', properties: { a: { type: 'integer' } } }, false)).toBe(4);
  });
});

describe('where the causes point', () => {
  it('checks versions sharing one schema once under spec.validation, else each under spec.versions[i]', () => {
    const bad = { type: 'object', properties: { spec: { type: 'object', properties: { a: {} } } } };
    const good = { type: 'object', properties: { spec: { type: 'object' } } };
    const version = (name: string, schema: any, storage: boolean) => ({ name, served: true, storage, schema: { openAPIV3Schema: schema } });
    expect(crdSchemaCauses(crdWith(null, { versions: [version('v1', bad, true), version('v2', bad, false)] })).map((c) => c.field))
      .toEqual([`${P}.properties[spec].properties[a].type`]);
    expect(crdSchemaCauses(crdWith(null, { versions: [version('v1', good, true), version('v2', bad, false)] })).map((c) => c.field))
      .toEqual(['spec.versions[1].schema.openAPIV3Schema.properties[spec].properties[a].type']);
    expect(crdSchemaCauses(crdWith(null, { versions: [{ name: 'v1', served: true, storage: true }] })).map((c) => c.message))
      .toEqual(['spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required']);
  });
});
