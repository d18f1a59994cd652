// The rebalance planner (pure): the moves that even out replicas per node. Properties, over random
// clusters (fast-check): a plan never puts two replicas of a shard on one node, only moves live
// replicas to current members that are not draining, each move lowers the imbalance measure (sum
// of squared replicas per node), the plan ends balanced (no two nodes differ by more than one)
// unless no node without a replica of some shard remains, and replanning a finished plan finds
// nothing. Plus the cases a person checks by hand.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CollectionMeta, MetaState } from '../../node/src/cluster/meta.js';
import { nodeOfMember } from '../../node/src/cluster/identity.js';
import { replicasAfter, type MoveRecord } from '../../node/src/cluster/moves.js';
import { imbalance, planRebalance } from '../../node/src/cluster/rebalance.js';

function state(nodes: string[], shards: string[][], extra: Partial<MetaState> = {}): MetaState {
  const collection: CollectionMeta = {
    name: 'c', params: { dimension: 2, metric: 'l2' } as CollectionMeta['params'], createdAtMs: 0, replicationFactor: shards[0]?.length ?? 1, writeConsistency: 'majority',
    shards: shards.map((replicas, i) => ({ groupId: `g${i}`, range: { start: 0, end: 1 }, founders: replicas, replicas: replicas.map((n) => `${n}#1`) })),
  };
  return {
    clusterId: 'x',
    nodes: Object.fromEntries(nodes.map((id) => [id, { id, incarnation: '1', restUrl: '', grpcAddress: '', labels: {}, joinedAtMs: 0 }])),
    collections: { c: collection },
    ...extra,
  };
}

/** The state once every move of a plan is done. */
function applyPlan(s: MetaState, plan: ReturnType<typeof planRebalance>): MetaState {
  const next = structuredClone(s);
  for (const m of plan.moves) {
    const shard = next.collections[m.collection].shards[m.shard];
    shard.replicas = replicasAfter(shard.replicas, m);
  }
  return next;
}

const sumSquares = (counts: Record<string, number>) => Object.values(counts).reduce((a, c) => a + c * c, 0);

describe('rebalance planner', () => {
  it('moves replicas onto a new empty node until no two nodes differ by more than one', () => {
    // 6 shards × 3 replicas on a, b, c: 6 each; d joins empty.
    const s = state(['a', 'b', 'c', 'd'], Array.from({ length: 6 }, () => ['a', 'b', 'c']));
    const plan = planRebalance(s);
    expect(plan.before).toEqual({ a: 6, b: 6, c: 6, d: 0 });
    expect(plan.moves).toHaveLength(4);
    expect(plan.moves.every((m) => nodeOfMember(m.to) === 'd')).toBe(true);
    expect(imbalance(plan.after)).toBeLessThanOrEqual(1);
    expect(Object.values(plan.after).sort()).toEqual([4, 4, 5, 5]);
    expect(planRebalance(applyPlan(s, plan)).moves).toEqual([]);
  });

  it('does nothing when balanced, leaves draining nodes and groups with a move in flight alone', () => {
    expect(planRebalance(state(['a', 'b', 'c'], [['a', 'b', 'c']])).moves).toEqual([]);
    const drained = state(['a', 'b', 'c', 'd'], [['a', 'b', 'c'], ['a', 'b', 'c']], { drains: { d: { nodeId: 'd', incarnation: '1', state: 'drained', startedAtMs: 0, moves: 0 } } });
    expect(planRebalance(drained).moves).toEqual([]);
    const move: MoveRecord = { id: 'm', collection: 'c', groupId: 'g0', from: 'a#1', to: 'd#1', stage: 'copying', drain: null, reason: null, startedAtMs: 0, updatedAtMs: 0 };
    const busy = state(['a', 'b', 'c', 'd'], [['a', 'b', 'c'], ['a', 'b', 'c']], { moves: [move] });
    const plan = planRebalance(busy);
    // The move in flight counts as done (d holds 1); g0 is left alone, g1 goes from a loaded node... not to d twice for one shard.
    expect(plan.before).toEqual({ a: 1, b: 2, c: 2, d: 1 });
    expect(plan.moves.every((m) => m.groupId !== 'g0')).toBe(true);
  });

  it('never moves a replica on a member that left (re-replication replaces those)', () => {
    const s = state(['a', 'b', 'c', 'd'], [['a', 'b', 'gone'], ['a', 'b', 'gone'], ['a', 'b', 'c']]);
    for (const m of planRebalance(s).moves) expect(nodeOfMember(m.from)).not.toBe('gone');
  });

  it('properties over random clusters', () => {
    const cluster = fc
      .record({ nodeCount: fc.integer({ min: 1, max: 7 }), rf: fc.integer({ min: 1, max: 3 }), shardCount: fc.integer({ min: 0, max: 12 }), seed: fc.integer(), draining: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 2 }) })
      .map(({ nodeCount, rf, shardCount, seed, draining }) => {
        const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
        let x = seed >>> 0 || 1;
        const rand = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x % n);
        // Each shard's replicas on distinct nodes, skewed to the first nodes (as before a scale-up).
        const shards = Array.from({ length: shardCount }, () => {
          const pool = [...nodes];
          const picked: string[] = [];
          for (let r = 0; r < Math.min(rf, nodes.length); r++) picked.push(pool.splice(rand(Math.min(pool.length, r + 2)), 1)[0]);
          return picked;
        });
        const drains = Object.fromEntries(draining.filter((i) => i < nodeCount).map((i) => [`n${i}`, { nodeId: `n${i}`, incarnation: '1', state: 'draining' as const, startedAtMs: 0, moves: 0 }]));
        return state(nodes, shards, { drains });
      });
    fc.assert(
      fc.property(cluster, (s) => {
        const plan = planRebalance(s);
        let current = s;
        let measure = sumSquares(plan.before);
        for (const m of plan.moves) {
          expect(s.drains?.[nodeOfMember(m.to)]).toBeUndefined();
          expect(s.nodes[nodeOfMember(m.to)]).toBeDefined();
          current = applyPlan(current, { ...plan, moves: [m] });
          const shard = current.collections.c.shards[m.shard];
          expect(new Set(shard.replicas.map(nodeOfMember)).size).toBe(shard.replicas.length);
          const counts: Record<string, number> = Object.fromEntries(Object.keys(plan.before).map((id) => [id, 0]));
          for (const sh of current.collections.c.shards) for (const r of sh.replicas) if (nodeOfMember(r) in counts) counts[nodeOfMember(r)]++;
          const next = sumSquares(counts);
          expect(next).toBeLessThan(measure);
          measure = next;
        }
        // A fixed point: once done, the plan has nothing left (balanced, or no node could take a shard it lacks).
        expect(planRebalance(current).moves).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
