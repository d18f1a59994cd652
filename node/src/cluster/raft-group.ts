// Drives one Raft group: the loop of the core's driver contract (persist → send → apply →
// advance), proposal and read-barrier waiters, and periodic log compaction. The host feeds it
// ticks and messages; it never blocks the other groups of the process.
import { randomUUID } from 'node:crypto';
import { RaftCore, type RaftConfig } from '../raft/core.js';
import type { ConfChange, Entry, Message, NodeId, RaftRole } from '../raft/types.js';
import { JadeError } from '../util/errors.js';
import type { DurableRaftStorage } from './raft-storage.js';

export interface GroupStateMachine {
  /** Applies one committed normal entry; the result is handed to the proposer's waiter. */
  apply(entry: Entry): unknown;
  /** Image of the state after every applied entry (for snapshots). */
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export interface GroupSend {
  message(to: NodeId, m: Message): void;
  /** Sends a MsgSnap with its data; resolves true once the peer installed it. */
  snapshot(to: NodeId, m: Message): Promise<boolean>;
}

export interface RaftGroupOptions {
  /** How long a proposal may wait to be applied before its outcome is reported unknown. */
  proposalTimeoutMs: number;
  readTimeoutMs: number;
  /** Take a snapshot and compact once this many entries were applied since the last one. */
  snapshotEveryEntries: number;
  /** Entries kept behind a snapshot so slightly slow followers catch up from the log. */
  retainEntries: number;
  /** Proposals and reads waiting at once (429 past it). */
  waitersMax: number;
}

export const RAFT_GROUP_DEFAULTS: RaftGroupOptions = {
  proposalTimeoutMs: 10_000,
  readTimeoutMs: 5_000,
  snapshotEveryEntries: 10_000,
  retainEntries: 1_000,
  waitersMax: 10_000,
};

interface ProposalWaiter {
  term: number;
  resolve(result: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

interface ReadWaiter {
  index: number | null;
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class RaftGroup {
  readonly core: RaftCore;
  private processing = false;
  private scheduled = false;
  private closed = false;
  private appliedIndex: number;
  private lastSnapshotIndex: number;
  private role: RaftRole = 'follower';
  private leader: NodeId = '';
  private readonly proposals = new Map<number, ProposalWaiter>();
  private readonly reads = new Map<string, ReadWaiter>();
  private failure: Error | null = null;

  constructor(
    readonly groupId: string,
    readonly nodeId: NodeId,
    private readonly storage: DurableRaftStorage,
    private readonly sm: GroupStateMachine,
    private readonly send: GroupSend,
    private readonly options: RaftGroupOptions,
    coreConfig: Omit<RaftConfig, 'id' | 'groupId' | 'storage' | 'applied'>,
  ) {
    const snap = storage.startupSnapshot();
    if (snap) sm.restore(snap.data);
    this.appliedIndex = storage.snapshot()?.meta.index ?? 0;
    this.lastSnapshotIndex = this.appliedIndex;
    this.core = new RaftCore({ ...coreConfig, id: nodeId, groupId, storage, applied: this.appliedIndex });
    this.schedule();
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get leaderId(): NodeId {
    return this.leader;
  }

  get applied(): number {
    return this.appliedIndex;
  }

  status() {
    const s = this.core.basicStatus();
    return { groupId: this.groupId, role: s.role, term: s.term, leader: s.lead, commit: s.commit, applied: this.appliedIndex, lastIndex: s.lastIndex, conf: this.core.confState() };
  }

  tick(): void {
    if (this.closed) return;
    this.core.tick();
    this.schedule();
  }

  step(m: Message): void {
    if (this.closed) return;
    this.core.step(m);
    this.schedule();
  }

  private checkWaiters(): void {
    if (this.proposals.size + this.reads.size >= this.options.waitersMax) {
      throw new JadeError('JADE_ERR_QUEUE_FULL', `group ${this.groupId}: ${this.options.waitersMax} requests already waiting (waitersMax)`);
    }
    if (this.failure) throw new JadeError('JADE_ERR_STORAGE', `group ${this.groupId} stopped after a storage failure: ${this.failure.message}`);
  }

  private notLeader(): JadeError {
    return new JadeError('JADE_ERR_NOT_LEADER', `this node is not the leader of ${this.groupId}`, { leader: this.leader || null });
  }

  /** Proposes one entry; resolves with the state machine's result once applied here. */
  propose(data: Uint8Array): Promise<unknown> {
    this.checkWaiters();
    if (this.role !== 'leader') return Promise.reject(this.notLeader());
    const r = this.core.propose([data]);
    return this.waitApplied(r.lastIndex, r.term);
  }

  proposeConfChange(cc: ConfChange): Promise<unknown> {
    this.checkWaiters();
    if (this.role !== 'leader') return Promise.reject(this.notLeader());
    const r = this.core.proposeConfChange(cc);
    return this.waitApplied(r.lastIndex, r.term);
  }

  private waitApplied(index: number, term: number): Promise<unknown> {
    this.schedule();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.proposals.delete(index);
        reject(new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: proposal not applied within ${this.options.proposalTimeoutMs} ms; its outcome is unknown`));
      }, this.options.proposalTimeoutMs);
      this.proposals.set(index, { term, resolve, reject, timer });
    });
  }

  /** Linearizable read barrier: resolves once this replica applied everything committed before the call. */
  readBarrier(): Promise<void> {
    this.checkWaiters();
    const context = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(context);
        reject(new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: no quorum confirmed the read within ${this.options.readTimeoutMs} ms`));
      }, this.options.readTimeoutMs);
      this.reads.set(context, { index: null, resolve, reject, timer });
      try {
        this.core.readIndex(context);
      } catch (e) {
        clearTimeout(timer);
        this.reads.delete(context);
        reject(e);
        return;
      }
      this.schedule();
    });
  }

  reportUnreachable(peer: NodeId): void {
    if (this.closed) return;
    this.core.reportUnreachable(peer);
    this.schedule();
  }

  transferLeader(to: NodeId): void {
    this.core.transferLeader(to);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.process();
    });
  }

  private async process(): Promise<void> {
    if (this.processing || this.closed || this.failure) return;
    this.processing = true;
    try {
      for (;;) {
        const rd = this.core.ready();
        if (!rd) break;
        if (rd.softState) {
          this.role = rd.softState.role;
          this.leader = rd.softState.lead;
        }
        // 1+2: snapshot, entries and hard state durable before any message of this Ready leaves.
        await this.storage.persist(rd.snapshot, rd.entries, rd.hardState);
        if (rd.snapshot) {
          this.sm.restore(rd.snapshot.data);
          this.appliedIndex = rd.snapshot.meta.index;
          this.lastSnapshotIndex = this.appliedIndex;
        }
        // 3: send.
        for (const m of rd.messages) {
          if (m.type === 'MsgSnap') {
            void this.send.snapshot(m.to, m).then((ok) => {
              this.core.reportSnapshot(m.to, ok);
              this.schedule();
            });
          } else {
            this.send.message(m.to, m);
          }
        }
        // 4: apply.
        for (const e of rd.committedEntries) {
          let result: unknown;
          let error: Error | null = null;
          if (e.type === 'normal' && e.data.length > 0) {
            try {
              result = this.sm.apply(e);
            } catch (err) {
              error = err as Error;
            }
          }
          this.appliedIndex = e.index;
          const w = this.proposals.get(e.index);
          if (w) {
            this.proposals.delete(e.index);
            clearTimeout(w.timer);
            if (w.term !== e.term) w.reject(new JadeError('JADE_ERR_NOT_LEADER', `group ${this.groupId}: leadership changed; the proposal was replaced and not applied`));
            else if (error) w.reject(error);
            else w.resolve(result);
          }
        }
        for (const rs of rd.readStates) {
          const w = this.reads.get(rs.context);
          if (w) w.index = rs.index;
        }
        this.releaseReads();
        // 5.
        this.core.advance(rd);
        await this.maybeCompact();
      }
    } catch (e) {
      // A storage failure must not be papered over: the group stops; waiters fail with the cause.
      this.failure = e as Error;
      for (const [i, w] of this.proposals) {
        clearTimeout(w.timer);
        w.reject(new JadeError('JADE_ERR_STORAGE', `group ${this.groupId}: ${(e as Error).message}`));
        this.proposals.delete(i);
      }
    } finally {
      this.processing = false;
    }
    if (this.core.hasReady()) this.schedule();
  }

  private releaseReads(): void {
    for (const [ctx, w] of this.reads) {
      if (w.index !== null && w.index <= this.appliedIndex) {
        this.reads.delete(ctx);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  private async maybeCompact(): Promise<void> {
    if (this.appliedIndex - this.lastSnapshotIndex < this.options.snapshotEveryEntries) return;
    const index = this.appliedIndex;
    await this.storage.compact(index, this.core.confState(), this.sm.snapshot(), this.options.retainEntries);
    this.lastSnapshotIndex = index;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.proposals.values()) {
      clearTimeout(w.timer);
      w.reject(new JadeError('JADE_ERR_UNAVAILABLE', 'node is shutting down'));
    }
    for (const w of this.reads.values()) {
      clearTimeout(w.timer);
      w.reject(new JadeError('JADE_ERR_UNAVAILABLE', 'node is shutting down'));
    }
    this.proposals.clear();
    this.reads.clear();
    while (this.processing) await new Promise((r) => setTimeout(r, 5));
    await this.storage.close();
  }
}
