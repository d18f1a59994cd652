// Inserts a shard's not-yet-indexed points into its HNSW graph in short steps on the event loop,
// so requests (and, for replicas, Raft ticks and messages) are served in between; waitIndexed()
// resolves when the backlog is empty.
import type { ShardState } from './state.js';

export interface IndexerPacing {
  /** Longest run of graph insertions before yielding (checked after every insertion). */
  stepMs: number;
  /** Pause after a step, per ms the step took, while writes are arriving: 1 = at most about half the loop. */
  idlePerBusy: number;
  /** The same when no write arrived for `quietAfterMs`: 0 = next step right after pending I/O. */
  quietIdlePerBusy: number;
}

/** Writes count as "arriving" for this long after the last one. */
export const INDEX_QUIET_AFTER_MS = 100;

/**
 * A standalone node: half the loop while writes arrive (acknowledging a write is cheap, inserting
 * it into the graph is not: durable ingest went 13k → 19.5k vectors/s), all of it when quiet (so the
 * graph still completes as fast as one core allows).
 */
export const STANDALONE_INDEX_PACING: IndexerPacing = { stepMs: 10, idlePerBusy: 1, quietIdlePerBusy: 0 };

/**
 * A Raft replica: every replica indexes every vector, and back-to-back steps starved the Raft loop
 * (heartbeats late by seconds, leaders deposed under bulk ingest; found by bench:raft). While
 * entries are being applied the indexer takes about a tenth of the loop, so replication keeps up
 * with ingest (the graph insert is ~20× the cost of replicating a vector); the backlog is bounded
 * by `indexBacklogMax` (429 past it, after which the quiet pacing drains it) and searched exactly.
 */
export const REPLICA_INDEX_PACING: IndexerPacing = { stepMs: 10, idlePerBusy: 9, quietIdlePerBusy: 1 };

export class BackgroundIndexer {
  private cancel: (() => void) | null = null;
  private waiters: (() => void)[] = [];
  private stopped = false;
  private lastWriteMs = -Infinity;

  constructor(
    private readonly stateOf: () => ShardState,
    private readonly pacing: IndexerPacing = STANDALONE_INDEX_PACING,
  ) {}

  /** A write arrived: yield more of the loop for a while. */
  noteWrite(): void {
    this.lastWriteMs = performance.now();
  }

  /** Call after anything that may have grown the backlog. */
  kick(): void {
    if (this.cancel || this.stopped) return;
    if (this.stateOf().indexBacklog === 0) {
      for (const resolve of this.waiters.splice(0)) resolve();
      return;
    }
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (delayMs < 1) {
      const handle = setImmediate(() => this.step());
      this.cancel = () => clearImmediate(handle);
    } else {
      const handle = setTimeout(() => this.step(), delayMs);
      this.cancel = () => clearTimeout(handle);
    }
  }

  private step(): void {
    this.cancel = null;
    if (this.stopped) return;
    const state = this.stateOf();
    const startedMs = performance.now();
    while (state.indexBacklog > 0 && performance.now() - startedMs < this.pacing.stepMs) state.indexSome(1);
    if (state.indexBacklog === 0) {
      for (const resolve of this.waiters.splice(0)) resolve();
      return;
    }
    const now = performance.now();
    const writesArriving = now - this.lastWriteMs < INDEX_QUIET_AFTER_MS;
    this.schedule((now - startedMs) * (writesArriving ? this.pacing.idlePerBusy : this.pacing.quietIdlePerBusy));
  }

  waitIndexed(): Promise<void> {
    if (this.stateOf().indexBacklog === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.kick();
    });
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = null;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
