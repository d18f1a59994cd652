// End-to-end backups on the Kubernetes API emulator with a real node process as the pod: a
// VectorBackup reaches Succeeded with a backup id the node confirms (GET /backups/{id}); a
// target other than the cluster's fails; a Running backup found by a restarted operator is resumed by its id (not
// taken again, polled while the node says it is still being written) and one the node never wrote is
// reported lost; a VectorBackupSchedule creates backups
// on schedule and its retention (count 2) leaves two, their data deleted on the node; the cluster's
// LastBackupSucceeded follows the newest finished backup; the operator's /metrics has the backup
// metrics; deleting the schedule garbage-collects its VectorBackups. The schedule runs on a clock 30 times faster than the wall (every minute = every 2 s).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../k8s-emulator/index.js';
import type { KubeClient, KubeObject } from '../../operator/src/kube/client.js';
import type { RunningOperator } from '../../operator/src/operator.js';
import type { VectorBackup, VectorBackupSchedule } from '../../operator/src/api/types.js';
import { backupIdFor } from '../../operator/src/backup/controller.js';
import type { NodeBackupApi } from '../../operator/src/backup/controller.js';
import { createBackup, getBackup as getNodeBackup } from '../../operator/src/backup/node-backups.js';
import { NS, startE2e, type E2e } from './harness.js';

const NAME = 'bk';
const POD = `${NAME}-0`;
const CLOCK_RATE = 30;
const T0_MS = Date.now();
const fastClock = () => T0_MS + (Date.now() - T0_MS) * CLOCK_RATE;

let e2e: E2e;
let client: KubeClient;
let logs: string[] = [];
const operators: RunningOperator[] = [];

async function operator(identity: string, nodeApi: Partial<NodeBackupApi> = {}): Promise<RunningOperator> {
  const op = await e2e.operator(identity, { backup: { scheduleNowMs: fastClock, pollMs: 200, pendingRetryMs: 300, scheduleRequeueMaxMs: 200, nodeApi } });
  operators.push(op);
  return op;
}

const getCluster = () => e2e.getCluster(NAME);
const getBackup = (name: string) => client.getOrUndefined<KubeObject>('VectorBackup', NS, name) as Promise<VectorBackup | undefined>;
const lastBackupCondition = async () => (await getCluster())?.status?.conditions?.find((c) => c.type === 'LastBackupSucceeded');
const eventsOf = (name: string, reason: string) => e2e.events(name, reason);
const debug = () => logs.slice(-25).join('\n');

const podCall = (method: string, urlPath: string, body?: unknown) => e2e.podCall(POD, method, urlPath, body);
const nodeBackupIds = async () => ((await podCall('GET', '/backups')).json.result as { id: string }[]).map((b) => b.id).sort();

function backup(name: string, spec: Partial<VectorBackup['spec']> = {}): KubeObject {
  return { apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackup', metadata: { name, namespace: NS }, spec: { clusterRef: { name: NAME }, ...spec } };
}
async function waitPhase(name: string, phase: string, timeoutMs = 30_000): Promise<VectorBackup> {
  return waitFor(async () => {
    const b = await getBackup(name);
    return b?.status?.phase === phase ? b : undefined;
  }, timeoutMs, 100, `${name} ${phase}`).catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await getBackup(name))?.status)}\n${debug()}`); }) as Promise<VectorBackup>;
}

beforeAll(async () => {
  e2e = await startE2e({ podIpBase: 170, podIpCount: 10, tmpPrefix: 'backup' });
  ({ client, logs } = e2e);
}, 180_000);

afterAll(() => e2e?.close());

describe('backups on the emulator', { timeout: 120_000 }, () => {
  it('a VectorBackup is taken by a ready pod and Succeeds with a backup id the node confirms; an unsupported target Fails', async () => {
    await operator('op-a');
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: NAME, namespace: NS }, spec: { replicas: 1, storage: { size: '1Gi' } } });
    await waitFor(async () => {
      const c = await getCluster();
      return c?.status?.phase === 'Running' && c.status.readyReplicas === 1;
    }, 90_000, 200, `${NAME} Running`);
    expect(await lastBackupCondition()).toMatchObject({ status: 'Unknown', reason: 'NoBackupYet' });
    expect((await podCall('PUT', '/collections/docs', { vectors: { size: 2, distance: 'Dot' } })).status).toBe(200);
    expect((await podCall('PUT', '/collections/docs/points?wait=true', { points: [{ id: 1, vector: [1, 2] }, { id: 2, vector: [3, 4] }] })).status).toBe(200);

    await client.create(backup('manual'));
    const done = await waitPhase('manual', 'Succeeded');
    const s = done.status!;
    expect(s).toMatchObject({ reason: 'BackupSucceeded', pod: POD, backupId: backupIdFor(done), startTime: expect.any(String), completionTime: expect.any(String) });
    expect(s.location).toBe(`pod ${POD}, PVC data-${POD}: /var/lib/jadevectordb/backups/${s.backupId}/manifest.json`);
    const onNode = await podCall('GET', `/backups/${s.backupId}`);
    expect(onNode.status).toBe(200);
    expect(onNode.json.result).toMatchObject({ id: s.backupId, mode: 'cluster', size_bytes: s.sizeBytes, collections: [{ name: 'docs', points: 2 }] });
    expect(s.sizeBytes).toBeGreaterThan(0);
    expect(await eventsOf('manual', 'BackupStarted')).toHaveLength(1);
    expect(await eventsOf('manual', 'BackupSucceeded')).toHaveLength(1);
    await waitFor(async () => (await lastBackupCondition())?.status === 'True', 10_000, 100, 'LastBackupSucceeded True');
    expect((await lastBackupCondition())!.message).toContain(`VectorBackup manual (backup ${s.backupId}`);

    await client.create(backup('to-s3', { target: { s3: { bucket: 'some-bucket' } } }));
    const failed = await waitPhase('to-s3', 'Failed');
    expect(failed.status).toMatchObject({ reason: 'TargetNotSupported', message: expect.stringContaining(`it has no spec.backup.target (each pod writes to its own volume); set spec.backup.target on VectorCluster ${NAME}`) });
    expect(await eventsOf('to-s3', 'BackupFailed')).toHaveLength(1);
    await waitFor(async () => (await lastBackupCondition())?.status === 'False', 10_000, 100, 'LastBackupSucceeded False');
    expect((await lastBackupCondition())).toMatchObject({ reason: 'BackupFailed', message: expect.stringContaining('VectorBackup to-s3 failed') });

    const metrics = await (await fetch(`${operators[0].metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/jadevectordb_backup_last_success_timestamp_seconds\{namespace="default",cluster="bk"\} \d{10}/);
    expect(metrics).toMatch(new RegExp(`jadevectordb_backup_last_success_size_bytes\\{namespace="default",cluster="bk"\\} ${s.sizeBytes}`));
    expect(metrics).toMatch(/jadevectordb_backup_duration_seconds_count\{namespace="default",cluster="bk",outcome="succeeded"\} 1/);
  });

  it('a restarted operator resumes a Running backup by its id instead of taking it again, and reports one the node never wrote as lost', async () => {
    await operators[0].halt();
    const before = await nodeBackupIds();
    for (const name of ['resumed', 'lost']) {
      await client.create(backup(name));
      await client.patchStatus('VectorBackup', NS, name, { phase: 'Running', startTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), backupId: `${name}-by-old-leader`, pod: POD });
    }
    // One whose pod was scaled away (the cluster has 1 replica): it cannot be checked.
    await client.create(backup('scaled-away'));
    await client.patchStatus('VectorBackup', NS, 'scaled-away', { phase: 'Running', startTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), backupId: 'scaled-away-x', pod: `${NAME}-5` });
    // What the old leader had asked for before it went away: the node wrote it.
    expect((await podCall('POST', '/backups', { name: 'resumed-by-old-leader' })).status).toBe(200);
    // The node says "still being written" (409) to the first two GETs: the operator keeps polling, and never POSTs.
    const gets: string[] = [];
    const creates: string[] = [];
    await operator('op-b', {
      get: async (url, key, id, timeoutMs) => {
        gets.push(id);
        return id === 'resumed-by-old-leader' && gets.filter((g) => g === id).length <= 2 ? 'writing' : getNodeBackup(url, key, id, timeoutMs);
      },
      create: async (url, key, id, signal, timeoutMs) => { creates.push(id); return createBackup(url, key, id, signal, timeoutMs); },
    });
    const resumed = await waitPhase('resumed', 'Succeeded');
    expect(gets.filter((g) => g === 'resumed-by-old-leader').length).toBeGreaterThanOrEqual(3);
    expect(resumed.status).toMatchObject({ backupId: 'resumed-by-old-leader', pod: POD, sizeBytes: (await podCall('GET', '/backups/resumed-by-old-leader')).json.result.size_bytes });
    const lost = await waitPhase('lost', 'Failed');
    expect(lost.status).toMatchObject({ reason: 'BackupLost', message: expect.stringContaining(`pod ${POD} has no backup lost-by-old-leader and is not writing it`) });
    expect((await waitPhase('scaled-away', 'Failed')).status).toMatchObject({ reason: 'BackupLost', message: expect.stringContaining(`pod ${NAME}-5 is gone (VectorCluster ${NAME} has 1 replica)`) });
    // Nothing was taken again: the node holds what it held plus the one the old leader asked for.
    expect(await nodeBackupIds()).toEqual([...before, 'resumed-by-old-leader'].sort());
    expect(await eventsOf('resumed', 'BackupStarted')).toEqual([]);
    expect(creates).toEqual([]);
  });

  it('a schedule creates backups on its cron and retention count 2 leaves two, their expired data deleted on the node', async () => {
    const manualIds = await nodeBackupIds();
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorBackupSchedule', metadata: { name: 'every-minute', namespace: NS },
      spec: { clusterRef: { name: NAME }, schedule: '* * * * *', retention: { count: 2 } },
    });
    // Every minute of the fast clock is 2 s: wait for a fourth run, so at least two have expired.
    await waitFor(async () => (await eventsOf('every-minute', 'BackupScheduled')).length >= 4 && (await eventsOf('every-minute', 'BackupExpired')).length >= 1,
      60_000, 200, 'four scheduled backups and an expiry').catch((e) => { throw new Error(`${String(e)}\n${debug()}`); });
    await client.patch('VectorBackupSchedule', NS, 'every-minute', { spec: { suspend: true } });
    const owned = async () => (await client.list<KubeObject>('VectorBackup', NS)).items.filter((b) => b.metadata.ownerReferences?.some((r) => r.name === 'every-minute')) as unknown as VectorBackup[];
    // Once nothing runs and retention has caught up: exactly two, both succeeded.
    const kept = await waitFor(async () => {
      const list = await owned();
      return list.length === 2 && list.every((b) => b.status?.phase === 'Succeeded') ? list : undefined;
    }, 30_000, 200, 'two scheduled backups left').catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await owned()).map((b) => [b.metadata.name, b.status?.phase]))}\n${debug()}`); });
    for (const b of kept) {
      expect(b.metadata.labels).toMatchObject({ 'jadevectordb.io/schedule': 'every-minute', 'jadevectordb.io/cluster': NAME });
      expect(b.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'VectorBackupSchedule', name: 'every-minute', controller: true })]);
    }
    // The node holds the manual backups and exactly the two kept: the expired ones' data is gone.
    await waitFor(async () => JSON.stringify(await nodeBackupIds()) === JSON.stringify([...manualIds, ...kept.map((b) => b.status!.backupId!)].sort()), 10_000, 200, 'node backups match')
      .catch(async (e) => { throw new Error(`${String(e)}: node ${JSON.stringify(await nodeBackupIds())}, kept ${JSON.stringify(kept.map((b) => b.status?.backupId))}`); });
    const expired = await eventsOf('every-minute', 'BackupExpired');
    expect(expired.join('\n')).toMatch(/deleted VectorBackup every-minute-\d+ \(beyond retention.count 2\); deleted backup every-minute-\d+-\w+ from pod bk-0/);
    const schedule = await waitFor(async () => {
      const s = await client.get<KubeObject>('VectorBackupSchedule', NS, 'every-minute') as unknown as VectorBackupSchedule;
      return s.status?.conditions?.[0]?.reason === 'Suspended' ? s : undefined;
    }, 10_000, 100, 'schedule Suspended');
    expect(schedule.status).toMatchObject({ lastScheduleTime: expect.any(String), lastSuccessfulTime: expect.any(String), active: [] });
    expect(schedule.status!.nextScheduleTime).toBeUndefined();
    // Settled: the schedule is looked at every 200 ms here, and nothing is written again.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await client.get('VectorBackupSchedule', NS, 'every-minute')).metadata.resourceVersion).toBe(schedule.metadata.resourceVersion);
    await waitFor(async () => (await lastBackupCondition())?.status === 'True', 10_000, 100, 'LastBackupSucceeded True after the scheduled backups');
    // Deleting the schedule garbage-collects its VectorBackups (owner references); the data stays on the pod.
    await client.delete('VectorBackupSchedule', NS, 'every-minute');
    await waitFor(async () => (await owned()).length === 0, 10_000, 100, 'scheduled VectorBackups collected');
    expect((await podCall('GET', `/backups/${kept[0].status!.backupId}`)).status).toBe(200);
  });
});
