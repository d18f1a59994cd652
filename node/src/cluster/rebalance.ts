// The rebalance planner: which replica moves even out the replicas per node (after a node joins,
// or on POST /cluster/rebalance) with the fewest moves. Pure: the meta leader's executor asks it
// for the next move each round, against the meta state as it is then; the dry run shows the whole
// plan. Only live replicas on current members move, only to current members that are not being
// drained or declared dead (dead replicas are re-replication's to replace, drained nodes take nothing).
import { memberId, nodeOfMember } from './identity.js';
import type { MetaState } from './meta.js';
import { activeMoves, isDeclaredDead, liveReplicas } from './moves.js';

/** Moves a plan may list (a cluster of 1,000 shards × 3 replicas over new nodes stays well under). */
export const REBALANCE_PLAN_MOVES_MAX = 10_000;
/** Rebalance moves in flight at once (each node still takes at most one incoming and one outgoing move). */
export const REBALANCE_MOVES_ACTIVE_MAX = 2;

export interface RebalanceMove {
  collection: string;
  shard: number;
  groupId: string;
  /** Members (node#incarnation). */
  from: string;
  to: string;
}

export interface RebalancePlan {
  /** Replicas per eligible node now and once the plan is done (node ids). */
  before: Record<string, number>;
  after: Record<string, number>;
  moves: RebalanceMove[];
}

/** Nodes a rebalance may move replicas to: current members not being drained. */
function eligibleNodes(state: MetaState): string[] {
  return Object.keys(state.nodes)
    .filter((id) => !state.drains?.[id] && !isDeclaredDead(state, id))
    .sort();
}

/** Replicas per eligible node, counting moves in flight as done (their targets are taken). */
function replicaCounts(state: MetaState, eligible: readonly string[]): Map<string, number> {
  const counts = new Map(eligible.map((id) => [id, 0]));
  const bump = (member: string, by: number) => {
    const id = nodeOfMember(member);
    if (counts.has(id)) counts.set(id, counts.get(id)! + by);
  };
  for (const c of Object.values(state.collections)) for (const s of c.shards) for (const r of liveReplicas(state, s)) bump(r, 1);
  for (const m of activeMoves(state)) {
    if (m.to) bump(m.to, 1);
    if (m.from && m.to) bump(m.from, -1);
  }
  return counts;
}

/**
 * The whole plan: repeatedly move one replica from the node holding the most to the one holding
 * the fewest that has none of that shard, until no two nodes differ by more than one (or no such
 * move exists). Each move lowers the sum of squared counts by at least 2, so the loop ends; groups
 * with a move in flight are left alone, and a replica the plan moved is not moved again.
 */
export function planRebalance(state: MetaState): RebalancePlan {
  const eligible = eligibleNodes(state);
  const counts = replicaCounts(state, eligible);
  const before = Object.fromEntries(counts);
  const busy = new Set(activeMoves(state).map((m) => m.groupId));
  // Where each group's replicas are (node ids), as the plan changes them.
  const holders = new Map<string, { collection: string; shard: number; members: string[] }>();
  for (const c of Object.values(state.collections).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    c.shards.forEach((s, shard) => holders.set(s.groupId, { collection: c.name, shard, members: liveReplicas(state, s) }));
  }
  /** `${groupId}|${nodeId}` of replicas the plan placed. */
  const arrived = new Set<string>();
  const moves: RebalanceMove[] = [];
  const byLoad = (order: 1 | -1) => [...counts.keys()].sort((a, b) => order * (counts.get(a)! - counts.get(b)!) || (a < b ? -1 : 1));
  while (moves.length < REBALANCE_PLAN_MOVES_MAX) {
    let found: RebalanceMove | null = null;
    // The most loaded source and the least loaded target that can take one of its shards.
    search: for (const from of byLoad(-1)) {
      for (const to of byLoad(1)) {
        if (counts.get(from)! - counts.get(to)! <= 1) break;
        for (const [groupId, h] of holders) {
          if (busy.has(groupId) || arrived.has(`${groupId}|${from}`)) continue;
          const source = h.members.find((m) => nodeOfMember(m) === from);
          if (!source || h.members.some((m) => nodeOfMember(m) === to)) continue;
          found = { collection: h.collection, shard: h.shard, groupId, from: source, to: memberId(to, state.nodes[to].incarnation) };
          break search;
        }
      }
    }
    if (!found) break;
    moves.push(found);
    arrived.add(`${found.groupId}|${nodeOfMember(found.to)}`);
    const h = holders.get(found.groupId)!;
    h.members = h.members.map((m) => (m === found!.from ? found!.to : m));
    counts.set(nodeOfMember(found.from), counts.get(nodeOfMember(found.from))! - 1);
    counts.set(nodeOfMember(found.to), counts.get(nodeOfMember(found.to))! + 1);
  }
  return { before, after: Object.fromEntries(counts), moves };
}

/** Spread of a count map: the most loaded node's count minus the least loaded one's. */
export function imbalance(counts: Record<string, number>): number {
  const values = Object.values(counts);
  return values.length === 0 ? 0 : Math.max(...values) - Math.min(...values);
}
