// The operator's decisions as a pure function: plan(observed) → Action[]. Observed carries everything read
// from the API server and from the nodes' /v1/status plus the clock and a fresh random API key, so the same
// input always gives the same actions. Shape follows CloudNativePG: linear guarded steps, status last.
import { storageSizeMi } from '../api/types.js';
import type { Condition, DefaultedSpec, Member, Phase, VectorCluster, VectorClusterStatus } from '../api/types.js';
import { defaultSpec, validateClusterSpec } from '../api/validate.js';
import {
  CHILD_KINDS, DATA_VOLUME, FINALIZER, SPEC_HASH_ANNOTATION, apiKeySecretRef, buildApiKeySecret, buildClientService, buildClusterSecret, buildConfigMap, buildNetworkPolicy,
  buildHeadlessService, buildPodDisruptionBudget, buildRole, buildRoleBinding, buildServiceAccount, buildStatefulSet,
  API_KEYS_FILE_KEY, JWT_SECRET_KEY, NODE_CRL_KEY, S3_CREDENTIAL_KEYS, selectorString, stableJson,
} from './children.js';
import type { ChildKind, KubeObject } from './children.js';
import { reportedClusterId, reportedMeta } from './meta-view.js';
import type { MemberDrain, MetaView } from './meta-view.js';
import { scaleDownStep } from './scale-down.js';
import type { ScaleDownStep } from './scale-down.js';
import { ROLLOUT_PAUSED_ANNOTATION, ROLLOUT_SETTLE_MS, rolloutStep } from './rollout.js';
import type { RolloutStep } from './rollout.js';
import { membersToDeclareDead } from './failover.js';
import { hibernationStep } from './hibernation.js';
import type { HibernationStep } from './hibernation.js';
import type { DeadRequest } from './failover.js';
import { FENCED_PODS_ANNOTATION, fencingStep } from './fencing.js';
import type { FencingAction } from './fencing.js';

export interface NodeStatus {
  version?: string;
  nodeId?: string;
  ready?: boolean;
  role?: string;
  collections?: number;
  points?: number;
  uptimeSeconds?: number;
  /** 'standalone' or 'cluster'. */
  mode?: string;
  /** null until the node belongs to a founded cluster. */
  clusterId?: string | null;
  /** The node is a member of the meta group. */
  joined?: boolean;
  /** Node ids of the meta group's members as this node knows them. */
  metaMembers?: string[];
  metaTerm?: number;
  metaLeader?: string | null;
  /** Per member (node id) of the meta group: its drain state and how many replicas it still holds. */
  metaDrains?: Record<string, MemberDrain>;
  /** Per member (node id): alive, suspect or dead, as this node's meta state and failure detector see it. */
  metaLiveness?: Record<string, string>;
  /** Shard groups with a replica on a member that left or came back empty (the meta state's view). */
  underReplicated?: { count: number; groups: string[] };
  /** The cluster's last rebalance (the meta state's view). */
  rebalance?: { state: string; reason: string; movesStarted: number; movesInFlight: number };
  /** This node's Raft member id (node#incarnation). */
  memberId?: string;
  /** The Raft groups this node hosts, as it reports them. */
  groups?: GroupReport[];
  /** The node is fenced (POST /cluster/fence): it serves nothing until unfenced. */
  fenced?: boolean;
}
export interface GroupReport {
  groupId: string;
  role: string;
  /** Node id of the leader; '' when none is known. */
  leader: string;
  commit: number;
  applied: number;
  /** Leader only: entries each member's log is behind, by member id. */
  lag?: Record<string, number>;
}
export type NodeStatusReport = { ok: true; status: NodeStatus } | { ok: false; error: string };

/** A Secret as the pods need one key of it: null when the Secret does not exist; digest null when it lacks the key. */
export type SeenSecretKey = { keys: string[]; digest: string | null } | null;

export interface Observed {
  cluster: VectorCluster;
  children: Partial<Record<ChildKind, KubeObject>>;
  /** Whether the user's API key Secret exists (only read when spec.security.apiKeySecret is set). */
  userApiKeySecretExists?: boolean;
  /** Whether the TLS Secret exists (only read when spec.security.tlsSecret is set): without it the pods cannot start. */
  tlsSecretExists?: boolean;
  /** Whether the user's node TLS Secret exists (only read when spec.security.nodeTls.secretName is set): without it the pods cannot start. */
  nodeTlsSecretExists?: boolean;
  /** What spec.backup names, as found (each only read when set): the keys of each Secret (null: no such Secret), whether the PVC exists. */
  backupRefs?: { credentialsSecretKeys?: string[] | null; encryptionKeySecretKeys?: string[] | null; claimExists?: boolean };
  /** The Secrets spec.security.apiKeysSecret and jwtSecret name, as found (each only read when set). */
  accessRefs?: { apiKeysSecret?: SeenSecretKey; jwtSecret?: SeenSecretKey; crlSecret?: SeenSecretKey };
  pods: KubeObject[];
  pvcs: KubeObject[];
  /** /v1/status per pod name, for pods that have an IP. */
  nodeStatus: Record<string, NodeStatusReport>;
  /** A fresh random key, used only if the generated Secret has to be created. */
  generatedApiKey: string;
  /** A fresh random cluster secret, used only if the generated cluster Secret has to be created. */
  generatedClusterSecret: string;
  /** RFC 3339 time used for condition transitions. */
  now: string;
  /** The last refusal of a drain or remove the operator asked for, by pod (kept by the controller between reconciles). */
  refusals?: Record<string, { reason: string; message: string }>;
  /** How long every member must have been rejoined before the rolling restart restarts the next pod (default ROLLOUT_SETTLE_MS). */
  rolloutSettleMs?: number;
  /** LastBackupSucceeded from the backup controller; absent: the condition as it is (or Unknown) is kept. */
  lastBackup?: ConditionInput;
  /** Since when each expected pod has been seen missing (kept by the controller between reconciles). */
  missingSince?: Record<string, string>;
  /** Dead declarations already asked for, by pod (kept by the controller between reconciles). */
  deadRequests?: Record<string, DeadRequest>;
}

export interface ObjectRef { apiVersion: string; kind: string; namespace: string; name: string }
export type EventType = 'Normal' | 'Warning';
export type Action =
  | { type: 'addFinalizer' }
  | { type: 'removeFinalizer' }
  | { type: 'create'; object: KubeObject }
  | { type: 'patch'; ref: ObjectRef; patch: Record<string, unknown> }
  | { type: 'delete'; ref: ObjectRef }
  /** Ask this pod's node to found the cluster (POST /cluster/bootstrap); the others join through it. */
  | { type: 'bootstrapCluster'; pod: string }
  /** Ask the meta leader (through any member) to move every replica off this pod's node (POST /cluster/peer/{id}/drain). */
  | { type: 'drainMember'; pod: string }
  /** Take a drained node out of the cluster (DELETE /cluster/peer/{id}). */
  | { type: 'removeMember'; pod: string }
  /** Delete a pod on an old revision: the StatefulSet (OnDelete) recreates it from the new template. */
  | { type: 'restartMember'; pod: string; revision: string }
  /** Ask this pod's node to fence itself (POST /cluster/fence) or to serve again (DELETE): the fenced-pods annotation. */
  | FencingAction
  /** Declare a member dead to the meta leader (POST /cluster/peer/{id}/dead): its pod has been NotReady since `since`. */
  | { type: 'declareMemberDead'; pod: string; since: string; notReadySeconds: number }
  | { type: 'event'; eventType: EventType; reason: string; message: string }
  | { type: 'updateStatus'; status: VectorClusterStatus };

export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded', 'ScalingBlocked', 'LastBackupSucceeded'] as const;
type ConditionType = (typeof CONDITION_TYPES)[number];
export type ConditionInput = { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };

function refOf(object: KubeObject): ObjectRef {
  return { apiVersion: object.apiVersion, kind: object.kind, namespace: object.metadata.namespace ?? '', name: object.metadata.name };
}
function isPodReady(pod: KubeObject | undefined): boolean {
  const conditions = ((pod?.status as any)?.conditions ?? []) as { type: string; status: string }[];
  return conditions.some((c) => c.type === 'Ready' && c.status === 'True');
}
function ordinalOf(podName: string): number {
  return Number(podName.slice(podName.lastIndexOf('-') + 1));
}

/** Keeps lastTransitionTime when the status did not change, like meta.SetStatusCondition. */
function setCondition(previous: Condition[] | undefined, type: ConditionType, input: ConditionInput, generation: number, now: string): Condition {
  const old = previous?.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === input.status ? old.lastTransitionTime : now;
  return { type, status: input.status, reason: input.reason, message: input.message, observedGeneration: generation, lastTransitionTime };
}
function conditionIs(status: VectorClusterStatus | undefined, type: ConditionType, value: string): boolean {
  return status?.conditions?.find((c) => c.type === type)?.status === value;
}

function desiredChildren(cluster: VectorCluster, spec: DefaultedSpec, stsReplicas: number, apiKey: string, clusterSecret: string, accessDigest: string): Partial<Record<ChildKind, KubeObject>> {
  const out: Partial<Record<ChildKind, KubeObject>> = {
    serviceAccount: buildServiceAccount(cluster),
    role: buildRole(cluster),
    roleBinding: buildRoleBinding(cluster),
    clusterSecret: buildClusterSecret(cluster, clusterSecret),
    configMap: buildConfigMap(cluster, spec),
    headlessService: buildHeadlessService(cluster, spec),
    clientService: buildClientService(cluster, spec),
    podDisruptionBudget: buildPodDisruptionBudget(cluster),
    networkPolicy: buildNetworkPolicy(cluster, spec),
    statefulSet: buildStatefulSet(cluster, spec, stsReplicas, accessDigest),
  };
  if (apiKeySecretRef(cluster, spec).generated) out.apiKeySecret = buildApiKeySecret(cluster, apiKey);
  return out;
}

/** Fields a merge-patch sets to bring an existing child to our intent (never immutable claim templates). */
function updatePatch(desired: KubeObject): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, metadata, ...body } = desired;
  const patch: Record<string, unknown> = { metadata: { labels: metadata.labels, annotations: metadata.annotations, ownerReferences: metadata.ownerReferences }, ...body };
  // rollingUpdate goes with the RollingUpdate strategy a set made by an older operator still has (null deletes it).
  if (desired.kind === 'StatefulSet') patch.spec = { ...(body.spec as Record<string, unknown>), volumeClaimTemplates: undefined, updateStrategy: { type: 'OnDelete', rollingUpdate: null } };
  return JSON.parse(JSON.stringify(patch)) as Record<string, unknown>;
}

function deletionPlan(o: Observed, spec: DefaultedSpec): Action[] {
  const finalizers = o.cluster.metadata.finalizers ?? [];
  if (!finalizers.includes(FINALIZER)) return [];
  const actions: Action[] = [];
  if (spec.storage.pvcRetention.whenDeleted === 'Delete') {
    for (const pvc of o.pvcs) if (!pvc.metadata.deletionTimestamp) actions.push({ type: 'delete', ref: refOf(pvc) });
    actions.push({ type: 'event', eventType: 'Normal', reason: 'DeletingVolumes', message: `Deleting ${o.pvcs.length} PersistentVolumeClaims (pvcRetention.whenDeleted=Delete)` });
  } else if (o.pvcs.length > 0) {
    actions.push({ type: 'event', eventType: 'Normal', reason: 'RetainingVolumes', message: `Keeping ${o.pvcs.length} PersistentVolumeClaims (pvcRetention.whenDeleted=Retain): ${o.pvcs.map((p) => p.metadata.name).join(', ')}` });
  }
  actions.push({ type: 'removeFinalizer' });
  return actions;
}

export function plan(o: Observed): Action[] {
  const cluster = o.cluster;
  const name = cluster.metadata.name;
  const spec = defaultSpec(cluster.spec);
  if (cluster.metadata.deletionTimestamp) return deletionPlan(o, spec);

  const actions: Action[] = [];
  const events: Action[] = [];
  const event = (eventType: EventType, reason: string, message: string) => events.push({ type: 'event', eventType, reason, message });
  if (!(cluster.metadata.finalizers ?? []).includes(FINALIZER)) actions.push({ type: 'addFinalizer' });

  const invalid = validateClusterSpec(cluster.spec ?? {});
  if (invalid.length > 0) {
    const reason = invalid.map((e) => `${e.path}: ${e.message}`).join('; ');
    const status = computeStatus(o, spec, { invalid: reason });
    if (!conditionIs(cluster.status, 'Degraded', 'True') || cluster.status?.reason !== status.reason) event('Warning', 'InvalidSpec', reason);
    return [...actions, ...events, ...statusAction(cluster, status)];
  }

  // Scale: raise the StatefulSet now; lower it only once the leaving members are drained and out of the cluster.
  const sts = o.children.statefulSet;
  const currentReplicas = sts ? Number((sts.spec as any)?.replicas ?? 0) : spec.replicas;
  // The membership the nodes report, read once for every decision below.
  const meta = reportedMeta(o.nodeStatus);
  // Hibernation (spec.replicas 0): the StatefulSet goes to 0 with no drain; it wakes at the size it had, or larger.
  const hibernation = hibernationStep({
    desired: spec.replicas, stsReplicas: sts ? currentReplicas : undefined, pods: o.pods.length, previous: cluster.status?.hibernation,
    previousMembers: cluster.status?.members?.length ?? 0, now: o.now,
  });
  const asleep = hibernation.state === 'hibernating' || hibernation.state === 'hibernated' || hibernation.state === 'refused';
  const scaleDown: ScaleDownStep = asleep
    ? { pending: false, shrink: false, leaving: [], actions: [], progress: '' }
    : scaleDownStep(meta, o.refusals, name, spec.replicas, currentReplicas);
  actions.push(...scaleDown.actions);
  const stsReplicas = asleep ? 0 : scaleDown.pending && !scaleDown.shrink ? currentReplicas : spec.replicas;
  if (hibernation.state === 'hibernating' && hibernation.started) {
    event('Normal', 'Hibernating', `Scaling the StatefulSet from ${currentReplicas} to 0 without draining: the ${hibernation.record.replicas} members stop; their volumes, the cluster id and the membership are kept`);
  }
  if (hibernation.state === 'refused' && !(conditionIs(cluster.status, 'ScalingBlocked', 'True') && cluster.status?.conditions?.find((c) => c.type === 'ScalingBlocked')?.message === hibernation.message)) {
    event('Warning', 'WakeRefused', hibernation.message);
  }
  if (hibernation.state === 'waking') {
    const added = spec.replicas - hibernation.record.replicas;
    event('Normal', 'Waking', `Waking from hibernation: scaling the StatefulSet from ${currentReplicas} to ${spec.replicas}; ${hibernation.record.replicas} members restart on their volumes${added > 0 ? `, ${added} new members join` : ''}`);
  } else if (sts && spec.replicas > currentReplicas && !asleep) event('Normal', 'ScalingUp', `Scaling from ${currentReplicas} to ${spec.replicas} members`);
  if (scaleDown.shrink) event('Normal', 'ScalingDown', `Scaling from ${currentReplicas} to ${spec.replicas} members: ${scaleDown.leaving.join(', ')} drained and out of the cluster`);
  if (scaleDown.blocked && !conditionIs(cluster.status, 'ScalingBlocked', 'True')) event('Warning', 'ScalingBlocked', scaleDown.blocked.message);

  // Asleep, the StatefulSet keeps every PVC whatever whenScaled says: they hold the members.
  const childSpec: DefaultedSpec = asleep ? { ...spec, storage: { ...spec.storage, pvcRetention: { ...spec.storage.pvcRetention, whenScaled: 'Retain' } } } : spec;
  const desired = desiredChildren(cluster, childSpec, stsReplicas, o.generatedApiKey, o.generatedClusterSecret, accessDigest(o.accessRefs));
  for (const kind of CHILD_KINDS) {
    const want = desired[kind];
    const have = o.children[kind];
    if (!want && have && kind === 'networkPolicy') {
      // spec.security.networkPolicy switched off: the policy goes.
      actions.push({ type: 'delete', ref: refOf(have) });
      event('Normal', 'Deleted', `Deleted ${have.kind} ${have.metadata.name} (spec.security.networkPolicy is off)`);
      continue;
    }
    if (!want) continue;
    if (!have) {
      actions.push({ type: 'create', object: want });
      event('Normal', 'Created', `Created ${want.kind} ${want.metadata.name}`);
      continue;
    }
    if (kind === 'apiKeySecret' || kind === 'clusterSecret') continue; // secrets must stay stable once generated
    const hashChanged = have.metadata.annotations?.[SPEC_HASH_ANNOTATION] !== want.metadata.annotations?.[SPEC_HASH_ANNOTATION];
    const replicasDrifted = kind === 'statefulSet' && Number((have.spec as any)?.replicas) !== stsReplicas;
    if (hashChanged || replicasDrifted) {
      actions.push({ type: 'patch', ref: refOf(want), patch: updatePatch(want) });
      if (kind !== 'statefulSet' || !(spec.replicas > currentReplicas || hibernation.state !== 'awake')) event('Normal', 'Updated', `Updated ${want.kind} ${want.metadata.name}`);
    }
  }

  // Storage may grow: expand each PVC (StatefulSet claim templates are immutable).
  const wantMi = storageSizeMi(spec.storage.size);
  for (const pvc of o.pvcs) {
    const current = String((pvc.spec as any)?.resources?.requests?.storage ?? '');
    if (/^[1-9][0-9]*(Mi|Gi|Ti)$/.test(current) && storageSizeMi(current) < wantMi) {
      actions.push({ type: 'patch', ref: refOf(pvc), patch: { spec: { resources: { requests: { storage: spec.storage.size } } } } });
      event('Normal', 'ExpandingVolume', `Expanding ${pvc.metadata.name} from ${current} to ${spec.storage.size}`);
    }
  }

  // Every pod starts with --join and waits; the operator asks exactly one (recorded in status) to found
  // the cluster, and only while no node reports a cluster id, so pods never race and a wiped pod never
  // founds a second cluster (the node refuses too, when a seed already answers with a cluster id).
  const bootstrapPod = cluster.status?.bootstrapPod ?? `${name}-0`;
  const clusterId = cluster.status?.clusterId ?? reportedClusterId(o.nodeStatus);
  const founder = o.nodeStatus[bootstrapPod];
  if (!clusterId && founder?.ok && founder.status.mode === 'cluster' && founder.status.joined === false && !founder.status.clusterId) {
    actions.push({ type: 'bootstrapCluster', pod: bootstrapPod });
  }

  // Membership as the nodes report it (the meta leader's view when it answers): never assumed.
  const previous = new Map((cluster.status?.members ?? []).map((m) => [m.pod, m]));
  const metaMembers = meta?.members;
  const joined = metaMembers ?? new Set([...previous.values()].filter((m) => m.joined).map((m) => m.pod));
  for (const pod of [...joined].sort((a, b) => ordinalOf(a) - ordinalOf(b))) {
    if (!previous.get(pod)?.joined && o.pods.some((p) => p.metadata.name === pod)) event('Normal', 'MemberJoined', `Member ${pod} joined the cluster (the meta group lists it)`);
  }

  // A drained member's volume is deleted once its pod is gone (whatever whenScaled says): it holds no
  // replica, and a node started on it again would still believe it is a member.
  for (const pvc of asleep ? [] : o.pvcs) {
    const podName = pvc.metadata.name.startsWith(`${DATA_VOLUME}-`) ? pvc.metadata.name.slice(DATA_VOLUME.length + 1) : '';
    if (!podName.startsWith(`${name}-`) || ordinalOf(podName) < stsReplicas || pvc.metadata.deletionTimestamp) continue;
    if (o.pods.some((p) => p.metadata.name === podName) || metaMembers === undefined || metaMembers.has(podName)) continue;
    actions.push({ type: 'delete', ref: refOf(pvc) });
    event('Normal', 'DeletingVolume', `Deleting ${pvc.metadata.name}: ${podName} was drained and left the cluster, so the volume holds no replica`);
  }

  // Rolling restart onto a changed pod template, one pod at a time (the StatefulSet updates OnDelete).
  const rollout: RolloutStep = asleep ? { active: false, ...(cluster.status?.rollout ? { status: cluster.status.rollout } : {}), started: false, finished: false } : rolloutStep({
    statefulSet: sts, podNames: Array.from({ length: stsReplicas }, (_, i) => `${name}-${i}`), pods: o.pods, nodeStatus: o.nodeStatus, meta,
    clusterId: clusterId ?? undefined, previous: cluster.status?.rollout, paused: cluster.metadata.annotations?.[ROLLOUT_PAUSED_ANNOTATION] === 'true',
    busy: scaleDown.pending ? 'the scale-down' : sts && spec.replicas > currentReplicas ? 'the scale-up' : undefined,
    now: o.now, settleMs: o.rolloutSettleMs ?? ROLLOUT_SETTLE_MS,
  });
  const revision = rollout.status?.revision ?? '';
  if (rollout.started) event('Normal', 'RolloutStarted', `Pods run an old pod template: restarting ${rollout.status!.total} members one at a time onto revision ${revision}`);
  if (rollout.restart) actions.push({ type: 'restartMember', pod: rollout.restart, revision });
  if (rollout.finished) event('Normal', 'RolloutFinished', `All ${rollout.status!.total} members run revision ${revision} and rejoined the cluster`);

  // Fencing by annotation: the listed pods' nodes stop serving, keeping their pods and data.
  const fencing = fencingStep({
    annotation: cluster.metadata.annotations?.[FENCED_PODS_ANNOTATION], podNames: Array.from({ length: stsReplicas }, (_, i) => `${name}-${i}`),
    nodeStatus: o.nodeStatus, previous: cluster.status?.fencedPods,
  });
  actions.push(...fencing.actions);
  if (fencing.invalid && cluster.status?.fencingError !== fencing.invalid) event('Warning', 'InvalidFencing', fencing.invalid);
  const fencedNow = (pod: string) => fencing.wanted.has(pod) || (o.nodeStatus[pod]?.ok && (o.nodeStatus[pod] as Extract<NodeStatusReport, { ok: true }>).status.fenced === true);

  // Failover: members NotReady past spec.failover.notReadyDeadAfterSeconds are declared dead to the meta leader
  // (not fenced ones: they are stopped on purpose).
  for (const dead of membersToDeclareDead({
    podNames: Array.from({ length: stsReplicas }, (_, i) => `${name}-${i}`), pods: o.pods, meta, now: o.now,
    notReadyDeadAfterSeconds: spec.failover.notReadyDeadAfterSeconds, missingSince: o.missingSince ?? {}, requests: o.deadRequests ?? {},
  })) if (!fencedNow(dead.pod)) actions.push({ type: 'declareMemberDead', ...dead });

  const status = computeStatus(o, spec, { stsReplicas, joined, bootstrapPod, clusterId: clusterId ?? undefined, scaleDown, meta, rollout, hibernation });
  if (fencing.fencedPods.length > 0) status.fencedPods = fencing.fencedPods;
  if (fencing.invalid) status.fencingError = fencing.invalid;
  if (status.phase === 'Running' && cluster.status?.phase !== 'Running') event('Normal', 'ClusterReady', `All ${status.readyReplicas} members are ready`);
  if (status.phase === 'Hibernated' && cluster.status?.phase !== 'Hibernated') {
    event('Normal', 'Hibernated', `No member runs; ${o.pvcs.length} volume${o.pvcs.length === 1 ? '' : 's'} kept${o.pvcs.length ? `: ${o.pvcs.map((p) => p.metadata.name).sort().join(', ')}` : ''}`);
  }
  const degraded = status.conditions!.find((c) => c.type === 'Degraded')!;
  const wasDegraded = conditionIs(cluster.status, 'Degraded', 'True');
  if (degraded.status === 'True' && !wasDegraded) event('Warning', 'Degraded', degraded.message);
  if (degraded.status === 'False' && wasDegraded) event('Normal', 'Recovered', 'every member is ready and every shard group has its replication factor');
  return [...actions, ...events, ...statusAction(cluster, status)];
}

function statusAction(cluster: VectorCluster, status: VectorClusterStatus): Action[] {
  return stableJson(cluster.status ?? {}) === stableJson(status) ? [] : [{ type: 'updateStatus', status }];
}

interface StatusInput {
  invalid?: string;
  stsReplicas?: number;
  /** Pods the meta group lists as members (as reported by the nodes). */
  joined?: Set<string>;
  bootstrapPod?: string;
  clusterId?: string;
  scaleDown?: ScaleDownStep;
  /** The membership the nodes report (undefined when none answered). */
  meta?: MetaView;
  rollout?: RolloutStep;
  hibernation?: HibernationStep;
}

/** Phase, conditions, members and counters from what was observed. Pure; unchanged conditions keep their times. */
export function computeStatus(o: Observed, spec: DefaultedSpec, input: StatusInput): VectorClusterStatus {
  const cluster = o.cluster;
  const name = cluster.metadata.name;
  const generation = cluster.metadata.generation ?? 0;
  const prev = cluster.status;
  const sts = o.children.statefulSet;
  const stsReplicas = input.stsReplicas ?? Number((sts?.spec as any)?.replicas ?? 0);
  const podsByName = new Map(o.pods.map((p) => [p.metadata.name, p]));
  const previousMembers = new Map((prev?.members ?? []).map((m) => [m.pod, m]));
  const hib = input.hibernation && input.hibernation.state !== 'awake' && input.hibernation.state !== 'waking' ? input.hibernation : undefined;
  // Hibernated members are still listed: they keep their volumes and their place in the cluster.
  const listed = Math.max(stsReplicas, hib?.record.replicas ?? 0);
  const podNames = new Set<string>([...Array.from({ length: listed }, (_, i) => `${name}-${i}`), ...o.pods.map((p) => p.metadata.name)]);

  const members: Member[] = [...podNames].sort((a, b) => ordinalOf(a) - ordinalOf(b)).map((pod) => {
    const podObject = podsByName.get(pod);
    const report = o.nodeStatus[pod];
    const member: Member = { pod, ready: false, role: 'unknown' };
    const joined = input.joined ? input.joined.has(pod) : previousMembers.get(pod)?.joined;
    if (joined) member.joined = true;
    const declaredDead = input.meta ? input.meta.dead.has(pod) : previousMembers.get(pod)?.declaredDead;
    if (declaredDead) member.declaredDead = true;
    if (!podObject && hib) { member.message = 'hibernated: the pod is stopped, its volume is kept'; return member; }
    if (!podObject) { member.message = declaredDead ? 'pod does not exist; the meta group declared the member dead and re-creates its replicas on the other members' : 'pod does not exist yet'; return member; }
    if (report?.ok) {
      const s = report.status;
      if (s.nodeId !== undefined) member.nodeId = s.nodeId;
      if (s.role !== undefined) member.role = s.role;
      if (s.version !== undefined) member.version = s.version;
      if (s.collections !== undefined) member.collections = s.collections;
      if (s.points !== undefined) member.points = s.points;
    }
    const podReady = isPodReady(podObject);
    member.ready = podReady && (report === undefined || !report.ok || report.status.ready !== false);
    if (!podReady) member.message = declaredDead ? 'pod is not ready; the meta group declared the member dead and re-creates its replicas on the other members' : 'pod is not ready';
    else if (report && !report.ok) member.message = `/v1/status: ${report.error}`;
    else if (report?.ok && report.status.ready === false) member.message = 'node reports not ready';
    return member;
  });
  const readyReplicas = members.filter((m) => m.ready).length;
  const existing = members.filter((m) => podsByName.has(m.pod)).length;

  const stsStatus = (sts?.status ?? {}) as { observedGeneration?: number; updatedReplicas?: number; currentRevision?: string; updateRevision?: string };
  const rolloutDone = sts !== undefined && (stsStatus.observedGeneration ?? 0) >= (sts.metadata.generation ?? 0) &&
    (stsStatus.updateRevision === undefined || stsStatus.currentRevision === stsStatus.updateRevision || (stsStatus.updatedReplicas ?? 0) >= stsReplicas);
  const allReady = sts !== undefined && readyReplicas >= stsReplicas && existing === stsReplicas;
  const scalingUp = spec.replicas > Number((sts?.spec as any)?.replicas ?? 0) || existing < stsReplicas;
  const scaleDown = input.scaleDown;
  const draining = scaleDown?.pending === true && !scaleDown.blocked;
  const missingKeySecret = spec.security.apiKeySecret !== undefined && o.userApiKeySecretExists === false;
  const missingTlsSecret = spec.security.tlsSecret !== undefined && o.tlsSecretExists === false;
  const missingNodeTlsSecret = spec.security.nodeTls?.secretName !== undefined && o.nodeTlsSecretExists === false;
  const backupRefProblem = missingBackupRef(spec, o.backupRefs) ?? missingAccessRef(spec, o.accessRefs);
  const everReady = prev?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') || prev?.phase === 'Running' || prev?.phase === 'Degraded';

  // Members that had joined and are no longer ready (new pods still starting during a scale-up are not lost).
  const lostMembers = members.filter((m) => !m.ready && previousMembers.get(m.pod)?.joined).map((m) => m.pod);
  const under = input.meta?.underReplicated;
  const rebalancing = input.meta?.rebalance?.state === 'running' || (input.meta?.rebalance?.movesInFlight ?? 0) > 0 ? input.meta!.rebalance! : null;
  const conds: Record<ConditionType, ConditionInput> = {
    Ready: allReady && rolloutDone
      ? { status: 'True', reason: 'AllMembersReady', message: `${readyReplicas}/${stsReplicas} members ready` }
      : { status: 'False', reason: sts ? 'MembersNotReady' : 'Creating', message: `${readyReplicas}/${stsReplicas} members ready` },
    Progressing: !sts
      ? { status: 'True', reason: 'Creating', message: 'creating child resources' }
      : scalingUp
        ? { status: 'True', reason: 'ScalingUp', message: `scaling to ${spec.replicas} members (${existing} exist, ${readyReplicas} ready)` }
        : draining
          ? { status: 'True', reason: 'Draining', message: scaleDown!.progress }
        : rebalancing
          ? { status: 'True', reason: 'Rebalancing', message: `moving replicas to even them out (${rebalancing.reason}): ${rebalancing.movesStarted} moves started, ${rebalancing.movesInFlight} in flight` }
        : input.rollout?.active && input.rollout.status
          ? { status: 'True', reason: 'RollingRestart', message: rolloutMessage(input.rollout.status) }
        : !rolloutDone
          ? { status: 'True', reason: 'RollingUpdate', message: 'rolling the StatefulSet one pod at a time' }
          : { status: 'False', reason: 'Stable', message: 'no changes in flight' },
    Degraded: input.invalid
      ? { status: 'True', reason: 'InvalidSpec', message: input.invalid }
      : missingKeySecret
        ? { status: 'True', reason: 'SecretNotFound', message: `Secret ${spec.security.apiKeySecret!.name} not found` }
      : missingTlsSecret
        ? { status: 'True', reason: 'SecretNotFound', message: `TLS Secret ${spec.security.tlsSecret!.name} not found: the pods cannot start until it exists` }
      : missingNodeTlsSecret
        ? { status: 'True', reason: 'SecretNotFound', message: `node TLS Secret ${spec.security.nodeTls!.secretName} not found: the pods cannot start until it exists` }
      : backupRefProblem
        ? { status: 'True', ...backupRefProblem }
        : everReady && rolloutDone && lostMembers.length > 0
          ? { status: 'True', reason: 'MembersNotReady', message: `not ready: ${lostMembers.join(', ')}` }
          : under && under.count > 0
            ? { status: 'True', reason: 'UnderReplicated', message: `${under.count} shard group${under.count === 1 ? '' : 's'} below the replication factor, re-replication under way: ${under.groups.join(', ')}${under.count > under.groups.length ? ', …' : ''}` }
            : { status: 'False', reason: 'Healthy', message: 'no problems detected' },
    ScalingBlocked: scaleDown?.blocked
      ? { status: 'True', reason: scaleDown.blocked.reason, message: scaleDown.blocked.message }
      : { status: 'False', reason: 'NotBlocked', message: draining ? 'draining' : 'no scale-down pending' },
    LastBackupSucceeded: o.lastBackup ?? { status: 'Unknown', reason: 'NoBackupYet', message: 'no backup has run for this cluster' },
  };
  if (hib) {
    const n = hib.record.replicas;
    conds.Ready = { status: 'False', reason: 'Hibernated', message: `hibernated: ${existing} of ${n} members running (spec.replicas is ${spec.replicas})` };
    conds.Progressing = hib.state === 'hibernating'
      ? { status: 'True', reason: 'Hibernating', message: `stopping the ${n} members without draining: ${existing} pod${existing === 1 ? '' : 's'} left` }
      : { status: 'False', reason: 'Hibernated', message: `hibernated; set spec.replicas to ${n} to wake it` };
    conds.Degraded = { status: 'False', reason: 'Hibernated', message: 'hibernated: no member is expected to run' };
    conds.ScalingBlocked = hib.state === 'refused'
      ? { status: 'True', reason: 'HibernatedSizeMismatch', message: hib.message }
      : { status: 'False', reason: 'NotBlocked', message: 'hibernated' };
  }
  const prevBackup = o.lastBackup ? undefined : prev?.conditions?.find((c) => c.type === 'LastBackupSucceeded');
  const conditions = CONDITION_TYPES.map((type) =>
    type === 'LastBackupSucceeded' && prevBackup ? prevBackup : setCondition(prev?.conditions, type, conds[type], generation, o.now));

  let phase: Phase;
  let reason: string;
  if (input.invalid) { phase = 'Failed'; reason = `invalid spec: ${input.invalid}`; }
  else if (hib?.state === 'hibernating') { phase = 'Scaling'; reason = `hibernating: ${conds.Progressing.message}`; }
  else if (hib) { phase = 'Hibernated'; reason = hib.state === 'refused' ? `wake refused: ${hib.message}` : `hibernated: ${hib.record.replicas} members stopped, their volumes kept`; }
  else if (conds.Degraded.status === 'True') { phase = 'Degraded'; reason = conds.Degraded.message; }
  else if (!everReady && !allReady) { phase = 'Provisioning'; reason = conds.Ready.message; }
  else if (scalingUp || draining) { phase = 'Scaling'; reason = conds.Progressing.message; }
  else if (allReady && rolloutDone) { phase = 'Running'; reason = scaleDown?.blocked ? `scale-down blocked: ${conds.ScalingBlocked.message}` : conds.Ready.message; }
  else { phase = 'Provisioning'; reason = conds.Progressing.message; }

  const status: VectorClusterStatus = {
    phase, reason, conditions, members, replicas: existing, readyReplicas, selector: selectorString(name), observedGeneration: generation,
    apiKeySecret: apiKeySecretRef(cluster, spec).name, currentImage: String((sts?.spec as any)?.template?.spec?.containers?.[0]?.image ?? spec.image),
  };
  const bootstrapPod = input.bootstrapPod ?? prev?.bootstrapPod;
  if (bootstrapPod) status.bootstrapPod = bootstrapPod;
  const clusterId = input.clusterId ?? prev?.clusterId;
  if (clusterId) status.clusterId = clusterId;
  const rollout = input.rollout ? input.rollout.status : prev?.rollout;
  if (rollout) status.rollout = rollout;
  // The recorded size survives a reconcile that plans nothing else (an invalid spec).
  const hibernation = input.hibernation ? hib?.record : prev?.hibernation;
  if (hibernation) status.hibernation = hibernation;
  return status;
}

/** What the pods' access files hash to: a changed keys file or JWT secret changes the pod template, so the rollout restarts the pods onto it (the node reads both at start). */
export function accessDigest(refs: Observed['accessRefs']): string {
  return [refs?.apiKeysSecret?.digest ?? '', refs?.jwtSecret?.digest ?? ''].join(':');
}

/** The first Secret or key spec.security's access files name that is missing: the pods cannot start without it. */
export function missingAccessRef(spec: DefaultedSpec, refs: Observed['accessRefs']): { reason: string; message: string } | undefined {
  const check = (what: string, ref: { name: string; key?: string } | undefined, seen: SeenSecretKey | undefined, defaultKey: string) => {
    if (!ref || seen === undefined) return undefined;
    if (seen === null) return { reason: 'SecretNotFound', message: `${what} Secret ${ref.name} not found: the pods cannot start until it exists` };
    return seen.digest === null ? { reason: 'SecretKeyNotFound', message: `${what} Secret ${ref.name} has no key ${ref.key ?? defaultKey}: the pods cannot start until it does` } : undefined;
  };
  return check('API keys file', spec.security.apiKeysSecret, refs?.apiKeysSecret, API_KEYS_FILE_KEY)
    ?? check('JWT secret', spec.security.jwtSecret, refs?.jwtSecret, JWT_SECRET_KEY)
    ?? check('node TLS CRL', spec.security.nodeTls?.crlSecret, refs?.crlSecret, NODE_CRL_KEY);
}

/** The first thing spec.backup names that is missing: the pods cannot start without it (a secretKeyRef or volume that does not resolve). */
export function missingBackupRef(spec: DefaultedSpec, refs: Observed['backupRefs']): { reason: string; message: string } | undefined {
  const backup = spec.backup;
  if (!backup || !refs) return undefined;
  const secretProblem = (what: string, name: string, keys: string[] | null | undefined, needed: string[]) => {
    if (keys === undefined) return undefined;
    if (keys === null) return { reason: 'SecretNotFound', message: `${what} Secret ${name} not found: the pods cannot start until it exists` };
    const absent = needed.filter((k) => !keys.includes(k));
    return absent.length > 0 ? { reason: 'SecretKeyNotFound', message: `${what} Secret ${name} has no key ${absent.join(' or ')}: the pods cannot start until it does` } : undefined;
  };
  const s3 = backup.target?.s3;
  const fs = backup.target?.filesystem;
  const key = backup.encryptionKeySecret;
  return (s3?.credentialsSecret ? secretProblem('backup credentials', s3.credentialsSecret, refs.credentialsSecretKeys, [S3_CREDENTIAL_KEYS.accessKeyId, S3_CREDENTIAL_KEYS.secretAccessKey]) : undefined)
    ?? (fs && refs.claimExists === false ? { reason: 'PersistentVolumeClaimNotFound', message: `backup PersistentVolumeClaim ${fs.claimName} not found: the pods cannot start until it exists` } : undefined)
    ?? (key ? secretProblem('backup key', key.name, refs.encryptionKeySecretKeys, [key.key ?? 'backup-keys']) : undefined);
}

function rolloutMessage(r: NonNullable<VectorClusterStatus['rollout']>): string {
  return `restarting members one at a time onto revision ${r.revision}: ${r.done}/${r.total} done${r.waiting ? `; ${r.waiting}` : ''}`;
}

