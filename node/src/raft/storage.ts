// RaftStorage: the core's read view of stable (durable) state, plus MemoryRaftStorage.
// The core only reads it; the driver writes it after persisting each Ready (see core.ts).
import { assert } from '../util/errors.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { NO_NODE } from './types.js';

export interface RaftStorage {
  /** Durable hard state and the membership as of the latest snapshot (or bootstrap). */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries [lo, hi) with total size ≤ maxBytes (at least one entry). Requires firstIndex ≤ lo, hi ≤ lastIndex+1. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i, for firstIndex-1 ≤ i ≤ lastIndex; undefined when compacted or beyond the log. */
  term(i: number): number | undefined;
  /** Index of the first entry still present (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** Latest snapshot, or null while it is temporarily unavailable (the leader retries later). */
  snapshot(): Snapshot | null;
}

/** Size used by every byte limit of the core: payload plus a fixed per-entry overhead. */
export const ENTRY_OVERHEAD_BYTES = 16;
export function entrySizeBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}

/** Cut `ents` so the total size stays ≤ maxBytes, but always keep at least one entry. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySizeBytes(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySizeBytes(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners] };
}

/**
 * In-memory RaftStorage. ents[0] is a dummy entry holding the snapshot's index and term, so
 * term(firstIndex - 1) is always answerable (as in etcd's MemoryStorage).
 */
export class MemoryRaftStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: NO_NODE, commit: 0 };
  private snap: Snapshot;
  private ents: Entry[];

  /**
   * `bootstrap`: the initial membership of a new group; empty for a node that joins later.
   * A bootstrapped log starts with a snapshot at index 1, term 1 holding that membership (and
   * an empty state machine), so a joining node, whose log is empty, is sent this snapshot and
   * learns the initial members from it. Bootstrapped members all start identical at term 1.
   */
  constructor(bootstrap: ConfState = { voters: [], learners: [] }) {
    const at = bootstrap.voters.length > 0 ? 1 : 0;
    this.snap = { meta: { index: at, term: at, conf: cloneConf(bootstrap) }, data: new Uint8Array(0) };
    this.ents = [{ index: at, term: at, type: 'normal', data: new Uint8Array(0) }];
    this.hardState = { term: at, vote: NO_NODE, commit: at };
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: cloneConf(this.snap.meta.conf) };
  }

  hardStateNow(): HardState {
    return { ...this.hardState };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  firstIndex(): number {
    return this.ents[0].index + 1;
  }

  lastIndex(): number {
    return this.ents[0].index + this.ents.length - 1;
  }

  term(i: number): number | undefined {
    const offset = this.ents[0].index;
    if (i < offset || i > this.lastIndex()) return undefined;
    return this.ents[i - offset].term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0].index;
    assert(lo > offset && hi <= this.lastIndex() + 1 && lo <= hi, `entries [${lo},${hi}) out of [${offset + 1},${this.lastIndex() + 1})`);
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot | null {
    return this.snap;
  }

  /** Append entries after persisting them; truncates a conflicting tail. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return; // all compacted already
    const ents = first > entries[0].index ? entries.slice(first - entries[0].index) : entries;
    const offset = ents[0].index - this.ents[0].index;
    assert(offset <= this.ents.length, `append gap: storage last ${this.lastIndex()}, entry ${ents[0].index}`);
    if (offset === this.ents.length) {
      // The common case: extend in place (no copy of the whole log per Ready).
      for (const e of ents) this.ents.push(e);
    } else {
      this.ents = this.ents.slice(0, offset).concat(ents);
    }
  }

  /** Replace everything with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) return;
    this.snap = { meta: { ...snap.meta, conf: cloneConf(snap.meta.conf) }, data: snap.data };
    this.ents = [{ index: snap.meta.index, term: snap.meta.term, type: 'normal', data: new Uint8Array(0) }];
  }

  /** Record a snapshot the local state machine produced at applied index `index`. */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    assert(index <= this.lastIndex(), `snapshot ${index} beyond last index ${this.lastIndex()}`);
    if (index <= this.snap.meta.index) return this.snap;
    const term = this.term(index);
    assert(term !== undefined, `snapshot index ${index} compacted`);
    this.snap = { meta: { index, term, conf: cloneConf(conf) }, data };
    return this.snap;
  }

  /** Drop entries before `index` (keeping `index` itself as the dummy). Requires index ≤ snapshot index. */
  compact(index: number): void {
    const offset = this.ents[0].index;
    if (index <= offset) return;
    assert(index <= this.snap.meta.index, `compact ${index} beyond snapshot ${this.snap.meta.index}`);
    const i = index - offset;
    const dummy = this.ents[i];
    this.ents = [{ index: dummy.index, term: dummy.term, type: 'normal', data: new Uint8Array(0) }, ...this.ents.slice(i + 1)];
  }

  /** Deep-enough copy used by the simulation to model a disk image. */
  clone(): MemoryRaftStorage {
    const c = new MemoryRaftStorage();
    c.hardState = { ...this.hardState };
    c.snap = { meta: { ...this.snap.meta, conf: cloneConf(this.snap.meta.conf) }, data: this.snap.data };
    c.ents = this.ents.slice();
    return c;
  }
}
