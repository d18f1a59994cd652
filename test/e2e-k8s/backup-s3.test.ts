// spec.backup on the Kubernetes API emulator with a real node process as the pod and s3rver on the
// loopback as the bucket: a VectorCluster whose spec.backup.target.s3 names a credentials Secret that
// does not exist yet is Degraded (SecretNotFound); once it exists the pod starts with the S3 target and
// the backup key file from their Secrets, a VectorBackup Succeeds with location s3://bucket/prefix/<id>,
// the bucket holds its manifest, which says the files are encrypted with the Secret's key, and the
// credentials are nowhere in the ConfigMap or the status. A VectorBackup naming another target fails,
// saying to set spec.backup.target on the VectorCluster. Changing the prefix rolls the pod, and a backup
// asked for meanwhile is taken once the pod runs with the new target, under the new prefix. A
// filesystem target is Degraded until its PVC exists, then written on that PVC. A schedule with the
// cluster's target backs up into the bucket; retention deletes the expired backup's objects.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { startOperator } from '../../operator/src/operator.js';
import type { RunningOperator } from '../../operator/src/operator.js';
import type { VectorBackup, VectorCluster } from '../../operator/src/api/types.js';
import { lockAddressRange } from './address-lock.js';

const NS = 'default';
const NAME = 's3bk';
const POD = `${NAME}-0`;
const BUCKET = 'jade-k8s-backups';
const PREFIX = 'k8s/s3bk';
const ACCESS_KEY_ID = 'S3RVER'; // s3rver's account; it does not check signatures, so the secret is ours
const SECRET_ACCESS_KEY = `jade-e2e-${randomBytes(8).toString('hex')}`;
const KEY_ID = 'k8s-key-1';
/** The schedule's clock runs 30 times faster than the wall: every minute is every 2 s. */
const T0_MS = Date.now();
const fastClock = () => T0_MS + (Date.now() - T0_MS) * 30;

let emu: Emulator;
let dataRoot: string;
let client: KubeClient;
let s3rver: S3rver;
let s3: S3Client;
let endpoint = '';
let op: RunningOperator | undefined;
let unlock: (() => void) | undefined;
const logs: string[] = [];

const getCluster = () => client.getOrUndefined<KubeObject>('VectorCluster', NS, NAME) as Promise<VectorCluster | undefined>;
const getBackup = (name: string) => client.getOrUndefined<KubeObject>('VectorBackup', NS, name) as Promise<VectorBackup | undefined>;
const debug = async () => `${JSON.stringify((await getCluster())?.status)}\n${logs.slice(-20).join('\n')}`;

async function waitPhase(name: string, phase: string, timeoutMs = 30_000): Promise<VectorBackup> {
  return waitFor(async () => {
    const b = await getBackup(name);
    return b?.status?.phase === phase ? b : undefined;
  }, timeoutMs, 100, `${name} ${phase}`).catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await getBackup(name))?.status)}\n${await debug()}`); }) as Promise<VectorBackup>;
}

async function podCall(apiKey: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: any }> {
  const p = emu.list(`/api/v1/namespaces/${NS}/pods`).find((x: any) => x.metadata.name === POD) as any;
  const res = await fetch(`http://${p.status.podIP}:8080${urlPath}`, {
    method, headers: { 'api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

beforeAll(async () => {
  unlock = await lockAddressRange('127.0.0.140-149');
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-e2e-backup-s3-'));
  s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(dataRoot, 's3rver'), configureBuckets: [{ name: BUCKET }] });
  endpoint = `http://127.0.0.1:${(await s3rver.run()).port}`;
  s3 = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'reader' } });
  const crdDir = path.resolve('crds');
  emu = await startEmulator({ crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: 140, podIpCount: 10 });
  client = KubeClient.fromFile(emu.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  await op?.halt().catch(() => {});
  await emu?.stop();
  s3?.destroy();
  await s3rver?.close();
  rmSync(dataRoot, { recursive: true, force: true });
  unlock?.();
});

describe('VectorCluster spec.backup: S3 target and encryption key from Secrets', { timeout: 120_000 }, () => {
  it('Degraded until the credentials Secret exists; then an encrypted backup lands in the bucket, location s3://…', async () => {
    op = await startOperator({
      client, identity: 'op-s3', leaseNamespace: NS, namespace: NS, metricsPort: 0, metricsHost: '127.0.0.1', log: (m) => logs.push(m),
      leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300,
      informer: { resyncMs: 20_000, watchdogMs: 1500, backoffBaseMs: 50, backoffMaxMs: 1000, watchTimeoutSeconds: 60 },
      controller: { requeueSettlingMs: 300, requeueRunningMs: 1000, rolloutSettleMs: 1000 },
      backup: { pollMs: 200, pendingRetryMs: 300, scheduleNowMs: fastClock, scheduleRequeueMaxMs: 200 },
    });
    await waitFor(() => op!.isLeader(), 15_000, 50, 'operator leading');
    const key = randomBytes(32).toString('base64');
    await client.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's3bk-backup-key', namespace: NS }, type: 'Opaque', stringData: { 'backup-keys': `# rotated yearly\n${KEY_ID}:${key}\n` } });
    const target = { s3: { bucket: BUCKET, prefix: PREFIX, endpoint, credentialsSecret: 's3bk-s3-creds' } };
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: NAME, namespace: NS },
      spec: { replicas: 1, storage: { size: '1Gi', pvcRetention: { whenDeleted: 'Delete' } }, backup: { target, encryptionKeySecret: { name: 's3bk-backup-key' } } },
    });
    const degraded = await waitFor(async () => {
      const c = await getCluster();
      return c?.status?.conditions?.find((x) => x.type === 'Degraded' && x.reason === 'SecretNotFound');
    }, 30_000, 100, 'Degraded/SecretNotFound');
    expect(degraded.message).toBe('backup credentials Secret s3bk-s3-creds not found: the pods cannot start until it exists');

    await client.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's3bk-s3-creds', namespace: NS }, type: 'Opaque', stringData: { AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_ACCESS_KEY } });
    await waitFor(async () => {
      const c = await getCluster();
      return c?.status?.phase === 'Running' && c.status.readyReplicas === 1;
    }, 90_000, 200, `${NAME} Running`).catch(async (e) => { throw new Error(`${String(e)}: ${await debug()}`); });

    // The credentials reach the pod only through secretKeyRef: not the ConfigMap, not the status.
    const configMap = await client.get('ConfigMap', NS, `${NAME}-config`);
    expect(JSON.stringify(configMap)).not.toContain(SECRET_ACCESS_KEY);
    expect(JSON.stringify(await getCluster())).not.toContain(SECRET_ACCESS_KEY);

    const apiKeySecret = await client.get('Secret', NS, `${NAME}-api-key`);
    const apiKey = Buffer.from((apiKeySecret.data as Record<string, string>)['api-key'], 'base64').toString('utf8');
    expect((await podCall(apiKey, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } })).status).toBe(200);
    expect((await podCall(apiKey, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 1, vector: [1, 2] }, { id: 2, vector: [3, 4] }] })).status).toBe(200);

    // The cluster's own target, written out again, is honoured (defaults included); no target means the cluster's too.
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackup', metadata: { name: 'to-bucket', namespace: NS }, spec: { clusterRef: { name: NAME }, target } });
    const done = await waitPhase('to-bucket', 'Succeeded');
    const id = done.status!.backupId!;
    expect(done.status).toMatchObject({ pod: POD, location: `s3://${BUCKET}/${PREFIX}/${id}` });

    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/${id}/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key);
    expect(keys).toContain(`${PREFIX}/${id}/manifest.json`);
    const manifest = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${id}/manifest.json` }))).Body!.transformToString());
    expect(manifest).toMatchObject({ id, mode: 'cluster', encryption: { keyId: KEY_ID }, collections: [{ name: 'docs', points: 2 }] });
    expect(manifest.files.length).toBeGreaterThan(0);
    for (const f of manifest.files) expect(keys).toContain(`${PREFIX}/${id}/${f.path}`);
    // Nothing went to the pod's own volume.
    expect(existsSync(path.join(dataRoot, 'pvc', NS, `data-${POD}`))).toBe(true);
    expect(existsSync(path.join(dataRoot, 'pvc', NS, `data-${POD}`, 'backups', id))).toBe(false);
    const onNode = await podCall(apiKey, 'GET', `/backups/${id}`);
    expect(onNode.json.result).toMatchObject({ id, encryption: { algorithm: 'aes-256-gcm', key_id: KEY_ID }, size_bytes: done.status!.sizeBytes });

    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackup', metadata: { name: 'elsewhere', namespace: NS }, spec: { clusterRef: { name: NAME }, target: { s3: { bucket: 'other-bucket' } } } });
    const refused = await waitPhase('elsewhere', 'Failed');
    expect(refused.status).toMatchObject({ reason: 'TargetNotSupported', message: expect.stringContaining(`set spec.backup.target on VectorCluster ${NAME} to this target, or remove spec.target`) });
  });

  it('a filesystem target: Degraded until its PVC exists, then the backup is written on that PVC at path', async () => {
    const name = 'fsbk';
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name, namespace: NS },
      spec: { replicas: 1, storage: { size: '1Gi', pvcRetention: { whenDeleted: 'Delete' } }, backup: { target: { filesystem: { path: '/mnt/backups', claimName: 'fsbk-shared' } } } },
    });
    const cluster = () => client.getOrUndefined<KubeObject>('VectorCluster', NS, name) as Promise<VectorCluster | undefined>;
    const degraded = await waitFor(async () => (await cluster())?.status?.conditions?.find((x) => x.type === 'Degraded' && x.reason === 'PersistentVolumeClaimNotFound'), 30_000, 100, 'Degraded/PersistentVolumeClaimNotFound');
    expect(degraded.message).toBe('backup PersistentVolumeClaim fsbk-shared not found: the pods cannot start until it exists');
    await client.create({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'fsbk-shared', namespace: NS }, spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '1Gi' } } } });
    await waitFor(async () => (await cluster())?.status?.phase === 'Running', 90_000, 200, `${name} Running`).catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await cluster())?.status)}`); });
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackup', metadata: { name: 'to-pvc', namespace: NS }, spec: { clusterRef: { name } } });
    const done = await waitPhase('to-pvc', 'Succeeded');
    const id = done.status!.backupId!;
    expect(done.status!.location).toBe(`PVC fsbk-shared: /mnt/backups/${id}/manifest.json`);
    expect(existsSync(path.join(dataRoot, 'pvc', NS, 'fsbk-shared', id, 'manifest.json'))).toBe(true);
    expect(existsSync(path.join(dataRoot, 'pvc', NS, `data-${name}-0`, 'backups', id))).toBe(false);
    await client.delete('VectorCluster', NS, name);
  });

  it('a changed target rolls the pod, and a backup asked for meanwhile waits for it and lands under the new prefix', async () => {
    const podUid = () => (emu.list(`/api/v1/namespaces/${NS}/pods`).find((x: any) => x.metadata.name === POD) as any)?.metadata.uid as string | undefined;
    const before = podUid();
    await client.patch('VectorCluster', NS, NAME, { spec: { backup: { target: { s3: { prefix: `${PREFIX}-v2` } } } } });
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackup', metadata: { name: 'after-change', namespace: NS }, spec: { clusterRef: { name: NAME } } });
    // The old pod stays up (and ready) at least the settle time after the StatefulSet changes: the backup waits for its successor.
    const reasons = new Set<string>();
    const done = await waitFor(async () => {
      const b = await getBackup('after-change');
      if (b?.status?.reason) reasons.add(b.status.reason);
      return b?.status?.phase === 'Succeeded' ? b : undefined;
    }, 90_000, 50, 'after-change Succeeded').catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await getBackup('after-change'))?.status)}\n${await debug()}`); });
    expect([...reasons]).toContain('WaitingForRollout');
    const id = done.status!.backupId!;
    expect(podUid()).not.toBe(before);
    expect(done.status!.location).toBe(`s3://${BUCKET}/${PREFIX}-v2/${id}`);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}-v2/${id}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key)).toContain(`${PREFIX}-v2/${id}/manifest.json`);
  });

  it('a schedule with the cluster\'s target backs up into the bucket, and retention deletes the expired backup\'s objects', async () => {
    const cluster = await getCluster();
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackupSchedule', metadata: { name: 's3-every-minute', namespace: NS },
      spec: { clusterRef: { name: NAME }, schedule: '* * * * *', retention: { count: 1 }, target: cluster!.spec.backup!.target },
    });
    const expired = await waitFor(async () => {
      const events = (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === 's3-every-minute' && e.reason === 'BackupExpired').map((e: any) => String(e.message));
      return events.length >= 1 ? events : undefined;
    }, 60_000, 200, 'a backup expired').catch(async (e) => { throw new Error(`${String(e)}\n${await debug()}`); });
    await client.patch('VectorBackupSchedule', NS, 's3-every-minute', { spec: { suspend: true } });
    const m = new RegExp(`deleted backup (s3-every-minute-\\d+-\\w+) from s3://${BUCKET}/${PREFIX}-v2/\\1 \\(through pod ${POD}\\)`).exec(expired[0]);
    expect(m, expired[0]).not.toBeNull();
    const left = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}-v2/${m![1]}/` }));
    expect(left.Contents ?? []).toEqual([]);
  });
});
