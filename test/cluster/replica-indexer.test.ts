// Checks that a replica's background HNSW insertion leaves the event loop to Raft: while a large
// backlog is indexed, a 2 ms interval timer (standing in for ticks and message handling) still
// fires about every step, never waiting out back-to-back slices, and the backlog still drains.
import { describe, expect, it } from 'vitest';
import { REPLICA_INDEX_STEP_MS, ShardStateMachine } from '../../node/src/cluster/shard-sm.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { encodeWriteBatch } from '../../node/src/storage/codec.js';
import { seededRandom } from './workload.js';

const DIMENSION = 128;
const POINT_COUNT = 3_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Gaps between ticks of a 2 ms interval timer while `keepGoing()` holds (checked every 20 ms). */
async function timerGaps(keepGoing: () => boolean): Promise<number[]> {
  const gapsMs: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gapsMs.push(now - last);
    last = now;
  }, 2);
  while (keepGoing()) await new Promise((resolve) => setTimeout(resolve, 20));
  clearInterval(timer);
  return gapsMs;
}

describe('replica indexing (BackgroundIndexer with REPLICA_INDEX_PACING)', () => {
  it('indexes in short steps with pauses between them, and drains the backlog', { timeout: 120_000 }, async () => {
    const sm = new ShardStateMachine({ dimension: DIMENSION, metric: 'l2', hnsw: { m: 16, efConstruction: 100, efSearch: 64 } }, DEFAULT_SHARD_LIMITS);
    const random = seededRandom(7);
    const points = Array.from({ length: POINT_COUNT }, (_, i) => ({ id: i + 1, vector: Float32Array.from({ length: DIMENSION }, random), payload: null }));
    // The same timer with nothing else running first: on a loaded host its gaps grow too.
    const baselineEndMs = performance.now() + 300;
    const baselineGapsMs = await timerGaps(() => performance.now() < baselineEndMs);
    sm.apply({ term: 1, index: 2, type: 'normal', data: encodeWriteBatch({ ops: [{ kind: 'upsert', points }] }) });
    expect(sm.state.indexBacklog).toBe(POINT_COUNT);

    const startedMs = performance.now();
    const gapsMs = await timerGaps(() => sm.state.indexBacklog > 0 && performance.now() - startedMs < 100_000);
    sm.indexer.stop();

    expect(sm.state.indexBacklog).toBe(0);
    // Back-to-back 20 ms slices would put the median at 20 ms or more; a step is ≤ 10 ms plus one insert.
    expect(median(gapsMs)).toBeLessThan(median(baselineGapsMs) + 1.5 * REPLICA_INDEX_STEP_MS);
    // Pauses as long as the steps: the timer found the loop free for a good share of the run.
    expect(gapsMs.length).toBeGreaterThan((performance.now() - startedMs) / (2 * REPLICA_INDEX_STEP_MS + 5));
  });
});
