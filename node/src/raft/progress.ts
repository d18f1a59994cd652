// The leader's view of each follower (etcd-io/raft tracker/progress.go): how far it matches, what
// to send next, and in which of three states the flow to it is.
//   probe:     we do not know where its log matches; send one MsgApp per heartbeat, wait for answer.
//   replicate: steady state; stream MsgApps optimistically, bounded by Inflights (count and bytes).
//   snapshot:  a MsgSnap is in flight; send nothing until it is acknowledged (or reported failed).
import { assert } from '../util/errors.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** Sliding window of MsgApps sent but not acknowledged; full = pause the flow to this follower. */
export class Inflights {
  private readonly indexes: number[] = [];
  private readonly sizes: number[] = [];
  private totalBytes = 0;

  constructor(readonly maxCount: number, readonly maxBytes: number) {
    assert(maxCount > 0 && maxBytes > 0, 'inflight limits must be positive');
  }

  /** May exceed the limits by one message: the heartbeat allowance (see Progress.isPaused). */
  add(lastIndex: number, bytes: number): void {
    this.indexes.push(lastIndex);
    this.sizes.push(bytes);
    this.totalBytes += bytes;
  }

  /** Acknowledge every message whose last index is ≤ index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.indexes.length && this.indexes[n] <= index) {
      this.totalBytes -= this.sizes[n];
      n++;
    }
    if (n > 0) {
      this.indexes.splice(0, n);
      this.sizes.splice(0, n);
    }
  }

  full(): boolean {
    return this.indexes.length >= this.maxCount || this.totalBytes >= this.maxBytes;
  }

  count(): number {
    return this.indexes.length;
  }

  bytes(): number {
    return this.totalBytes;
  }

  reset(): void {
    this.indexes.length = 0;
    this.sizes.length = 0;
    this.totalBytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: index of the snapshot sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In probe state: a MsgApp was sent and no answer has come yet. */
  probeSent = false;
  /**
   * In replicate state: the follower answered a heartbeat, so one MsgApp may go out beyond a full
   * inflight window. If every inflight MsgApp was lost, that message reveals the gap (the follower
   * rejects it) and the flow recovers through probing instead of stalling forever.
   */
  heartbeatAllowance = false;
  /** A MsgAppResp arrived since the last heartbeat response (then the flow is alive: no allowance). */
  ackedSinceHeartbeat = false;
  readonly inflights: Inflights;

  constructor(next: number, public isLearner: boolean, maxInflightMsgs: number, maxInflightBytes: number) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.heartbeatAllowance = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** The follower acknowledged up to n. Returns whether match advanced. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected a MsgApp at index `rejected`; `matchHint` is where its log may match.
   * Returns false when the rejection is stale (answers an older probe).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Record a sent MsgApp ending at lastIndex carrying `bytes` of entries. */
  sentEntries(lastIndex: number, entryCount: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
      this.heartbeatAllowance = false;
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, `sending entries in state ${this.state}`);
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full() && !this.heartbeatAllowance;
      case 'snapshot':
        return true;
    }
  }

  describe(): string {
    const base = `${this.state} match=${this.match} next=${this.next}`;
    const learner = this.isLearner ? ' learner' : '';
    const snap = this.state === 'snapshot' ? ` pendingSnap=${this.pendingSnapshot}` : '';
    const paused = this.isPaused() ? ' paused' : '';
    const infl = this.inflights.count() > 0 ? ` inflight=${this.inflights.count()}` : '';
    return base + learner + snap + paused + infl;
  }
}
