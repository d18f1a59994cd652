// spec.security.nodeTls end to end on the Kubernetes API emulator: the real operator issues the CA
// and node certificate, real node pods mount them, advertise their DNS names under the headless
// Service, join through its name over mutual TLS and replicate a write; each reports node TLS in
// /v1/status and the certificate's expiry in jade_tls_certificate_expiry_seconds{kind="node"}; a
// client without a certificate from the cluster CA cannot speak to the gRPC port.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { startOperator } from '../../operator/src/operator.js';
import type { RunningOperator } from '../../operator/src/operator.js';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { issueNodeCert, makeTestCa } from '../helpers/node-certs.js';
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
const secretValue = async (name: string, key: string) => Buffer.from(((await client.get('Secret', NS, name)).data as Record<string, string>)[key], 'base64').toString('utf8');

beforeAll(async () => {
  unlock = await lockAddressRange('127.0.0.250-259');
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-e2e-node-tls-'));
  const crdDir = path.resolve('crds');
  emu = await startEmulator({ crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: 250, podIpCount: 10 });
  client = KubeClient.fromFile(emu.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  await op?.halt().catch(() => {});
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
  unlock?.();
});

describe('VectorCluster with spec.security.nodeTls', { timeout: 200_000 }, () => {
  it('forms over mutual TLS with operator-issued certificates and replicates a write', async () => {
    op = await startOperator({ client, identity: 'op-node-tls', leaseNamespace: NS, namespace: NS, metricsPort: 0, metricsHost: '127.0.0.1', log: (m) => logs.push(m), ...FAST });
    await waitFor(() => op!.isLeader(), 10_000, 50, 'operator leading');
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'mtls', namespace: NS }, spec: { replicas: 3, storage: { size: '1Gi', pvcRetention: { whenDeleted: 'Delete' } }, security: { nodeTls: {} } } });
    const running = await waitFor(async () => {
      const c = await getCluster('mtls');
      return c?.status?.phase === 'Running' && c.status.readyReplicas === 3 && c.status.members?.every((m) => m.joined) ? c : undefined;
    }, 150_000, 250, 'mtls Running with 3 joined members').catch(async (e) => {
      const tail = ['mtls-0', 'mtls-1', 'mtls-2'].map((p) => { try { return `${p}: ${readFileSync(emu.podLogPath(NS, p, 'jadevectordb'), 'utf8').slice(-3000)}`; } catch { return `${p}: no log`; } });
      throw new Error(`${String(e)}: ${JSON.stringify((await getCluster('mtls'))?.status)}\n${logs.slice(-20).join('\n')}\n${tail.join('\n')}`);
    });
    expect(running.status!.clusterId).toEqual(expect.any(String));

    const apiKey = await secretValue('mtls-api-key', 'api-key');
    const pods = emu.list(`/api/v1/namespaces/${NS}/pods`).filter((p: any) => p.metadata.name.startsWith('mtls-')) as any[];
    const api = async (pod: any, method: string, p: string, body?: unknown) => {
      const res = await fetch(`http://${pod.status.podIP}:8080${p}`, { method, headers: { 'api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
      return { status: res.status, body: await res.json().catch(() => null) as any, text: res.status };
    };
    for (const pod of pods) {
      const status = (await api(pod, 'GET', '/v1/status')).body;
      expect(status.transport, JSON.stringify(status)).toMatchObject({ tls: true, authenticated: true });
      const metrics = await (await fetch(`http://${pod.status.podIP}:8080/metrics`, { headers: { 'api-key': apiKey } })).text();
      expect(metrics).toMatch(/jade_tls_certificate_expiry_seconds\{kind="node"\} \d+/);
    }
    const created = await api(pods[0], 'PUT', '/collections/c', { vectors: { size: 2, distance: 'Cosine' }, shard_number: 1, replication_factor: 3 });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    await waitFor(async () => (await api(pods[1], 'PUT', '/collections/c/points?wait=true', { points: [{ id: 1, vector: [1, 0], payload: { ok: true } }] })).status === 200, 30_000, 200, 'upsert');
    for (const pod of pods) {
      await waitFor(async () => {
        const r = await api(pod, 'POST', '/collections/c/points', { ids: [1], with_payload: true });
        return r.status === 200 && r.body.result[0]?.payload?.ok === true;
      }, 30_000, 200, `point 1 on ${pod.metadata.name}`);
    }

    // The gRPC port: a client certificate from another CA is refused in the handshake; one from the
    // cluster CA gets the server's HTTP/2 SETTINGS (the control).
    const clusterCa = { certPem: await secretValue('mtls-node-ca', 'tls.crt'), keyPem: await secretValue('mtls-node-ca', 'tls.key') };
    const handshake = (cert: { certPem: string; keyPem: string }) => new Promise<string>((resolve) => {
      const s = connect({ host: pods[0].status.podIP, port: 9090, ca: clusterCa.certPem, cert: cert.certPem, key: cert.keyPem, servername: 'mtls-0.mtls-peers.default.svc.cluster.local', ALPNProtocols: ['h2'] });
      const done = (r: string) => { s.destroy(); resolve(r); };
      s.once('secureConnect', () => s.once('data', () => done('data')).once('close', () => done('closed')));
      s.once('error', (e: NodeJS.ErrnoException) => done(`refused: ${e.code ?? e.message}`));
    });
    expect(await handshake(await issueNodeCert(await makeTestCa('not the cluster CA')))).toMatch(/^refused|^closed$/);
    expect(await handshake(await issueNodeCert(clusterCa))).toBe('data');
  });
});
