// Fencing members by annotation (CloudNativePG's cnpg.io/fencedInstances): the VectorCluster
// annotation jadevectordb.io/fenced-pods holds a JSON list of pod names, or ["*"] for every pod.
// The operator asks each listed pod's node to fence itself (POST /cluster/fence: it closes its data
// and Raft groups and serves only /healthz and the fence routes; the pod stays, NotReady) and, once a
// pod leaves the list, to unfence it (DELETE /cluster/fence). It unfences only pods it fenced itself
// (status.fencedPods): a node fenced by hand through its API stays fenced. Fenced members are not
// declared dead by the operator's failover (they are stopped on purpose), but the nodes' own failure
// detector still declares a member dead after JADE_NODE_DEAD_AFTER_MS, as for any silent member. Pure.
import type { NodeStatusReport } from './plan.js';

export const FENCED_PODS_ANNOTATION = 'jadevectordb.io/fenced-pods';
/** The reason a fence records (GET /cluster/fence on the node shows it). */
export const FENCE_REASON = `annotation ${FENCED_PODS_ANNOTATION}`;

export type FencingAction = { type: 'fenceMember'; pod: string } | { type: 'unfenceMember'; pod: string };

export interface FencingInput {
  /** The annotation's value, if any. */
  annotation: string | undefined;
  /** Pods the StatefulSet should have. */
  podNames: string[];
  nodeStatus: Record<string, NodeStatusReport>;
  /** status.fencedPods of the last reconcile: the pods the operator fenced. */
  previous: string[] | undefined;
}

export interface FencingStep {
  /** Pods the annotation asks to be fenced (of those the StatefulSet has). */
  wanted: Set<string>;
  actions: FencingAction[];
  /** status.fencedPods: pods the annotation names that their nodes report fenced, plus those still to unfence. */
  fencedPods: string[];
  /** Why the annotation was not understood (nothing is fenced or unfenced by it then). */
  invalid?: string;
}

/** The annotation's pods: a JSON list of names, ["*"] meaning all. */
export function parseFencedPods(annotation: string | undefined, podNames: string[]): { pods: Set<string> } | { invalid: string } {
  if (annotation === undefined || annotation.trim() === '') return { pods: new Set() };
  let value: unknown;
  try {
    value = JSON.parse(annotation);
  } catch {
    return { invalid: `${FENCED_PODS_ANNOTATION} is not JSON: give a list of pod names, e.g. ["${podNames[0] ?? 'name-0'}"], or ["*"]` };
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) return { invalid: `${FENCED_PODS_ANNOTATION} must be a JSON list of pod names (or ["*"])` };
  if (value.includes('*')) return { pods: new Set(podNames) };
  return { pods: new Set(value.filter((p) => podNames.includes(p))) };
}

function reportsFenced(report: NodeStatusReport | undefined): boolean | undefined {
  return report?.ok ? report.status.fenced === true : undefined;
}

export function fencingStep(input: FencingInput): FencingStep {
  const parsed = parseFencedPods(input.annotation, input.podNames);
  const previous = new Set(input.previous ?? []);
  if ('invalid' in parsed) return { wanted: previous, actions: [], fencedPods: [...previous].sort(), invalid: parsed.invalid };
  const actions: FencingAction[] = [];
  const fenced = new Set<string>();
  for (const pod of input.podNames) {
    const now = reportsFenced(input.nodeStatus[pod]);
    if (parsed.pods.has(pod)) {
      if (now === false) actions.push({ type: 'fenceMember', pod });
      // Recorded as soon as the operator asks: only then may it unfence the pod later.
      if (now !== undefined || previous.has(pod)) fenced.add(pod);
    } else if (previous.has(pod)) {
      if (now === true) {
        actions.push({ type: 'unfenceMember', pod });
        fenced.add(pod); // until the node reports it serving again
      } else if (now === undefined) fenced.add(pod); // no answer yet: ask again later
    }
  }
  return { wanted: parsed.pods, actions, fencedPods: [...fenced].sort() };
}
