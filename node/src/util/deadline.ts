// Deadlines shared by every layer: a request's absolute deadline travels with it through every
// hop, and each wait is bounded by what is left of it.
import { JadeError } from './errors.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Milliseconds left until an absolute deadline (epoch ms), never negative. */
export function remainingMs(deadlineMs: number): number {
  return Math.max(0, deadlineMs - Date.now());
}

/** Settles like `p`, or rejects with `onTimeout()` after `ms`; a late settlement of `p` is absorbed. */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Like withTimeout, against an absolute deadline, with a coded JADE_ERR_DEADLINE naming `what`. */
export function beforeDeadline<T>(p: Promise<T>, deadlineMs: number, what: string): Promise<T> {
  return withTimeout(p, remainingMs(deadlineMs), () => new JadeError('JADE_ERR_DEADLINE', `${what}: no answer before the request's deadline`));
}

/** One try of retryUntil: done with a value, or not yet (with the error that says why). */
export type Attempt<T> = { done: true; value: T } | { done: false; error: unknown; retryInMs?: number };

/**
 * Tries until an attempt is done or the deadline passes; between tries waits retryInMs (default
 * 50 ms, never past the deadline). At the deadline the last error is wrapped in a coded 503.
 */
export async function retryUntil<T>(deadlineMs: number, what: string, attempt: (remaining: number) => Promise<Attempt<T>>, isStopped: () => boolean = () => false): Promise<T> {
  let lastError: unknown = null;
  for (;;) {
    const remaining = remainingMs(deadlineMs);
    if (remaining <= 0 || isStopped()) break;
    const r = await attempt(remaining);
    if (r.done) return r.value;
    lastError = r.error;
    const wait = Math.min(r.retryInMs ?? 50, remainingMs(deadlineMs));
    if (wait > 0) await sleep(wait);
  }
  const why = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new JadeError('JADE_ERR_UNAVAILABLE', `${what}: not done before the deadline${why}`, { cause: lastError instanceof JadeError ? lastError.code : undefined });
}
