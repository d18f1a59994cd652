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

/**
 * The voter to hand a leader's group to: the most caught-up one, preferring those the leader streams
 * to (replicate state) over those it probes (null when the group has no other voter). The leader
 * catches the target up before it hands over, so a probed one still works, only slower.
 */
export function handoffTarget(s: RaftStatus): string | null {
  let best: { id: string; streaming: boolean; match: number } | null = null;
  for (const id of [...s.conf.voters].sort()) {
    const pr = s.progress[id];
    if (id === s.id || !pr) continue;
    const c = { id, streaming: pr.state === 'replicate', match: pr.match };
    if (!best || (c.streaming && !best.streaming) || (c.streaming === best.streaming && c.match > best.match)) best = c;
  }
  return best?.id ?? null;
}

export interface HandoffReport {
  /** Groups this node led when asked. */
  led: number;
  /** Of those, led by another member when the handoff ended. */
  handedOff: number;
  /** Led groups that have no other voter to take over. */
  noTarget: string[];
}

/**
 * Asks every group this node leads to transfer its leadership, then waits until another member leads
 * each of them (as this replica hears from its successor), the core abandoned the transfer (its
 * target did not take over within an election timeout: it may be down too), or `timeoutMs` passed.
 */
export async function handOffLeaderships(groups: HostedGroup[], timeoutMs: number): Promise<HandoffReport> {
  const led = groups.filter((g) => g.isLeader);
  const noTarget: string[] = [];
  const asked: HostedGroup[] = [];
  for (const g of led) {
    const to = handoffTarget(g.driver.core.status());
    if (to === null) noTarget.push(g.groupId);
    else {
      g.driver.transferLeader(to);
      asked.push(g);
    }
  }
  const successorKnown = (g: HostedGroup) => !g.isLeader && g.leaderMember !== NO_NODE;
  const abandoned = (g: HostedGroup) => g.isLeader && g.driver.core.status().leadTransferee === NO_NODE;
  const deadline = Date.now() + timeoutMs;
  while (asked.some((g) => !successorKnown(g) && !abandoned(g)) && Date.now() < deadline) await sleep(HANDOFF_POLL_MS);
  return { led: led.length, handedOff: led.filter(successorKnown).length, noTarget };
}
