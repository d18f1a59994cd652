// The move progress gauges of NodeMetrics: one series per move in flight and known value, labelled
// by move, collection and group; an unknown value (null) has no series rather than a made-up 0.
import { describe, expect, it } from 'vitest';
import { NodeMetrics } from '../../node/src/api/metrics.js';

describe('move progress metrics', () => {
  it('exports the known numbers of each move and nothing for unknown ones', async () => {
    const metrics = new NodeMetrics();
    metrics.setMoveSource(() => [
      {
        id: 'g1@abc.0',
        collection: 'c',
        groupId: 'g1',
        progress: { phase: 'snapshot', snapshotIndex: 40, snapshotBytesSent: 4096, snapshotBytesTotal: 10_000, snapshotPoints: 250, bytesPerSecond: 2048, lagEntries: null, catchUpEntriesPerSecond: null, etaSeconds: 2.9, observedAtMs: 0 },
      },
    ]);
    const text = await metrics.registry.metrics();
    const labels = '{move="g1@abc.0",collection="c",group="g1"}';
    expect(text).toContain(`jade_move_snapshot_bytes_sent${labels} 4096`);
    expect(text).toContain(`jade_move_snapshot_bytes_total${labels} 10000`);
    expect(text).toContain(`jade_move_snapshot_points${labels} 250`);
    expect(text).toContain(`jade_move_snapshot_bytes_per_second${labels} 2048`);
    expect(text).toContain(`jade_move_eta_seconds${labels} 2.9`);
    expect(text).not.toContain(`jade_move_lag_entries${labels}`);
    expect(text).not.toContain(`jade_move_catch_up_entries_per_second${labels}`);
    // The move is over: its series go at the next scrape.
    metrics.setMoveSource(() => []);
    expect(await metrics.registry.metrics()).not.toContain('g1@abc.0');
  });
});
