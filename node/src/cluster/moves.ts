// Replica moves and drains as meta state: what a move is, its stages and the transitions between
// them, and the checks that refuse a move or a drain with a reason a person can act on. Pure (no
// I/O): the meta state machine applies these on every node alike, and the meta leader's executor
// (move-executor.ts) drives each move through its stages with Raft membership changes of the
// shard's group.
import { JadeError } from '../util/errors.js';
import { memberId, nodeOfMember } from './identity.js';
import type { CollectionMeta, MetaState, ShardPlacement } from './meta.js';

/**
 * planned → copying (the target is a learner: snapshot + log) → catching_up (it applied the
 * snapshot) → promoting (lag under MOVE_PROMOTE_LAG_MAX: made a voter) → verifying (point count
 * and digest equal to the leader's at one applied index) → removing_source (leadership handed
 * away, the source leaves the group) → done. cancelled and failed roll back: the target leaves
 * the group, the replica set is the original one.
 */
export const MOVE_STAGES = ['planned', 'copying', 'catching_up', 'promoting', 'verifying', 'removing_source', 'done', 'cancelled', 'failed'] as const;
export type MoveStage = (typeof MOVE_STAGES)[number];

export const MOVE_FINAL_STAGES: readonly MoveStage[] = ['done', 'cancelled', 'failed'];

/** A target is promoted once its log is at most this many entries behind the group leader's. */
export const MOVE_PROMOTE_LAG_MAX = 64;
/** Moves in flight at once (the whole cluster); further requests are refused with MOVE_IN_PROGRESS. */
export const MOVES_ACTIVE_MAX = 64;
/** Finished moves kept in the meta state for GET /collections/{name}/cluster and the drain report. */
export const MOVES_FINISHED_KEPT = 32;
/** Moves at once into one node and out of one node. */
export const MOVES_PER_NODE_MAX = 1;

export interface MoveRecord {
  id: string;
  collection: string;
  groupId: string;
  /** Member (node#incarnation) that gives up its replica; null for replicate_shard. */
  from: string | null;
  /** Member that receives a replica; null for drop_replica. */
  to: string | null;
  stage: MoveStage;
  /** Set by drain: the node being emptied. */
  drain: string | null;
  /** Started by a rebalance (absent otherwise). */
  rebalance?: true;
  /** Why the move ended cancelled or failed. */
  reason: string | null;
  /** What verifying found equal on the leader, the target and the source: the marker's index, point count and digest. */
  verified?: { index: number; count: number; digest: string } | null;
  startedAtMs: number;
  updatedAtMs: number;
}

export interface DrainRecord {
  nodeId: string;
  incarnation: string;
  state: 'draining' | 'drained';
  startedAtMs: number;
  /** Moves started by this drain so far. */
  moves: number;
}

export function isActive(m: MoveRecord): boolean {
  return !MOVE_FINAL_STAGES.includes(m.stage);
}

/**
 * The next stages a move may take from `from`: forward one step, or roll back (cancelled, failed)
 * until the source leaves. From removing_source on a move only goes forward: the target is a voter
 * and the source is leaving, so rolling back would be a second move.
 */
export function allowedNextStages(from: MoveStage, move: Pick<MoveRecord, 'from' | 'to'>): MoveStage[] {
  const rollback: MoveStage[] = ['cancelled', 'failed'];
  switch (from) {
    case 'planned':
      return move.to ? ['copying', ...rollback] : ['removing_source', ...rollback];
    case 'copying':
      return ['catching_up', ...rollback];
    case 'catching_up':
      return ['promoting', ...rollback];
    case 'promoting':
      return ['verifying', ...rollback];
    case 'verifying':
      return move.from ? ['removing_source', ...rollback] : ['done', ...rollback];
    case 'removing_source':
      return ['done'];
    default:
      return [];
  }
}

export function shardOf(state: MetaState, groupId: string): { collection: CollectionMeta; shard: ShardPlacement; index: number } | null {
  for (const collection of Object.values(state.collections)) {
    const index = collection.shards.findIndex((s) => s.groupId === groupId);
    if (index >= 0) return { collection, shard: collection.shards[index], index };
  }
  return null;
}

export function activeMoves(state: MetaState): MoveRecord[] {
  return (state.moves ?? []).filter(isActive);
}

function conflict(reason: string, message: string, extra: Record<string, unknown> = {}): never {
  throw new JadeError('JADE_ERR_CONFLICT', message, { reason, ...extra });
}

/** The current member of a node, or a coded 404. */
export function currentMember(state: MetaState, nodeId: string): string {
  const n = state.nodes[nodeId];
  if (!n) throw new JadeError('JADE_ERR_NOT_FOUND', `no peer ${nodeId} in the cluster`);
  return memberId(n.id, n.incarnation);
}

/** Whether a node was declared dead (as its current incarnation): it takes no replicas, and its replicas count as lost. */
export function isDeclaredDead(state: MetaState, nodeId: string): boolean {
  const d = state.deadNodes?.[nodeId];
  return d !== undefined && d.incarnation === state.nodes[nodeId]?.incarnation;
}

/** The member (node#incarnation) is its node's current incarnation, and that node is not declared dead. */
export function isCurrentMember(state: MetaState, member: string): boolean {
  const n = state.nodes[nodeOfMember(member)];
  return n !== undefined && memberId(n.id, n.incarnation) === member && !isDeclaredDead(state, n.id);
}

/** Members of the shard whose node is still in the cluster as that incarnation and not declared dead. */
export function liveReplicas(state: MetaState, shard: ShardPlacement): string[] {
  return shard.replicas.filter((m) => state.nodes[nodeOfMember(m)] && memberId(nodeOfMember(m), state.nodes[nodeOfMember(m)].incarnation) === m && !isDeclaredDead(state, nodeOfMember(m)));
}

/**
 * Throws the coded refusal of a move (404 unknown shard or peer, 409 with a reason), or returns.
 * Checked by the meta leader before proposing and again when every node applies the command.
 */
export function checkMove(state: MetaState, m: Pick<MoveRecord, 'groupId' | 'from' | 'to'>): void {
  const found = shardOf(state, m.groupId);
  if (!found) throw new JadeError('JADE_ERR_NOT_FOUND', `no shard group ${m.groupId}`);
  const { shard } = found;
  if (!m.from && !m.to) throw new JadeError('JADE_ERR_BAD_REQUEST', 'a move needs a source, a target or both');
  if (m.from && !shard.replicas.includes(m.from)) throw new JadeError('JADE_ERR_NOT_FOUND', `peer ${nodeOfMember(m.from)} holds no replica of ${m.groupId}`);
  if (m.to) {
    if (!state.nodes[nodeOfMember(m.to)] || currentMember(state, nodeOfMember(m.to)) !== m.to) throw new JadeError('JADE_ERR_NOT_FOUND', `no peer ${nodeOfMember(m.to)} (as ${m.to}) in the cluster`);
    // The source itself may be on the target's node: an old incarnation refilled on the new one.
    if (shard.replicas.some((r) => r !== m.from && nodeOfMember(r) === nodeOfMember(m.to!))) conflict('TARGET_HOLDS_REPLICA', `peer ${nodeOfMember(m.to)} already holds a replica of ${m.groupId}: a node holds at most one replica of a shard`);
    if (isDeclaredDead(state, nodeOfMember(m.to))) conflict('TARGET_DEAD', `peer ${nodeOfMember(m.to)} is declared dead: it takes no new replicas until it is heard from again`);
    const drain = state.drains?.[nodeOfMember(m.to)];
    if (drain) conflict('TARGET_DRAINING', `peer ${nodeOfMember(m.to)} is being drained (${drain.state}): it takes no new replicas`);
  }
  const active = activeMoves(state);
  const busy = active.find((x) => x.groupId === m.groupId);
  if (busy) conflict('MOVE_IN_PROGRESS', `shard group ${m.groupId} has a move in progress (${busy.id}, ${busy.stage}): one membership change of a group at a time`, { move: busy.id });
  if (active.length >= MOVES_ACTIVE_MAX) conflict('MOVE_IN_PROGRESS', `${active.length} moves are in progress (at most ${MOVES_ACTIVE_MAX})`);
  if (m.to && active.filter((x) => x.to && nodeOfMember(x.to) === nodeOfMember(m.to!)).length >= MOVES_PER_NODE_MAX) conflict('MOVE_IN_PROGRESS', `peer ${nodeOfMember(m.to)} already receives ${MOVES_PER_NODE_MAX} move(s)`);
  // A dead source does no work (the group's leader copies to the target): only a live one is limited.
  const sourceLive = m.from !== null && liveReplicas(state, shard).includes(m.from);
  if (m.from && sourceLive && active.filter((x) => x.from && nodeOfMember(x.from) === nodeOfMember(m.from!)).length >= MOVES_PER_NODE_MAX) conflict('MOVE_IN_PROGRESS', `peer ${nodeOfMember(m.from)} already gives up ${MOVES_PER_NODE_MAX} replica(s) in a move`);
  // The group must keep a majority of live voters through the change: while the target is added
  // (live replicas + target) and once the source has left (live replicas − source + target).
  const live = liveReplicas(state, shard);
  const after = shard.replicas.filter((r) => r !== m.from).length + (m.to ? 1 : 0);
  const liveAfter = live.filter((r) => r !== m.from).length + (m.to ? 1 : 0);
  if (live.length * 2 <= shard.replicas.length) conflict('WOULD_LOSE_QUORUM', `shard group ${m.groupId} has ${live.length} live replicas of ${shard.replicas.length}: no quorum to change its membership`);
  if (after === 0) conflict('WOULD_LOSE_QUORUM', `dropping the last replica of ${m.groupId} would lose the shard`);
  if (liveAfter * 2 <= after) conflict('WOULD_LOSE_QUORUM', `after the change ${m.groupId} would have ${liveAfter} live replicas of ${after}: no majority`);
}

/** The replica list once a move is done: the target takes the source's place (so a preferred leader stays first). */
export function replicasAfter(replicas: readonly string[], m: Pick<MoveRecord, 'from' | 'to'>): string[] {
  if (m.from && m.to) return replicas.map((r) => (r === m.from ? m.to! : r));
  if (m.to) return [...replicas, m.to];
  return replicas.filter((r) => r !== m.from);
}

/** Node load as drain targets see it: replicas placed plus replicas arriving. */
function loadOf(state: MetaState): Map<string, number> {
  const load = new Map<string, number>();
  for (const n of Object.values(state.nodes)) load.set(n.id, 0);
  for (const c of Object.values(state.collections)) for (const s of c.shards) for (const r of s.replicas) load.set(nodeOfMember(r), (load.get(nodeOfMember(r)) ?? 0) + 1);
  for (const m of activeMoves(state)) if (m.to) load.set(nodeOfMember(m.to), (load.get(nodeOfMember(m.to)) ?? 0) + 1);
  return load;
}

/** Nodes that could take a replica of `shard`: in the cluster, not draining, holding none of it; least loaded first. */
export function targetCandidates(state: MetaState, shard: ShardPlacement, exclude: string): string[] {
  const load = loadOf(state);
  const holders = new Set(shard.replicas.map(nodeOfMember));
  return Object.keys(state.nodes)
    .filter((id) => id !== exclude && !holders.has(id) && !state.drains?.[id] && !isDeclaredDead(state, id))
    .sort((a, b) => load.get(a)! - load.get(b)! || (a < b ? -1 : 1));
}

/** Replicas on a node's current incarnation, as (collection, shard). */
export function replicasOf(state: MetaState, member: string): { collection: CollectionMeta; shard: ShardPlacement }[] {
  const out: { collection: CollectionMeta; shard: ShardPlacement }[] = [];
  for (const c of Object.values(state.collections)) for (const s of c.shards) if (s.replicas.includes(member)) out.push({ collection: c, shard: s });
  return out;
}

/**
 * Throws the coded refusal of draining `nodeId` (404, 409 NO_TARGET_NODE, 409 WOULD_LOSE_QUORUM),
 * or returns. Every replica on it needs a node that may take it.
 */
export function checkDrain(state: MetaState, nodeId: string): void {
  const member = currentMember(state, nodeId);
  for (const { shard } of replicasOf(state, member)) {
    const candidates = targetCandidates(state, shard, nodeId);
    if (candidates.length === 0) {
      conflict('NO_TARGET_NODE', `no other node can take the replica of ${shard.groupId} on ${nodeId}: every node that is not draining holds one already (a node holds at most one replica of a shard). Add a node first, or lower the collection's replication`, { group: shard.groupId });
    }
    const live = liveReplicas(state, shard);
    if (live.length * 2 <= shard.replicas.length) conflict('WOULD_LOSE_QUORUM', `shard group ${shard.groupId} has ${live.length} live replicas of ${shard.replicas.length}: no quorum to move its replica off ${nodeId}`, { group: shard.groupId });
  }
}

/** The next move a drain should start, or null when nothing is left (or a move of it is in flight). */
export function nextDrainMove(state: MetaState, nodeId: string): Pick<MoveRecord, 'collection' | 'groupId' | 'from' | 'to'> | null {
  const n = state.nodes[nodeId];
  if (!n) return null;
  const member = memberId(n.id, n.incarnation);
  if (activeMoves(state).some((m) => m.from === member)) return null;
  for (const { collection, shard } of replicasOf(state, member)) {
    if (activeMoves(state).some((m) => m.groupId === shard.groupId)) continue;
    for (const target of targetCandidates(state, shard, nodeId)) {
      const to = currentMember(state, target);
      if (activeMoves(state).some((m) => m.to && nodeOfMember(m.to) === target)) continue;
      return { collection: collection.name, groupId: shard.groupId, from: member, to };
    }
  }
  return null;
}

/** Shards with a replica on a member that is no longer in the cluster as that incarnation (removed, or returned empty), or whose node was declared dead. */
export function underReplicated(state: MetaState): { collection: string; groupId: string; dead: string[] }[] {
  const out: { collection: string; groupId: string; dead: string[] }[] = [];
  for (const c of Object.values(state.collections)) {
    for (const s of c.shards) {
      const live = new Set(liveReplicas(state, s));
      const dead = s.replicas.filter((r) => !live.has(r));
      if (dead.length > 0) out.push({ collection: c.name, groupId: s.groupId, dead });
    }
  }
  return out;
}

/**
 * The next re-replication: a dead replica is replaced through a move from it (the group's leader
 * copies to the target). The same node's new incarnation comes first (a node back with an empty
 * disk is refilled), then the least loaded node that holds none of the shard and is not draining.
 */
export function nextHealMove(state: MetaState): Pick<MoveRecord, 'collection' | 'groupId' | 'from' | 'to'> | null {
  const active = activeMoves(state);
  const load = loadOf(state);
  for (const { collection, groupId, dead } of underReplicated(state)) {
    if (active.some((m) => m.groupId === groupId)) continue;
    const shard = shardOf(state, groupId)!.shard;
    const liveHolders = new Set(liveReplicas(state, shard).map(nodeOfMember));
    const from = dead[0];
    const candidates = Object.keys(state.nodes)
      .filter((id) => !liveHolders.has(id) && !state.drains?.[id] && !isDeclaredDead(state, id) && !active.some((m) => m.to && nodeOfMember(m.to) === id))
      .sort((a, b) => Number(b === nodeOfMember(from)) - Number(a === nodeOfMember(from)) || load.get(a)! - load.get(b)! || (a < b ? -1 : 1));
    if (candidates.length > 0) return { collection, groupId, from, to: currentMember(state, candidates[0]) };
  }
  return null;
}
