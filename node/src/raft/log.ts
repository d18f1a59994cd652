// The core's view of the log: stable entries (RaftStorage) followed by unstable ones (appended
// in memory, handed to the driver in the next Ready, dropped here once advance() says they are
// durable). An unstable snapshot (received from the leader) replaces everything before it.
import { assert } from '../util/errors.js';
import type { RaftStorage } from './storage.js';
import { limitSize } from './storage.js';
import type { Entry, Snapshot } from './types.js';

export class RaftLog {
  /** Highest index known committed. Never decreases. */
  committed: number;
  /** Highest index handed to the state machine and acknowledged through advance(). */
  applied: number;
  unstableSnapshot: Snapshot | undefined;
  unstableEntries: Entry[] = [];
  /** Index of unstableEntries[0] (valid also when empty: next index to append). */
  unstableOffset: number;

  constructor(readonly storage: RaftStorage, applied: number, committed: number) {
    this.unstableOffset = storage.lastIndex() + 1;
    this.committed = Math.max(committed, storage.firstIndex() - 1);
    const first = storage.firstIndex() - 1;
    this.applied = Math.max(applied, first);
    assert(this.applied <= this.committed, `applied ${applied} > committed ${committed}`);
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstableEntries.length > 0) return this.unstableOffset + this.unstableEntries.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Term at i, or undefined when compacted away or beyond the last index. */
  term(i: number): number | undefined {
    if (this.unstableEntries.length > 0 && i >= this.unstableOffset) {
      const e = this.unstableEntries[i - this.unstableOffset];
      return e?.term;
    }
    if (this.unstableSnapshot) {
      const s = this.unstableSnapshot.meta;
      if (i === s.index) return s.term;
      if (i < s.index) return undefined;
      return undefined; // beyond the snapshot, with no unstable entries at i
    }
    return this.storage.term(i);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, 'last term unavailable');
    return t;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Raft §5.4.1: a candidate's log (lastIndex, lastTerm) is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi) limited by maxBytes; undefined if lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, `slice hi ${hi} > last ${this.lastIndex()} + 1`);
    let out: Entry[] = [];
    if (lo < this.unstableOffset) {
      const stableHi = Math.min(hi, this.unstableOffset);
      out = this.storage.entries(lo, stableHi, maxBytes);
      if (out.length < stableHi - lo) return out; // size limit hit
    }
    if (hi > this.unstableOffset) {
      const from = Math.max(lo, this.unstableOffset) - this.unstableOffset;
      out = out.concat(this.unstableEntries.slice(from, hi - this.unstableOffset));
    }
    return limitSize(out, maxBytes);
  }

  /** Index of the first entry whose term differs from ours (0 if none; or first new index). */
  private findConflict(ents: Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking (etcd's findConflictByTerm): the largest index ≤ `index` whose term is ≤
   * `term`, with that term. Used both by a rejecting follower (hint) and by the leader.
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (let i = index; i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return [i, 0];
      if (t <= term) return [i, t];
    }
    return [0, 0];
  }

  /** Follower append: returns the last new index, or undefined when (index, logTerm) mismatches. */
  maybeAppend(index: number, logTerm: number, committed: number, ents: Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, `entry ${ci} conflicts with committed ${this.committed}`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Append (possibly truncating a conflicting unstable or stable tail). Returns the last index. */
  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    assert(after >= this.committed, `append after ${after} is below committed ${this.committed}`);
    const lastUnstable = this.unstableOffset + this.unstableEntries.length;
    if (after + 1 === lastUnstable) {
      this.unstableEntries = this.unstableEntries.concat(ents);
    } else if (after + 1 <= this.unstableOffset) {
      // Replaces part of the stable log: the driver overwrites from ents[0].index.
      this.unstableOffset = after + 1;
      this.unstableEntries = ents.slice();
    } else {
      this.unstableEntries = this.unstableEntries.slice(0, after + 1 - this.unstableOffset).concat(ents);
    }
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  appliedTo(index: number): void {
    if (index === 0) return;
    assert(index <= this.committed && index >= this.applied, `applied ${index} outside [${this.applied}, ${this.committed}]`);
    this.applied = index;
  }

  /** Committed entries not yet applied, limited by maxBytes. Empty while a snapshot is pending. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.unstableSnapshot) return [];
    const lo = this.applied + 1;
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    const ents = this.slice(lo, hi, maxBytes);
    assert(ents !== undefined, `committed entries from ${lo} compacted`);
    return ents;
  }

  /** Entries in (lo, hi] exist and carry a conf change: campaign must wait until they apply. */
  hasConfChangeBetween(lo: number, hi: number): boolean {
    if (lo >= hi || this.unstableSnapshot) return false;
    const ents = this.slice(lo + 1, hi + 1, Number.MAX_SAFE_INTEGER);
    return ents !== undefined && ents.some((e) => e.type === 'confChange');
  }

  /** The driver persisted entries up to (index, term): drop them from the unstable part. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset) return;
    const e = this.unstableEntries[index - this.unstableOffset];
    if (!e || e.term !== term) return; // truncated meanwhile by a newer leader's append
    this.unstableEntries = this.unstableEntries.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
  }

  stableSnapTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.meta.index === index) this.unstableSnapshot = undefined;
  }

  /** Follower installs a leader's snapshot: the whole log is replaced. */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstableSnapshot = s;
    this.unstableEntries = [];
    this.unstableOffset = s.meta.index + 1;
  }
}
