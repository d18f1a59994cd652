// What the meta leader does besides ordering commands: keeps the meta group's membership in line
// with the nodes the meta state lists, one Raft membership change at a time. A node recorded by
// a join is added as a learner; a learner that caught up is promoted while there are fewer voters
// than the target (1 node: 1, 2: 1, 3-4: 3, 5 and more: 5 — odd, so a majority always survives
// the loss of a minority); a member whose node was removed, or replaced by a new incarnation,
// leaves the group.
import type { ConfChange } from '../raft/types.js';
import type { HostedGroup } from './hosted-group.js';
import { memberId } from './identity.js';
import type { MetaStateMachine } from './meta.js';

export const META_VOTERS_MAX = 5;
/** A learner is promoted once its log is at most this many entries behind the leader's. */
export const META_PROMOTE_LAG_MAX = 64;
const DUTY_INTERVAL_MS = 200;

export function metaVoterTarget(nodes: number): number {
  if (nodes >= META_VOTERS_MAX) return META_VOTERS_MAX;
  if (nodes >= 3) return 3;
  return 1;
}

export interface MetaDutiesOptions {
  metaGroup(): HostedGroup | null;
  meta: MetaStateMachine;
  log(line: string): void;
  isClosed(): boolean;
}

/** The next membership change the meta group needs, or null (pure, for tests). */
export function nextMetaChange(
  conf: { voters: readonly string[]; learners: readonly string[] },
  wanted: readonly string[],
  lagOf: (member: string) => number,
  self: string,
): ConfChange | null {
  const want = new Set(wanted);
  // Gone members first: a removed node's or an old incarnation's vote must stop counting.
  for (const m of [...conf.learners, ...conf.voters]) if (!want.has(m) && m !== self) return { type: 'removeNode', nodeId: m };
  for (const m of wanted) if (!conf.voters.includes(m) && !conf.learners.includes(m)) return { type: 'addLearner', nodeId: m };
  if (conf.voters.length < metaVoterTarget(wanted.length)) {
    const ready = conf.learners.filter((m) => lagOf(m) <= META_PROMOTE_LAG_MAX).sort((a, b) => lagOf(a) - lagOf(b) || (a < b ? -1 : 1));
    if (ready.length > 0) return { type: 'addVoter', nodeId: ready[0] };
  }
  return null;
}

export class MetaDuties {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly opts: MetaDutiesOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.run(), DUTY_INTERVAL_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async run(): Promise<void> {
    const g = this.opts.metaGroup();
    if (this.busy || !g || !g.isLeader || this.opts.isClosed() || !this.opts.meta.state.clusterId) return;
    this.busy = true;
    try {
      const status = g.driver.core.status();
      // Only on the whole meta state: a new leader may still be applying what its predecessors
      // committed (it would take members it has not seen added yet for strangers and remove them).
      if (!g.driver.core.leaderCaughtUp || g.driver.applied < status.commit) return;
      const wanted = Object.values(this.opts.meta.state.nodes).map((n) => memberId(n.id, n.incarnation));
      const lagOf = (m: string) => (status.progress[m] ? status.lastIndex - status.progress[m].match : Infinity);
      const change = nextMetaChange(status.conf, wanted, lagOf, status.id);
      if (!change) return;
      this.opts.log(`meta group: ${change.type} ${change.nodeId}`);
      await g.driver.proposeConfChange(change);
    } catch (e) {
      // Refused while another change is pending, or leadership moved: the next round tries again.
      this.opts.log(`meta group membership change not made yet: ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }
}
