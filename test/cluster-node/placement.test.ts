// Property tests of replica placement (a pure function): each shard's replicas on distinct nodes,
// replica counts per node within one of each other, preferred leaders spread within one when
// placing onto an empty cluster, deterministic, and a clear error when the replication factor
// exceeds the nodes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { placeShards } from '../../node/src/cluster/placement.js';

const members = (n: number) => Array.from({ length: n }, (_, i) => `n${i}#abcd${i}`);

describe('placement', () => {
  it('distinct nodes per shard, balanced replicas and leaders, deterministic', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), fc.string({ maxLength: 12 }), (n, shards, rfRaw, seed) => {
        const rf = Math.min(rfRaw, n);
        const req = { members: members(n), load: new Map(), shardNumber: shards, replicationFactor: rf, seed };
        const placed = placeShards(req);
        expect(placed).toHaveLength(shards);
        const replicaCount = new Map<string, number>();
        const leaderCount = new Map<string, number>();
        for (const replicas of placed) {
          expect(new Set(replicas).size).toBe(rf);
          for (const m of replicas) replicaCount.set(m, (replicaCount.get(m) ?? 0) + 1);
          leaderCount.set(replicas[0], (leaderCount.get(replicas[0]) ?? 0) + 1);
        }
        const spread = (m: Map<string, number>) => {
          const v = members(n).map((x) => m.get(x) ?? 0);
          return Math.max(...v) - Math.min(...v);
        };
        expect(spread(replicaCount)).toBeLessThanOrEqual(1);
        expect(spread(leaderCount)).toBeLessThanOrEqual(1);
        expect(placeShards(req)).toEqual(placed);
      }),
      { numRuns: 500 },
    );
  });

  it('fills the least-loaded nodes first', () => {
    const load = new Map([
      ['n0#abcd0', { replicas: 5, leaders: 2 }],
      ['n1#abcd1', { replicas: 5, leaders: 2 }],
      ['n2#abcd2', { replicas: 0, leaders: 0 }],
    ]);
    expect(placeShards({ members: members(3), load, shardNumber: 1, replicationFactor: 1, seed: 'x' })).toEqual([['n2#abcd2']]);
  });

  it('refuses a replication factor larger than the cluster, naming the limit', () => {
    expect(() => placeShards({ members: members(2), load: new Map(), shardNumber: 1, replicationFactor: 3, seed: '' })).toThrow(/replication_factor must be in 1\.\.2/);
  });
});
