// A work queue keyed by object, like client-go's: a key waiting in the queue is stored once however often
// it is added (de-duplication); a key being processed is never handed out twice at once (added again, it
// is re-queued when done); failures come back after an exponential per-key delay (no hot loops); the
// number of distinct keys is bounded.
import { JadeError } from '../../../node/src/util/errors.js';

export interface WorkQueueOptions {
  /** Most distinct keys waiting or delayed; past it add() throws JADE_ERR_QUEUE_FULL. */
  keysMax?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  readonly keysMax: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;

  constructor(opts: WorkQueueOptions = {}) {
    this.keysMax = opts.keysMax ?? 10_000;
    this.retryBaseMs = opts.retryBaseMs ?? 200;
    this.retryMaxMs = opts.retryMaxMs ?? 60_000;
  }

  /** Keys waiting to be processed (not counting delayed retries). */
  get depth(): number {
    return this.queue.length;
  }
  get delayedCount(): number {
    return this.delayed.size;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    if (this.dirty.size + this.delayed.size >= this.keysMax && !this.delayed.has(key)) {
      throw new JadeError('JADE_ERR_QUEUE_FULL', `work queue holds ${this.keysMax} keys`);
    }
    const timer = this.delayed.get(key);
    if (timer) { clearTimeout(timer); this.delayed.delete(key); }
    this.dirty.add(key);
    if (this.processing.has(key)) return; // re-queued by done()
    const waiter = this.waiters.shift();
    if (waiter) { this.dirty.delete(key); this.processing.add(key); waiter(key); return; }
    this.queue.push(key);
  }

  /** Adds key after delayMs unless it is added sooner. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    const existing = this.delayed.get(key);
    if (existing) clearTimeout(existing);
    const timer = setTimeout(() => { this.delayed.delete(key); this.add(key); }, delayMs);
    timer.unref();
    this.delayed.set(key, timer);
  }

  /** Adds key after its next exponential backoff delay (200 ms, 400 ms, ... capped). Returns the delay. */
  addRateLimited(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const delayMs = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (n - 1));
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** Clears the failure count of key after a success. */
  forget(key: string): void {
    this.failures.delete(key);
  }
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Next key to process, or undefined once shut down. Call done(key) when finished. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.dirty.delete(key);
      this.add(key);
    }
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
