// Checks the child manifests a VectorCluster produces: the StatefulSet meets the restricted Pod Security
// Standard, wires the node only through the JADE_* env contract, probes /readyz and /healthz, and honours
// template overrides; Services, PDB and the pods' RBAC are the least the node needs.
import { describe, expect, it } from 'vitest';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { defaultSpec } from '../../operator/src/api/validate.js';
import { ENV_KEYS } from '../../node/src/config.js';
import {
  ACCESS_DIR, ACCESS_HASH_ANNOTATION, BACKUP_KEYS_DIR, DATA_DIR, NODE_CRL_DIR, TLS_DIR, backupLocation, buildClientService, buildConfigMap, buildHeadlessService, buildPodDisruptionBudget, buildRole, buildStatefulSet,
  SPEC_HASH_ANNOTATION,
} from '../../operator/src/reconcile/children.js';

const vc = (spec: VectorCluster['spec'] = {}): VectorCluster => ({
  apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'alpha', namespace: 'ns1', uid: 'u1' }, spec,
});

describe('StatefulSet', () => {
  const sts = buildStatefulSet(vc(), defaultSpec({}), 3) as any;
  const pod = sts.spec.template.spec;
  const container = pod.containers[0];

  it('meets the restricted Pod Security Standard', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.securityContext).toEqual({
      runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('configures the node only through the JADE_* env contract', () => {
    const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toEqual({
      JADE_HOST: { fieldRef: { fieldPath: 'status.podIP' } }, JADE_PORT: '8080', JADE_GRPC_PORT: '9090', JADE_API_GRPC_PORT: '6334', JADE_DATA_DIR: DATA_DIR,
      JADE_NODE_ID: { fieldRef: { fieldPath: 'metadata.name' } }, JADE_API_KEY: { secretKeyRef: { name: 'alpha-api-key', key: 'api-key' } },
      JADE_CLUSTER_SECRET: { secretKeyRef: { name: 'alpha-cluster-secret', key: 'cluster-secret' } },
      JADE_CLUSTER_NAME: 'alpha', JADE_LOG_LEVEL: 'info',
    });
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'alpha-config' } }]);
    expect(container.volumeMounts[0]).toEqual({ name: 'data', mountPath: DATA_DIR });
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('10Gi');
  });

  it('probes readiness on /readyz and liveness on /healthz, shuts down gracefully, spreads pods', () => {
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http', scheme: 'HTTP' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http', scheme: 'HTTP' });
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
    expect(sts.spec).toMatchObject({ replicas: 3, serviceName: 'alpha-peers', podManagementPolicy: 'Parallel' });
  });

  it('applies template overrides', () => {
    const spec = defaultSpec({
      template: { affinity: { nodeAffinity: { x: 1 } }, tolerations: [{ key: 't' }], topologySpreadConstraints: [{ maxSkew: 1 }], priorityClassName: 'hi' },
      storage: { storageClass: 'fast' },
    });
    const s = buildStatefulSet(vc(spec), spec, 1) as any;
    const p = s.spec.template.spec;
    expect(p.affinity).toEqual({ nodeAffinity: { x: 1 } });
    expect(p.tolerations).toEqual([{ key: 't' }]);
    expect(p.topologySpreadConstraints).toEqual([{ maxSkew: 1 }]);
    expect(p.priorityClassName).toBe('hi');
    expect(p.containers[0].readinessProbe.httpGet.scheme).toBe('HTTP');
    expect(s.spec.volumeClaimTemplates[0].spec.storageClassName).toBe('fast');
  });

  it('with spec.security.tlsSecret: mounts the Secret (whole, read-only, 0440), points the node at tls.crt/tls.key, probes over HTTPS', () => {
    const spec = defaultSpec({ security: { tlsSecret: { name: 'alpha-tls' } } });
    const s = buildStatefulSet(vc(spec), spec, 3) as any;
    const p = s.spec.template.spec;
    const c = p.containers[0];
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env[ENV_KEYS.tlsCertFile]).toBe(`${TLS_DIR}/tls.crt`);
    expect(env[ENV_KEYS.tlsKeyFile]).toBe(`${TLS_DIR}/tls.key`);
    // No subPath: the kubelet's Secret updates reach the pod, and the node reloads them.
    expect(c.volumeMounts).toContainEqual({ name: 'tls', mountPath: TLS_DIR, readOnly: true });
    expect(p.volumes).toContainEqual({ name: 'tls', secret: { secretName: 'alpha-tls', defaultMode: 0o440 } });
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) expect(probe.httpGet.scheme).toBe('HTTPS');
    // Without it: none of that.
    expect(container.env.map((e: any) => e.name)).not.toContain(ENV_KEYS.tlsCertFile);
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['tmp']);
    expect(container.startupProbe.httpGet.scheme).toBe('HTTP');
  });

  it('with spec.backup.target.s3: the target as env, the credentials only as secretKeyRefs (never in the ConfigMap)', () => {
    const spec = defaultSpec({ backup: { target: { s3: { bucket: 'jade-backups', prefix: 'prod/alpha/', endpoint: 'http://minio:9000', region: 'eu-west-1', credentialsSecret: 's3-creds' } } } });
    const c = (buildStatefulSet(vc(spec), spec, 3) as any).spec.template.spec.containers[0];
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({
      [ENV_KEYS.backupS3Url]: 's3://jade-backups/prod/alpha', [ENV_KEYS.backupS3Endpoint]: 'http://minio:9000', [ENV_KEYS.backupS3Region]: 'eu-west-1',
      [ENV_KEYS.awsAccessKeyId]: { secretKeyRef: { name: 's3-creds', key: 'AWS_ACCESS_KEY_ID' } },
      [ENV_KEYS.awsSecretAccessKey]: { secretKeyRef: { name: 's3-creds', key: 'AWS_SECRET_ACCESS_KEY' } },
      [ENV_KEYS.awsSessionToken]: { secretKeyRef: { name: 's3-creds', key: 'AWS_SESSION_TOKEN', optional: true } },
    });
    expect(env).not.toHaveProperty(ENV_KEYS.backupDir);
    expect(JSON.stringify(buildConfigMap(vc(spec), spec))).not.toMatch(/AWS_|s3-creds|S3/);
    // No endpoint (AWS), no credentials Secret (the SDK's default chain): neither is set.
    const bare = defaultSpec({ backup: { target: { s3: { bucket: 'jade-backups' } } } });
    const bareEnv = (buildStatefulSet(vc(bare), bare, 1) as any).spec.template.spec.containers[0].env;
    expect(bareEnv.filter((e: any) => /S3|AWS/.test(e.name))).toEqual([{ name: 'JADE_BACKUP_S3_URL', value: 's3://jade-backups' }, { name: 'JADE_BACKUP_S3_REGION', value: 'us-east-1' }]);
    expect(backupLocation(spec, 'b1', 'alpha-0')).toBe('s3://jade-backups/prod/alpha/b1');
    expect(backupLocation(bare, 'b1', 'alpha-0')).toBe('s3://jade-backups/b1');
    expect(backupLocation(defaultSpec({}), 'b1', 'alpha-0')).toBe(`pod alpha-0, PVC data-alpha-0: ${DATA_DIR}/backups/b1/manifest.json`);
  });

  it('with spec.backup.target.filesystem: the PVC mounted at path in every pod, JADE_BACKUP_DIR pointing at it', () => {
    const spec = defaultSpec({ backup: { target: { filesystem: { path: '/mnt/backups', claimName: 'shared-backups' } } } });
    const p = (buildStatefulSet(vc(spec), spec, 3) as any).spec.template.spec;
    const c = p.containers[0];
    expect(c.env).toContainEqual({ name: ENV_KEYS.backupDir, value: '/mnt/backups' });
    expect(c.volumeMounts).toContainEqual({ name: 'backups', mountPath: '/mnt/backups' });
    expect(p.volumes).toContainEqual({ name: 'backups', persistentVolumeClaim: { claimName: 'shared-backups' } });
    expect(backupLocation(spec, 'b1', 'alpha-0')).toBe('PVC shared-backups: /mnt/backups/b1/manifest.json');
  });

  it('with spec.backup.encryptionKeySecret: its one key mounted read-only (0440), JADE_BACKUP_KEY_FILE naming it', () => {
    const spec = defaultSpec({ backup: { encryptionKeySecret: { name: 'alpha-backup-key' } } });
    const p = (buildStatefulSet(vc(spec), spec, 3) as any).spec.template.spec;
    const c = p.containers[0];
    expect(c.env).toContainEqual({ name: ENV_KEYS.backupKeyFile, value: `${BACKUP_KEYS_DIR}/backup-keys` });
    expect(c.volumeMounts).toContainEqual({ name: 'backup-keys', mountPath: BACKUP_KEYS_DIR, readOnly: true });
    expect(p.volumes).toContainEqual({ name: 'backup-keys', secret: { secretName: 'alpha-backup-key', items: [{ key: 'backup-keys', path: 'backup-keys' }], defaultMode: 0o440 } });
    const other = defaultSpec({ backup: { encryptionKeySecret: { name: 'k', key: 'keys.txt' } } });
    expect((buildStatefulSet(vc(other), other, 1) as any).spec.template.spec.containers[0].env).toContainEqual({ name: ENV_KEYS.backupKeyFile, value: `${BACKUP_KEYS_DIR}/keys.txt` });
  });

  it('mounts the API keys file and the JWT secret from their Secrets and names them by env', () => {
    const spec = defaultSpec({ security: { apiKeysSecret: { name: 'alpha-keys' }, jwtSecret: { name: 'alpha-jwt', key: 'hs256' } } });
    const p = (buildStatefulSet(vc(spec), spec, 3, 'd1') as any).spec.template.spec;
    const c = p.containers[0];
    expect(c.env).toContainEqual({ name: ENV_KEYS.apiKeysFile, value: `${ACCESS_DIR}/api-keys/keys.json` });
    expect(c.env).toContainEqual({ name: ENV_KEYS.jwtSecretFile, value: `${ACCESS_DIR}/jwt/jwt-secret` });
    expect(c.volumeMounts).toContainEqual({ name: 'api-keys', mountPath: `${ACCESS_DIR}/api-keys`, readOnly: true });
    expect(p.volumes).toContainEqual({ name: 'api-keys', secret: { secretName: 'alpha-keys', items: [{ key: 'keys.json', path: 'keys.json' }], defaultMode: 0o440 } });
    expect(p.volumes).toContainEqual({ name: 'jwt', secret: { secretName: 'alpha-jwt', items: [{ key: 'hs256', path: 'jwt-secret' }], defaultMode: 0o440 } });
    // The operator's own key stays: it is how the operator polls the pods.
    expect(c.env.find((e: any) => e.name === ENV_KEYS.apiKey)).toBeDefined();
  });

  it('mounts the node TLS CRL from its Secret (whole key, not subPath, so updates reach the node) only with node TLS', () => {
    const spec = defaultSpec({ security: { nodeTls: { crlSecret: { name: 'alpha-crl' } } } });
    const p = (buildStatefulSet(vc(spec), spec, 3) as any).spec.template.spec;
    expect(p.containers[0].env).toContainEqual({ name: ENV_KEYS.nodeTlsCrlFile, value: `${NODE_CRL_DIR}/ca.crl` });
    expect(p.containers[0].volumeMounts).toContainEqual({ name: 'node-crl', mountPath: NODE_CRL_DIR, readOnly: true });
    expect(p.volumes).toContainEqual({ name: 'node-crl', secret: { secretName: 'alpha-crl', items: [{ key: 'ca.crl', path: 'ca.crl' }], defaultMode: 0o440 } });
  });

  it('changes the pod template when the access files\' contents change, so the rollout restarts the pods onto them', () => {
    const spec = defaultSpec({ security: { apiKeysSecret: { name: 'alpha-keys' } } });
    const annotation = (digest: string) => (buildStatefulSet(vc(spec), spec, 3, digest) as any).spec.template.metadata.annotations[ACCESS_HASH_ANNOTATION];
    expect(annotation('a:')).toBeDefined();
    expect(annotation('b:')).not.toBe(annotation('a:'));
    expect((buildStatefulSet(vc(), defaultSpec({}), 3, 'a:') as any).spec.template.metadata.annotations[ACCESS_HASH_ANNOTATION]).toBeUndefined();
  });

  it('changes its spec hash when spec.backup changes, so pods roll', () => {
    const hash = (s: VectorCluster['spec']) => buildStatefulSet(vc(), defaultSpec(s), 3).metadata.annotations![SPEC_HASH_ANNOTATION];
    const a = hash({ backup: { target: { s3: { bucket: 'jade-backups', endpoint: 'http://a:9000' } } } });
    expect(hash({ backup: { target: { s3: { bucket: 'jade-backups', endpoint: 'http://b:9000' } } } })).not.toBe(a);
    expect(hash({ backup: { target: { s3: { bucket: 'jade-backups', endpoint: 'http://a:9000' } }, encryptionKeySecret: { name: 'k' } } })).not.toBe(a);
    expect(hash({})).not.toBe(a);
  });

  it('changes its spec hash when the node config changes, so pods roll', () => {
    const a = buildStatefulSet(vc(), defaultSpec({}), 3);
    const b = buildStatefulSet(vc(), defaultSpec({ node: { hnsw: { m: 32 } } }), 3);
    expect(a.metadata.annotations![SPEC_HASH_ANNOTATION]).not.toBe(b.metadata.annotations![SPEC_HASH_ANNOTATION]);
    expect(buildStatefulSet(vc(), defaultSpec({}), 3).metadata.annotations).toEqual(a.metadata.annotations);
  });
});

describe('other children', () => {
  const spec = defaultSpec({});
  it('headless Service publishes not-ready peers; client Service is ClusterIP on the same ports', () => {
    expect(buildHeadlessService(vc(), spec).spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect((buildClientService(vc(), spec).spec as any).ports.map((p: any) => p.port)).toEqual([8080, 9090, 6334]);
  });
  it('spec.node.ports.apiGrpc: 0 turns the Qdrant gRPC API off on the pods and the Services', () => {
    const off = defaultSpec({ node: { ports: { apiGrpc: 0 } } } as VectorCluster['spec']);
    expect((buildClientService(vc(), off).spec as any).ports.map((p: any) => p.name)).toEqual(['http', 'grpc']);
    const container = (buildStatefulSet(vc(), off, 3) as any).spec.template.spec.containers[0];
    expect(container.env.find((e: any) => e.name === 'JADE_API_GRPC_PORT').value).toBe('off');
    expect(container.ports.map((p: any) => p.name)).toEqual(['http', 'grpc']);
  });
  it('PDB allows one member down at a time', () => {
    expect((buildPodDisruptionBudget(vc()).spec as any).maxUnavailable).toBe(1);
  });
  it('pod Role only reads its own ConfigMap and peer Endpoints', () => {
    const rules = (buildRole(vc()) as any).rules;
    expect(rules.flatMap((r: any) => r.verbs)).toEqual(['get', 'get']);
    expect(rules.map((r: any) => r.resourceNames[0])).toEqual(['alpha-config', 'alpha-peers']);
  });
  it('ConfigMap carries HNSW, limits, sharding defaults and the seed as JADE_* keys', () => {
    expect(buildConfigMap(vc(), spec).data).toMatchObject({
      JADE_HNSW_M: '16', JADE_BATCH_POINTS_MAX: '10000', JADE_WRITE_CONSISTENCY: 'quorum', JADE_DEFAULT_SHARDS: '1',
      JADE_JOIN: 'alpha-peers.ns1.svc.cluster.local:9090',
    });
    // Unset replicationFactor: the node's own default (min(3, members)) applies.
    expect(buildConfigMap(vc(), spec).data).not.toHaveProperty('JADE_DEFAULT_REPLICATION_FACTOR');
    const rf2 = defaultSpec({ replicas: 3, sharding: { replicationFactor: 2 } });
    expect((buildConfigMap(vc(rf2), rf2).data as Record<string, string>).JADE_DEFAULT_REPLICATION_FACTOR).toBe('2');
  });
  it('writes only settings the node reads (every ConfigMap key and env var is one of its JADE_* keys)', () => {
    const known = new Set<string>(Object.values(ENV_KEYS));
    const full = defaultSpec({
      replicas: 3, sharding: { replicationFactor: 3 },
      backup: { target: { s3: { bucket: 'jade-backups', endpoint: 'http://minio:9000', credentialsSecret: 'c' } }, encryptionKeySecret: { name: 'k' } },
    });
    const env = (buildStatefulSet(vc(full), full, 3) as any).spec.template.spec.containers[0].env as { name: string }[];
    const keys = [...Object.keys(buildConfigMap(vc(full), full).data as object), ...env.map((e) => e.name)];
    expect(keys.filter((k) => !known.has(k))).toEqual([]);
  });
});
