// End-to-end on the Kubernetes API emulator: the real operator (client-node, informers, Lease election)
// reconciles VectorClusters whose pods are real JadeVectorDB node processes on 127.0.0.x. It checks
// create → owned children → the operator bootstraps one cluster that every pod joins (a point written through
// one pod is read through every other) → Ready, scale 3 → 5 (new pods join), blocked scale-down, a rolling
// restart after the membership changed, CEL rejections, healing of
// watch faults without a missed change, leader failover between two operators, and delete → cleanup.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { startOperator } from '../../operator/src/operator.js';
import type { RunningOperator } from '../../operator/src/operator.js';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { lockAddressRange } from './address-lock.js';

const NS = 'default';
const FAST = {
  leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300,
  informer: { resyncMs: 20_000, watchdogMs: 1500, backoffBaseMs: 50, backoffMaxMs: 1000, watchTimeoutSeconds: 60 },
  controller: { requeueSettlingMs: 300, requeueRunningMs: 2000, rolloutSettleMs: 1000 },
};

let emu: Emulator;
let dataRoot: string;
let client: KubeClient;
const operators: RunningOperator[] = [];
const logs: string[] = [];
let unlock: (() => void) | undefined;

async function operator(identity: string): Promise<RunningOperator> {
  const op = await startOperator({ client, identity, leaseNamespace: NS, namespace: NS, metricsPort: 0, metricsHost: '127.0.0.1', log: (m) => logs.push(`${identity} ${m}`), ...FAST });
  operators.push(op);
  return op;
}
const getCluster = (name: string) => client.getOrUndefined<KubeObject>('VectorCluster', NS, name) as Promise<VectorCluster | undefined>;
const condition = (c: VectorCluster | undefined, type: string) => c?.status?.conditions?.find((x) => x.type === type);
function vc(name: string, spec: VectorCluster['spec']): KubeObject {
  return { apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name, namespace: NS }, spec };
}
async function waitPhase(name: string, phase: string, readyReplicas: number, timeoutMs = 60_000): Promise<VectorCluster> {
  return waitFor<VectorCluster | undefined>(async () => {
    const c = await getCluster(name);
    return c?.status?.phase === phase && c.status.readyReplicas === readyReplicas && c.status.observedGeneration === c.metadata.generation ? c : undefined;
  }, timeoutMs, 100, `${name} ${phase} with ${readyReplicas} ready`) as Promise<VectorCluster>;
}
/** The generated API key, read as a client would (kubectl get secret alpha-api-key). */
async function apiKeyOf(name: string): Promise<string> {
  const secret = await client.get('Secret', NS, `${name}-api-key`);
  const data = secret.data as Record<string, string> | undefined;
  return data?.['api-key'] ? Buffer.from(data['api-key'], 'base64').toString('utf8') : String((secret.stringData as Record<string, string>)['api-key']);
}
/** A call to one pod's REST API, by its pod IP (what a client inside the cluster reaches through the headless Service). */
async function podCall(pod: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: any }> {
  const p = emu.list(`/api/v1/namespaces/${NS}/pods`).find((x: any) => x.metadata.name === pod) as any;
  const res = await fetch(`http://${p.status.podIP}:8080${urlPath}`, {
    method, headers: { 'api-key': await apiKeyOf(pod.slice(0, pod.lastIndexOf('-'))), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function rejection(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return String((e as Error).message); }
  throw new Error('expected the API server to reject the request');
}

beforeAll(async () => {
  unlock = await lockAddressRange('127.0.0.230-249');
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-e2e-op-'));
  const crdDir = path.resolve('crds');
  emu = await startEmulator({ crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: 230, podIpCount: 20 });
  client = KubeClient.fromFile(emu.kubeconfigPath);
}, 180_000);

afterAll(async () => {
  for (const op of operators) await op.halt().catch(() => {});
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
  unlock?.();
});

// Pods are real node processes; on a loaded 2-core CI machine their start can take a while.
describe('operator on the emulator', { timeout: 150_000 }, () => {
  it('create → owned children → pods ready → Ready, with members reported by /v1/status', async () => {
    const a = await operator('op-a');
    await waitFor(() => a.isLeader(), 10_000, 50, 'op-a leading');
    await client.create(vc('alpha', { replicas: 3, storage: { size: '1Gi', pvcRetention: { whenDeleted: 'Delete' } } }));
    const ready = await waitPhase('alpha', 'Running', 3, 90_000);
    expect(condition(ready, 'Ready')).toMatchObject({ status: 'True', reason: 'AllMembersReady' });
    expect(ready.metadata.finalizers).toContain('jadevectordb.io/cleanup');
    expect(ready.status!.members!.map((m) => [m.pod, m.ready, m.joined])).toEqual([['alpha-0', true, true], ['alpha-1', true, true], ['alpha-2', true, true]]);
    // One cluster, founded by the pod the operator chose, whose id every node reports.
    expect(ready.status).toMatchObject({ bootstrapPod: 'alpha-0', clusterId: expect.any(String) });
    for (const pod of ['alpha-0', 'alpha-1', 'alpha-2']) {
      const s = await podCall(pod, 'GET', '/v1/status');
      expect(s.json, pod).toMatchObject({ mode: 'cluster', clusterId: ready.status!.clusterId, joined: true });
      expect(s.json.members.map((m: any) => m.id).sort(), pod).toEqual(['alpha-0', 'alpha-1', 'alpha-2']);
    }
    // A point written through one pod is read through every other.
    expect((await podCall('alpha-0', 'PUT', '/collections/docs', { vectors: { size: 4, distance: 'Cosine' } })).status).toBe(200);
    expect((await podCall('alpha-0', 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 7, vector: [0.1, 0.2, 0.3, 0.4], payload: { via: 'alpha-0' } }] })).status).toBe(200);
    for (const pod of ['alpha-1', 'alpha-2']) {
      const got = await podCall(pod, 'GET', '/collections/docs/points/7');
      expect(got.status, pod).toBe(200);
      expect(got.json.result.payload, pod).toEqual({ via: 'alpha-0' });
    }
    const layout = await podCall('alpha-2', 'GET', '/collections/docs/cluster');
    expect(layout.json.result.jade.shards[0].replicas.map((r: any) => r.peer_id).sort()).toEqual(['alpha-0', 'alpha-1', 'alpha-2']);
    // /v1/status answered through the generated API key (auth is on: pods bind 127.0.0.x).
    await waitFor(async () => (await getCluster('alpha'))?.status?.members?.every((m) => m.nodeId !== undefined && m.version !== undefined), 10_000, 100,
      'members reporting nodeId and version').catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await getCluster('alpha'))?.status?.members)}`); });
    for (const [kind, name] of [['StatefulSet', 'alpha'], ['Service', 'alpha'], ['Service', 'alpha-peers'], ['ConfigMap', 'alpha-config'], ['Secret', 'alpha-api-key'], ['Secret', 'alpha-cluster-secret'],
      ['PodDisruptionBudget', 'alpha'], ['ServiceAccount', 'alpha-node'], ['Role', 'alpha-node'], ['RoleBinding', 'alpha-node']]) {
      const child = await client.get(kind, NS, name);
      expect(child.metadata.ownerReferences, `${kind}/${name}`).toEqual([expect.objectContaining({ kind: 'VectorCluster', name: 'alpha', uid: ready.metadata.uid, controller: true })]);
    }
    const events = (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === 'alpha').map((e: any) => e.reason);
    expect(events).toEqual(expect.arrayContaining(['Created', 'ClusterBootstrapped', 'MemberJoined', 'ClusterReady']));
    expect(events.filter((r: string) => r === 'ClusterBootstrapped')).toHaveLength(1);
    const metrics = await (await fetch(`${a.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/jadevectordb_operator_clusters\{phase="Running"\} 1/);
    expect(metrics).toMatch(/jadevectordb_operator_reconcile_duration_seconds_count\{outcome="success"\} [1-9]/);
    expect((await fetch(`${a.metricsUrl}/healthz`)).status).toBe(200);
  });

  it('scales 3 → 5 through the scale subresource (what kubectl scale and an HPA use)', async () => {
    const scale = await client.request<any>('GET', '/apis/jadevectordb.io/v1alpha1/namespaces/default/vectorclusters/alpha/scale');
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 3 }, status: { replicas: 3, selector: 'app.kubernetes.io/name=jadevectordb,jadevectordb.io/cluster=alpha' } });
    await client.patch('VectorCluster', NS, 'alpha', { spec: { replicas: 5 } }, 'scale');
    const scaled = await waitPhase('alpha', 'Running', 5, 90_000);
    expect(scaled.status!.members!.map((m) => [m.pod, m.joined])).toEqual([['alpha-0', true], ['alpha-1', true], ['alpha-2', true], ['alpha-3', true], ['alpha-4', true]]);
    // The new pods joined the same cluster: they serve the point written before they existed.
    for (const pod of ['alpha-3', 'alpha-4']) expect((await podCall(pod, 'GET', '/collections/docs/points/7')).json?.result?.payload, pod).toEqual({ via: 'alpha-0' });
    const joinedEvents = (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === 'alpha' && e.reason === 'MemberJoined').map((e: any) => e.message);
    expect(joinedEvents.join('\n')).toMatch(/alpha-4/);
    expect(((await client.get('StatefulSet', NS, 'alpha')).spec as any).replicas).toBe(5);
  });

  it('scales down 5 → 3 under writes: drains alpha-4 and alpha-3, removes them, then lowers the StatefulSet; no acknowledged write is lost', async () => {
    // A collection with replicas on the members that will leave (4 shards × 2 replicas over 5 nodes).
    expect((await podCall('alpha-0', 'PUT', '/collections/spread', { vectors: { size: 2, distance: 'Euclid' }, shard_number: 4, replication_factor: 2 })).status).toBe(200);
    const before = await podCall('alpha-0', 'GET', '/collections/spread/cluster');
    const onLeaving = before.json.result.jade.shards.flatMap((sh: any) => sh.replicas).filter((r: any) => ['alpha-3', 'alpha-4'].includes(r.peer_id)).length;
    expect(onLeaving).toBeGreaterThan(0);
    const acked: number[] = [];
    let writing = true;
    const writer = (async () => {
      for (let id = 1; writing && id < 100_000; id++) {
        const r = await podCall('alpha-0', 'PUT', '/collections/spread/points?wait=true', { points: [{ id, vector: [id, -id] }] }).catch(() => ({ status: 0 }));
        if (r.status === 200) acked.push(id);
        else await new Promise((res) => setTimeout(res, 50));
      }
    })();
    await client.patch('VectorCluster', NS, 'alpha', { spec: { replicas: 3 } });
    const draining = await waitFor(async () => {
      const c = await getCluster('alpha');
      return condition(c, 'Progressing')?.reason === 'Draining' ? c : undefined;
    }, 20_000, 100, 'Progressing=Draining');
    expect(condition(draining, 'Progressing')!.message).toMatch(/alpha-4/);
    const scaled = await waitPhase('alpha', 'Running', 3, 120_000).catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await getCluster('alpha'))?.status)}\n${logs.slice(-20).join('\n')}`); });
    writing = false;
    await writer;
    expect(((await client.get('StatefulSet', NS, 'alpha')).spec as any).replicas).toBe(3);
    expect(scaled.status!.members!.map((m) => [m.pod, m.joined])).toEqual([['alpha-0', true], ['alpha-1', true], ['alpha-2', true]]);
    const reasons = (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === 'alpha').map((e: any) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['DrainStarted', 'MemberRemoved', 'ScalingDown']));
    // The cluster lists three members; every shard lives on them; every acknowledged write is there.
    const status = await podCall('alpha-1', 'GET', '/v1/status');
    expect(status.json.members.map((m: any) => m.id).sort()).toEqual(['alpha-0', 'alpha-1', 'alpha-2']);
    const after = await podCall('alpha-1', 'GET', '/collections/spread/cluster');
    for (const sh of after.json.result.jade.shards) {
      expect(sh.replicas.map((r: any) => r.peer_id).every((p: string) => ['alpha-0', 'alpha-1', 'alpha-2'].includes(p)), JSON.stringify(sh)).toBe(true);
      expect(sh.replicas).toHaveLength(2);
    }
    expect(acked.length).toBeGreaterThan(0);
    const got = await podCall('alpha-2', 'POST', '/collections/spread/points', { ids: acked });
    expect(got.json.result.map((p: any) => p.id).sort((a: number, b: number) => a - b)).toEqual(acked);
    // The leaving members' volumes go with them (they hold no replica).
    await waitFor(() => emu.list(`/api/v1/namespaces/${NS}/persistentvolumeclaims`).filter((p: any) => p.metadata.name.includes('alpha')).length === 3, 30_000, 100, 'drained members\' PVCs deleted');
  });

  it('blocks a scale-down the cluster refuses (3 → 2 with a collection of 3 replicas) with the node\'s reason, and clears when set back', async () => {
    await client.patch('VectorCluster', NS, 'alpha', { spec: { replicas: 2 } });
    const blocked = await waitFor(async () => {
      const c = await getCluster('alpha');
      return condition(c, 'ScalingBlocked')?.status === 'True' ? c : undefined;
    }, 20_000, 100, 'ScalingBlocked');
    expect(condition(blocked, 'ScalingBlocked')).toMatchObject({ reason: 'NO_TARGET_NODE' });
    expect(condition(blocked, 'ScalingBlocked')!.message).toContain('alpha-2');
    await new Promise((r) => setTimeout(r, 1000));
    expect(((await client.get('StatefulSet', NS, 'alpha')).spec as any).replicas).toBe(3);
    await client.patch('VectorCluster', NS, 'alpha', { spec: { replicas: 3 } });
    await waitFor(async () => condition(await getCluster('alpha'), 'ScalingBlocked')?.status === 'False', 20_000, 100, 'ScalingBlocked cleared');
  });

  it('growing storage expands every PVC (claim templates are immutable)', async () => {
    await client.patch('VectorCluster', NS, 'alpha', { spec: { storage: { size: '2Gi' } } });
    await waitFor(() => {
      const pvcs = emu.list(`/api/v1/namespaces/${NS}/persistentvolumeclaims`).filter((p: any) => p.metadata.name.includes('alpha'));
      return pvcs.length === 3 && pvcs.every((p: any) => p.spec.resources.requests.storage === '2Gi');
    }, 20_000, 100, 'PVCs expanded to 2Gi');
    expect(((await client.get('StatefulSet', NS, 'alpha')).spec as any).volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1Gi');
  });

  it('a crashed member makes the cluster Degraded until its pod is ready again', async () => {
    emu.killPod(NS, 'alpha-1', 'SIGKILL');
    const degraded = await waitFor(async () => {
      const c = await getCluster('alpha');
      return c?.status?.phase === 'Degraded' ? c : undefined;
    }, 20_000, 50, 'Degraded');
    expect(condition(degraded, 'Degraded')).toMatchObject({ status: 'True', reason: 'MembersNotReady', message: 'not ready: alpha-1' });
    await waitPhase('alpha', 'Running', 3, 60_000);
    const reasons = (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === 'alpha').map((e: any) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Degraded', 'Recovered']));
  });

  it('a pod whose volume is lost comes back empty as a new incarnation and is refilled (Degraded until every group has its replicas)', async () => {
    // 'spread' keeps 2 replicas per shard: a Raft group of 2 has no majority once one is lost, so it
    // could not be refilled (the node says so and waits); only groups of 3 survive the loss of one.
    expect((await podCall('alpha-0', 'DELETE', '/collections/spread')).status).toBe(200);
    const before = (await podCall('alpha-2', 'GET', '/v1/status')).json;
    const oldIncarnation = before.members.find((m: any) => m.id === 'alpha-2').incarnation;
    await client.delete('PersistentVolumeClaim', NS, 'data-alpha-2');
    await client.delete('Pod', NS, 'alpha-2');
    // The StatefulSet makes a new pod and a new, empty volume; the node joins as a new incarnation.
    const refilled = await waitFor(async () => {
      const s = await podCall('alpha-2', 'GET', '/v1/status').catch(() => undefined);
      const me = s?.json?.members?.find((m: any) => m.id === 'alpha-2');
      return me && me.incarnation !== oldIncarnation && s!.json.underReplicated?.count === 0 && s!.json.joined ? s!.json : undefined;
    }, 90_000, 250, 'alpha-2 back as a new incarnation, every group refilled').catch(async (e) => {
      throw new Error(`${String(e)}: ${JSON.stringify((await getCluster('alpha'))?.status?.conditions)}`);
    });
    expect(refilled.clusterId).toBe((await getCluster('alpha'))!.status!.clusterId);
    // docs (3 replicas over 3 nodes) has a replica on the new incarnation again, and it holds the point.
    const layout = (await podCall('alpha-0', 'GET', '/collections/docs/cluster')).json.result.jade.shards[0];
    const mine = layout.replicas.find((r: any) => r.peer_id === 'alpha-2');
    expect(mine, JSON.stringify(layout)).toMatchObject({ state: 'active' });
    expect(mine.member).not.toContain(oldIncarnation);
    const reasons = (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === 'alpha' && e.reason === 'Degraded').map((e: any) => e.message);
    expect(reasons.join('\n')).toMatch(/below the replication factor|not ready: alpha-2/);
    await waitPhase('alpha', 'Running', 3, 60_000);
    expect(condition(await getCluster('alpha'), 'Degraded')).toMatchObject({ status: 'False' });
  });

  it('rolls a changed pod template one pod at a time after the scale-down and the volume loss (every member replays its membership changes)', async () => {
    // The meta and shard groups' logs hold membership changes past their snapshots (5 → 3, a new
    // incarnation): each restarted node must come back with the current voters, not its snapshot's.
    const before = await getCluster('alpha');
    const uids = new Map(emu.list(`/api/v1/namespaces/${NS}/pods`).filter((p: any) => p.metadata.name.startsWith('alpha-')).map((p: any) => [p.metadata.name, p.metadata.uid]));
    await client.patch('VectorCluster', NS, 'alpha', { spec: { resources: { requests: { memory: '256Mi' } } } });
    const done = await waitFor(async () => {
      const c = await getCluster('alpha');
      const r = c?.status?.rollout;
      return r && r.done === 3 && r.total === 3 && r.waiting === '' && condition(c, 'Progressing')?.status === 'False' && c!.status!.phase === 'Running' ? c : undefined;
    }, 120_000, 200, 'rollout 3/3, Running').catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify((await getCluster('alpha'))?.status?.rollout)}\n${logs.slice(-20).join('\n')}`); });
    for (const p of emu.list(`/api/v1/namespaces/${NS}/pods`).filter((x: any) => x.metadata.name.startsWith('alpha-'))) expect(p.metadata.uid).not.toBe(uids.get(p.metadata.name));
    for (const pod of ['alpha-0', 'alpha-1', 'alpha-2']) {
      const s = await podCall(pod, 'GET', '/v1/status');
      expect(s.json, pod).toMatchObject({ clusterId: before!.status!.clusterId, joined: true });
      expect((await podCall(pod, 'GET', '/collections/docs/points/7')).json?.result?.payload, pod).toEqual({ via: 'alpha-0' });
    }
    expect(done.status!.clusterId).toBe(before!.status!.clusterId);
  });

  it('the API server rejects invalid specs with the CEL message', async () => {
    expect(await rejection(client.create(vc('bad', { replicas: -1 })))).toContain('spec.replicas must be at least 0');
    expect(await rejection(client.create(vc('bad', { node: { ports: { metrics: 9100 } } })))).toContain('serves /metrics on the REST port only');
    expect(await rejection(client.patch('VectorCluster', NS, 'alpha', { spec: { storage: { size: '512Mi' } } }))).toContain('storage.size cannot be decreased');
    expect(await rejection(client.patch('VectorCluster', NS, 'alpha', { spec: { storage: { storageClass: 'other' } } }))).toContain('storage.storageClass is immutable');
    expect(await getCluster('bad')).toBeUndefined();
  });

  it('heals 410 Gone, dropped and silently stalled watches without missing a change', async () => {
    const a = operators[0];
    const informer = a.controller()!.clusters;
    const before = { ...informer.stats };
    emu.faults.goneNextWatch('vectorclusters');
    emu.faults.dropWatchConnections();
    await waitFor(() => informer.stats.gone > before.gone, 10_000, 50, '410 handled');
    // Make a change while every watch is stalled: only the watchdog (and re-watch) can deliver it.
    emu.faults.stallWatches();
    const fires = informer.stats.watchdogFires;
    // A change that rolls no pod (the StatefulSet's PVC retention policy), so the check is quick.
    await client.patch('VectorCluster', NS, 'alpha', { spec: { storage: { pvcRetention: { whenScaled: 'Delete' } } } });
    await waitFor(() => informer.stats.watchdogFires > fires, 10_000, 50, 'watchdog fired on the stalled watch');
    emu.faults.clear();
    await waitFor(async () => ((await client.get('StatefulSet', NS, 'alpha')).spec as any).persistentVolumeClaimRetentionPolicy.whenScaled === 'Delete',
      20_000, 100, 'retention change applied');
    await waitPhase('alpha', 'Running', 3, 90_000);
  });

  it('two operators: one leads; when it stops renewing the other takes over and reconciles', async () => {
    const a = operators[0];
    const b = await operator('op-b');
    await new Promise((r) => setTimeout(r, 1500));
    expect([a.isLeader(), b.isLeader()]).toEqual([true, false]);
    expect(b.controller()).toBeUndefined();
    await a.halt(); // crash-like: the lease is not released
    const started = Date.now();
    await waitFor(() => b.isLeader(), 15_000, 50, 'op-b leading');
    expect(Date.now() - started).toBeGreaterThan(1000); // waited for the lease to expire
    const lease = await client.get('Lease', NS, 'jadevectordb-operator');
    expect((lease.spec as any).holderIdentity).toBe('op-b');
    expect((lease.spec as any).leaseTransitions).toBeGreaterThanOrEqual(1);
    await client.patch('VectorCluster', NS, 'alpha', { spec: { node: { hnsw: { efSearch: 99 } } } });
    await waitFor(async () => ((await client.get('ConfigMap', NS, 'alpha-config')).data as any).JADE_HNSW_EF === '99', 20_000, 100, 'op-b applied a change');
  });

  it('delete → finalizer deletes PVCs (whenDeleted=Delete) and owned children are collected', async () => {
    const pvcsBefore = emu.list(`/api/v1/namespaces/${NS}/persistentvolumeclaims`).filter((p: any) => p.metadata.name.includes('alpha'));
    expect(pvcsBefore.length).toBe(3);
    await client.delete('VectorCluster', NS, 'alpha');
    await waitFor(async () => (await getCluster('alpha')) === undefined, 30_000, 100, 'VectorCluster gone');
    await waitFor(() => emu.list(`/api/v1/namespaces/${NS}/persistentvolumeclaims`).filter((p: any) => p.metadata.name.includes('alpha')).length === 0, 30_000, 100, 'PVCs deleted');
    await waitFor(async () => (await client.getOrUndefined('StatefulSet', NS, 'alpha')) === undefined && (await client.getOrUndefined('ConfigMap', NS, 'alpha-config')) === undefined, 30_000, 100, 'children collected');
    await waitFor(() => emu.list(`/api/v1/namespaces/${NS}/pods`).filter((p: any) => p.metadata.name.startsWith('alpha-')).length === 0, 30_000, 100, 'pods gone');
  });
});
