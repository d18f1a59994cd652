// Leader balancing. The planner (pure, fast-check over random groups): a transfer goes from a
// group's current leader to one of its voters, never to a node that is not eligible; each lowers
// the sum of squared leaderships per node; the plan never widens the spread, ends when no transfer
// can narrow it, and with every node a voter of every group ends within one. Rounds are blocked
// while replicas move. Then three in-process nodes: every leadership forced onto one node, the
// meta leader's rounds spread them one per node.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { leaderBalanceBlocked, planLeaderTransfers, type GroupLeadership, type LeaderBalancer } from '../../node/src/cluster/leader-balance.js';
import type { MetaState } from '../../node/src/cluster/meta.js';
import type { GroupAdmin } from '../../node/src/cluster/group-admin.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

const squares = (c: Record<string, number>) => Object.values(c).reduce((a, v) => a + v * v, 0);
const spread = (c: Record<string, number>) => (Object.keys(c).length ? Math.max(...Object.values(c)) - Math.min(...Object.values(c)) : 0);

const clusterArb = fc.integer({ min: 1, max: 6 }).chain((nodeCount) => {
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
  const group = fc.subarray(nodes, { minLength: 1, maxLength: Math.min(3, nodeCount) }).chain((voters) =>
    fc.record({ voters: fc.constant(voters), leader: fc.option(fc.constantFrom(...voters), { nil: null }) }));
  return fc.record({ nodes: fc.constant(nodes), eligible: fc.subarray(nodes), groups: fc.array(group, { maxLength: 30 }) });
});

function withIds(groups: { voters: string[]; leader: string | null }[]): GroupLeadership[] {
  return groups.map((g, i) => ({ groupId: `g${String(i).padStart(2, '0')}`, ...g }));
}

describe('the leader balance planner', () => {
  it('moves leaderships only to voters, lowers the imbalance with each, and ends when nothing narrows it', () => {
    fc.assert(fc.property(clusterArb, ({ eligible, groups: raw }) => {
      const groups = withIds(raw);
      const plan = planLeaderTransfers(groups, eligible);
      const leader = new Map(groups.map((g) => [g.groupId, g.leader]));
      const counts = { ...plan.before };
      for (const t of plan.transfers) {
        const g = groups.find((x) => x.groupId === t.groupId)!;
        expect(leader.get(t.groupId)).toBe(t.from);
        expect(g.voters).toContain(t.to);
        expect(eligible).toContain(t.to);
        const was = squares(counts);
        counts[t.from]--;
        counts[t.to]++;
        expect(squares(counts)).toBeLessThan(was);
        leader.set(t.groupId, t.to);
      }
      expect(counts).toEqual(plan.after);
      expect(spread(plan.after)).toBeLessThanOrEqual(spread(plan.before));
      const settled = groups.map((g) => ({ ...g, leader: leader.get(g.groupId)! }));
      expect(planLeaderTransfers(settled, eligible).transfers).toEqual([]);
    }), { numRuns: 300 });
  });

  it('ends within one when every node is a voter of every group', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.nat(4), { maxLength: 40 }), (nodeCount, leaders) => {
      const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i}`);
      const groups = withIds(leaders.map((l) => ({ voters: nodes, leader: nodes[l % nodeCount] })));
      expect(spread(planLeaderTransfers(groups, nodes).after)).toBeLessThanOrEqual(1);
    }));
  });

  it('leaves alone groups without a known leader or led by a node that may not lead, and stops at the round limit', () => {
    const groups = withIds([
      { voters: ['a', 'b', 'c'], leader: 'a' }, { voters: ['a', 'b', 'c'], leader: 'a' }, { voters: ['a', 'b', 'c'], leader: 'a' },
      { voters: ['a', 'b', 'c'], leader: null }, { voters: ['a', 'b', 'c'], leader: 'd' },
    ]);
    const plan = planLeaderTransfers(groups, ['a', 'b', 'c']);
    expect(plan.before).toEqual({ a: 3, b: 0, c: 0 });
    expect(plan.transfers).toEqual([{ groupId: 'g00', from: 'a', to: 'b' }, { groupId: 'g01', from: 'a', to: 'c' }]);
    expect(planLeaderTransfers(groups, ['a', 'b', 'c'], 1).transfers).toHaveLength(1);
  });

  it('is blocked while replicas move, a node drains or a rebalance runs', () => {
    const base = { clusterId: 'x', nodes: {}, collections: {} } as unknown as MetaState;
    expect(leaderBalanceBlocked(base)).toBeNull();
    expect(leaderBalanceBlocked({ ...base, rebalance: { state: 'running', reason: 'r', startedAtMs: 0, moves: 0 } } as unknown as MetaState)).toMatch(/rebalance/);
    expect(leaderBalanceBlocked({ ...base, drains: { n1: { nodeId: 'n1', incarnation: '1', state: 'draining', startedAtMs: 0, moves: 0 } } } as unknown as MetaState)).toMatch(/drained/);
  });
});

describe('leader balancing on three nodes', () => {
  // The timer never fires here: the test runs the meta leader's rounds itself.
  const cluster = new ThreeNodes(() => ({ leaderBalanceIntervalMs: 3_600_000 }));
  afterEach(() => cluster.cleanUp());

  it('spreads leaderships forced onto one node to one per node', async () => {
    await cluster.startAll();
    const params = { dimension: 2, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 32, efSearch: 16 } };
    const groupIds = [await cluster.create('a', params), await cluster.create('b', params), await cluster.create('c', params)];
    const metaLeader = await waitFor('a meta leader', () => cluster.leaderOf('meta'));
    const target = metaLeader.nodeId;
    const memberOf = (id: string) => metaLeader.members().find((m) => m.id === id)!;
    const admin = (metaLeader as unknown as { admin: GroupAdmin }).admin;
    for (const g of groupIds) {
      await waitFor(`${g} led by ${target}`, async () => {
        // Between a transfer's step-down and the new leader's election the group has no leader.
        const leader = cluster.leaderOf(g);
        if (!leader) return false;
        if (leader.nodeId === target) return true;
        await admin.transferLeader(leader.nodeId, g, `${target}#${memberOf(target).incarnation}`, Date.now() + 5_000).catch(() => undefined);
        return false;
      });
    }
    const balancer = (metaLeader as unknown as { leaderBalancer: LeaderBalancer }).leaderBalancer;
    const first = await balancer.round();
    expect(first?.before).toEqual({ n0: target === 'n0' ? 3 : 0, n1: target === 'n1' ? 3 : 0, n2: target === 'n2' ? 3 : 0 });
    expect(first?.transfers).toHaveLength(2);
    expect(first?.transfers.every((t) => t.from === target)).toBe(true);
    await waitFor('one leadership per node', () => {
      const leaders = groupIds.map((g) => cluster.leaderOf(g)?.nodeId);
      return new Set(leaders).size === 3 && leaders.every((l) => l !== undefined);
    });
    const settled = await waitFor('a round that finds them balanced', async () => {
      const r = await balancer.round();
      return r && Object.values(r.before).every((n) => n === 1) ? r : null;
    });
    expect(settled.transfers).toEqual([]);
    expect(metaLeader.clusterStatus()).toMatchObject({ leaderBalance: { transfers: [] } });
  }, 60_000);
});
