// The arithmetic of move progress (node/src/cluster/move-progress.ts), with no cluster: rates over
// a window of samples, ETAs from them (null whenever a number is not known, never a guess), the
// leader's per-member snapshot sends, the progress of a move from a group status, and how jade
// prints it.
import { describe, expect, it } from 'vitest';
import type { GroupStatus } from '../../node/src/cluster/hosted-group.js';
import { MoveProgressBook, RATE_SPAN_MIN_MS, SnapshotSends, etaSecondsOf, progressOf, pruneSamples, ratePerSecond, type Sample } from '../../node/src/cluster/move-progress.js';
import { MOVE_PROMOTE_LAG_MAX } from '../../node/src/cluster/moves.js';
import { formatBytes, progressBar, progressCell, progressLine } from '../../node/src/cli/moves.js';

const T = 'n3#00ff';

function status(extra: Partial<GroupStatus>): GroupStatus {
  return { groupId: 'g', role: 'leader', term: 2, leader: 'n0', commit: 10, applied: 10, lastIndex: 10, conf: { voters: ['n0#aaaa'], learners: [T] }, ...extra };
}

describe('rates and ETAs', () => {
  it('a rate is the increase over the window ending at the newest sample', () => {
    const s: Sample[] = [0, 1000, 2000, 3000, 4000, 5000, 6000, 7000].map((atMs) => ({ atMs, value: atMs * 2 }));
    // 2 units per ms = 2000/s, whatever the window.
    expect(ratePerSecond(s)).toBe(2000);
    expect(ratePerSecond(s, 1000)).toBe(2000);
    // Faster at the end: only the last second counts with a 1 s window.
    const speeding = [...s, { atMs: 8000, value: 14000 + 10000 }];
    expect(ratePerSecond(speeding, 1000)).toBe(10000);
    // The 5 s window starts at the newest sample at least 5 s old (3000 ms, value 6000).
    expect(ratePerSecond(speeding, 5000)).toBe(((24000 - 6000) * 1000) / 5000);
  });

  it('no rate from one sample or from a span too short to mean anything', () => {
    expect(ratePerSecond([])).toBeNull();
    expect(ratePerSecond([{ atMs: 0, value: 5 }])).toBeNull();
    expect(ratePerSecond([{ atMs: 0, value: 0 }, { atMs: RATE_SPAN_MIN_MS - 1, value: 1e6 }])).toBeNull();
    expect(ratePerSecond([{ atMs: 0, value: 0 }, { atMs: RATE_SPAN_MIN_MS, value: 100 }])).toBe((100 * 1000) / RATE_SPAN_MIN_MS);
  });

  it('a shrinking value has a negative rate', () => {
    expect(ratePerSecond([{ atMs: 0, value: 500 }, { atMs: 1000, value: 300 }])).toBe(-200);
  });

  it('ETA: remaining over rate; 0 when done; null when unknown or not moving forward', () => {
    expect(etaSecondsOf(1000, 250)).toBe(4);
    expect(etaSecondsOf(0, null)).toBeNull();
    expect(etaSecondsOf(0, 10)).toBe(0);
    expect(etaSecondsOf(-5, 10)).toBe(0);
    expect(etaSecondsOf(null, 10)).toBeNull();
    expect(etaSecondsOf(100, null)).toBeNull();
    expect(etaSecondsOf(100, 0)).toBeNull();
    expect(etaSecondsOf(100, -3)).toBeNull();
  });

  it('pruning keeps the window and the newest sample before it', () => {
    const s: Sample[] = [0, 1000, 2000, 3000, 9000, 10000].map((atMs) => ({ atMs, value: atMs }));
    pruneSamples(s, 10000, 5000);
    expect(s.map((x) => x.atMs)).toEqual([3000, 9000, 10000]);
    expect(ratePerSecond(s, 5000)).toBe(1000);
  });
});

describe('snapshot sends on the leader', () => {
  it('counts bytes, reports a window rate while sending and the average once sent', () => {
    const sends = new SnapshotSends();
    sends.start(T, { index: 40, bytesTotal: 10_000, points: 250 }, 1000);
    expect(sends.status([T], 1000)[T]).toMatchObject({ index: 40, bytesSent: 0, bytesTotal: 10_000, points: 250, state: 'sending', bytesPerSecond: null, finishedAtMs: null });
    sends.sent(T, 2000, 2000);
    sends.sent(T, 4000, 3000);
    expect(sends.status([T], 3000)[T]).toMatchObject({ bytesSent: 4000, bytesPerSecond: 2000 });
    // Stalled for 2 s: the rate falls (still over the same window).
    expect(sends.status([T], 5000)[T].bytesPerSecond).toBe(1000);
    sends.sent(T, 10_000, 6000);
    sends.finish(T, true, 6000);
    expect(sends.status([T], 9000)[T]).toMatchObject({ bytesSent: 10_000, state: 'sent', finishedAtMs: 6000, bytesPerSecond: 2000 });
    // Bytes reported after the end do not change it.
    sends.sent(T, 1, 7000);
    expect(sends.status([T], 9000)[T].bytesSent).toBe(10_000);
  });

  it('a failed send stays failed with no rate; members that left are forgotten', () => {
    const sends = new SnapshotSends();
    sends.start(T, { index: 1, bytesTotal: 100, points: null }, 0);
    sends.finish(T, false, 500);
    expect(sends.status([T], 600)[T]).toMatchObject({ state: 'failed', bytesPerSecond: null, points: null });
    expect(sends.status(['n0#aaaa'], 700)).toEqual({});
    expect(sends.size).toBe(0);
  });
});

describe('move progress from the group leader\'s status', () => {
  it('snapshot phase: bytes, points, the sender\'s rate and an ETA for the rest', () => {
    const snapshots = { [T]: { index: 40, bytesTotal: 10_000, bytesSent: 4000, points: 250, state: 'sending' as const, startedAtMs: 0, finishedAtMs: null, bytesPerSecond: 2000 } };
    const p = progressOf(status({ snapshots, lag: { [T]: 10 } }), T, 123);
    expect(p).toEqual({ phase: 'snapshot', snapshotIndex: 40, snapshotBytesSent: 4000, snapshotBytesTotal: 10_000, snapshotPoints: 250, bytesPerSecond: 2000, lagEntries: 10, catchUpEntriesPerSecond: null, etaSeconds: 3, observedAtMs: 123 });
  });

  it('nothing known yet: every number null, no phase', () => {
    expect(progressOf(status({ lag: {} }), T, 5)).toEqual({ phase: null, snapshotIndex: null, snapshotBytesSent: null, snapshotBytesTotal: null, snapshotPoints: null, bytesPerSecond: null, lagEntries: null, catchUpEntriesPerSecond: null, etaSeconds: null, observedAtMs: 5 });
  });

  it('log phase: the book turns the lag shrinking over its window into a catch-up rate and an ETA to the promotion threshold', () => {
    const book = new MoveProgressBook();
    const move = { id: 'm1', to: T };
    const lag0 = MOVE_PROMOTE_LAG_MAX + 1000;
    const first = book.observe(move, status({ lag: { [T]: lag0 } }), 0)!;
    expect(first).toMatchObject({ phase: 'log', lagEntries: lag0, catchUpEntriesPerSecond: null, etaSeconds: null });
    const second = book.observe(move, status({ lag: { [T]: lag0 - 500 } }), 1000)!;
    expect(second).toMatchObject({ lagEntries: lag0 - 500, catchUpEntriesPerSecond: 500, etaSeconds: 1 });
    // Falling behind: a negative catch-up rate and no ETA.
    const third = book.observe(move, status({ lag: { [T]: lag0 + 500 } }), 2000)!;
    expect(third.etaSeconds).toBeNull();
    expect(third.catchUpEntriesPerSecond).toBeLessThan(0);
    expect(book.all()).toEqual({ m1: third });
    // Once done: the last numbers stay, with nothing left to wait for.
    book.settle('m1', true);
    expect(book.get('m1')).toEqual({ ...third, catchUpEntriesPerSecond: null, bytesPerSecond: null, etaSeconds: 0 });
    book.retain(new Set());
    expect(book.get('m1')).toBeNull();
  });

  it('a move without a target (drop_replica) has no progress', () => {
    expect(new MoveProgressBook().observe({ id: 'x', to: null }, status({}), 0)).toBeNull();
  });
});

describe('jade: the progress line and cell', () => {
  const none = { phase: null, snapshot_bytes_sent: null, snapshot_bytes_total: null, snapshot_points: null, bytes_per_second: null, lag_entries: null, catch_up_entries_per_second: null, eta_seconds: null };

  it('bytes in binary units; a bar of the share done, empty when unknown', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(300 * 1024 * 1024)).toBe('300 MiB');
    expect(progressBar(0.5, 10)).toBe('[#####-----]');
    expect(progressBar(1.7, 4)).toBe('[####]');
    expect(progressBar(null, 4)).toBe('[    ]');
  });

  it('shows what is known and nothing made up', () => {
    expect(progressLine(null)).toBe('');
    expect(progressLine(none)).toBe('');
    const sending = { ...none, phase: 'snapshot' as const, snapshot_bytes_sent: 1024 * 1024, snapshot_bytes_total: 4 * 1024 * 1024, snapshot_points: 5000, bytes_per_second: 512 * 1024, lag_entries: 7, eta_seconds: 6 };
    expect(progressLine(sending, 8)).toBe('[##------] 25% snapshot 1.0 MiB/4.0 MiB, 5000 points, 512 KiB/s, lag 7 entries, ETA 6s');
    expect(progressCell(sending)).toBe('25% of 4.0 MiB 512 KiB/s ETA 6s');
    const log = { ...none, phase: 'log' as const, snapshot_bytes_sent: 4096, snapshot_bytes_total: 4096, snapshot_points: 10, lag_entries: 300, catch_up_entries_per_second: 100.4, eta_seconds: 2.4 };
    expect(progressLine(log)).toBe('snapshot 4.0 KiB sent (10 points), lag 300 entries, catching up 100 entries/s, ETA 2s');
    expect(progressCell(log)).toBe('lag 300 ETA 2s');
    // Not catching up: no rate, no ETA.
    expect(progressLine({ ...none, phase: 'log', lag_entries: 90 })).toBe('lag 90 entries');
    expect(progressCell({ ...log, eta_seconds: 0.3 })).toBe('lag 300 ETA <1s');
  });
});
