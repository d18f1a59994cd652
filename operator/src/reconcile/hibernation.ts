// Hibernation: spec.replicas 0 stops every pod without draining or removing a member (the StatefulSet
// goes to 0, its PVCs are kept whatever pvcRetention.whenScaled says), so the cluster keeps its id,
// its membership and every point on the volumes. Waking at the size it had restarts the same members
// on their volumes; waking larger adds new members as a scale-up does; waking smaller is refused,
// since the members left stopped would hold replicas no drain moved away. Pure.
import type { VectorClusterStatus } from '../api/types.js';

export type Hibernation = NonNullable<VectorClusterStatus['hibernation']>;

export interface HibernationInput {
  /** spec.replicas. */
  desired: number;
  /** The StatefulSet's replicas now (undefined while it does not exist). */
  stsReplicas: number | undefined;
  /** Pods of the cluster that still exist. */
  pods: number;
  previous: Hibernation | undefined;
  /** Members the last status listed (the fallback when the size was not recorded). */
  previousMembers: number;
  /** RFC 3339. */
  now: string;
}

export type HibernationStep =
  | { state: 'awake' }
  /** Wake now: the StatefulSet goes back up (status.hibernation is dropped). */
  | { state: 'waking'; record: Hibernation }
  /** spec.replicas is 0: the StatefulSet goes to 0; hibernating while pods still exist; `started` in the reconcile that records it. */
  | { state: 'hibernating' | 'hibernated'; record: Hibernation; started: boolean }
  /** Asked to wake at fewer members than it had: the StatefulSet stays at 0. */
  | { state: 'refused'; record: Hibernation; message: string };

export function hibernationStep(input: HibernationInput): HibernationStep {
  const { previous } = input;
  if (input.desired === 0) {
    // The size is recorded in the reconcile that lowers the StatefulSet (status is written last, so
    // after a failed status write the StatefulSet may be at 0 already: the last members listed count).
    const replicas = input.stsReplicas === undefined ? 0 : input.stsReplicas > 0 ? input.stsReplicas : input.previousMembers;
    const record = previous ?? { replicas, since: input.now };
    return { state: input.pods > 0 ? 'hibernating' : 'hibernated', record, started: previous === undefined };
  }
  if (!previous) return { state: 'awake' };
  if (input.desired < previous.replicas) {
    return {
      state: 'refused', record: previous,
      message: `spec.replicas is ${input.desired}, fewer than the ${previous.replicas} members the cluster had when it was hibernated: the members left stopped would keep their replicas, which no drain moved away. ` +
        `The StatefulSet stays at 0; set spec.replicas to ${previous.replicas} to wake the cluster (then scale down, which drains members first), or back to 0.`,
    };
  }
  return { state: 'waking', record: previous };
}
