// The loop that runs one Raft group: persist each Ready (DurableRaftStorage), then send its
// messages (RaftTransport), install snapshots and apply committed entries (RaftStateMachine), then
// advance the core. Also: proposal and read waiters, periodic snapshot + log compaction.
// Time comes from outside: the host calls tick() from its clock (a fake one in tests).
import { randomBytes } from 'node:crypto';
import { JadeError, isJadeError } from '../util/errors.js';
import type { RaftConfig, RaftStatus } from './core.js';
import { RaftCore } from './core.js';
import type { RaftStorage } from './storage.js';
import type { ConfChange, ConfState, Entry, HardState, Message, NodeId, Ready, Snapshot } from './types.js';

/** RaftStorage whose writes are durable when their promise resolves. */
export interface DurableRaftStorage extends RaftStorage {
  /** Persist a Ready's snapshot, entries and hard state; durable (fsynced) when it resolves. */
  save(batch: { hardState?: HardState; entries: Entry[]; snapshot?: Snapshot }, mustSync: boolean): Promise<void>;
  /** Record a snapshot the state machine produced at applied index `index`. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot>;
  /** Drop log entries up to and including `index` (≤ the snapshot index). */
  compact(index: number): Promise<void>;
}

export interface RaftTransport {
  /** Fire and forget: messages may be lost, duplicated or reordered. Snapshot streams report back via reportSnapshot. */
  send(messages: Message[]): void;
}

export interface RaftStateMachine {
  /**
   * Apply committed entries in index order. confChange entries are passed too (data is an encoded ConfChange).
   * May return one result per entry: a local proposal of that entry resolves with it.
   */
  apply(entries: Entry[]): Promise<void | readonly unknown[]>;
  /**
   * An image of the state as of the last applied entry. The state must be captured when this is
   * called; the promise may resolve later, while the driver goes on applying entries.
   */
  snapshot(): Promise<Uint8Array>;
  /** Replace the whole state with a snapshot received from the leader. */
  restore(snapshot: Snapshot): Promise<void>;
}

export const RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT = 256 << 20;
export const RAFT_COMPACTION_LAG_BYTES_DEFAULT = 64 << 20;

/**
 * A factor in [1, 1.5) applied to a replica's snapshot thresholds, from its rank among the voters.
 * The replicas of a group apply the same entries: without it they would all take a snapshot at
 * the same index, and its capture still blocks each one's event loop for a moment (a copy of the
 * state) while the encode and the write compete for the same resources. Staggered, they rarely
 * coincide.
 */
export function snapshotThresholdFactor(nodeId: string, voters: readonly string[]): number {
  const rank = [...voters].sort().indexOf(nodeId);
  return rank < 0 ? 1 : 1 + (0.5 * rank) / voters.length;
}

export interface RaftDriverOptions {
  core: Omit<RaftConfig, 'storage'>;
  storage: DurableRaftStorage;
  transport: RaftTransport;
  stateMachine: RaftStateMachine;
  /** Snapshot and compact the log after this many entries applied since the last snapshot. */
  snapshotEveryEntries?: number;
  /**
   * ... or after this many bytes of entry data applied since the last snapshot, or as many as the
   * last snapshot holds if that is more: the log since the last compaction is also held in memory
   * (FileRaftStorage's mirror) and entries of vectors are megabytes each, while a snapshot writes
   * the whole state, so this bounds both the log's memory (≤ the state's size) and the snapshot
   * write amplification (≤ 2×).
   */
  snapshotEveryBytes?: number;
  /** Entries kept below the snapshot index when compacting, so slightly slow followers need no snapshot. */
  compactionLagEntries?: number;
  /** ... and at most this many bytes of them. */
  compactionLagBytes?: number;
  /** Proposals waiting to be applied; more are rejected with JADE_ERR_QUEUE_FULL. */
  maxPendingProposals?: number;
  /** Reads waiting for their read index; more are rejected with JADE_ERR_QUEUE_FULL. */
  maxPendingReads?: number;
  /** A storage or state machine failure stopped the group (it must be restarted from disk). */
  onFatal?: (err: unknown) => void;
}

interface ProposalWaiter {
  term: number;
  index: number;
  resolve: (r: ProposalResult) => void;
  reject: (e: unknown) => void;
  /** Called once the entry is durable in this node's log (before it is committed). */
  onPersisted?: (index: number) => void;
}

export interface ProposeOptions {
  /** Called once the proposal's entries are durable in this (the leader's) log, before commit. */
  onPersisted?: (index: number) => void;
}

/** A proposal's applied index and what the state machine's apply returned for that entry (if anything). */
export interface ProposalResult {
  index: number;
  result?: unknown;
}

/** One read round (one context sent to the core) and every caller it answers. */
/** A read round unanswered this long no longer holds back the next one (its answer may have been dropped). */
const READ_ROUND_STALE_MS = 300;

interface ReadWaiter {
  index: number | null;
  /** Handed to the core; a round not yet sent still takes callers. */
  sent: boolean;
  sentAtMs: number;
  callers: { resolve: (index: number) => void; reject: (e: unknown) => void }[];
  resolve(index: number): void;
  reject(e: unknown): void;
}

export class RaftDriver {
  readonly core: RaftCore;
  private readonly storage: DurableRaftStorage;
  private readonly transport: RaftTransport;
  private readonly sm: RaftStateMachine;
  private readonly snapshotEveryEntries: number;
  private readonly snapshotEveryBytes: number;
  /** snapshotThresholdFactor of this replica. */
  private readonly snapshotStagger: number;
  private readonly compactionLagEntries: number;
  private readonly compactionLagBytes: number;
  /** Entry data bytes applied since the last snapshot (not persisted: after a restart it counts from 0). */
  private appliedBytesSinceSnapshot = 0;
  /** The snapshot being encoded and written off the loop (see maybeSnapshot), if any. */
  private snapshotting: Promise<void> | null = null;
  /** Set by requestSnapshot(): take one at the next chance, below the thresholds. */
  private snapshotRequested = false;
  private readonly maxPendingProposals: number;
  private readonly maxPendingReads: number;
  private readonly onFatal: ((err: unknown) => void) | undefined;
  /** Keyed by the last index of each proposed batch. */
  private readonly proposals = new Map<number, ProposalWaiter>();
  private readonly reads = new Map<string, ReadWaiter>();
  /** Callers waiting in `reads` (each round answers many). */
  private readCallers = 0;
  /** The round that takes new callers: not sent while another is in flight (see readIndex). */
  private nextRead: { ctx: string; waiter: ReadWaiter } | null = null;
  private readSeq = 0;
  /**
   * Makes this driver's read contexts unique across restarts. The leader keys pending reads by
   * context and answers with the commit index it saw when the read arrived: a restarted member
   * counting from 1 again could be handed the answer to a read its previous process sent before
   * later writes were acknowledged, and serve a stale read (seen in a lincheck run).
   */
  private readonly readNonce = randomBytes(6).toString('base64url');
  private running: Promise<void> | null = null;
  private again = false;
  private stopped: unknown = null;
  private appliedIndex: number;
  private snapshotIndex: number;
  private lead: NodeId = '';

  constructor(opts: RaftDriverOptions) {
    this.storage = opts.storage;
    this.transport = opts.transport;
    this.sm = opts.stateMachine;
    this.snapshotEveryEntries = opts.snapshotEveryEntries ?? 10_000;
    this.snapshotEveryBytes = opts.snapshotEveryBytes ?? RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT;
    this.compactionLagEntries = opts.compactionLagEntries ?? 1_000;
    this.compactionLagBytes = opts.compactionLagBytes ?? RAFT_COMPACTION_LAG_BYTES_DEFAULT;
    this.maxPendingProposals = opts.maxPendingProposals ?? 10_000;
    this.maxPendingReads = opts.maxPendingReads ?? 10_000;
    this.onFatal = opts.onFatal;
    this.snapshotIndex = opts.storage.firstIndex() - 1;
    this.core = new RaftCore({ ...opts.core, storage: opts.storage, applied: opts.core.applied ?? this.snapshotIndex });
    this.appliedIndex = this.core.basicStatus().applied;
    this.snapshotStagger = snapshotThresholdFactor(opts.core.id, this.core.confState().voters);
  }

  tick(): void {
    if (this.stopped) return;
    this.core.tick();
    this.kick();
  }

  step(m: Message): void {
    if (this.stopped) return;
    // A heartbeat's answer carries no news that needs this replica's clock running again.
    if (m.type !== 'MsgHeartbeatResp') this.active();
    this.core.step(m);
    this.kick();
  }

  /**
   * Called whenever something happens that needs the group's clock (a proposal, a read, a message):
   * a host that stopped ticking an idle group (quiescence) starts again.
   */
  onActivity(listener: () => void): void {
    this.activityListener = listener;
  }
  private activityListener: (() => void) | null = null;
  private active(): void {
    this.activityListener?.();
  }

  /** Propose a batch; resolves once its last entry is applied here, rejects if it was overwritten. */
  propose(datas: Uint8Array[], options: ProposeOptions = {}): Promise<ProposalResult> {
    this.active();
    return this.track(() => this.core.propose(datas), options.onPersisted);
  }

  /** Proposals and reads waiting here (a group with any is not idle). */
  get waiting(): number {
    return this.proposals.size + this.readCallers;
  }

  /** The index of the last entry applied to the state machine here. */
  get applied(): number {
    return this.appliedIndex;
  }

  /**
   * True between handing entries (or a snapshot) to the state machine and recording their index:
   * the state machine is then ahead of `applied`. onApplied listeners run once it is false again.
   */
  get applying(): boolean {
    return this.applyingNow;
  }
  private applyingNow = false;

  /** Called when this replica learns of a new leader (or loses it: ''). */
  onLeaderChange(listener: (leader: NodeId) => void): void {
    this.leaderListeners.push(listener);
  }
  private readonly leaderListeners: ((leader: NodeId) => void)[] = [];

  /** Called after each batch of entries is applied (or a snapshot installed), with the applied index. */
  onApplied(listener: (index: number) => void): void {
    this.appliedListeners.push(listener);
  }
  private readonly appliedListeners: ((index: number) => void)[] = [];

  proposeConfChange(cc: ConfChange): Promise<ProposalResult> {
    this.active();
    return this.track(() => this.core.proposeConfChange(cc));
  }

  /**
   * Linearizable read barrier: resolves with an index once the local state machine applied it.
   * Reads are batched as etcd's linearizable read loop does: while one round (a heartbeat quorum on
   * the leader) is in flight, new callers gather in the next round, sent when that one is answered.
   * A caller never joins a round already sent, so its read index is still taken after it arrived.
   */
  readIndex(): Promise<number> {
    this.active();
    if (this.stopped) return Promise.reject(new JadeError('JADE_ERR_UNAVAILABLE', `raft group ${this.core.groupId} is stopped`));
    if (this.readCallers >= this.maxPendingReads) return Promise.reject(new JadeError('JADE_ERR_QUEUE_FULL', `${this.readCallers} reads pending`));
    return new Promise<number>((resolve, reject) => {
      if (!this.nextRead) {
        const ctx = `${this.core.id}:${this.readNonce}:${++this.readSeq}`;
        const waiter: ReadWaiter = {
          index: null,
          sent: false,
          sentAtMs: 0,
          callers: [],
          resolve: (index) => {
            this.readCallers -= waiter.callers.length;
            for (const c of waiter.callers) c.resolve(index);
          },
          reject: (e) => {
            this.readCallers -= waiter.callers.length;
            for (const c of waiter.callers) c.reject(e);
          },
        };
        this.reads.set(ctx, waiter);
        this.nextRead = { ctx, waiter };
        // A round in flight whose answer was lost (a dropped message) must not hold this one back.
        setTimeout(() => this.sendNextRead(), READ_ROUND_STALE_MS).unref?.();
      }
      this.nextRead.waiter.callers.push({ resolve, reject });
      this.readCallers++;
      this.sendNextRead();
    });
  }

  /** Sends the gathering round unless another round is still waiting for its index. */
  private sendNextRead(): void {
    const next = this.nextRead;
    if (!next || this.stopped) return;
    const now = Date.now();
    for (const w of this.reads.values()) if (w.sent && w.index === null && now - w.sentAtMs < READ_ROUND_STALE_MS) return;
    this.nextRead = null;
    next.waiter.sent = true;
    next.waiter.sentAtMs = now;
    try {
      this.core.readIndex(next.ctx);
    } catch (e) {
      this.reads.delete(next.ctx);
      next.waiter.reject(e);
      return;
    }
    this.kick();
  }

  /** Start an election now (e.g. the first replica of a new group) instead of waiting for a timeout. */
  campaign(): void {
    if (this.stopped) return;
    this.active();
    this.core.campaign();
    this.kick();
  }

  /** See RaftCore.forgetLeader. */
  forgetLeader(): void {
    if (this.stopped) return;
    this.core.forgetLeader();
    this.kick();
  }

  transferLeader(to: NodeId): void {
    this.active();
    this.core.transferLeader(to);
    this.kick();
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.core.reportSnapshot(to, ok);
    this.kick();
  }

  reportUnreachable(to: NodeId): void {
    this.core.reportUnreachable(to);
  }

  status(): RaftStatus {
    return this.core.status();
  }

  /** Resolves when the loop has nothing left to do and no snapshot is being written (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.snapshotting) {
      if (this.running) await this.running;
      if (this.snapshotting) await this.snapshotting;
    }
  }

  /** Stop processing; pending proposals and reads fail with JADE_ERR_UNAVAILABLE. */
  async stop(): Promise<void> {
    await this.idle();
    this.fail(new JadeError('JADE_ERR_UNAVAILABLE', `raft group ${this.core.groupId} stopped`));
  }

  private checkRunning(): void {
    if (this.stopped) throw new JadeError('JADE_ERR_UNAVAILABLE', `raft group ${this.core.groupId} is stopped`);
  }

  private track(fn: () => { term: number; lastIndex: number }, onPersisted?: (index: number) => void): Promise<ProposalResult> {
    try {
      this.checkRunning();
      if (this.proposals.size >= this.maxPendingProposals) throw new JadeError('JADE_ERR_QUEUE_FULL', `${this.proposals.size} proposals pending`);
      const r = fn();
      // Our new entry replaced whatever this node had at that index before.
      const stale = this.proposals.get(r.lastIndex);
      if (stale) stale.reject(new JadeError('JADE_ERR_NOT_LEADER', `proposal at ${r.lastIndex} was overwritten`, { index: r.lastIndex }));
      const p = new Promise<ProposalResult>((resolve, reject) => this.proposals.set(r.lastIndex, { term: r.term, index: r.lastIndex, resolve, reject, onPersisted }));
      this.kick();
      return p;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Asks for a snapshot soon, thresholds or not (after one in progress, if any). Nothing happens
   * when no entry was applied since the last one. A shard replica asks once its HNSW graph has
   * caught up, so that a restart loads the whole graph with its snapshot.
   */
  requestSnapshot(): void {
    this.snapshotRequested = true;
    this.kick();
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        let rd: Ready | null;
        while (!this.stopped && (rd = this.core.ready()) !== null) await this.handle(rd);
        if (!this.stopped) this.maybeSnapshot();
      } catch (e) {
        this.fail(e);
        this.onFatal?.(e);
        return;
      }
    } while (this.again && !this.stopped);
  }

  private async handle(rd: Ready): Promise<void> {
    // 1+2. Durable before anything that depends on it leaves this node.
    if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
      await this.storage.save({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot }, rd.mustSync);
      for (const e of rd.entries) {
        const w = this.proposals.get(e.index);
        if (w?.onPersisted && w.term === e.term) {
          const notify = w.onPersisted;
          w.onPersisted = undefined;
          notify(e.index);
        }
      }
    }
    // 3. Send.
    if (rd.messages.length > 0) this.transport.send(rd.messages);
    // 4. Install and apply.
    this.applyingNow = Boolean(rd.snapshot) || rd.committedEntries.length > 0;
    try {
      if (rd.snapshot) {
        await this.sm.restore(rd.snapshot);
        this.appliedIndex = rd.snapshot.meta.index;
        this.snapshotIndex = rd.snapshot.meta.index;
        this.appliedBytesSinceSnapshot = 0;
        // The outcome of proposals covered by a snapshot from elsewhere is unknown here.
        for (const [index, w] of this.proposals) {
          if (index <= this.appliedIndex) {
            this.proposals.delete(index);
            w.reject(new JadeError('JADE_ERR_UNAVAILABLE', `outcome of proposal ${index} unknown: replaced by a snapshot`, { index }));
          }
        }
      }
      if (rd.committedEntries.length > 0) {
        const results = await this.sm.apply(rd.committedEntries);
        for (const [i, e] of rd.committedEntries.entries()) {
          const w = this.proposals.get(e.index);
          if (!w) continue;
          this.proposals.delete(e.index);
          if (e.term === w.term) w.resolve(results ? { index: e.index, result: results[i] } : { index: e.index });
          else w.reject(new JadeError('JADE_ERR_NOT_LEADER', `proposal at ${e.index} was overwritten by a new leader`, { index: e.index }));
        }
        this.appliedIndex = rd.committedEntries[rd.committedEntries.length - 1].index;
        for (const e of rd.committedEntries) this.appliedBytesSinceSnapshot += e.data.length;
      }
    } finally {
      this.applyingNow = false;
    }
    for (const rs of rd.readStates) {
      const w = this.reads.get(rs.context);
      if (w) w.index = rs.index;
    }
    if (rd.softState && rd.softState.lead !== this.lead) {
      // Read requests die with the leadership they were sent to; those not yet answered fail.
      this.lead = rd.softState.lead;
      for (const l of this.leaderListeners) l(this.lead);
      for (const [ctx, w] of this.reads) {
        if (w.index === null && w.sent) {
          this.reads.delete(ctx);
          w.reject(new JadeError('JADE_ERR_NOT_LEADER', 'leadership changed during a read', { leader: this.lead }));
        }
      }
    }
    this.core.advance(rd);
    if (rd.snapshot || rd.committedEntries.length > 0) for (const l of this.appliedListeners) l(this.appliedIndex);
    for (const [ctx, w] of this.reads) {
      if (w.index !== null && w.index <= this.appliedIndex) {
        this.reads.delete(ctx);
        w.resolve(w.index);
      }
    }
    // The round in flight got its index (or died with the leadership): the gathered one goes out.
    this.sendNextRead();
  }

  /**
   * Starts a snapshot when one is due. The state machine captures its state now; the encoding and
   * the write go on off the loop (for a large shard they take seconds, and a loop blocked that long
   * sends no heartbeats: its leadership or the group's quorum would be lost meanwhile). Storage
   * serializes the write with snapshots installed from a leader and drops ours if one is newer.
   */
  private maybeSnapshot(): void {
    if (this.snapshotting) return;
    if (this.appliedIndex === this.snapshotIndex) {
      this.snapshotRequested = false;
      return;
    }
    const entriesDue = this.snapshotEveryEntries * this.snapshotStagger;
    const bytesDue = Math.max(this.snapshotEveryBytes, this.storage.snapshot()?.data.length ?? 0) * this.snapshotStagger;
    if (!this.snapshotRequested && this.appliedIndex - this.snapshotIndex < entriesDue && this.appliedBytesSinceSnapshot < bytesDue) return;
    this.snapshotRequested = false;
    const index = this.appliedIndex;
    const conf = this.core.confState();
    this.appliedBytesSinceSnapshot = 0;
    let image: Promise<Uint8Array>;
    try {
      image = this.sm.snapshot();
    } catch (e) {
      this.fail(e);
      this.onFatal?.(e);
      return;
    }
    this.snapshotting = (async () => {
      const data = await image;
      if (this.stopped) return;
      await this.storage.createSnapshot(index, conf, data);
      this.snapshotIndex = Math.max(this.snapshotIndex, index);
      const compactTo = this.compactionPoint(index);
      if (compactTo >= this.storage.firstIndex()) await this.storage.compact(compactTo);
    })()
      .catch((e: unknown) => {
        this.fail(e);
        this.onFatal?.(e);
      })
      .finally(() => {
        this.snapshotting = null;
        this.kick();
      });
  }

  /** The last index to drop: keep at most compactionLagEntries entries and compactionLagBytes bytes up to `index`. */
  private compactionPoint(index: number): number {
    const first = this.storage.firstIndex();
    const keepFrom = Math.max(first, index - this.compactionLagEntries + 1);
    if (keepFrom > index) return index;
    const kept = this.storage.entries(keepFrom, index + 1, Infinity);
    let bytes = 0;
    for (let i = kept.length - 1; i >= 0; i--) {
      bytes += kept[i].data.length;
      if (bytes > this.compactionLagBytes) return kept[i].index;
    }
    return keepFrom - 1;
  }

  private fail(e: unknown): void {
    if (this.stopped) return;
    this.stopped = e;
    const err = isJadeError(e) ? e : new JadeError('JADE_ERR_STORAGE', `raft group ${this.core.groupId} failed: ${String(e)}`);
    for (const w of this.proposals.values()) w.reject(err);
    for (const w of this.reads.values()) w.reject(err);
    this.proposals.clear();
    this.reads.clear();
    this.nextRead = null;
  }
}
