// Checks the background indexer's pacing rule (a pure function): while writes arrive its share of
// the event loop starts at the minimum and grows with the backlog up to the maximum; it takes the
// quiet share as soon as writes stop; replicas never take more than half the loop.
import { describe, expect, it } from 'vitest';
import { REPLICA_INDEX_PACING, STANDALONE_INDEX_PACING, indexerShare } from '../../node/src/shard/indexer.js';

describe('indexer pacing', () => {
  it('grows from the writing minimum to the writing maximum as the backlog fills', () => {
    const p = REPLICA_INDEX_PACING;
    expect(p.writingShareMax).toBeGreaterThan(p.writingShareMin);
    expect(indexerShare(p, true, 0, 200_000)).toBeCloseTo(p.writingShareMin);
    expect(indexerShare(p, true, 100_000, 200_000)).toBeCloseTo((p.writingShareMin + p.writingShareMax) / 2);
    expect(indexerShare(p, true, 200_000, 200_000)).toBeCloseTo(p.writingShareMax);
    // Followers may hold more than the leader's limit allowed (committed before a limit change): capped.
    expect(indexerShare(p, true, 900_000, 200_000)).toBeCloseTo(p.writingShareMax);
    expect(indexerShare(p, false, 0, 200_000)).toBe(p.quietShare);
  });

  it('replicas stay at or below half the loop; a standalone node takes all of it when quiet', () => {
    for (const backlog of [0, 1_000, 150_000, 10_000_000]) {
      for (const writing of [true, false]) expect(indexerShare(REPLICA_INDEX_PACING, writing, backlog, 200_000)).toBeLessThanOrEqual(0.5);
    }
    expect(indexerShare(STANDALONE_INDEX_PACING, false, 10, 200_000)).toBe(1);
    // Standalone: half the loop while writes arrive, whatever the backlog (durable ingest 13k → 19.5k vectors/s).
    expect(indexerShare(STANDALONE_INDEX_PACING, true, 10, 200_000)).toBe(0.5);
    expect(indexerShare(STANDALONE_INDEX_PACING, true, 150_000, 200_000)).toBe(0.5);
  });
});
