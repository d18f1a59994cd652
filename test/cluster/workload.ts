// Client harness for the real-process cluster test: concurrent clients issue get/put/cas on a set
// of keys with unique values, every operation recorded with invoke and return times; a timeout or
// lost connection is an unknown outcome, never a failure. After the faults heal, a final read of
// every key feeds the lost-acknowledged-write count, and the history goes to the checker.

import { checkHistory } from '../lincheck/checker.js';
import type { CheckOptions, CheckResult } from '../lincheck/checker.js';
import { createKvModel } from '../lincheck/models.js';
import type { KvInput, KvOutput } from '../lincheck/models.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { countLostAcknowledgedWrites, findImpossibleObservations } from './history.js';
import type { HistoryRecorder, ImpossibleObservation, KvOperation } from './history.js';

/** What the harness needs from a cluster client. `signal` aborts when the operation's time is up. */
export interface KvClient {
  put(key: string, value: string, signal: AbortSignal): Promise<void>;
  /** null when the key has never been written. */
  get(key: string, signal: AbortSignal): Promise<string | null>;
  /** Sets `to` if the current value is `from` (null: absent); whether it did. */
  cas(key: string, from: string | null, to: string, signal: AbortSignal): Promise<boolean>;
}

/**
 * Thrown by a KvClient when the operation certainly did not take effect (for example refused with
 * NOT_LEADER before anything was proposed). Any other error is an unknown outcome.
 */
export class DefiniteFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DefiniteFailure';
  }
}

/** The model for cluster histories: independent registers per key, absent keys read as null. */
export const clusterKvModel = createKvModel({ absentValue: null });

export interface WorkloadOptions {
  clientCount: number;
  keys: readonly string[];
  seed: number;
  opTimeoutMs: number;
  /** Relative weights of the operation kinds. */
  mix?: { get: number; put: number; cas: number };
  /** Each client pauses a random 0..thinkTimeMsMax between operations. */
  thinkTimeMsMax?: number;
  /** Stop each client after this many operations even if `stop` has not fired. */
  opsPerClientMax?: number;
}

export interface WorkloadStats {
  invoked: number;
  ok: number;
  failed: number;
  unknown: number;
}

const MIX_DEFAULT = { get: 4, put: 4, cas: 2 };

/** xorshift32 in [0, 1): seeded so a failing round replays with the same choices. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Outcome<T> = { kind: 'ok'; value: T } | { kind: 'failed' } | { kind: 'unknown' };

/** Run `call` with a deadline; a client that ignores the signal still cannot hold the harness. */
async function withDeadline<T>(timeoutMs: number, call: (signal: AbortSignal) => Promise<T>): Promise<Outcome<T>> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error(`operation timed out after ${timeoutMs} ms`));
      resolve({ kind: 'unknown' });
    }, timeoutMs);
  });
  const attempt = call(controller.signal).then(
    (value): Outcome<T> => ({ kind: 'ok', value }),
    (error: unknown): Outcome<T> => (error instanceof DefiniteFailure ? { kind: 'failed' } : { kind: 'unknown' }),
  );
  try {
    return await Promise.race([attempt, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Run clients until `stop` aborts (or each reached opsPerClientMax). Values are unique:
 * `c<client>-<sequence>`. A client whose operation ended unknown continues under a new client id,
 * as Jepsen does, since the old operation may still be in flight.
 */
export async function runWorkload(
  clientFor: (clientIndex: number) => KvClient,
  recorder: HistoryRecorder,
  options: WorkloadOptions,
  stop: AbortSignal,
): Promise<WorkloadStats> {
  const stats: WorkloadStats = { invoked: 0, ok: 0, failed: 0, unknown: 0 };
  const mix = options.mix ?? MIX_DEFAULT;
  const mixTotal = mix.get + mix.put + mix.cas;
  const runClient = async (clientIndex: number): Promise<void> => {
    const client = clientFor(clientIndex);
    const random = seededRandom(options.seed * 7919 + clientIndex + 1);
    const lastSeen = new Map<string, string | null>();
    let generation = 0;
    let sequence = 0;
    while (!stop.aborted && (options.opsPerClientMax === undefined || sequence < options.opsPerClientMax)) {
      const key = options.keys[Math.floor(random() * options.keys.length)];
      const pick = random() * mixTotal;
      const value = `c${clientIndex}-${sequence++}`;
      const clientId = `${clientIndex}.${generation}`;
      let input: KvInput;
      if (pick < mix.get) input = { op: 'get', key };
      else if (pick < mix.get + mix.put) input = { op: 'put', key, value };
      // cas from the last value this client saw: sometimes current (swaps), sometimes stale (fails).
      else input = { op: 'cas', key, from: lastSeen.get(key) ?? null, to: value };

      const handle = recorder.invoke(clientId, input);
      stats.invoked++;
      let outcome: Outcome<KvOutput>;
      if (input.op === 'get') {
        const r = await withDeadline(options.opTimeoutMs, (signal) => client.get(key, signal));
        outcome = r.kind === 'ok' ? { kind: 'ok', value: { value: r.value } } : r;
        if (r.kind === 'ok') lastSeen.set(key, r.value);
      } else if (input.op === 'put') {
        const put = input;
        const r = await withDeadline(options.opTimeoutMs, (signal) => client.put(key, put.value, signal));
        outcome = r.kind === 'ok' ? { kind: 'ok', value: {} } : r;
        if (r.kind === 'ok') lastSeen.set(key, put.value);
      } else {
        const cas = input as Extract<KvInput, { op: 'cas' }>;
        const r = await withDeadline(options.opTimeoutMs, (signal) => client.cas(key, cas.from, cas.to, signal));
        outcome = r.kind === 'ok' ? { kind: 'ok', value: { ok: r.value } } : r;
        if (r.kind === 'ok' && r.value) lastSeen.set(key, cas.to);
      }
      if (outcome.kind === 'ok') {
        recorder.ok(handle, outcome.value);
        stats.ok++;
      } else if (outcome.kind === 'failed') {
        recorder.failed(handle);
        stats.failed++;
      } else {
        recorder.unknown(handle);
        stats.unknown++;
        generation++;
      }
      if (options.thinkTimeMsMax) await sleep(random() * options.thinkTimeMsMax);
    }
  };
  await Promise.all(Array.from({ length: options.clientCount }, (_, i) => runClient(i)));
  return stats;
}

/**
 * Read every key once the cluster is healthy, retrying each until it answers (bounded), and record
 * the reads in the history too. Keys that never answered are left out of the map.
 */
export async function readFinalValues(
  client: KvClient,
  recorder: HistoryRecorder,
  keys: readonly string[],
  options: { opTimeoutMs: number; attemptsMax: number; retryDelayMs: number },
): Promise<Map<string, string | null>> {
  const finalValues = new Map<string, string | null>();
  for (const key of keys) {
    for (let attempt = 0; attempt < options.attemptsMax; attempt++) {
      const handle = recorder.invoke('final', { op: 'get', key });
      const r = await withDeadline(options.opTimeoutMs, (signal) => client.get(key, signal));
      if (r.kind === 'ok') {
        recorder.ok(handle, { value: r.value });
        finalValues.set(key, r.value);
        break;
      }
      if (r.kind === 'failed') recorder.failed(handle);
      else recorder.unknown(handle);
      await sleep(options.retryDelayMs);
    }
  }
  return finalValues;
}

export interface RoundVerdict {
  check: CheckResult;
  /** Violations found without search (see findImpossibleObservations); empty when all is well. */
  impossibleObservations: ImpossibleObservation[];
  lostAcknowledgedWrites: number;
  lostExamples: { key: string; value: string; finalValue: string | null }[];
  operationCount: number;
  unknownCount: number;
}

/** Check a recorded round: linearizability of the whole history and the lost-acknowledged-write count. */
export function analyzeRound(
  history: readonly KvOperation[],
  finalValues: ReadonlyMap<string, string | null>,
  checkOptions: CheckOptions = {},
): RoundVerdict {
  const check = checkHistory(clusterKvModel, history, checkOptions);
  const { lost, examples } = countLostAcknowledgedWrites(history, finalValues);
  return {
    check,
    impossibleObservations: findImpossibleObservations(history),
    lostAcknowledgedWrites: lost,
    lostExamples: examples,
    operationCount: history.length,
    unknownCount: history.filter((op) => op.return === null).length,
  };
}

/** True when the round proves nothing wrong: linearizable, no impossible observation, nothing lost. */
export function roundPassed(verdict: RoundVerdict): boolean {
  return verdict.check.verdict === 'linearizable' && verdict.impossibleObservations.length === 0 && verdict.lostAcknowledgedWrites === 0;
}

/**
 * Save a round's history as JSON lines and return the one command that re-checks it, for the
 * failure message of a cluster test.
 */
export function saveHistoryForReplay(history: readonly KvOperation[], directory: string, name: string): string {
  mkdirSync(directory, { recursive: true });
  const file = path.join(directory, `${name}.jsonl`);
  writeFileSync(file, history.map((op) => JSON.stringify(op)).join('\n') + '\n');
  return `npm run check-history -- --model cluster ${file} --verbose`;
}
