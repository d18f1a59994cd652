// The meta leader drives every replica move through its stages (moves.ts) with membership changes
// of the shard's Raft group, and starts the moves of each drain one at a time. Every step first
// reads the group's actual configuration from its leader, so a new meta leader resumes a move
// from the stage the meta state records without redoing or skipping a change. A move that makes
// no progress in a stage for MOVE_STAGE_TIMEOUT_MS, or whose digests differ, fails and rolls back
// (the target leaves the group) unless the source is already leaving.
import type { ConfChange } from '../raft/types.js';
import { JadeError, isJadeError } from '../util/errors.js';
import type { GroupAdmin } from './group-admin.js';
import type { GroupStatus, HostedGroup } from './hosted-group.js';
import { memberId, nodeOfMember } from './identity.js';
import type { MetaCommand, MetaStateMachine } from './meta.js';
import { MOVE_PROMOTE_LAG_MAX, activeMoves, checkDrain, isActive, isCurrentMember, checkMove, liveReplicas, nextDrainMove, nextHealMove, replicasOf, shardOf, underReplicated, type MoveRecord, type MoveStage } from './moves.js';
import { livenessChanges, type FailureDetectorSettings } from './failure-detector.js';
import { MoveProgressBook, type MoveProgress } from './move-progress.js';
import { REBALANCE_MOVES_ACTIVE_MAX, planRebalance } from './rebalance.js';

const EXECUTOR_INTERVAL_MS = 200;
/** A stage that makes no progress this long fails the move (a dead target, a partition). */
export const MOVE_STAGE_TIMEOUT_MS = 120_000;
/** Deadline of each internal call of a step. */
const STEP_CALL_MS = 10_000;
/** Digest comparisons that may disagree before the move fails (a mismatch is a bug or a corruption, not noise). */
const VERIFY_MISMATCHES_MAX = 1;
const NOTE_EVERY_MS = 10_000;

export interface MoveExecutorOptions {
  meta: MetaStateMachine;
  metaGroup(): HostedGroup | null;
  admin: GroupAdmin;
  proposeMeta(c: MetaCommand, deadlineMs?: number): Promise<unknown>;
  findLeader(groupId: string, deadlineMs: number): Promise<string | null>;
  log(line: string): void;
  isClosed(): boolean;
  /** This node's id and how long each node has been silent (the failure detector's input). */
  selfNodeId: string;
  silentMs(nodeId: string): number;
  failureDetector: FailureDetectorSettings;
}

export interface MoveRequest {
  collection: string;
  groupId: string;
  from: string | null;
  to: string | null;
}

function inConf(s: GroupStatus, member: string): boolean {
  return s.conf.voters.includes(member) || s.conf.learners.includes(member);
}

export class MoveExecutor {
  private timer: NodeJS.Timeout | null = null;
  /** One round (or one request) at a time: cancel and start never race a step of the same move. */
  private lock: Promise<void> = Promise.resolve();
  private readonly mismatches = new Map<string, number>();
  private readonly lastNote = new Map<string, number>();
  private seq = 0;
  /** When this node's current meta leadership began (as the executor saw it), or null while not leading. */
  private leaderSinceMs: number | null = null;
  /** What each move's target has received, as last observed in its group leader's status (in memory only: it changes too fast for the meta log). */
  private readonly progress = new MoveProgressBook();

  constructor(private readonly opts: MoveExecutorOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.exclusive(() => this.round()).catch(() => undefined), EXECUTOR_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private get state() {
    return this.opts.meta.state;
  }

  private ready(): boolean {
    const g = this.opts.metaGroup();
    if (!g || !g.isLeader || this.opts.isClosed() || !this.state.clusterId) return false;
    // A new meta leader acts only on the whole meta state (it may still apply its predecessors' commands).
    return g.driver.core.leaderCaughtUp && g.driver.applied >= g.driver.core.status().commit;
  }

  private note(key: string, line: string): void {
    const now = Date.now();
    if ((this.lastNote.get(key) ?? 0) + NOTE_EVERY_MS > now) return;
    this.lastNote.set(key, now);
    this.opts.log(line);
  }

  /** Meta leader: records a move after checking it (coded 404/409 refusals). Resolves with the move's id. */
  request(req: MoveRequest, drain: string | null = null): Promise<string> {
    return this.exclusive(async () => {
      checkMove(this.state, req);
      const startedAtMs = Date.now();
      const id = `${req.groupId}@${startedAtMs.toString(36)}.${(this.seq++).toString(36)}`;
      await this.opts.proposeMeta({ op: 'startMove', move: { id, collection: req.collection, groupId: req.groupId, from: req.from, to: req.to, drain, startedAtMs } });
      this.opts.log(`move ${id}: planned (${req.from ?? '-'} -> ${req.to ?? '-'})`);
      return id;
    });
  }

  /** Meta leader: cancels the active move of a group (rolls the target back out); 409 once the source is leaving. */
  cancel(groupId: string): Promise<string> {
    return this.exclusive(async () => {
      const m = activeMoves(this.state).find((x) => x.groupId === groupId);
      if (!m) throw new JadeError('JADE_ERR_NOT_FOUND', `no move of ${groupId} is in progress`);
      if (m.stage === 'removing_source') throw new JadeError('JADE_ERR_CONFLICT', `move ${m.id} is removing its source: it can only finish`, { reason: 'MOVE_PAST_CANCEL' });
      await this.rollBack(m, 'cancelled', 'cancelled by request');
      return m.id;
    });
  }

  /** Meta leader: starts draining a node (or reports the drain it is in). */
  drain(nodeId: string): Promise<void> {
    return this.exclusive(async () => {
      const n = this.state.nodes[nodeId];
      if (!n) throw new JadeError('JADE_ERR_NOT_FOUND', `no peer ${nodeId} in the cluster`);
      const existing = this.state.drains?.[nodeId];
      if (existing && existing.incarnation === n.incarnation) return;
      checkDrain(this.state, nodeId);
      const empty = replicasOf(this.state, memberId(n.id, n.incarnation)).length === 0;
      await this.opts.proposeMeta({ op: 'setDrain', nodeId, incarnation: n.incarnation, state: empty ? 'drained' : 'draining', atMs: Date.now() });
      this.opts.log(`drain of ${nodeId}: ${empty ? 'drained (it holds no replicas)' : 'started'}`);
    });
  }

  /** Meta leader: the latest progress of every move the meta state lists that this leader observed (finished ones: as last observed). */
  progressAll(): Record<string, MoveProgress> {
    return this.ready() ? this.progress.all() : {};
  }

  private async round(): Promise<void> {
    if (!this.ready()) {
      this.leaderSinceMs = null;
      this.progress.retain(new Set()); // a later term starts afresh rather than show stale numbers
      return;
    }
    this.leaderSinceMs ??= Date.now();
    this.progress.retain(new Set((this.state.moves ?? []).map((m) => m.id)));
    for (const m of this.state.moves ?? []) if (!isActive(m)) this.progress.settle(m.id, m.stage === 'done');
    await this.driveLiveness();
    for (const m of activeMoves(this.state)) {
      if (this.opts.isClosed() || !this.ready()) return;
      try {
        await this.step(m);
      } catch (e) {
        this.note(m.id, `move ${m.id} (${m.stage}): step not made yet: ${(e as Error).message}`);
      }
    }
    await this.driveDrains();
    await this.driveHeals();
    await this.driveRebalance();
  }

  /** Declares silent nodes dead (their replicas are then replaced) and returning ones alive. */
  private async driveLiveness(): Promise<void> {
    const ledForMs = Date.now() - (this.leaderSinceMs ?? Date.now());
    for (const c of livenessChanges(this.state, this.opts.selfNodeId, (id) => this.opts.silentMs(id), ledForMs, this.opts.failureDetector)) {
      if (!this.ready()) return;
      await this.opts.proposeMeta({ op: 'setNodeDead', nodeId: c.nodeId, incarnation: c.incarnation, dead: c.dead, reason: c.reason, atMs: Date.now() });
      this.opts.log(`node ${c.nodeId} declared ${c.dead ? 'dead' : 'alive again'}: ${c.reason}${c.dead ? '; its replicas are re-created on other nodes' : ''}`);
    }
  }

  /** Meta leader: starts a rebalance (or keeps the one running); the planner's moves follow round by round. */
  startRebalance(reason: string): Promise<void> {
    return this.exclusive(async () => {
      if (this.state.rebalance?.state === 'running') return;
      await this.opts.proposeMeta({ op: 'setRebalance', state: 'running', reason, atMs: Date.now() });
      this.opts.log(`rebalance started (${reason})`);
    });
  }

  /** Meta leader: starts no further rebalance moves (those in flight finish). */
  stopRebalance(reason: string): Promise<void> {
    return this.exclusive(async () => {
      if (this.state.rebalance?.state !== 'running') return;
      await this.opts.proposeMeta({ op: 'setRebalance', state: 'stopped', reason, atMs: Date.now() });
      this.opts.log(`rebalance stopped (${reason})`);
    });
  }

  /**
   * While a rebalance runs: its next moves, at most REBALANCE_MOVES_ACTIVE_MAX at once, after
   * drains and re-replication (those come first: a rebalance would only move replicas they move
   * again). Done once the planner has nothing left and no rebalance move is in flight.
   */
  private async driveRebalance(): Promise<void> {
    const r = this.state.rebalance;
    if (!r || r.state !== 'running' || !this.ready()) return;
    if (underReplicated(this.state).length > 0 || Object.values(this.state.drains ?? {}).some((d) => d.state === 'draining')) {
      this.note('rebalance', 'rebalance waits: re-replication or a drain is in progress');
      return;
    }
    const inFlight = activeMoves(this.state).filter((m) => m.rebalance).length;
    const plan = planRebalance(this.state);
    if (plan.moves.length === 0) {
      if (inFlight === 0) {
        await this.opts.proposeMeta({ op: 'setRebalance', state: 'done', reason: r.reason, atMs: Date.now() });
        this.opts.log(`rebalance done: ${r.moves} moves (${r.reason})`);
      }
      return;
    }
    let started = inFlight;
    for (const next of plan.moves) {
      if (started >= REBALANCE_MOVES_ACTIVE_MAX || !this.ready()) return;
      try {
        checkMove(this.state, next);
      } catch {
        continue; // busy node or group: a later move of the plan may start now
      }
      const startedAtMs = Date.now();
      const id = `${next.groupId}@${startedAtMs.toString(36)}.${(this.seq++).toString(36)}`;
      await this.opts.proposeMeta({ op: 'startMove', move: { id, collection: next.collection, groupId: next.groupId, from: next.from, to: next.to, drain: null, startedAtMs, rebalance: true } });
      this.opts.log(`rebalance: move ${id} planned (${next.from} -> ${next.to})`);
      started++;
    }
  }

  /** Re-replication: one move per round replaces a replica whose member left or returned as a new incarnation. */
  private async driveHeals(): Promise<void> {
    if (!this.ready()) return;
    const next = nextHealMove(this.state);
    if (!next) return;
    try {
      checkMove(this.state, next);
    } catch (e) {
      this.note(`heal:${next.groupId}`, `re-replication of ${next.groupId} waits: ${(e as Error).message}`);
      return;
    }
    const startedAtMs = Date.now();
    const id = `${next.groupId}@${startedAtMs.toString(36)}.${(this.seq++).toString(36)}`;
    await this.opts.proposeMeta({ op: 'startMove', move: { id, ...next, drain: null, startedAtMs } });
    this.opts.log(`re-replication of ${next.groupId}: move ${id} planned (${next.from} is gone -> ${next.to})`);
  }

  private async driveDrains(): Promise<void> {
    for (const d of Object.values(this.state.drains ?? {})) {
      if (d.state !== 'draining' || !this.ready()) continue;
      const n = this.state.nodes[d.nodeId];
      if (!n || n.incarnation !== d.incarnation) continue;
      const member = memberId(n.id, n.incarnation);
      const left = replicasOf(this.state, member).length;
      const inFlight = activeMoves(this.state).filter((m) => m.from === member || m.drain === d.nodeId);
      if (left === 0 && inFlight.length === 0) {
        await this.opts.proposeMeta({ op: 'setDrain', nodeId: d.nodeId, incarnation: d.incarnation, state: 'drained', atMs: Date.now() });
        this.opts.log(`drain of ${d.nodeId}: drained`);
        continue;
      }
      if (inFlight.length > 0) continue; // one move at a time per drained node
      const next = nextDrainMove(this.state, d.nodeId);
      if (!next) {
        this.note(`drain:${d.nodeId}`, `drain of ${d.nodeId}: ${left} replicas left, but no node can take the next one now (each needs a node that is not draining and holds none of that shard)`);
        continue;
      }
      try {
        checkMove(this.state, next);
      } catch (e) {
        this.note(`drain:${d.nodeId}`, `drain of ${d.nodeId}: next move of ${next.groupId} waits: ${(e as Error).message}`);
        continue;
      }
      const startedAtMs = Date.now();
      const id = `${next.groupId}@${startedAtMs.toString(36)}.${(this.seq++).toString(36)}`;
      await this.opts.proposeMeta({ op: 'startMove', move: { id, ...next, drain: d.nodeId, startedAtMs } });
      this.opts.log(`drain of ${d.nodeId}: move ${id} planned (${next.from} -> ${next.to})`);
    }
  }

  private async advance(m: MoveRecord, stage: MoveStage, reason: string | null = null, verified?: MoveRecord['verified']): Promise<void> {
    await this.opts.proposeMeta({ op: 'advanceMove', id: m.id, stage, reason, atMs: Date.now(), ...(verified ? { verified } : {}) });
    this.opts.log(`move ${m.id}: ${m.stage} -> ${stage}${reason ? ` (${reason})` : ''}`);
  }

  /** The group's leader and its status (with lag per member), or an error to retry on. */
  private async leaderStatus(groupId: string): Promise<{ leader: string; status: GroupStatus }> {
    const deadlineMs = Date.now() + STEP_CALL_MS;
    const leader = await this.opts.findLeader(groupId, deadlineMs);
    if (!leader) throw new JadeError('JADE_ERR_UNAVAILABLE', `no leader of ${groupId} known`);
    const status = await this.opts.admin.statusOf(leader, groupId, deadlineMs);
    if (!status || status.role !== 'leader') throw new JadeError('JADE_ERR_NOT_LEADER', `${leader} no longer leads ${groupId}`);
    return { leader, status };
  }

  private async change(leader: string, groupId: string, change: ConfChange): Promise<GroupStatus> {
    this.opts.log(`group ${groupId}: ${change.type} ${change.nodeId}`);
    return this.opts.admin.confChange(leader, groupId, change, Date.now() + STEP_CALL_MS);
  }

  /** Takes the target back out of the group, then records the final stage. */
  private async rollBack(m: MoveRecord, stage: 'cancelled' | 'failed', reason: string): Promise<void> {
    if (m.to && shardOf(this.state, m.groupId)) {
      const { leader, status } = await this.leaderStatus(m.groupId);
      if (inConf(status, m.to)) {
        if (nodeOfMember(m.to) === leader) {
          const other = status.conf.voters.find((v) => v !== m.to);
          if (other) await this.opts.admin.transferLeader(leader, m.groupId, other, Date.now() + STEP_CALL_MS);
          throw new JadeError('JADE_ERR_UNAVAILABLE', `the target ${m.to} leads ${m.groupId}: leadership is handed away before it leaves`);
        }
        await this.change(leader, m.groupId, { type: 'removeNode', nodeId: m.to });
      }
    }
    this.mismatches.delete(m.id);
    await this.advance(m, stage, reason);
  }

  private async step(m: MoveRecord): Promise<void> {
    if (!shardOf(this.state, m.groupId)) {
      await this.advance(m, m.stage === 'removing_source' ? 'done' : 'failed', 'the collection was deleted');
      return;
    }
    if (m.stage !== 'removing_source' && Date.now() - m.updatedAtMs > MOVE_STAGE_TIMEOUT_MS) {
      await this.rollBack(m, 'failed', `no progress in stage ${m.stage} for ${MOVE_STAGE_TIMEOUT_MS} ms`);
      return;
    }
    // A target that left, came back empty as a new incarnation, or was declared dead will never
    // fill: roll back now instead of waiting out the stage timeout.
    if (m.to && m.stage !== 'removing_source' && !isCurrentMember(this.state, m.to)) {
      await this.rollBack(m, 'failed', `the target ${m.to} is no longer a current member (it left, was declared dead, or came back as a new incarnation)`);
      return;
    }
    const { leader, status } = await this.leaderStatus(m.groupId);
    this.progress.observe(m, status, Date.now());
    switch (m.stage) {
      case 'planned':
        if (!m.to) return this.advance(m, 'removing_source');
        if (!inConf(status, m.to)) await this.change(leader, m.groupId, { type: 'addLearner', nodeId: m.to });
        return this.advance(m, 'copying');
      case 'copying': {
        // The target has installed the leader's snapshot (or applied entries): it is catching up.
        const target = await this.opts.admin.statusOf(nodeOfMember(m.to!), m.groupId, Date.now() + STEP_CALL_MS);
        if (target && target.applied > 0) return this.advance(m, 'catching_up');
        return;
      }
      case 'catching_up': {
        const lag = status.lag?.[m.to!];
        if (lag !== undefined && lag <= MOVE_PROMOTE_LAG_MAX) return this.advance(m, 'promoting');
        return;
      }
      case 'promoting':
        if (!status.conf.voters.includes(m.to!)) await this.change(leader, m.groupId, { type: 'addVoter', nodeId: m.to! });
        return this.advance(m, 'verifying');
      case 'verifying':
        return this.verify(m, leader);
      case 'removing_source': {
        const from = m.from!;
        if (inConf(status, from)) {
          // A dead source (an old incarnation) leads nothing, even when its node's new incarnation does.
          const sourceLive = liveReplicas(this.state, shardOf(this.state, m.groupId)!.shard).includes(from);
          if (sourceLive && nodeOfMember(from) === leader) {
            const to = m.to && status.conf.voters.includes(m.to) ? m.to : status.conf.voters.find((v) => v !== from);
            if (!to) throw new JadeError('JADE_ERR_UNAVAILABLE', `no other voter of ${m.groupId} to hand leadership to`);
            this.opts.log(`group ${m.groupId}: transferring leadership from ${from} to ${to}`);
            await this.opts.admin.transferLeader(leader, m.groupId, to, Date.now() + STEP_CALL_MS);
            return; // the next round removes the source from the new leader
          }
          await this.change(leader, m.groupId, { type: 'removeNode', nodeId: from });
        }
        return this.advance(m, 'done');
      }
      default:
        return;
    }
  }

  /** Point count and digest of the leader, the target and the source (when it answers) at one marker. */
  private async verify(m: MoveRecord, leader: string): Promise<void> {
    const token = `${m.id.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(-80)}:${(this.seq++).toString(36)}`;
    const deadlineMs = Date.now() + STEP_CALL_MS;
    const reference = await this.opts.admin.digestMarker(leader, m.groupId, token, deadlineMs);
    if (!reference) throw new JadeError('JADE_ERR_UNAVAILABLE', `leader ${leader} of ${m.groupId} has no digest at marker ${token}`);
    const others = [m.to, m.from].filter((x): x is string => x !== null && nodeOfMember(x) !== leader);
    for (const member of others) {
      let d;
      try {
        d = await this.opts.admin.digest(nodeOfMember(member), m.groupId, token, reference.index, deadlineMs);
      } catch (e) {
        // The source may be down (a heal); the target must answer.
        if (member === m.from && isJadeError(e) && (e.code === 'JADE_ERR_UNAVAILABLE' || e.code === 'JADE_ERR_DEADLINE')) continue;
        throw e;
      }
      if (!d) throw new JadeError('JADE_ERR_UNAVAILABLE', `${member} skipped marker ${token} (it installed a later snapshot); verifying again`);
      if (d.count !== reference.count || d.digest !== reference.digest) {
        const n = (this.mismatches.get(m.id) ?? 0) + 1;
        this.mismatches.set(m.id, n);
        const why = `digest mismatch at index ${reference.index}: ${member} has ${d.count} points (${d.digest}), leader ${leader} ${reference.count} (${reference.digest})`;
        this.opts.log(`move ${m.id}: ${why}`);
        if (n > VERIFY_MISMATCHES_MAX) await this.rollBack(m, 'failed', why);
        return;
      }
    }
    this.mismatches.delete(m.id);
    await this.advance(m, m.from ? 'removing_source' : 'done', null, { index: reference.index, count: reference.count, digest: reference.digest });
  }
}
