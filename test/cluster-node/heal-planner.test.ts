// The re-replication planner (pure): which shard groups run with a replica on a member that left or
// came back empty, and the move that replaces it: the same node's new incarnation first, else the
// least loaded node that holds none of the shard and is not draining; never a move the group's
// majority could not make (a group of 2 that lost one), never two moves of one group.
import { describe, expect, it } from 'vitest';
import type { CollectionMeta, MetaState } from '../../node/src/cluster/meta.js';
import { checkMove, nextHealMove, underReplicated } from '../../node/src/cluster/moves.js';
import type { MoveRecord } from '../../node/src/cluster/moves.js';

function state(nodes: Record<string, string>, shards: string[][], extra: Partial<MetaState> = {}): MetaState {
  const collection: CollectionMeta = {
    name: 'c', params: { dimension: 2, metric: 'l2' } as CollectionMeta['params'], createdAtMs: 0, replicationFactor: shards[0]?.length ?? 1, writeConsistency: 'majority',
    shards: shards.map((replicas, i) => ({ groupId: `g${i}`, range: { start: 0, end: 1 }, founders: replicas, replicas })),
  };
  return {
    clusterId: 'x',
    nodes: Object.fromEntries(Object.entries(nodes).map(([id, inc]) => [id, { id, incarnation: inc, restUrl: '', grpcAddress: '', labels: {}, joinedAtMs: 0 }])),
    collections: { c: collection },
    ...extra,
  };
}
const move = (m: Partial<MoveRecord>): MoveRecord => ({ id: 'm', collection: 'c', groupId: 'g0', from: null, to: null, stage: 'copying', drain: null, reason: null, startedAtMs: 0, updatedAtMs: 0, ...m });

describe('re-replication planner', () => {
  it('finds nothing to do when every replica is a current member', () => {
    const s = state({ a: '1', b: '1', c: '1' }, [['a#1', 'b#1', 'c#1']]);
    expect(underReplicated(s)).toEqual([]);
    expect(nextHealMove(s)).toBeNull();
  });

  it('refills a node that came back empty (new incarnation) on that node first', () => {
    const s = state({ a: '1', b: '1', c: '2', d: '1' }, [['a#1', 'b#1', 'c#1']]);
    expect(underReplicated(s)).toEqual([{ collection: 'c', groupId: 'g0', dead: ['c#1'] }]);
    const m = nextHealMove(s)!;
    expect(m).toEqual({ collection: 'c', groupId: 'g0', from: 'c#1', to: 'c#2' });
    expect(() => checkMove(s, m)).not.toThrow(); // the old incarnation on the target's node is the source, not a second replica
  });

  it('places a removed node\'s replica on the least loaded node without one, skipping draining nodes', () => {
    const s = state({ a: '1', b: '1', d: '1', e: '1' }, [['a#1', 'b#1', 'gone#1'], ['d#1', 'a#1', 'b#1']], { drains: { e: { nodeId: 'e', incarnation: '1', state: 'draining', startedAtMs: 0, moves: 0 } } });
    expect(nextHealMove(s)).toEqual({ collection: 'c', groupId: 'g0', from: 'gone#1', to: 'd#1' });
  });

  it('waits while the group has a move in flight, and a group of 2 that lost one is refused (no majority)', () => {
    const busy = state({ a: '1', b: '1', c: '2' }, [['a#1', 'b#1', 'c#1']], { moves: [move({ groupId: 'g0', to: 'c#2' })] });
    expect(nextHealMove(busy)).toBeNull();
    const pair = state({ a: '1', b: '2' }, [['a#1', 'b#1']]);
    const m = nextHealMove(pair)!;
    expect(m).toEqual({ collection: 'c', groupId: 'g0', from: 'b#1', to: 'b#2' });
    expect(() => checkMove(pair, m)).toThrow(/no quorum/);
  });

  it('a live replica on the target node still refuses the move (at most one replica of a shard per node)', () => {
    const s = state({ a: '1', b: '1', c: '1' }, [['a#1', 'b#1', 'gone#1']]);
    expect(nextHealMove(s)).toEqual({ collection: 'c', groupId: 'g0', from: 'gone#1', to: 'c#1' });
    expect(() => checkMove(s, { groupId: 'g0', from: 'gone#1', to: 'a#1' })).toThrow(/already holds a replica/);
  });
});
