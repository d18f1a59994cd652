// Inserts a shard's not-yet-indexed points into its HNSW graph in short steps on the event loop,
// so requests (and, for replicas, Raft ticks and messages) are served in between; waitIndexed()
// resolves when the backlog is empty.
import type { ShardState } from './state.js';

export interface IndexerPacing {
  /** Longest run of graph insertions before yielding (checked after every insertion). */
  stepMs: number;
  /**
   * Share of the event loop the indexer takes while writes are arriving, with an empty backlog;
   * it grows linearly to `writingShareMax` as the backlog approaches the shard's indexBacklogMax,
   * so a burst is acknowledged at full speed and a sustained load still gets its graph built.
   */
  writingShareMin: number;
  writingShareMax: number;
  /** Share when no write arrived for `quietAfterMs`: 1 = back to back. */
  quietShare: number;
  /** Writes count as "arriving" for this long after the last one. */
  quietAfterMs: number;
}

/**
 * A standalone node: half the loop while writes arrive (acknowledging a write is cheap,
 * inserting it into the graph is not: durable ingest went 13k → 19.5k vectors/s), all of it when
 * quiet (so the graph still completes as fast as one core allows).
 */
export const STANDALONE_INDEX_PACING: IndexerPacing = { stepMs: 10, writingShareMin: 0.5, writingShareMax: 0.5, quietShare: 1, quietAfterMs: 100 };

/**
 * A Raft replica: every replica indexes every vector, and back-to-back steps starved the Raft loop
 * (heartbeats late by seconds, leaders deposed under bulk ingest; found by bench:raft), so never
 * more than half the loop. While entries are being applied it starts from a twentieth (a graph
 * insert costs ~20× replicating the vector, so a burst is replicated at full speed); the backlog
 * is searched exactly meanwhile and bounded by indexBacklogMax (429 on the leader past it).
 * A replica applies one committed entry (a whole client batch) every few hundred ms under bulk
 * ingest, so "quiet" means a second without one.
 */
export const REPLICA_INDEX_PACING: IndexerPacing = { stepMs: 10, writingShareMin: 0.05, writingShareMax: 0.5, quietShare: 0.5, quietAfterMs: 1_000 };

/** The share of the loop the indexer may take now. */
export function indexerShare(pacing: IndexerPacing, writesArriving: boolean, backlog: number, backlogMax: number): number {
  if (!writesArriving) return pacing.quietShare;
  const fill = Math.min(1, backlog / Math.max(1, backlogMax));
  return pacing.writingShareMin + (pacing.writingShareMax - pacing.writingShareMin) * fill;
}

export class BackgroundIndexer {
  private cancel: (() => void) | null = null;
  private waiters: (() => void)[] = [];
  private stopped = false;
  private lastWriteMs = -Infinity;
  /** Called when a step empties the backlog (the graph holds every stored point). */
  onDrained: (() => void) | null = null;

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
    if (this.stateOf().indexWork === 0) {
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
    // A graph save in progress: whoever started it kicks the indexer when it is done.
    if (state.graphSaving) return;
    const startedMs = performance.now();
    while (state.indexWork > 0 && performance.now() - startedMs < this.pacing.stepMs) state.indexSome(1);
    if (state.indexWork === 0) {
      for (const resolve of this.waiters.splice(0)) resolve();
      this.onDrained?.();
      return;
    }
    const now = performance.now();
    const share = indexerShare(this.pacing, now - this.lastWriteMs < this.pacing.quietAfterMs, state.indexBacklog, state.limits.indexBacklogMax);
    // A step of d ms at share s is followed by d·(1/s − 1) ms of pause.
    this.schedule((now - startedMs) * (1 / share - 1));
  }

  waitIndexed(): Promise<void> {
    if (this.stateOf().indexWork === 0) return Promise.resolve();
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
