// Table tests of the pure reconcile planner: each case builds an Observed world (cluster, children, pods,
// PVCs, node /v1/status), runs plan(), and checks the exact actions and the computed status, including
// that applying a plan's own effects leads to a fixed point with no further actions.
import { describe, expect, it } from 'vitest';
import type { VectorCluster, VectorClusterSpec } from '../../operator/src/api/types.js';
import { CHILD_KINDS, FINALIZER, SPEC_HASH_ANNOTATION, childNames } from '../../operator/src/reconcile/children.js';
import type { ChildKind, KubeObject } from '../../operator/src/reconcile/children.js';
import { plan } from '../../operator/src/reconcile/plan.js';
import type { Action, Observed } from '../../operator/src/reconcile/plan.js';
import { reportedMeta } from '../../operator/src/reconcile/meta-view.js';

const NOW = '2026-01-01T00:00:00Z';
const LATER = '2026-01-01T00:05:00Z';

function cluster(spec: VectorClusterSpec, extra: Partial<VectorCluster['metadata']> = {}, status?: VectorCluster['status']): VectorCluster {
  return {
    apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster',
    metadata: { name: 'vc', namespace: 'db', uid: 'uid-1', generation: 1, finalizers: [FINALIZER], ...extra },
    spec, ...(status ? { status } : {}),
  };
}
function world(c: VectorCluster, patch: Partial<Observed> = {}): Observed {
  return { cluster: c, children: {}, pods: [], pvcs: [], nodeStatus: {}, generatedApiKey: 'k3y', generatedClusterSecret: 'cluster-s3cret', now: NOW, ...patch };
}
function pod(name: string, ready: boolean): KubeObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'db' }, status: { podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] } };
}
function pvc(name: string, size: string): KubeObject {
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'db' }, spec: { resources: { requests: { storage: size } } } };
}
const kindOf: Record<string, ChildKind> = Object.fromEntries(CHILD_KINDS.map((k) => [k, k]));
function childKindFor(o: KubeObject): ChildKind {
  const names = childNames('vc');
  const hit = CHILD_KINDS.find((k) => names[k] === o.metadata.name && kindMatches(k, o.kind));
  if (!hit) throw new Error(`unknown child ${o.kind}/${o.metadata.name}`);
  return kindOf[hit];
}
function kindMatches(k: ChildKind, kind: string): boolean {
  const expected: Record<ChildKind, string> = {
    serviceAccount: 'ServiceAccount', role: 'Role', roleBinding: 'RoleBinding', apiKeySecret: 'Secret', clusterSecret: 'Secret', configMap: 'ConfigMap',
    headlessService: 'Service', clientService: 'Service', podDisruptionBudget: 'PodDisruptionBudget', networkPolicy: 'NetworkPolicy', statefulSet: 'StatefulSet',
  };
  return expected[k] === kind;
}
function deepMerge(target: any, patch: any): any {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out = { ...(typeof target === 'object' && target !== null ? target : {}) };
  for (const [k, v] of Object.entries(patch)) out[k] = v === null ? undefined : deepMerge(out[k], v);
  return out;
}
const CLUSTER_ID = 'cid-1';
/**
 * Plays a plan's effects the way the API server, a settled StatefulSet controller and the nodes would:
 * pods wait unjoined (and not Ready) until one is asked to bootstrap; then every pod joins and reports
 * the meta group's members. A drain asked for is 'draining' after one step and 'drained' after the next;
 * a removed member leaves the meta group's list.
 */
function applyPlan(o: Observed, actions: Action[], podsReady = true): Observed {
  const children = { ...o.children };
  let c = o.cluster;
  for (const a of actions) {
    if (a.type === 'create') children[childKindFor(a.object)] = a.object;
    if (a.type === 'patch' && a.ref.kind !== 'PersistentVolumeClaim') {
      const k = childKindFor({ apiVersion: a.ref.apiVersion, kind: a.ref.kind, metadata: { name: a.ref.name } });
      children[k] = deepMerge(children[k], a.patch);
    }
    if (a.type === 'updateStatus') c = { ...c, status: a.status };
    if (a.type === 'addFinalizer') c = { ...c, metadata: { ...c.metadata, finalizers: [...(c.metadata.finalizers ?? []), FINALIZER] } };
  }
  const sts = children.statefulSet;
  let pods = o.pods;
  if (sts) {
    const replicas = (sts.spec as any).replicas as number;
    children.statefulSet = { ...sts, metadata: { ...sts.metadata, generation: 1 }, status: { observedGeneration: 1, replicas, readyReplicas: podsReady ? replicas : 0, updatedReplicas: replicas } };
    const founded = actions.some((a) => a.type === 'bootstrapCluster') || Object.values(o.nodeStatus).some((r) => r.ok && r.status.clusterId);
    const names = Array.from({ length: replicas }, (_, i) => `vc-${i}`);
    pods = names.map((n) => pod(n, podsReady && founded));
    const prevMeta = reportedMeta(o.nodeStatus);
    const asked = (type: string) => new Set(actions.flatMap((a) => (a.type === type ? [(a as { pod: string }).pod] : [])));
    const removed = asked('removeMember');
    const drainAsked = asked('drainMember');
    const stillMembers = [...(prevMeta?.members ?? [])].filter((n) => !removed.has(n));
    const members = [...new Set([...stillMembers, ...names.filter((n) => !prevMeta || !o.pods.some((p) => p.metadata.name === n))])].filter((n) => !removed.has(n));
    const metaDrains = Object.fromEntries(members.map((n) => {
      const prev = prevMeta?.drains[n];
      if (drainAsked.has(n)) return [n, { state: 'draining', replicas: 2 }];
      if (prev?.state === 'draining') return [n, { state: 'drained', replicas: 0 }];
      return [n, prev ?? { state: null, replicas: 2 }];
    }));
    const nodeStatus: Observed['nodeStatus'] = {};
    for (const n of names) {
      nodeStatus[n] = {
        ok: true,
        status: founded
          ? { mode: 'cluster', nodeId: n, clusterId: CLUSTER_ID, joined: true, ready: podsReady, metaMembers: members, metaDrains, metaLeader: 'vc-0', metaTerm: 1 }
          : { mode: 'cluster', nodeId: n, clusterId: null, joined: false, ready: false },
      };
    }
    return { ...o, cluster: c, children, pods, nodeStatus };
  }
  return { ...o, cluster: c, children, pods };
}
/** Runs plan until it returns nothing (or gives up), returning the final world. */
function settle(o: Observed, podsReady = true): Observed {
  let w = o;
  for (let i = 0; i < 5; i++) {
    const actions = plan(w);
    if (actions.length === 0) return w;
    w = applyPlan(w, actions, podsReady);
  }
  throw new Error(`no fixed point: ${JSON.stringify(plan(w))}`);
}
const types = (actions: Action[]) => actions.map((a) => a.type);
const condition = (o: Observed, type: string) => o.cluster.status?.conditions?.find((c) => c.type === type);
const statusOf = (actions: Action[]) => (actions.find((a) => a.type === 'updateStatus') as Extract<Action, { type: 'updateStatus' }> | undefined)?.status;
const eventsOf = (actions: Action[]) => actions.flatMap((a) => (a.type === 'event' ? [`${a.eventType}/${a.reason}`] : []));
const patches = (actions: Action[]) => actions.flatMap((a) => (a.type === 'patch' ? [`${a.ref.kind}/${a.ref.name}`] : []));

describe('plan: creation', () => {
  it('a new cluster gets the finalizer, every child in dependency order, and a Provisioning status', () => {
    const actions = plan(world(cluster({}, { finalizers: [] })));
    expect(actions[0]).toEqual({ type: 'addFinalizer' });
    const created = actions.flatMap((a) => (a.type === 'create' ? [`${a.object.kind}/${a.object.metadata.name}`] : []));
    expect(created).toEqual(['ServiceAccount/vc-node', 'Role/vc-node', 'RoleBinding/vc-node', 'Secret/vc-api-key', 'Secret/vc-cluster-secret', 'ConfigMap/vc-config',
      'Service/vc-peers', 'Service/vc', 'PodDisruptionBudget/vc', 'StatefulSet/vc']);
    for (const a of actions) if (a.type === 'create') expect(a.object.metadata.ownerReferences).toEqual([{ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', name: 'vc', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
    const status = statusOf(actions)!;
    expect(status.phase).toBe('Provisioning');
    expect(status.observedGeneration).toBe(1);
    expect(status.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'Creating' });
    expect(types(actions).at(-1)).toBe('updateStatus');
  });

  it('reaches Running with all members joined and then plans nothing', () => {
    const w = settle(world(cluster({ replicas: 3 }, { finalizers: [] })));
    expect(w.cluster.status).toMatchObject({ phase: 'Running', readyReplicas: 3, replicas: 3, selector: 'app.kubernetes.io/name=jadevectordb,jadevectordb.io/cluster=vc' });
    expect(w.cluster.status!.members!.map((m) => [m.pod, m.ready, m.joined])).toEqual([['vc-0', true, true], ['vc-1', true, true], ['vc-2', true, true]]);
    expect(condition(w, 'Ready')).toMatchObject({ status: 'True', reason: 'AllMembersReady' });
    expect(condition(w, 'Progressing')).toMatchObject({ status: 'False' });
    expect(plan(w)).toEqual([]);
  });

  it('records the role and counters each node reports on /v1/status', () => {
    const base = settle(world(cluster({ replicas: 1, sharding: { replicationFactor: 1 } })));
    const actions = plan({ ...base, nodeStatus: { 'vc-0': { ok: true, status: { nodeId: 'vc-0', role: 'leader', version: '0.1.0', ready: true, collections: 2, points: 10 } } } });
    expect(statusOf(actions)!.members).toEqual([{ pod: 'vc-0', ready: true, joined: true, role: 'leader', nodeId: 'vc-0', version: '0.1.0', collections: 2, points: 10 }]);
  });

  it('uses the given API key Secret instead of generating one, and reports it missing', () => {
    const actions = plan(world(cluster({ security: { apiKeySecret: { name: 'mine', key: 'token' } } }), { userApiKeySecretExists: false }));
    // Only the cluster secret is generated; the API key is the user's.
    expect(actions.flatMap((a) => (a.type === 'create' && a.object.kind === 'Secret' ? [a.object.metadata.name] : []))).toEqual(['vc-cluster-secret']);
    const sts = actions.find((a) => a.type === 'create' && a.object.kind === 'StatefulSet') as Extract<Action, { type: 'create' }>;
    const env = (sts.object.spec as any).template.spec.containers[0].env;
    expect(env.find((e: any) => e.name === 'JADE_API_KEY').valueFrom).toEqual({ secretKeyRef: { name: 'mine', key: 'token' } });
    expect(statusOf(actions)).toMatchObject({ phase: 'Degraded', apiKeySecret: 'mine' });
  });

  it('reports a missing TLS Secret (the pods cannot mount it), and is healthy once it exists', () => {
    const tls = cluster({ security: { tlsSecret: { name: 'vc-tls' } } });
    const missing = statusOf(plan(world(tls, { tlsSecretExists: false })))!;
    expect(missing.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'SecretNotFound', message: 'TLS Secret vc-tls not found: the pods cannot start until it exists' });
    const there = statusOf(plan(world(tls, { tlsSecretExists: true })))!;
    expect(there.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'False' });
  });
});

describe('plan: what spec.backup names', () => {
  const degraded = (spec: Parameters<typeof cluster>[0], backupRefs: Observed['backupRefs']) =>
    statusOf(plan(world(cluster(spec), { backupRefs })))!.conditions!.find((c) => c.type === 'Degraded');
  const s3 = { backup: { target: { s3: { bucket: 'jade-backups', credentialsSecret: 's3-creds' } } } };
  it('a missing credentials Secret, or one without a key, is Degraded with the reason', () => {
    expect(degraded(s3, { credentialsSecretKeys: null })).toMatchObject({ status: 'True', reason: 'SecretNotFound', message: 'backup credentials Secret s3-creds not found: the pods cannot start until it exists' });
    expect(degraded(s3, { credentialsSecretKeys: ['AWS_ACCESS_KEY_ID'] })).toMatchObject({ status: 'True', reason: 'SecretKeyNotFound', message: 'backup credentials Secret s3-creds has no key AWS_SECRET_ACCESS_KEY: the pods cannot start until it does' });
    expect(degraded(s3, { credentialsSecretKeys: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] })).toMatchObject({ status: 'False' });
  });
  it('a missing encryption key Secret or backup PVC is Degraded', () => {
    expect(degraded({ backup: { encryptionKeySecret: { name: 'bk' } } }, { encryptionKeySecretKeys: null })).toMatchObject({ status: 'True', reason: 'SecretNotFound', message: 'backup key Secret bk not found: the pods cannot start until it exists' });
    expect(degraded({ backup: { encryptionKeySecret: { name: 'bk', key: 'keys' } } }, { encryptionKeySecretKeys: ['backup-keys'] })).toMatchObject({ status: 'True', reason: 'SecretKeyNotFound', message: 'backup key Secret bk has no key keys: the pods cannot start until it does' });
    expect(degraded({ backup: { target: { filesystem: { path: '/mnt/b', claimName: 'shared' } } } }, { claimExists: false })).toMatchObject({ status: 'True', reason: 'PersistentVolumeClaimNotFound', message: 'backup PersistentVolumeClaim shared not found: the pods cannot start until it exists' });
    expect(degraded({ backup: { target: { filesystem: { path: '/mnt/b', claimName: 'shared' } } } }, { claimExists: true })).toMatchObject({ status: 'False' });
  });
});

describe('plan: the access files spec.security names', () => {
  const status = (spec: Parameters<typeof cluster>[0], accessRefs: Observed['accessRefs']) => statusOf(plan(world(cluster(spec), { accessRefs })))!;
  const degraded = (spec: Parameters<typeof cluster>[0], accessRefs: Observed['accessRefs']) => status(spec, accessRefs).conditions!.find((c) => c.type === 'Degraded');
  it('a missing Secret or key is Degraded with the reason; present, healthy', () => {
    expect(degraded({ security: { apiKeysSecret: { name: 'keys' } } }, { apiKeysSecret: null })).toMatchObject({ status: 'True', reason: 'SecretNotFound', message: 'API keys file Secret keys not found: the pods cannot start until it exists' });
    expect(degraded({ security: { jwtSecret: { name: 'jwt', key: 'k' } } }, { jwtSecret: { keys: ['other'], digest: null } })).toMatchObject({ status: 'True', reason: 'SecretKeyNotFound', message: 'JWT secret Secret jwt has no key k: the pods cannot start until it does' });
    expect(degraded({ security: { nodeTls: { crlSecret: { name: 'crl' } } } }, { crlSecret: null })).toMatchObject({ status: 'True', reason: 'SecretNotFound', message: 'node TLS CRL Secret crl not found: the pods cannot start until it exists' });
    expect(degraded({ security: { apiKeysSecret: { name: 'keys' }, jwtSecret: { name: 'jwt' } } }, { apiKeysSecret: { keys: ['keys.json'], digest: 'a' }, jwtSecret: { keys: ['jwt-secret'], digest: 'b' } })).toMatchObject({ status: 'False' });
  });
  it('a changed keys file changes the StatefulSet the plan creates', () => {
    const stsOf = (digest: string) => {
      const actions = plan(world(cluster({ security: { apiKeysSecret: { name: 'keys' } } }), { accessRefs: { apiKeysSecret: { keys: ['keys.json'], digest } } }));
      const sts = actions.find((a) => a.type === 'create' && a.object.kind === 'StatefulSet') as Extract<Action, { type: 'create' }>;
      return JSON.stringify((sts.object.spec as any).template);
    };
    expect(stsOf('one')).not.toBe(stsOf('two'));
    expect(stsOf('one')).toBe(stsOf('one'));
  });
});

describe('plan: updates', () => {
  const running = () => settle(world(cluster({ replicas: 3 })));

  it('an image change patches only the StatefulSet', () => {
    const w = running();
    const actions = plan({ ...w, cluster: { ...w.cluster, metadata: { ...w.cluster.metadata, generation: 2 }, spec: { ...w.cluster.spec, image: 'repo/jadevectordb:2' } } });
    expect(patches(actions)).toEqual(['StatefulSet/vc']);
    const patch = (actions.find((a) => a.type === 'patch') as any).patch;
    expect(patch.spec.template.spec.containers[0].image).toBe('repo/jadevectordb:2');
    expect(patch.spec.volumeClaimTemplates).toBeUndefined();
    expect(statusOf(actions)!.observedGeneration).toBe(2);
  });

  it('a node config change patches the ConfigMap and rolls the pods through the config hash', () => {
    const w = running();
    const actions = plan({ ...w, cluster: { ...w.cluster, spec: { ...w.cluster.spec, node: { hnsw: { efSearch: 128 } } } } });
    expect(patches(actions).sort()).toEqual(['ConfigMap/vc-config', 'StatefulSet/vc']);
    const cm = actions.find((a) => a.type === 'patch' && a.ref.kind === 'ConfigMap') as any;
    expect(cm.patch.data.JADE_HNSW_EF).toBe('128');
  });

  it('a StatefulSet scaled by hand is put back to spec.replicas', () => {
    const w = running();
    const sts = w.children.statefulSet!;
    const actions = plan({ ...w, children: { ...w.children, statefulSet: { ...sts, spec: { ...(sts.spec as any), replicas: 1 } } } });
    expect(patches(actions)).toEqual(['StatefulSet/vc']);
    expect((actions.find((a) => a.type === 'patch') as any).patch.spec.replicas).toBe(3);
  });

  it('never rewrites the generated cluster Secret', () => {
    const w = running();
    const secret = w.children.clusterSecret!;
    const tampered = { ...secret, metadata: { ...secret.metadata, annotations: { [SPEC_HASH_ANNOTATION]: 'other' } } };
    expect(plan({ ...w, children: { ...w.children, clusterSecret: tampered }, generatedClusterSecret: 'new' })).toEqual([]);
  });

  it('never rewrites the generated API key Secret', () => {
    const w = running();
    const secret = w.children.apiKeySecret!;
    const tampered = { ...secret, metadata: { ...secret.metadata, annotations: { [SPEC_HASH_ANNOTATION]: 'other' } } };
    expect(plan({ ...w, children: { ...w.children, apiKeySecret: tampered }, generatedApiKey: 'new' })).toEqual([]);
  });

  it('storage growth expands existing PVCs; equal sizes in other units do nothing', () => {
    const w = running();
    const grown = { ...w, cluster: { ...w.cluster, spec: { ...w.cluster.spec, storage: { size: '20Gi' } } }, pvcs: [pvc('data-vc-0', '10Gi'), pvc('data-vc-1', '20480Mi')] };
    const actions = plan(grown);
    expect(patches(actions)).toEqual(['PersistentVolumeClaim/data-vc-0']);
    expect(eventsOf(actions)).toContain('Normal/ExpandingVolume');
  });

  it('keeps lastTransitionTime of conditions whose status did not change', () => {
    const w = running();
    const ready = condition(w, 'Ready')!;
    const again = plan({ ...w, now: LATER, nodeStatus: { 'vc-0': { ok: true, status: { role: 'leader' } } } });
    expect(statusOf(again)!.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe(ready.lastTransitionTime);
  });
});

describe('plan: scaling', () => {
  it('scale up 3 → 5 raises the StatefulSet, reports Scaling, then joins the new members', () => {
    const w = settle(world(cluster({ replicas: 3 })));
    const up = { ...w, cluster: { ...w.cluster, spec: { ...w.cluster.spec, replicas: 5 } } };
    const actions = plan(up);
    expect(patches(actions)).toEqual(['StatefulSet/vc']);
    expect((actions.find((a) => a.type === 'patch') as any).patch.spec.replicas).toBe(5);
    expect(eventsOf(actions)).toContain('Normal/ScalingUp');
    expect(statusOf(actions)!.phase).toBe('Scaling');
    const next = applyPlan(up, actions);
    // The nodes join by themselves through the seed; the operator only reports what the meta group lists.
    const after = plan(next);
    expect(types(after)).not.toContain('bootstrapCluster');
    expect(after.flatMap((a) => (a.type === 'event' && a.reason === 'MemberJoined' ? [a.message.split(' ')[1]] : []))).toEqual(['vc-3', 'vc-4']);
    const done = settle(next);
    expect(done.cluster.status).toMatchObject({ phase: 'Running', readyReplicas: 5 });
  });

  it('scale down 5 → 3 drains vc-4 and vc-3, removes them one at a time, then lowers the StatefulSet', () => {
    const w = settle(world(cluster({ replicas: 5 })));
    const down = { ...w, cluster: { ...w.cluster, metadata: { ...w.cluster.metadata, generation: 2 }, spec: { ...w.cluster.spec, replicas: 3 } } };
    const first = plan(down);
    expect(first.filter((a) => a.type === 'drainMember')).toEqual([{ type: 'drainMember', pod: 'vc-4' }, { type: 'drainMember', pod: 'vc-3' }]);
    expect(patches(first)).toEqual([]); // the StatefulSet stays at 5 while they drain
    expect(statusOf(first)).toMatchObject({ phase: 'Scaling' });
    expect(statusOf(first)!.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'Draining' });
    const draining = applyPlan(down, first);
    const second = plan(draining);
    expect(types(second).filter((t) => t === 'drainMember' || t === 'removeMember')).toEqual([]); // waits
    expect(statusOf(second)!.conditions!.find((c) => c.type === 'Progressing')!.message).toContain('vc-4 draining, 2 replicas left');
    const drained = applyPlan(draining, second);
    const third = plan(drained);
    expect(third.filter((a) => a.type === 'removeMember')).toEqual([{ type: 'removeMember', pod: 'vc-4' }]); // one at a time
    const fourth = plan(applyPlan(drained, third));
    expect(fourth.filter((a) => a.type === 'removeMember')).toEqual([{ type: 'removeMember', pod: 'vc-3' }]);
    expect(patches(fourth)).toEqual([]);
    const out = applyPlan(applyPlan(drained, third), fourth);
    const shrink = plan(out);
    expect(patches(shrink)).toEqual(['StatefulSet/vc']);
    expect((shrink.find((a) => a.type === 'patch') as any).patch.spec.replicas).toBe(3);
    expect(eventsOf(shrink)).toContain('Normal/ScalingDown');
    const done = settle(applyPlan(out, shrink));
    expect(done.cluster.status).toMatchObject({ phase: 'Running', readyReplicas: 3, replicas: 3 });
    expect(done.cluster.status!.conditions!.find((c) => c.type === 'ScalingBlocked')).toMatchObject({ status: 'False' });
  });

  it('a refused drain sets ScalingBlocked with the node\'s reason and keeps the StatefulSet', () => {
    const w = settle(world(cluster({ replicas: 3 })));
    const down = { ...w, cluster: { ...w.cluster, spec: { ...w.cluster.spec, replicas: 2 } }, refusals: { 'vc-2': { reason: 'NO_TARGET_NODE', message: 'no other node can take the replica of g1' } } };
    const actions = plan(down);
    expect(patches(actions)).toEqual([]);
    expect(eventsOf(actions)).toContain('Warning/ScalingBlocked');
    const blocked = statusOf(actions)!.conditions!.find((c) => c.type === 'ScalingBlocked')!;
    expect(blocked).toMatchObject({ status: 'True', reason: 'NO_TARGET_NODE' });
    expect(blocked.message).toContain('no other node can take the replica of g1');
    expect(blocked.message).toContain('StatefulSet stays at 3');
    // The drain is asked again each time (it succeeds once a node can take the replicas).
    expect(actions.filter((a) => a.type === 'drainMember')).toEqual([{ type: 'drainMember', pod: 'vc-2' }]);
    expect(statusOf(actions)!.phase).toBe('Running');
  });

  it('never lowers the StatefulSet while no member reports the membership', () => {
    const w = settle(world(cluster({ replicas: 3 })));
    const actions = plan({ ...w, cluster: { ...w.cluster, spec: { ...w.cluster.spec, replicas: 2 } }, nodeStatus: {} });
    expect(patches(actions)).toEqual([]);
    expect(types(actions)).not.toContain('drainMember');
  });

  it('deletes the volume of a member that was drained and left, once its pod is gone', () => {
    const w = settle(world(cluster({ replicas: 3 })));
    const withPvcs = { ...w, pvcs: [pvc('data-vc-0', '10Gi'), pvc('data-vc-3', '10Gi')] };
    const actions = plan(withPvcs);
    expect(actions.filter((a) => a.type === 'delete').map((a) => (a as any).ref.name)).toEqual(['data-vc-3']);
    expect(eventsOf(actions)).toContain('Normal/DeletingVolume');
    // Still listed by the meta group (e.g. a cluster recreated on retained volumes): kept.
    const listed = { ...withPvcs, nodeStatus: Object.fromEntries(Object.entries(w.nodeStatus).map(([k, r]) => [k, r.ok ? { ok: true as const, status: { ...r.status, metaMembers: [...r.status.metaMembers!, 'vc-3'] } } : r])) };
    expect(plan(listed).some((a) => a.type === 'delete')).toBe(false);
  });
});

describe('plan: health and invalid specs', () => {
  it('a member that stops being ready after Running makes the cluster Degraded', () => {
    const w = settle(world(cluster({ replicas: 3 })));
    const actions = plan({ ...w, pods: [w.pods[0], pod('vc-1', false), w.pods[2]] });
    const status = statusOf(actions)!;
    expect(status).toMatchObject({ phase: 'Degraded', readyReplicas: 2 });
    expect(status.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'MembersNotReady', message: 'not ready: vc-1' });
    expect(eventsOf(actions)).toEqual(['Warning/Degraded']);
    const recovered = plan({ ...applyPlan({ ...w, pods: [w.pods[0], pod('vc-1', false), w.pods[2]] }, actions), pods: w.pods });
    expect(eventsOf(recovered)).toEqual(['Normal/ClusterReady', 'Normal/Recovered']);
  });

  it('a node that answers ready:false on /v1/status is not counted ready', () => {
    const w = settle(world(cluster({ replicas: 3 })));
    const status = statusOf(plan({ ...w, nodeStatus: { 'vc-2': { ok: true, status: { ready: false } } } }))!;
    expect(status.readyReplicas).toBe(2);
    expect(status.members![2].message).toBe('node reports not ready');
  });

  it('an invalid spec changes no child and reports Failed with the reason', () => {
    const w = settle(world(cluster({ replicas: 3 })));
    const actions = plan({ ...w, cluster: { ...w.cluster, spec: { replicas: -1 } } });
    expect(types(actions).filter((t) => t !== 'event' && t !== 'updateStatus')).toEqual([]);
    expect(eventsOf(actions)).toEqual(['Warning/InvalidSpec']);
    expect(statusOf(actions)!.phase).toBe('Failed');
    expect(statusOf(actions)!.reason).toContain('spec: spec.replicas must be at least 0');
  });
});

describe('plan: deletion', () => {
  const deleting = (whenDeleted: 'Retain' | 'Delete', finalizers = [FINALIZER]) => world(
    cluster({ storage: { pvcRetention: { whenDeleted } } }, { deletionTimestamp: NOW, finalizers }),
    { pvcs: [pvc('data-vc-0', '10Gi'), pvc('data-vc-1', '10Gi')] },
  );

  it('whenDeleted=Delete deletes the PVCs, then removes the finalizer', () => {
    const actions = plan(deleting('Delete'));
    expect(actions.filter((a) => a.type === 'delete').map((a) => (a as any).ref.name)).toEqual(['data-vc-0', 'data-vc-1']);
    expect(types(actions).at(-1)).toBe('removeFinalizer');
  });

  it('whenDeleted=Retain keeps the PVCs and removes the finalizer', () => {
    const actions = plan(deleting('Retain'));
    expect(types(actions)).toEqual(['event', 'removeFinalizer']);
    expect(eventsOf(actions)).toEqual(['Normal/RetainingVolumes']);
  });

  it('does nothing once our finalizer is gone', () => {
    expect(plan(deleting('Delete', ['someone.else/finalizer']))).toEqual([]);
  });
});

describe('plan: bootstrap and membership follow the nodes', () => {
  const started = () => {
    // Children exist and the pods run, each waiting unjoined (as nodes started with --join do).
    let w = world(cluster({ replicas: 3 }));
    w = applyPlan(w, plan(w));
    return w;
  };

  it('asks exactly the recorded bootstrap pod to found the cluster, once, and records it', () => {
    const w = started();
    const actions = plan(w);
    expect(actions.filter((a) => a.type === 'bootstrapCluster')).toEqual([{ type: 'bootstrapCluster', pod: 'vc-0' }]);
    expect(statusOf(actions)).toMatchObject({ bootstrapPod: 'vc-0' });
    expect(statusOf(actions)!.members!.every((m) => !m.joined)).toBe(true);
    expect(eventsOf(actions)).not.toContain('Normal/MemberJoined');
    const done = settle(applyPlan(w, actions));
    expect(done.cluster.status).toMatchObject({ phase: 'Running', clusterId: CLUSTER_ID, bootstrapPod: 'vc-0' });
    expect(plan(done).some((a) => a.type === 'bootstrapCluster')).toBe(false);
  });

  it('never bootstraps when a node already reports a cluster id (a wiped vc-0 must not found a second cluster)', () => {
    const w = started();
    const nodeStatus = { ...w.nodeStatus, 'vc-1': { ok: true as const, status: { mode: 'cluster', nodeId: 'vc-1', clusterId: 'old', joined: true, metaMembers: ['vc-1', 'vc-2'], metaLeader: 'vc-1', metaTerm: 4 } } };
    const actions = plan({ ...w, nodeStatus });
    expect(types(actions)).not.toContain('bootstrapCluster');
    expect(statusOf(actions)).toMatchObject({ clusterId: 'old' });
    // Status said so before: no report needed to hold back.
    const recorded = { ...w, cluster: { ...w.cluster, status: { ...statusOf(actions)! } } };
    expect(types(plan(recorded))).not.toContain('bootstrapCluster');
  });

  it('a bootstrap pod that is not reachable, or is standalone, is not asked', () => {
    const w = started();
    expect(types(plan({ ...w, nodeStatus: { ...w.nodeStatus, 'vc-0': { ok: false, error: 'timeout' } } }))).not.toContain('bootstrapCluster');
    expect(types(plan({ ...w, nodeStatus: { ...w.nodeStatus, 'vc-0': { ok: true, status: { mode: 'standalone' } } } }))).not.toContain('bootstrapCluster');
  });

  it('joined and MemberJoined come from the meta leader\'s member list, not from pod readiness', () => {
    const done = settle(world(cluster({ replicas: 3 })));
    // vc-2 left the meta group (the leader no longer lists it), its pod is still ready.
    const report = (n: string, members: string[], term: number, leader: string) => ({ ok: true as const, status: { mode: 'cluster', nodeId: n, clusterId: CLUSTER_ID, joined: true, ready: true, metaMembers: members, metaLeader: leader, metaTerm: term } });
    const nodeStatus = { 'vc-0': report('vc-0', ['vc-0', 'vc-1'], 2, 'vc-0'), 'vc-1': report('vc-1', ['vc-0', 'vc-1', 'vc-2'], 1, 'vc-0'), 'vc-2': report('vc-2', ['vc-0', 'vc-1', 'vc-2'], 1, 'vc-0') };
    const status = statusOf(plan({ ...done, nodeStatus }))!;
    expect(status.members!.map((m) => [m.pod, Boolean(m.joined)])).toEqual([['vc-0', true], ['vc-1', true], ['vc-2', false]]);
    // No node answers: the last known membership stays.
    const silent = plan({ ...done, nodeStatus: {} });
    expect((statusOf(silent) ?? done.cluster.status)!.members!.every((m) => m.joined)).toBe(true);
  });
});

describe('plan: Degraded follows the replication the nodes report', () => {
  it('under-replicated shard groups make the cluster Degraded until re-replication is done', () => {
    const done = settle(world(cluster({ replicas: 3 })));
    const withUnder = (count: number) => Object.fromEntries(Object.entries(done.nodeStatus).map(([k, r]) => [k, r.ok ? { ok: true as const, status: { ...r.status, underReplicated: { count, groups: count ? ['c-docs-s0'] : [] } } } : r]));
    const actions = plan({ ...done, nodeStatus: withUnder(1) });
    expect(statusOf(actions)!.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'UnderReplicated' });
    expect(statusOf(actions)!.phase).toBe('Degraded');
    expect(eventsOf(actions)).toContain('Warning/Degraded');
    const healed = plan({ ...applyPlan(done, actions), nodeStatus: withUnder(0) });
    expect(eventsOf(healed)).toContain('Normal/Recovered');
    expect(statusOf(healed)!.phase).toBe('Running');
  });
});

describe('plan: Progressing follows the rebalance the nodes report', () => {
  it('a running rebalance (after a scale-up) is Progressing with reason Rebalancing until it is done', () => {
    const done = settle(world(cluster({ replicas: 3 })));
    const withRebalance = (state: string, movesInFlight: number) => Object.fromEntries(Object.entries(done.nodeStatus).map(([k, r]) => [k, r.ok ? { ok: true as const, status: { ...r.status, rebalance: { state, reason: 'node vc-3 joined', movesStarted: 2, movesInFlight } } } : r]));
    const running = statusOf(plan({ ...done, nodeStatus: withRebalance('running', 1) }))!;
    expect(running.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'Rebalancing', message: expect.stringMatching(/node vc-3 joined.*2 moves started, 1 in flight/) });
    const finished = statusOf(plan({ ...done, nodeStatus: withRebalance('done', 0) })) ?? done.cluster.status!;
    expect(finished.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'False' });
  });
});

describe('plan: hibernation (spec.replicas 0)', () => {
  const pvcs = ['data-vc-0', 'data-vc-1', 'data-vc-2'].map((n) => pvc(n, '10Gi'));
  const withSpec = (o: Observed, replicas: number, generation: number): Observed => ({
    ...o, cluster: { ...o.cluster, metadata: { ...o.cluster.metadata, generation }, spec: { ...o.cluster.spec, replicas } },
  });
  const stsPatch = (actions: Action[]) => (actions.find((a) => a.type === 'patch' && a.ref.kind === 'StatefulSet') as Extract<Action, { type: 'patch' }> | undefined)?.patch as any;
  /** A running 3-member cluster with whenScaled: Delete, then spec.replicas 0 until every pod is gone. */
  function hibernated() {
    const running = { ...settle(world(cluster({ replicas: 3, storage: { pvcRetention: { whenScaled: 'Delete' } } }))), pvcs };
    const asked = withSpec(running, 0, 2);
    const first = plan(asked);
    // The pods stopped (the StatefulSet at 0): no node answers.
    const stopped = { ...applyPlan(asked, first), pods: [], nodeStatus: {} };
    return { running, first, stopped };
  }

  it('lowers the StatefulSet to 0 at once, keeping every PVC, without draining or removing a member', () => {
    const { running, first } = hibernated();
    expect(types(first).filter((t) => t === 'drainMember' || t === 'removeMember' || t === 'delete')).toEqual([]);
    expect(stsPatch(first).spec).toMatchObject({ replicas: 0, persistentVolumeClaimRetentionPolicy: { whenScaled: 'Retain', whenDeleted: 'Retain' } });
    expect(eventsOf(first)).toEqual(['Normal/Hibernating']);
    const status = statusOf(first)!;
    // The pods still run while the StatefulSet controller stops them.
    expect(status).toMatchObject({ phase: 'Scaling', hibernation: { replicas: 3, since: NOW }, clusterId: running.cluster.status!.clusterId });
    expect(status.conditions!.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'Hibernating' });
  });

  it('once every pod is gone: phase Hibernated, members still listed, PVCs kept, then nothing to do', () => {
    const { stopped } = hibernated();
    const actions = plan(stopped);
    expect(types(actions).filter((t) => t !== 'event' && t !== 'updateStatus')).toEqual([]);
    expect(eventsOf(actions)).toEqual(['Normal/Hibernated']);
    const status = statusOf(actions)!;
    expect(status).toMatchObject({ phase: 'Hibernated', replicas: 0, readyReplicas: 0, hibernation: { replicas: 3 } });
    expect(status.members!.map((m) => [m.pod, m.joined, m.message])).toEqual(['vc-0', 'vc-1', 'vc-2'].map((p) => [p, true, 'hibernated: the pod is stopped, its volume is kept']));
    expect(status.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Hibernated' });
    expect(status.conditions!.find((c) => c.type === 'Degraded')).toMatchObject({ status: 'False', reason: 'Hibernated' });
    const settled = applyPlan(stopped, actions);
    expect(plan({ ...settled, pods: [], nodeStatus: {} })).toEqual([]);
  });

  it('waking at fewer members than it had is refused: the StatefulSet stays at 0, ScalingBlocked says why, once', () => {
    const { stopped } = hibernated();
    const asleep = { ...applyPlan(stopped, plan(stopped)), pods: [], nodeStatus: {} };
    const fewer = withSpec(asleep, 2, 3);
    const actions = plan(fewer);
    expect(stsPatch(actions)).toBeUndefined();
    expect(eventsOf(actions)).toEqual(['Warning/WakeRefused']);
    const status = statusOf(actions)!;
    expect(status).toMatchObject({ phase: 'Hibernated', hibernation: { replicas: 3 } });
    expect(status.conditions!.find((c) => c.type === 'ScalingBlocked')).toMatchObject({
      status: 'True', reason: 'HibernatedSizeMismatch', message: expect.stringContaining('spec.replicas is 2, fewer than the 3 members the cluster had when it was hibernated'),
    });
    const again = plan({ ...applyPlan(fewer, actions), pods: [], nodeStatus: {} });
    expect(eventsOf(again)).toEqual([]);
  });

  it('waking at the size it had raises the StatefulSet, founds nothing, and the same members are Running without MemberJoined', () => {
    const { running, stopped } = hibernated();
    const asleep = { ...applyPlan(stopped, plan(stopped)), pods: [], nodeStatus: {} };
    const wake = withSpec(asleep, 3, 3);
    const actions = plan(wake);
    expect(stsPatch(actions).spec).toMatchObject({ replicas: 3, persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete' } });
    expect(eventsOf(actions)).toEqual(['Normal/Waking']);
    expect(types(actions)).not.toContain('bootstrapCluster');
    expect(statusOf(actions)!.hibernation).toBeUndefined();
    // The same nodes come back on their volumes and report the same cluster.
    const woken = { ...applyPlan(wake, actions), pods: running.pods, nodeStatus: running.nodeStatus };
    const back = plan(woken);
    expect(eventsOf(back)).toEqual(['Normal/ClusterReady']);
    expect(statusOf(back)).toMatchObject({ phase: 'Running', readyReplicas: 3, clusterId: running.cluster.status!.clusterId });
  });

  it('waking larger than it had is a wake plus a scale-up', () => {
    const { stopped } = hibernated();
    const asleep = { ...applyPlan(stopped, plan(stopped)), pods: [], nodeStatus: {} };
    const actions = plan(withSpec(asleep, 4, 3));
    expect(stsPatch(actions).spec.replicas).toBe(4);
    expect(actions.flatMap((a) => (a.type === 'event' && a.reason === 'Waking' ? [a.message] : []))).toEqual(['Waking from hibernation: scaling the StatefulSet from 0 to 4; 3 members restart on their volumes, 1 new members join']);
  });
});
