// VectorCluster, VectorBackup and VectorBackupSchedule: their OpenAPI schemas (with defaults and CEL rules)
// and the TypeScript types derived from them. gen-crds.ts turns these schemas into crds/*.yaml.
import { arr, bool, enumOf, free, int, intOrString, map, obj, str } from './schema.js';
import type { Schema, Static } from './schema.js';

export const GROUP = 'jadevectordb.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const DEFAULT_IMAGE = 'ghcr.io/jadevectordb/jadevectordb:0.1.0';

/** Kubernetes resource quantity, e.g. 500m, 2Gi, 1.5. */
const QUANTITY_PATTERN = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
/** Storage sizes are restricted to Mi/Gi/Ti so a CEL rule can compare them without the quantity library. */
export const STORAGE_SIZE_PATTERN = '^[1-9][0-9]{0,6}(Mi|Gi|Ti)$';
const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

/** Bytes in MiB units of a size matching STORAGE_SIZE_PATTERN (the TS twin of the CEL expression below). */
export function storageSizeMi(size: string): number {
  const n = Number.parseInt(size, 10);
  if (size.endsWith('Ti')) return n * 1048576;
  if (size.endsWith('Gi')) return n * 1024;
  return n;
}
const celSizeMi = (v: string) =>
  `int(${v}.replace('Ti', '').replace('Gi', '').replace('Mi', '')) * (${v}.endsWith('Ti') ? 1048576 : (${v}.endsWith('Gi') ? 1024 : 1))`;

const quantityMap = (what: string) => map(intOrString('A resource quantity.', { pattern: QUANTITY_PATTERN }), what, { maxProperties: 16 });
const secretKeyRef = (what: string, defaultKey: string) =>
  obj({
    name: str('Name of the Secret in the cluster namespace.', { pattern: DNS_LABEL_PATTERN, minLength: 1 }),
    key: str('Key inside the Secret.', { default: defaultKey, minLength: 1 }),
  }, what, { required: ['name'] });

/** Characters no S3 prefix segment or backup path may hold (the node refuses them: control characters, backslash). */
const S3_PREFIX_SEGMENT = '([^./\\x00-\\x1f\\x7f\\\\][^/\\x00-\\x1f\\x7f\\\\]*|\\.[^./\\x00-\\x1f\\x7f\\\\][^/\\x00-\\x1f\\x7f\\\\]*|\\.\\.[^/\\x00-\\x1f\\x7f\\\\]+)';
/** Segments joined by "/", none empty, "." or ".." (the node's rule for the prefix of JADE_BACKUP_S3_URL); a trailing "/" is dropped. */
export const S3_PREFIX_PATTERN = `^(${S3_PREFIX_SEGMENT}(/${S3_PREFIX_SEGMENT})*/?)?$`;
const PATH_SEGMENT = '([-A-Za-z0-9_][-A-Za-z0-9_.]*|\\.[-A-Za-z0-9_][-A-Za-z0-9_.]*|\\.\\.[-A-Za-z0-9_.]+)';
/** Directories of the pod the operator mounts itself: a backup volume may not go over, under or above them. */
export const RESERVED_POD_DIRS = ['/var/lib/jadevectordb', '/tmp', '/etc/jadevectordb'] as const;

export const backupTargetSchema = obj({
  s3: obj({
    bucket: str('Bucket name (3-63 of lowercase letters, digits, . -).', { minLength: 3, maxLength: 63, pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$' }),
    prefix: str('Key prefix inside the bucket: segments joined by "/" (none empty, "." or ".."); backup <id> is the objects <prefix>/<id>/….', { default: '', maxLength: 1024, pattern: S3_PREFIX_PATTERN }),
    endpoint: str('S3-compatible endpoint URL (http or https, no credentials in it); unset for AWS.', { maxLength: 1024, pattern: '^https?://[^/@\\s]+(/\\S*)?$' }),
    region: str('Region.', { default: 'us-east-1', minLength: 1, maxLength: 64 }),
    credentialsSecret: str('Secret in the cluster namespace with the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN), given to the pods as env through secretKeyRef; unset: the AWS SDK\'s default chain (e.g. instance metadata).', { pattern: DNS_LABEL_PATTERN }),
  }, 'An S3 or S3-compatible bucket.', { required: ['bucket'] }),
  filesystem: obj({
    path: str('Absolute directory in the pods where claimName is mounted (not over, under or above /var/lib/jadevectordb, /tmp or /etc/jadevectordb).', { minLength: 2, maxLength: 1024, pattern: `^(/${PATH_SEGMENT})+$` }),
    claimName: str('PersistentVolumeClaim in the cluster namespace mounted at path in every pod (ReadWriteMany for more than one replica).', { pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: 253 }),
  }, 'A directory on a shared volume.', {
    required: ['path', 'claimName'],
    'x-kubernetes-validations': [{
      rule: `[${RESERVED_POD_DIRS.map((d) => `'${d}'`).join(', ')}].all(d, self.path != d && !self.path.startsWith(d + '/') && !d.startsWith(self.path + '/'))`,
      message: `filesystem.path must not be over, under or above ${RESERVED_POD_DIRS.join(', ')} (the operator mounts those)`,
      check: (self) => RESERVED_POD_DIRS.every((d) => self.path !== d && !self.path.startsWith(`${d}/`) && !d.startsWith(`${self.path}/`)),
    }],
  }),
}, 'Where backups are written: exactly one of s3 or filesystem.', {
  'x-kubernetes-validations': [{
    rule: 'has(self.s3) != has(self.filesystem)',
    message: 'exactly one of s3 or filesystem must be set',
    check: (self) => (self.s3 !== undefined) !== (self.filesystem !== undefined),
  }],
});

/** The target field of a VectorBackup or schedule: the pods write where their cluster says, so only the cluster's own target is taken. */
const backupObjectTarget = { ...backupTargetSchema, description: 'Where the backup is written: exactly one of s3 or filesystem. The pods write backups where their VectorCluster\'s spec.backup.target says (it is their env), so this must equal that target, defaults included; any other target fails the backup (TargetNotSupported). Unset: the cluster\'s target.' };

export const conditionSchema = obj({
  type: str('Condition type, e.g. Ready.', { maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$' }),
  status: enumOf(['True', 'False', 'Unknown'] as const, 'Status of the condition.'),
  observedGeneration: int('Generation the condition was computed for.', { minimum: 0, format: 'int64' }),
  lastTransitionTime: str('When the status last changed.', { format: 'date-time', maxLength: 64 }),
  reason: str('CamelCase reason.', { maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
  message: str('Human readable details.', { maxLength: 32768 }),
}, 'A metav1.Condition.', { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] });
export type Condition = Static<typeof conditionSchema>;

const conditions = arr(conditionSchema, 'Standard conditions.', {
  maxItems: 16, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'],
});

export const vectorClusterSpecSchema = obj({
  replicas: int('Number of JadeVectorDB nodes (pods); 0 hibernates the cluster (the pods stop, their volumes and the membership are kept).', { default: 3, maximum: 99 }),
  image: str('Container image of the JadeVectorDB node.', { default: DEFAULT_IMAGE, minLength: 1, maxLength: 512 }),
  imagePullPolicy: enumOf(['Always', 'IfNotPresent', 'Never'] as const, 'Image pull policy.', { default: 'IfNotPresent' }),
  imagePullSecrets: arr(str('Secret name.', { pattern: DNS_LABEL_PATTERN }), 'Secrets for pulling the image.', { maxItems: 8 }),
  resources: obj({
    requests: quantityMap('Minimum resources per pod.'),
    limits: quantityMap('Maximum resources per pod.'),
  }, 'CPU and memory per pod (core/v1 ResourceRequirements).', { default: {} }),
  storage: obj({
    size: str('PersistentVolumeClaim size per pod; only Mi, Gi or Ti. May grow, never shrink.', { default: '10Gi', pattern: STORAGE_SIZE_PATTERN, maxLength: 10 }),
    storageClass: str('StorageClass of the PVCs; empty means the cluster default. Immutable.', { maxLength: 253 }),
    pvcRetention: obj({
      whenScaled: enumOf(['Retain', 'Delete'] as const, 'What happens to the PVC of a pod removed by scale-down.', { default: 'Retain' }),
      whenDeleted: enumOf(['Retain', 'Delete'] as const, 'What happens to the PVCs when the VectorCluster is deleted.', { default: 'Retain' }),
    }, 'PVC retention policy.', { default: {} }),
  }, 'Persistent storage per pod.', {
    default: {},
    'x-kubernetes-validations': [
      {
        rule: `${celSizeMi('self.size')} >= ${celSizeMi('oldSelf.size')}`,
        message: 'storage.size cannot be decreased',
        check: (self, old) => storageSizeMi(self.size) >= storageSizeMi(old.size),
        transition: true,
      },
      {
        rule: 'has(self.storageClass) == has(oldSelf.storageClass) && (!has(self.storageClass) || self.storageClass == oldSelf.storageClass)',
        message: 'storage.storageClass is immutable',
        check: (self, old) => self.storageClass === old.storageClass,
        transition: true,
      },
    ],
  }),
  node: obj({
    ports: obj({
      rest: int('REST port.', { default: 8080, minimum: 1024, maximum: 65535 }),
      grpc: int('gRPC port (also used between nodes).', { default: 9090, minimum: 1024, maximum: 65535 }),
      metrics: int('Prometheus metrics port; 0 serves /metrics on the REST port.', { default: 0, minimum: 0, maximum: 65535 }),
      apiGrpc: int('Qdrant-compatible gRPC API port (JADE_API_GRPC_PORT; Qdrant\'s clients use 6334), on the pods and both Services; 0 turns it off.', { default: 6334, minimum: 0, maximum: 65535 }),
    }, 'Container ports.', {
      default: {},
      'x-kubernetes-validations': [
        { rule: 'self.rest != self.grpc', message: 'node.ports.rest and node.ports.grpc must differ', check: (s) => s.rest !== s.grpc },
        {
          rule: '!has(self.apiGrpc) || self.apiGrpc == 0 || (self.apiGrpc != self.rest && self.apiGrpc != self.grpc)',
          message: 'node.ports.apiGrpc must differ from node.ports.rest and node.ports.grpc (or be 0: off)',
          check: (s) => s.apiGrpc === undefined || s.apiGrpc === 0 || (s.apiGrpc !== s.rest && s.apiGrpc !== s.grpc),
        },
        // The pods run as non-root: no port below 1024, as for rest and grpc.
        { rule: '!has(self.apiGrpc) || self.apiGrpc == 0 || self.apiGrpc >= 1024', message: 'node.ports.apiGrpc must be 0 (off) or at least 1024', check: (s) => s.apiGrpc === undefined || s.apiGrpc === 0 || s.apiGrpc >= 1024 },
        // The node has no separate metrics listener: refuse the setting rather than render one nothing reads.
        {
          rule: 'self.metrics == 0',
          message: 'node.ports.metrics: this JadeVectorDB version serves /metrics on the REST port only; set 0 (a separate metrics port is not supported yet)',
          check: (s) => s.metrics === 0,
        },
      ],
    }),
    logLevel: enumOf(['debug', 'info', 'warn', 'error'] as const, 'Log level.', { default: 'info' }),
    hnsw: obj({
      m: int('HNSW M (links per node) for new collections.', { default: 16, minimum: 2, maximum: 128 }),
      efConstruction: int('HNSW efConstruction for new collections.', { default: 200, minimum: 4, maximum: 4096 }),
      efSearch: int('Default HNSW ef at query time.', { default: 64, minimum: 1, maximum: 4096 }),
    }, 'HNSW defaults for collections that do not set their own.', { default: {} }),
    limits: obj({
      maxRequestBodyBytes: int('Largest accepted request body (413 past it).', { default: 67108864, minimum: 1024, maximum: 2147483648, format: 'int64' }),
      maxBatchPoints: int('Most points in one upsert/delete/retrieve request (413 past it).', { default: 10000, minimum: 1, maximum: 1000000 }),
      maxCollections: int('Most collections per cluster.', { default: 1000, minimum: 1, maximum: 100000 }),
      maxWritesInFlight: int('Write requests in flight per node (429 past it).', { default: 256, minimum: 1, maximum: 1000000 }),
    }, 'Limits; past them the node answers 413 or 429.', { default: {} }),
  }, 'Node configuration (rendered into a ConfigMap).', { default: {} }),
  sharding: obj({
    shardsPerCollection: int('Default number of shards of a new collection.', { default: 1, minimum: 1, maximum: 1024 }),
    replicationFactor: int('Default replicas of each shard (Raft group size); when unset the node uses min(3, members).', { minimum: 1, maximum: 7 }),
    writeConsistency: enumOf(['all', 'quorum', 'one'] as const, 'Default write consistency.', { default: 'quorum' }),
  }, 'Sharding and replication defaults for new collections.', { default: {} }),
  security: obj({
    apiKeySecret: secretKeyRef('Secret with the API key; when absent the operator generates <cluster>-api-key.', 'api-key'),
    apiKeysSecret: secretKeyRef('Secret whose key holds an API keys file (JSON: [{id, key or sha256, role: admin|write|read, collections?}]): mounted read-only and named by JADE_API_KEYS_FILE, beside the one API key above (which stays admin, the operator\'s own). The node reads it at start: a changed Secret takes effect when the pods restart (the operator rolls them one by one when the Secret\'s contents change).', 'keys.json'),
    jwtSecret: secretKeyRef('Secret whose key holds the HS256 secret (at least 32 bytes) of Qdrant-style JWTs with "exp" and "access" claims: mounted read-only and named by JADE_JWT_SECRET_FILE. Read at start; the operator rolls the pods when its contents change.', 'jwt-secret'),
    tlsSecret: obj({
      name: str('A kubernetes.io/tls Secret in the cluster\'s namespace: tls.crt (naming the pods, e.g. *.<cluster>-peers.<namespace>.svc.cluster.local, or the client Service), tls.key, and optionally ca.crt.', { pattern: DNS_LABEL_PATTERN, minLength: 1 }),
    }, 'TLS for the REST port: the pods serve HTTPS with this Secret (reloaded when it changes), probes use HTTPS, and the operator verifies the pods against ca.crt (without ca.crt it does not verify). Node-to-node gRPC has its own: nodeTls.', { required: ['name'] }),
    nodeTls: obj({
      secretName: str('A Secret in the cluster\'s namespace with tls.crt (naming every pod: *.<cluster>-peers.<namespace>.svc and *.<cluster>-peers.<namespace>.svc.cluster.local, and <cluster>-peers.<namespace>.svc.cluster.local, the join seed), tls.key and ca.crt. Unset: the operator issues them.', { pattern: DNS_LABEL_PATTERN, minLength: 1 }),
      validityDays: int('Validity of the node certificate the operator issues; it is renewed once two thirds of it have passed.', { default: 90, minimum: 1, maximum: 3650 }),
      crlSecret: secretKeyRef('Secret whose key holds a CRL from the cluster CA (PEM or DER): mounted read-only and named by JADE_NODE_TLS_CRL_FILE; a peer whose certificate it lists is refused. The nodes reload it when the Secret changes, without a restart.', 'ca.crl'),
    }, 'Mutual TLS 1.3 between the nodes (Raft, snapshots, internal calls): every pod gets the certificate, key and CA (JADE_NODE_TLS_*) and dials its peers by their DNS names under the headless Service. With secretName the certificate is yours; without it the operator creates a CA (<cluster>-node-ca) and the node certificate (<cluster>-node-tls), ECDSA P-256, and renews the certificate itself. The nodes reload renewed files without a restart. Absent: node-to-node traffic is plain text (authenticated by the cluster secret only).'),
    networkPolicy: obj({
      enabled: bool('Create a NetworkPolicy <cluster> for the pods.', { default: false }),
      restFrom: arr(free('A networking.k8s.io/v1 NetworkPolicyPeer (podSelector, namespaceSelector, ipBlock).'), 'Who may reach the REST port and the Qdrant gRPC API port; unset: anyone.', { maxItems: 32 }),
    }, 'A NetworkPolicy admitting the gRPC port (Raft, internal calls) only from this cluster\'s own pods, and the REST and Qdrant gRPC API ports from restFrom (default anyone). Needs a network plugin that enforces NetworkPolicy.'),
  }, 'Authentication and TLS.', { default: {} }),
  backup: obj({
    target: { ...backupTargetSchema, description: 'Where the pods write backups: exactly one of s3 (the pods get JADE_BACKUP_S3_URL, _ENDPOINT, _REGION and the AWS_* credentials from credentialsSecret) or filesystem (claimName mounted at path, JADE_BACKUP_DIR). Unset: each pod\'s own volume (/var/lib/jadevectordb/backups). Changing it rolls the pods.' },
    encryptionKeySecret: secretKeyRef('Secret whose key holds the backup key file (keyId:base64key lines; the first key encrypts, every key decrypts): mounted read-only and named by JADE_BACKUP_KEY_FILE. Changing the Secret\'s contents takes effect when the pods restart.', 'backup-keys'),
    scheduleRef: obj({ name: str('VectorBackupSchedule name.', { pattern: DNS_LABEL_PATTERN, minLength: 1 }) }, 'Refused: a VectorBackupSchedule names its cluster in spec.clusterRef (kept in the schema so a manifest that sets it is refused with this reason, not pruned in silence).', { required: ['name'] }),
  }, 'Where and how the pods write backups (VectorBackup and VectorBackupSchedule name the cluster in clusterRef).', {
    'x-kubernetes-validations': [
      // Refused rather than ignored: nothing reads it, and a schedule already names its cluster.
      { rule: '!has(self.scheduleRef)', message: 'backup.scheduleRef is not supported: create a VectorBackupSchedule whose spec.clusterRef names this cluster', check: (s) => s.scheduleRef === undefined },
    ],
  }),
  failover: obj({
    notReadyDeadAfterSeconds: int('A member whose pod has been NotReady (or gone) this long is declared dead to the meta leader, which re-creates its replicas on the other members; 0 leaves it to the nodes\' own failure detector.', { default: 120, minimum: 0, maximum: 86400 }),
  }, 'What the operator does about members that stop answering.', { default: {} }),
  template: obj({
    labels: map(str('Label value.', { maxLength: 63 }), 'Extra pod labels.', { maxProperties: 32 }),
    annotations: map(str('Annotation value.', { maxLength: 4096 }), 'Extra pod annotations.', { maxProperties: 32 }),
    nodeSelector: map(str('Label value.', { maxLength: 63 }), 'Node selector.', { maxProperties: 32 }),
    affinity: free('core/v1 Affinity; replaces the default pod anti-affinity when set.'),
    tolerations: arr(free('core/v1 Toleration.'), 'Tolerations.', { maxItems: 32 }),
    topologySpreadConstraints: arr(free('core/v1 TopologySpreadConstraint.'), 'Topology spread constraints.', { maxItems: 8 }),
    priorityClassName: str('PriorityClass of the pods.', { maxLength: 253 }),
    terminationGracePeriodSeconds: int('Grace period for a clean shutdown.', { default: 60, minimum: 1, maximum: 3600 }),
  }, 'Pod template overrides.', { default: {} }),
}, 'Desired state of a JadeVectorDB cluster.', {
  'x-kubernetes-validations': [
    { rule: 'self.replicas >= 0', message: 'spec.replicas must be at least 0 (0 hibernates the cluster)', check: (s) => s.replicas >= 0 },
    {
      // Hibernated (0), the replication factor applies again when the cluster wakes.
      rule: 'self.replicas == 0 || !has(self.sharding.replicationFactor) || self.sharding.replicationFactor <= self.replicas',
      message: 'spec.sharding.replicationFactor must not exceed spec.replicas',
      check: (s) => s.replicas === 0 || s.sharding.replicationFactor === undefined || s.sharding.replicationFactor <= s.replicas,
    },
    {
      // The rollout restarts members one at a time: a member with node TLS cannot reach plain-text
      // ones (nor the reverse), so it never catches up and the rollout stalls with a minority.
      rule: 'oldSelf.replicas == 0 || has(self.security.nodeTls) == has(oldSelf.security.nodeTls)',
      message: 'spec.security.nodeTls cannot be switched on or off while the cluster runs (members restart one at a time, and a TLS member cannot reach plain-text ones): hibernate first (spec.replicas: 0), change it, then scale back up',
      check: (s, o) => o.replicas === 0 || (s.security.nodeTls !== undefined) === (o.security.nodeTls !== undefined),
      transition: true,
    },
  ],
});

export const memberSchema = obj({
  pod: str('Pod name.'),
  nodeId: str('Node id reported by /v1/status.'),
  ready: bool('The pod is Ready and /v1/status answered ready.'),
  joined: bool('The meta group lists this member (as the nodes report it).'),
  role: str('Role reported by the node (e.g. leader, follower, learner, unknown).', { maxLength: 64 }),
  version: str('Node version.', { maxLength: 64 }),
  collections: int('Collections known to the node.', { minimum: 0 }),
  points: int('Points stored on the node.', { minimum: 0, format: 'int64' }),
  message: str('Why the member is not ready.', { maxLength: 1024 }),
  declaredDead: bool('The meta group lists this member as declared dead (as the nodes report it): its replicas are re-created on the other members.'),
}, 'State of one member pod.', { required: ['pod', 'ready'] });
export type Member = Static<typeof memberSchema>;

export const rolloutSchema = obj({
  revision: str('The StatefulSet revision (pod template) the pods are being moved to.', { maxLength: 253 }),
  done: int('Pods on that revision that have rejoined the cluster.', { minimum: 0 }),
  total: int('Pods the StatefulSet has.', { minimum: 0 }),
  current: str('The pod restarted last (empty before the first restart).', { maxLength: 253 }),
  waiting: str('Why the rollout is not restarting a pod right now (empty once it is finished).', { maxLength: 1024 }),
  paused: bool('The jadevectordb.io/rollout-paused annotation is "true": no pod is restarted.'),
  rejoinedSince: str('Since when every member has been seen rejoined (the settle clock); empty while one has not.', { maxLength: 64 }),
}, 'The rolling restart onto a changed pod template: one pod at a time, followers before the meta leader.', { required: ['revision', 'done', 'total', 'current', 'waiting', 'paused', 'rejoinedSince'] });
export type RolloutStatus = Static<typeof rolloutSchema>;

export const PHASES = ['Pending', 'Provisioning', 'Running', 'Scaling', 'Degraded', 'Failed', 'Terminating', 'Hibernated'] as const;
export type Phase = (typeof PHASES)[number];

export const vectorClusterStatusSchema = obj({
  phase: enumOf(PHASES, 'Summary of the cluster state.'),
  reason: str('Why the cluster is in this phase.', { maxLength: 1024 }),
  conditions,
  members: arr(memberSchema, 'Per-member state.', { maxItems: 100, 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['pod'] }),
  replicas: int('Pods that exist (scale subresource).', { minimum: 0 }),
  readyReplicas: int('Pods that are ready.', { minimum: 0 }),
  selector: str('Label selector of the pods (scale subresource).', { maxLength: 1024 }),
  observedGeneration: int('The generation this status describes.', { minimum: 0, format: 'int64' }),
  apiKeySecret: str('Secret that holds the API key in use.'),
  currentImage: str('Image the StatefulSet runs.', { maxLength: 512 }),
  bootstrapPod: str('The pod the operator asked to found the cluster (decided once, never by a race between pods).', { maxLength: 253 }),
  clusterId: str('The cluster id the nodes report once the cluster is founded.', { maxLength: 128 }),
  rollout: rolloutSchema,
  hibernation: obj({
    replicas: int('Members the cluster had when spec.replicas went to 0: it wakes with the same members on their volumes.', { minimum: 0 }),
    since: str('When the operator began to hibernate the cluster.', { maxLength: 64 }),
  }, 'Set while the cluster is hibernated (spec.replicas 0) or waiting to wake.', { required: ['replicas', 'since'] }),
  fencedPods: arr(str('Pod name.', { maxLength: 253 }), 'Pods the operator fenced for the jadevectordb.io/fenced-pods annotation (their nodes serve nothing until unfenced), until they serve again.', { maxItems: 100 }),
  fencingError: str('Why the jadevectordb.io/fenced-pods annotation was not understood (nothing is fenced or unfenced by it until it is fixed).', { maxLength: 1024 }),
}, 'Observed state of a JadeVectorDB cluster.');

const objectMeta: Schema<Record<string, unknown>> = { type: 'object' };
const typeMetaField = (description: string): Schema<string> => ({ type: 'string', description });
export const vectorClusterSchema = obj({
  apiVersion: typeMetaField('API version.'), kind: typeMetaField('Kind.'), metadata: objectMeta,
  spec: vectorClusterSpecSchema, status: vectorClusterStatusSchema,
}, 'A JadeVectorDB cluster.', { required: ['spec'] });

export const clusterRefSchema = obj({ name: str('VectorCluster in the same namespace.', { pattern: DNS_LABEL_PATTERN, minLength: 1 }) },
  'The cluster to back up.', { required: ['name'] });

export const vectorBackupSpecSchema = obj({
  clusterRef: clusterRefSchema,
  target: backupObjectTarget,
  collections: arr(str('Collection name.', { maxLength: 255 }), 'Collections to include; empty means all. Only empty is supported yet: a list fails the backup (CollectionsNotSupported).', { maxItems: 1000 }),
}, 'One backup of a cluster: a set of shard snapshots at known Raft indexes. Immutable.', {
  required: ['clusterRef'],
  'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'VectorBackup spec is immutable', check: (s, o) => JSON.stringify(s) === JSON.stringify(o), transition: true }],
});
export const vectorBackupStatusSchema = obj({
  phase: enumOf(['Pending', 'Running', 'Succeeded', 'Failed'] as const, 'Backup phase.'),
  reason: str('CamelCase reason for the phase (e.g. ClusterNotReady, BackupFailed).', { maxLength: 1024 }),
  message: str('What happened, in words (the node\'s error when the backup failed).', { maxLength: 4096 }),
  startTime: str('When the operator asked the node to take the backup.', { format: 'date-time', maxLength: 64 }),
  completionTime: str('When the backup succeeded or failed.', { format: 'date-time', maxLength: 64 }),
  backupId: str('The backup id on the node (GET /backups/{id}).', { maxLength: 128 }),
  pod: str('The pod that took the backup (the coordinator); without a cluster target the backup is in its backup directory.', { maxLength: 253 }),
  sizeBytes: int('Bytes written.', { minimum: 0, format: 'int64' }),
  location: str('Where the backup is: s3://bucket/prefix/<id> for an S3 target, the PVC and path of its manifest for a filesystem target, else pod, PVC and path inside the pod.', { maxLength: 4096 }),
  conditions,
  observedGeneration: int('Generation observed.', { minimum: 0, format: 'int64' }),
}, 'Backup progress.');
export const vectorBackupSchema = obj({
  apiVersion: typeMetaField('API version.'), kind: typeMetaField('Kind.'), metadata: objectMeta,
  spec: vectorBackupSpecSchema, status: vectorBackupStatusSchema,
}, 'A backup of a VectorCluster.', { required: ['spec'] });

export const vectorBackupScheduleSpecSchema = obj({
  clusterRef: clusterRefSchema,
  schedule: str('Cron expression (5 fields) or @hourly/@daily/@weekly/@monthly.', {
    pattern: '^(@(hourly|daily|weekly|monthly|yearly)|(\\S+\\s+){4}\\S+)$', maxLength: 128,
  }),
  retention: obj({
    count: int('Keep at most this many successful backups.', { default: 7, minimum: 1, maximum: 1000 }),
    maxAgeHours: int('Delete successful backups that finished longer ago than this (the newest successful one is always kept); 0 keeps them regardless of age.', { default: 0, minimum: 0, maximum: 87600 }),
  }, 'Which old backups to delete (the VectorBackup and its data on the node).', { default: {} }),
  suspend: bool('Stop creating new backups.', { default: false }),
  startingDeadlineSeconds: int('A run missed by more than this (operator down, suspended, a backup still running) is skipped; unset: a missed run is always caught up. At most one missed run is caught up, as a CronJob does.', { minimum: 1, maximum: 31536000, format: 'int64' }),
  target: backupObjectTarget,
}, 'Periodic backups of a cluster.', {
  required: ['clusterRef', 'schedule'],
  'x-kubernetes-validations': [{ rule: 'self.clusterRef.name == oldSelf.clusterRef.name', message: 'spec.clusterRef.name is immutable', check: (s, o) => s.clusterRef.name === o.clusterRef.name, transition: true }],
});
export const vectorBackupScheduleStatusSchema = obj({
  lastScheduleTime: str('Last time a backup was started.', { format: 'date-time', maxLength: 64 }),
  lastSuccessfulTime: str('Last time a backup succeeded.', { format: 'date-time', maxLength: 64 }),
  nextScheduleTime: str('When the next backup is due (unset while suspended).', { format: 'date-time', maxLength: 64 }),
  active: arr(str('VectorBackup name.'), 'Backups in progress.', { maxItems: 16 }),
  conditions,
  observedGeneration: int('Generation observed.', { minimum: 0, format: 'int64' }),
}, 'Schedule state.');
export const vectorBackupScheduleSchema = obj({
  apiVersion: typeMetaField('API version.'), kind: typeMetaField('Kind.'), metadata: objectMeta,
  spec: vectorBackupScheduleSpecSchema, status: vectorBackupScheduleStatusSchema,
}, 'A backup schedule.', { required: ['spec'] });

export type BackupTarget = Static<typeof backupTargetSchema>;
export type VectorClusterSpec = Static<typeof vectorClusterSpecSchema>;
export type VectorClusterStatus = Static<typeof vectorClusterStatusSchema>;
export type VectorBackupSpec = Static<typeof vectorBackupSpecSchema>;
export type VectorBackupStatus = Static<typeof vectorBackupStatusSchema>;
export type VectorBackupScheduleSpec = Static<typeof vectorBackupScheduleSpecSchema>;
export type VectorBackupScheduleStatus = Static<typeof vectorBackupScheduleStatusSchema>;

/** Minimal ObjectMeta we read and write. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}
export interface OwnerReference {
  apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean;
}
interface Resource<K extends string, Spec, Status> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}
export type VectorCluster = Resource<'VectorCluster', VectorClusterSpec, VectorClusterStatus>;
export type VectorBackup = Resource<'VectorBackup', VectorBackupSpec, VectorBackupStatus>;
export type VectorBackupSchedule = Resource<'VectorBackupSchedule', VectorBackupScheduleSpec, VectorBackupScheduleStatus>;

/** Spec with every default applied: what the reconciler works with. */
export type DefaultedSpec = VectorClusterSpec & {
  replicas: number; image: string; imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  resources: NonNullable<VectorClusterSpec['resources']>;
  storage: Required<Pick<NonNullable<VectorClusterSpec['storage']>, 'size' | 'pvcRetention'>> & NonNullable<VectorClusterSpec['storage']> & {
    pvcRetention: Required<NonNullable<NonNullable<VectorClusterSpec['storage']>['pvcRetention']>>;
  };
  node: {
    ports: Required<NonNullable<NonNullable<VectorClusterSpec['node']>['ports']>>;
    logLevel: 'debug' | 'info' | 'warn' | 'error';
    hnsw: Required<NonNullable<NonNullable<VectorClusterSpec['node']>['hnsw']>>;
    limits: Required<NonNullable<NonNullable<VectorClusterSpec['node']>['limits']>>;
  };
  sharding: Required<Omit<NonNullable<VectorClusterSpec['sharding']>, 'replicationFactor'>> & { replicationFactor?: number };
  security: NonNullable<VectorClusterSpec['security']>;
  template: NonNullable<VectorClusterSpec['template']> & { terminationGracePeriodSeconds: number };
  failover: Required<NonNullable<VectorClusterSpec['failover']>>;
};

