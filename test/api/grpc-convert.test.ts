// The gRPC API's conversions (node/src/api/grpc/convert.ts): every proto filter condition becomes
// the Qdrant filter JSON the shards parse (and parseFilter accepts it), payload values round-trip
// with integers kept integers, and what is not implemented is refused naming the field.
import { create } from '@bufbuild/protobuf';
import { FilterSchema, ValueSchema, type Condition } from '@qdrant/js-client-grpc';
import { describe, expect, it } from 'vitest';
import { filterIn, payloadIn, payloadOut, pointIdIn, pointIdOut, valueIn } from '../../node/src/api/grpc/convert.js';
import { matchFilter, parseFilter } from '../../node/src/shard/filter.js';
import { loadConfig } from '../../node/src/config.js';

const field = (key: string, rest: Record<string, unknown>): Condition => ({ conditionOneOf: { case: 'field', value: { key, ...rest } } }) as unknown as Condition;
const match = (key: string, c: string, value: unknown) => field(key, { match: { matchValue: { case: c, value } } });
const filter = (f: { must?: Condition[]; should?: Condition[]; mustNot?: Condition[]; minShould?: unknown }) => create(FilterSchema, f as never);

describe('gRPC filter conversion', () => {
  it('turns every supported condition into the REST filter JSON', () => {
    const f = filter({
      must: [
        match('city', 'keyword', 'Paris'),
        match('n', 'integer', 7n),
        match('ok', 'boolean', true),
        match('text', 'text', 'quick fox'),
        match('tags', 'keywords', { strings: ['a', 'b'] }),
        match('ids', 'integers', { integers: [1n, 2n] }),
        match('not_tags', 'exceptKeywords', { strings: ['x'] }),
        match('not_ids', 'exceptIntegers', { integers: [9n] }),
        field('price', { range: { gte: 1.5, lt: 10 } }),
        field('list', { valuesCount: { gt: 2n } }),
        { conditionOneOf: { case: 'isNull', value: { key: 'gone' } } } as unknown as Condition,
        { conditionOneOf: { case: 'isEmpty', value: { key: 'empty' } } } as unknown as Condition,
        { conditionOneOf: { case: 'hasId', value: { hasId: [pointIdOut(3), pointIdOut('6f9619ff-8b86-d011-b42d-00cf4fc964ff')] } } } as unknown as Condition,
        { conditionOneOf: { case: 'filter', value: { should: [match('a', 'keyword', 'x')], must: [], mustNot: [] } } } as unknown as Condition,
      ],
      mustNot: [field('flag', { isEmpty: false })],
      minShould: { conditions: [match('c', 'keyword', 'y'), match('d', 'keyword', 'z')], minCount: 1n },
    });
    const json = filterIn(f);
    expect(json).toEqual({
      must: [
        { key: 'city', match: { value: 'Paris' } },
        { key: 'n', match: { value: 7 } },
        { key: 'ok', match: { value: true } },
        { key: 'text', match: { text: 'quick fox' } },
        { key: 'tags', match: { any: ['a', 'b'] } },
        { key: 'ids', match: { any: [1, 2] } },
        { key: 'not_tags', match: { except: ['x'] } },
        { key: 'not_ids', match: { except: [9] } },
        { key: 'price', range: { gte: 1.5, lt: 10 } },
        { key: 'list', values_count: { gt: 2 } },
        { is_null: { key: 'gone' } },
        { is_empty: { key: 'empty' } },
        { has_id: [3, '6f9619ff-8b86-d011-b42d-00cf4fc964ff'] },
        { should: [{ key: 'a', match: { value: 'x' } }] },
      ],
      must_not: [{ must_not: [{ is_empty: { key: 'flag' } }] }],
      min_should: { conditions: [{ key: 'c', match: { value: 'y' } }, { key: 'd', match: { value: 'z' } }], min_count: 1 },
    });
    // The shards' parser takes it as it is, and it filters as it says.
    const parsed = parseFilter(json)!;
    expect(matchFilter(parseFilter(filterIn(filter({ must: [match('n', 'integer', 7n)], mustNot: [field('flag', { isEmpty: false })] })))!, { id: 1, payload: { n: 7 } })).toBe(true);
    expect(matchFilter(parseFilter(filterIn(filter({ must: [match('n', 'integer', 7n)], mustNot: [field('flag', { isEmpty: false })] })))!, { id: 1, payload: { n: 7, flag: 'x' } })).toBe(false);
    expect(parsed.must).toHaveLength(14);
    expect(filterIn(undefined)).toBeUndefined();
  });

  it('refuses what it does not implement, naming the field', () => {
    expect(() => filterIn(filter({ must: [field('loc', { geoRadius: { center: { lat: 0, lon: 0 }, radius: 1 } })] }))).toThrow(/filter\.must\[0\]\.field\.geo_radius/);
    expect(() => filterIn(filter({ must: [match('t', 'phrase', 'a b')] }))).toThrow(/match\.phrase/);
    expect(() => filterIn(filter({ should: [{ conditionOneOf: { case: 'nested', value: { key: 'a', filter: {} } } } as unknown as Condition] }))).toThrow(/nested/);
    expect(() => filterIn(filter({ must: [{ conditionOneOf: { case: 'hasVector', value: { hasVector: 'v' } } } as unknown as Condition] }))).toThrow(/has_vector/);
    expect(() => filterIn(filter({ must: [field('k', {})] }))).toThrow(/exactly one of/);
    expect(() => filterIn(filter({ must: [match('n', 'integer', 2n ** 60n)] }))).toThrow(/2\^53/);
  });
});

describe('gRPC payload and id conversion', () => {
  it('round-trips payloads, keeping integers integers', () => {
    const payload = { name: 'x', n: 3, f: 1.25, ok: false, none: null, list: [1, 'a', { deep: [true] }], obj: { a: { b: 2 } } };
    const out = payloadOut(payload);
    expect(out.n.kind).toEqual({ case: 'integerValue', value: 3n });
    expect(out.f.kind).toEqual({ case: 'doubleValue', value: 1.25 });
    expect(payloadIn(out, 'payload')).toEqual(payload);
    expect(() => valueIn(create(ValueSchema, { kind: { case: 'doubleValue', value: Number.NaN } }), 'payload.x')).toThrow(/finite/);
  });

  it('takes numeric and UUID ids and refuses ids beyond 2^53 - 1', () => {
    expect(pointIdIn(pointIdOut(42), 'id')).toBe(42);
    expect(pointIdIn(pointIdOut('6F9619FF8B86D011B42D00CF4FC964FF'), 'id')).toBe('6f9619ff-8b86-d011-b42d-00cf4fc964ff');
    expect(() => pointIdIn({ pointIdOptions: { case: 'num', value: 2n ** 53n } } as never, 'id')).toThrow(/2\^53/);
    expect(() => pointIdIn(undefined, 'id')).toThrow(/num or uuid/);
  });
});

describe('JADE_API_GRPC_PORT', () => {
  it('defaults to 6334 for a served node, takes 0 and off, and refuses the REST port', () => {
    expect(loadConfig({}).apiGrpcPort).toBe(6334);
    expect(loadConfig({ JADE_API_GRPC_PORT: '0' }).apiGrpcPort).toBe(0);
    expect(loadConfig({ JADE_API_GRPC_PORT: 'off' }).apiGrpcPort).toBeNull();
    expect(loadConfig({}, { apiGrpcPort: '7334' }).apiGrpcPort).toBe(7334);
    expect(() => loadConfig({ JADE_API_GRPC_PORT: '8080' })).toThrow(/JADE_API_GRPC_PORT \(8080\) is the port of JADE_PORT/);
    expect(() => loadConfig({ JADE_API_GRPC_PORT: 'x' })).toThrow(/apiGrpcPort/);
  });
});
