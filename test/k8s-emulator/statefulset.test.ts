// Checks the StatefulSet controller and kubelet with real processes: a fixture HTTP server per pod
// on its own 127.0.0.x IP becomes Ready in ordinal order, gets env from fieldRef/Secret/ConfigMap
// and its PVC as a directory, restarts after kill -9, rolls on a template change (highest first),
// scales down from the highest ordinal honouring the PVC retention policy, and leaves no process.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { dnsShimPath, startEmulator, waitFor, type Emulator } from './index.js';

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/http-server.mjs');
const initFixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/init-task.mjs');
const ns = 'sts-test';
let emu: Emulator;
let dataRoot: string;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let policy: k8s.PolicyV1Api;
const pids = new Set<number>();
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isReady(pod: any): boolean {
  return (pod?.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

async function info(pod: any): Promise<any> {
  const res = await fetch(`http://${pod.status.podIP}:8080/info`);
  const body = (await res.json()) as any;
  pids.add(body.pid);
  return body;
}

function statefulSet(replicas: number): k8s.V1StatefulSet {
  return {
    metadata: { name: 'web' },
    spec: {
      replicas,
      serviceName: 'web',
      selector: { matchLabels: { app: 'web' } },
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete', whenDeleted: 'Retain' },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [{
            name: 'server',
            image: 'fixture/http-server:1',
            args: ['--port', '8080', '--data', '/var/lib/web/data'],
            ports: [{ name: 'http', containerPort: 8080 }],
            env: [
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'web-secret', key: 'apiKey' } } },
              { name: 'GREETING', value: 'hello $(POD_NAME)' },
            ],
            envFrom: [{ configMapRef: { name: 'web-config' }, prefix: 'CFG_' }],
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1 },
            volumeMounts: [{ name: 'data', mountPath: '/var/lib/web' }],
          }],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    },
  };
}

beforeAll(async () => {
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'k8s-emu-sts-'));
  emu = await startEmulator({
    dataRoot,
    podIpBase: 60,
    podIpCount: 40,
    imageCommands: {
      'fixture/http-server': (c) => ({ command: process.execPath, args: ['--import', dnsShimPath, fixture, ...(c.args ?? [])] }),
      'fixture/init-task': (c) => ({ command: process.execPath, args: [initFixture, ...(c.args ?? [])] }),
    },
  });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(emu.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  policy = kc.makeApiClient(k8s.PolicyV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'web-secret' }, stringData: { apiKey: 's3cret' } } });
  await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'web-config' }, data: { MODE: 'test' } } });
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 8080 }] } } });
});

afterAll(async () => {
  await emu?.stop();
  for (const pid of pids) expect(alive(pid), `process ${pid} still alive after stop()`).toBe(false);
  rmSync(dataRoot, { recursive: true, force: true });
});

describe('StatefulSet with real pod processes', { timeout: 60_000 }, () => {
  it('creates pods in order, each Ready only after its predecessor, with env, pod IP and PVC directory', async () => {
    const addedAt = new Map<string, number>();
    const readyAt = new Map<string, number>();
    const podsPath = `/api/v1/namespaces/${ns}/pods`;
    const unsubscribe = setInterval(() => {
      for (const pod of emu.list(podsPath)) {
        if (!addedAt.has(pod.metadata.name)) addedAt.set(pod.metadata.name, Date.now());
        if (isReady(pod) && !readyAt.has(pod.metadata.name)) readyAt.set(pod.metadata.name, Date.now());
      }
    }, 5);
    try {
      await apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSet(3) });
      await waitFor(() => emu.list(podsPath).filter(isReady).length === 3, 45_000, 20, 'three ready pods');
    } finally {
      clearInterval(unsubscribe);
    }
    expect(addedAt.get('web-1')!).toBeGreaterThanOrEqual(readyAt.get('web-0')!);
    expect(addedAt.get('web-2')!).toBeGreaterThanOrEqual(readyAt.get('web-1')!);

    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
    const ips = pods.map((p) => p.status!.podIP!);
    expect(new Set(ips).size).toBe(3);
    for (const ip of ips) expect(ip).toMatch(/^127\.0\.0\.\d+$/);
    const pod1 = pods.find((p) => p.metadata!.name === 'web-1')!;
    expect(pod1.spec?.volumes?.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe('data-web-1');
    const body = await info(pod1);
    expect(body.env).toMatchObject({ POD_NAME: 'web-1', POD_IP: pod1.status!.podIP, API_KEY: 's3cret', GREETING: 'hello web-1', CFG_MODE: 'test' });
    expect(body.dataDir).toBe(path.join(emu.pvcDir(ns, 'data-web-1'), 'data'));
    expect(readFileSync(path.join(emu.pvcDir(ns, 'data-web-1'), 'data/boots.log'), 'utf8')).toContain('web-1');

    const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: 'data-web-2' });
    expect(pvc.status?.phase).toBe('Bound');
    const sts = await waitFor(async () => {
      const s = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'web' });
      return s.status?.readyReplicas === 3 ? s : undefined;
    }, 5000, 20, 'StatefulSet status');
    expect(sts!.status).toMatchObject({ replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, observedGeneration: 1 });
    // Cluster DNS inside a pod (through dns-shim.mjs) and for the test process (emu.resolve).
    const ipOf = (name: string): string => pods.find((p) => p.metadata!.name === name)!.status!.podIP!;
    const resolveFrom = async (host: string): Promise<any> => (await fetch(`http://${ipOf('web-1')}:8080/resolve?host=${encodeURIComponent(host)}`)).json();
    expect(await resolveFrom('web-0.web')).toEqual([ipOf('web-0')]);
    expect(await resolveFrom(`web-2.web.${ns}.svc.cluster.local`)).toEqual([ipOf('web-2')]);
    expect(await resolveFrom('web')).toEqual([...ips].sort());
    expect(await resolveFrom('nothing.web')).toEqual({ code: 'ENOTFOUND' });
    expect(await resolveFrom('localhost')).toContain('127.0.0.1');
    expect(emu.resolve('web-0.web', ns)).toEqual([ipOf('web-0')]);
    expect(emu.resolve('example.com', ns)).toBeUndefined();
    const log = await core.readNamespacedPodLog({ namespace: ns, name: 'web-0' });
    expect(log).toContain('fixture listening on');
  });

  it('restarts a container killed with SIGKILL, keeping its PVC data', async () => {
    const before = await core.readNamespacedPod({ namespace: ns, name: 'web-1' });
    const oldPid = (await info(before)).pid;
    emu.killPod(ns, 'web-1', 'SIGKILL');
    const restarted = await waitFor(() => {
      const pod = emu.get(`/api/v1/namespaces/${ns}/pods/web-1`);
      return pod?.status?.containerStatuses?.[0]?.restartCount === 1 && isReady(pod) ? pod : undefined;
    }, 30_000, 20, 'restart of web-1');
    expect(restarted.status.containerStatuses[0].lastState.terminated).toMatchObject({ exitCode: 137, reason: 'Error' });
    expect(restarted.metadata.uid).toBe(before.metadata!.uid);
    const after = await info(restarted);
    expect(after.pid).not.toBe(oldPid);
    expect(alive(oldPid)).toBe(false);
    const boots = readFileSync(path.join(emu.pvcDir(ns, 'data-web-1'), 'data/boots.log'), 'utf8').trim().split('\n');
    expect(boots).toHaveLength(2);
  });

  it('a hung container (SIGSTOP) goes NotReady after about the declared readiness window, with the Ready transition time, and Ready again on SIGCONT', async () => {
    const before = emu.get(`/api/v1/namespaces/${ns}/pods/web-1`);
    const restarts = before.status.containerStatuses[0].restartCount;
    const stoppedAtMs = Date.now();
    emu.killPod(ns, 'web-1', 'SIGSTOP');
    try {
      // periodSeconds 1 × failureThreshold 3: a kubelet says NotReady about 3 s on, although each probe now waits its 1 s timeout.
      const notReady = await waitFor(() => {
        const pod = emu.get(`/api/v1/namespaces/${ns}/pods/web-1`);
        return isReady(pod) ? undefined : pod;
      }, 15_000, 20, 'web-1 NotReady');
      const elapsedMs = Date.now() - stoppedAtMs;
      expect(elapsedMs).toBeGreaterThanOrEqual(2500);
      expect(elapsedMs).toBeLessThan(10_000);
      const ready = notReady.status.conditions.find((c: any) => c.type === 'Ready');
      expect(Date.parse(ready.lastTransitionTime)).toBeGreaterThanOrEqual(Math.floor(stoppedAtMs / 1000) * 1000);
    } finally {
      emu.killPod(ns, 'web-1', 'SIGCONT');
    }
    const back = await waitFor(() => {
      const pod = emu.get(`/api/v1/namespaces/${ns}/pods/web-1`);
      return isReady(pod) ? pod : undefined;
    }, 15_000, 20, 'web-1 Ready again');
    expect(back.status.containerStatuses[0].restartCount).toBe(restarts);
  });

  it('keeps PodDisruptionBudget status and refuses an eviction that would break the budget', async () => {
    await policy.createNamespacedPodDisruptionBudget({ namespace: ns, body: { metadata: { name: 'web' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'web' } } } } });
    await waitFor(() => emu.get(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/web`)?.status?.disruptionsAllowed === 1, 5000, 20, 'PDB status');
    expect(emu.get(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/web`).status).toMatchObject({ expectedPods: 3, currentHealthy: 3, desiredHealthy: 2, disruptionsAllowed: 1 });
    const oldUid = emu.get(`/api/v1/namespaces/${ns}/pods/web-0`).metadata.uid;
    await core.createNamespacedPodEviction({ namespace: ns, name: 'web-0', body: { metadata: { name: 'web-0', namespace: ns } } });
    let refused: any;
    try {
      await core.createNamespacedPodEviction({ namespace: ns, name: 'web-1', body: { metadata: { name: 'web-1', namespace: ns } } });
    } catch (e: any) {
      refused = e;
    }
    expect(refused?.code).toBe(429);
    expect(JSON.parse(refused.body).message).toContain("would violate the pod's disruption budget");
    await waitFor(() => {
      const pod = emu.get(`/api/v1/namespaces/${ns}/pods/web-0`);
      return pod && pod.metadata.uid !== oldUid && isReady(pod);
    }, 45_000, 20, 'web-0 recreated after eviction');
    await waitFor(() => emu.get(`/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/web`)?.status?.disruptionsAllowed === 1, 5000, 20, 'budget restored');
    await policy.deleteNamespacedPodDisruptionBudget({ namespace: ns, name: 'web' });
  });

  it('rolls pods to a new template highest ordinal first, one at a time', async () => {
    const deletedOrder: string[] = [];
    const seenUids = new Map<string, string>();
    for (const p of emu.list(`/api/v1/namespaces/${ns}/pods`)) seenUids.set(p.metadata.name, p.metadata.uid);
    await apps.patchNamespacedStatefulSet({ namespace: ns, name: 'web', body: { spec: { template: { metadata: { annotations: { rev: '2' } } } } } }, mergePatch);
    const record = (): void => {
      for (const p of emu.list(`/api/v1/namespaces/${ns}/pods`)) {
        if (seenUids.get(p.metadata.name) !== p.metadata.uid && !deletedOrder.includes(p.metadata.name)) deletedOrder.push(p.metadata.name);
      }
    };
    const poll = setInterval(record, 5);
    try {
      await waitFor(() => {
        const sts = emu.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/web`);
        return sts.status.updatedReplicas === 3 && sts.status.readyReplicas === 3 && sts.status.currentRevision === sts.status.updateRevision;
      }, 45_000, 20, 'rolling update');
    } finally {
      clearInterval(poll);
    }
    record();
    expect(deletedOrder).toEqual(['web-2', 'web-1', 'web-0']);
    const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'web' });
    expect(sts.metadata?.generation).toBe(2);
    expect(sts.status?.observedGeneration).toBe(2);
    for (const p of emu.list(`/api/v1/namespaces/${ns}/pods`)) expect(p.metadata.annotations).toEqual({ rev: '2' });
  });

  it('OnDelete: a new template replaces no pod; a deleted pod comes back from it; currentRevision stays behind', async () => {
    await apps.patchNamespacedStatefulSet({ namespace: ns, name: 'web', body: { spec: { updateStrategy: { type: 'OnDelete', rollingUpdate: null } } } }, mergePatch);
    const uids = new Map(emu.list(`/api/v1/namespaces/${ns}/pods`).map((p) => [p.metadata.name, p.metadata.uid]));
    const before = emu.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/web`).status;
    await apps.patchNamespacedStatefulSet({ namespace: ns, name: 'web', body: { spec: { template: { metadata: { annotations: { rev: '3' } } } } } }, mergePatch);
    await waitFor(() => emu.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/web`).status.updateRevision !== before.updateRevision, 5000, 20, 'new update revision');
    await new Promise((r) => setTimeout(r, 1500));
    expect(new Map(emu.list(`/api/v1/namespaces/${ns}/pods`).map((p) => [p.metadata.name, p.metadata.uid]))).toEqual(uids);
    expect(emu.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/web`).status).toMatchObject({ updatedReplicas: 0, currentRevision: before.currentRevision });
    for (const name of ['web-2', 'web-1', 'web-0']) {
      await core.deleteNamespacedPod({ namespace: ns, name });
      await waitFor(() => {
        const p = emu.get(`/api/v1/namespaces/${ns}/pods/${name}`);
        return p && p.metadata.uid !== uids.get(name) && isReady(p);
      }, 45_000, 20, `${name} recreated`);
    }
    // The StatefulSet controller counts the last pod ready on its next sync, a moment after the pod is.
    const after = await waitFor(() => {
      const st = emu.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/web`).status;
      return st.readyReplicas === 3 ? st : undefined;
    }, 10_000, 20, 'readyReplicas 3');
    expect(after).toMatchObject({ updatedReplicas: 3, readyReplicas: 3, currentRevision: before.currentRevision });
    for (const p of emu.list(`/api/v1/namespaces/${ns}/pods`)) expect(p.metadata.labels['controller-revision-hash']).toBe(after.updateRevision);
    await apps.patchNamespacedStatefulSet({ namespace: ns, name: 'web', body: { spec: { updateStrategy: { type: 'RollingUpdate' } } } }, mergePatch);
  });

  it('scales down from the highest ordinal and deletes scaled-down PVCs (whenScaled: Delete)', async () => {
    const order: string[] = [];
    const record = (): void => {
      const names = new Set(emu.list(`/api/v1/namespaces/${ns}/pods`).map((p) => p.metadata.name));
      for (const n of ['web-0', 'web-1', 'web-2']) if (!names.has(n) && !order.includes(n)) order.push(n);
    };
    const poll = setInterval(record, 5);
    const pod2 = emu.get(`/api/v1/namespaces/${ns}/pods/web-2`);
    const pid2 = (await info(pod2)).pid;
    try {
      await apps.patchNamespacedStatefulSetScale({ namespace: ns, name: 'web', body: { spec: { replicas: 1 } } }, mergePatch);
      await waitFor(() => emu.list(`/api/v1/namespaces/${ns}/pods`).length === 1 && !emu.get(`/api/v1/namespaces/${ns}/persistentvolumeclaims/data-web-1`), 45_000, 20, 'scale down');
    } finally {
      clearInterval(poll);
    }
    record();
    expect(order).toEqual(['web-2', 'web-1']);
    expect(alive(pid2)).toBe(false);
    expect(readFileSync(emu.podLogPath(ns, 'web-2', 'server'), 'utf8')).toContain('fixture got SIGTERM');
    await waitFor(() => !existsSync(emu.pvcDir(ns, 'data-web-2')) && !existsSync(emu.pvcDir(ns, 'data-web-1')), 5000, 20, 'PVC directories removed');
    expect(existsSync(path.join(emu.pvcDir(ns, 'data-web-0'), 'data/boots.log'))).toBe(true);
    const sts = await apps.readNamespacedStatefulSet({ namespace: ns, name: 'web' });
    expect(sts.status).toMatchObject({ replicas: 1, readyReplicas: 1 });
  });

  it('deletes pods with the StatefulSet and retains PVCs (whenDeleted: Retain)', async () => {
    const pod0 = emu.get(`/api/v1/namespaces/${ns}/pods/web-0`);
    const pid0 = (await info(pod0)).pid;
    await apps.deleteNamespacedStatefulSet({ namespace: ns, name: 'web' });
    await waitFor(() => emu.list(`/api/v1/namespaces/${ns}/pods`).length === 0, 30_000, 20, 'pods garbage-collected');
    await waitFor(() => !alive(pid0), 5000, 20, 'process exit');
    expect(emu.get(`/api/v1/namespaces/${ns}/persistentvolumeclaims/data-web-0`)).toBeTruthy();
    expect(existsSync(path.join(emu.pvcDir(ns, 'data-web-0'), 'data/boots.log'))).toBe(true);
  });
});

describe('pods with init and sidecar containers', { timeout: 60_000 }, () => {
  it('runs init containers to completion (retrying a failure) before the main container, keeps sidecars running', async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'initpod' },
        spec: {
          volumes: [{ name: 'work', emptyDir: {} }],
          initContainers: [
            { name: 'prepare', image: 'fixture/init-task', args: ['--dir', '/work'], volumeMounts: [{ name: 'work', mountPath: '/work' }] },
            {
              name: 'helper', image: 'fixture/http-server', restartPolicy: 'Always', args: ['--port', '8081'],
              env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
              readinessProbe: { httpGet: { path: '/readyz', port: 8081 } },
            },
          ],
          containers: [{
            name: 'main', image: 'fixture/http-server', args: ['--port', '8080', '--data', '/work'],
            env: [{ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
            readinessProbe: { httpGet: { path: '/readyz', port: 8080 } },
            volumeMounts: [{ name: 'work', mountPath: '/work' }],
          }],
        },
      },
    });
    const pod = await waitFor(() => {
      const p = emu.get(`/api/v1/namespaces/${ns}/pods/initpod`);
      return isReady(p) ? p : undefined;
    }, 45_000, 20, 'initpod ready');
    expect(pod.status.conditions.find((c: any) => c.type === 'Initialized').status).toBe('True');
    const [prepare, helper] = pod.status.initContainerStatuses;
    expect(prepare).toMatchObject({ name: 'prepare', restartCount: 1, ready: true, state: { terminated: { exitCode: 0, reason: 'Completed' } } });
    expect(helper).toMatchObject({ name: 'helper', ready: true, state: { running: {} } });
    const main = await info(pod);
    expect(readFileSync(path.join(main.dataDir, 'init.txt'), 'utf8')).toBe('initialized\n');
    const helperInfo = (await (await fetch(`http://${pod.status.podIP}:8081/info`)).json()) as any;
    pids.add(helperInfo.pid);
    expect(helperInfo.pid).not.toBe(main.pid);
    await core.deleteNamespacedPod({ namespace: ns, name: 'initpod' });
    await waitFor(() => !emu.get(`/api/v1/namespaces/${ns}/pods/initpod`), 30_000, 20, 'initpod deleted');
    expect(alive(main.pid) || alive(helperInfo.pid)).toBe(false);
  });
});
