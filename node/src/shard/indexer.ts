// Inserts a shard's not-yet-indexed points into its HNSW graph in short slices on the event loop,
// so requests are served in between; waitIndexed() resolves when the backlog is empty.
import type { ShardState } from './state.js';

/** Graph insertion runs in slices of this length so requests are served in between. */
export const INDEX_SLICE_MS = 20;

export class BackgroundIndexer {
  private timer: NodeJS.Immediate | null = null;
  private waiters: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly stateOf: () => ShardState) {}

  /** Call after anything that may have grown the backlog. */
  kick(): void {
    if (this.timer || this.stopped) return;
    if (this.stateOf().indexBacklog === 0) {
      for (const resolve of this.waiters.splice(0)) resolve();
      return;
    }
    this.timer = setImmediate(() => {
      this.timer = null;
      if (this.stopped) return;
      this.stateOf().indexSome(Infinity, performance.now() + INDEX_SLICE_MS);
      this.kick();
    });
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
    if (this.timer) clearImmediate(this.timer);
    this.timer = null;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
