// Rolling restart: the StatefulSet updates pods OnDelete, and this step decides which pod on an old
// revision is deleted next (the StatefulSet recreates it from the new template). One pod at a time,
// followers before the meta leader, never while the cluster is short of a member or a replica, and
// only once every member has rejoined (in the cluster, a leader known for each of its groups, caught
// up) for ROLLOUT_SETTLE_MS: a node that answers Ready has not necessarily caught up yet, and a second
// pod restarted too soon can take the quorum of a group with it.
import type { RolloutStatus } from '../api/types.js';
import type { KubeObject } from './children.js';
import type { MetaView } from './meta-view.js';
import type { NodeStatusReport } from './plan.js';

/** How long every member must have been rejoined before the next pod restarts. */
export const ROLLOUT_SETTLE_MS = 10_000;
/** A replica at most this many entries behind its group's leader counts as caught up (writes keep flowing). */
export const ROLLOUT_LAG_ENTRIES_MAX = 100;
export const ROLLOUT_PAUSED_ANNOTATION = 'jadevectordb.io/rollout-paused';
/** The StatefulSet controller's label naming the template revision a pod was made from. */
export const REVISION_LABEL = 'controller-revision-hash';

export interface RolloutInput {
  statefulSet: KubeObject | undefined;
  /** Members the StatefulSet should have (<name>-0 .. <name>-(n-1)). */
  podNames: string[];
  pods: KubeObject[];
  nodeStatus: Record<string, NodeStatusReport>;
  meta: MetaView | undefined;
  clusterId: string | undefined;
  previous: RolloutStatus | undefined;
  paused: boolean;
  /** Why membership is changing right now (a scale-up or a drain), if it is. */
  busy?: string;
  /** RFC 3339. */
  now: string;
  settleMs: number;
}

export interface RolloutStep {
  /** Pods are on an old revision, or the last restarted one has not rejoined yet. */
  active: boolean;
  /** status.rollout; undefined while no rollout was ever needed. */
  status?: RolloutStatus;
  /** The pod to delete now. */
  restart?: string;
  started: boolean;
  finished: boolean;
}

function isReady(pod: KubeObject): boolean {
  return (((pod.status as any)?.conditions ?? []) as { type: string; status: string }[]).some((c) => c.type === 'Ready' && c.status === 'True');
}
function ordinalOf(pod: string): number {
  return Number(pod.slice(pod.lastIndexOf('-') + 1));
}
function revisionOf(pod: KubeObject | undefined): string | undefined {
  return pod?.metadata.labels?.[REVISION_LABEL];
}

/** Why a member has not rejoined, or null when it has (see the top of this file). */
export function notRejoined(pod: string, input: Pick<RolloutInput, 'pods' | 'nodeStatus' | 'meta' | 'clusterId'>): string | null {
  const object = input.pods.find((p) => p.metadata.name === pod);
  if (!object) return 'its pod does not exist';
  if (object.metadata.deletionTimestamp) return 'its pod is terminating';
  if (!isReady(object)) return 'its pod is not ready';
  const report = input.nodeStatus[pod];
  if (!report) return 'its pod has no IP yet';
  if (!report.ok) return `/v1/status: ${report.error}`;
  const s = report.status;
  if (!s.clusterId) return 'it reports no cluster id yet';
  if (input.clusterId && s.clusterId !== input.clusterId) return `it reports cluster ${s.clusterId}, not ${input.clusterId}`;
  if (!s.joined || (input.meta && !input.meta.members.has(pod))) return 'it is not a member of the meta group';
  const groups = s.groups ?? [];
  const leaderless = groups.filter((g) => !g.leader).map((g) => g.groupId);
  if (leaderless.length > 0) return `no leader known for ${leaderless.join(', ')}`;
  // (Under writes a replica applies a moment after it learns the commit: only a backlog counts.)
  const applying = groups.filter((g) => g.commit - g.applied > ROLLOUT_LAG_ENTRIES_MAX);
  if (applying.length > 0) return `applying a backlog of committed entries of ${applying.map((g) => g.groupId).join(', ')}`;
  // Its lag as the leaders of its groups see it.
  if (s.memberId) {
    for (const other of Object.values(input.nodeStatus)) {
      if (!other.ok) continue;
      for (const g of other.status.groups ?? []) {
        const lag = g.role === 'leader' ? g.lag?.[s.memberId] : undefined;
        if (lag !== undefined && lag > ROLLOUT_LAG_ENTRIES_MAX) return `${lag} entries behind the leader of ${g.groupId}`;
      }
    }
  }
  return null;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

export function rolloutStep(input: RolloutInput): RolloutStep {
  const { statefulSet: sts, previous } = input;
  const idle: RolloutStep = { active: false, ...(previous ? { status: previous } : {}), started: false, finished: false };
  const stsStatus = (sts?.status ?? {}) as { observedGeneration?: number; updateRevision?: string };
  const revision = stsStatus.updateRevision;
  if (!sts || !revision || (stsStatus.observedGeneration ?? 0) < (sts.metadata.generation ?? 0)) {
    // The StatefulSet controller has not recorded the current template yet: nothing to decide on.
    if (!previous || !wasActive(previous)) return idle;
    return { ...idle, active: true, status: { ...previous, waiting: 'waiting for the StatefulSet controller to record the new pod template' } };
  }
  const podsByName = new Map(input.pods.map((p) => [p.metadata.name, p]));
  const stale = input.podNames.filter((p) => revisionOf(podsByName.get(p)) !== undefined && revisionOf(podsByName.get(p)) !== revision);
  const why = new Map(input.podNames.map((p) => [p, notRejoined(p, input)]));
  const lagging = input.podNames.filter((p) => why.get(p) !== null);
  const done = input.podNames.filter((p) => revisionOf(podsByName.get(p)) === revision && why.get(p) === null).length;
  const total = input.podNames.length;
  const sameRollout = previous !== undefined && previous.revision === revision;
  // The pod restarted last (by this rollout or an earlier one): the next restart waits for it to settle.
  const current = previous?.current ?? '';
  const base = { revision, done, total, paused: input.paused };
  // The settle clock: since when every member has been seen rejoined (reset by any member that has not).
  const rejoinedSince = lagging.length > 0 ? '' : previous?.rejoinedSince || input.now;

  if (stale.length === 0) {
    if (!previous || !wasActive(previous)) return idle;
    if (lagging.length === 0) return { active: false, status: { ...base, current, waiting: '', rejoinedSince }, started: false, finished: true };
    const waiting = `waiting for ${lagging[0]} to rejoin: ${why.get(lagging[0])}`;
    return { active: true, status: { ...base, current, waiting, rejoinedSince }, started: !sameRollout, finished: false };
  }

  const wait = (waiting: string): RolloutStep => ({ active: true, status: { ...base, current, waiting, rejoinedSince }, started: !sameRollout, finished: false });
  if (input.paused) return wait(`paused by the ${ROLLOUT_PAUSED_ANNOTATION} annotation`);
  if (input.busy) return wait(`waiting for ${input.busy} to finish`);
  if (!input.clusterId) return wait('waiting for the cluster to be founded');
  const under = input.meta?.underReplicated;
  if (under && under.count > 0) return wait(`waiting for re-replication: ${under.count} shard group${under.count === 1 ? '' : 's'} below the replication factor`);
  // The pod deleted last is still listed with its old revision when the cache lags our own delete.
  if (sameRollout && current && revisionOf(podsByName.get(current)) !== revision) return wait(`waiting for ${current} to be recreated from the new pod template`);
  if (lagging.length > 0) return wait(`waiting for ${lagging[0]} to rejoin: ${why.get(lagging[0])}`);
  const settledMs = Date.parse(input.now) - Date.parse(rejoinedSince);
  if (current && settledMs < input.settleMs) {
    return wait(`waiting for the cluster to settle after ${current} rejoined: every member has been rejoined for ${seconds(settledMs)}, ${seconds(input.settleMs)} needed`);
  }
  // Followers first (highest ordinal first, as a StatefulSet rolls); the meta leader last, so the
  // meta group changes leader once, onto a member already on the new revision.
  const leader = input.meta?.leader ?? null;
  const next = [...stale].sort((a, b) => Number(a === leader) - Number(b === leader) || ordinalOf(b) - ordinalOf(a))[0];
  return { active: true, restart: next, started: !sameRollout, finished: false, status: { ...base, current: next, waiting: `restarting ${next}`, rejoinedSince: '' } };
}

/** A rollout not yet finished (a finished one keeps its counts and the pod restarted last). */
function wasActive(s: RolloutStatus): boolean {
  return s.done < s.total || Boolean(s.waiting);
}
