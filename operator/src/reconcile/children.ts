// Pure builders of the Kubernetes objects a VectorCluster owns: StatefulSet, headless and client Services,
// PodDisruptionBudget, ConfigMap, generated API-key and cluster Secrets, ServiceAccount/Role/RoleBinding. Each carries an
// owner reference (garbage collection) and a spec-hash annotation (update only when our intent changed).
import { createHash } from 'node:crypto';
import { API_VERSION } from '../api/types.js';
import type { BackupTarget, DefaultedSpec, ObjectMeta, OwnerReference, VectorCluster } from '../api/types.js';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export const DATA_DIR = '/var/lib/jadevectordb';
/** Where spec.security.tlsSecret is mounted (tls.crt, tls.key, ca.crt); the node reloads the files when the Secret changes. */
export const TLS_DIR = '/etc/jadevectordb/tls';
const TLS_VOLUME = 'tls';
/** Where the node-to-node TLS Secret (spec.security.nodeTls) is mounted: tls.crt, tls.key, ca.crt, reloaded by the node when the Secret changes. */
export const NODE_TLS_DIR = '/etc/jadevectordb/node-tls';
const NODE_TLS_VOLUME = 'node-tls';
export const NODE_CRL_DIR = '/etc/jadevectordb/node-crl';
const NODE_CRL_VOLUME = 'node-crl';
export const NODE_CRL_KEY = 'ca.crl';
/** Where spec.backup.encryptionKeySecret is mounted: only its one key, as a file of that name. */
export const BACKUP_KEYS_DIR = '/etc/jadevectordb/backup-keys';
const BACKUP_KEYS_VOLUME = 'backup-keys';
/** The filesystem target's PVC volume. */
const BACKUPS_VOLUME = 'backups';
/** The keys the node's S3 target reads its credentials from; credentialsSecret must hold the first two. */
export const S3_CREDENTIAL_KEYS = { accessKeyId: 'AWS_ACCESS_KEY_ID', secretAccessKey: 'AWS_SECRET_ACCESS_KEY', sessionToken: 'AWS_SESSION_TOKEN' } as const;
export const FINALIZER = 'jadevectordb.io/cleanup';
export const SPEC_HASH_ANNOTATION = 'jadevectordb.io/spec-hash';
export const CONFIG_HASH_ANNOTATION = 'jadevectordb.io/config-hash';
/** The digest of the API keys file and JWT secret the pods read at start (plan.ts accessDigest). */
export const ACCESS_HASH_ANNOTATION = 'jadevectordb.io/access-hash';
export const ACCESS_DIR = '/etc/jadevectordb/access';
export const API_KEYS_FILE_KEY = 'keys.json';
export const JWT_SECRET_KEY = 'jwt-secret';
export const CLUSTER_LABEL = 'jadevectordb.io/cluster';
export const FIELD_MANAGER = 'jadevectordb-operator';
const NODE_USER_ID = 10001;
/** The StatefulSet's claim template: PVCs are named data-<pod>. */
export const DATA_VOLUME = 'data';

export const CHILD_KINDS = ['serviceAccount', 'role', 'roleBinding', 'apiKeySecret', 'clusterSecret', 'configMap', 'headlessService', 'clientService', 'podDisruptionBudget', 'networkPolicy', 'statefulSet'] as const;
export type ChildKind = (typeof CHILD_KINDS)[number];

export function childNames(cluster: string): Record<ChildKind, string> {
  return {
    serviceAccount: `${cluster}-node`, role: `${cluster}-node`, roleBinding: `${cluster}-node`, apiKeySecret: `${cluster}-api-key`,
    clusterSecret: `${cluster}-cluster-secret`,
    configMap: `${cluster}-config`, headlessService: `${cluster}-peers`, clientService: cluster, podDisruptionBudget: cluster, networkPolicy: cluster, statefulSet: cluster,
  };
}

/** The Secrets of operator-issued node TLS: the CA (tls.crt, tls.key) and the node certificate (tls.crt, tls.key, ca.crt). */
export function nodeTlsSecretNames(cluster: string): { ca: string; node: string } {
  return { ca: `${cluster}-node-ca`, node: `${cluster}-node-tls` };
}

/** The Secret the pods' node-to-node TLS comes from, and whether the operator issues it; null without spec.security.nodeTls. */
export function nodeTlsSource(cluster: VectorCluster, spec: DefaultedSpec): { secretName: string; issued: boolean } | null {
  const nodeTls = spec.security.nodeTls;
  if (!nodeTls) return null;
  return nodeTls.secretName ? { secretName: nodeTls.secretName, issued: false } : { secretName: nodeTlsSecretNames(cluster.metadata.name).node, issued: true };
}

/** The DNS names the node certificate must hold: every pod under the headless Service, and the Services (the join seed among them). */
export function nodeCertificateDnsNames(cluster: VectorCluster): string[] {
  const ns = cluster.metadata.namespace ?? 'default';
  const names = childNames(cluster.metadata.name);
  return [
    `*.${names.headlessService}.${ns}.svc`, `*.${names.headlessService}.${ns}.svc.cluster.local`,
    `${names.headlessService}.${ns}.svc`, `${names.headlessService}.${ns}.svc.cluster.local`,
    `${names.clientService}.${ns}.svc`, `${names.clientService}.${ns}.svc.cluster.local`,
  ];
}

export function selectorLabels(cluster: string): Record<string, string> {
  return { 'app.kubernetes.io/name': 'jadevectordb', [CLUSTER_LABEL]: cluster };
}
export function selectorString(cluster: string): string {
  return Object.entries(selectorLabels(cluster)).map(([k, v]) => `${k}=${v}`).join(',');
}
function labels(cluster: string): Record<string, string> {
  return { ...selectorLabels(cluster), 'app.kubernetes.io/instance': cluster, 'app.kubernetes.io/managed-by': 'jadevectordb-operator', 'app.kubernetes.io/component': 'database' };
}

export function ownerReference(cluster: VectorCluster): OwnerReference {
  return { apiVersion: API_VERSION, kind: 'VectorCluster', name: cluster.metadata.name, uid: cluster.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** Stable JSON (sorted keys) so equal intent always hashes equal. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
export function hashOf(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex').slice(0, 16);
}

export function meta(cluster: VectorCluster, name: string, extra: Partial<ObjectMeta> = {}): ObjectMeta {
  return { name, namespace: cluster.metadata.namespace, labels: labels(cluster.metadata.name), ownerReferences: [ownerReference(cluster)], ...extra };
}

/** Adds the spec-hash annotation computed over everything but metadata (and StatefulSet claim templates, which are immutable). */
function withHash(object: KubeObject): KubeObject {
  const { metadata: _metadata, ...rest } = object;
  const hashed = object.kind === 'StatefulSet'
    ? { ...rest, spec: { ...(rest.spec as Record<string, unknown>), volumeClaimTemplates: undefined } }
    : rest;
  return { ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, [SPEC_HASH_ANNOTATION]: hashOf({ hashed, labels: object.metadata.labels }) } } };
}

/** The headless Service's DNS name: every pod names it as its seed (it resolves to every pod, ready or not). */
export function peerServiceHost(cluster: VectorCluster): string {
  return `${childNames(cluster.metadata.name).headlessService}.${cluster.metadata.namespace ?? 'default'}.svc.cluster.local`;
}

export const CLUSTER_SECRET_KEY = 'cluster-secret';

/** The ConfigMap data: JADE_* keys the node reads through envFrom, and nothing it does not read. */
export function nodeConfig(cluster: VectorCluster, spec: DefaultedSpec): Record<string, string> {
  return {
    JADE_HNSW_M: String(spec.node.hnsw.m),
    JADE_HNSW_EF_CONSTRUCTION: String(spec.node.hnsw.efConstruction),
    JADE_HNSW_EF: String(spec.node.hnsw.efSearch),
    JADE_BODY_BYTES_MAX: String(spec.node.limits.maxRequestBodyBytes),
    JADE_BATCH_POINTS_MAX: String(spec.node.limits.maxBatchPoints),
    JADE_COLLECTIONS_MAX: String(spec.node.limits.maxCollections),
    JADE_WRITES_IN_FLIGHT_MAX: String(spec.node.limits.maxWritesInFlight),
    // Cluster mode: every pod joins through the headless Service; the operator asks one to found the cluster.
    JADE_JOIN: `${peerServiceHost(cluster)}:${spec.node.ports.grpc}`,
    JADE_DEFAULT_SHARDS: String(spec.sharding.shardsPerCollection),
    ...(spec.sharding.replicationFactor !== undefined ? { JADE_DEFAULT_REPLICATION_FACTOR: String(spec.sharding.replicationFactor) } : {}),
    JADE_WRITE_CONSISTENCY: spec.sharding.writeConsistency,
  };
}

export function apiKeySecretRef(cluster: VectorCluster, spec: DefaultedSpec): { name: string; key: string; generated: boolean } {
  const given = spec.security.apiKeySecret;
  if (given) return { name: given.name, key: given.key ?? 'api-key', generated: false };
  return { name: childNames(cluster.metadata.name).apiKeySecret, key: 'api-key', generated: true };
}

export function buildConfigMap(cluster: VectorCluster, spec: DefaultedSpec): KubeObject {
  return withHash({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(cluster, childNames(cluster.metadata.name).configMap), data: nodeConfig(cluster, spec) });
}

export function buildApiKeySecret(cluster: VectorCluster, apiKey: string): KubeObject {
  return withHash({
    apiVersion: 'v1', kind: 'Secret', metadata: meta(cluster, childNames(cluster.metadata.name).apiKeySecret), type: 'Opaque',
    stringData: { 'api-key': apiKey },
  });
}

/** The secret every node of the cluster proves on Raft streams and internal calls; generated once, never rotated here. */
export function buildClusterSecret(cluster: VectorCluster, secret: string): KubeObject {
  return withHash({
    apiVersion: 'v1', kind: 'Secret', metadata: meta(cluster, childNames(cluster.metadata.name).clusterSecret), type: 'Opaque',
    stringData: { [CLUSTER_SECRET_KEY]: secret },
  });
}

function ports(spec: DefaultedSpec) {
  return [
    { name: 'http', port: spec.node.ports.rest, targetPort: 'http', protocol: 'TCP' },
    { name: 'grpc', port: spec.node.ports.grpc, targetPort: 'grpc', protocol: 'TCP' },
    ...(spec.node.ports.apiGrpc > 0 ? [{ name: 'qdrant-grpc', port: spec.node.ports.apiGrpc, targetPort: 'qdrant-grpc', protocol: 'TCP' }] : []),
  ];
}

export function buildHeadlessService(cluster: VectorCluster, spec: DefaultedSpec): KubeObject {
  return withHash({
    apiVersion: 'v1', kind: 'Service', metadata: meta(cluster, childNames(cluster.metadata.name).headlessService),
    // Peers must find each other before they are ready (a Raft group forms before /readyz passes).
    spec: { clusterIP: 'None', publishNotReadyAddresses: true, selector: selectorLabels(cluster.metadata.name), ports: ports(spec) },
  });
}

export function buildClientService(cluster: VectorCluster, spec: DefaultedSpec): KubeObject {
  return withHash({
    apiVersion: 'v1', kind: 'Service', metadata: meta(cluster, childNames(cluster.metadata.name).clientService),
    spec: { type: 'ClusterIP', selector: selectorLabels(cluster.metadata.name), ports: ports(spec) },
  });
}

export function buildPodDisruptionBudget(cluster: VectorCluster): KubeObject {
  return withHash({
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(cluster, childNames(cluster.metadata.name).podDisruptionBudget),
    // Never more than one voter down at a time through voluntary disruptions (drains, upgrades).
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cluster.metadata.name) } },
  });
}

export function buildServiceAccount(cluster: VectorCluster): KubeObject {
  // The node does not call the Kubernetes API today: no token is mounted.
  return withHash({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(cluster, childNames(cluster.metadata.name).serviceAccount), automountServiceAccountToken: false });
}

export function buildRole(cluster: VectorCluster): KubeObject {
  const names = childNames(cluster.metadata.name);
  return withHash({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(cluster, names.role),
    // Least privilege: read its own config and the peers' endpoints, nothing else, no writes.
    rules: [
      { apiGroups: [''], resources: ['configmaps'], resourceNames: [names.configMap], verbs: ['get'] },
      { apiGroups: [''], resources: ['endpoints'], resourceNames: [names.headlessService], verbs: ['get'] },
    ],
  });
}

export function buildRoleBinding(cluster: VectorCluster): KubeObject {
  const names = childNames(cluster.metadata.name);
  return withHash({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(cluster, names.roleBinding),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: names.role },
    subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: cluster.metadata.namespace }],
  });
}

/** JADE_BACKUP_S3_URL for an S3 target: the node drops a trailing "/" of the prefix too. */
export function s3Url(s3: NonNullable<BackupTarget['s3']>): string {
  const prefix = (s3.prefix ?? '').replace(/\/+$/, '');
  return `s3://${s3.bucket}${prefix ? `/${prefix}` : ''}`;
}

/** Where backup `id` lands, as the status says it: the cluster's target when it has one, else the pod's own volume. */
export function backupLocation(spec: DefaultedSpec, id: string, pod: string): string {
  const target = spec.backup?.target;
  if (target?.s3) return `${s3Url(target.s3)}/${id}`;
  if (target?.filesystem) return `PVC ${target.filesystem.claimName}: ${target.filesystem.path}/${id}/manifest.json`;
  return `pod ${pod}, PVC ${DATA_VOLUME}-${pod}: ${DATA_DIR}/backups/${id}/manifest.json`;
}

/** The pods' env, mounts and volumes for spec.backup: the target and the key file. Credentials stay in their Secret (secretKeyRef). */
function backupWiring(spec: DefaultedSpec): { env: Record<string, unknown>[]; mounts: Record<string, unknown>[]; volumes: Record<string, unknown>[] } {
  const env: Record<string, unknown>[] = [];
  const mounts: Record<string, unknown>[] = [];
  const volumes: Record<string, unknown>[] = [];
  const { target, encryptionKeySecret } = spec.backup ?? {};
  if (target?.s3) {
    const s3 = target.s3;
    env.push({ name: 'JADE_BACKUP_S3_URL', value: s3Url(s3) });
    if (s3.endpoint) env.push({ name: 'JADE_BACKUP_S3_ENDPOINT', value: s3.endpoint });
    env.push({ name: 'JADE_BACKUP_S3_REGION', value: s3.region ?? 'us-east-1' });
    if (s3.credentialsSecret) {
      const ref = (key: string, optional?: true) => ({ secretKeyRef: { name: s3.credentialsSecret, key, ...(optional ? { optional } : {}) } });
      env.push(
        { name: 'AWS_ACCESS_KEY_ID', valueFrom: ref(S3_CREDENTIAL_KEYS.accessKeyId) },
        { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: ref(S3_CREDENTIAL_KEYS.secretAccessKey) },
        // Temporary credentials only: a Secret without it is the usual case.
        { name: 'AWS_SESSION_TOKEN', valueFrom: ref(S3_CREDENTIAL_KEYS.sessionToken, true) },
      );
    }
  } else if (target?.filesystem) {
    const fs = target.filesystem;
    env.push({ name: 'JADE_BACKUP_DIR', value: fs.path });
    mounts.push({ name: BACKUPS_VOLUME, mountPath: fs.path });
    volumes.push({ name: BACKUPS_VOLUME, persistentVolumeClaim: { claimName: fs.claimName } });
  }
  if (encryptionKeySecret) {
    const key = encryptionKeySecret.key ?? 'backup-keys';
    env.push({ name: 'JADE_BACKUP_KEY_FILE', value: `${BACKUP_KEYS_DIR}/${key}` });
    mounts.push({ name: BACKUP_KEYS_VOLUME, mountPath: BACKUP_KEYS_DIR, readOnly: true });
    // Only the one key, 0440 like the TLS key: readable by the node's group (fsGroup) only.
    volumes.push({ name: BACKUP_KEYS_VOLUME, secret: { secretName: encryptionKeySecret.name, items: [{ key, path: key }], defaultMode: 0o440 } });
  }
  return { env, mounts, volumes };
}

/** The env names backupWiring sets with plain values. */
export const BACKUP_ENV_NAMES: ReadonlySet<string> = new Set(['JADE_BACKUP_S3_URL', 'JADE_BACKUP_S3_ENDPOINT', 'JADE_BACKUP_S3_REGION', 'JADE_BACKUP_DIR', 'JADE_BACKUP_KEY_FILE']);

/** The plain-valued backup env (target and key file) of the pods spec describes: what a pod's container env must show to write where spec says. */
export function backupEnv(spec: DefaultedSpec): Record<string, string> {
  return Object.fromEntries(backupWiring(spec).env.filter((e) => typeof e.value === 'string').map((e) => [e.name as string, e.value as string]));
}

/** The pods' env, mounts and volumes for spec.security.apiKeysSecret and jwtSecret: one read-only Secret volume each, holding the one key. */
function accessWiring(spec: DefaultedSpec): { env: Record<string, unknown>[]; mounts: Record<string, unknown>[]; volumes: Record<string, unknown>[] } {
  const out = { env: [] as Record<string, unknown>[], mounts: [] as Record<string, unknown>[], volumes: [] as Record<string, unknown>[] };
  const wire = (ref: { name: string; key?: string } | undefined, envName: string, volume: string, file: string) => {
    if (!ref) return;
    const dir = `${ACCESS_DIR}/${volume}`;
    out.env.push({ name: envName, value: `${dir}/${file}` });
    out.mounts.push({ name: volume, mountPath: dir, readOnly: true });
    // 0440 like the TLS key: readable by the node's group (fsGroup) only.
    out.volumes.push({ name: volume, secret: { secretName: ref.name, items: [{ key: ref.key ?? file, path: file }], defaultMode: 0o440 } });
  };
  wire(spec.security.apiKeysSecret, 'JADE_API_KEYS_FILE', 'api-keys', API_KEYS_FILE_KEY);
  wire(spec.security.jwtSecret, 'JADE_JWT_SECRET_FILE', 'jwt', JWT_SECRET_KEY);
  return out;
}

export function buildStatefulSet(cluster: VectorCluster, spec: DefaultedSpec, replicas: number, accessDigest = ''): KubeObject {
  const name = cluster.metadata.name;
  const names = childNames(name);
  const keyRef = apiKeySecretRef(cluster, spec);
  const tlsSecret = spec.security.tlsSecret;
  const nodeTls = nodeTlsSource(cluster, spec);
  const crlSecret = nodeTls ? spec.security.nodeTls?.crlSecret : undefined;
  // With TLS the REST port speaks HTTPS only, probes included (the kubelet does not verify the certificate).
  const scheme = tlsSecret ? 'HTTPS' : 'HTTP';
  const podLabels = { ...spec.template.labels, ...labels(name) };
  const configHash = hashOf(nodeConfig(cluster, spec));
  const backup = backupWiring(spec);
  const access = accessWiring(spec);
  const affinity = spec.template.affinity ?? {
    podAntiAffinity: {
      // Preferred, not required: a one-node dev cluster still schedules every pod.
      preferredDuringSchedulingIgnoredDuringExecution: [{
        weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: selectorLabels(name) } },
      }],
    },
  };
  const container = {
    name: 'jadevectordb',
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    env: [
      { name: 'JADE_HOST', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'JADE_PORT', value: String(spec.node.ports.rest) },
      { name: 'JADE_GRPC_PORT', value: String(spec.node.ports.grpc) },
      { name: 'JADE_API_GRPC_PORT', value: spec.node.ports.apiGrpc > 0 ? String(spec.node.ports.apiGrpc) : 'off' },
      { name: 'JADE_DATA_DIR', value: DATA_DIR },
      { name: 'JADE_NODE_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'JADE_API_KEY', valueFrom: { secretKeyRef: { name: keyRef.name, key: keyRef.key } } },
      { name: 'JADE_CLUSTER_SECRET', valueFrom: { secretKeyRef: { name: names.clusterSecret, key: CLUSTER_SECRET_KEY } } },
      { name: 'JADE_CLUSTER_NAME', value: name },
      { name: 'JADE_LOG_LEVEL', value: spec.node.logLevel },
      ...(tlsSecret ? [{ name: 'JADE_TLS_CERT_FILE', value: `${TLS_DIR}/tls.crt` }, { name: 'JADE_TLS_KEY_FILE', value: `${TLS_DIR}/tls.key` }] : []),
      ...(nodeTls ? [
        { name: 'JADE_NODE_TLS_CERT_FILE', value: `${NODE_TLS_DIR}/tls.crt` }, { name: 'JADE_NODE_TLS_KEY_FILE', value: `${NODE_TLS_DIR}/tls.key` }, { name: 'JADE_NODE_TLS_CA_FILE', value: `${NODE_TLS_DIR}/ca.crt` },
        ...(crlSecret ? [{ name: 'JADE_NODE_TLS_CRL_FILE', value: `${NODE_CRL_DIR}/${NODE_CRL_KEY}` }] : []),
        // Peers dial this pod by its DNS name (which the certificate's *.<headless> SAN covers), not its IP.
        { name: 'JADE_ADVERTISE_HOST', value: `$(JADE_NODE_ID).${peerServiceHost(cluster)}` },
      ] : []),
      ...backup.env,
      ...access.env,
    ],
    envFrom: [{ configMapRef: { name: names.configMap } }],
    ports: [
      { name: 'http', containerPort: spec.node.ports.rest, protocol: 'TCP' },
      { name: 'grpc', containerPort: spec.node.ports.grpc, protocol: 'TCP' },
      ...(spec.node.ports.apiGrpc > 0 ? [{ name: 'qdrant-grpc', containerPort: spec.node.ports.apiGrpc, protocol: 'TCP' }] : []),
    ],
    readinessProbe: { httpGet: { path: '/readyz', port: 'http', scheme }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
    startupProbe: { httpGet: { path: '/healthz', port: 'http', scheme }, periodSeconds: 2, failureThreshold: 150 },
    resources: spec.resources,
    securityContext: {
      runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: DATA_VOLUME, mountPath: DATA_DIR },
      { name: 'tmp', mountPath: '/tmp' },
      // A whole-Secret mount (no subPath), so the kubelet's updates reach the pod and the node reloads them.
      ...(tlsSecret ? [{ name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true }] : []),
      ...(nodeTls ? [{ name: NODE_TLS_VOLUME, mountPath: NODE_TLS_DIR, readOnly: true }] : []),
      ...(crlSecret ? [{ name: NODE_CRL_VOLUME, mountPath: NODE_CRL_DIR, readOnly: true }] : []),
      ...backup.mounts,
      ...access.mounts,
    ],
  };
  const podSpec: Record<string, unknown> = {
    serviceAccountName: names.serviceAccount,
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: spec.template.terminationGracePeriodSeconds,
    securityContext: {
      runAsNonRoot: true, runAsUser: NODE_USER_ID, runAsGroup: NODE_USER_ID, fsGroup: NODE_USER_ID,
      fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' },
    },
    affinity,
    containers: [container],
    volumes: [
      { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
      // 0440: the key is readable by the node's group (fsGroup) only.
      ...(tlsSecret ? [{ name: TLS_VOLUME, secret: { secretName: tlsSecret.name, defaultMode: 0o440 } }] : []),
      ...(nodeTls ? [{ name: NODE_TLS_VOLUME, secret: { secretName: nodeTls.secretName, defaultMode: 0o440 } }] : []),
      // Not subPath: the kubelet's updates of the Secret reach the file, and the node reloads it.
      ...(crlSecret ? [{ name: NODE_CRL_VOLUME, secret: { secretName: crlSecret.name, items: [{ key: crlSecret.key ?? NODE_CRL_KEY, path: NODE_CRL_KEY }], defaultMode: 0o440 } }] : []),
      ...backup.volumes,
      ...access.volumes,
    ],
  };
  if (spec.template.tolerations) podSpec.tolerations = spec.template.tolerations;
  if (spec.template.topologySpreadConstraints) podSpec.topologySpreadConstraints = spec.template.topologySpreadConstraints;
  if (spec.template.priorityClassName) podSpec.priorityClassName = spec.template.priorityClassName;
  if (spec.template.nodeSelector) podSpec.nodeSelector = spec.template.nodeSelector;
  if (spec.imagePullSecrets) podSpec.imagePullSecrets = spec.imagePullSecrets.map((n) => ({ name: n }));

  return withHash({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta(cluster, names.statefulSet),
    spec: {
      replicas,
      serviceName: names.headlessService,
      selector: { matchLabels: selectorLabels(name) },
      // Parallel: a Raft group needs a quorum up before any member reports ready.
      podManagementPolicy: 'Parallel',
      // The operator restarts the pods itself, one at a time once the cluster has settled (rollout.ts).
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: spec.storage.pvcRetention.whenDeleted, whenScaled: spec.storage.pvcRetention.whenScaled },
      template: {
        metadata: { labels: podLabels, annotations: { ...spec.template.annotations, [CONFIG_HASH_ANNOTATION]: configHash, ...(access.volumes.length > 0 ? { [ACCESS_HASH_ANNOTATION]: hashOf(accessDigest) } : {}) } },
        spec: podSpec,
      },
      volumeClaimTemplates: [{
        apiVersion: 'v1', kind: 'PersistentVolumeClaim',
        metadata: { name: DATA_VOLUME, labels: selectorLabels(name) },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: spec.storage.size } },
          ...(spec.storage.storageClass ? { storageClassName: spec.storage.storageClass } : {}),
        },
      }],
    },
  });
}

/**
 * spec.security.networkPolicy: the gRPC port (Raft, snapshots, internal calls) only from this
 * cluster's pods, the REST port from restFrom (default anyone: clients, the operator, probes go
 * through the kubelet and are not subject to it); nothing else reaches the pods.
 */
export function buildNetworkPolicy(cluster: VectorCluster, spec: DefaultedSpec): KubeObject | undefined {
  const policy = spec.security.networkPolicy;
  if (!policy?.enabled) return undefined;
  // The client APIs (REST and the Qdrant gRPC API) are open alike.
  const clientPorts = [spec.node.ports.rest, ...(spec.node.ports.apiGrpc > 0 ? [spec.node.ports.apiGrpc] : [])];
  const rest = { ports: clientPorts.map((port) => ({ protocol: 'TCP', port })), ...(policy.restFrom && policy.restFrom.length > 0 ? { from: policy.restFrom } : {}) };
  return withHash({
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(cluster, childNames(cluster.metadata.name).networkPolicy),
    spec: {
      podSelector: { matchLabels: selectorLabels(cluster.metadata.name) },
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ podSelector: { matchLabels: selectorLabels(cluster.metadata.name) } }], ports: [{ protocol: 'TCP', port: spec.node.ports.grpc }] },
        rest,
      ],
    },
  });
}
