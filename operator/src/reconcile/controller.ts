// The VectorCluster controller: informers feed a keyed work queue; each reconcile observes (informer
// caches, a few GETs, the members' /v1/status), asks the pure planner what to do, applies the actions in
// order (status last), then requeues: soon while the cluster is settling, slowly once it runs.
import { createHash, randomBytes } from 'node:crypto';
import type { VectorCluster } from '../api/types.js';
import { Informer } from '../kube/informer.js';
import type { InformerOptions } from '../kube/informer.js';
import { isConflict, isNotFound } from '../kube/client.js';
import type { KubeClient, KubeObject } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { API_KEYS_FILE_KEY, CHILD_KINDS, CLUSTER_LABEL, FINALIZER, JWT_SECRET_KEY, NODE_CRL_KEY, childNames } from './children.js';
import type { ChildKind, KubeObject as ChildObject } from './children.js';
import { memberCertificateNames, type NodeTls } from './node-http.js';
import { fetchNodeStatus } from './node-status.js';
import { requestBootstrap, requestDeclareDead, requestDrain, requestFence, requestRemove, requestUnfence } from './node-admin.js';
import { FENCE_REASON, FENCED_PODS_ANNOTATION } from './fencing.js';
import type { AdminResult, BootstrapResult } from './node-admin.js';
import { reportedMeta } from './meta-view.js';
import { plan } from './plan.js';
import type { Action, ConditionInput, NodeStatusReport, Observed, SeenSecretKey } from './plan.js';
import { WorkQueue } from './queue.js';
import { defaultSpec } from '../api/validate.js';
import { nextMissingSince } from './failover.js';
import { ensureNodeCertificates } from './node-certs.js';
import type { DeadRequest } from './failover.js';

export interface ControllerMetrics {
  reconciled(seconds: number, outcome: 'success' | 'error'): void;
  queueDepth(depth: number): void;
  phases(counts: Record<string, number>): void;
}

export interface ControllerOptions {
  client: KubeClient;
  events: EventRecorder;
  /** Watch one namespace; all namespaces when undefined. */
  namespace?: string;
  informer?: Partial<Omit<InformerOptions, 'kind' | 'namespace' | 'labelSelector'>>;
  /** Requeue delay while a cluster is not Running (its pods are starting, scaling, or failing). */
  requeueSettlingMs?: number;
  /** Requeue delay once Running, to refresh member state. */
  requeueRunningMs?: number;
  /** Reconciles running at once (different keys). */
  workers?: number;
  queueKeysMax?: number;
  metrics?: ControllerMetrics;
  log?: (m: string) => void;
  /** Debug-level messages (default: dropped). */
  debug?: (m: string) => void;
  /** `tls`: how to trust the member's certificate when spec.security.tlsSecret is set (https URLs). */
  nodeStatus?: (baseUrl: string, apiKey: string | undefined, tls?: NodeTls) => Promise<NodeStatusReport>;
  /** Asks a member to found the cluster (tests replace it); default POST /cluster/bootstrap on the pod. */
  bootstrapMember?: (baseUrl: string, apiKey: string | undefined, tls?: NodeTls) => Promise<BootstrapResult>;
  /** Drains and removes a member through a node's admin API (tests replace them). */
  drainMember?: (baseUrl: string, apiKey: string | undefined, nodeId: string, tls?: NodeTls) => Promise<AdminResult>;
  removeMember?: (baseUrl: string, apiKey: string | undefined, nodeId: string, tls?: NodeTls) => Promise<AdminResult>;
  /** Declares a member dead through a node's admin API (tests replace it). */
  declareDead?: (baseUrl: string, apiKey: string | undefined, nodeId: string, tls?: NodeTls) => Promise<AdminResult>;
  /** Fences or unfences a member on its own node's admin API (tests replace it). */
  fenceMember?: (baseUrl: string, apiKey: string | undefined, fence: boolean, tls?: NodeTls) => Promise<AdminResult>;
  /** Rolling restart: how long every member must have been rejoined before the next pod restarts (default ROLLOUT_SETTLE_MS). */
  rolloutSettleMs?: number;
  /** LastBackupSucceeded of a cluster (the backup controller's view); undefined keeps the condition as it is. */
  lastBackup?: (namespace: string, cluster: string) => ConditionInput | undefined;
}

const CHILD_KIND_NAMES: Record<ChildKind, string> = {
  serviceAccount: 'ServiceAccount', role: 'Role', roleBinding: 'RoleBinding', apiKeySecret: 'Secret', clusterSecret: 'Secret', configMap: 'ConfigMap',
  headlessService: 'Service', clientService: 'Service', podDisruptionBudget: 'PodDisruptionBudget', networkPolicy: 'NetworkPolicy', statefulSet: 'StatefulSet',
};
const MANAGED_SELECTOR = 'app.kubernetes.io/name=jadevectordb';

/** A pod's REST base URL from its IP; undefined while it has none or is going away. */
/** How the operator reaches members: plain HTTP, or HTTPS trusting the tlsSecret's ca.crt (none: unverified). */
type MemberAccess = { port: number; tls: { ca: string | undefined } | undefined };

/** A pod's REST base URL from its IP, and how to trust its certificate; undefined while it has no IP or is going away. */
function podAccess(pod: KubeObject | undefined, access: MemberAccess, cluster: VectorCluster): { url: string; tls?: NodeTls } | undefined {
  const ip = (pod?.status as { podIP?: string } | undefined)?.podIP;
  if (!pod || !ip || pod.metadata.deletionTimestamp) return undefined;
  const host = ip.includes(':') ? `[${ip}]` : ip;
  if (!access.tls) return { url: `http://${host}:${access.port}` };
  return { url: `https://${host}:${access.port}`, tls: { ca: access.tls.ca, names: memberCertificateNames(cluster, pod.metadata.name, ip) } };
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class ClusterController {
  readonly queue: WorkQueue;
  readonly clusters: Informer<KubeObject>;
  private readonly statefulSets: Informer<KubeObject>;
  private readonly pods: Informer<KubeObject>;
  private readonly log: (m: string) => void;
  private stopped = false;
  /** Per cluster key, the last refusal of a drain or remove, by pod (shown in ScalingBlocked until it succeeds). */
  private readonly refusals = new Map<string, Record<string, { reason: string; message: string }>>();
  /** Per cluster key, since when each expected pod has been seen missing (the failover clock of a pod that is gone). */
  private readonly missingSince = new Map<string, Record<string, string>>();
  /** Per cluster key, the dead declarations asked for, by pod (one per NotReady episode, retried slowly). */
  private readonly deadRequests = new Map<string, Record<string, DeadRequest>>();
  private workers: Promise<void>[] = [];
  reconciles = 0;

  constructor(private readonly opts: ControllerOptions) {
    this.log = opts.log ?? (() => {});
    this.queue = new WorkQueue({ keysMax: opts.queueKeysMax ?? 10_000 });
    const inf = { ...opts.informer, namespace: opts.namespace, log: this.log };
    this.clusters = new Informer(opts.client, { ...inf, kind: 'VectorCluster' });
    this.statefulSets = new Informer(opts.client, { ...inf, kind: 'StatefulSet', labelSelector: MANAGED_SELECTOR });
    this.pods = new Informer(opts.client, { ...inf, kind: 'Pod', labelSelector: MANAGED_SELECTOR });
    this.clusters.on((_event, o) => this.enqueue(keyOf(o.metadata.namespace, o.metadata.name)));
    const byLabel = (_event: string, o: KubeObject) => {
      const cluster = o.metadata.labels?.[CLUSTER_LABEL];
      if (cluster) this.enqueue(keyOf(o.metadata.namespace, cluster));
    };
    this.statefulSets.on(byLabel);
    this.pods.on(byLabel);
  }

  private enqueue(key: string): void {
    try { this.queue.add(key); } catch (e) { this.log(`dropping ${key}: ${String((e as Error).message)}`); }
    this.opts.metrics?.queueDepth(this.queue.depth);
  }

  async start(): Promise<void> {
    await Promise.all([this.clusters.start(), this.statefulSets.start(), this.pods.start()]);
    const n = this.opts.workers ?? 2;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.shutDown();
    await Promise.all([this.clusters.stop(), this.statefulSets.stop(), this.pods.stop()]);
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined || this.stopped) return;
      const started = performance.now();
      try {
        const requeueMs = await this.reconcile(key);
        this.queue.forget(key);
        if (requeueMs !== undefined && !this.stopped) this.queue.addAfter(key, requeueMs);
        this.opts.metrics?.reconciled((performance.now() - started) / 1000, 'success');
      } catch (e) {
        const delay = this.queue.addRateLimited(key);
        this.opts.metrics?.reconciled((performance.now() - started) / 1000, 'error');
        this.log(`reconcile ${key} failed (${isConflict(e) ? 'conflict' : String((e as Error).message ?? e)}); retry in ${delay} ms`);
      } finally {
        this.queue.done(key);
        this.opts.metrics?.queueDepth(this.queue.depth);
        this.reportPhases();
      }
    }
  }

  private reportPhases(): void {
    const counts: Record<string, number> = {};
    for (const c of this.clusters.list()) {
      const phase = String((c as unknown as VectorCluster).status?.phase ?? 'Pending');
      counts[phase] = (counts[phase] ?? 0) + 1;
    }
    this.opts.metrics?.phases(counts);
  }

  /** Observes, plans and applies one cluster; returns when to look again (undefined: only on change). */
  async reconcile(key: string): Promise<number | undefined> {
    this.reconciles += 1;
    const [namespace, name] = key.split('/');
    const cached = this.clusters.get(namespace, name);
    if (!cached) return this.forget(key);
    // Read the cluster fresh: the cache may lag our own last write by one event.
    const cluster = await this.opts.client.getOrUndefined<KubeObject>('VectorCluster', namespace, name) as unknown as VectorCluster | undefined;
    if (!cluster) return this.forget(key);
    // Operator-issued node TLS first: the pods mount its Secret, so it exists before they start.
    if (!cluster.metadata.deletionTimestamp) await ensureNodeCertificates(this.opts.client, this.opts.events, cluster, defaultSpec(cluster.spec));
    const { observed, apiKey, access } = await this.observe(cluster);
    const stsReplicas = Number((observed.children.statefulSet?.spec as { replicas?: number } | undefined)?.replicas ?? 0);
    if (defaultSpec(cluster.spec).replicas >= stsReplicas) this.refusals.delete(key);
    const refusals = this.refusals.get(key);
    if (refusals) observed.refusals = { ...refusals };
    const missing = nextMissingSince(Array.from({ length: stsReplicas }, (_, i) => `${name}-${i}`), observed.pods, this.missingSince.get(key) ?? {}, observed.now);
    this.missingSince.set(key, missing);
    observed.missingSince = missing;
    // Requests about pods the StatefulSet no longer has are done with.
    const requests = Object.fromEntries(Object.entries(this.deadRequests.get(key) ?? {}).filter(([pod]) => Number(pod.slice(name.length + 1)) < stsReplicas));
    this.deadRequests.set(key, requests);
    observed.deadRequests = { ...requests };
    const actions = plan(observed);
    await this.apply(cluster, actions, observed, apiKey, access);
    if (cluster.metadata.deletionTimestamp) return undefined;
    const status = (actions.find((a) => a.type === 'updateStatus') as Extract<Action, { type: 'updateStatus' }> | undefined)?.status ?? cluster.status;
    // Hibernated, nothing runs that could change: the slow interval, like Running.
    return status?.phase === 'Running' || status?.phase === 'Hibernated' ? (this.opts.requeueRunningMs ?? 30_000) : (this.opts.requeueSettlingMs ?? 3_000);
  }

  /** A cluster that is gone: drop what was kept about it between reconciles. */
  private forget(key: string): undefined {
    this.refusals.delete(key);
    this.missingSince.delete(key);
    this.deadRequests.delete(key);
    return undefined;
  }

  /** A member to send admin calls to: the meta leader's pod when it answered, else any other answering member. */
  private adminUrl(observed: Observed, access: MemberAccess, avoid: string): { url: string; tls?: NodeTls } | undefined {
    const leader = reportedMeta(observed.nodeStatus)?.leader;
    const answering = observed.pods.filter((p) => observed.nodeStatus[p.metadata.name]?.ok);
    const pick = answering.find((p) => p.metadata.name === leader) ?? answering.find((p) => p.metadata.name !== avoid) ?? answering[0];
    return podAccess(pick as KubeObject | undefined, access, observed.cluster);
  }

  private async observe(cluster: VectorCluster): Promise<{ observed: Observed; apiKey: string | undefined; access: MemberAccess }> {
    const { client } = this.opts;
    const ns = cluster.metadata.namespace ?? 'default';
    const name = cluster.metadata.name;
    const names = childNames(name);
    const children: Partial<Record<ChildKind, ChildObject>> = {};
    await Promise.all(CHILD_KINDS.map(async (kind) => {
      const obj = kind === 'statefulSet'
        ? this.statefulSets.get(ns, names.statefulSet) ?? await client.getOrUndefined(CHILD_KIND_NAMES[kind], ns, names[kind])
        : await client.getOrUndefined(CHILD_KIND_NAMES[kind], ns, names[kind]);
      if (obj) children[kind] = obj as ChildObject;
    }));
    const pods = this.pods.list().filter((p) => p.metadata.namespace === ns && p.metadata.labels?.[CLUSTER_LABEL] === name);
    const pvcs = (await client.list('PersistentVolumeClaim', ns, `${CLUSTER_LABEL}=${name}`)).items;
    const spec = defaultSpec(cluster.spec);
    const keyRef = spec.security.apiKeySecret;
    const keySecret = keyRef
      ? await client.getOrUndefined<KubeObject>('Secret', ns, keyRef.name)
      : children.apiKeySecret as KubeObject | undefined;
    const apiKey = secretValue(keySecret, keyRef?.key ?? 'api-key');
    // TLS: the pods serve HTTPS with the Secret's tls.crt; its ca.crt, when there, is what the operator trusts.
    const tlsRef = spec.security.tlsSecret;
    const tlsSecret = tlsRef ? await client.getOrUndefined<KubeObject>('Secret', ns, tlsRef.name) : undefined;
    const access: MemberAccess = { port: spec.node.ports.rest, tls: tlsRef ? { ca: secretValue(tlsSecret, 'ca.crt') } : undefined };
    const nodeTlsName = spec.security.nodeTls?.secretName;
    const nodeTlsSecretExists = nodeTlsName ? (await client.getOrUndefined<KubeObject>('Secret', ns, nodeTlsName)) !== undefined : undefined;
    const backupRefs = await this.observeBackupRefs(ns, spec);
    const accessRefs = await this.observeAccessRefs(ns, spec);
    const nodeStatus: Record<string, NodeStatusReport> = {};
    if (!cluster.metadata.deletionTimestamp) {
      const fetcher = this.opts.nodeStatus ?? ((url: string, k: string | undefined, tls?: NodeTls) => fetchNodeStatus(url, k, undefined, tls));
      await Promise.all(pods.map(async (p) => {
        const member = podAccess(p, access, cluster);
        if (member) nodeStatus[p.metadata.name] = await fetcher(member.url, apiKey, member.tls);
      }));
    }
    const observed: Observed = {
      cluster, children, pods: pods as ChildObject[], pvcs: pvcs as ChildObject[], nodeStatus,
      ...(keyRef ? { userApiKeySecretExists: keySecret !== undefined } : {}),
      ...(tlsRef ? { tlsSecretExists: tlsSecret !== undefined } : {}),
      ...(nodeTlsSecretExists !== undefined ? { nodeTlsSecretExists } : {}),
      ...(backupRefs ? { backupRefs } : {}),
      ...(accessRefs ? { accessRefs } : {}),
      generatedApiKey: randomBytes(24).toString('base64url'),
      generatedClusterSecret: randomBytes(32).toString('base64url'),
      now: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ...(this.opts.rolloutSettleMs !== undefined ? { rolloutSettleMs: this.opts.rolloutSettleMs } : {}),
    };
    const lastBackup = this.opts.lastBackup?.(ns, name);
    if (lastBackup) observed.lastBackup = lastBackup;
    return { observed, apiKey, access };
  }

  /** The Secrets of spec.security's access files: their keys, and a digest of the one the pods read so that a change rolls them (the value itself is never kept or logged). */
  private async observeAccessRefs(ns: string | undefined, spec: ReturnType<typeof defaultSpec>): Promise<Observed['accessRefs']> {
    const { apiKeysSecret, jwtSecret } = spec.security;
    const crlSecret = spec.security.nodeTls?.crlSecret;
    if (!apiKeysSecret && !jwtSecret && !crlSecret) return undefined;
    const seen = async (ref: { name: string; key?: string }, defaultKey: string): Promise<SeenSecretKey> => {
      const secret = await this.opts.client.getOrUndefined<KubeObject>('Secret', ns, ref.name);
      if (!secret) return null;
      const keys = [...Object.keys((secret.data ?? {}) as object), ...Object.keys((secret.stringData ?? {}) as object)];
      const value = secretValue(secret, ref.key ?? defaultKey);
      return { keys, digest: value === undefined ? null : createHash('sha256').update(value).digest('hex') };
    };
    const refs: NonNullable<Observed['accessRefs']> = {};
    if (apiKeysSecret) refs.apiKeysSecret = await seen(apiKeysSecret, API_KEYS_FILE_KEY);
    if (jwtSecret) refs.jwtSecret = await seen(jwtSecret, JWT_SECRET_KEY);
    if (crlSecret) refs.crlSecret = await seen(crlSecret, NODE_CRL_KEY);
    return refs;
  }

  /** The Secrets and PVC spec.backup names, as far as the pods need them to start (key names only: values are never read). */
  private async observeBackupRefs(ns: string | undefined, spec: ReturnType<typeof defaultSpec>): Promise<Observed['backupRefs']> {
    const backup = spec.backup;
    if (!backup) return undefined;
    const { client } = this.opts;
    const keysOf = async (name: string) => {
      const secret = await client.getOrUndefined<KubeObject>('Secret', ns, name);
      return secret ? [...Object.keys((secret.data ?? {}) as object), ...Object.keys((secret.stringData ?? {}) as object)] : null;
    };
    const refs: NonNullable<Observed['backupRefs']> = {};
    const s3 = backup.target?.s3;
    if (s3?.credentialsSecret) refs.credentialsSecretKeys = await keysOf(s3.credentialsSecret);
    const fs = backup.target?.filesystem;
    if (fs) refs.claimExists = (await client.getOrUndefined<KubeObject>('PersistentVolumeClaim', ns, fs.claimName)) !== undefined;
    if (backup.encryptionKeySecret) refs.encryptionKeySecretKeys = await keysOf(backup.encryptionKeySecret.name);
    return refs;
  }

  private async apply(cluster: VectorCluster, actions: Action[], observed: Observed, apiKey: string | undefined, access: MemberAccess): Promise<void> {
    const { client, events } = this.opts;
    const ns = cluster.metadata.namespace;
    const name = cluster.metadata.name;
    const involved = cluster as unknown as KubeObject;
    for (const action of actions) {
      switch (action.type) {
        case 'addFinalizer':
          await client.patch('VectorCluster', ns, name, { metadata: { finalizers: [...(cluster.metadata.finalizers ?? []), FINALIZER], resourceVersion: cluster.metadata.resourceVersion } });
          break;
        case 'removeFinalizer':
          await client.patch('VectorCluster', ns, name, { metadata: { finalizers: (cluster.metadata.finalizers ?? []).filter((f) => f !== FINALIZER), resourceVersion: cluster.metadata.resourceVersion } });
          break;
        case 'create':
          try {
            await client.create(action.object as KubeObject);
          } catch (e) {
            // Already there (our cache lagged): the next reconcile compares and patches it.
            if (!isConflict(e)) throw e;
          }
          break;
        case 'patch':
          await client.patch(action.ref.kind, action.ref.namespace, action.ref.name, action.patch);
          break;
        case 'delete':
          await client.delete(action.ref.kind, action.ref.namespace, action.ref.name);
          break;
        case 'bootstrapCluster': {
          const member = podAccess(observed.pods.find((p) => p.metadata.name === action.pod) as KubeObject | undefined, access, cluster);
          if (!member) break;
          const result = await (this.opts.bootstrapMember ?? requestBootstrap)(member.url, apiKey, member.tls);
          if (result.founded) {
            await events.record(involved, 'Normal', 'ClusterBootstrapped', `${action.pod} founded cluster ${result.clusterId}; the other members join through it`);
          } else {
            this.log(`${key(cluster)}: ${action.pod} did not found the cluster (${result.reason}): ${result.message}`);
          }
          break;
        }
        case 'drainMember':
        case 'removeMember': {
          const member = this.adminUrl(observed, access, action.pod);
          if (!member) break;
          const call = action.type === 'drainMember' ? (this.opts.drainMember ?? requestDrain) : (this.opts.removeMember ?? requestRemove);
          let result: AdminResult;
          try {
            result = await call(member.url, apiKey, action.pod, member.tls);
          } catch (e) {
            // No meta leader right now, a timeout: try again at the next reconcile.
            this.log(`${key(cluster)}: ${action.type} ${action.pod}: ${String((e as Error).message ?? e)}`);
            break;
          }
          const refusals = this.refusals.get(key(cluster)) ?? {};
          if (result.done) {
            delete refusals[action.pod];
            await events.record(involved, 'Normal', action.type === 'drainMember' ? 'DrainStarted' : 'MemberRemoved',
              action.type === 'drainMember' ? `Draining ${action.pod}: the meta leader moves its replicas and leaderships to the remaining members` : `${action.pod} was drained and left the cluster`);
          } else {
            refusals[action.pod] = { reason: result.reason, message: result.message };
            this.log(`${key(cluster)}: ${action.type} ${action.pod} refused (${result.reason}): ${result.message}`);
          }
          this.refusals.set(key(cluster), refusals);
          break;
        }
        case 'declareMemberDead': {
          const member = this.adminUrl(observed, access, action.pod);
          if (!member) break;
          const requests = this.deadRequests.get(key(cluster)) ?? {};
          this.deadRequests.set(key(cluster), requests);
          requests[action.pod] = { since: action.since, at: observed.now, confirmed: false };
          let result: AdminResult;
          try {
            result = await (this.opts.declareDead ?? requestDeclareDead)(member.url, apiKey, action.pod, member.tls);
          } catch (e) {
            this.log(`${key(cluster)}: declaring ${action.pod} dead: ${String((e as Error).message ?? e)}`);
            break;
          }
          if (result.done) {
            requests[action.pod].confirmed = true;
            const afterSeconds = defaultSpec(cluster.spec).failover.notReadyDeadAfterSeconds;
            await events.record(involved, 'Warning', 'MemberDeclaredDead',
              `${action.pod} was not ready for ${action.notReadySeconds} s (spec.failover.notReadyDeadAfterSeconds: ${afterSeconds}); the meta leader declared it dead and re-creates its replicas on the other members`);
          } else if (result.reason === 'NODE_ALIVE') {
            // The meta leader still hears it (a failing probe, not a lost node): nothing to do.
            (this.opts.debug ?? (() => {}))(`${key(cluster)}: ${action.pod} not declared dead: ${result.message}`);
          } else {
            this.log(`${key(cluster)}: declaring ${action.pod} dead refused (${result.reason}): ${result.message}`);
          }
          break;
        }
        case 'fenceMember':
        case 'unfenceMember': {
          // The pod's own node: fencing acts on the node that answers.
          const member = podAccess(observed.pods.find((p) => p.metadata.name === action.pod) as KubeObject | undefined, access, cluster);
          if (!member) break;
          const fence = action.type === 'fenceMember';
          const call = this.opts.fenceMember ?? ((url: string, k: string | undefined, f: boolean, tls?: NodeTls) => (f ? requestFence(url, k, FENCE_REASON, tls) : requestUnfence(url, k, tls)));
          let result: AdminResult;
          try {
            result = await call(member.url, apiKey, fence, member.tls);
          } catch (e) {
            this.log(`${key(cluster)}: ${fence ? 'fencing' : 'unfencing'} ${action.pod}: ${String((e as Error).message ?? e)}`);
            break;
          }
          if (result.done) {
            await events.record(involved, fence ? 'Warning' : 'Normal', fence ? 'MemberFenced' : 'MemberUnfenced', fence
              ? `${action.pod} is fenced (annotation ${FENCED_PODS_ANNOTATION}): its node keeps its data but serves nothing; its groups run on the other replicas`
              : `${action.pod} is no longer in ${FENCED_PODS_ANNOTATION}: its node starts serving again and catches up`);
          } else {
            this.log(`${key(cluster)}: ${fence ? 'fencing' : 'unfencing'} ${action.pod} refused (${result.reason}): ${result.message}`);
          }
          break;
        }
        case 'restartMember':
          await client.delete('Pod', ns, action.pod);
          await events.record(involved, 'Normal', 'MemberRestarted', `Deleted pod ${action.pod} (every member had rejoined and settled); the StatefulSet recreates it from revision ${action.revision}`);
          break;
        case 'event':
          await events.record(involved, action.eventType, action.reason, action.message);
          break;
        case 'updateStatus':
          try {
            // A merge patch keeps what it does not name: a field the new status drops (status.hibernation) is sent as null.
            const dropped = Object.fromEntries(Object.keys(cluster.status ?? {}).filter((k) => !(k in action.status)).map((k) => [k, null]));
            await client.patchStatus('VectorCluster', ns, name, { ...dropped, ...action.status });
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          break;
      }
    }
  }
}

function key(cluster: VectorCluster): string {
  return keyOf(cluster.metadata.namespace, cluster.metadata.name);
}

function secretValue(secret: KubeObject | undefined, key: string): string | undefined {
  if (!secret) return undefined;
  const data = secret.data as Record<string, string> | undefined;
  if (data?.[key]) return Buffer.from(data[key], 'base64').toString('utf8');
  const stringData = secret.stringData as Record<string, string> | undefined;
  return stringData?.[key];
}
