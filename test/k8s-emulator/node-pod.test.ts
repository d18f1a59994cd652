// Checks the default image mapping end to end: a StatefulSet pod with a "jadevectordb" image runs
// the real node (node/src/main.ts via tsx) on its pod IP with its PVC as data directory, becomes
// Ready through the node's /readyz, serves authenticated requests, and stops cleanly on deletion.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { startEmulator, waitFor, type Emulator } from './index.js';

let emu: Emulator;
let dataRoot: string;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
const ns = 'default';
const apiKey = 'emulator-test-key-0123456789';

beforeAll(async () => {
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'k8s-emu-node-'));
  emu = await startEmulator({ dataRoot, podIpBase: 200, podIpCount: 20 });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(emu.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
});

afterAll(async () => {
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
});

describe('a pod running the real JadeVectorDB node', () => {
  it('becomes Ready on its pod IP with its PVC as data directory', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'jade-key' }, stringData: { key: apiKey } } });
    await apps.createNamespacedStatefulSet({
      namespace: ns,
      body: {
        metadata: { name: 'jade' },
        spec: {
          replicas: 1,
          serviceName: 'jade',
          selector: { matchLabels: { app: 'jade' } },
          template: {
            metadata: { labels: { app: 'jade' } },
            spec: {
              containers: [{
                name: 'node',
                image: 'ghcr.io/example/jadevectordb:dev',
                args: ['--host', '$(POD_IP)', '--port', '8080', '--data-dir', '/var/lib/jade', '--log-level', 'warn'],
                env: [
                  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
                  { name: 'JADE_API_KEY', valueFrom: { secretKeyRef: { name: 'jade-key', key: 'key' } } },
                ],
                ports: [{ name: 'http', containerPort: 8080 }],
                readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 1 },
                startupProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 60 },
                // Generous window: under CPU contention the node (tsx) may need many seconds to start.
                livenessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 2, initialDelaySeconds: 20, failureThreshold: 6 },
                volumeMounts: [{ name: 'data', mountPath: '/var/lib/jade' }],
              }],
            },
          },
          volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
        },
      },
    });
    // containerStatuses[].started: false while the process runs and its startup probe has not passed, as a kubelet reports it.
    let seenStarting = false;
    const pod = await waitFor(() => {
      const p = emu.get(`/api/v1/namespaces/${ns}/pods/jade-0`);
      const c = p?.status?.containerStatuses?.[0];
      if (c?.state?.running && c.started === false) seenStarting = true;
      return p?.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True') ? p : undefined;
    }, 60_000, 20, 'jade-0 ready');
    expect(seenStarting).toBe(true);
    expect(pod.status.containerStatuses[0].started).toBe(true);
    expect(pod.status.podIP).toBe('127.0.0.200');
    const unauthenticated = await fetch(`http://${pod.status.podIP}:8080/collections`);
    expect(unauthenticated.status).toBe(401);
    const listed = await fetch(`http://${pod.status.podIP}:8080/collections`, { headers: { 'api-key': apiKey } });
    expect(listed.status).toBe(200);
    expect(readdirSync(emu.pvcDir(ns, 'data-jade-0')).length).toBeGreaterThan(0);

    await core.deleteNamespacedPod({ namespace: ns, name: 'jade-0' });
    await waitFor(() => emu.get(`/api/v1/namespaces/${ns}/pods/jade-0`)?.metadata?.uid !== pod.metadata.uid, 10_000, 20, 'pod replaced');
    expect(existsSync(emu.pvcDir(ns, 'data-jade-0'))).toBe(true);
  }, 90_000);
});
