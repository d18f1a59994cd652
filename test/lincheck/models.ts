// Sequential specifications for the linearizability checker: a single register with read, write and
// compare-and-set (Jepsen's etcd test), and a key-value store of string registers with get, put,
// append and cas, checked key by key (P-compositionality).

import { ILLEGAL } from './checker.js';
import type { Model, Operation } from './checker.js';

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
  stateKey: (state) => (state === null ? '\u0000nil' : typeof state === 'number' ? state : `s${state}`),
  isReadOnly: (input) => input.op === 'read',
};

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
    stateKey: (state) => (state === null ? 0 : `s${state}`),
    isReadOnly: (input) => input.op === 'get',
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

/** The Jepsen kv histories' semantics: an absent key reads as the empty string. */
export const kvModel = createKvModel({ absentValue: '' });
