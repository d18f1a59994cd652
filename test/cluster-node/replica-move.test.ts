// Checks the replica move and the drain with four ClusterNodes in this process: a shard of three
// replicas moves from its group leader to the fourth node while a writer keeps upserting; after
// the move the target holds every acknowledged point, the source holds no replica, the group's
// Raft configuration and the meta placement name the target instead of the source, the verify
// stage recorded equal digests, and strong retrieve and search through a node without a replica
// answer every point. Coded refusals: unknown shard or peer (404), a target that holds a replica,
// a second move of the group (409 with a reason). A drain moves every replica off a node one move
// at a time, ends drained, after which removing the node succeeds; a drain that no node can take
// is refused with NO_TARGET_NODE.
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterNode } from '../../node/src/cluster/cluster-node.js';
import { nodeOfMember } from '../../node/src/cluster/identity.js';
import type { MoveRecord } from '../../node/src/cluster/moves.js';
import { ClusterDatabase } from '../../node/src/query/cluster-database.js';
import type { WriteBatch } from '../../node/src/storage/types.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const PARAMS = { dimension: 4, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
const MOVE_WAIT_MS = 60_000;

function upsert(from: number, n: number): WriteBatch {
  return { ops: [{ kind: 'upsert', points: Array.from({ length: n }, (_, i) => ({ id: from + i, vector: Float32Array.from([from + i, 1, 2, 3]), payload: { i: from + i } })) }] };
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; reason?: unknown }> {
  try {
    await p;
  } catch (e) {
    const err = e as { code: string; details?: { reason?: unknown } };
    return { code: err.code, reason: err.details?.reason };
  }
  throw new Error('expected a refusal');
}

function moveById(node: ClusterNode, id: string): MoveRecord | undefined {
  return node.moves().find((m) => m.id === id);
}

describe('replica moves and drains', () => {
  const cluster = new ThreeNodes();
  afterEach(() => cluster.cleanUp());

  it('moves a replica from the leader to a fourth node while writes go on; drains a node', async () => {
    await cluster.startAll(['n0', 'n1', 'n2', 'n3']);
    // Every node serves the shard reads other nodes make (ClusterDatabase registers them).
    const databases = new Map([...cluster.running].map(([id, node]) => [id, new ClusterDatabase(node, { readStrategy: 'round-robin' })]));
    const groupId = await cluster.create('m', PARAMS);
    const any = cluster.node('n0');
    const placed = any.collectionMeta('m').shards[0].replicas.map(nodeOfMember);
    const spare = ['n0', 'n1', 'n2', 'n3'].find((id) => !placed.includes(id))!;
    const source = await waitFor('a leader of the shard', () => cluster.leaderOf(groupId)?.nodeId);
    for (let i = 0; i < 300; i += 100) await cluster.write('m', upsert(i, 100));

    // Refusals first (nothing is moving yet).
    const asker = cluster.node(placed.find((id) => id !== source)!);
    expect(await refusal(asker.requestMove({ kind: 'move', collection: 'm', shard: 3, from: source, to: spare }, Date.now() + 5_000))).toMatchObject({ code: 'JADE_ERR_NOT_FOUND' });
    expect(await refusal(asker.requestMove({ kind: 'move', collection: 'm', shard: 0, from: source, to: 'nope' }, Date.now() + 5_000))).toMatchObject({ code: 'JADE_ERR_NOT_FOUND' });
    expect(await refusal(asker.requestMove({ kind: 'move', collection: 'm', shard: 0, from: spare, to: source }, Date.now() + 5_000))).toMatchObject({ code: 'JADE_ERR_NOT_FOUND' });
    const other = placed.find((id) => id !== source)!;
    expect(await refusal(asker.requestMove({ kind: 'move', collection: 'm', shard: 0, from: source, to: other }, Date.now() + 5_000))).toMatchObject({ code: 'JADE_ERR_CONFLICT', reason: 'TARGET_HOLDS_REPLICA' });

    // A writer runs throughout the move, through a node that keeps its replica.
    const writer = cluster.node(other);
    const acked: number[] = [];
    let writing = true;
    const writes = (async () => {
      for (let id = 1000; writing; id += 10) {
        try {
          await writer.writeShard(groupId, upsert(id, 10), 'majority', Date.now() + 10_000);
          for (let i = 0; i < 10; i++) acked.push(id + i);
        } catch {
          // a write refused during a leadership change is not acknowledged; it may or may not be applied
        }
      }
    })();

    const started = Date.now();
    const moveId = await asker.requestMove({ kind: 'move', collection: 'm', shard: 0, from: source, to: spare }, Date.now() + 5_000);
    expect(await refusal(asker.requestMove({ kind: 'move', collection: 'm', shard: 0, from: other, to: spare }, Date.now() + 5_000))).toMatchObject({ code: 'JADE_ERR_CONFLICT', reason: 'MOVE_IN_PROGRESS' });
    const done = await waitFor('the move to finish', () => {
      const m = moveById(any, moveId);
      return m && (m.stage === 'done' || m.stage === 'failed' || m.stage === 'cancelled') ? m : null;
    }, MOVE_WAIT_MS);
    const moveMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 300)); // a few more writes after the move
    writing = false;
    await writes;
    expect(done.stage).toBe('done');
    expect(done.verified?.count).toBeGreaterThanOrEqual(300);
    console.log(`move of a 3-replica shard (${done.verified?.count} points at verification) took ${moveMs} ms, ${acked.length} writes acknowledged meanwhile`);

    // Placement and the Raft configuration name the target instead of the source.
    const replicas = any.collectionMeta('m').shards[0].replicas.map(nodeOfMember);
    expect(replicas.sort()).toEqual([...placed.filter((id) => id !== source), spare].sort());
    const target = cluster.node(spare);
    await waitFor('the source to close its replica', () => !cluster.node(source).localReplica(groupId));
    const expected = new Set([...Array.from({ length: 300 }, (_, i) => i), ...acked]);
    const state = await waitFor('the target to hold every acknowledged point', async () => {
      const s = await cluster.read(target, 'm');
      return s && [...expected].every((id) => s.get(id) !== null) ? s : null;
    });
    expect(state.count).toBeGreaterThanOrEqual(expected.size);
    const conf = target.groupStatuses().find((g) => g.groupId === groupId)!.conf;
    expect(conf.voters.map(nodeOfMember).sort()).toEqual(replicas.sort());
    expect(conf.learners).toEqual([]);

    // Strong reads through the old source (which no longer holds a replica) see every point.
    const collection = databases.get(source)!.collection('m');
    const ids = [...expected];
    const got = await collection.retrieve(ids, true, false, { consistency: 'strong', deadlineMs: Date.now() + 10_000 });
    expect(got.missing).toEqual([]);
    expect(got.found.length).toBe(ids.length);
    const hits = await collection.search({ vector: Float32Array.from([5, 1, 2, 3]), limit: 1, offset: 0, filter: null, exact: true, withPayload: true, withVector: false }, { consistency: 'strong', deadlineMs: Date.now() + 10_000 });
    expect(hits.hits[0]?.id).toBe(5);

    // NO_TARGET_NODE: a shard on all four nodes has nowhere to go.
    const meta = await waitFor('a meta leader', () => cluster.leaderOf('meta'));
    await meta.create('everywhere', PARAMS, { replicationFactor: 4, shardNumber: 1 });
    expect(await refusal(asker.drain(spare, Date.now() + 5_000))).toMatchObject({ code: 'JADE_ERR_CONFLICT', reason: 'NO_TARGET_NODE' });
    await meta.delete('everywhere');

    // Drain the target again: its replica moves to the node the first move emptied.
    const report = await asker.drain(spare, Date.now() + 5_000);
    expect(report.node).toBe(spare);
    expect(['draining', 'drained']).toContain(report.state);
    const drained = await waitFor('the drain to finish', () => {
      const r = any.drainReport(spare);
      return r.state === 'drained' ? r : null;
    }, MOVE_WAIT_MS);
    expect(drained.replicasLeft).toBe(0);
    expect(drained.moves.every((m) => m.stage === 'done')).toBe(true);
    expect(any.members().find((m) => m.id === spare)).toMatchObject({ drain: 'drained', replicas: 0 });
    expect(any.collectionMeta('m').shards[0].replicas.map(nodeOfMember)).not.toContain(spare);
    expect(await refusal(asker.requestMove({ kind: 'replicate', collection: 'm', shard: 0, from: null, to: spare }, Date.now() + 5_000))).toMatchObject({ code: 'JADE_ERR_CONFLICT', reason: 'TARGET_DRAINING' });
    const after = await waitFor('a replica on the new node with every point', async () => {
      const holder = any.collectionMeta('m').shards[0].replicas.map(nodeOfMember).find((id) => id === source);
      if (!holder) return null;
      const s = await cluster.read(cluster.node(holder), 'm');
      return s && [...expected].every((id) => s.get(id) !== null) ? s : null;
    });
    expect(after.count).toBe(state.count);
    const removed = await asker.removePeer(spare, false, Date.now() + 5_000);
    expect(removed.degradedGroups).toEqual([]);
  }, 180_000);
});
