// Checks the HNSW graph files a shard replica writes beside its own snapshots: a restart from its
// own snapshot loads the graph (only the points not in it are indexed again) and answers as the
// original did; an image from another replica, a missing or damaged file rebuilds instead; deletes
// applied while the graph is being written stay out of answers and replay cleanly on the restored
// replica; the indexer waits for the write; old files are pruned.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GRAPH_SNAPSHOT_MISSING_POINTS_MIN, ShardStateMachine, type GraphStore } from '../../node/src/cluster/shard-sm.js';
import { HnswIndex } from '../../node/src/index/hnsw.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import { encodeWriteBatch } from '../../node/src/storage/codec.js';
import type { WriteBatch } from '../../node/src/storage/types.js';

const DIMENSION = 8;
const PARAMS = { dimension: DIMENSION, metric: 'l2' as const, hnsw: { m: 8, efConstruction: 64, efSearch: 32 } };
const POINTS = 300;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function storeIn(dir?: string): GraphStore & { lines: string[] } {
  const d = dir ?? mkdtempSync(path.join(os.tmpdir(), 'jade-graph-test-'));
  if (!dir) dirs.push(d);
  const lines: string[] = [];
  return { disk: new RealDisk(), dir: d, log: (line) => lines.push(line), lines };
}

function vectorOf(id: number): Float32Array {
  let s = (id + 1) * 2654435761;
  return Float32Array.from({ length: DIMENSION }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32));
}

/** A replica whose indexer only runs when the test says (state.indexSome). */
function replica(store: GraphStore | null): ShardStateMachine {
  const sm = new ShardStateMachine(PARAMS, DEFAULT_SHARD_LIMITS, store);
  sm.indexer.stop();
  return sm;
}

let nextIndex = 2;
function apply(sm: ShardStateMachine, batch: WriteBatch): void {
  sm.apply({ index: nextIndex++, term: 2, type: 'normal', data: encodeWriteBatch(batch) });
}

function upsert(sm: ShardStateMachine, ids: number[]): void {
  apply(sm, { ops: [{ kind: 'upsert', points: ids.map((id) => ({ id, vector: vectorOf(id), payload: { id } })) }] });
}

function topIds(sm: ShardStateMachine, queryId: number, k = 10): unknown[] {
  return sm.state.search({ vector: vectorOf(queryId), k }).hits.map((h) => h.id);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('shard replica graph files', () => {
  it('a restart from its own snapshot loads the graph and answers as before', async () => {
    const store = storeIn();
    const source = replica(store);
    upsert(source, range(0, POINTS));
    source.state.indexSome(200);
    const image = await source.snapshot();
    expect(readdirSync(store.dir).filter((n) => n.endsWith('.bin'))).toHaveLength(1);

    const restarted = replica(store);
    await restarted.restoreOwn(image);
    expect(restarted.state.count).toBe(POINTS);
    expect(restarted.state.indexBacklog).toBe(POINTS - 200); // the 200 in the file are not indexed again
    for (const q of [0, 17, 123, 299, 1000]) expect(topIds(restarted, q)).toEqual(topIds(source, q));
    restarted.state.indexAll();
    source.state.indexAll();
    for (const q of [3, 250]) expect(topIds(restarted, q)).toEqual(topIds(source, q));
    expect(store.lines).toEqual([]);
  });

  it('rebuilds from an image of another replica, and when the file is missing or damaged', async () => {
    const store = storeIn();
    const source = replica(store);
    upsert(source, range(0, POINTS));
    source.state.indexAll();
    const image = await source.snapshot();

    const elsewhere = replica(storeIn());
    await elsewhere.restoreOwn(image);
    expect(elsewhere.state.indexBacklog).toBe(POINTS);

    const file = path.join(store.dir, readdirSync(store.dir).find((n) => n.endsWith('.bin'))!);
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1] ^= 0x5a;
    writeFileSync(file, bytes);
    const damaged = replica(store);
    await damaged.restoreOwn(image);
    expect(damaged.state.indexBacklog).toBe(POINTS);
    expect(store.lines.join('\n')).toMatch(/not used .*crc32c/);
    damaged.state.indexAll();
    for (const q of [5, 77]) expect(topIds(damaged, q)).toEqual(topIds(source, q));

    const plain = replica(null);
    await plain.restoreOwn(image);
    expect(plain.state.indexBacklog).toBe(POINTS);
  });

  it('keeps deletes applied during the write out of answers, and the restored replica replays them', async () => {
    const store = storeIn();
    const source = replica(store);
    upsert(source, range(0, POINTS));
    source.state.indexSome(250);
    const pending = source.snapshot();
    // The graph is being written: insertion waits, deletes of indexed points are not in answers.
    expect(source.state.graphSaving).toBe(true);
    expect(source.state.indexSome(10)).toBe(0);
    const deletes: WriteBatch = { ops: [{ kind: 'delete', ids: range(0, 40) }] };
    apply(source, deletes);
    upsert(source, range(1000, 1010));
    for (const q of [0, 7, 39]) {
      const ids = topIds(source, q);
      expect(ids).toHaveLength(10);
      for (const id of ids) expect(typeof id === 'number' && id < 40).toBe(false);
    }
    const image = await pending;
    expect(source.state.graphSaving).toBe(false);
    expect(source.state.indexSome(10)).toBe(10); // insertion resumed
    for (const q of [0, 7]) for (const id of topIds(source, q)) expect(typeof id === 'number' && id < 40).toBe(false);

    const restarted = replica(store);
    await restarted.restoreOwn(image);
    expect(restarted.state.count).toBe(POINTS);
    expect(restarted.state.indexBacklog).toBe(POINTS - 250);
    expect(topIds(restarted, 0, 1)).toEqual([0]);
    apply(restarted, deletes); // what the log replay does after the snapshot
    upsert(restarted, range(1000, 1010));
    expect(restarted.state.count).toBe(POINTS - 40 + 10);
    restarted.state.indexAll();
    source.state.indexAll();
    for (const q of [0, 7, 39, 1005]) expect(topIds(restarted, q)).toEqual(topIds(source, q));
  });

  it('writes the graph as it was when the save started, whatever is removed meanwhile', async () => {
    const index = new HnswIndex(DIMENSION, 'l2', PARAMS.hnsw);
    for (let id = 0; id < 3000; id++) index.add(id, vectorOf(id));
    const file = path.join(storeIn().dir, 'g.bin');
    const saving = index.saveAsync(file);
    for (let id = 0; id < 100; id++) index.remove(id);
    expect(() => index.add(5000, vectorOf(5000))).toThrow(/being saved/);
    expect(index.search(vectorOf(3), 5).map((h) => h.label)).not.toContain(3);
    await saving;
    expect(index.search(vectorOf(3), 5).map((h) => h.label)).not.toContain(3);
    const loaded = HnswIndex.load(file, DIMENSION, 'l2', PARAMS.hnsw, range(0, 3000));
    for (const id of [0, 3, 99]) expect(loaded.search(vectorOf(id), 1)[0].label).toBe(id);
    loaded.remove(3); // not already marked in the file: this would throw
    expect(loaded.search(vectorOf(3), 1)[0].label).not.toBe(3);
  });

  it('asks for a snapshot once the indexer catches up with a graph the last snapshot lacked', async () => {
    const small = { dimension: 2, metric: 'l2' as const, hnsw: { m: 4, efConstruction: 8, efSearch: 8 } };
    const sm = new ShardStateMachine(small, DEFAULT_SHARD_LIMITS, storeIn());
    let asked = 0;
    sm.onGraphCaughtUp = () => asked++;
    const points = (from: number, n: number) => range(from, from + n).map((id) => ({ id, vector: Float32Array.from([id, id % 7]), payload: null }));
    const n = GRAPH_SNAPSHOT_MISSING_POINTS_MIN + 500;
    for (let i = 0; i < n; i += 1000) apply(sm, { ops: [{ kind: 'upsert', points: points(i, Math.min(1000, n - i)) }] });
    await sm.indexer.waitIndexed();
    expect(asked).toBe(1);
    // A few more points: far below the threshold, no new request.
    apply(sm, { ops: [{ kind: 'upsert', points: points(n, 100) }] });
    await sm.indexer.waitIndexed();
    expect(asked).toBe(1);
    sm.indexer.stop();
    // Without a graph store a snapshot would save no graph: never asked.
    const plain = new ShardStateMachine(small, DEFAULT_SHARD_LIMITS, null);
    plain.onGraphCaughtUp = () => asked++;
    for (let i = 0; i < n; i += 1000) apply(plain, { ops: [{ kind: 'upsert', points: points(i, Math.min(1000, n - i)) }] });
    await plain.indexer.waitIndexed();
    plain.indexer.stop();
    expect(asked).toBe(1);
  }, 30_000);

  it('keeps the newest two graph files and no partial ones', async () => {
    const store = storeIn();
    const source = replica(store);
    for (let round = 0; round < 4; round++) {
      upsert(source, range(round * 50, round * 50 + 50));
      source.state.indexAll();
      await source.snapshot();
      await new Promise((resolve) => setTimeout(resolve, 2)); // distinct clock in the names
    }
    const names = readdirSync(store.dir);
    expect(names.filter((n) => n.endsWith('.bin'))).toHaveLength(2);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
