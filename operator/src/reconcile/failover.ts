// Failover: a member whose pod has been NotReady (or gone) for spec.failover.notReadyDeadAfterSeconds
// is declared dead to the meta leader (POST /cluster/peer/{id}/dead), which re-creates its replicas on
// the other members. Kubernetes often knows first (a lost machine's pods go NotReady when its kubelet
// stops reporting), while the nodes' own failure detector waits its longer dead time. Pure: the
// controller keeps the clock of missing pods and the requests already made between reconciles.
import type { KubeObject } from './children.js';
import type { MetaView } from './meta-view.js';

/** A declaration the node did not confirm (NODE_ALIVE, no answer) is asked again no sooner than this. */
export const DECLARE_DEAD_RETRY_MS = 30_000;

export interface DeadRequest {
  /** Since when the pod was NotReady when the request was made (one NotReady episode). */
  since: string;
  /** RFC 3339: when it was asked. */
  at: string;
  /** The node answered that the member is declared dead. */
  confirmed: boolean;
}

export interface FailoverInput {
  /** Pods the StatefulSet should have (<name>-0 .. <name>-(n-1)). */
  podNames: string[];
  pods: KubeObject[];
  /** The membership the nodes report (undefined when none answered). */
  meta: MetaView | undefined;
  /** RFC 3339. */
  now: string;
  notReadyDeadAfterSeconds: number;
  /** Since when each expected pod has been seen missing (see nextMissingSince). */
  missingSince: Record<string, string>;
  /** Declarations already asked for, by pod. */
  requests: Record<string, DeadRequest>;
}

export interface DeadCandidate {
  pod: string;
  /** RFC 3339: since when the pod has been NotReady or missing. */
  since: string;
  notReadySeconds: number;
}

/** Since when the pod has not been Ready: its Ready condition's last transition (else its creation); undefined while Ready. */
export function notReadySince(pod: KubeObject): string | undefined {
  const conditions = ((pod.status as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } | undefined)?.conditions ?? []);
  const ready = conditions.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return undefined;
  return ready?.lastTransitionTime ?? (pod.metadata as { creationTimestamp?: string }).creationTimestamp;
}

/**
 * A container runs but has not passed its startup probe: the node is starting (replaying its data,
 * which may take minutes), not lost. A lost machine's pod keeps the state its kubelet last reported.
 */
export function isStarting(pod: KubeObject): boolean {
  const statuses = ((pod.status as { containerStatuses?: { started?: boolean; state?: { running?: unknown } }[] } | undefined)?.containerStatuses ?? []);
  return statuses.some((c) => c.state?.running !== undefined && c.started === false);
}

/** The missing-pod clock for the next reconcile: a pod keeps its first-seen-missing time until it exists again. */
export function nextMissingSince(podNames: string[], pods: KubeObject[], previous: Record<string, string>, now: string): Record<string, string> {
  const present = new Set(pods.map((p) => p.metadata.name));
  return Object.fromEntries(podNames.filter((p) => !present.has(p)).map((p) => [p, previous[p] ?? now]));
}

/** The members to declare dead now: members of the meta group, not already declared dead, not starting, NotReady past the setting. */
export function membersToDeclareDead(input: FailoverInput): DeadCandidate[] {
  const { meta } = input;
  if (input.notReadyDeadAfterSeconds <= 0 || !meta) return [];
  const nowMs = Date.parse(input.now);
  const byName = new Map(input.pods.map((p) => [p.metadata.name, p]));
  const out: DeadCandidate[] = [];
  for (const pod of input.podNames) {
    // The meta leader refuses to declare itself dead: wait until the others elect another.
    if (!meta.members.has(pod) || meta.dead.has(pod) || meta.leader === pod) continue;
    const object = byName.get(pod);
    if (object && isStarting(object)) continue;
    const since = object ? notReadySince(object) : input.missingSince[pod];
    if (since === undefined) continue;
    const notReadySeconds = Math.floor((nowMs - Date.parse(since)) / 1000);
    if (!(notReadySeconds >= input.notReadyDeadAfterSeconds)) continue;
    const asked = input.requests[pod];
    if (asked && asked.since === since && (asked.confirmed || nowMs - Date.parse(asked.at) < DECLARE_DEAD_RETRY_MS)) continue;
    out.push({ pod, since, notReadySeconds });
  }
  return out;
}
