// The operator's end-to-end scenarios on a real Kubernetes (k3s in a container via testcontainers):
// CRDs admitted by a real apiserver with CEL, the image built from our Dockerfile and imported into k3s,
// create → Ready, scale 3 → 5, blocked scale-down, CEL rejections, leader failover, delete → cleanup.
// It skips cleanly when no Docker engine answers (no socket and no DOCKER_HOST), as on this project's CI.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { startOperator } from '../../operator/src/operator.js';
import type { RunningOperator } from '../../operator/src/operator.js';
import type { VectorCluster } from '../../operator/src/api/types.js';

const K3S_IMAGE = process.env.JADE_E2E_K3S_IMAGE ?? 'rancher/k3s:v1.31.4-k3s1';
const NODE_IMAGE = process.env.JADE_E2E_IMAGE ?? 'jadevectordb:e2e';
const NS = 'default';
const SUITE_TIMEOUT_MS = 15 * 60_000;

function dockerSocketPresent(): boolean {
  if (process.env.DOCKER_HOST) return true;
  const candidates = ['/var/run/docker.sock', path.join(os.homedir(), '.docker/run/docker.sock'), path.join(os.homedir(), '.colima/default/docker.sock')];
  return candidates.some((p) => existsSync(p));
}
const hasDocker = dockerSocketPresent();

async function waitUntil<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe.skipIf(!hasDocker)('operator on k3s (testcontainers)', () => {
  let k3s: import('testcontainers').StartedTestContainer;
  let client: KubeClient;
  let dir: string;
  const operators: RunningOperator[] = [];
  const getCluster = (name: string) => client.getOrUndefined<KubeObject>('VectorCluster', NS, name) as Promise<VectorCluster | undefined>;
  const condition = (c: VectorCluster | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);
  const waitPhase = (name: string, phase: string, ready: number) => waitUntil(async () => {
    const c = await getCluster(name);
    return c?.status?.phase === phase && c.status.readyReplicas === ready ? c : undefined;
  }, 5 * 60_000, `${name} ${phase} ${ready}`);
  const operator = async (identity: string) => {
    const op = await startOperator({ client, identity, leaseNamespace: NS, namespace: NS, leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000, log: () => {} });
    operators.push(op);
    return op;
  };

  beforeAll(async () => {
    const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jade-k3s-'));
    const runtime = await getContainerRuntimeClient();
    if (!process.env.JADE_E2E_IMAGE) {
      await GenericContainer.fromDockerfile(path.resolve('.')).build(NODE_IMAGE, { deleteOnExit: false });
    }
    k3s = await new GenericContainer(K3S_IMAGE)
      .withPrivilegedMode()
      .withCommand(['server', '--disable=traefik', '--disable=metrics-server', '--tls-san=127.0.0.1'])
      .withTmpFs({ '/run': 'rw', '/var/run': 'rw' })
      .withExposedPorts(6443)
      .withWaitStrategy(Wait.forLogMessage('Node controller sync successful'))
      .withStartupTimeout(180_000)
      .start();
    // Import our image into k3s's containerd, so pods use it with imagePullPolicy: Never.
    if (!process.env.JADE_E2E_IMAGE) {
      const dockerode = (runtime.container as unknown as { dockerode: { getImage(n: string): { get(): Promise<NodeJS.ReadableStream> } } }).dockerode;
      const chunks: Buffer[] = [];
      for await (const chunk of await dockerode.getImage(NODE_IMAGE).get()) chunks.push(Buffer.from(chunk as Buffer));
      await k3s.copyContentToContainer([{ content: Buffer.concat(chunks), target: '/tmp/jade-image.tar' }]);
      const imported = await k3s.exec(['ctr', '-n', 'k8s.io', 'images', 'import', '/tmp/jade-image.tar']);
      expect(imported.exitCode).toBe(0);
    }
    const raw = (await k3s.exec(['cat', '/etc/rancher/k3s/k3s.yaml'])).output;
    const kubeconfigPath = path.join(dir, 'kubeconfig.yaml');
    writeFileSync(kubeconfigPath, raw.replace(/https:\/\/127\.0\.0\.1:6443/, `https://${k3s.getHost()}:${k3s.getMappedPort(6443)}`));
    client = KubeClient.fromFile(kubeconfigPath);
    for (const file of readdirSync('crds')) {
      const crd = parse(readFileSync(path.join('crds', file), 'utf8')) as KubeObject;
      await client.create(crd);
      await waitUntil(async () => {
        const got = await client.get('CustomResourceDefinition', undefined, crd.metadata.name);
        return ((got.status as any)?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
      }, 60_000, `${crd.metadata.name} established`);
    }
  }, SUITE_TIMEOUT_MS);

  afterAll(async () => {
    for (const op of operators) await op.halt().catch(() => {});
    await k3s?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it('create → Ready; scale 3 → 5; scale-down blocked', async () => {
    await operator('k3s-a');
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'alpha', namespace: NS },
      spec: { replicas: 3, image: NODE_IMAGE, imagePullPolicy: 'Never', storage: { size: '1Gi', pvcRetention: { whenDeleted: 'Delete' } } },
    });
    const ready = await waitPhase('alpha', 'Running', 3);
    expect(condition(ready, 'Ready')?.status).toBe('True');
    const sts = await client.get('StatefulSet', NS, 'alpha');
    expect(sts.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'VectorCluster', name: 'alpha' });

    await client.patch('VectorCluster', NS, 'alpha', { spec: { replicas: 5 } });
    await waitPhase('alpha', 'Running', 5);

    await client.patch('VectorCluster', NS, 'alpha', { spec: { replicas: 3 } });
    const blocked = await waitUntil(async () => {
      const c = await getCluster('alpha');
      return condition(c, 'ScalingBlocked')?.status === 'True' ? c : undefined;
    }, 60_000, 'ScalingBlocked');
    expect(condition(blocked, 'ScalingBlocked')!.reason).toBe('DrainNotSupported');
    expect(((await client.get('StatefulSet', NS, 'alpha')).spec as any).replicas).toBe(5);
    await client.patch('VectorCluster', NS, 'alpha', { spec: { replicas: 5 } });
  }, SUITE_TIMEOUT_MS);

  it('the real apiserver rejects invalid specs with the CEL messages', async () => {
    const rejected = async (p: Promise<unknown>) => p.then(() => 'accepted', (e) => String((e as Error).message));
    expect(await rejected(client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'bad', namespace: NS }, spec: { replicas: -1 } })))
      .toContain('spec.replicas must be at least 0');
    expect(await rejected(client.patch('VectorCluster', NS, 'alpha', { spec: { storage: { size: '512Mi' } } }))).toContain('storage.size cannot be decreased');
  }, 60_000);

  it('two operators: failover when the leader stops renewing', async () => {
    const b = await operator('k3s-b');
    await new Promise((r) => setTimeout(r, 3000));
    expect(b.isLeader()).toBe(false);
    await operators[0].halt();
    await waitUntil(async () => b.isLeader(), 30_000, 'k3s-b leading');
    await client.patch('VectorCluster', NS, 'alpha', { spec: { node: { hnsw: { efSearch: 77 } } } });
    await waitUntil(async () => ((await client.get('ConfigMap', NS, 'alpha-config')).data as any).JADE_HNSW_EF === '77', 60_000, 'change applied by k3s-b');
  }, 120_000);

  it('delete → PVCs deleted and children collected', async () => {
    await client.delete('VectorCluster', NS, 'alpha');
    await waitUntil(async () => (await getCluster('alpha')) === undefined, 120_000, 'VectorCluster gone');
    await waitUntil(async () => (await client.list('PersistentVolumeClaim', NS, 'jadevectordb.io/cluster=alpha')).items.length === 0, 120_000, 'PVCs deleted');
    await waitUntil(async () => (await client.getOrUndefined('StatefulSet', NS, 'alpha')) === undefined, 120_000, 'StatefulSet collected');
  }, 300_000);
});
