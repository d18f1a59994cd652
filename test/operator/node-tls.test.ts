// Operator-issued node-to-node TLS and the NetworkPolicy (issue 18), against the Kubernetes API
// emulator: with spec.security.nodeTls the operator creates a CA Secret and a node certificate
// Secret (ECDSA P-256, naming every pod under the headless Service and the Services), owned by the
// cluster, mounts it and sets JADE_NODE_TLS_*; it renews the certificate once two thirds of its
// validity have passed (an Event says so) and leaves it alone before; a user's secretName is used
// as given. spec.security.networkPolicy creates (and, switched off, deletes) the NetworkPolicy.
// Pods are stand-ins answering HTTP on their IP (127.0.0.250-259).
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTlsPair } from '../../node/src/security/tls.js';
import { defaultSpec } from '../../operator/src/api/validate.js';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { EventRecorder } from '../../operator/src/kube/events.js';
import { NODE_TLS_DIR, nodeCertificateDnsNames } from '../../operator/src/reconcile/children.js';
import { ClusterController } from '../../operator/src/reconcile/controller.js';
import { ensureNodeCertificates } from '../../operator/src/reconcile/node-certs.js';
import type { NodeStatusReport } from '../../operator/src/reconcile/plan.js';
import { lockAddressRange } from '../e2e-k8s/address-lock.js';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';

const NS = 'default';
const STAND_IN = "require('node:http').createServer((q, r) => r.end('ok')).listen(8080, process.env.JADE_HOST)";
const DAY_MS = 86_400_000;

let emu: Emulator;
let dataRoot: string;
let client: KubeClient;
let events: EventRecorder;
let controller: ClusterController | undefined;
let unlock: (() => void) | undefined;

const report: NodeStatusReport = { ok: false, reason: 'stand-in', message: 'not a node' } as unknown as NodeStatusReport;
const secretData = (s: KubeObject | undefined, key: string) => Buffer.from((s?.data as Record<string, string>)[key], 'base64').toString('utf8');
const eventsOf = async (name: string, reason: string) => (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === name && e.reason === reason);
const getCluster = async (name: string) => (await client.get<KubeObject>('VectorCluster', NS, name)) as unknown as VectorCluster;

beforeAll(async () => {
  unlock = await lockAddressRange('127.0.0.250-259');
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-node-tls-op-'));
  const crdDir = path.resolve('crds');
  emu = await startEmulator({
    crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: 250, podIpCount: 10,
    imageCommands: { jadevectordb: () => ({ command: process.execPath, args: ['-e', STAND_IN] }) },
  });
  client = KubeClient.fromFile(emu.kubeconfigPath);
  events = new EventRecorder(client, 'test');
  controller = new ClusterController({
    client, events, namespace: NS, log: () => undefined,
    informer: { resyncMs: 20_000, watchdogMs: 1500, backoffBaseMs: 50, backoffMaxMs: 1000, watchTimeoutSeconds: 60 },
    requeueSettlingMs: 300, requeueRunningMs: 300,
    nodeStatus: async () => report,
  });
  await controller.start();
}, 60_000);

afterAll(async () => {
  await controller?.stop();
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
  unlock?.();
});

describe('operator-issued node TLS', { timeout: 90_000 }, () => {
  it('creates an owned CA and node certificate naming every pod, mounts them and sets JADE_NODE_TLS_*', async () => {
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'alpha', namespace: NS },
      spec: { replicas: 2, storage: { size: '1Gi' }, security: { nodeTls: { validityDays: 30 }, networkPolicy: { enabled: true } } },
    });
    const nodeSecret = await waitFor(() => client.getOrUndefined<KubeObject>('Secret', NS, 'alpha-node-tls'), 30_000, 100, 'alpha-node-tls');
    const caSecret = (await client.getOrUndefined<KubeObject>('Secret', NS, 'alpha-node-ca'))!;
    const cluster = await getCluster('alpha');
    for (const s of [nodeSecret, caSecret]) expect(s.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'VectorCluster', name: 'alpha', uid: cluster.metadata.uid, controller: true })]);
    const ca = new X509Certificate(secretData(caSecret, 'tls.crt'));
    const leaf = new X509Certificate(secretData(nodeSecret, 'tls.crt'));
    expect(ca.ca).toBe(true);
    expect(secretData(nodeSecret, 'ca.crt')).toBe(secretData(caSecret, 'tls.crt'));
    expect(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.publicKey.asymmetricKeyDetails).toEqual({ namedCurve: 'prime256v1' });
    expect(leaf.subjectAltName!.split(', ').sort()).toEqual(nodeCertificateDnsNames(cluster).map((n) => `DNS:${n}`).sort());
    expect(leaf.subjectAltName).toContain('DNS:*.alpha-peers.default.svc.cluster.local');
    // A pod's name is covered by the wildcard; the node accepts the files as a pair chaining to the CA.
    // (tls.checkServerIdentity is what the nodes' gRPC clients check a peer with.)
    expect(checkServerIdentity('alpha-1.alpha-peers.default.svc.cluster.local', leaf.toLegacyObject())).toBeUndefined();
    expect(checkServerIdentity('alpha-peers.default.svc.cluster.local', leaf.toLegacyObject())).toBeUndefined();
    expect(checkServerIdentity('alpha-1.other.default.svc.cluster.local', leaf.toLegacyObject())).toBeInstanceOf(Error);
    const validMs = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    expect(Math.abs(validMs - 30 * DAY_MS)).toBeLessThan(10 * 60_000);
    const dir = mkdtempSync(path.join(dataRoot, 'files-'));
    for (const k of ['tls.crt', 'tls.key', 'ca.crt']) writeFileSync(path.join(dir, k), secretData(nodeSecret, k));
    const pair = await loadTlsPair({ certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), caFile: path.join(dir, 'ca.crt'), certSetting: 'c', keySetting: 'k', caSetting: 'ca' });
    expect(pair.serialNumber).toBe(leaf.serialNumber);

    const sts = await waitFor(() => client.getOrUndefined<KubeObject>('StatefulSet', NS, 'alpha'), 30_000, 100, 'alpha StatefulSet');
    const pod = (sts.spec as any).template.spec;
    const env = Object.fromEntries(pod.containers[0].env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      JADE_NODE_TLS_CERT_FILE: `${NODE_TLS_DIR}/tls.crt`, JADE_NODE_TLS_KEY_FILE: `${NODE_TLS_DIR}/tls.key`, JADE_NODE_TLS_CA_FILE: `${NODE_TLS_DIR}/ca.crt`,
      JADE_ADVERTISE_HOST: '$(JADE_NODE_ID).alpha-peers.default.svc.cluster.local',
    });
    expect(pod.volumes).toContainEqual({ name: 'node-tls', secret: { secretName: 'alpha-node-tls', defaultMode: 0o440 } });
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'node-tls', mountPath: NODE_TLS_DIR, readOnly: true });
    expect((await eventsOf('alpha', 'NodeCertificateIssued')).length).toBe(1);
    expect((await eventsOf('alpha', 'NodeCACreated')).length).toBe(1);
  });

  it('renews the certificate once two thirds of its validity have passed, not before, keeping the CA', async () => {
    const before = (await client.get<KubeObject>('Secret', NS, 'alpha-node-tls'));
    const serialBefore = new X509Certificate(secretData(before, 'tls.crt')).serialNumber;
    const cluster = await getCluster('alpha');
    const spec = defaultSpec(cluster.spec);
    // 30-day certificate: at day 19 it is current, at day 21 it is renewed.
    expect(await ensureNodeCertificates(client, events, cluster, spec, Date.now() + 19 * DAY_MS)).toBe('current');
    expect(new X509Certificate(secretData(await client.get<KubeObject>('Secret', NS, 'alpha-node-tls'), 'tls.crt')).serialNumber).toBe(serialBefore);
    expect(await ensureNodeCertificates(client, events, cluster, spec, Date.now() + 21 * DAY_MS)).toBe('renewed');
    const after = await client.get<KubeObject>('Secret', NS, 'alpha-node-tls');
    const renewed = new X509Certificate(secretData(after, 'tls.crt'));
    expect(renewed.serialNumber).not.toBe(serialBefore);
    expect(secretData(after, 'ca.crt')).toBe(secretData(before, 'ca.crt'));
    expect(renewed.verify(new X509Certificate(secretData(before, 'ca.crt')).publicKey)).toBe(true);
    const renewedEvents = await eventsOf('alpha', 'NodeCertificateRenewed');
    expect(renewedEvents.map((e: any) => e.message)).toEqual([expect.stringMatching(new RegExp(`two thirds of its validity have passed.*new serial ${renewed.serialNumber}`))]);
    // The controller (real time) leaves the renewed certificate alone.
    await new Promise((r) => setTimeout(r, 1500));
    expect(new X509Certificate(secretData(await client.get<KubeObject>('Secret', NS, 'alpha-node-tls'), 'tls.crt')).serialNumber).toBe(renewed.serialNumber);
  });

  it('creates the NetworkPolicy: gRPC only from the cluster\'s pods, REST from anyone; deletes it when switched off', async () => {
    const np = await waitFor(() => client.getOrUndefined<KubeObject>('NetworkPolicy', NS, 'alpha'), 30_000, 100, 'alpha NetworkPolicy');
    const selector = { matchLabels: { 'app.kubernetes.io/name': 'jadevectordb', 'jadevectordb.io/cluster': 'alpha' } };
    expect(np.spec).toEqual({
      podSelector: selector, policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: selector }], ports: [{ protocol: 'TCP', port: 9090 }] }, { ports: [{ protocol: 'TCP', port: 8080 }, { protocol: 'TCP', port: 6334 }] }],
    });
    const cluster = await getCluster('alpha');
    await client.patch('VectorCluster', NS, 'alpha', { spec: { security: { networkPolicy: { enabled: false } } }, metadata: { resourceVersion: cluster.metadata.resourceVersion } });
    await waitFor(async () => (await client.getOrUndefined<KubeObject>('NetworkPolicy', NS, 'alpha')) === undefined, 30_000, 100, 'NetworkPolicy deleted');
  });

  it('uses a user-provided Secret as given and issues nothing; Degraded while it is missing', async () => {
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'beta', namespace: NS },
      spec: { replicas: 1, storage: { size: '1Gi' }, security: { nodeTls: { secretName: 'my-node-tls' } } },
    });
    const sts = await waitFor(() => client.getOrUndefined<KubeObject>('StatefulSet', NS, 'beta'), 30_000, 100, 'beta StatefulSet');
    expect((sts.spec as any).template.spec.volumes).toContainEqual({ name: 'node-tls', secret: { secretName: 'my-node-tls', defaultMode: 0o440 } });
    expect(await client.getOrUndefined('Secret', NS, 'beta-node-ca')).toBeUndefined();
    expect(await client.getOrUndefined('Secret', NS, 'beta-node-tls')).toBeUndefined();
    expect(await client.getOrUndefined('NetworkPolicy', NS, 'beta')).toBeUndefined();
    // Until it exists the pods cannot start, and the status says so.
    const degraded = await waitFor(async () => {
      const c = await getCluster('beta');
      return c.status?.conditions?.find((x) => x.type === 'Degraded' && x.reason === 'SecretNotFound');
    }, 30_000, 100, 'beta Degraded/SecretNotFound');
    expect(degraded.message).toBe('node TLS Secret my-node-tls not found: the pods cannot start until it exists');
  });
});
