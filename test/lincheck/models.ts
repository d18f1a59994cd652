// Sequential specifications for the linearizability checker: a single register with read, write and
// compare-and-set (Jepsen's etcd test), and a key-value store of string registers with get, put,
// append and cas, checked key by key (P-compositionality).

import { ILLEGAL } from './checker.js';
import type { Model, Operation, PartitionReductions } from './checker.js';

const UNOBSERVED = '\u0001unobserved';

type RegisterLikeInput<V> = { op: string; value?: V; from?: V; to?: V };

/**
 * Reductions for registers with get/put/cas (no append):
 * - a value that no read returns and no cas compares against cannot influence any later outcome, so
 *   all such states are one state for the memo cache, and unknown-outcome writes of such values with
 *   the same effect (every put; every cas with the same `from`) are interchangeable;
 * - an unknown-outcome write of a value written by no other operation, which some completed read (or
 *   successful cas) observed, took effect before the earliest such observer returned.
 * Each holds for every linearization, so the verdict does not change; the search just gets smaller.
 */
function registerReductions<V>(
  operations: readonly Operation<RegisterLikeInput<V>, { value?: V }>[],
  initialValue: V,
  readOp: string,
  writeOp: string,
  baseKey: (state: V) => string | number,
): PartitionReductions<V> {
  const observed = new Set<V>();
  const firstObservedReturn = new Map<V, number>();
  const writerCount = new Map<V, number>();
  const observe = (value: V, returnTime: number): void => {
    firstObservedReturn.set(value, Math.min(firstObservedReturn.get(value) ?? Number.POSITIVE_INFINITY, returnTime));
  };
  for (const op of operations) {
    if (op.input.op === readOp && op.return !== null && op.output) {
      observed.add(op.output.value as V);
      observe(op.output.value as V, op.return);
    }
    if (op.input.op === 'cas') {
      observed.add(op.input.from as V);
      if (op.return !== null && (op.output as { ok?: boolean } | undefined)?.ok === true) observe(op.input.from as V, op.return);
    }
    const written = op.input.op === writeOp ? op.input.value : op.input.op === 'cas' ? op.input.to : undefined;
    if (written !== undefined) writerCount.set(written as V, (writerCount.get(written as V) ?? 0) + 1);
  }
  const writtenValue = (input: RegisterLikeInput<V>): V | undefined =>
    input.op === writeOp ? input.value : input.op === 'cas' ? input.to : undefined;
  return {
    latestEffect: operations.map((op) => {
      if (op.return !== null) return undefined;
      const value = writtenValue(op.input);
      // A read of the initial value may have seen the initial state rather than this write.
      if (value === undefined || value === initialValue || writerCount.get(value) !== 1) return undefined;
      return firstObservedReturn.get(value);
    }),
    stateKey: (state) => (observed.has(state) ? baseKey(state) : UNOBSERVED),
    interchangeableClass: operations.map((op) => {
      if (op.return !== null) return undefined; // observed values are never in a class: no latestEffect clash
      if (op.input.op === writeOp && !observed.has(op.input.value as V)) return 'write';
      if (op.input.op === 'cas' && !observed.has(op.input.to as V)) return `cas ${JSON.stringify(op.input.from)}`;
      return undefined;
    }),
  };
}

// ---- register -------------------------------------------------------------------------------

/** A register value; null means "never written". */
export type RegisterValue = number | string | null;

export type RegisterInput =
  | { op: 'read' }
  | { op: 'write'; value: RegisterValue }
  | { op: 'cas'; from: RegisterValue; to: RegisterValue };

/** read → value; write → {}; cas → whether it swapped. */
export type RegisterOutput = { value?: RegisterValue; ok?: boolean };

export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => null,
  step(state, input, output) {
    switch (input.op) {
      case 'read':
        return output === undefined || output.value === state ? state : ILLEGAL;
      case 'write':
        return input.value;
      case 'cas': {
        const swaps = state === input.from;
        if (output !== undefined && output.ok !== swaps) return ILLEGAL;
        return swaps ? input.to : state;
      }
    }
  },
  stateKey: registerKey,
  isReadOnly: (input) => input.op === 'read',
  reductions: (operations) => registerReductions(operations, null, 'read', 'write', registerKey),
};

function registerKey(state: RegisterValue): string | number {
  return state === null ? '\u0000nil' : typeof state === 'number' ? state : `s${state}`;
}

// ---- key-value store ------------------------------------------------------------------------

export type KvInput =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: string }
  | { op: 'append'; key: string; value: string }
  | { op: 'cas'; key: string; from: string | null; to: string };

/** get → value (null: absent); put/append → {}; cas → whether it swapped. */
export type KvOutput = { value?: string | null; ok?: boolean };

export interface KvModelOptions {
  /** What a get of a never-written key returns: '' in the Jepsen kv histories, null for our cluster. */
  absentValue: string | null;
}

/** Each key is an independent register, so the history is split by key and each key checked alone. */
export function createKvModel(options: KvModelOptions): Model<string | null, KvInput, KvOutput> {
  return {
    name: 'kv',
    init: () => options.absentValue,
    step(state, input, output) {
      switch (input.op) {
        case 'get':
          return output === undefined || output.value === state ? state : ILLEGAL;
        case 'put':
          return input.value;
        case 'append':
          return (state ?? '') + input.value;
        case 'cas': {
          const swaps = state === input.from;
          if (output !== undefined && output.ok !== swaps) return ILLEGAL;
          return swaps ? input.to : state;
        }
      }
    },
    stateKey: kvKey,
    isReadOnly: (input) => input.op === 'get',
    // Append makes every value observable through what it is concatenated with: no reductions then.
    reductions: (operations) =>
      operations.some((op) => op.input.op === 'append') ? {} : registerReductions(operations, options.absentValue, 'get', 'put', kvKey),
    partition(operations: readonly Operation<KvInput, KvOutput>[]) {
      const byKey = new Map<string, Operation<KvInput, KvOutput>[]>();
      for (const op of operations) {
        let list = byKey.get(op.input.key);
        if (!list) byKey.set(op.input.key, (list = []));
        list.push(op);
      }
      return [...byKey.values()];
    },
  };
}

function kvKey(state: string | null): string | number {
  return state === null ? 0 : `s${state}`;
}

/** The Jepsen kv histories' semantics: an absent key reads as the empty string. */
export const kvModel = createKvModel({ absentValue: '' });
