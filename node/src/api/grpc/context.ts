// What every gRPC handler gets: the REST API's dependencies (database, limits, auth, metrics) and
// write gate, and per call the principal and the options every request shares (deadline, read
// consistency), read from Qdrant's request fields the way the REST API reads its query string.
import type { ReadConsistency as ReadConsistencyMsg } from '@qdrant/js-client-grpc';
import type { ReadOptions, WriteOptions } from '../../query/types.js';
import type { Principal } from '../../security/access.js';
import type { KeyLimiter } from '../../security/rate-limit.js';
import { JadeError } from '../../util/errors.js';
import { REQUEST_TIMEOUT_SECONDS_MAX, type AppDeps, type WriteGate } from '../rest/context.js';

export interface GrpcLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface GrpcDeps {
  app: AppDeps;
  writes: WriteGate;
  /** Shared with REST: a key's rate and requests in flight count both APIs. */
  limiter: KeyLimiter;
  log: GrpcLog;
}

export interface GrpcCall {
  principal: Principal;
  /** The call's deadline (the client's grpc-timeout, else the node's request timeout), epoch ms. */
  deadlineMs: number;
}

/** The deadline of a request: its own `timeout` (seconds, Qdrant's field) when it is sooner than the call's. */
export function deadlineOf(call: GrpcCall, timeoutSeconds: bigint | undefined): number {
  if (timeoutSeconds === undefined) return call.deadlineMs;
  if (timeoutSeconds <= 0n || timeoutSeconds > BigInt(REQUEST_TIMEOUT_SECONDS_MAX)) throw new JadeError('JADE_ERR_BAD_REQUEST', `timeout must be a number of seconds in (0, ${REQUEST_TIMEOUT_SECONDS_MAX}]`);
  return Math.min(call.deadlineMs, Date.now() + Number(timeoutSeconds) * 1000);
}

/** Qdrant's read_consistency: factor 1 reads one replica as it is (eventual, as REST's "one"); anything else is strong. */
export function readOptionsOf(call: GrpcCall, consistency: ReadConsistencyMsg | undefined, timeoutSeconds: bigint | undefined): ReadOptions {
  const v = consistency?.value;
  const eventual = v?.case === 'factor' && v.value === 1n;
  return { consistency: eventual ? 'eventual' : 'strong', deadlineMs: deadlineOf(call, timeoutSeconds) };
}

/** Writes wait for the collection's write consistency whatever `wait` and `ordering` say: always at least as strong as asked. */
export function writeOptionsOf(call: GrpcCall, timeoutSeconds: bigint | undefined): WriteOptions {
  return { deadlineMs: deadlineOf(call, timeoutSeconds) };
}

export function elapsedSeconds(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}
