// Checks the linearizability checker: it must reproduce all 106 calibration verdicts in
// ../shared/data/linearizability/expected.tsv (read in place), accept and reject small hand-made
// histories for the reasons stated, accept histories generated linearizable by construction, reject
// the same histories once a read is corrupted, and answer 'unknown' when its budget runs out.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkHistory, describeFailure } from './checker.js';
import type { Operation } from './checker.js';
import { createKvModel, kvModel, registerModel } from './models.js';
import type { KvInput, KvOutput, RegisterInput, RegisterOutput, RegisterValue } from './models.js';
import { parseEtcdLog, parseKvLog } from './parse.js';

// The calibration data is read in place (it is not copied into the repository).
const DATA_DIR = process.env.JADE_LINCHECK_DATA_DIR ?? '/work/shared/data/linearizability';

function loadExpected(): { file: string; linearizable: boolean }[] {
  const rows = readFileSync(path.join(DATA_DIR, 'expected.tsv'), 'utf8').trim().split('\n').slice(1);
  return rows.map((row) => {
    const [file, verdict] = row.split('\t');
    const value = verdict.trim();
    if (value !== 'true' && value !== 'false') throw new Error(`expected.tsv: bad verdict for ${file}`);
    return { file, linearizable: value === 'true' };
  });
}

describe('calibration histories', () => {
  const expected = loadExpected();

  // The README says 83 are not linearizable; expected.tsv itself lists 81 (the file is the reference).
  it('lists 106 histories with both verdicts present', () => {
    expect(expected).toHaveLength(106);
    expect(expected.filter((e) => !e.linearizable).length).toBeGreaterThan(0);
    expect(expected.filter((e) => e.linearizable).length).toBeGreaterThan(0);
  });

  // About 1.5 s on an idle machine; the generous budgets keep a loaded CI machine from turning a
  // slow check into 'unknown' or a timeout.
  it('reproduces every verdict', { timeout: 180_000 }, () => {
    const mismatches: string[] = [];
    const budget = { timeBudgetMs: 60_000 };
    for (const { file, linearizable } of expected) {
      const text = readFileSync(path.join(DATA_DIR, file), 'utf8');
      const result = file.startsWith('etcd/')
        ? checkHistory(registerModel, parseEtcdLog(text), budget)
        : checkHistory(kvModel, parseKvLog(text), budget);
      const want = linearizable ? 'linearizable' : 'not linearizable';
      if (result.verdict !== want) mismatches.push(`${file}: want ${want}, got ${result.verdict}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('parsers', () => {
  it('turns :info and :timed-out reads and missing returns into unknown outcomes', () => {
    const ops = parseEtcdLog(
      [
        'INFO  jepsen.util - 0\t:invoke\t:write\t1',
        'INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]',
        'INFO  jepsen.util - 2\t:invoke\t:read\tnil',
        'some other logging line',
        'INFO  jepsen.util - 0\t:info\t:write\t1',
        'INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]',
        'INFO  jepsen.util - 2\t:fail\t:read\t:timed-out',
        'INFO  jepsen.util - 3\t:invoke\t:read\tnil',
      ].join('\n'),
    );
    expect(ops.map((o) => [o.clientId, o.input, o.return])).toEqual([
      [0, { op: 'write', value: 1 }, null],
      [1, { op: 'cas', from: 1, to: 2 }, 5],
      [2, { op: 'read' }, null],
      [3, { op: 'read' }, null],
    ]);
    expect(ops[1].output).toEqual({ ok: false });
  });

  it('reads EDN kv lines with quoted keys and values', () => {
    const ops = parseKvLog(
      [
        '{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}',
        '{:process 3, :type :invoke, :f :get, :key "0", :value nil}',
        '{:process 9, :type :ok, :f :append, :key "0", :value "x 9 0 y"}',
        '{:process 3, :type :ok, :f :get, :key "0", :value "x 9 0 y"}',
      ].join('\n'),
    );
    expect(ops).toEqual([
      { clientId: '9', input: { op: 'append', key: '0', value: 'x 9 0 y' }, output: {}, call: 0, return: 2 },
      { clientId: '3', input: { op: 'get', key: '0' }, output: { value: 'x 9 0 y' }, call: 1, return: 3 },
    ]);
  });
});

type RegOp = Operation<RegisterInput, RegisterOutput>;
const write = (clientId: number, value: number, call: number, ret: number | null): RegOp => ({
  clientId,
  input: { op: 'write', value },
  output: {},
  call,
  return: ret,
});
const read = (clientId: number, value: RegisterValue, call: number, ret: number): RegOp => ({
  clientId,
  input: { op: 'read' },
  output: { value },
  call,
  return: ret,
});
const cas = (clientId: number, from: number, to: number, ok: boolean, call: number, ret: number | null): RegOp => ({
  clientId,
  input: { op: 'cas', from, to },
  output: { ok },
  call,
  return: ret,
});

describe('register model, hand-made histories', () => {
  const cases: { name: string; ops: RegOp[]; verdict: 'linearizable' | 'not linearizable' }[] = [
    { name: 'empty history', ops: [], verdict: 'linearizable' },
    { name: 'read of a never-written register sees nil', ops: [read(0, null, 0, 1)], verdict: 'linearizable' },
    { name: 'read invents a value', ops: [read(0, 7, 0, 1)], verdict: 'not linearizable' },
    { name: 'write then read', ops: [write(0, 1, 0, 1), read(1, 1, 2, 3)], verdict: 'linearizable' },
    {
      name: 'stale read after a completed write',
      ops: [write(0, 1, 0, 1), write(0, 2, 2, 3), read(1, 1, 4, 5)],
      verdict: 'not linearizable',
    },
    {
      name: 'read concurrent with a write may see either value',
      ops: [write(0, 1, 0, 1), write(0, 2, 2, 6), read(1, 1, 3, 4), read(2, 2, 3, 5)],
      verdict: 'linearizable',
    },
    {
      // Once a read has seen the new value, a later read must not see the old one.
      name: 'new-old inversion during a slow write',
      ops: [write(0, 1, 0, 1), write(0, 2, 2, 10), read(1, 2, 3, 4), read(2, 1, 5, 6)],
      verdict: 'not linearizable',
    },
    {
      name: 'cas succeeds on the current value',
      ops: [write(0, 1, 0, 1), cas(1, 1, 2, true, 2, 3), read(0, 2, 4, 5)],
      verdict: 'linearizable',
    },
    {
      name: 'cas reports failure although the value matched',
      ops: [write(0, 1, 0, 1), cas(1, 1, 2, false, 2, 3)],
      verdict: 'not linearizable',
    },
    {
      name: 'two cas from the same value cannot both succeed',
      ops: [write(0, 1, 0, 1), cas(1, 1, 2, true, 2, 5), cas(2, 1, 3, true, 2, 5)],
      verdict: 'not linearizable',
    },
    {
      name: 'unknown write that took effect explains a later read',
      ops: [write(0, 5, 0, null), read(1, 5, 10, 11)],
      verdict: 'linearizable',
    },
    {
      name: 'unknown write that never took effect',
      ops: [write(0, 1, 0, 1), write(1, 5, 2, null), read(2, 1, 10, 11)],
      verdict: 'linearizable',
    },
    {
      name: 'unknown write read before it was invoked',
      ops: [read(1, 5, 0, 1), write(0, 5, 2, null)],
      verdict: 'not linearizable',
    },
    {
      name: 'unknown cas whose effect a read observes',
      ops: [write(0, 1, 0, 1), cas(1, 1, 9, false, 2, null), read(2, 9, 5, 6)],
      verdict: 'linearizable',
    },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.verdict}`, () => {
      expect(checkHistory(registerModel, c.ops).verdict).toBe(c.verdict);
    });
  }

  it('names the failing operations and the longest linearizable prefix', () => {
    const ops = [write(0, 1, 0, 1), write(0, 2, 2, 3), read(1, 1, 4, 5)];
    const result = checkHistory(registerModel, ops);
    expect(result.failure?.operationIndexes.sort()).toEqual([0, 1, 2]);
    expect(result.failure?.longestPrefix).toEqual([0, 1]);
    const text = describeFailure(ops, result);
    expect(text).toContain('longest linearizable prefix: 2 of 3 operations');
    expect(text.split('earliest operations that could not follow it:')[1]).toContain('#2 client 1: {"op":"read"} called @4 → {"value":1} @5');
  });
});

type KvOp = Operation<KvInput, KvOutput>;

describe('kv model, hand-made histories', () => {
  const put = (key: string, value: string, call: number, ret: number): KvOp => ({
    clientId: 0,
    input: { op: 'put', key, value },
    output: {},
    call,
    return: ret,
  });
  const append = (key: string, value: string, call: number, ret: number): KvOp => ({
    clientId: 0,
    input: { op: 'append', key, value },
    output: {},
    call,
    return: ret,
  });
  const get = (key: string, value: string | null, call: number, ret: number): KvOp => ({
    clientId: 1,
    input: { op: 'get', key },
    output: { value },
    call,
    return: ret,
  });

  it('splits by key and accepts independent keys', () => {
    const result = checkHistory(kvModel, [put('a', 'x', 0, 1), put('b', 'y', 0, 1), get('a', 'x', 2, 3), get('b', 'y', 2, 3)]);
    expect(result.verdict).toBe('linearizable');
    expect(result.partitionCount).toBe(2);
  });

  it('rejects a value read under the wrong key', () => {
    expect(checkHistory(kvModel, [put('a', 'x', 0, 1), get('b', 'x', 2, 3)]).verdict).toBe('not linearizable');
  });

  it('accepts concurrent appends in either order and rejects an impossible interleaving', () => {
    const appends = [append('k', 'A', 0, 5), append('k', 'B', 0, 5)];
    expect(checkHistory(kvModel, [...appends, get('k', 'BA', 6, 7)]).verdict).toBe('linearizable');
    expect(checkHistory(kvModel, [...appends, get('k', 'AAB', 6, 7)]).verdict).toBe('not linearizable');
  });

  it('cas on an absent key compares with null when the model says absent is null', () => {
    const model = createKvModel({ absentValue: null });
    const casOp = (from: string | null, ok: boolean): KvOp => ({
      clientId: 2,
      input: { op: 'cas', key: 'k', from, to: 'v1' },
      output: { ok },
      call: 0,
      return: 1,
    });
    expect(checkHistory(model, [get('k', null, 0, 1)]).verdict).toBe('linearizable');
    expect(checkHistory(model, [casOp(null, true), get('k', 'v1', 2, 3)]).verdict).toBe('linearizable');
    expect(checkHistory(model, [casOp('', true)]).verdict).toBe('not linearizable');
  });
});

/** xorshift32: a seeded source so a failing generated history can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * A history linearizable by construction: each client runs operations one after another against a
 * real register; each operation takes effect at a point strictly inside its [call, return] interval.
 */
function generateRegisterHistory(
  seed: number,
  clientCount: number,
  opsPerClient: number,
  unknown: { fraction: number; effectProbability: number } = { fraction: 0, effectProbability: 1 },
): RegOp[] {
  const random = rng(seed);
  const events: { at: number; client: number; index: number }[] = [];
  const intervals: { call: number; ret: number }[][] = [];
  for (let c = 0; c < clientCount; c++) {
    intervals.push([]);
    let t = random() * 5;
    for (let i = 0; i < opsPerClient; i++) {
      const call = t;
      const ret = call + 1 + random() * 10;
      intervals[c].push({ call, ret });
      events.push({ at: call + (ret - call) * (0.05 + 0.9 * random()), client: c, index: i });
      t = ret + random() * 2;
    }
  }
  events.sort((a, b) => a.at - b.at);
  let value: RegisterValue = null;
  let nextWrite = 1;
  const ops: RegOp[] = [];
  for (const e of events) {
    const { call, ret } = intervals[e.client][e.index];
    const kind = random();
    // An unknown write may or may not have taken effect; its client saw no answer.
    const isUnknown = random() < unknown.fraction;
    const takesEffect = !isUnknown || random() < unknown.effectProbability;
    const returned = isUnknown ? null : ret;
    if (kind < 0.4) {
      ops.push(read(e.client, value, call, ret));
    } else if (kind < 0.8) {
      const written = nextWrite++;
      if (takesEffect) value = written;
      ops.push(write(e.client, written, call, returned));
    } else {
      const from = random() < 0.5 && typeof value === 'number' ? value : nextWrite + 1000;
      const ok = value === from && takesEffect;
      const to = nextWrite++;
      if (ok) value = to;
      ops.push(cas(e.client, from, to, ok, call, returned));
    }
  }
  return ops;
}

describe('generated histories', () => {
  it('accepts 50 histories that are linearizable by construction, rejects each with one corrupted read', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const ops = generateRegisterHistory(seed, 5, 12);
      expect(checkHistory(registerModel, ops).verdict, `seed ${seed}`).toBe('linearizable');
      const readIndex = ops.findIndex((o) => o.input.op === 'read');
      if (readIndex < 0) continue;
      const corrupted = ops.map((o, i) => (i === readIndex ? { ...o, output: { value: -1 } } : o));
      expect(checkHistory(registerModel, corrupted).verdict, `seed ${seed} corrupted`).toBe('not linearizable');
    }
  });

  it('accepts the same histories when some outcomes are turned unknown', () => {
    for (let seed = 100; seed < 120; seed++) {
      const ops = generateRegisterHistory(seed, 4, 10).map((o, i) =>
        o.input.op !== 'read' && i % 4 === 0 ? { ...o, output: undefined, return: null } : o,
      );
      expect(checkHistory(registerModel, ops).verdict, `seed ${seed}`).toBe('linearizable');
    }
  });
});

describe('search reductions', () => {
  // Reductions (merged unobservable states, interchangeable timed-out writes, bounded effect time of
  // observed timed-out writes) must never change a verdict: compare with the plain search on many
  // small histories full of unknown outcomes, half of them with a read corrupted to a stale or
  // foreign value.
  it('give the same verdicts as the plain search on 400 generated histories', { timeout: 120_000 }, () => {
    const verdicts = { linearizable: 0, 'not linearizable': 0 };
    let reducedOperations = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const random = rng(seed * 31);
      let ops = generateRegisterHistory(seed, 4, 8, { fraction: 0.35, effectProbability: 0.5 });
      if (seed % 2 === 0) {
        const reads = ops.map((o, i) => (o.input.op === 'read' && o.return !== null ? i : -1)).filter((i) => i >= 0);
        const target = reads[Math.floor(random() * reads.length)];
        const written = ops.flatMap((o) => (o.input.op === 'write' ? [o.input.value] : []));
        const value = random() < 0.7 && written.length > 0 ? written[Math.floor(random() * written.length)] : 999;
        if (target !== undefined) ops = ops.map((o, i) => (i === target ? { ...o, output: { value } } : o));
      }
      const plain = checkHistory(registerModel, ops, { reductions: false });
      const reduced = checkHistory(registerModel, ops, { reductions: true });
      expect(reduced.verdict, `seed ${seed}`).toBe(plain.verdict);
      if (plain.verdict !== 'unknown') verdicts[plain.verdict]++;
      const r = registerModel.reductions!(ops.filter((o) => !(o.return === null && o.input.op === 'read')));
      reducedOperations += (r.latestEffect ?? []).filter((x) => x !== undefined).length;
      reducedOperations += (r.interchangeableClass ?? []).filter((x) => x !== undefined).length;
    }
    // The comparison means something only if both verdicts occur and the reductions did apply.
    expect(verdicts.linearizable).toBeGreaterThan(100);
    expect(verdicts['not linearizable']).toBeGreaterThan(50);
    expect(reducedOperations).toBeGreaterThan(200);
  });
});

describe('budgets', () => {
  const hard = parseEtcdLog(readFileSync(path.join(DATA_DIR, 'etcd/etcd_002.log'), 'utf8'));

  it('answers unknown when the time budget is exhausted', () => {
    const result = checkHistory(registerModel, hard, { timeBudgetMs: 1 });
    expect(result.verdict).toBe('unknown');
    expect(result.unknownReason).toBe('time budget exceeded');
  });

  it('answers unknown when the memo cache limit is reached, by count or by memory', () => {
    const byCount = checkHistory(registerModel, hard, { cacheEntriesMax: 1000 });
    expect(byCount.verdict).toBe('unknown');
    expect(byCount.unknownReason).toBe('cache limit exceeded');
    const byBytes = checkHistory(registerModel, hard, { cacheBytesMax: 100_000 });
    expect(byBytes.verdict).toBe('unknown');
    expect(byBytes.unknownReason).toBe('cache limit exceeded');
  });
});
