// Checks the child manifests a VectorCluster produces: the StatefulSet meets the restricted Pod Security
// Standard, wires the node only through the JADE_* env contract, probes /readyz and /healthz, and honours
// template overrides; Services, PDB and the pods' RBAC are the least the node needs.
import { describe, expect, it } from 'vitest';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { defaultSpec } from '../../operator/src/api/validate.js';
import { ENV_KEYS } from '../../node/src/config.js';
import {
  DATA_DIR, TLS_DIR, buildClientService, buildConfigMap, buildHeadlessService, buildPodDisruptionBudget, buildRole, buildStatefulSet,
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
      JADE_HOST: { fieldRef: { fieldPath: 'status.podIP' } }, JADE_PORT: '8080', JADE_GRPC_PORT: '9090', JADE_DATA_DIR: DATA_DIR,
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
    expect((buildClientService(vc(), spec).spec as any).ports.map((p: any) => p.port)).toEqual([8080, 9090]);
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
    const full = defaultSpec({ replicas: 3, sharding: { replicationFactor: 3 } });
    const env = (buildStatefulSet(vc(full), full, 3) as any).spec.template.spec.containers[0].env as { name: string }[];
    const keys = [...Object.keys(buildConfigMap(vc(full), full).data as object), ...env.map((e) => e.name)];
    expect(keys.filter((k) => !known.has(k))).toEqual([]);
  });
});
