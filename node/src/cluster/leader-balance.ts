// Leader balancing: shard group leaderships drift (failovers, a rolling restart hands every
// leadership of a restarting node to the others, a node that joins leads nothing), and a leader
// does a group's write work and its strong reads' barriers. The meta leader periodically asks
// every live node which groups it leads and transfers leaderships from the node leading the most
// to a voter of the same group leading the fewest, a few per round, until no two eligible nodes
// differ by more than one (or no transfer can narrow the spread). Replica moves come first: no
// round runs while a move, a drain or a replica rebalance is in flight. Leaderships are Raft's
// volatile state, so nothing is written to the meta log.
import { nodeOfMember } from './identity.js';
import type { MetaState } from './meta.js';
import { activeMoves, isDeclaredDead, liveReplicas } from './moves.js';

/** Transfers started per round; the next round sees where they landed. */
export const LEADER_TRANSFERS_PER_ROUND_MAX = 4;
/** Default time between rounds (JADE_LEADER_BALANCE_INTERVAL_MS; 0 turns balancing off). */
export const LEADER_BALANCE_INTERVAL_MS = 30_000;

export interface GroupLeadership {
  groupId: string;
  /** Nodes holding a voting replica (node ids). */
  voters: string[];
  /** The node leading it now, or null when none is known. */
  leader: string | null;
}

export interface LeaderTransfer {
  groupId: string;
  from: string;
  to: string;
}

export interface LeaderPlan {
  /** Leaderships per eligible node now and once the transfers are done. */
  before: Record<string, number>;
  after: Record<string, number>;
  transfers: LeaderTransfer[];
}

/**
 * Pure: the transfers that even out leaderships over `eligible` nodes. Each moves one leadership
 * from a node with the most to a voter of that group with at least two fewer, so the sum of
 * squared counts drops with every transfer and the loop ends. Groups without a known leader, or
 * led by a node that is not eligible, are left alone (failover or a drain deals with those).
 */
export function planLeaderTransfers(groups: readonly GroupLeadership[], eligible: readonly string[], transfersMax = Number.MAX_SAFE_INTEGER): LeaderPlan {
  const counts = new Map([...eligible].sort().map((id) => [id, 0]));
  const led = new Map<string, GroupLeadership>();
  for (const g of [...groups].sort((a, b) => (a.groupId < b.groupId ? -1 : 1))) {
    if (g.leader === null || !counts.has(g.leader)) continue;
    counts.set(g.leader, counts.get(g.leader)! + 1);
    led.set(g.groupId, { ...g });
  }
  const before = Object.fromEntries(counts);
  const transfers: LeaderTransfer[] = [];
  const byLoad = () => [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || (a < b ? -1 : 1));
  while (transfers.length < transfersMax) {
    let found: LeaderTransfer | null = null;
    search: for (const from of byLoad()) {
      for (const g of led.values()) {
        if (g.leader !== from) continue;
        // The least loaded voter of this group that is at least two below the source.
        const to = g.voters.filter((v) => v !== from && counts.has(v)).sort((a, b) => counts.get(a)! - counts.get(b)! || (a < b ? -1 : 1))[0];
        if (to !== undefined && counts.get(from)! - counts.get(to)! >= 2) {
          found = { groupId: g.groupId, from, to };
          break search;
        }
      }
    }
    if (!found) break;
    transfers.push(found);
    led.get(found.groupId)!.leader = found.to;
    counts.set(found.from, counts.get(found.from)! - 1);
    counts.set(found.to, counts.get(found.to)! + 1);
  }
  return { before, after: Object.fromEntries(counts), transfers };
}

/** Why no round runs now, or null when one may. */
export function leaderBalanceBlocked(state: MetaState): string | null {
  if (activeMoves(state).length > 0) return 'replica moves are in flight';
  if (Object.values(state.drains ?? {}).some((d) => d.state === 'draining')) return 'a node is being drained';
  if (state.rebalance?.state === 'running') return 'a replica rebalance is running';
  return null;
}

/** Nodes that may lead: current members not drained or declared dead. */
export function leaderEligibleNodes(state: MetaState, isAlive: (nodeId: string) => boolean): string[] {
  return Object.keys(state.nodes).filter((id) => !state.drains?.[id] && !isDeclaredDead(state, id) && isAlive(id)).sort();
}

/** Every shard group with its voters (node ids) from the placement; leaders filled in by the caller. */
export function shardGroupsOf(state: MetaState): { groupId: string; voters: string[] }[] {
  return Object.values(state.collections).flatMap((c) => c.shards.map((s) => ({ groupId: s.groupId, voters: liveReplicas(state, s).map(nodeOfMember) })));
}

export interface LeaderBalancerOptions {
  intervalMs: number;
  meta: { state: MetaState };
  isMetaLeader(): boolean;
  isAlive(nodeId: string): boolean;
  /** The shard groups `nodeId` leads, as it sees itself (throws when it cannot be asked). */
  leaderships(nodeId: string, deadlineMs: number): Promise<string[]>;
  transferLeader(leader: string, groupId: string, toNodeId: string, deadlineMs: number): Promise<void>;
  log(line: string): void;
  isClosed(): boolean;
}

export interface LeaderBalanceRound {
  atMs: number;
  /** Leaderships per node as found, and the transfers started (empty when balanced or blocked). */
  before: Record<string, number>;
  transfers: LeaderTransfer[];
  /** Why the round started nothing although leaderships are uneven, if it did not. */
  blocked: string | null;
}

const ROUND_CALL_MS = 5_000;

export class LeaderBalancer {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  /** The last round that looked at the leaderships (shown in /v1/status). */
  lastRound: LeaderBalanceRound | null = null;

  constructor(private readonly opts: LeaderBalancerOptions) {}

  start(): void {
    if (this.opts.intervalMs <= 0) return;
    this.timer = setInterval(() => void this.round(), this.opts.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round (exposed for tests); answers what it did, or null when it did not run. */
  async round(): Promise<LeaderBalanceRound | null> {
    if (this.busy || this.opts.isClosed() || !this.opts.isMetaLeader()) return null;
    this.busy = true;
    try {
      const state = this.opts.meta.state;
      const blocked = leaderBalanceBlocked(state);
      const eligible = leaderEligibleNodes(state, this.opts.isAlive);
      const deadlineMs = Date.now() + ROUND_CALL_MS;
      const leaderOf = new Map<string, string>();
      // A node that cannot be asked counts as leading nothing it is sure of: its groups are left alone.
      await Promise.all(eligible.map(async (nodeId) => {
        try {
          for (const groupId of await this.opts.leaderships(nodeId, deadlineMs)) leaderOf.set(groupId, nodeId);
        } catch (e) {
          this.opts.log(`leader balance: ${nodeId} did not say which groups it leads: ${(e as Error).message}`);
        }
      }));
      const groups = shardGroupsOf(state).map((g) => ({ ...g, leader: leaderOf.get(g.groupId) ?? null }));
      const plan = planLeaderTransfers(groups, eligible, blocked ? 0 : LEADER_TRANSFERS_PER_ROUND_MAX);
      const started: LeaderTransfer[] = [];
      for (const t of plan.transfers) {
        try {
          await this.opts.transferLeader(t.from, t.groupId, t.to, Date.now() + ROUND_CALL_MS);
          started.push(t);
          this.opts.log(`leader balance: ${t.groupId} leadership ${t.from} → ${t.to}`);
        } catch (e) {
          this.opts.log(`leader balance: ${t.groupId} transfer ${t.from} → ${t.to} not started: ${(e as Error).message}`);
        }
      }
      const uneven = planLeaderTransfers(groups, eligible, 1).transfers.length > 0;
      this.lastRound = { atMs: Date.now(), before: plan.before, transfers: started, blocked: uneven && blocked ? blocked : null };
      return this.lastRound;
    } finally {
      this.busy = false;
    }
  }
}
