// Durable Raft storage for one group: a MemoryRaftStorage view for the core, backed by a WAL of
// entries and hard-state records (fsynced before the Ready's messages are sent) and a snapshot
// file (state machine image + metadata) written atomically at compaction or installation.
import path from 'node:path';
import { MemoryRaftStorage, type RaftStorage } from '../raft/storage.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.js';
import { readCheckpoint, writeCheckpoint } from '../storage/checkpoint.js';
import type { Disk } from '../storage/disk.js';
import { Wal, type WalOptions } from '../storage/wal.js';
import { decodeLogRecord, decodeSnapshotMeta, encodeLogRecord, encodeSnapshotMeta } from './raft-codec.js';

const SNAPSHOT_NAME = 'raft-snapshot';

export class DurableRaftStorage implements RaftStorage {
  /** LSN and highest Raft index of each entries record, to know which WAL segments a snapshot frees. */
  private entryRecords: { lsn: number; lastIndex: number }[] = [];

  private constructor(
    private readonly disk: Disk,
    private readonly dir: string,
    private readonly mem: MemoryRaftStorage,
    private wal: Wal,
  ) {}

  /** Opens the group's storage; `bootstrap` is the initial membership when nothing is on disk yet. */
  static async open(disk: Disk, dir: string, bootstrap: ConfState, walOptions: WalOptions): Promise<DurableRaftStorage> {
    await disk.mkdirp(dir);
    const mem = new MemoryRaftStorage(bootstrap);
    const saved = await readCheckpoint(disk, dir, SNAPSHOT_NAME);
    if (saved) mem.applySnapshot({ meta: decodeSnapshotMeta(saved.snapshot), data: saved.extra.data ?? new Uint8Array(0) });
    const { wal, records } = await Wal.open(disk, path.join(dir, 'wal'), walOptions);
    const storage = new DurableRaftStorage(disk, dir, mem, wal);
    for (const r of records) {
      const rec = decodeLogRecord(r.payload);
      if (rec.kind === 'entries') {
        storage.appendToMemory(rec.entries);
        if (rec.entries.length) storage.entryRecords.push({ lsn: r.lsn, lastIndex: rec.entries.at(-1)!.index });
      } else {
        mem.setHardState({ term: rec.term, vote: rec.vote, commit: rec.commit });
      }
    }
    // A hard state's commit can never be below the snapshot it was taken after.
    const hs = mem.hardStateNow();
    const snapIndex = mem.snapshot()!.meta.index;
    if (hs.commit < snapIndex) mem.setHardState({ ...hs, commit: snapIndex });
    return storage;
  }

  private appendToMemory(entries: Entry[]): void {
    const snapIndex = this.mem.snapshot()!.meta.index;
    const fresh = entries.filter((e) => e.index > snapIndex);
    if (fresh.length === 0) return;
    // After a snapshot, log entries continue right after it; an older tail record is dropped.
    if (fresh[0].index > this.mem.lastIndex() + 1) return;
    this.mem.append(fresh);
  }

  // ---- RaftStorage (read view for the core) ----
  initialState() {
    return this.mem.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number) {
    return this.mem.entries(lo, hi, maxBytes);
  }
  term(i: number) {
    return this.mem.term(i);
  }
  firstIndex() {
    return this.mem.firstIndex();
  }
  lastIndex() {
    return this.mem.lastIndex();
  }
  snapshot() {
    return this.mem.snapshot();
  }

  /** The snapshot to restore the state machine from at start (null: start from empty). */
  startupSnapshot(): Snapshot | null {
    const s = this.mem.snapshot();
    return s && s.data.length > 0 ? s : null;
  }

  /**
   * Makes a Ready's snapshot, entries and hard state durable: the records are appended together,
   * so the WAL's group commit covers them with one fsync. Resolves only once durable.
   */
  async persist(snapshot: Snapshot | undefined, entries: Entry[], hardState: HardState | undefined): Promise<void> {
    if (snapshot) {
      await writeCheckpoint(this.disk, this.dir, SNAPSHOT_NAME, { snapshot: encodeSnapshotMeta(snapshot.meta), extra: { data: snapshot.data } });
      this.mem.applySnapshot(snapshot);
      this.entryRecords = [];
    }
    const appends: Promise<number>[] = [];
    if (entries.length) appends.push(this.wal.append(encodeLogRecord({ kind: 'entries', entries })));
    if (hardState) appends.push(this.wal.append(encodeLogRecord({ kind: 'hardState', term: hardState.term, vote: hardState.vote, commit: hardState.commit })));
    const lsns = await Promise.all(appends);
    if (entries.length) {
      this.appendToMemory(entries);
      this.entryRecords.push({ lsn: lsns[0], lastIndex: entries.at(-1)!.index });
    }
    if (hardState) this.mem.setHardState(hardState);
    if (snapshot) {
      // Everything in the WAL before this point is covered by the snapshot or superseded.
      await this.wal.append(encodeLogRecord({ kind: 'hardState', ...this.mem.hardStateNow() }));
      const keepFrom = this.entryRecords[0]?.lsn ?? this.wal.lastLsn();
      await this.wal.truncateBefore(keepFrom);
    }
  }

  /**
   * Records a snapshot the local state machine took at `index` and drops the log before it
   * (keeping `retainEntries` so slow followers can still catch up from the log).
   */
  async compact(index: number, conf: ConfState, data: Uint8Array, retainEntries: number): Promise<void> {
    const snap = this.mem.createSnapshot(index, conf, data);
    await writeCheckpoint(this.disk, this.dir, SNAPSHOT_NAME, { snapshot: encodeSnapshotMeta(snap.meta), extra: { data: snap.data } });
    const compactTo = Math.max(this.mem.firstIndex() - 1, index - retainEntries);
    if (compactTo <= this.mem.firstIndex() - 1) return;
    this.mem.compact(compactTo);
    // A fresh hard-state record first, so truncation never drops the latest one.
    const hsLsn = await this.wal.append(encodeLogRecord({ kind: 'hardState', ...this.mem.hardStateNow() }));
    this.entryRecords = this.entryRecords.filter((r) => r.lastIndex > compactTo);
    await this.wal.truncateBefore(Math.min(this.entryRecords[0]?.lsn ?? hsLsn, hsLsn));
  }

  walSizeBytes(): number {
    return this.wal.sizeBytes();
  }

  close(): Promise<void> {
    return this.wal.close();
  }
}
