// Before a node stops on purpose (SIGTERM: a rolling restart, a drain of its machine), it hands
// each Raft leadership it holds to an up-to-date follower, so the group goes on at once instead of
// waiting an election timeout for a leader that is gone. Bounded: a group whose transfer does not
// finish in time loses its leader the ordinary way.
import type { RaftStatus } from '../raft/core.js';
import { NO_NODE } from '../raft/types.js';
import { sleep } from '../util/deadline.js';
import type { HostedGroup } from './hosted-group.js';

/** Poll interval while waiting for the transfers to finish. */
const HANDOFF_POLL_MS = 20;

/** The voter to hand a leader's group to: the most caught-up one in replicate state (null when none). */
export function handoffTarget(s: RaftStatus): string | null {
  let best: { id: string; match: number } | null = null;
  for (const id of [...s.conf.voters].sort()) {
    const pr = s.progress[id];
    if (id === s.id || !pr || pr.state !== 'replicate') continue;
    if (!best || pr.match > best.match) best = { id, match: pr.match };
  }
  return best?.id ?? null;
}

export interface HandoffReport {
  /** Groups this node led when asked. */
  led: number;
  /** Of those, led by another member when the handoff ended. */
  handedOff: number;
  /** Led groups that had no follower to take over (a group of one, or none caught up). */
  noTarget: string[];
}

/**
 * Asks every group this node leads to transfer its leadership, then waits until another member leads
 * each of them (as this replica hears from its successor) or `timeoutMs` passed.
 */
export async function handOffLeaderships(groups: HostedGroup[], timeoutMs: number): Promise<HandoffReport> {
  const led = groups.filter((g) => g.isLeader);
  const noTarget = new Set<string>();
  // A transfer the core abandoned (its target did not catch up within an election timeout) is asked again.
  const ask = (g: HostedGroup): void => {
    const s = g.driver.core.status();
    if (s.role !== 'leader' || s.leadTransferee !== NO_NODE) return;
    const to = handoffTarget(s);
    if (to === null) noTarget.add(g.groupId);
    else {
      noTarget.delete(g.groupId);
      g.driver.transferLeader(to);
    }
  };
  led.forEach(ask);
  const successorKnown = (g: HostedGroup) => !g.isLeader && g.leaderMember !== NO_NODE;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting = led.filter((g) => !noTarget.has(g.groupId) && !successorKnown(g));
    if (waiting.length === 0 || Date.now() >= deadline) break;
    await sleep(HANDOFF_POLL_MS);
    waiting.forEach(ask);
  }
  return { led: led.length, handedOff: led.filter(successorKnown).length, noTarget: [...noTarget] };
}
