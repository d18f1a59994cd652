// Scale-down as the CloudNativePG and Strimzi operators do it, on JadeVectorDB's drain: the leaving
// members (the highest ordinals) are drained by the meta leader, then taken out of the cluster one at a
// time, and only then is the StatefulSet lowered. Every decision reads what the nodes report, so an
// operator restart or a new operator leader resumes where the cluster is.
import type { Action, Observed } from './plan.js';
import type { MemberDrain, MetaView } from './meta-view.js';

export interface ScaleDownStep {
  /** A scale-down is asked for and not finished. */
  pending: boolean;
  /** Every leaving member is out of the cluster: lower the StatefulSet now. */
  shrink: boolean;
  /** Leaving pods, highest ordinal first. */
  leaving: string[];
  actions: Action[];
  /** Why draining cannot go on (the node's refusal), and what to do. */
  blocked?: { reason: string; message: string };
  /** Where the drain is, in words. */
  progress: string;
}

function describe(d: MemberDrain | undefined): string {
  if (!d || d.state === null) return 'drain not started';
  if (d.state === 'drained') return 'drained';
  return `draining, ${d.replicas} replica${d.replicas === 1 ? '' : 's'} left`;
}

/** meta: the membership the nodes report (undefined when none answered). */
export function scaleDownStep(meta: MetaView | undefined, refusals: Observed['refusals'], name: string, desired: number, current: number): ScaleDownStep {
  if (desired >= current) return { pending: false, shrink: false, leaving: [], actions: [], progress: '' };
  const leaving = Array.from({ length: current - desired }, (_, i) => `${name}-${current - 1 - i}`);
  if (!meta) {
    return { pending: true, shrink: false, leaving, actions: [], progress: `waiting for a member to report the cluster's membership before draining ${leaving.join(', ')}` };
  }
  const inCluster = leaving.filter((p) => meta.members.has(p));
  if (inCluster.length === 0) return { pending: true, shrink: true, leaving, actions: [], progress: `${leaving.join(', ')} are out of the cluster` };

  const actions: Action[] = [];
  let removing = false;
  for (const pod of inCluster) {
    const d = meta.drains[pod];
    if (!d || d.state === null) actions.push({ type: 'drainMember', pod });
    else if (d.state === 'drained' && d.replicas === 0 && !removing) {
      // One membership change at a time, highest ordinal first.
      actions.push({ type: 'removeMember', pod });
      removing = true;
    }
  }
  const progress = `scaling down from ${current} to ${desired}: ${inCluster.map((p) => `${p} ${describe(meta.drains[p])}`).join('; ')}`;
  const refusedPod = inCluster.find((p) => refusals?.[p]);
  if (refusedPod) {
    const r = refusals![refusedPod];
    return {
      pending: true, shrink: false, leaving, actions, progress,
      blocked: {
        reason: r.reason,
        message: `Scale-down from ${current} to ${desired} needs ${leaving.join(', ')} drained first, and the cluster refused to drain ${refusedPod} (${r.reason}): ${r.message}. ` +
          `The StatefulSet stays at ${current} replicas; set spec.replicas back to ${current} to clear this.`,
      },
    };
  }
  return { pending: true, shrink: false, leaving, actions, progress };
}
