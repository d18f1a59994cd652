// Failure detection: the pure detector (who to declare dead or alive again, never the leader
// itself, never before a new meta leader has led for the dead time), and in-process nodes with
// short times: a stopped node holding a replica is declared dead and its replica re-created on the
// spare node from the healthy replicas, every point kept; restarted, it is declared alive again
// and drops the replica it no longer holds.
import { afterEach, describe, expect, it } from 'vitest';
import { livenessChanges, livenessOf } from '../../node/src/cluster/failure-detector.js';
import { nodeOfMember } from '../../node/src/cluster/identity.js';
import type { MetaState } from '../../node/src/cluster/meta.js';
import { checkMove } from '../../node/src/cluster/moves.js';
import type { WriteBatch } from '../../node/src/storage/types.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const SETTINGS = { suspectAfterMs: 500, deadAfterMs: 2_000 };

function state(ids: string[], dead: string[] = []): MetaState {
  return {
    clusterId: 'x',
    nodes: Object.fromEntries(ids.map((id) => [id, { id, incarnation: '1', restUrl: '', grpcAddress: '', labels: {}, joinedAtMs: 0 }])),
    collections: {},
    deadNodes: Object.fromEntries(dead.map((id) => [id, { incarnation: '1', sinceMs: 0, reason: 'x' }])),
  };
}

describe('failure detector (pure)', () => {
  it('declares a node silent past the dead time dead, and a dead one heard again alive; never itself; not before leading that long', () => {
    const silent: Record<string, number> = { a: 0, b: 600, c: 2_500, d: 100 };
    const s = state(['a', 'b', 'c', 'd'], ['d']);
    expect(livenessChanges(s, 'a', (id) => silent[id], 3_000, SETTINGS).map((c) => [c.nodeId, c.dead])).toEqual([
      ['c', true],
      ['d', false],
    ]);
    expect(livenessChanges(s, 'c', (id) => silent[id] + 5_000, 10_000, SETTINGS).map((c) => c.nodeId)).not.toContain('c');
    // A new meta leader (led 1 s) has no history: it declares no one dead yet, but may revive.
    expect(livenessChanges(s, 'a', (id) => silent[id], 1_000, SETTINGS).map((c) => [c.nodeId, c.dead])).toEqual([['d', false]]);
    expect([livenessOf(s, 'a', 0, SETTINGS), livenessOf(s, 'b', 600, SETTINGS), livenessOf(s, 'd', 0, SETTINGS)]).toEqual(['alive', 'suspect', 'dead']);
  });

  it('a dead node takes no new replica', () => {
    const s = state(['a', 'b', 'c', 'd'], ['d']);
    s.collections.c = { name: 'c', params: { dimension: 2, metric: 'l2' } as never, createdAtMs: 0, replicationFactor: 3, writeConsistency: 'majority', shards: [{ groupId: 'g0', range: { start: 0, end: 1 }, founders: [], replicas: ['a#1', 'b#1', 'c#1'] }] };
    expect(() => checkMove(s, { groupId: 'g0', from: 'c#1', to: 'd#1' })).toThrow(/declared dead/);
  });
});

function upsert(from: number, n: number): WriteBatch {
  return { ops: [{ kind: 'upsert', points: Array.from({ length: n }, (_, i) => ({ id: from + i, vector: Float32Array.from([from + i, 1, 2, 3]), payload: { i: from + i } })) }] };
}

describe('failure detection between nodes', () => {
  const cluster = new ThreeNodes(() => ({ failureDetector: SETTINGS }));
  afterEach(() => cluster.cleanUp());

  it('re-creates a dead node\'s replica on the spare node; the node, back, is alive and drops it', async () => {
    await cluster.startAll(['n0', 'n1', 'n2', 'n3']);
    const groupId = await cluster.create('f', { dimension: 4, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } });
    for (let i = 0; i < 200; i += 100) await cluster.write('f', upsert(i, 100));
    const any = () => [...cluster.running.values()][0];
    const placed = any().collectionMeta('f').shards[0].replicas.map(nodeOfMember);
    const metaLeader = cluster.leaderOf('meta')!.nodeId;
    const victim = placed.find((id) => id !== metaLeader)!;
    const spare = ['n0', 'n1', 'n2', 'n3'].find((id) => !placed.includes(id))!;
    await cluster.stop(victim);

    await waitFor('the victim declared dead', () => any().meta.state.deadNodes?.[victim], 15_000);
    expect(any().members().find((m) => m.id === victim)?.liveness).toBe('dead');
    const healed = await waitFor('its replica re-created on the spare', () => {
      const r = any().collectionMeta('f').shards[0].replicas.map(nodeOfMember);
      return r.includes(spare) && !r.includes(victim) ? r : null;
    }, 20_000);
    expect(healed.sort()).toEqual(placed.filter((id) => id !== victim).concat(spare).sort());
    const spareNode = cluster.node(spare);
    expect(await waitFor('the spare holds every point', async () => (await cluster.read(spareNode, 'f'))?.count === 200)).toBe(true);

    const back = await cluster.start(victim);
    await waitFor('the victim declared alive again', () => !any().meta.state.deadNodes?.[victim] && any().members().find((m) => m.id === victim)?.liveness === 'alive', 15_000);
    await waitFor('the victim dropped the replica it no longer holds', () => back.localReplica(groupId) === undefined, 15_000);
    expect(any().collectionMeta('f').shards[0].replicas.map(nodeOfMember).sort()).toEqual(healed.sort());
  }, 60_000);
});

describe('declaring a node dead by request (the operator\'s NotReady timeout)', () => {
  // A dead time no test waits for: only the request declares the node dead.
  const cluster = new ThreeNodes(() => ({ failureDetector: { suspectAfterMs: 500, deadAfterMs: 600_000 } }));
  afterEach(() => cluster.cleanUp());

  it('refuses a node it still hears (409 NODE_ALIVE); a silent one is declared dead at once and its replica re-created', async () => {
    await cluster.startAll(['n0', 'n1', 'n2', 'n3']);
    await cluster.create('d', { dimension: 4, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } });
    await cluster.write('d', upsert(0, 50));
    const any = () => [...cluster.running.values()][0];
    const placed = any().collectionMeta('d').shards[0].replicas.map(nodeOfMember);
    const metaLeader = cluster.leaderOf('meta')!.nodeId;
    const victim = placed.find((id) => id !== metaLeader)!;
    const asker = cluster.node(placed.find((id) => id !== victim)!);
    await expect(asker.declareDead(victim, Date.now() + 5_000)).rejects.toMatchObject({ code: 'JADE_ERR_CONFLICT', details: { reason: 'NODE_ALIVE' } });
    await expect(asker.declareDead('nobody', Date.now() + 5_000)).rejects.toMatchObject({ code: 'JADE_ERR_NOT_FOUND' });
    await cluster.stop(victim);
    await waitFor('the victim suspect', () => cluster.leaderOf('meta')!.members().find((m) => m.id === victim)?.liveness === 'suspect');
    expect(await asker.declareDead(victim, Date.now() + 5_000)).toEqual({ node: victim, dead: true });
    await waitFor('its replica re-created elsewhere', () => !any().collectionMeta('d').shards[0].replicas.map(nodeOfMember).includes(victim), 20_000);
    expect(any().collectionMeta('d').shards[0].replicas).toHaveLength(3);
  }, 60_000);
});
