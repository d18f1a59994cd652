// The id of the REST request being served, carried implicitly (AsyncLocalStorage) from the REST
// handler down to the internal calls it makes, so a fan-out's hops log the id of the request that
// caused them without every layer passing it by hand. Internal calls forward it in their metadata.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'x-request-id';
/** Longer ids are replaced: they end up in every log line of the request. */
export const REQUEST_ID_LENGTH_MAX = 128;

const storage = new AsyncLocalStorage<{ requestId: string }>();

/** A caller's id is kept only when it is 1..128 printable ASCII characters (no spaces, no control characters). */
export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= REQUEST_ID_LENGTH_MAX && /^[\x21-\x7e]+$/.test(value);
}

/** The caller's id if valid, else a new one. */
export function requestIdOf(given: unknown): string {
  return isValidRequestId(given) ? given : randomUUID();
}

/** Runs fn with `requestId` as the current request's id (for everything fn starts, timers and promises included). */
export function withRequestId<T>(requestId: string, fn: () => T): T {
  return storage.run({ requestId }, fn);
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}
