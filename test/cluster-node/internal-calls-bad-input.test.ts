// Every internal method a node serves (forwarded writes, group status and waits, membership, shard
// reads) answers malformed arguments with a coded JADE_ERR_BAD_REQUEST (a filter that does not
// parse with JADE_ERR_BAD_FILTER, an unknown group with JADE_ERR_UNAVAILABLE) instead of an
// internal error or a silent acceptance, and the node serves correct calls after them, with nothing stored changed. Callers are authenticated cluster members (the cluster
// secret); the checks guard against version skew and bugs, which would otherwise surface as
// opaque internal errors or, for unbounded sizes, as a stalled event loop.
import { afterEach, describe, expect, it } from 'vitest';
import { PROPOSE_METHOD } from '../../node/src/cluster/router.js';
import { SHARD_METHODS, serveShardReads } from '../../node/src/query/shard-rpc.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const PARAMS = { dimension: 2, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const cluster = new ThreeNodes();

afterEach(async () => {
  await cluster.cleanUp();
});

const vec = (...xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
const okSearch = { k: 3, filter: null, exact: true, withPayload: true, withVector: false };

describe('internal calls with malformed arguments', () => {
  it('are refused with a coded error, and the node answers correct calls after them', async () => {
    await cluster.startAll();
    for (const n of cluster.running.values()) serveShardReads(n);
    const groupId = await cluster.create('v', PARAMS);
    await cluster.write('v', { ops: [{ kind: 'upsert', points: [1, 2, 3].map((id) => ({ id, vector: Float32Array.from([id, 0]), payload: { id } })) }] });
    const [from, to] = [cluster.node('n0'), 'n1'];
    const call = (method: string, json: unknown, binary?: Uint8Array) => from.rpc.call(cluster.address(to), method, { json, binary }, Date.now() + 5_000);
    const call0 = { groupId, consistency: 'strong' };

    const bad: [string, string, unknown, Uint8Array?][] = [
      ['propose: no arguments', PROPOSE_METHOD, null],
      ['propose: ack of a kind that does not exist', PROPOSE_METHOD, { groupId, ack: 'all' }, vec(1)],
      ['waitApplied: arguments not an object', 'group.waitApplied', [1, 2]],
      ['waitApplied: a negative index', 'group.waitApplied', { groupId, index: -1 }],
      ['waitApplied: a fractional index', 'group.waitApplied', { groupId, index: 1.5 }],
      ['status: no arguments', 'group.status', null],
      ['announce: no arguments', 'cluster.announce', null],
      ['join: no arguments', 'cluster.join', null],
      ['join: a node record that is not one', 'cluster.join', { node: { id: 'n0', incarnation: 5, grpcAddress: [] } }],
      ['removePeer: no arguments', 'cluster.removePeer', null],
      ['removePeer: force not a boolean', 'cluster.removePeer', { nodeId: 'n2', force: 'yes' }],
      ['search: no arguments', SHARD_METHODS.search, null],
      ['search: consistency of a kind that does not exist', SHARD_METHODS.search, { groupId, consistency: 'linear', requests: [okSearch] }, vec(0, 0)],
      ['search: requests not a list', SHARD_METHODS.search, { ...call0, requests: 'all' }],
      ['search: a request that is not an object', SHARD_METHODS.search, { ...call0, requests: [null] }, vec(0, 0)],
      ['search: k not an integer', SHARD_METHODS.search, { ...call0, requests: [{ ...okSearch, k: 'ten' }] }, vec(0, 0)],
      ['search: k beyond the limit', SHARD_METHODS.search, { ...call0, requests: [{ ...okSearch, k: 1e12 }] }, vec(0, 0)],
      ['search: a negative ef', SHARD_METHODS.search, { ...call0, requests: [{ ...okSearch, ef: -4 }] }, vec(0, 0)],
      ['search: withPayload of the wrong shape', SHARD_METHODS.search, { ...call0, requests: [{ ...okSearch, withPayload: { include: 'id' } }] }, vec(0, 0)],
      ['search: a score threshold that is not a number', SHARD_METHODS.search, { ...call0, requests: [{ ...okSearch, scoreThreshold: 'high' }] }, vec(0, 0)],
      ['search: a filter that does not parse', SHARD_METHODS.search, { ...call0, requests: [{ ...okSearch, filter: { must: 7 } }] }, vec(0, 0)],
      ['search: vectors of the wrong length', SHARD_METHODS.search, { ...call0, requests: [okSearch] }, vec(0, 0, 0)],
      ['retrieve: ids not a list', SHARD_METHODS.retrieve, { ...call0, ids: 7, withPayload: true, withVector: false }],
      ['retrieve: an id that is not one', SHARD_METHODS.retrieve, { ...call0, ids: [-1], withPayload: true, withVector: false }],
      ['retrieve: too many ids', SHARD_METHODS.retrieve, { ...call0, ids: Array.from({ length: 200_001 }, (_, i) => i), withPayload: true, withVector: false }],
      ['scroll: no request', SHARD_METHODS.scroll, { ...call0 }],
      ['scroll: a limit that is not an integer', SHARD_METHODS.scroll, { ...call0, request: { offset: null, limit: 'all', filter: null, withPayload: true, withVector: false } }],
      ['scroll: an offset that is not an id', SHARD_METHODS.scroll, { ...call0, request: { offset: { id: 1 }, limit: 5, filter: null, withPayload: true, withVector: false } }],
      ['count: a filter that does not parse', SHARD_METHODS.count, { ...call0, filter: { should: 'x' } }],
      ['info: no group', SHARD_METHODS.info, { consistency: 'strong' }],
    ];
    const wrong: string[] = [];
    for (const [what, method, json, binary] of bad) {
      const outcome = await call(method, json, binary).then(
        () => 'accepted',
        (e: { code?: string; message?: string }) => (e.code === 'JADE_ERR_BAD_REQUEST' || e.code === 'JADE_ERR_BAD_FILTER' ? null : `${e.code}: ${e.message}`),
      );
      if (outcome) wrong.push(`${what} → ${outcome}`);
    }
    expect(wrong).toEqual([]);
    await expect(call('group.status', { groupId: 'no-such-group' }), 'an unknown group').rejects.toMatchObject({ code: 'JADE_ERR_UNAVAILABLE' });
    await expect(call(SHARD_METHODS.count, { groupId: 'no-such-group', consistency: 'strong', filter: null }), 'reads of an unknown group').rejects.toMatchObject({ code: 'JADE_ERR_UNAVAILABLE' });

    // Correct calls still work and see every point as written.
    const searched = await call(SHARD_METHODS.search, { ...call0, requests: [okSearch] }, vec(0, 0));
    expect((searched.json as { hits: { id: number }[][] }).hits[0].map((h) => h.id)).toEqual([1, 2, 3]);
    const counted = await call(SHARD_METHODS.count, { ...call0, filter: null });
    expect((counted.json as { count: number }).count).toBe(3);
    await waitFor('the group to go on', () => cluster.leaderOf(groupId));
    await cluster.write('v', { ops: [{ kind: 'delete', ids: [3] }] }, cluster.node('n2'));
    const after = await call(SHARD_METHODS.count, { ...call0, filter: null });
    expect((after.json as { count: number }).count).toBe(2);
    expect(cluster.running.size).toBe(3);
  }, 60_000);
});
