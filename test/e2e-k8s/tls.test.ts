// spec.security.tlsSecret end to end on the Kubernetes API emulator: the real operator, real node
// pods. Before the Secret exists the cluster is Degraded (SecretNotFound); once it does, the pods
// serve HTTPS with it (probes over HTTPS), the operator bootstraps them and reads their status
// over https verified against the Secret's ca.crt, a client trusting the CA gets in while plain
// HTTP does not, kubectl jade reaches a pod through the API server's https pod proxy, and a
// VectorBackup is taken over the same verified https.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { startOperator } from '../../operator/src/operator.js';
import type { RunningOperator } from '../../operator/src/operator.js';
import type { VectorBackup, VectorCluster } from '../../operator/src/api/types.js';
import { DAY_MS, makeCa } from '../helpers/tls-certs.js';
import { lockAddressRange } from './address-lock.js';

const NS = 'default';
const FAST = {
  leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300,
  informer: { resyncMs: 20_000, watchdogMs: 1500, backoffBaseMs: 50, backoffMaxMs: 1000, watchTimeoutSeconds: 60 },
  controller: { requeueSettlingMs: 300, requeueRunningMs: 2000 },
};

let emu: Emulator;
let dataRoot: string;
let client: KubeClient;
let op: RunningOperator | undefined;
const logs: string[] = [];
let unlock: (() => void) | undefined;

const getCluster = (name: string) => client.getOrUndefined<KubeObject>('VectorCluster', NS, name) as Promise<VectorCluster | undefined>;

beforeAll(async () => {
  unlock = await lockAddressRange('127.0.0.160-169');
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-e2e-tls-'));
  const crdDir = path.resolve('crds');
  emu = await startEmulator({ crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: 160, podIpCount: 10 });
  client = KubeClient.fromFile(emu.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  await op?.halt().catch(() => {});
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
  unlock?.();
});

describe('VectorCluster with spec.security.tlsSecret', { timeout: 150_000 }, () => {
  it('Degraded until the Secret exists; then HTTPS pods, bootstrapped and polled by the operator through ca.crt', async () => {
    op = await startOperator({ client, identity: 'op-tls', leaseNamespace: NS, namespace: NS, metricsPort: 0, metricsHost: '127.0.0.1', log: (m) => logs.push(m), ...FAST });
    await waitFor(() => op!.isLeader(), 10_000, 50, 'operator leading');
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'sec', namespace: NS }, spec: { replicas: 2, storage: { size: '1Gi', pvcRetention: { whenDeleted: 'Delete' } }, security: { tlsSecret: { name: 'sec-tls' } } } });
    const degraded = await waitFor(async () => {
      const c = await getCluster('sec');
      return c?.status?.conditions?.find((x) => x.type === 'Degraded' && x.reason === 'SecretNotFound') ? c : undefined;
    }, 30_000, 100, 'Degraded/SecretNotFound');
    expect(degraded.status!.conditions!.find((x) => x.type === 'Degraded')!.message).toBe('TLS Secret sec-tls not found: the pods cannot start until it exists');

    // What cert-manager would issue: every pod under the headless Service, and the CA beside it.
    const ca = makeCa();
    const leaf = ca.sign('3001', 30 * DAY_MS, [{ dns: '*.sec-peers.default.svc.cluster.local' }, { dns: 'sec.default.svc' }]);
    await client.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec-tls', namespace: NS }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem, 'ca.crt': ca.certPem } });

    const running = await waitFor(async () => {
      const c = await getCluster('sec');
      return c?.status?.phase === 'Running' && c.status.readyReplicas === 2 && c.status.members?.every((m) => m.joined && m.nodeId !== undefined) ? c : undefined;
    }, 120_000, 200, 'sec Running with 2 joined members').catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await getCluster('sec'))?.status)}\n${logs.slice(-20).join('\n')}`); });
    expect(running.status).toMatchObject({ bootstrapPod: 'sec-0', clusterId: expect.any(String) });
    expect(running.status!.conditions!.find((x) => x.type === 'Degraded')).toMatchObject({ status: 'False' });

    // A client inside the cluster: the pod's IP, the certificate checked against the pod's DNS name.
    const pod = emu.list(`/api/v1/namespaces/${NS}/pods`).find((x: any) => x.metadata.name === 'sec-1') as any;
    const secret = await client.get('Secret', NS, 'sec-api-key');
    const apiKey = Buffer.from((secret.data as Record<string, string>)['api-key'], 'base64').toString('utf8');
    const answer = await new Promise<{ status: number; body: string; serial: string }>((resolve, reject) => {
      const req = httpsRequest({ host: pod.status.podIP, port: 8080, path: '/v1/status', headers: { 'api-key': apiKey }, ca: ca.certPem, servername: 'sec-1.sec-peers.default.svc.cluster.local', agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial: (res.socket as TLSSocket).getPeerCertificate().serialNumber }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(200);
    expect(answer.serial.toLowerCase()).toBe('3001');
    expect(JSON.parse(answer.body)).toMatchObject({ mode: 'cluster', clusterId: running.status!.clusterId, joined: true });
    await expect(fetch(`http://${pod.status.podIP}:8080/healthz`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();

    // kubectl jade: through the API server's pod proxy, which talks https to the pod (pods/https:name:port/proxy).
    const { stdout } = await promisify(execFile)(process.execPath, ['operator/bin/kubectl-jade.js', '--kubeconfig', emu.kubeconfigPath, '-n', NS, '--pod', 'sec-1', 'nodes'], { timeout: 60_000, env: { ...process.env, JADE_API_KEY: '', JADE_URL: '', JADE_CA_FILE: '' } });
    expect(stdout).toMatch(/sec-0/);
    expect(stdout).toMatch(/https:\/\/127\.0\.0\.16\d:8080/);

    // Backups go over the same verified https: a VectorBackup Succeeds.
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackup', metadata: { name: 'sec-backup', namespace: NS }, spec: { clusterRef: { name: 'sec' } } });
    const backup = await waitFor(async () => {
      const b = await client.getOrUndefined<KubeObject>('VectorBackup', NS, 'sec-backup') as VectorBackup | undefined;
      return b?.status?.phase === 'Succeeded' || b?.status?.phase === 'Failed' ? b : undefined;
    }, 30_000, 200, 'sec-backup finished');
    expect(backup.status).toMatchObject({ phase: 'Succeeded', pod: 'sec-0' });
  });
});
