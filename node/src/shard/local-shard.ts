// A durable single-replica shard: every batch is validated, appended to the WAL and fsynced
// before it is applied and acknowledged; a checkpoint (snapshot + saved HNSW graph) lets restart
// load instead of rebuild, then replay only the WAL tail.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCheckpoint, writeCheckpoint } from '../storage/checkpoint.js';
import { decodeShardSnapshot, decodeWriteBatch, encodeShardSnapshot, encodeWriteBatch } from '../storage/codec.js';
import type { Disk } from '../storage/disk.js';
import type { WriteBatch } from '../storage/types.js';
import type { WalOptions } from '../storage/wal.js';
import { Wal } from '../storage/wal.js';
import { JadeError, assert } from '../util/errors.js';
import type { CollectionParams, ShardLimits } from './state.js';
import { ShardState } from './state.js';
import { BackgroundIndexer } from './indexer.js';

export interface LocalShardOptions {
  wal: WalOptions;
  limits: ShardLimits;
  /** Take a checkpoint (and truncate the WAL) once the WAL holds this many bytes. */
  checkpointWalBytes: number;
  /** Scratch space for the HNSW graph file hnswlib writes and reads by path. */
  scratchDir?: string;
}

export interface LocalShardObserver {
  onFsync?(seconds: number): void;
  onCheckpoint?(seconds: number): void;
  /** A checkpoint taken in the background failed (nothing is lost: the WAL keeps every record). */
  onCheckpointFailed?(error: unknown): void;
}

export const CHECKPOINT_NAME = 'checkpoint';

export class LocalShard {
  private wal!: Wal;
  private appliedLsn = 0;
  private readonly waiting = new Map<number, WriteBatch>();
  private checkpointing: Promise<void> | null = null;
  private closed = false;
  private readonly indexer = new BackgroundIndexer(() => this.state);
  /** Set after a WAL write/fsync error: the WAL refuses appends until reopened from disk. */
  private walNeedsReopen = false;

  private constructor(
    private readonly disk: Disk,
    readonly dir: string,
    public state: ShardState,
    private readonly opts: LocalShardOptions,
    private readonly observer: LocalShardObserver,
  ) {}

  static async open(disk: Disk, dir: string, params: CollectionParams, opts: LocalShardOptions, observer: LocalShardObserver = {}): Promise<LocalShard> {
    await disk.mkdirp(dir);
    const checkpoint = await readCheckpoint(disk, dir, CHECKPOINT_NAME);
    let state: ShardState;
    let appliedLsn = 0;
    if (checkpoint) {
      // Views, not a copy per vector: restore copies them into the arena (60k small copies kept
      // ~0.5 GiB of freed malloc memory in the process after a restart).
      const snap = decodeShardSnapshot(checkpoint.snapshot, { vectorViews: true });
      const labelsBytes = checkpoint.extra['labels.bin'];
      const meta = JSON.parse(new TextDecoder().decode(checkpoint.extra['meta.json'])) as { nextLabel: number };
      const unindexedBytes = checkpoint.extra['unindexed.bin'] ?? new Uint8Array(0);
      assert(labelsBytes && labelsBytes.length === snap.points.length * 4, 'checkpoint labels match its points');
      const labels = new Uint32Array(labelsBytes.slice().buffer);
      const graph = checkpoint.extra['hnsw.bin'];
      const graphPath = graph ? withScratchFile(opts.scratchDir, graph) : null;
      try {
        state = ShardState.restore(params, opts.limits, { labels, points: snap.points, nextLabel: meta.nextLabel, unindexed: new Uint32Array(unindexedBytes.slice().buffer), payloadIndexes: snap.payloadIndexes }, graphPath?.path ?? null);
      } finally {
        graphPath?.cleanup();
      }
      appliedLsn = snap.lastAppliedLsn;
    } else {
      state = new ShardState(params, opts.limits);
    }
    // The floor keeps LSNs increasing past the checkpoint even if the WAL behind it is gone.
    const { wal, records } = await Wal.open(disk, path.join(dir, 'wal'), opts.wal, { lastLsnAtLeast: appliedLsn });
    for (const r of records) {
      if (r.lsn <= appliedLsn) continue;
      state.apply(decodeWriteBatch(r.payload, { vectorViews: true })); // apply copies the vectors
      appliedLsn = r.lsn;
    }
    const shard = new LocalShard(disk, dir, state, opts, observer);
    shard.wal = wal;
    shard.appliedLsn = appliedLsn;
    shard.indexer.kick();
    return shard;
  }

  get lastAppliedLsn(): number {
    return this.appliedLsn;
  }

  walSizeBytes(): number {
    return this.wal.sizeBytes();
  }

  /**
   * Validates, logs durably, applies, then resolves. Batches apply in LSN order even when their
   * fsyncs complete together. Invalid input throws before anything is written.
   */
  async write(batch: WriteBatch): Promise<number> {
    if (this.closed) throw new JadeError('JADE_ERR_NOT_READY', 'collection is closing');
    this.indexer.noteWrite();
    const valid = this.state.validateBatch(batch);
    const bytes = encodeWriteBatch(valid);
    if (this.walNeedsReopen) await this.reopenWal();
    const started = performance.now();
    let lsn: number;
    try {
      lsn = await this.wal.append(bytes);
    } catch (e) {
      if ((e as JadeError).code === 'JADE_ERR_STORAGE') this.walNeedsReopen = true;
      throw e;
    }
    this.observer.onFsync?.((performance.now() - started) / 1000);
    this.waiting.set(lsn, valid);
    while (this.waiting.has(this.appliedLsn + 1)) {
      const next = this.appliedLsn + 1;
      this.state.apply(this.waiting.get(next)!);
      this.waiting.delete(next);
      this.appliedLsn = next;
    }
    this.indexer.kick();
    if (this.wal.sizeBytes() >= this.opts.checkpointWalBytes && !this.checkpointing) {
      // A failed checkpoint loses nothing (the WAL still holds every record); the next write retries.
      void this.checkpoint().catch((e: unknown) => this.observer.onCheckpointFailed?.(e));
    }
    return lsn;
  }

  /**
   * After a disk error, reopen the WAL from what is on disk: records written but never
   * acknowledged may be there in full (torn ones are cut), and are applied so memory matches disk.
   */
  private reopenWal(): Promise<void> {
    this.reopening ??= (async () => {
      await this.wal.close().catch(() => undefined);
      const { wal, records } = await Wal.open(this.disk, path.join(this.dir, 'wal'), this.opts.wal, { lastLsnAtLeast: this.appliedLsn });
      for (const r of records) {
        if (r.lsn <= this.appliedLsn) continue;
        this.state.apply(decodeWriteBatch(r.payload, { vectorViews: true }));
        this.appliedLsn = r.lsn;
      }
      this.waiting.clear();
      this.wal = wal;
      this.walNeedsReopen = false;
    })().finally(() => {
      this.reopening = null;
    });
    return this.reopening;
  }
  private reopening: Promise<void> | null = null;

  /** Resolves once every stored point is in the HNSW graph. */
  waitIndexed(): Promise<void> {
    return this.indexer.waitIndexed();
  }

  /** Snapshot + graph at the applied LSN, written atomically, then the WAL below it is dropped. */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing;
    this.checkpointing = (async () => {
      const started = performance.now();
      // Taken synchronously, so the snapshot, labels and graph describe one LSN.
      const lsn = this.appliedLsn;
      const exported = this.state.exportPoints();
      const snapshot = encodeShardSnapshot({
        configJson: JSON.stringify(this.state.params),
        lastAppliedLsn: lsn,
        points: exported.points,
        payloadIndexes: this.state.payloadIndexList().map(({ field, schema, isTenant }) => ({ field, schema, isTenant })),
      });
      const scratch = makeScratchDir(this.opts.scratchDir);
      let graph: Uint8Array;
      try {
        const graphPath = path.join(scratch, 'hnsw.bin');
        this.state.saveGraph(graphPath);
        graph = new Uint8Array(await readFile(graphPath));
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
      await writeCheckpoint(this.disk, this.dir, CHECKPOINT_NAME, {
        snapshot,
        extra: {
          'labels.bin': new Uint8Array(exported.labels.buffer),
          'meta.json': new TextEncoder().encode(JSON.stringify({ nextLabel: exported.nextLabel })),
          'unindexed.bin': new Uint8Array(exported.unindexed.buffer),
          'hnsw.bin': graph,
        },
      });
      await this.wal.truncateBefore(lsn + 1);
      this.observer.onCheckpoint?.((performance.now() - started) / 1000);
    })().finally(() => {
      this.checkpointing = null;
    });
    return this.checkpointing;
  }

  /**
   * Stops the shard, checkpointing first unless told not to. A failed checkpoint loses nothing (the
   * WAL is closed as it is and the next open replays it), but it rejects close() with its coded
   * error (JADE_ERR_STORAGE with the errno): a node shutting down on a full disk must say so.
   */
  async close(options: { checkpoint: boolean } = { checkpoint: true }): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.indexer.stop();
    // A background checkpoint's failure was reported to the observer; the one below retries it.
    if (this.checkpointing) await this.checkpointing.catch(() => undefined);
    let failure: unknown = null;
    if (options.checkpoint && this.appliedLsn > 0 && this.wal.sizeBytes() > 0) {
      await this.checkpoint().catch((e: unknown) => {
        failure = e;
      });
    }
    await this.wal.close();
    if (failure !== null) throw failure;
  }
}

function makeScratchDir(base: string | undefined): string {
  return mkdtempSync(path.join(base ?? tmpdir(), 'jade-graph-'));
}

function withScratchFile(base: string | undefined, bytes: Uint8Array): { path: string; cleanup(): void } {
  const dir = makeScratchDir(base);
  const file = path.join(dir, 'hnsw.bin');
  // hnswlib reads the graph by path, so the verified bytes go through one scratch file.
  writeFileSync(file, bytes);
  return { path: file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
