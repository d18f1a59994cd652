// Checks the cluster-test harness end to end without a cluster: the workload runs against in-memory
// stores with random latency, an atomic one (linearizable by construction, also when operations time
// out), one serving stale reads and one that acknowledges writes it then loses; the recorded history
// must pass, fail, and fail with a non-zero lost-write count respectively. Also the recorder's ring
// bound, the JSON-lines round trip through the CLI parser, and the lost-write count on its own.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonLines } from '../lincheck/parse.js';
import { HistoryRecorder, countLostAcknowledgedWrites, findImpossibleObservations } from './history.js';
import type { KvOperation } from './history.js';
import {
  DefiniteFailure,
  analyzeRound,
  readFinalValues,
  roundPassed,
  runWorkload,
  saveHistoryForReplay,
  seededRandom,
} from './workload.js';
import type { KvClient } from './workload.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type Behaviour = 'atomic' | 'stale-reads' | 'loses-writes';

/**
 * A store whose operations take effect at one instant between a random request delay and a random
 * response delay. Some responses are slower than the harness timeout: those become unknown outcomes
 * that did take effect. 'stale-reads' answers gets from the value before the latest write;
 * 'loses-writes' acknowledges every put after the 60th without applying it (a lost unsynced tail).
 */
class FakeStore {
  private readonly values = new Map<string, string>();
  private readonly previous = new Map<string, string | null>();
  private putCount = 0;
  private readonly random: () => number;

  constructor(
    private readonly behaviour: Behaviour,
    seed: number,
    private readonly slowResponseProbability = 0,
  ) {
    this.random = seededRandom(seed);
  }

  client(): KvClient {
    const hop = async (): Promise<void> => sleep(this.random() < this.slowResponseProbability ? 80 : this.random() * 3);
    const write = (key: string, value: string): void => {
      this.previous.set(key, this.values.get(key) ?? null);
      this.values.set(key, value);
    };
    return {
      put: async (key, value) => {
        await hop();
        if (this.behaviour === 'loses-writes' && ++this.putCount > 60) {
          await hop();
          return; // acknowledged, never applied
        }
        write(key, value);
        await hop();
      },
      get: async (key) => {
        await hop();
        const value =
          this.behaviour === 'stale-reads' && this.previous.has(key) ? this.previous.get(key)! : (this.values.get(key) ?? null);
        await hop();
        return value;
      },
      cas: async (key, from, to) => {
        await hop();
        if (key === 'refused') throw new DefiniteFailure('not leader');
        const swapped = (this.values.get(key) ?? null) === from;
        if (swapped) write(key, to);
        await hop();
        return swapped;
      },
    };
  }
}

async function runRound(store: FakeStore, seed: number): Promise<ReturnType<typeof analyzeRound> & { stats: Awaited<ReturnType<typeof runWorkload>> }> {
  const recorder = new HistoryRecorder(10_000);
  const keys = ['k1', 'k2', 'k3'];
  const stats = await runWorkload(() => store.client(), recorder, { clientCount: 4, keys, seed, opTimeoutMs: 40, opsPerClientMax: 60 }, new AbortController().signal);
  await sleep(100); // let slow responses land before the final reads
  const finalValues = await readFinalValues(store.client(), recorder, keys, { opTimeoutMs: 200, attemptsMax: 3, retryDelayMs: 5 });
  return { ...analyzeRound(recorder.operations(), finalValues), stats };
}

describe('workload against in-memory stores', () => {
  it('an atomic store is linearizable and loses nothing, with timed-out operations as unknown', async () => {
    for (const seed of [1, 2, 3]) {
      const round = await runRound(new FakeStore('atomic', seed, 0.05), seed);
      expect(round.check.verdict, `seed ${seed}`).toBe('linearizable');
      expect(round.lostAcknowledgedWrites).toBe(0);
      expect(round.impossibleObservations).toEqual([]);
      expect(roundPassed(round)).toBe(true);
      expect(round.stats.unknown).toBeGreaterThan(0);
      expect(round.unknownCount).toBeGreaterThan(0);
      expect(round.stats.invoked).toBe(240);
    }
  });

  it('a store serving stale reads is caught', async () => {
    const round = await runRound(new FakeStore('stale-reads', 7), 7);
    expect(round.check.verdict).toBe('not linearizable');
    expect(round.check.failure?.operationIndexes.length).toBeGreaterThan(0);
  });

  it('a store that acknowledges and loses writes is caught and the loss counted', async () => {
    const round = await runRound(new FakeStore('loses-writes', 9), 9);
    expect(round.check.verdict).toBe('not linearizable');
    expect(round.lostAcknowledgedWrites).toBeGreaterThan(0);
    expect(roundPassed(round)).toBe(false);
  });

  it('definite failures leave the history', async () => {
    const recorder = new HistoryRecorder(100);
    const stats = await runWorkload(
      () => new FakeStore('atomic', 1).client(),
      recorder,
      { clientCount: 1, keys: ['refused'], seed: 5, opTimeoutMs: 50, opsPerClientMax: 30, mix: { get: 0, put: 0, cas: 1 } },
      new AbortController().signal,
    );
    expect(stats.failed).toBe(30);
    expect(recorder.operations()).toHaveLength(0);
  });
});

describe('HistoryRecorder', () => {
  it('records calls, returns and unknown outcomes in invocation order', () => {
    let clock = 0;
    const recorder = new HistoryRecorder(10, () => clock++);
    const put = recorder.invoke('a', { op: 'put', key: 'k', value: 'v1' });
    const get = recorder.invoke('b', { op: 'get', key: 'k' });
    recorder.ok(put, {});
    recorder.unknown(get);
    recorder.invoke('c', { op: 'get', key: 'k' }); // never answered
    expect(recorder.operations()).toEqual([
      { clientId: 'a', input: { op: 'put', key: 'k', value: 'v1' }, output: {}, call: 0, return: 2 },
      { clientId: 'b', input: { op: 'get', key: 'k' }, output: undefined, call: 1, return: null },
      { clientId: 'c', input: { op: 'get', key: 'k' }, output: undefined, call: 3, return: null },
    ]);
  });

  it('refuses to export a history that overflowed its ring, and works again after clear()', () => {
    const recorder = new HistoryRecorder(4);
    const handles = Array.from({ length: 6 }, (_, i) => recorder.invoke(i, { op: 'get', key: 'k' }));
    expect(recorder.evicted).toBe(2);
    recorder.ok(handles[0], { value: null }); // evicted: ignored, not an error
    expect(() => recorder.operations()).toThrow(/lost 2 operations/);
    recorder.clear();
    recorder.ok(recorder.invoke(0, { op: 'get', key: 'k' }), { value: null });
    expect(recorder.operations()).toHaveLength(1);
  });

  it('round-trips through JSON lines and the CLI', () => {
    const recorder = new HistoryRecorder(10);
    recorder.ok(recorder.invoke('a', { op: 'put', key: 'k', value: 'v1' }), {});
    recorder.ok(recorder.invoke('b', { op: 'cas', key: 'k', from: 'v1', to: 'v2' }), { ok: true });
    recorder.unknown(recorder.invoke('c', { op: 'put', key: 'k', value: 'v3' }));
    recorder.ok(recorder.invoke('d', { op: 'get', key: 'k' }), { value: 'v1' }); // stale: v2 was acked before
    const text = recorder.toJsonLines();
    expect(parseJsonLines(text)).toEqual(recorder.operations().map((op) => (op.output === undefined ? { ...op, output: undefined } : op)));

    const dir = mkdtempSync(path.join(tmpdir(), 'lincheck-'));
    try {
      const file = path.join(dir, 'history.jsonl');
      writeFileSync(file, text);
      let exitCode = 0;
      let stdout = '';
      try {
        stdout = execFileSync(process.execPath, ['--import', 'tsx', 'test/lincheck/cli.ts', '--model', 'cluster', file], { encoding: 'utf8' });
      } catch (e) {
        const failure = e as { status: number; stdout: string };
        exitCode = failure.status;
        stdout = failure.stdout;
      }
      expect(stdout.trim()).toBe('not linearizable');
      expect(exitCode).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('findImpossibleObservations', () => {
  const op = (input: KvOperation['input'], call: number, ret: number | null, output: KvOperation['output'] = {}): KvOperation => ({
    clientId: 0,
    input,
    output,
    call,
    return: ret,
  });

  it('flags reads of values never written, written too late, and absent after an acknowledged write', () => {
    const history = [
      op({ op: 'put', key: 'k', value: 'a' }, 0, 1),
      op({ op: 'get', key: 'k' }, 2, 3, { value: 'a' }), // fine
      op({ op: 'get', key: 'k' }, 2, 3, { value: 'zzz' }), // never written
      op({ op: 'get', key: 'k' }, 4, 5, { value: 'b' }), // b is invoked at 6
      op({ op: 'put', key: 'k', value: 'b' }, 6, 7),
      op({ op: 'get', key: 'k' }, 8, 9, { value: null }), // absent after acked put a
      op({ op: 'get', key: 'other' }, 8, 9, { value: null }), // fine: never written
      op({ op: 'cas', key: 'k', from: 'q', to: 'r' }, 10, 11, { ok: true }), // swapped from a value never written
    ];
    expect(findImpossibleObservations(history).map((o) => [o.operationIndex, o.reason])).toEqual([
      [2, 'never written'],
      [3, 'written only after the read returned'],
      [5, 'absent after an acknowledged write'],
      [7, 'never written'],
    ]);
  });

  it('accepts a read of a value whose write is still running or unknown', () => {
    const history = [op({ op: 'put', key: 'k', value: 'a' }, 0, null), op({ op: 'get', key: 'k' }, 1, 2, { value: 'a' })];
    expect(findImpossibleObservations(history)).toEqual([]);
  });
});

describe('saveHistoryForReplay', () => {
  it('writes the history and returns a command that re-checks it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'replay-'));
    try {
      const history: KvOperation[] = [{ clientId: 'a', input: { op: 'get', key: 'k' }, output: { value: 'x' }, call: 0, return: 1 }];
      const command = saveHistoryForReplay(history, dir, 'round-3');
      expect(command).toBe(`npm run check-history -- --model cluster ${path.join(dir, 'round-3.jsonl')} --verbose`);
      expect(parseJsonLines(readFileSync(path.join(dir, 'round-3.jsonl'), 'utf8'))).toEqual(history);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('countLostAcknowledgedWrites', () => {
  const op = (input: KvOperation['input'], call: number, ret: number | null, output: KvOperation['output'] = {}): KvOperation => ({
    clientId: 0,
    input,
    output,
    call,
    return: ret,
  });

  it('counts acknowledged writes invoked after the final value was written', () => {
    const history = [
      op({ op: 'put', key: 'k', value: 'a' }, 0, 1),
      op({ op: 'put', key: 'k', value: 'b' }, 2, 3),
      op({ op: 'cas', key: 'k', from: 'b', to: 'c' }, 4, 5, { ok: true }),
      op({ op: 'put', key: 'k', value: 'd' }, 6, null), // unknown: may be lost legitimately
    ];
    expect(countLostAcknowledgedWrites(history, new Map([['k', 'c']])).lost).toBe(0);
    expect(countLostAcknowledgedWrites(history, new Map([['k', 'd']])).lost).toBe(0);
    expect(countLostAcknowledgedWrites(history, new Map([['k', 'a']])).lost).toBe(2);
    expect(countLostAcknowledgedWrites(history, new Map([['k', null]])).lost).toBe(3);
  });

  it('does not count writes concurrent with the final one', () => {
    const history = [op({ op: 'put', key: 'k', value: 'a' }, 0, 10), op({ op: 'put', key: 'k', value: 'b' }, 5, 6)];
    expect(countLostAcknowledgedWrites(history, new Map([['k', 'a']])).lost).toBe(0);
  });
});
