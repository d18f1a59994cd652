// A node stopped on purpose hands each leadership it holds to a caught-up follower before it closes
// (ClusterOptions.leaderHandoffMs), so the meta group and its shard groups have a leader again as
// soon as close() returns, instead of after an election timeout. handoffTarget picks the follower.
import { afterEach, describe, expect, it } from 'vitest';
import { handoffTarget } from '../../node/src/cluster/leader-handoff.js';
import type { RaftStatus } from '../../node/src/raft/core.js';
import { ThreeNodes, waitFor } from './three-nodes.js';

function leaderStatus(progress: Record<string, { match: number; state: string }>, voters = Object.keys(progress)): RaftStatus {
  return {
    id: 'a', groupId: 'g', role: 'leader', term: 3, vote: 'a', lead: 'a', commit: 10, applied: 10, firstIndex: 1, lastIndex: 10,
    conf: { voters, learners: [] }, leadTransferee: '',
    progress: Object.fromEntries(Object.entries(progress).map(([id, p]) => [id, { ...p, next: p.match + 1, description: '' }])),
  };
}

describe('handoffTarget', () => {
  it('picks the most caught-up voter, one in replicate state before a probed one, never itself or a learner', () => {
    expect(handoffTarget(leaderStatus({ a: { match: 10, state: 'replicate' }, b: { match: 8, state: 'replicate' }, c: { match: 10, state: 'replicate' } }))).toBe('c');
    expect(handoffTarget(leaderStatus({ a: { match: 10, state: 'replicate' }, b: { match: 10, state: 'probe' }, c: { match: 4, state: 'replicate' } }))).toBe('c');
    expect(handoffTarget(leaderStatus({ a: { match: 10, state: 'replicate' }, b: { match: 7, state: 'probe' }, c: { match: 9, state: 'probe' } }))).toBe('c');
    expect(handoffTarget(leaderStatus({ a: { match: 10, state: 'replicate' }, b: { match: 10, state: 'replicate' } }, ['a']))).toBeNull();
    expect(handoffTarget(leaderStatus({ a: { match: 10, state: 'replicate' } }))).toBeNull();
  });
});

describe('leader handoff on close', { timeout: 60_000 }, () => {
  let nodes: ThreeNodes;
  afterEach(async () => nodes?.cleanUp());

  it('the meta and shard leader closes: both groups have another leader the moment close() returns', async () => {
    // Long election timeouts (3 s): without a handoff, the others would wait that long for a leader.
    const lines: string[] = [];
    nodes = new ThreeNodes((id) => ({ electionTicks: 60, log: (l) => lines.push(`${id} ${l}`) }));
    await nodes.startAll();
    const groupId = await nodes.create('docs', { dimension: 2, metric: 'l2', hnsw: { m: 8, efConstruction: 32, efSearch: 16 } });
    const leader = await waitFor('one node leading meta and the shard', async () => {
      const meta = nodes.leaderOf('meta');
      if (!meta) return null;
      if (nodes.leaderOf(groupId) !== meta) {
        // Put both leaderships on one node, so its close hands off two groups.
        nodes.leaderOf(groupId)?.localReplica(groupId)?.group.driver.transferLeader(meta.memberId);
        return null;
      }
      return meta;
    });
    const rest = [...nodes.running.values()].filter((n) => n !== leader);
    await nodes.stop(leader.nodeId);
    const after = rest.map((n) => n.groupStatuses().filter((g) => g.groupId === 'meta' || g.groupId === groupId).map((g) => [g.groupId, g.leader]));
    for (const groups of after) {
      const why = `${JSON.stringify(after)}\n${lines.filter((l) => /transfer|handed|became|TimeoutNow/.test(l)).slice(-30).join('\n')}`;
      for (const [, l] of groups) expect(l, why).not.toBe('');
      for (const [, l] of groups) expect(l, why).not.toBe(leader.nodeId);
    }
  });
});
