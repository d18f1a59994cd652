// A bounded history recorder for linearizability tests against real processes. Operations are
// recorded at invoke and completed with an output, a definite failure (it did not happen: dropped
// from the history) or an unknown outcome (timeout, crash: it may take effect any time, or never).
//
// Storage is a preallocated ring of `capacity` slots. A history that lost operations to the ring
// cannot be checked soundly (a read could show a value whose write was evicted), so export refuses
// it: size the ring for a round and start each round on fresh keys.

import { assert } from '../../node/src/util/errors.js';
import type { Operation } from '../lincheck/checker.js';
import type { KvInput, KvOutput } from '../lincheck/models.js';

export const HISTORY_CAPACITY_DEFAULT = 200_000;

export type KvOperation = Operation<KvInput, KvOutput>;

const enum SlotState {
  Pending = 0,
  Ok = 1,
  Unknown = 2,
  Failed = 3,
}

/** What `complete` returns to identify the slot; stale after the ring wraps. */
export interface OperationHandle {
  readonly slot: number;
  readonly sequence: number;
}

export class HistoryRecorder {
  private readonly clientIds: (string | number)[];
  private readonly inputs: (KvInput | undefined)[];
  private readonly outputs: (KvOutput | undefined)[];
  private readonly callTimes: Float64Array;
  private readonly returnTimes: Float64Array;
  private readonly states: Uint8Array;
  private readonly sequences: Float64Array;
  private recorded = 0;
  private evictedCount = 0;

  constructor(
    readonly capacity: number = HISTORY_CAPACITY_DEFAULT,
    /** Monotonic clock in ms; only the order of readings matters to the checker. */
    private readonly now: () => number = () => performance.now(),
  ) {
    assert(Number.isInteger(capacity) && capacity > 0, 'history capacity must be a positive integer');
    this.clientIds = new Array(capacity);
    this.inputs = new Array(capacity);
    this.outputs = new Array(capacity);
    this.callTimes = new Float64Array(capacity);
    this.returnTimes = new Float64Array(capacity);
    this.states = new Uint8Array(capacity);
    this.sequences = new Float64Array(capacity).fill(-1);
  }

  /** Operations recorded so far, evicted ones included. */
  get size(): number {
    return this.recorded;
  }

  /** Operations overwritten because the ring was full. */
  get evicted(): number {
    return this.evictedCount;
  }

  invoke(clientId: string | number, input: KvInput): OperationHandle {
    const sequence = this.recorded++;
    const slot = sequence % this.capacity;
    if (this.sequences[slot] >= 0) this.evictedCount++;
    this.sequences[slot] = sequence;
    this.clientIds[slot] = clientId;
    this.inputs[slot] = input;
    this.outputs[slot] = undefined;
    this.callTimes[slot] = this.now();
    this.returnTimes[slot] = 0;
    this.states[slot] = SlotState.Pending;
    return { slot, sequence };
  }

  /** The operation returned this output. */
  ok(handle: OperationHandle, output: KvOutput): void {
    if (!this.settle(handle, SlotState.Ok)) return;
    this.outputs[handle.slot] = output;
    this.returnTimes[handle.slot] = this.now();
  }

  /** The outcome is unknown (timeout, connection lost, crash): it may take effect later, or never. */
  unknown(handle: OperationHandle): void {
    this.settle(handle, SlotState.Unknown);
  }

  /** The operation certainly did not take effect (refused before it was proposed). */
  failed(handle: OperationHandle): void {
    this.settle(handle, SlotState.Failed);
  }

  clear(): void {
    this.sequences.fill(-1);
    this.inputs.fill(undefined);
    this.outputs.fill(undefined);
    this.recorded = 0;
    this.evictedCount = 0;
  }

  /**
   * The history for the checker, in invocation order. Pending operations (no answer yet) count as
   * unknown. Throws if operations were evicted: a truncated history cannot be checked soundly.
   */
  operations(): KvOperation[] {
    assert(this.evictedCount === 0, `history lost ${this.evictedCount} operations to its ring of ${this.capacity}`);
    const result: KvOperation[] = [];
    for (let sequence = 0; sequence < this.recorded; sequence++) {
      const slot = sequence % this.capacity;
      const state = this.states[slot] as SlotState;
      if (state === SlotState.Failed) continue;
      const known = state === SlotState.Ok;
      result.push({
        clientId: this.clientIds[slot],
        input: this.inputs[slot]!,
        output: known ? this.outputs[slot] : undefined,
        call: this.callTimes[slot],
        return: known ? this.returnTimes[slot] : null,
      });
    }
    return result;
  }

  /** One JSON object per line, the format `npm run check-history -- --model cluster FILE` reads. */
  toJsonLines(): string {
    return this.operations()
      .map((op) => JSON.stringify(op))
      .join('\n');
  }

  private settle(handle: OperationHandle, state: SlotState): boolean {
    if (this.sequences[handle.slot] !== handle.sequence) return false; // evicted meanwhile
    assert(this.states[handle.slot] === SlotState.Pending, 'operation completed twice');
    this.states[handle.slot] = state;
    return true;
  }
}

/**
 * Acknowledged writes that the final state contradicts. For each key, the final value (read after the
 * faults healed) was produced by some write Wv; an acknowledged write W invoked after Wv had returned
 * must be linearized after Wv, so a final value of Wv means W was lost. Values must be unique per key.
 */
export function countLostAcknowledgedWrites(history: readonly KvOperation[], finalValues: ReadonlyMap<string, string | null>): {
  lost: number;
  examples: { key: string; value: string; finalValue: string | null }[];
} {
  const writesByKey = new Map<string, KvOperation[]>();
  for (const op of history) {
    if (op.input.op === 'get' || op.input.op === 'append') continue;
    let list = writesByKey.get(op.input.key);
    if (!list) writesByKey.set(op.input.key, (list = []));
    list.push(op);
  }
  let lost = 0;
  const examples: { key: string; value: string; finalValue: string | null }[] = [];
  for (const [key, writes] of writesByKey) {
    if (!finalValues.has(key)) continue;
    const finalValue = finalValues.get(key)!;
    // The operation that produced the final value; absent (null) means "before every write".
    const producer = finalValue === null ? undefined : writes.find((op) => writtenValue(op) === finalValue);
    // A final value no write produced is the checker's business; here it only means "no proof of loss".
    const producerReturn = finalValue === null ? Number.NEGATIVE_INFINITY : (producer?.return ?? Number.POSITIVE_INFINITY);
    for (const op of writes) {
      const acknowledged = op.return !== null && (op.input.op === 'put' || op.output?.ok === true);
      if (!acknowledged || op === producer) continue;
      if (op.call > producerReturn) {
        lost++;
        if (examples.length < 10) examples.push({ key, value: writtenValue(op)!, finalValue });
      }
    }
  }
  return { lost, examples };
}

function writtenValue(op: KvOperation): string | undefined {
  if (op.input.op === 'put') return op.input.value;
  if (op.input.op === 'cas') return op.input.to;
  return undefined;
}

export interface ImpossibleObservation {
  key: string;
  /** Index into the history. */
  operationIndex: number;
  observed: string | null;
  reason: 'never written' | 'written only after the read returned' | 'absent after an acknowledged write';
}

/**
 * Quick, definite violations that need no search: a get (or a successful cas) observing a value
 * no write produced, or produced only by writes invoked after it returned, or seeing an absent key
 * after a write to it was acknowledged (there is no delete). Values must be unique per key. This
 * explains a failure in one line and still answers when the full check runs out of time.
 */
export function findImpossibleObservations(history: readonly KvOperation[]): ImpossibleObservation[] {
  const earliestCallByValue = new Map<string, number>(); // key + '\u0000' + value → earliest invoke
  const earliestAckByKey = new Map<string, number>();
  for (const op of history) {
    const value = writtenValue(op);
    if (value === undefined) continue;
    const id = `${op.input.key}\u0000${value}`;
    earliestCallByValue.set(id, Math.min(earliestCallByValue.get(id) ?? Number.POSITIVE_INFINITY, op.call));
    const acknowledged = op.return !== null && (op.input.op === 'put' || op.output?.ok === true);
    if (acknowledged) earliestAckByKey.set(op.input.key, Math.min(earliestAckByKey.get(op.input.key) ?? Number.POSITIVE_INFINITY, op.return!));
  }
  const found: ImpossibleObservation[] = [];
  history.forEach((op, operationIndex) => {
    if (op.return === null) return;
    let observed: string | null;
    if (op.input.op === 'get') observed = op.output?.value ?? null;
    else if (op.input.op === 'cas' && op.output?.ok === true) observed = op.input.from;
    else return;
    const key = op.input.key;
    if (observed === null) {
      if ((earliestAckByKey.get(key) ?? Number.POSITIVE_INFINITY) < op.call) {
        found.push({ key, operationIndex, observed, reason: 'absent after an acknowledged write' });
      }
      return;
    }
    const firstCall = earliestCallByValue.get(`${key}\u0000${observed}`);
    if (firstCall === undefined) found.push({ key, operationIndex, observed, reason: 'never written' });
    else if (firstCall > op.return) found.push({ key, operationIndex, observed, reason: 'written only after the read returned' });
  });
  return found;
}
