// The backup schedule's decisions with a fake clock: next run, the most recent missed run caught up
// once (none past startingDeadlineSeconds), waiting while a backup runs or while suspended, the
// deterministic names of scheduled backups, retention by count and by age, and the cluster's
// LastBackupSucceeded condition from the newest finished backup.
import { describe, expect, it } from 'vitest';
import {
  decideSchedule, expiredBackups, lastBackupCondition, latestRunAtOrBeforeMs, nextRunMs, parseSchedule, scheduledBackupName,
} from '../../operator/src/backup/schedule.js';
import type { FinishedBackup, ScheduleInput } from '../../operator/src/backup/schedule.js';

const T = (iso: string) => Date.parse(iso);
const HOUR_MS = 3_600_000;

function input(over: Partial<ScheduleInput> & { schedule?: string }): ScheduleInput {
  const { schedule = '0 * * * *', ...rest } = over;
  return { cron: parseSchedule(schedule), suspend: false, createdMs: T('2026-01-01T00:00:30Z'), activeBackups: 0, nowMs: T('2026-01-01T00:30:00Z'), ...rest };
}

describe('cron parsing (croner, 5 fields, UTC)', () => {
  it('gives the next run after now and the latest run at or before now', () => {
    const cron = parseSchedule('*/15 * * * *');
    expect(nextRunMs(cron, T('2026-01-01T00:10:00Z'))).toBe(T('2026-01-01T00:15:00Z'));
    expect(nextRunMs(cron, T('2026-01-01T00:15:00Z'))).toBe(T('2026-01-01T00:30:00Z'));
    expect(latestRunAtOrBeforeMs(cron, T('2026-01-01T00:15:00Z'))).toBe(T('2026-01-01T00:15:00Z'));
    expect(latestRunAtOrBeforeMs(cron, T('2026-01-01T00:14:59Z'))).toBe(T('2026-01-01T00:00:00Z'));
    expect(nextRunMs(parseSchedule('@daily'), T('2026-01-01T00:10:00Z'))).toBe(T('2026-01-02T00:00:00Z'));
  });
  it('refuses what a CronJob would refuse, with the parser\'s message', () => {
    expect(() => parseSchedule('61 * * * *')).toThrow(/minute/);
    expect(() => parseSchedule('* * * * * *')).toThrow(/5 parts/);
  });
});

describe('decideSchedule', () => {
  it('waits until the first scheduled time after creation, then runs it', () => {
    expect(decideSchedule(input({ nowMs: T('2026-01-01T00:59:59Z') }))).toEqual({ action: 'wait', reason: 'notDue', nextMs: T('2026-01-01T01:00:00Z') });
    expect(decideSchedule(input({ nowMs: T('2026-01-01T01:00:00Z') }))).toEqual({ action: 'run', scheduledMs: T('2026-01-01T01:00:00Z'), missedRunsSkipped: 0, nextMs: T('2026-01-01T02:00:00Z') });
  });
  it('does not run the same time twice (lastScheduleTime)', () => {
    expect(decideSchedule(input({ nowMs: T('2026-01-01T01:00:05Z'), lastScheduleMs: T('2026-01-01T01:00:00Z') }))).toMatchObject({ action: 'wait', reason: 'notDue' });
  });
  it('after an outage catches up only the most recent missed run, and counts the skipped ones', () => {
    const d = decideSchedule(input({ nowMs: T('2026-01-01T05:20:00Z'), lastScheduleMs: T('2026-01-01T01:00:00Z') }));
    expect(d).toEqual({ action: 'run', scheduledMs: T('2026-01-01T05:00:00Z'), missedRunsSkipped: 3, nextMs: T('2026-01-01T06:00:00Z') });
  });
  it('runs a missed time within startingDeadlineSeconds, and none past it', () => {
    const base = { lastScheduleMs: T('2026-01-01T01:00:00Z'), startingDeadlineSeconds: 600 };
    expect(decideSchedule(input({ ...base, nowMs: T('2026-01-01T02:09:59Z') }))).toMatchObject({ action: 'run', scheduledMs: T('2026-01-01T02:00:00Z') });
    expect(decideSchedule(input({ ...base, nowMs: T('2026-01-01T02:10:01Z') }))).toEqual({ action: 'wait', reason: 'pastDeadline', missedMs: T('2026-01-01T02:00:00Z'), nextMs: T('2026-01-01T03:00:00Z') });
    // The next scheduled time, once it comes, runs as usual.
    expect(decideSchedule(input({ ...base, nowMs: T('2026-01-01T03:00:00Z') }))).toMatchObject({ action: 'run', scheduledMs: T('2026-01-01T03:00:00Z'), missedRunsSkipped: 1 });
  });
  it('waits while a backup of the schedule is still running, within the deadline', () => {
    const base = { lastScheduleMs: T('2026-01-01T01:00:00Z'), startingDeadlineSeconds: 600, activeBackups: 1 };
    expect(decideSchedule(input({ ...base, nowMs: T('2026-01-01T02:05:00Z') }))).toMatchObject({ action: 'wait', reason: 'active' });
    expect(decideSchedule(input({ ...base, activeBackups: 0, nowMs: T('2026-01-01T02:06:00Z') }))).toMatchObject({ action: 'run', scheduledMs: T('2026-01-01T02:00:00Z') });
    expect(decideSchedule(input({ ...base, nowMs: T('2026-01-01T02:11:00Z') }))).toMatchObject({ action: 'wait', reason: 'pastDeadline' });
  });
  it('runs nothing while suspended; on resume, the deadline decides about the time missed meanwhile', () => {
    expect(decideSchedule(input({ suspend: true, nowMs: T('2026-01-01T09:00:00Z') }))).toEqual({ action: 'wait', reason: 'suspended', nextMs: null });
    expect(decideSchedule(input({ nowMs: T('2026-01-01T09:30:00Z'), startingDeadlineSeconds: 60 }))).toMatchObject({ action: 'wait', reason: 'pastDeadline', missedMs: T('2026-01-01T09:00:00Z') });
    expect(decideSchedule(input({ nowMs: T('2026-01-01T09:30:00Z') }))).toMatchObject({ action: 'run', scheduledMs: T('2026-01-01T09:00:00Z'), missedRunsSkipped: 8 });
  });
  it('counts skipped runs only up to a cap (a long outage of a frequent schedule)', () => {
    const d = decideSchedule(input({ schedule: '* * * * *', nowMs: T('2026-01-03T00:00:00Z') }));
    expect(d).toMatchObject({ action: 'run', scheduledMs: T('2026-01-03T00:00:00Z'), missedRunsSkipped: 100 });
  });
});

describe('scheduledBackupName', () => {
  it('is the schedule name and the run\'s minute, within the object name limit', () => {
    expect(scheduledBackupName('nightly', T('2026-01-01T01:00:00Z'))).toBe(`nightly-${T('2026-01-01T01:00:00Z') / 60_000}`);
    expect(scheduledBackupName('x'.repeat(253), 0)).toHaveLength(253);
  });
});

describe('expiredBackups', () => {
  const now = T('2026-01-10T00:00:00Z');
  const ok = (name: string, hoursAgo: number): FinishedBackup => ({ name, phase: 'Succeeded', finishedMs: now - hoursAgo * HOUR_MS });
  const failed = (name: string, hoursAgo: number): FinishedBackup => ({ name, phase: 'Failed', finishedMs: now - hoursAgo * HOUR_MS });

  it('keeps the newest count successful backups', () => {
    const out = expiredBackups([ok('a', 4), ok('b', 3), ok('c', 2), ok('d', 1)], { count: 2, maxAgeHours: 0 }, now);
    expect(out).toEqual([{ name: 'b', why: 'beyond retention.count 2' }, { name: 'a', why: 'beyond retention.count 2' }]);
  });
  it('expires by age, but never the newest successful backup', () => {
    expect(expiredBackups([ok('old', 50), ok('mid', 30), ok('new', 10)], { count: 7, maxAgeHours: 24 }, now).map((x) => x.name)).toEqual(['mid', 'old']);
    expect(expiredBackups([ok('old', 50), ok('older', 60)], { count: 7, maxAgeHours: 24 }, now).map((x) => x.name)).toEqual(['older']);
  });
  it('keeps only the newest failed backup, and failed ones do not count against count', () => {
    const out = expiredBackups([failed('f1', 5), ok('s1', 4), failed('f2', 3), ok('s2', 2)], { count: 2, maxAgeHours: 0 }, now);
    expect(out).toEqual([{ name: 'f1', why: 'failed, and only the newest 1 failed backup is kept' }]);
  });
  it('breaks ties in finish time by name, so two reconciles agree', () => {
    expect(expiredBackups([ok('a', 1), ok('b', 1)], { count: 1, maxAgeHours: 0 }, now).map((x) => x.name)).toEqual(['a']);
  });
});

describe('lastBackupCondition', () => {
  it('is Unknown with no finished backup, else follows the newest finished one', () => {
    expect(lastBackupCondition([])).toMatchObject({ status: 'Unknown', reason: 'NoBackupYet' });
    const s = { name: 'b1', phase: 'Succeeded' as const, completionTime: '2026-01-01T01:00:00Z', backupId: 'b1-x', sizeBytes: 42 };
    const f = { name: 'b2', phase: 'Failed' as const, completionTime: '2026-01-01T02:00:00Z', message: 'shard 0 unavailable' };
    expect(lastBackupCondition([s])).toEqual({ status: 'True', reason: 'BackupSucceeded', message: 'VectorBackup b1 (backup b1-x, 42 bytes) succeeded at 2026-01-01T01:00:00Z' });
    expect(lastBackupCondition([s, f])).toEqual({ status: 'False', reason: 'BackupFailed', message: 'VectorBackup b2 failed at 2026-01-01T02:00:00Z: shard 0 unavailable' });
    expect(lastBackupCondition([{ ...s, completionTime: '2026-01-01T03:00:00Z' }, f])).toMatchObject({ status: 'True' });
  });
});
