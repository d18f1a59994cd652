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
