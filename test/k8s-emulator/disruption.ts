// PodDisruptionBudgets: a controller that keeps their status (expectedPods, currentHealthy,
// desiredHealthy, disruptionsAllowed) and the pods/eviction subresource that honours them.
import { ApiError, invalid } from './errors.js';
import { canonicalJson } from './patch.js';
import type { ResourceType } from './resources.js';
import { labelSelectorObjectToRequirements, matchesLabels } from './selectors.js';
import type { Store, StoreEvent } from './store.js';

function isPodReady(pod: any): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** An int-or-percent value against a total; percentages round up like the disruption controller. */
function scaled(value: number | string, total: number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)%$/.exec(value);
  if (!m) return Number(value);
  return Math.ceil((Number(m[1]) * total) / 100);
}

export interface DisruptionStatus {
  observedGeneration: number;
  expectedPods: number;
  currentHealthy: number;
  desiredHealthy: number;
  disruptionsAllowed: number;
  conditions: any[];
}

function podsOf(store: Store, podType: ResourceType, pdb: any): any[] {
  if (!pdb.spec?.selector) return [];
  const requirements = labelSelectorObjectToRequirements(pdb.spec.selector);
  return store.list(podType, pdb.metadata.namespace).filter((p) => !p.metadata.deletionTimestamp && matchesLabels(requirements, p.metadata.labels));
}

/**
 * Pods the budget expects: with an integer minAvailable, the pods that exist; otherwise (like the
 * disruption controller) the replicas of the pods' controllers (a pod without one counts once).
 */
function expectedCount(store: Store, pdb: any, pods: any[]): number {
  if (typeof pdb.spec?.minAvailable === 'number') return pods.length;
  let total = 0;
  const controllers = new Set<string>();
  for (const pod of pods) {
    const ref = (pod.metadata.ownerReferences ?? []).find((r: any) => r.controller === true);
    const owner = ref ? store.getByUid(ref.uid) : undefined;
    if (!owner) {
      total += 1;
    } else if (!controllers.has(ref.uid)) {
      controllers.add(ref.uid);
      total += Number(owner.spec?.replicas ?? 1);
    }
  }
  return total;
}

export function computeDisruptionStatus(store: Store, podType: ResourceType, pdb: any, previous?: any): DisruptionStatus {
  const pods = podsOf(store, podType, pdb);
  const expectedPods = expectedCount(store, pdb, pods);
  const currentHealthy = pods.filter(isPodReady).length;
  let desiredHealthy: number;
  if (pdb.spec?.minAvailable !== undefined) desiredHealthy = scaled(pdb.spec.minAvailable, expectedPods);
  else if (pdb.spec?.maxUnavailable !== undefined) desiredHealthy = Math.max(0, expectedPods - scaled(pdb.spec.maxUnavailable, expectedPods));
  else desiredHealthy = expectedPods;
  const disruptionsAllowed = Math.max(0, currentHealthy - desiredHealthy);
  const allowed = disruptionsAllowed > 0;
  const old = (previous?.conditions ?? []).find((c: any) => c.type === 'DisruptionAllowed');
  const status = allowed ? 'True' : 'False';
  return {
    observedGeneration: pdb.metadata.generation,
    expectedPods,
    currentHealthy,
    desiredHealthy,
    disruptionsAllowed,
    conditions: [{
      type: 'DisruptionAllowed',
      status,
      reason: allowed ? 'SufficientPods' : 'InsufficientPods',
      message: '',
      observedGeneration: pdb.metadata.generation,
      lastTransitionTime: old?.status === status ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    }],
  };
}

export class DisruptionController {
  private readonly pdbType: ResourceType;
  private readonly podType: ResourceType;
  private scheduled = false;
  private unsubscribe?: () => void;
  private stopped = false;

  constructor(private readonly store: Store) {
    this.pdbType = store.findType('policy', 'v1', 'poddisruptionbudgets')!;
    this.podType = store.findType('', 'v1', 'pods')!;
  }

  start(): void {
    this.unsubscribe = this.store.subscribe((e: StoreEvent) => {
      if (e.typeKey === '/pods' || e.typeKey === 'policy/poddisruptionbudgets') this.schedule();
    });
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.stopped) this.syncAll();
    });
  }

  private syncAll(): void {
    for (const pdb of this.store.list(this.pdbType, undefined)) {
      const status = computeDisruptionStatus(this.store, this.podType, pdb, pdb.status);
      if (canonicalJson(status) === canonicalJson(pdb.status)) continue;
      pdb.status = status;
      try {
        this.store.update(this.pdbType, pdb.metadata.namespace, pdb.metadata.name, pdb, 'status');
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
      }
    }
  }
}

/** POST pods/<name>/eviction: delete the pod unless a budget covering it allows no disruption (429). */
export function evictPod(store: Store, namespace: string, name: string, body: any): any {
  const podType = store.findType('', 'v1', 'pods')!;
  const pdbType = store.findType('policy', 'v1', 'poddisruptionbudgets')!;
  const pod = store.get(podType, namespace, name);
  if (body?.metadata?.name && body.metadata.name !== name) {
    throw invalid('Eviction', 'policy', String(body.metadata.name), [{ field: 'metadata.name', message: `metadata.name: Invalid value: ${JSON.stringify(body.metadata.name)}: name in URL does not match name in Eviction object` }]);
  }
  const success = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 };
  if (pod.metadata.deletionTimestamp) return success;
  const budgets = store.list(pdbType, namespace).filter((pdb) => pdb.spec?.selector && matchesLabels(labelSelectorObjectToRequirements(pdb.spec.selector), pod.metadata.labels));
  if (budgets.length > 1) {
    throw new ApiError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.');
  }
  // An unready pod does not count as healthy, so evicting it never lowers currentHealthy.
  if (budgets.length === 1 && isPodReady(pod)) {
    const status = computeDisruptionStatus(store, podType, budgets[0], budgets[0].status);
    if (status.disruptionsAllowed <= 0) {
      throw new ApiError(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
        causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${budgets[0].metadata.name} needs ${status.desiredHealthy} healthy pods and has ${status.currentHealthy} currently` }],
      });
    }
  }
  store.delete(podType, namespace, name, body?.deleteOptions ?? {});
  return success;
}
