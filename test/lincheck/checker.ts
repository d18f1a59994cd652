// Linearizability checker: the Wing–Gong / Lowe search with memoisation of (linearized set, state),
// as porcupine does it, plus P-compositionality (a model may split a history into independent
// partitions, e.g. by key, and each is checked alone). Written for our own histories and models.
//
// Search: events (calls and returns) sit in one doubly linked list ordered by time. Walking from the
// head, a call whose operation the model accepts from the current state is "lifted" (its call and
// return are unlinked) and pushed on a stack; reaching a return means the operation that returns
// there was not linearized in time, so the search backtracks. A (set, state) pair already explored is
// skipped: that cache is what turns an exponential search into a practical one.

import { assert } from '../../node/src/util/errors.js';

/** Sentinel a model's step returns when the operation cannot produce that output in that state. */
export const ILLEGAL: unique symbol = Symbol('illegal');

/**
 * A sequential specification. `output` is `undefined` when the outcome is unknown (the client saw a
 * timeout or crash): the model must then accept any outcome the operation could have had.
 */
export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  step(state: S, input: I, output: O | undefined): S | typeof ILLEGAL;
  /** A value equal (===) for equal states: the memo cache compares states through it. */
  stateKey(state: S): string | number;
  /** Split into independent sub-histories (P-compositionality); default: one partition. */
  partition?(operations: readonly Operation<I, O>[]): Operation<I, O>[][];
  /** True when the operation never changes the state (a read): unknown-outcome ones are dropped. */
  isReadOnly?(input: I): boolean;
  /** Optional reductions that are sound for one partition's history (see PartitionReductions). */
  reductions?(operations: readonly Operation<I, O>[]): PartitionReductions<S>;
}

/**
 * Search reductions a model may derive from a partition's history. Both must be sound: they may
 * only merge or skip branches whose outcomes are the same.
 */
export interface PartitionReductions<S> {
  /**
   * Per operation, a class label or undefined. Operations with one label must have unknown outcomes
   * and the same effect on every state that matters: the search then tries only the earliest-called
   * pending one of a class (the others are symmetric), which tames histories with many timeouts.
   */
  interchangeableClass?: (string | undefined)[];
  /** Replaces stateKey for this partition, e.g. to merge values that no operation can tell apart. */
  stateKey?: (state: S) => string | number;
  /**
   * Per operation, a time by which an unknown-outcome operation must have taken effect if it did
   * at all, e.g. before the first read that returned the unique value it wrote. Its output stays
   * unknown. Ignored for operations with a known return.
   */
  latestEffect?: (number | undefined)[];
}

export interface Operation<I, O> {
  clientId: number | string;
  input: I;
  /** Ignored when `return` is null. */
  output: O | undefined;
  /** Invocation time (any monotonic unit; only the order matters). */
  call: number;
  /** Completion time, or null when the outcome is unknown: it may take effect any time after call, or never. */
  return: number | null;
}

export type Verdict = 'linearizable' | 'not linearizable' | 'unknown';

export interface CheckOptions {
  /**
   * Search optimizations (default true): the model's partition reductions, open-ended operations
   * tried last, and the early stop once only those remain. Off gives the textbook search, to test
   * that the optimizations change no verdict.
   */
  reductions?: boolean;
  /** Wall-clock budget for the whole history; past it the verdict is 'unknown'. */
  timeBudgetMs?: number;
  /** Bound on memo cache entries per partition; past it the verdict is 'unknown'. */
  cacheEntriesMax?: number;
  /** Bound on the memo cache's estimated memory per partition; past it the verdict is 'unknown'. */
  cacheBytesMax?: number;
}

export interface CheckResult {
  verdict: Verdict;
  partitionCount: number;
  elapsedMs: number;
  /** Search steps over all partitions (a cost measure for tuning). */
  stepCount: number;
  /** Set when the verdict is 'not linearizable': the partition that failed, as indexes into the input. */
  failure?: {
    partitionIndex: number;
    operationIndexes: number[];
    /** Longest linearizable prefix the search found (indexes into the input, in linearization order). */
    longestPrefix: number[];
  };
  /** Set when the verdict is 'unknown'. */
  unknownReason?: 'time budget exceeded' | 'cache limit exceeded';
}

export const TIME_BUDGET_MS_DEFAULT = 10_000;
export const CACHE_ENTRIES_MAX_DEFAULT = 5_000_000;
export const CACHE_BYTES_MAX_DEFAULT = 512 * 1024 * 1024;
/** Estimated V8 overhead of one cache entry besides its bitset words (object, array slot, typed array header). */
const CACHE_ENTRY_OVERHEAD_BYTES = 120;
/** Search steps between two clock reads: reading the clock every step would dominate the cost. */
const STEPS_PER_DEADLINE_CHECK = 4096;

type SingleOutcome =
  | { kind: 'ok'; steps: number }
  | { kind: 'illegal'; steps: number; longestPrefix: number[] }
  | { kind: 'unknown'; steps: number; reason: 'time budget exceeded' | 'cache limit exceeded' };

interface CacheEntry {
  bits: Uint32Array;
  key: string | number;
}

/** Check that a history of concurrent operations is linearizable with respect to `model`. */
export function checkHistory<S, I, O>(
  model: Model<S, I, O>,
  operations: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  const started = performance.now();
  const deadline = started + (options.timeBudgetMs ?? TIME_BUDGET_MS_DEFAULT);
  const cacheBytesMax = options.cacheBytesMax ?? CACHE_BYTES_MAX_DEFAULT;

  // Remember each operation's input position so failures can name it, through the partition split.
  const position = new Map<Operation<I, O>, number>();
  operations.forEach((op, i) => {
    assert(op.return === null || op.return >= op.call, `operation ${i} returns before it is called`);
    position.set(op, i);
  });
  const relevant = operations.filter((op) => !(op.return === null && model.isReadOnly?.(op.input)));
  const partitions = model.partition ? model.partition(relevant) : [relevant.slice()];
  // Small partitions first: a violation is usually found sooner and cheaper there.
  const order = partitions.map((_, i) => i).sort((a, b) => partitions[a].length - partitions[b].length);

  let stepCount = 0;
  let unknownReason: CheckResult['unknownReason'];
  for (const p of order) {
    const part = partitions[p];
    // Each entry keeps a copy of the linearized-set bitset: bound entries by memory as well as count.
    const entryBytes = 4 * Math.ceil(part.length / 32) + CACHE_ENTRY_OVERHEAD_BYTES;
    const cacheEntriesMax = Math.min(options.cacheEntriesMax ?? CACHE_ENTRIES_MAX_DEFAULT, Math.floor(cacheBytesMax / entryBytes));
    const outcome = checkPartition(model, part, deadline, cacheEntriesMax, options.reductions ?? true);
    stepCount += outcome.steps;
    if (outcome.kind === 'illegal') {
      return {
        verdict: 'not linearizable',
        partitionCount: partitions.length,
        elapsedMs: performance.now() - started,
        stepCount,
        failure: {
          partitionIndex: p,
          operationIndexes: part.map((op) => position.get(op)!),
          longestPrefix: outcome.longestPrefix.map((i) => position.get(part[i])!),
        },
      };
    }
    if (outcome.kind === 'unknown') {
      // Keep going: another partition may still prove a violation, which is a definite answer.
      unknownReason = outcome.reason;
      if (performance.now() > deadline) break;
    }
  }
  return {
    verdict: unknownReason ? 'unknown' : 'linearizable',
    partitionCount: partitions.length,
    elapsedMs: performance.now() - started,
    stepCount,
    ...(unknownReason ? { unknownReason } : {}),
  };
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  deadline: number,
  cacheEntriesMax: number,
  useReductions: boolean,
): SingleOutcome {
  const n = ops.length;
  if (n === 0) return { kind: 'ok', steps: 0 };
  const reductions = useReductions ? model.reductions?.(ops) : undefined;
  const stateKey = reductions?.stateKey ?? ((state: S) => model.stateKey(state));
  const returnTime = (i: number): number => ops[i].return ?? reductions?.latestEffect?.[i] ?? Number.POSITIVE_INFINITY;

  // Events sorted by time; at equal times calls come first, so touching operations count as concurrent.
  const events: { time: number; isCall: boolean; op: number }[] = [];
  for (let i = 0; i < n; i++) {
    events.push({ time: ops[i].call, isCall: true, op: i });
    events.push({ time: Math.max(returnTime(i), ops[i].call), isCall: false, op: i });
  }
  events.sort((a, b) => (a.time !== b.time ? a.time - b.time : a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));

  // Linked list over slots 1..2n; slot 0 is the head sentinel; -1 ends the list.
  const size = 2 * n + 1;
  const next = new Int32Array(size);
  const prev = new Int32Array(size);
  const opOf = new Int32Array(size);
  const returnSlot = new Int32Array(size).fill(-1); // for a call slot: the slot of its return
  const returnSlotOfOp = new Int32Array(n);
  for (let s = 1; s < size; s++) {
    const ev = events[s - 1];
    opOf[s] = ev.op;
    if (!ev.isCall) returnSlotOfOp[ev.op] = s;
  }
  for (let s = 1; s < size; s++) if (events[s - 1].isCall) returnSlot[s] = returnSlotOfOp[opOf[s]];
  for (let s = 0; s < size; s++) {
    next[s] = s + 1 < size ? s + 1 : -1;
    prev[s] = s - 1;
  }

  const lift = (s: number): void => {
    next[prev[s]] = next[s];
    prev[next[s]] = prev[s]; // a call always has its return after it
    const r = returnSlot[s];
    next[prev[r]] = next[r];
    if (next[r] !== -1) prev[next[r]] = prev[r];
  };
  const unlift = (s: number): void => {
    const r = returnSlot[s];
    next[prev[r]] = r;
    if (next[r] !== -1) prev[next[r]] = r;
    next[prev[s]] = s;
    prev[next[s]] = s;
  };

  // Zobrist hashing keeps the hash of the linearized set current in O(1) per change.
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const zobrist = new Uint32Array(n);
  let seed = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    zobrist[i] = seed >>> 0;
  }
  let setHash = 0;
  const cache = new Map<number, CacheEntry[]>();
  let cacheSize = 0;

  // Interchangeable classes: per class, its members' call slots in list order and which are lifted.
  const classOfOp = new Int32Array(n).fill(-1);
  const classSlots: number[][] = [];
  if (reductions?.interchangeableClass) {
    const classIndex = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const label = reductions.interchangeableClass[i];
      if (label === undefined) continue;
      assert(returnTime(i) === Number.POSITIVE_INFINITY, 'only operations that may take effect any time can be interchangeable');
      let c = classIndex.get(label);
      if (c === undefined) {
        c = classSlots.length;
        classIndex.set(label, c);
        classSlots.push([]);
      }
      classOfOp[i] = c;
    }
    for (let s = 1; s < size; s++) if (returnSlot[s] !== -1 && classOfOp[opOf[s]] >= 0) classSlots[classOfOp[opOf[s]]].push(s);
  }
  const lifted = new Uint8Array(size);
  /** Whether another pending member of the slot's class sits earlier in the list (it would do the same). */
  const hasEarlierTwin = (s: number): boolean => {
    const c = classOfOp[opOf[s]];
    if (c < 0) return false;
    for (const member of classSlots[c]) {
      if (member >= s) return false;
      if (!lifted[member]) return true;
    }
    return false;
  };

  const inputs = ops.map((op) => op.input);
  const outputs = ops.map((op) => (op.return === null ? undefined : op.output));

  // Open-ended operations (unknown outcome, no effect deadline) are tried only after every candidate
  // with a known outcome (phase 0, then phase 1 at each search node): they are rarely needed early.
  // Once only open-ended operations remain, the history is linearizable: each may never have happened.
  const openEnded = new Uint8Array(n);
  let remainingBounded = 0;
  for (let i = 0; i < n; i++) {
    openEnded[i] = returnTime(i) === Number.POSITIVE_INFINITY ? 1 : 0;
    if (!openEnded[i]) remainingBounded++;
  }
  const phased = useReductions;
  let phase = 0;

  const stackSlot: number[] = [];
  const stackState: S[] = [];
  const stackPhase: number[] = [];
  let longestPrefix: number[] = [];

  let state = model.init();
  let slot = next[0];
  let steps = 0;
  while (next[0] !== -1) {
    if (phased && remainingBounded === 0) break;
    steps++;
    if (steps % STEPS_PER_DEADLINE_CHECK === 0 && performance.now() > deadline) {
      return { kind: 'unknown', steps, reason: 'time budget exceeded' };
    }
    const r = returnSlot[slot];
    if (r !== -1) {
      // A call: try to linearize its operation now.
      const op = opOf[slot];
      if ((phased && openEnded[op] !== phase) || hasEarlierTwin(slot)) {
        slot = next[slot];
        continue;
      }
      const after = model.step(state, inputs[op], outputs[op]);
      if (after === ILLEGAL) {
        slot = next[slot];
        continue;
      }
      const word = op >>> 5;
      const mask = 1 << (op & 31);
      bits[word] |= mask;
      setHash ^= zobrist[op];
      const key = stateKey(after);
      const h = (Math.imul(setHash, 31) ^ hashKey(key)) >>> 0;
      let bucket = cache.get(h);
      let seen = false;
      if (bucket) {
        for (const entry of bucket) {
          if (entry.key === key && sameBits(entry.bits, bits)) {
            seen = true;
            break;
          }
        }
      }
      if (seen) {
        bits[word] &= ~mask;
        setHash ^= zobrist[op];
        slot = next[slot];
        continue;
      }
      if (++cacheSize > cacheEntriesMax) return { kind: 'unknown', steps, reason: 'cache limit exceeded' };
      if (!bucket) {
        bucket = [];
        cache.set(h, bucket);
      }
      bucket.push({ bits: bits.slice(), key });
      stackSlot.push(slot);
      stackState.push(state);
      stackPhase.push(phase);
      state = after;
      lift(slot);
      lifted[slot] = 1;
      if (!openEnded[op]) remainingBounded--;
      if (stackSlot.length > longestPrefix.length) longestPrefix = stackSlot.map((s) => opOf[s]);
      slot = next[0];
      phase = 0;
    } else if (phased && phase === 0) {
      // Known-outcome candidates exhausted here: now the open-ended ones, from the head again.
      phase = 1;
      slot = next[0];
    } else {
      // A return whose operation is not linearized yet: undo the last choice and try the next call.
      if (stackSlot.length === 0) return { kind: 'illegal', steps, longestPrefix };
      const top = stackSlot.pop()!;
      state = stackState.pop()!;
      phase = stackPhase.pop()!;
      const op = opOf[top];
      if (!openEnded[op]) remainingBounded++;
      bits[op >>> 5] &= ~(1 << (op & 31));
      setHash ^= zobrist[op];
      unlift(top);
      lifted[top] = 0;
      slot = next[top];
    }
  }
  return { kind: 'ok', steps };
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hashKey(key: string | number): number {
  if (typeof key === 'number') {
    if (Number.isInteger(key) && Math.abs(key) < 2 ** 31) return Math.imul(key | 0, 0x85ebca6b);
    key = String(key);
  }
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h;
}

/**
 * A readable account of a failure: the tail of the longest linearizable prefix, then the earliest
 * operations of the failing partition that could not be linearized after it.
 */
export function describeFailure<I, O>(operations: readonly Operation<I, O>[], result: CheckResult, rowsMax = 10): string {
  if (!result.failure) return `verdict: ${result.verdict}`;
  const { longestPrefix, operationIndexes } = result.failure;
  const row = (i: number): string => {
    const op = operations[i];
    const returned = op.return === null ? 'unknown' : `${JSON.stringify(op.output)} @${op.return}`;
    return `  #${i} client ${op.clientId}: ${JSON.stringify(op.input)} called @${op.call} → ${returned}`;
  };
  const inPrefix = new Set(longestPrefix);
  const stuck = operationIndexes
    .filter((i) => !inPrefix.has(i))
    .sort((a, b) => operations[a].call - operations[b].call)
    .slice(0, rowsMax);
  return [
    `longest linearizable prefix: ${longestPrefix.length} of ${operationIndexes.length} operations; it ends with:`,
    ...longestPrefix.slice(-Math.min(5, rowsMax)).map(row),
    `earliest operations that could not follow it:`,
    ...stuck.map(row),
  ].join('\n');
}
