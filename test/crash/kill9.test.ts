// Crash safety with real processes: a node is kill -9'd at seeded random moments while clients
// upsert batches concurrently (checkpoints happen during the run too). After each restart every
// acknowledged batch is present and intact, and every unacknowledged batch is all-or-nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';

const SEED = Number(process.env.JADE_CRASH_SEED ?? 20261123);
const ROUNDS = 6;
const BATCH_POINTS = 20;
const WRITERS = 4;
const DIM = 16;

function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function vectorOf(id: number): number[] {
  // Component 0 makes every vector unique, so an exact search for it must return that id.
  return Array.from({ length: DIM }, (_, j) => (j === 0 ? id : ((id * 31 + j * 7) % 97) / 97));
}

async function call(url: string, method: string, p: string, body?: unknown) {
  const res = await fetch(url + p, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(10_000) });
  const json = (await res.json()) as any;
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json.result;
}

const dataDir = mkdtempSync(path.join(tmpdir(), 'jade-kill9-'));
let node: NodeProcess | null = null;
afterAll(async () => {
  await node?.kill9();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('kill -9 crash safety', () => {
  it(`loses no acknowledged batch across ${ROUNDS} seeded kill -9 rounds (seed ${SEED}; replay with JADE_CRASH_SEED=${SEED})`, async () => {
    const random = rng(SEED);
    const env = { JADE_CHECKPOINT_WAL_BYTES: String(64 * 1024) };
    node = await startNodeProcess({ dataDir, env });
    await call(node.url, 'PUT', '/collections/crash', { vectors: { size: DIM, distance: 'Euclid' } });
    const acked = new Set<number>();
    const attempted = new Set<number>();
    let nextBatch = 0;

    for (let round = 0; round < ROUNDS; round++) {
      const url = node.url;
      let killed = false;
      const writer = async () => {
        while (!killed) {
          const b = nextBatch++;
          attempted.add(b);
          const points = Array.from({ length: BATCH_POINTS }, (_, i) => ({ id: b * BATCH_POINTS + i, vector: vectorOf(b * BATCH_POINTS + i), payload: { batch: b, i } }));
          try {
            await call(url, 'PUT', '/collections/crash/points?wait=true', { points });
            acked.add(b); // a response that arrived is an acknowledgement, even if the kill follows
          } catch {
            return; // connection refused/reset: the node is gone
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, writer);
      await new Promise((r) => setTimeout(r, 100 + random() * 600));
      killed = true;
      await node.kill9();
      await Promise.allSettled(writers);

      node = await startNodeProcess({ dataDir, env });
      const count = (await call(node.url, 'POST', '/collections/crash/points/count', {})).count as number;
      const ids = [...attempted].flatMap((b) => Array.from({ length: BATCH_POINTS }, (_, i) => b * BATCH_POINTS + i));
      const found = new Map<number, any>();
      for (let i = 0; i < ids.length; i += 1000) {
        const got = await call(node.url, 'POST', '/collections/crash/points', { ids: ids.slice(i, i + 1000), with_payload: true, with_vector: true });
        for (const p of got) found.set(p.id, p);
      }
      let lost = 0;
      for (const b of attempted) {
        const present = Array.from({ length: BATCH_POINTS }, (_, i) => found.has(b * BATCH_POINTS + i)).filter(Boolean).length;
        if (acked.has(b) && present !== BATCH_POINTS) lost++;
        // All-or-nothing: a batch is one WAL record.
        expect([0, BATCH_POINTS], `batch ${b} half-present after round ${round} (seed ${SEED})`).toContain(present);
      }
      expect(lost, `acknowledged batches lost after round ${round} (seed ${SEED})`).toBe(0);
      for (const [id, p] of found) {
        expect(p.payload).toEqual({ batch: Math.floor(id / BATCH_POINTS), i: id % BATCH_POINTS });
        expect(p.vector.map((x: number) => Math.round(x * 1e4))).toEqual(vectorOf(id).map((x) => Math.round(x * 1e4)));
      }
      expect(count).toBe(found.size);
      // Search still works after recovery and finds an acknowledged point exactly.
      const someAcked = [...acked].at(-1);
      if (someAcked !== undefined) {
        const target = someAcked * BATCH_POINTS;
        const res = await call(node.url, 'POST', '/collections/crash/points/query', { query: vectorOf(target), limit: 1, params: { exact: true } });
        expect(res.points[0].id).toBe(target);
      }
    }
    expect(acked.size).toBeGreaterThan(ROUNDS);
  }, 240_000);
});

describe('data directory lock', () => {
  it('refuses a second node on the same data directory with a clear message, and allows a restart after kill -9', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jade-lock-'));
    const first = await startNodeProcess({ dataDir: dir });
    try {
      const second = startNodeProcess({ dataDir: dir, startTimeoutMs: 20_000 });
      await expect(second).rejects.toThrow(/exited with 1[\s\S]*in use/);
    } finally {
      await first.kill9();
    }
    const again = await startNodeProcess({ dataDir: dir });
    const res = await fetch(again.url + '/readyz');
    expect(res.status).toBe(200);
    await again.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
