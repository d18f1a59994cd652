// One Raft group hosted on this node: its driver and storage, with the deadlines around the
// driver's promises and the write consistency levels (majority: applied here after commit; one:
// durable in the leader's log; all: applied on every replica, checked by the caller).
import type { RaftDriver } from '../raft/driver.js';
import type { Entry, NodeId } from '../raft/types.js';
import { JadeError, isJadeError } from '../util/errors.js';
import { retryUntil, withTimeout } from '../util/deadline.js';
import type { FileRaftStorage } from './file-raft-storage.js';
import { nodeOfMember } from './identity.js';
import { SnapshotSends, type SnapshotSendStatus } from './move-progress.js';
import { NO_GROUP_OBSERVER, type GroupObserver } from '../util/observers.js';

/** A group's state machine as the cluster writes them: synchronous, one entry at a time. */
export interface GroupStateMachine {
  /** Applies one committed normal entry; the result is handed to the proposer. */
  apply(entry: Entry): unknown;
  /**
   * Image of the state after every applied entry (for snapshots). It must capture that state when
   * called; the image may come later (the driver goes on applying entries meanwhile).
   */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  restore(data: Uint8Array): void;
  /** Restores this replica's own stored snapshot at start-up (may use local files it names); default restore(). */
  restoreOwn?(data: Uint8Array): Promise<void>;
  /** Points in a snapshot image (shown as a move's progress); absent or null when it holds no points. */
  snapshotPoints?(image: Uint8Array): number | null;
}

/** What applying one entry here gave: the local proposer of that entry gets the value or the error. */
export type ApplyOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export const NOTHING_APPLIED: ApplyOutcome = { ok: true, value: undefined };

export interface RaftGroupOptions {
  /** How long a proposal may wait to be applied before its outcome is reported unknown. */
  proposalTimeoutMs: number;
  readTimeoutMs: number;
  /** Take a snapshot and compact once this many entries were applied since the last one... */
  snapshotEveryEntries: number;
  /** ... or this many bytes of entries (the log since the last compaction is also held in memory). */
  snapshotEveryBytes: number;
  /** Entries kept behind a snapshot so slightly slow followers catch up from the log... */
  retainEntries: number;
  /** ... at most this many bytes of them. */
  retainBytes: number;
  /** Proposals waiting at once, and reads waiting at once (429 past it). */
  waitersMax: number;
}

/** `majority` (default): committed and applied by the leader; `one`: durable in the leader's log; `all`: applied by every replica. */
export type ProposeAck = 'majority' | 'one';

export interface GroupStatus {
  groupId: string;
  role: string;
  term: number;
  /** The leader's node id ('' when none is known). */
  leader: string;
  commit: number;
  applied: number;
  lastIndex: number;
  conf: { voters: string[]; learners: string[] };
  /** Leader only: how far each member's log is behind the leader's (entries). */
  lag?: Record<string, number>;
  /** Snapshots this replica sends or sent (as leader) to members still in the group, the latest per member. */
  snapshots?: Record<string, SnapshotSendStatus>;
  quiesced?: boolean;
}

/** Where a replica's state stands: every entry up to index (of that term) applied, none after. */
export interface AppliedPosition {
  index: number;
  term: number;
}

export class HostedGroup {
  private readonly applyWaiters = new Set<{ index: number; resolve: () => void }>();
  /** Run synchronously right after the driver records an applied index (see atAppliedPosition). */
  private readonly atNextApplied: (() => void)[] = [];
  /** Counted by the host as it streams snapshots to members (move progress). */
  readonly snapshotSends = new SnapshotSends();

  constructor(
    readonly groupId: string,
    readonly driver: RaftDriver,
    readonly storage: FileRaftStorage,
    private readonly options: RaftGroupOptions,
    private readonly observer: GroupObserver = NO_GROUP_OBSERVER,
  ) {
    driver.onLeaderChange(() => observer.leaderChanged(groupId));
    driver.onApplied((index) => {
      for (const run of this.atNextApplied.splice(0)) run();
      for (const w of this.applyWaiters) {
        if (w.index > index) continue;
        this.applyWaiters.delete(w);
        w.resolve();
      }
    });
  }

  get isLeader(): boolean {
    return this.driver.core.basicStatus().role === 'leader';
  }

  /** The leader's member id ('' when none is known). */
  get leaderMember(): NodeId {
    return this.driver.core.basicStatus().lead;
  }

  status(): GroupStatus {
    const s = this.driver.core.status();
    const conf = this.driver.core.confState();
    const out: GroupStatus = { groupId: this.groupId, role: s.role, term: s.term, leader: s.lead ? nodeOfMember(s.lead) : '', commit: s.commit, applied: s.applied, lastIndex: s.lastIndex, conf: { voters: [...conf.voters], learners: [...conf.learners] } };
    if (s.role === 'leader') out.lag = Object.fromEntries(Object.entries(s.progress).map(([m, p]) => [m, Math.max(0, s.lastIndex - p.match)]));
    if (this.snapshotSends.size > 0) {
      const snapshots = this.snapshotSends.status([...conf.voters, ...conf.learners], Date.now());
      if (Object.keys(snapshots).length > 0) out.snapshots = snapshots;
    }
    return out;
  }

  /** Proposes one command; resolves with the state machine's result once applied here (or durable, for `one`). */
  async propose(data: Uint8Array, ack: ProposeAck = 'majority', timeoutMs = this.options.proposalTimeoutMs): Promise<unknown> {
    const started = performance.now();
    try {
      const value = await this.proposeUntimed(data, ack, timeoutMs);
      this.observer.proposal(this.groupId, (performance.now() - started) / 1000, true);
      return value;
    } catch (e) {
      this.observer.proposal(this.groupId, (performance.now() - started) / 1000, false);
      throw e;
    }
  }

  private async proposeUntimed(data: Uint8Array, ack: ProposeAck, timeoutMs: number): Promise<unknown> {
    const unknownOutcome = () => new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: proposal not applied within ${timeoutMs} ms; its outcome is unknown`);
    if (ack === 'one') {
      let persisted!: (index: number) => void;
      const durable = new Promise<number>((resolve) => (persisted = resolve));
      const applied = this.driver.propose([data], { onPersisted: persisted });
      applied.catch(() => undefined); // answered at durability; a later failure is the documented loss window
      const index = await withTimeout(Promise.race([durable, applied.then((r) => r.index)]), timeoutMs, unknownOutcome);
      return index;
    }
    const applied = await withTimeout(this.driver.propose([data]), timeoutMs, unknownOutcome);
    const outcome = (applied.result as ApplyOutcome | undefined) ?? NOTHING_APPLIED;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** Linearizable read barrier: resolves once this replica applied everything committed before the call. */
  async readBarrier(timeoutMs = this.options.readTimeoutMs): Promise<void> {
    await withTimeout(this.driver.readIndex(), timeoutMs, () => new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: no quorum confirmed the read within ${timeoutMs} ms`));
  }

  /**
   * Runs `read` synchronously at a point where the state machine holds exactly the entries up to
   * the applied index it is given: at once, or, while the driver is between applying a batch and
   * recording its index (the state is ahead then), right after it records it. A backup reads a
   * replica's image and its Raft position this way, so the two always agree.
   */
  atAppliedPosition<T>(read: (position: AppliedPosition) => T, timeoutMs: number): Promise<T> {
    const run = (): T => {
      const index = this.driver.applied;
      const term = this.storage.term(index);
      if (term === undefined) throw new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: the term of applied index ${index} is not known here`);
      return read({ index, term });
    };
    if (!this.driver.applying) {
      try {
        return Promise.resolve(run());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const p = new Promise<T>((resolve, reject) => {
      this.atNextApplied.push(() => {
        try {
          resolve(run());
        } catch (e) {
          reject(e);
        }
      });
    });
    return withTimeout(p, timeoutMs, () => new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: no applied position reached within ${timeoutMs} ms`));
  }

  /** The read barrier, retried while the group has no leader (elections take a moment), until the deadline. */
  async readBarrierBy(deadlineMs: number, what = `read barrier of ${this.groupId}`): Promise<void> {
    await retryUntil(deadlineMs, what, async (remaining) => {
      try {
        await this.readBarrier(remaining);
        return { done: true, value: undefined };
      } catch (e) {
        if (isJadeError(e) && e.code === 'JADE_ERR_NOT_LEADER') return { done: false, error: e };
        throw e;
      }
    });
  }

  /** Resolves once this replica has applied `index`. */
  whenApplied(index: number, timeoutMs: number): Promise<void> {
    if (this.driver.applied >= index) return Promise.resolve();
    let waiter!: { index: number; resolve: () => void };
    const p = new Promise<void>((resolve) => {
      waiter = { index, resolve };
      this.applyWaiters.add(waiter);
    });
    return withTimeout(p, timeoutMs, () => {
      this.applyWaiters.delete(waiter);
      return new JadeError('JADE_ERR_DEADLINE', `group ${this.groupId}: index ${index} not applied here within ${timeoutMs} ms (applied ${this.driver.applied})`);
    });
  }

  async close(): Promise<void> {
    await this.driver.stop();
    await this.storage.close();
  }
}
