// A move whose target is the meta leader itself (the node that drives every move). The target
// opens its (still empty, leaderless) replica of the group as soon as the move is recorded; the
// executor must still find the group's leader through the replicas that have one, or the move
// waits in `planned` until MOVE_STAGE_TIMEOUT_MS rolls it back (it did: findLeader returned the
// local replica's "no leader known" without asking the others).
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterNode } from '../../node/src/cluster/cluster-node.js';
import { nodeOfMember } from '../../node/src/cluster/identity.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const PARAMS = { dimension: 4, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };

describe('a move into the meta leader', () => {
  const cluster = new ThreeNodes();
  afterEach(() => cluster.cleanUp());

  async function moveAndWait(asker: ClusterNode, from: string, to: string): Promise<string> {
    const id = await asker.requestMove({ kind: 'move', collection: 'm', shard: 0, from, to }, Date.now() + 5_000);
    const done = await waitFor(`move ${from} -> ${to} to finish`, () => {
      const m = asker.moves().find((x) => x.id === id);
      return m && ['done', 'failed', 'cancelled'].includes(m.stage) ? m : null;
    }, 15_000);
    return done.stage;
  }

  it('finishes: the executor finds the group leader although its own new replica knows none yet', async () => {
    await cluster.startAll(['n0', 'n1', 'n2', 'n3']);
    const meta = await waitFor('a meta leader', () => cluster.leaderOf('meta'));
    await meta.create('m', PARAMS, { replicationFactor: 2, shardNumber: 1 });
    const groupId = meta.collectionMeta('m').shards[0].groupId;
    await waitFor('a leader of the shard', () => cluster.leaderOf(groupId));
    await meta.writeShard(groupId, { ops: [{ kind: 'upsert', points: [{ id: 1, vector: Float32Array.from([1, 2, 3, 4]), payload: null }] }] }, 'majority', Date.now() + 10_000);
    const replicas = () => meta.collectionMeta('m').shards[0].replicas.map(nodeOfMember);
    const free = () => cluster.peers.map((p) => p.id).find((id) => id !== meta.nodeId && !replicas().includes(id))!;
    // Make sure the meta leader holds no replica, then move one into it.
    if (replicas().includes(meta.nodeId)) expect(await moveAndWait(meta, meta.nodeId, free())).toBe('done');
    const source = replicas()[0];
    expect(await moveAndWait(meta, source, meta.nodeId)).toBe('done');
    expect(replicas()).not.toContain(source);
    expect(replicas()).toContain(meta.nodeId);
    const state = await waitFor('the meta leader to hold the point', async () => {
      const s = await cluster.read(meta, 'm');
      return s && s.get(1) !== null ? s : null;
    });
    expect(state.count).toBe(1);
  }, 60_000);
});
