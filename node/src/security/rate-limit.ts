// Per-key limits against abuse: a token bucket of requests per second (with a burst) and a cap
// on requests in flight, each per principal id. Past either: a coded 429 with how long to wait.
import { JadeError } from '../util/errors.js';
import type { Principal } from './access.js';

export interface KeyLimits {
  /** Requests per second a key may sustain; 0 = no rate limit. */
  requestsPerSecondMax: number;
  /** Requests a key may send at once after being idle (the bucket's size); 0 = one second's worth. */
  requestsBurstMax: number;
  /** Requests of one key in flight at once; 0 = no limit. */
  requestsInFlightMax: number;
}

/** Buckets kept before idle ones (full, nothing in flight) are dropped: JWT subjects are unbounded. */
const BUCKETS_KEPT_MAX = 10_000;
/** Seconds a client is told to wait when it has too many requests in flight. */
const IN_FLIGHT_RETRY_AFTER_SECONDS = 1;

interface Bucket {
  tokens: number;
  refilledAtMs: number;
  inFlight: number;
  /** The key's rate and burst, for sweep(). */
  rate: number;
  burst: number;
}

export class KeyLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly defaults: KeyLimits, private readonly nowMs: () => number = Date.now) {}

  private limitsOf(p: Principal): { rate: number; burst: number; inFlight: number } {
    const rate = p.limits?.requestsPerSecondMax ?? this.defaults.requestsPerSecondMax;
    const burst = p.limits?.requestsBurstMax ?? this.defaults.requestsBurstMax;
    return { rate, burst: burst > 0 ? burst : Math.max(1, rate), inFlight: p.limits?.requestsInFlightMax ?? this.defaults.requestsInFlightMax };
  }

  /**
   * Admits one request of the principal or throws JADE_ERR_RATE_LIMITED (details: reason REQUEST_RATE
   * or REQUESTS_IN_FLIGHT, retryAfterSeconds). Returns the release to call once when the request ends.
   */
  acquire(p: Principal): () => void {
    const { rate, burst, inFlight } = this.limitsOf(p);
    if (rate === 0 && inFlight === 0) return () => undefined;
    const now = this.nowMs();
    let b = this.buckets.get(p.id);
    if (!b) {
      if (this.buckets.size >= BUCKETS_KEPT_MAX) this.sweep(now);
      b = { tokens: burst, refilledAtMs: now, inFlight: 0, rate, burst };
      this.buckets.set(p.id, b);
    }
    if (rate > 0) {
      b.tokens = Math.min(burst, b.tokens + ((now - b.refilledAtMs) / 1000) * rate);
      b.refilledAtMs = now;
      if (b.tokens < 1) {
        const retryAfterSeconds = Math.max(1, Math.ceil((1 - b.tokens) / rate));
        throw new JadeError('JADE_ERR_RATE_LIMITED', `key "${p.id}" is over its request rate (${rate}/s, burst ${burst}); retry after ${retryAfterSeconds} s`, { reason: 'REQUEST_RATE', retryAfterSeconds });
      }
    }
    if (inFlight > 0 && b.inFlight >= inFlight) {
      throw new JadeError('JADE_ERR_RATE_LIMITED', `key "${p.id}" has ${b.inFlight} requests in flight (the limit is ${inFlight}); retry later`, { reason: 'REQUESTS_IN_FLIGHT', retryAfterSeconds: IN_FLIGHT_RETRY_AFTER_SECONDS });
    }
    if (rate > 0) b.tokens -= 1;
    b.inFlight++;
    const bucket = b;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      bucket.inFlight--;
    };
  }

  /** Drops buckets that forget nothing: nothing in flight and refilled to the top. */
  private sweep(now: number): void {
    for (const [id, b] of this.buckets) {
      if (b.inFlight > 0) continue;
      if (b.rate === 0 || b.tokens + ((now - b.refilledAtMs) / 1000) * b.rate >= b.burst) this.buckets.delete(id);
    }
  }

  /** Buckets kept (for tests). */
  get size(): number {
    return this.buckets.size;
  }
}
