// Progress of a replica move, measured where it happens: the group leader counts the snapshot
// bytes it sends to each member (SnapshotSends, in the group's status), and the meta leader's
// executor reads that status each round, adds the target's log lag, and keeps a short window of
// observations per move for the catch-up rate (MoveProgressBook). Nothing here goes into the meta
// Raft log: these numbers change many times a second and a new meta leader simply starts afresh.
// Pure (no I/O, no clock of its own): callers pass the time.
import type { GroupStatus } from './hosted-group.js';
import { MOVE_PROMOTE_LAG_MAX, type MoveRecord } from './moves.js';

/** Rates are taken over the last few seconds: short enough to follow a change, long enough to smooth chunk bursts. */
export const RATE_WINDOW_MS = 5_000;
/** A rate over less time than this is noise (one chunk's burst), so it is not reported. */
export const RATE_SPAN_MIN_MS = 200;

export interface Sample {
  atMs: number;
  value: number;
}

/**
 * Units per second over the window ending at the newest sample: the increase from the newest
 * sample at least `windowMs` old (or the oldest one kept) to the newest. Null when the samples
 * span less than RATE_SPAN_MIN_MS. A decrease gives a negative rate (callers decide what it means).
 */
export function ratePerSecond(samples: readonly Sample[], windowMs = RATE_WINDOW_MS): number | null {
  if (samples.length < 2) return null;
  const last = samples[samples.length - 1];
  let base = samples[0];
  for (const s of samples) {
    if (s.atMs <= last.atMs - windowMs) base = s;
    else break;
  }
  const spanMs = last.atMs - base.atMs;
  if (spanMs < RATE_SPAN_MIN_MS) return null;
  return ((last.value - base.value) * 1000) / spanMs;
}

/** Seconds until `remaining` units are done at `perSecond`; null when either is unknown or nothing moves forward. */
export function etaSecondsOf(remaining: number | null, perSecond: number | null): number | null {
  if (remaining === null || perSecond === null) return null;
  if (remaining <= 0) return 0;
  if (!(perSecond > 0)) return null;
  return remaining / perSecond;
}

/** Drops samples older than needed for the window (the newest one before it stays: the rate's base). */
export function pruneSamples(samples: Sample[], nowMs: number, windowMs = RATE_WINDOW_MS): void {
  let keepFrom = 0;
  for (let i = 0; i < samples.length; i++) if (samples[i].atMs <= nowMs - windowMs) keepFrom = i;
  if (keepFrom > 0) samples.splice(0, keepFrom);
}

/** One snapshot the group leader sends (or sent) to a member, as its status reports it. */
export interface SnapshotSendStatus {
  /** Raft index of the snapshot. */
  index: number;
  bytesTotal: number;
  /** Written to the target's stream so far; equals bytesTotal once the target acknowledged all. */
  bytesSent: number;
  /** Points in the snapshot image; null when the group's state machine does not say (the meta group). */
  points: number | null;
  state: 'sending' | 'sent' | 'failed';
  startedAtMs: number;
  finishedAtMs: number | null;
  /** While sending: over the last RATE_WINDOW_MS; once sent: the whole transfer's average. */
  bytesPerSecond: number | null;
}

interface SnapshotSend extends Omit<SnapshotSendStatus, 'bytesPerSecond'> {
  samples: Sample[];
}

/** The leader's snapshot sends of one group, the latest per member. */
export class SnapshotSends {
  private readonly byMember = new Map<string, SnapshotSend>();

  start(member: string, snap: { index: number; bytesTotal: number; points: number | null }, nowMs: number): void {
    this.byMember.set(member, { ...snap, bytesSent: 0, state: 'sending', startedAtMs: nowMs, finishedAtMs: null, samples: [{ atMs: nowMs, value: 0 }] });
  }

  /** `bytesSent` is the running total of this send. */
  sent(member: string, bytesSent: number, nowMs: number): void {
    const s = this.byMember.get(member);
    if (!s || s.state !== 'sending') return;
    s.bytesSent = bytesSent;
    s.samples.push({ atMs: nowMs, value: bytesSent });
    pruneSamples(s.samples, nowMs);
  }

  finish(member: string, ok: boolean, nowMs: number): void {
    const s = this.byMember.get(member);
    if (!s || s.state !== 'sending') return;
    s.state = ok ? 'sent' : 'failed';
    s.finishedAtMs = nowMs;
    s.samples = [];
  }

  /** Sends to members still in `members` (the others are forgotten), with their rates at `nowMs`. */
  status(members: readonly string[], nowMs: number): Record<string, SnapshotSendStatus> {
    const out: Record<string, SnapshotSendStatus> = {};
    for (const [member, s] of this.byMember) {
      if (!members.includes(member)) {
        this.byMember.delete(member);
        continue;
      }
      const { samples, ...rest } = s;
      let bytesPerSecond: number | null = null;
      if (s.state === 'sending') {
        // A send that stalled shows its rate falling: "now" counts as a sample of the same total.
        bytesPerSecond = ratePerSecond([...samples, { atMs: Math.max(nowMs, samples[samples.length - 1]?.atMs ?? nowMs), value: s.bytesSent }]);
      } else if (s.state === 'sent' && s.finishedAtMs !== null && s.finishedAtMs - s.startedAtMs >= RATE_SPAN_MIN_MS) {
        bytesPerSecond = (s.bytesTotal * 1000) / (s.finishedAtMs - s.startedAtMs);
      }
      out[member] = { ...rest, bytesPerSecond };
    }
    return out;
  }

  get size(): number {
    return this.byMember.size;
  }
}

/** What fills the target now: the leader's snapshot, then the log; null before either is seen. */
export type MovePhase = 'snapshot' | 'log' | null;

/** A move's progress as the meta leader last observed it; null where it is not known. */
export interface MoveProgress {
  phase: MovePhase;
  /** The snapshot the target received or receives (null: none sent by the current leader, e.g. it filled from the log). */
  snapshotIndex: number | null;
  snapshotBytesSent: number | null;
  snapshotBytesTotal: number | null;
  snapshotPoints: number | null;
  /** Snapshot phase: bytes per second (window); log phase: null. */
  bytesPerSecond: number | null;
  /** Leader's last index − target's match index. */
  lagEntries: number | null;
  /** Log phase: how fast the lag shrinks, entries per second (negative: the target falls behind). */
  catchUpEntriesPerSecond: number | null;
  /** Snapshot phase: until the snapshot is sent; log phase: until the lag is down to the promotion threshold. */
  etaSeconds: number | null;
  observedAtMs: number;
}

/** Progress from one observation of the group leader's status (rates of the log phase come from the book). */
export function progressOf(status: GroupStatus, target: string, nowMs: number, catchUpEntriesPerSecond: number | null = null): MoveProgress {
  const snap = status.snapshots?.[target] ?? null;
  const lag = status.lag?.[target];
  const lagEntries = lag === undefined ? null : lag;
  const sending = snap?.state === 'sending';
  const phase: MovePhase = sending ? 'snapshot' : lagEntries !== null || snap ? 'log' : null;
  let etaSeconds: number | null = null;
  if (sending) etaSeconds = etaSecondsOf(snap.bytesTotal - snap.bytesSent, snap.bytesPerSecond);
  else if (lagEntries !== null) etaSeconds = etaSecondsOf(lagEntries - MOVE_PROMOTE_LAG_MAX, catchUpEntriesPerSecond);
  return {
    phase,
    snapshotIndex: snap?.index ?? null,
    snapshotBytesSent: snap?.bytesSent ?? null,
    snapshotBytesTotal: snap?.bytesTotal ?? null,
    snapshotPoints: snap?.points ?? null,
    bytesPerSecond: sending ? snap.bytesPerSecond : null,
    lagEntries,
    catchUpEntriesPerSecond: sending ? null : catchUpEntriesPerSecond,
    etaSeconds,
    observedAtMs: nowMs,
  };
}

/** The meta leader's latest progress per move, with a window of lag observations for the catch-up rate. */
export class MoveProgressBook {
  private readonly byMove = new Map<string, { progress: MoveProgress; lagSamples: Sample[]; settled?: true }>();

  /** Records an observation of the group leader's status for an active move with a target. */
  observe(move: Pick<MoveRecord, 'id' | 'to'>, status: GroupStatus, nowMs: number): MoveProgress | null {
    if (!move.to) return null;
    const entry = this.byMove.get(move.id) ?? { progress: progressOf(status, move.to, nowMs), lagSamples: [] };
    const lag = status.lag?.[move.to];
    if (lag !== undefined) {
      entry.lagSamples.push({ atMs: nowMs, value: lag });
      pruneSamples(entry.lagSamples, nowMs);
    }
    // The lag shrinking is the rate of catching up.
    const shrink = ratePerSecond(entry.lagSamples);
    entry.progress = progressOf(status, move.to, nowMs, shrink === null ? null : -shrink);
    this.byMove.set(move.id, entry);
    return entry.progress;
  }

  get(moveId: string): MoveProgress | null {
    return this.byMove.get(moveId)?.progress ?? null;
  }

  all(): Record<string, MoveProgress> {
    return Object.fromEntries([...this.byMove].map(([id, e]) => [id, e.progress]));
  }

  /** A move ended: its rates and ETA no longer mean anything (0 s left when done, unknown when rolled back). */
  settle(moveId: string, done: boolean): void {
    const e = this.byMove.get(moveId);
    if (!e || e.settled) return;
    e.settled = true;
    e.lagSamples = [];
    e.progress = { ...e.progress, bytesPerSecond: null, catchUpEntriesPerSecond: null, etaSeconds: done ? 0 : null };
  }

  /** Forgets moves the meta state no longer lists. */
  retain(moveIds: ReadonlySet<string>): void {
    for (const id of this.byMove.keys()) if (!moveIds.has(id)) this.byMove.delete(id);
  }
}
