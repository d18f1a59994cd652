// Idle groups stop ticking (quiescence, as CockroachDB does): a leader whose group has nothing in
// flight and whose every member holds its whole log tells the followers so and stops sending
// heartbeats; they stop their election clocks. Anything that needs the group wakes it (a proposal,
// a read, a Raft message). Instead of a heartbeat per group, nodes exchange one liveness beat per
// node pair; a quiesced follower whose leader's node falls silent wakes with its clock moved on
// by one election timeout (the silence was that long at least), so it campaigns at once or soon; a quiesced leader that no longer hears a quorum wakes so that check-quorum
// can step it down. So N idle groups cost N-independent traffic.
import type { RaftDriver } from '../raft/driver.js';
import { nodeOfMember } from './identity.js';

/** Reserved transport group ids: not Raft groups (they contain characters group ids never do). */
export const LIVENESS_CHANNEL = '~live';
export const QUIESCE_CHANNEL = '~quiesce';

export interface QuiescenceOptions {
  /** A leader quiesces after this many consecutive idle ticks. */
  idleTicksBeforeQuiesce: number;
  /** Each node beats to each peer this often. */
  livenessIntervalMs: number;
  /** A peer not heard from for this long is taken for dead by quiesced groups. */
  livenessTimeoutMs: number;
}

export const QUIESCENCE_DEFAULTS: QuiescenceOptions = { idleTicksBeforeQuiesce: 4, livenessIntervalMs: 150, livenessTimeoutMs: 750 };

export interface QuiesceNotice {
  /** Group id, term, leader member, the index every member holds. */
  g: string;
  t: number;
  l: string;
  i: number;
}

/** Whether a leader's group may quiesce now: nothing waiting, everything committed and applied, every member caught up. */
export function leaderCanQuiesce(driver: RaftDriver): boolean {
  if (driver.waiting > 0) return false;
  const s = driver.core.status();
  if (s.role !== 'leader' || s.leadTransferee || s.commit !== s.lastIndex || s.applied !== s.lastIndex) return false;
  const members = [...s.conf.voters, ...s.conf.learners];
  return members.every((m) => m === s.id || s.progress[m]?.match === s.lastIndex);
}

/** Whether a follower may quiesce on a leader's notice: same term and leader, and it holds and knows committed the same log. */
export function followerAccepts(driver: RaftDriver, n: QuiesceNotice, fromNodeId: string): boolean {
  const s = driver.core.basicStatus();
  return nodeOfMember(n.l) === fromNodeId && s.role === 'follower' && s.term === n.t && s.lead === n.l && s.lastIndex === n.i && s.commit === n.i && driver.waiting === 0;
}

export function encodeNotice(n: QuiesceNotice): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(n));
}

export function decodeNotice(b: Uint8Array): QuiesceNotice | null {
  try {
    const n = JSON.parse(new TextDecoder().decode(b)) as QuiesceNotice;
    return typeof n.g === 'string' && typeof n.t === 'number' && typeof n.l === 'string' && typeof n.i === 'number' ? n : null;
  } catch {
    return null;
  }
}

/** When each peer node was last heard from (any message counts). */
export class Liveness {
  private readonly lastHeardMs = new Map<string, number>();
  private readonly startedMs = Date.now();

  constructor(private readonly timeoutMs: number) {}

  heard(nodeId: string): void {
    this.lastHeardMs.set(nodeId, Date.now());
  }

  /** How long since the node was last heard from (since this node started, when never). */
  silentMs(nodeId: string, now = Date.now()): number {
    return now - (this.lastHeardMs.get(nodeId) ?? this.startedMs);
  }

  /** Alive: heard within the timeout (a node not heard from since this one started gets the timeout as grace). */
  alive(nodeId: string, now = Date.now()): boolean {
    return now - (this.lastHeardMs.get(nodeId) ?? this.startedMs) <= this.timeoutMs;
  }
}
