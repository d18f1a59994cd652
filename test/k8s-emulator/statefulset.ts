// StatefulSet controller: ordinal pods <sts>-0..N-1 (OrderedReady or Parallel), one PVC per
// volumeClaimTemplate per ordinal, scale-down from the highest ordinal, PVC retention policy,
// rolling update by template revision hash (highest ordinal first, one at a time), OnDelete, and status.
import { createHash } from 'node:crypto';
import { ApiError } from './errors.js';
import { canonicalJson } from './patch.js';
import type { ResourceType } from './resources.js';
import type { Store, StoreEvent } from './store.js';

/** Safety-net resync of every StatefulSet, in case an event was missed. */
const resyncIntervalMs = 1000;
/** StatefulSets whose last failure message is remembered (to record each distinct failure once). */
const failureMemoryMax = 1000;

function isPodReady(pod: any): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

export function templateRevision(stsName: string, template: any): string {
  const hash = createHash('sha256').update(canonicalJson(template ?? {})).digest('hex').slice(0, 10);
  return `${stsName}-${hash}`;
}

function ordinalOf(stsName: string, podName: string): number | undefined {
  if (!podName.startsWith(`${stsName}-`)) return undefined;
  const rest = podName.slice(stsName.length + 1);
  return /^\d+$/.test(rest) ? Number(rest) : undefined;
}

export class StatefulSetController {
  private readonly stsType: ResourceType;
  private readonly podType: ResourceType;
  private readonly pvcType: ResourceType;
  private readonly queue = new Set<string>();
  private scheduled = false;
  private unsubscribe?: () => void;
  private resyncTimer?: NodeJS.Timeout;
  private stopped = false;
  private readonly lastFailure = new Map<string, string>();

  constructor(private readonly store: Store) {
    this.stsType = store.findType('apps', 'v1', 'statefulsets')!;
    this.podType = store.findType('', 'v1', 'pods')!;
    this.pvcType = store.findType('', 'v1', 'persistentvolumeclaims')!;
  }

  start(): void {
    this.unsubscribe = this.store.subscribe((e) => this.onEvent(e));
    const resync = (): void => {
      if (this.stopped) return;
      for (const sts of this.store.list(this.stsType, undefined)) this.enqueue(sts.metadata.namespace, sts.metadata.name);
      this.resyncTimer = setTimeout(resync, resyncIntervalMs);
    };
    resync();
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
  }

  private onEvent(e: StoreEvent): void {
    const obj = e.object;
    if (e.typeKey === 'apps/statefulsets') {
      this.enqueue(obj.metadata.namespace, obj.metadata.name);
    } else if (e.typeKey === '/pods' || e.typeKey === '/persistentvolumeclaims') {
      for (const ref of obj.metadata.ownerReferences ?? []) {
        if (ref.kind === 'StatefulSet') this.enqueue(obj.metadata.namespace, ref.name);
      }
      if (e.typeKey === '/persistentvolumeclaims') {
        for (const sts of this.store.list(this.stsType, obj.metadata.namespace)) this.enqueue(obj.metadata.namespace, sts.metadata.name);
      }
    }
  }

  private enqueue(namespace: string, name: string): void {
    this.queue.add(`${namespace}/${name}`);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const keys = [...this.queue];
      this.queue.clear();
      for (const key of keys) {
        if (this.stopped) return;
        const [ns, n] = key.split('/');
        try {
          this.sync(ns, n);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          // A conflicting or rejected write: the next event or resync retries.
        }
      }
    });
  }

  private sync(namespace: string, name: string): void {
    const sts = this.store.getRaw(this.stsType, namespace, name);
    if (!sts || sts.metadata.deletionTimestamp) return;
    const spec = sts.spec;
    const replicas: number = spec.replicas ?? 1;
    const parallel = spec.podManagementPolicy === 'Parallel';
    const updateRevision = templateRevision(name, spec.template);
    const pods = new Map<number, any>();
    for (const pod of this.store.list(this.podType, namespace)) {
      if (!(pod.metadata.ownerReferences ?? []).some((r: any) => r.uid === sts.metadata.uid)) continue;
      const ordinal = ordinalOf(name, pod.metadata.name);
      if (ordinal !== undefined) pods.set(ordinal, pod);
    }
    this.syncPvcOwnership(sts);

    let blocked = false;
    for (let ordinal = 0; ordinal < replicas && !blocked; ordinal++) {
      const pod = pods.get(ordinal);
      if (!pod) {
        let created: any;
        try {
          this.ensureClaims(sts, ordinal);
          created = this.createPod(sts, ordinal, updateRevision);
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
          this.recordFailure(sts, `create Pod ${name}-${ordinal} in StatefulSet ${name} failed error: ${e.message}`);
          break;
        }
        pods.set(ordinal, created);
        if (!parallel) blocked = true;
        continue;
      }
      if (!parallel && (pod.metadata.deletionTimestamp || !isPodReady(pod))) blocked = true;
    }

    const condemned = [...pods.keys()].filter((o) => o >= replicas).sort((a, b) => b - a);
    if (!blocked && condemned.length > 0) {
      if (parallel) {
        for (const o of condemned) this.deletePod(pods.get(o));
      } else if (!condemned.some((o) => pods.get(o).metadata.deletionTimestamp)) {
        this.deletePod(pods.get(condemned[0]));
      }
      blocked = true;
    }
    this.cleanupScaledDownClaims(sts, replicas, pods);

    const strategy = spec.updateStrategy ?? { type: 'RollingUpdate' };
    if (!blocked && strategy.type !== 'OnDelete') {
      const partition: number = strategy.rollingUpdate?.partition ?? 0;
      const live = [...pods.entries()].filter(([o]) => o < replicas);
      const allSettled = live.every(([, p]) => !p.metadata.deletionTimestamp && isPodReady(p));
      if (allSettled) {
        const stale = live.filter(([o, p]) => o >= partition && p.metadata.labels?.['controller-revision-hash'] !== updateRevision).sort((a, b) => b[0] - a[0]);
        if (stale.length > 0) this.deletePod(stale[0][1]);
      }
    }
    this.writeStatus(sts, pods, replicas, updateRevision);
  }

  /** A Warning FailedCreate Event on the StatefulSet, as the real controller records (once per distinct message). */
  private recordFailure(sts: any, message: string): void {
    const key = sts.metadata.uid;
    if (this.lastFailure.get(key) === message) return;
    this.lastFailure.set(key, message);
    if (this.lastFailure.size > failureMemoryMax) this.lastFailure.delete(this.lastFailure.keys().next().value!);
    const eventType = this.store.findType('', 'v1', 'events')!;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    try {
      this.store.create(eventType, sts.metadata.namespace, {
        metadata: { generateName: `${sts.metadata.name}.` },
        involvedObject: { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: sts.metadata.namespace, name: sts.metadata.name, uid: sts.metadata.uid },
        reason: 'FailedCreate', message, type: 'Warning', count: 1, firstTimestamp: now, lastTimestamp: now,
        source: { component: 'statefulset-controller' },
      });
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
    }
  }

  private claimName(template: any, stsName: string, ordinal: number): string {
    return `${template.metadata.name}-${stsName}-${ordinal}`;
  }

  private ownerRef(sts: any): any {
    return { apiVersion: 'apps/v1', kind: 'StatefulSet', name: sts.metadata.name, uid: sts.metadata.uid, controller: true, blockOwnerDeletion: true };
  }

  private ensureClaims(sts: any, ordinal: number): void {
    const deleteWithSet = sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete';
    for (const template of sts.spec.volumeClaimTemplates ?? []) {
      const claim = this.claimName(template, sts.metadata.name, ordinal);
      if (this.store.getRaw(this.pvcType, sts.metadata.namespace, claim)) continue;
      this.store.create(this.pvcType, sts.metadata.namespace, {
        metadata: {
          name: claim,
          labels: { ...(sts.spec.selector?.matchLabels ?? {}), ...(template.metadata?.labels ?? {}) },
          ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
          ...(deleteWithSet ? { ownerReferences: [this.ownerRef(sts)] } : {}),
        },
        spec: structuredClone(template.spec ?? {}),
      });
    }
  }

  /** whenDeleted=Delete: PVCs carry an owner reference to the StatefulSet (so GC removes them), else not. */
  private syncPvcOwnership(sts: any): void {
    const deleteWithSet = sts.spec.persistentVolumeClaimRetentionPolicy?.whenDeleted === 'Delete';
    const templates: any[] = sts.spec.volumeClaimTemplates ?? [];
    if (templates.length === 0) return;
    for (const pvc of this.store.list(this.pvcType, sts.metadata.namespace)) {
      const belongs = templates.some((t) => ordinalOf(`${t.metadata.name}-${sts.metadata.name}`, pvc.metadata.name) !== undefined);
      if (!belongs || pvc.metadata.deletionTimestamp) continue;
      const refs: any[] = pvc.metadata.ownerReferences ?? [];
      const has = refs.some((r) => r.uid === sts.metadata.uid);
      if (has === deleteWithSet) continue;
      pvc.metadata.ownerReferences = deleteWithSet ? [...refs, this.ownerRef(sts)] : refs.filter((r) => r.uid !== sts.metadata.uid);
      this.store.update(this.pvcType, pvc.metadata.namespace, pvc.metadata.name, pvc, '');
    }
  }

  /** whenScaled=Delete: claims of ordinals ≥ replicas go once their pod is gone. */
  private cleanupScaledDownClaims(sts: any, replicas: number, pods: Map<number, any>): void {
    if (sts.spec.persistentVolumeClaimRetentionPolicy?.whenScaled !== 'Delete') return;
    for (const template of sts.spec.volumeClaimTemplates ?? []) {
      const prefix = `${template.metadata.name}-${sts.metadata.name}`;
      for (const pvc of this.store.list(this.pvcType, sts.metadata.namespace)) {
        const ordinal = ordinalOf(prefix, pvc.metadata.name);
        if (ordinal === undefined || ordinal < replicas || pods.has(ordinal) || pvc.metadata.deletionTimestamp) continue;
        this.store.delete(this.pvcType, pvc.metadata.namespace, pvc.metadata.name);
      }
    }
  }

  private createPod(sts: any, ordinal: number, revision: string): any {
    const template = structuredClone(sts.spec.template ?? {});
    const podName = `${sts.metadata.name}-${ordinal}`;
    const claimTemplates: any[] = sts.spec.volumeClaimTemplates ?? [];
    const claimNames = new Set(claimTemplates.map((t) => t.metadata.name));
    const podSpec = template.spec ?? {};
    podSpec.hostname = podName;
    if (sts.spec.serviceName) podSpec.subdomain = sts.spec.serviceName;
    podSpec.volumes = [
      ...(podSpec.volumes ?? []).filter((v: any) => !claimNames.has(v.name)),
      ...claimTemplates.map((t) => ({ name: t.metadata.name, persistentVolumeClaim: { claimName: this.claimName(t, sts.metadata.name, ordinal) } })),
    ];
    return this.store.create(this.podType, sts.metadata.namespace, {
      metadata: {
        name: podName,
        labels: {
          ...(template.metadata?.labels ?? {}),
          'statefulset.kubernetes.io/pod-name': podName,
          'apps.kubernetes.io/pod-index': String(ordinal),
          'controller-revision-hash': revision,
        },
        ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}),
        ownerReferences: [this.ownerRef(sts)],
      },
      spec: podSpec,
    });
  }

  private deletePod(pod: any): void {
    if (pod.metadata.deletionTimestamp) return;
    try {
      this.store.delete(this.podType, pod.metadata.namespace, pod.metadata.name);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
  }

  private writeStatus(sts: any, pods: Map<number, any>, replicas: number, updateRevision: string): void {
    const all = [...pods.values()];
    const ready = all.filter(isPodReady).length;
    const updated = all.filter((p) => p.metadata.labels?.['controller-revision-hash'] === updateRevision).length;
    let currentRevision: string = sts.status?.currentRevision ?? updateRevision;
    // As the real controller (completeRollingUpdate): only RollingUpdate moves currentRevision; with
    // OnDelete it stays at the revision the set started from.
    const rollingUpdate = (sts.spec.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
    const rolloutDone = rollingUpdate && updated === replicas && all.length === replicas && ready === replicas;
    if (rolloutDone) currentRevision = updateRevision;
    const current = all.filter((p) => p.metadata.labels?.['controller-revision-hash'] === currentRevision).length;
    const status = {
      observedGeneration: sts.metadata.generation,
      replicas: all.length,
      readyReplicas: ready,
      currentReplicas: current,
      updatedReplicas: updated,
      availableReplicas: ready,
      currentRevision,
      updateRevision,
      collisionCount: 0,
    };
    if (canonicalJson(status) === canonicalJson(sts.status)) return;
    const latest = this.store.getRaw(this.stsType, sts.metadata.namespace, sts.metadata.name);
    if (!latest) return;
    const next = structuredClone(latest);
    next.status = status;
    this.store.update(this.stsType, sts.metadata.namespace, sts.metadata.name, next, 'status');
  }
}
