// File-backed Raft storage on node/src/storage: entries in a WAL whose LSN is the Raft index,
// the snapshot in a checkpoint (CRC-checked manifest), the hard state in a file replaced
// atomically. Reads are served from an in-memory mirror (MemoryRaftStorage) because the core
// reads synchronously; memory is bounded by the log since the last compaction (the driver
// snapshots and compacts every `snapshotEveryEntries` or `snapshotEveryBytes`, and keeps at most
// `compactionLagBytes` behind the snapshot).
//
// Durability (what save() guarantees before it resolves, i.e. before the driver sends the
// Ready's messages): the snapshot checkpoint, every entry (fdatasync by the WAL) and a changed
// term or vote (tmp + fsync + rename + fsync dir) are on disk. A commit-index-only change is
// written only when the new commit covers a membership change: the core takes its voters from the
// snapshot and re-applies the log up to the durable commit at start, so a membership change this
// node applied before a restart must lie at or below that commit, or the node would campaign with
// an older voter set (e.g. alone, as the founder of a group that has grown since). Otherwise commit
// is recomputed from the leader and a stale value is safe. close() writes the final commit, so a
// clean restart replays everything it had applied (its peers' latest addresses included).
import path from 'node:path';
import { JadeError, assert } from '../util/errors.js';
import { readCheckpoint, writeCheckpoint } from '../storage/checkpoint.js';
import type { Disk } from '../storage/disk.js';
import { Wal } from '../storage/wal.js';
import type { WalOptions, WalRecord } from '../storage/wal.js';
import type { DurableRaftStorage } from '../raft/driver.js';
import { MemoryRaftStorage } from '../raft/storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.js';
import { NO_NODE } from '../raft/types.js';

const SNAPSHOT_NAME = 'raft-snapshot';
const HARD_STATE_FILE = 'hardstate.json';
const ENTRY_HEADER_BYTES = 9; // type u8 + term u64

export interface FileRaftStorageOptions {
  disk: Disk;
  /** This group's directory (e.g. <data>/groups/<groupId>). */
  dir: string;
  /** Initial membership when the directory is new and this node founds the group; omit to join. */
  bootstrap?: ConfState;
  wal?: Partial<WalOptions>;
  /** Seconds one batch of entries took to become durable (metrics). */
  onAppendDurable?: (seconds: number) => void;
}

/** The WAL record of an entry is this header followed by the entry's data. */
export function entryHeader(e: Entry): Uint8Array {
  const out = new Uint8Array(ENTRY_HEADER_BYTES);
  const view = new DataView(out.buffer);
  view.setUint8(0, e.type === 'confChange' ? 1 : 0);
  view.setUint32(1, e.term % 0x100000000, true);
  view.setUint32(5, Math.floor(e.term / 0x100000000), true);
  return out;
}

export function decodeEntry(index: number, payload: Uint8Array): Entry {
  if (payload.length < ENTRY_HEADER_BYTES) throw new JadeError('JADE_ERR_STORAGE', `raft entry ${index}: record too short`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const kind = view.getUint8(0);
  if (kind > 1) throw new JadeError('JADE_ERR_STORAGE', `raft entry ${index}: unknown type ${kind}`);
  const term = view.getUint32(1, true) + view.getUint32(5, true) * 0x100000000;
  return { index, term, type: kind === 1 ? 'confChange' : 'normal', data: payload.slice(ENTRY_HEADER_BYTES) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    throw new JadeError('JADE_ERR_STORAGE', `corrupt ${what}`);
  }
}

export class FileRaftStorage implements DurableRaftStorage {
  /** Whether the directory holds a group's durable Raft state (its hard state was written). */
  static hasDurableState(disk: Disk, dir: string): Promise<boolean> {
    return disk.exists(path.join(dir, HARD_STATE_FILE));
  }

  /** Snapshot writes (our own and a leader's), WAL resets and truncations run one at a time. */
  private snapshotLock: Promise<unknown> = Promise.resolve();
  /** The hard state as last written to disk. */
  private durable: HardState;
  /** Entries up to here were checked for membership changes (see save). */
  private confScannedTo: number;
  private onAppendDurable: (seconds: number) => void = () => undefined;

  private constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private readonly wal: Wal,
    private readonly mem: MemoryRaftStorage,
    durable: HardState,
  ) {
    this.durable = { ...durable };
    this.confScannedTo = Math.max(durable.commit, mem.firstIndex() - 1);
  }

  static async open(opts: FileRaftStorageOptions): Promise<FileRaftStorage> {
    const { disk, dir } = opts;
    await disk.mkdirp(dir);
    const walOpts: WalOptions = {
      segmentSizeBytesMax: 64 << 20,
      recordSizeBytesMax: 64 << 20,
      pendingBytesMax: 512 << 20,
      ...opts.wal,
    };
    const hsPath = path.join(dir, HARD_STATE_FILE);
    const hasHardState = await disk.exists(hsPath);
    const cp = await readCheckpoint(disk, dir, SNAPSHOT_NAME);
    if (!hasHardState && !cp) {
      // A new directory: found the group (bootstrap snapshot at index 1) or wait to join.
      const mem = new MemoryRaftStorage(opts.bootstrap ?? { voters: [], learners: [] });
      const { wal } = await Wal.open(disk, path.join(dir, 'wal'), walOpts);
      const s = new FileRaftStorage(disk, dir, wal, mem, mem.hardStateNow());
      const snap = mem.snapshot()!;
      if (snap.meta.index > 0) await s.writeSnapshot(snap);
      await wal.reset(snap.meta.index + 1);
      await s.writeHardState(mem.hardStateNow());
      if (opts.onAppendDurable) s.onAppendDurable = opts.onAppendDurable;
      return s;
    }
    const mem = new MemoryRaftStorage();
    let snapIndex = 0;
    let snapTerm = 0;
    if (cp) {
      const meta = parseJson<Snapshot['meta']>(cp.extra.meta ?? new Uint8Array(0), `raft snapshot metadata in ${dir}`);
      mem.applySnapshot({ meta, data: cp.snapshot });
      snapIndex = meta.index;
      snapTerm = meta.term;
    }
    const { wal, records } = await Wal.open(disk, path.join(dir, 'wal'), walOpts, { lastLsnAtLeast: snapIndex });
    const kept = FileRaftStorage.recordsAfterSnapshot(records, snapIndex, snapTerm);
    if (kept === null) {
      // The tail does not continue the snapshot (a crash between installing a leader's snapshot
      // and resetting the log): it is a divergent, uncommitted tail; drop it.
      await wal.reset(snapIndex + 1);
    } else {
      mem.append(kept);
    }
    const stored: HardState | null = hasHardState ? parseJson<HardState>(await disk.readFile(hsPath), `raft hard state in ${dir}`) : null;
    const hs: HardState = stored ? { ...stored } : { term: snapTerm, vote: NO_NODE, commit: snapIndex };
    // The durable commit may lag (see the top of this file) or, after a dropped tail, exceed the
    // log; it is a hint that the leader corrects, so clamp it into the log.
    hs.commit = Math.min(Math.max(hs.commit, snapIndex), mem.lastIndex());
    mem.setHardState(hs);
    const s = new FileRaftStorage(disk, dir, wal, mem, stored ?? { term: 0, vote: NO_NODE, commit: 0 });
    if (opts.onAppendDurable) s.onAppendDurable = opts.onAppendDurable;
    return s;
  }

  /** Entries after the snapshot, or null when the WAL tail does not continue it. */
  private static recordsAfterSnapshot(records: WalRecord[], snapIndex: number, snapTerm: number): Entry[] | null {
    const after = records.filter((r) => r.lsn > snapIndex);
    if (after.length === 0) return [];
    const at = records.find((r) => r.lsn === snapIndex);
    const continues = after[0].lsn === snapIndex + 1 && (snapIndex === 0 || records[0].lsn === snapIndex + 1 || (at !== undefined && decodeEntry(at.lsn, at.payload).term === snapTerm));
    if (!continues) return null;
    return after.map((r) => decodeEntry(r.lsn, r.payload));
  }

  // RaftStorage (synchronous reads from the mirror)
  initialState(): { hardState: HardState; confState: ConfState } {
    return this.mem.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.mem.entries(lo, hi, maxBytes);
  }
  term(i: number): number | undefined {
    return this.mem.term(i);
  }
  firstIndex(): number {
    return this.mem.firstIndex();
  }
  lastIndex(): number {
    return this.mem.lastIndex();
  }
  snapshot(): Snapshot | null {
    return this.mem.snapshot();
  }

  async save(batch: { hardState?: HardState; entries: Entry[]; snapshot?: Snapshot }, _mustSync: boolean): Promise<void> {
    const snap = batch.snapshot;
    if (snap) {
      await this.exclusive(async () => {
        if (snap.meta.index <= this.mem.snapshot()!.meta.index) return;
        // Snapshot first: once it is durable, the entries it replaces may go.
        await this.writeSnapshot(snap);
        await this.wal.reset(snap.meta.index + 1);
        this.mem.applySnapshot(snap);
      });
    }
    if (batch.entries.length > 0) {
      const first = batch.entries[0].index;
      if (first <= this.wal.lastLsn()) await this.wal.truncateAfter(first - 1);
      assert(this.wal.lastLsn() === first - 1, `WAL ends at ${this.wal.lastLsn()}, entries start at ${first}`);
      // One group commit for the whole batch: the WAL fsyncs once for records queued together.
      // The header goes in as the record's prefix: no copy of the (megabytes of) entry data here.
      const started = performance.now();
      const lsns = await Promise.all(batch.entries.map((e) => this.wal.append(e.data, entryHeader(e))));
      this.onAppendDurable((performance.now() - started) / 1000);
      assert(lsns[0] === first, `WAL assigned LSN ${lsns[0]} to entry ${first}`);
      this.mem.append(batch.entries);
    }
    if (batch.hardState) {
      const hs = batch.hardState;
      if (hs.term !== this.durable.term || hs.vote !== this.durable.vote || this.commitsMembershipChange(hs.commit)) await this.writeHardState(hs);
      this.mem.setHardState(hs);
    }
  }

  /** Whether a membership change lies between the durable commit and `commit` (each entry is looked at once). */
  private commitsMembershipChange(commit: number): boolean {
    const from = Math.max(this.confScannedTo, this.durable.commit, this.mem.firstIndex() - 1) + 1;
    const to = Math.min(commit, this.mem.lastIndex());
    if (to < from) return false;
    this.confScannedTo = to;
    return this.mem.entries(from, to + 1, Number.MAX_SAFE_INTEGER).some((e) => e.type === 'confChange');
  }

  /**
   * Records a snapshot the state machine made at `index`. It may run while entries are appended
   * (the driver writes snapshots off its loop); a newer snapshot installed meanwhile wins.
   */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.exclusive(async () => {
      const current = this.mem.snapshot()!;
      if (index <= current.meta.index) return current;
      const term = this.mem.term(index);
      assert(term !== undefined, `snapshot index ${index} not in the log`);
      const snap: Snapshot = { meta: { index, term, conf: { voters: [...conf.voters], learners: [...conf.learners] } }, data };
      await this.writeSnapshot(snap);
      return this.mem.createSnapshot(index, conf, data);
    });
  }

  compact(index: number): Promise<void> {
    return this.exclusive(async () => {
      this.mem.compact(index);
      await this.wal.truncateBefore(index + 1);
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.snapshotLock.then(fn, fn);
    this.snapshotLock = run.catch(() => undefined);
    return run;
  }

  /** Bytes of log on disk (for size reports). */
  walSizeBytes(): number {
    return this.wal.sizeBytes();
  }

  /** Writes the commit index if it moved since the last write (a clean stop), then closes the log. */
  async close(): Promise<void> {
    const hs = this.mem.hardStateNow();
    try {
      if (hs.commit !== this.durable.commit || hs.term !== this.durable.term || hs.vote !== this.durable.vote) await this.writeHardState(hs);
    } finally {
      await this.wal.close();
    }
  }

  private async writeSnapshot(snap: Snapshot): Promise<void> {
    await writeCheckpoint(this.disk, this.dir, SNAPSHOT_NAME, { snapshot: snap.data, extra: { meta: encoder.encode(JSON.stringify(snap.meta)) } });
  }

  private async writeHardState(hs: HardState): Promise<void> {
    await this.disk.writeFileAtomic(path.join(this.dir, HARD_STATE_FILE), encoder.encode(JSON.stringify(hs)));
    this.durable = { ...hs };
  }
}
