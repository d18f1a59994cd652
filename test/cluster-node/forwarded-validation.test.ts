// Checks that bytes proposed from outside a group's leader are held to the rules of a write made
// there, with three ClusterNodes in this process. Forwarded proposals (the internal call
// group.propose that forwarding uses) of a wrong-dimension vector next to an existing id, a NaN
// vector, random bytes, or a malformed meta command are refused with their coded error and never
// reach the log. Bad entries that are in a log anyway (proposed past those checks) fail whole, with
// a coded error, on every replica alike (each logs it), the groups go on, and a restart replays
// them the same.
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterNode } from '../../node/src/cluster/cluster-node.js';
import { PROPOSE_METHOD } from '../../node/src/cluster/router.js';
import { encodeWriteBatch } from '../../node/src/storage/codec.js';
import type { WriteBatch } from '../../node/src/storage/types.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const PARAMS = { dimension: 4, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const EXISTING = Float32Array.from([1, 2, 3, 4]);

function upsert(points: { id: number; vector: Float32Array; payload?: Record<string, unknown> | null }[]): WriteBatch {
  return { ops: [{ kind: 'upsert', points: points.map((p) => ({ payload: null, ...p })) }] };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/** The bad shard proposals of the issue, each with the code it must be refused with. */
function badShardProposals(): [string, Uint8Array, string][] {
  return [
    ['a wrong-dimension vector next to an existing id', encodeWriteBatch(upsert([{ id: 2, vector: Float32Array.from([5, 6, 7, 8]) }, { id: 1, vector: Float32Array.from([9, 9, 9]) }])), 'JADE_ERR_DIMENSION_MISMATCH'],
    ['a NaN vector', encodeWriteBatch(upsert([{ id: 3, vector: Float32Array.from([NaN, 0, 0, 0]) }])), 'JADE_ERR_NOT_FINITE'],
    ['an infinite vector replacing the existing point', encodeWriteBatch(upsert([{ id: 1, vector: Float32Array.from([Infinity, 0, 0, 0]) }])), 'JADE_ERR_NOT_FINITE'],
    ['random bytes', randomBytes(300, 7), 'JADE_ERR_BAD_REQUEST'],
  ];
}

const cluster = new ThreeNodes();

afterEach(async () => {
  await cluster.cleanUp();
});

/** Forwards `bytes` to the group's leader from another node, as a follower's write would go. */
async function forward(groupId: string, bytes: Uint8Array): Promise<unknown> {
  const leader = await waitFor(`a leader of ${groupId}`, () => cluster.leaderOf(groupId));
  const from = [...cluster.running.values()].find((n) => n !== leader)!;
  return from.rpc.call(cluster.address(leader.nodeId), PROPOSE_METHOD, { json: { groupId, ack: 'majority' }, binary: bytes }, Date.now() + 5_000);
}

async function setUp(): Promise<string> {
  await cluster.startAll();
  const groupId = await cluster.create('v', PARAMS);
  await cluster.write('v', upsert([{ id: 1, vector: EXISTING, payload: { keep: true } }]));
  return groupId;
}

/** Every replica, after a linearizable read, holds exactly `ids` with point 1 as written, found by search. */
async function expectPoints(what: string, ids: number[]): Promise<void> {
  for (const node of cluster.running.values()) {
    const state = await waitFor(`${node.nodeId} to hold ${ids.join(',')} (${what})`, async () => {
      const s = await cluster.read(node, 'v');
      return s && s.count === ids.length && ids.every((id) => s.get(id)) ? s : null;
    });
    expect(state.get(1), `${node.nodeId}: ${what}`).toMatchObject({ payload: { keep: true } });
    expect(Array.from(state.get(1)!.vector), `${node.nodeId}: ${what}`).toEqual(Array.from(EXISTING));
    expect(state.search({ vector: EXISTING, k: 1 }).hits.map((h) => h.id), `${node.nodeId}: ${what}`).toEqual([1]);
  }
}

describe('forwarded proposals are checked by the leader before they are proposed', () => {
  it('refuses bad shard batches with their coded error; nothing reaches the log', async () => {
    const groupId = await setUp();
    const leader = await waitFor('a shard leader', () => cluster.leaderOf(groupId));
    const before = cluster.group(leader, groupId).lastIndex;
    for (const [what, bytes, code] of badShardProposals()) await expect(forward(groupId, bytes), what).rejects.toMatchObject({ code });
    // The configured limits apply too, as for a write made at the leader.
    const big = { blob: 'x'.repeat(70_000) };
    await expect(forward(groupId, encodeWriteBatch(upsert([{ id: 4, vector: EXISTING, payload: big }])))).rejects.toMatchObject({ code: 'JADE_ERR_PAYLOAD_TOO_LARGE' });
    expect(cluster.group(leader, groupId).lastIndex).toBe(before);
    await expectPoints('after refused forwarded batches', [1]);

    // A good forwarded batch goes through, as it came (validation changed nothing).
    await forward(groupId, encodeWriteBatch(upsert([{ id: 5, vector: Float32Array.from([0, 0, 0, 1]) }])));
    await expectPoints('after a good forwarded batch', [1, 5]);
    // One that validation changes (cosine normalizes) is proposed as checked: normalized everywhere.
    const cos = await cluster.create('cos', { ...PARAMS, metric: 'cosine' });
    await forward(cos, encodeWriteBatch(upsert([{ id: 1, vector: Float32Array.from([3, 4, 0, 0]) }])));
    for (const node of cluster.running.values()) {
      const state = await waitFor('the cosine point everywhere', async () => {
        const s = await cluster.read(node, 'cos');
        return s?.get(1) ? s : null;
      });
      expect(Array.from(state.get(1)!.vector)).toEqual([Math.fround(0.6), Math.fround(0.8), 0, 0]);
    }
  }, 90_000);

  // Regression: a write sent through a node before it hosted the new collection's replica went
  // out unchecked; when that node then led the group it proposed the bytes as they were, so a
  // cosine collection stored raw vectors (found by the Qdrant client suite on a cluster).
  it('holds bytes proposed on the leader itself, unchecked by its replica, to the same rules', async () => {
    const groupId = await setUp();
    const leader = await waitFor('a shard leader', () => cluster.leaderOf(groupId));
    const router = (leader as unknown as { router: { propose(g: string, d: Uint8Array, a: 'majority', deadlineMs: number): Promise<unknown> } }).router;
    const before = cluster.group(leader, groupId).lastIndex;
    for (const [what, bytes, code] of badShardProposals()) await expect(router.propose(groupId, bytes, 'majority', Date.now() + 5_000), what).rejects.toMatchObject({ code });
    expect(cluster.group(leader, groupId).lastIndex).toBe(before);
    await expectPoints('after refused local proposals', [1]);

    const cos = await cluster.create('cos', { ...PARAMS, metric: 'cosine' });
    const cosLeader = await waitFor('a cosine shard leader', () => cluster.leaderOf(cos));
    const cosRouter = (cosLeader as unknown as { router: typeof router }).router;
    await cosRouter.propose(cos, encodeWriteBatch(upsert([{ id: 1, vector: Float32Array.from([3, 4, 0, 0]) }])), 'majority', Date.now() + 5_000);
    for (const node of cluster.running.values()) {
      const state = await waitFor('the cosine point everywhere', async () => {
        const s = await cluster.read(node, 'cos');
        return s?.get(1) ? s : null;
      });
      expect(Array.from(state.get(1)!.vector), node.nodeId).toEqual([Math.fround(0.6), Math.fround(0.8), 0, 0]);
    }
  }, 90_000);

  it('refuses malformed meta commands', async () => {
    await cluster.startAll();
    const metaLeader = await waitFor('a meta leader', () => cluster.leaderOf('meta'));
    const before = cluster.group(metaLeader, 'meta').lastIndex;
    const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    const cases: [string, Uint8Array][] = [
      ['random bytes', randomBytes(100, 3)],
      ['createCollection without params or shards', json({ op: 'createCollection', collection: { name: 'x' } })],
      ['an unknown op', json({ op: 'dropEverything' })],
      ['a bad dimension', json({ op: 'createCollection', collection: { name: 'x', params: { ...PARAMS, dimension: 0 }, createdAtMs: 1, replicationFactor: 1, writeConsistency: 'majority', shards: [] } })],
    ];
    for (const [what, bytes] of cases) await expect(forward('meta', bytes), what).rejects.toMatchObject({ code: 'JADE_ERR_BAD_REQUEST' });
    expect(cluster.group(metaLeader, 'meta').lastIndex).toBe(before);
    for (const node of cluster.running.values()) expect(node.names()).toEqual([]);
  }, 60_000);
});

describe('bad entries already in a log', () => {
  it('fail whole with a coded error on every replica alike, the groups go on, and replay after a restart agrees', async () => {
    const groupId = await setUp();
    const leader = await waitFor('a shard leader', () => cluster.leaderOf(groupId));
    // Past the leader's checks, as an entry proposed by an older version would be.
    const group = leader.localReplica(groupId)!.group;
    for (const [what, bytes, code] of badShardProposals()) await expect(group.propose(bytes), what).rejects.toMatchObject({ code });
    const metaLeader: ClusterNode = await waitFor('a meta leader', () => cluster.leaderOf('meta'));
    const malformed = new TextEncoder().encode(JSON.stringify({ op: 'createCollection', collection: { name: 'broken' } }));
    expect(await metaLeader.host.get('meta')!.propose(malformed)).toMatchObject({ ok: false, code: 'JADE_ERR_BAD_REQUEST' });
    await expectPoints('after bad entries were applied', [1]);
    for (const id of ['n0', 'n1', 'n2']) expect(cluster.warnings.some((w) => w.startsWith(`${id}:`) && /entry \d+ not applied \(every replica refuses it alike\): JADE_ERR_DIMENSION_MISMATCH/.test(w)), id).toBe(true);

    // Both groups go on: a collection and a write after the bad entries work on every replica.
    await cluster.create('w', PARAMS);
    await cluster.write('v', upsert([{ id: 6, vector: Float32Array.from([6, 6, 6, 6]) }]));

    // A full restart replays every bad entry from each node's own log: same outcome, no crash.
    for (const p of cluster.peers) await cluster.stop(p.id);
    for (const p of cluster.peers) await cluster.start(p.id);
    for (const node of cluster.running.values()) await waitFor(`${node.nodeId} to recover both collections`, () => node.names().join() === 'v,w');
    await expectPoints('after a full restart', [1, 6]);
    for (const node of cluster.running.values()) {
      const state = (await cluster.read(node, 'v'))!;
      expect(Array.from(state.get(6)!.vector)).toEqual([6, 6, 6, 6]);
      expect(state.get(2)).toBeNull();
      expect(state.get(3)).toBeNull();
    }
  }, 90_000);
});
