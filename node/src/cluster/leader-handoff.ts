// Before a node stops on purpose (SIGTERM: a rolling restart, a drain of its machine), it hands
// each Raft leadership it holds to an up-to-date follower, so the group goes on at once instead of
// waiting an election timeout for a leader that is gone. Bounded: a group whose transfer does not
// finish in time loses its leader the ordinary way.
import type { RaftStatus } from '../raft/core.js';
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

/** Asks every group this node leads to transfer its leadership, then waits until they did or `timeoutMs` passed. */
export async function handOffLeaderships(groups: HostedGroup[], timeoutMs: number): Promise<HandoffReport> {
  const led = groups.filter((g) => g.isLeader);
  const noTarget: string[] = [];
  for (const g of led) {
    const to = handoffTarget(g.driver.core.status());
    if (to === null) noTarget.push(g.groupId);
    else g.driver.transferLeader(to);
  }
  const deadline = Date.now() + timeoutMs;
  const waiting = () => led.filter((g) => !noTarget.includes(g.groupId) && g.isLeader);
  while (waiting().length > 0 && Date.now() < deadline) await sleep(HANDOFF_POLL_MS);
  return { led: led.length, handedOff: led.filter((g) => !g.isLeader && g.leaderMember !== '').length, noTarget };
}
