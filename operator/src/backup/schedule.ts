// Pure decisions of the backup schedule controller, with time handed in (tests use a fake clock):
// when the next backup is due, whether a missed one is caught up (as a CronJob does: at most the most
// recent missed run, none once it is later than startingDeadlineSeconds), which finished backups
// retention expires, and what the cluster's LastBackupSucceeded condition says.
import { Cron } from 'croner';

/** Schedules are read in UTC (a CronJob without timeZone uses the controller manager's zone; ours is fixed). */
export const SCHEDULE_TIME_ZONE = 'UTC';
/** Failed VectorBackups of a schedule kept for inspection (CronJob's failedJobsHistoryLimit default). */
export const FAILED_BACKUPS_KEPT = 1;
/** Missed runs counted for the catch-up Event; past this the message says "at least". */
export const MISSED_RUNS_COUNTED_MAX = 100;

/** A parsed 5-field cron expression (or @hourly, @daily, ...); throws with the parser's message when invalid. */
export function parseSchedule(expression: string): Cron {
  return new Cron(expression.trim(), { mode: '5-part', timezone: SCHEDULE_TIME_ZONE });
}

/** The first run strictly after afterMs, or null when the expression never fires again. */
export function nextRunMs(cron: Cron, afterMs: number): number | null {
  return cron.nextRun(new Date(afterMs))?.getTime() ?? null;
}

/** The latest run at or before atMs, or null. */
export function latestRunAtOrBeforeMs(cron: Cron, atMs: number): number | null {
  // previousRuns() excludes its reference instant: one millisecond later includes a run exactly at atMs.
  return cron.previousRuns(1, new Date(atMs + 1))[0]?.getTime() ?? null;
}

export interface ScheduleInput {
  cron: Cron;
  suspend: boolean;
  startingDeadlineSeconds?: number;
  /** The schedule's creationTimestamp: runs before it never count as missed. */
  createdMs: number;
  /** status.lastScheduleTime: the scheduled time of the last backup created. */
  lastScheduleMs?: number;
  /** VectorBackups of this schedule that have not finished (a new one waits for them). */
  activeBackups: number;
  nowMs: number;
}

export type ScheduleDecision =
  | { action: 'run'; scheduledMs: number; missedRunsSkipped: number; nextMs: number | null }
  | { action: 'wait'; reason: 'suspended' | 'notDue' | 'active' | 'pastDeadline'; nextMs: number | null; missedMs?: number };

/**
 * What the schedule should do now. A run is due when a scheduled time lies in (lastScheduleTime or
 * creation, now]; only the most recent such time is run and earlier ones are skipped; with a
 * startingDeadlineSeconds, a time older than now - deadline is not run at all ('pastDeadline', once
 * per missed time it names). While a backup of the schedule is still running the next one waits (the
 * node takes one backup at a time), within the same deadline.
 */
export function decideSchedule(input: ScheduleInput): ScheduleDecision {
  const { cron, nowMs } = input;
  const nextMs = nextRunMs(cron, nowMs);
  if (input.suspend) return { action: 'wait', reason: 'suspended', nextMs: null };
  const earliestMs = input.lastScheduleMs ?? input.createdMs;
  const latestMs = latestRunAtOrBeforeMs(cron, nowMs);
  if (latestMs === null || latestMs <= earliestMs) return { action: 'wait', reason: 'notDue', nextMs };
  if (input.startingDeadlineSeconds !== undefined && latestMs < nowMs - input.startingDeadlineSeconds * 1000) {
    return { action: 'wait', reason: 'pastDeadline', nextMs, missedMs: latestMs };
  }
  if (input.activeBackups > 0) return { action: 'wait', reason: 'active', nextMs };
  let missedRunsSkipped = 0;
  for (let t = nextRunMs(cron, earliestMs); t !== null && t < latestMs && missedRunsSkipped < MISSED_RUNS_COUNTED_MAX; t = nextRunMs(cron, t)) missedRunsSkipped++;
  return { action: 'run', scheduledMs: latestMs, missedRunsSkipped, nextMs };
}

/** The VectorBackup a run creates: named after the schedule and the run's minute, so a retried create finds it (409). */
export function scheduledBackupName(scheduleName: string, scheduledMs: number): string {
  const suffix = `-${Math.floor(scheduledMs / 60_000)}`;
  return `${scheduleName.slice(0, 253 - suffix.length)}${suffix}`;
}

export interface FinishedBackup {
  name: string;
  phase: 'Succeeded' | 'Failed';
  /** completionTime, else creationTimestamp. */
  finishedMs: number;
}

export interface Retention {
  count: number;
  /** 0: no age limit. */
  maxAgeHours: number;
}

/**
 * The backups retention removes: successful ones past the newest `count`, and successful ones that
 * finished more than maxAgeHours ago except the newest (age alone never leaves a schedule without a
 * backup); failed ones past the newest FAILED_BACKUPS_KEPT. Pending and Running ones are never handed in.
 */
export function expiredBackups(backups: FinishedBackup[], retention: Retention, nowMs: number): { name: string; why: string }[] {
  const newestFirst = (a: FinishedBackup, b: FinishedBackup) => b.finishedMs - a.finishedMs || (a.name < b.name ? 1 : -1);
  const out: { name: string; why: string }[] = [];
  const succeeded = backups.filter((b) => b.phase === 'Succeeded').sort(newestFirst);
  const maxAgeMs = retention.maxAgeHours * 3_600_000;
  succeeded.forEach((b, i) => {
    if (i >= retention.count) out.push({ name: b.name, why: `beyond retention.count ${retention.count}` });
    else if (i > 0 && maxAgeMs > 0 && nowMs - b.finishedMs > maxAgeMs) out.push({ name: b.name, why: `older than retention.maxAgeHours ${retention.maxAgeHours}` });
  });
  backups.filter((b) => b.phase === 'Failed').sort(newestFirst).slice(FAILED_BACKUPS_KEPT)
    .forEach((b) => out.push({ name: b.name, why: `failed, and only the newest ${FAILED_BACKUPS_KEPT} failed backup is kept` }));
  return out;
}

export interface BackupOutcome {
  name: string;
  phase: 'Succeeded' | 'Failed';
  completionTime: string;
  backupId?: string;
  sizeBytes?: number;
  message?: string;
}
export type ConditionInput = { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };

/** LastBackupSucceeded from the newest finished VectorBackup of a cluster (by completionTime). */
export function lastBackupCondition(finished: BackupOutcome[]): ConditionInput {
  const newest = [...finished].sort((a, b) => Date.parse(b.completionTime) - Date.parse(a.completionTime) || (a.name < b.name ? 1 : -1))[0];
  if (!newest) return { status: 'Unknown', reason: 'NoBackupYet', message: 'no backup of this cluster has finished' };
  if (newest.phase === 'Succeeded') {
    return { status: 'True', reason: 'BackupSucceeded', message: `VectorBackup ${newest.name} (backup ${newest.backupId ?? '?'}, ${newest.sizeBytes ?? 0} bytes) succeeded at ${newest.completionTime}` };
  }
  return { status: 'False', reason: 'BackupFailed', message: `VectorBackup ${newest.name} failed at ${newest.completionTime}: ${newest.message ?? 'no message'}`.slice(0, 4096) };
}
