// Checks the meta state machine's input: decodeMetaCommand round-trips well-formed commands and
// refuses malformed ones with JADE_ERR_BAD_REQUEST; apply() never throws, whatever the entry holds
// (fast-check: random bytes and random JSON in the commands' shapes), and a refused entry leaves
// the state as it was, so a bad command in the log is the same error result on every replay.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MetaStateMachine, decodeMetaCommand, encodeMetaCommand, type MetaCommand } from '../../node/src/cluster/meta.js';

const PARAMS = { dimension: 4, metric: 'cosine' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const NODE = { id: 'n0', incarnation: 'abcd1234', restUrl: 'http://10.0.0.1:8080', grpcAddress: '10.0.0.1:9090', labels: {}, joinedAtMs: 1 };
const entry = (index: number, data: Uint8Array) => ({ index, term: 1, type: 'normal' as const, data });
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

const GOOD: MetaCommand[] = [
  { op: 'init', clusterId: '0123456789abcdef0123456789abcdef', node: NODE },
  { op: 'addNode', node: { ...NODE, id: 'n1' } },
  { op: 'createCollection', collection: { name: 'c', params: PARAMS, createdAtMs: 5, replicationFactor: 1, writeConsistency: 'majority', shards: [{ groupId: 'c-c-5-s0', range: { start: 0, end: 2 ** 32 }, founders: ['n0#abcd1234'], replicas: ['n0#abcd1234'] }] } },
  { op: 'deleteCollection', name: 'c' },
];

describe('decodeMetaCommand', () => {
  it('round-trips well-formed commands', () => {
    for (const c of GOOD) expect(decodeMetaCommand(encodeMetaCommand(c))).toEqual(c);
  });

  it.each([
    ['not JSON', new Uint8Array([0xff, 0x00, 0x7b])],
    ['an array', json([1])],
    ['no op', json({})],
    ['addNode without a node', json({ op: 'addNode' })],
    ['a node with a bad URL', json({ op: 'addNode', node: { ...NODE, restUrl: 'ftp://x' } })],
    ['a collection without shards', json({ op: 'createCollection', collection: { ...(GOOD[2] as { collection: object }).collection, shards: [] } })],
    ['a bad metric', json({ op: 'createCollection', collection: { ...(GOOD[2] as { collection: object }).collection, params: { ...PARAMS, metric: 'manhattan' } } })],
    ['a bad name', json({ op: 'deleteCollection', name: '../etc' })],
  ])('refuses %s with JADE_ERR_BAD_REQUEST', (_what, bytes) => {
    expect(() => decodeMetaCommand(bytes)).toThrow(expect.objectContaining({ code: 'JADE_ERR_BAD_REQUEST' }));
  });
});

describe('MetaStateMachine.apply', () => {
  it('never throws on any entry, and a refused one changes nothing', () => {
    const sm = new MetaStateMachine();
    for (const [i, c] of GOOD.slice(0, 3).entries()) expect(sm.apply(entry(i + 1, encodeMetaCommand(c)))).toMatchObject({ ok: true });
    const before = JSON.stringify(sm.state);
    const shaped = fc.record({
      op: fc.constantFrom('init', 'addNode', 'setNodeAddress', 'removeNode', 'createCollection', 'deleteCollection'),
      node: fc.oneof(fc.jsonValue(), fc.constant(NODE)),
      collection: fc.oneof(fc.jsonValue(), fc.constant({ name: 'x', params: { dimension: -1 } })),
      name: fc.jsonValue(),
      nodeId: fc.jsonValue(),
      clusterId: fc.jsonValue(),
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.jsonValue().map(json), shaped.map(json)), (bytes) => {
        const result = sm.apply(entry(10, bytes));
        if (!result.ok) expect(JSON.stringify(sm.state)).toBe(before);
        else sm.restore(new TextEncoder().encode(before)); // a command that happened to be well formed: undo it
      }),
      { numRuns: 500, seed: 11 },
    );
  });
});
