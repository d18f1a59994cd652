// End-to-end failover on the Kubernetes API emulator: a 4-node VectorCluster (real node processes)
// with a 3-replica collection. One member holding a replica hangs (SIGSTOP): its pod goes NotReady,
// and past spec.failover.notReadyDeadAfterSeconds the operator declares it dead to the meta leader,
// once, with a MemberDeclaredDead Event; the status says so once the nodes report it; the meta leader
// re-creates the replica on the spare member, which then serves every point.
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
const NAME = 'fo';
const PODS = [0, 1, 2, 3].map((i) => `${NAME}-${i}`);
const DEAD_AFTER_SECONDS = 3;

let emu: Emulator;
let dataRoot: string;
let client: KubeClient;
let op: RunningOperator | undefined;
let unlock: (() => void) | undefined;
let apiKey = '';
const logs: string[] = [];
const stopped = new Set<string>();

const getCluster = () => client.getOrUndefined<KubeObject>('VectorCluster', NS, NAME) as Promise<VectorCluster | undefined>;
const podObjects = () => emu.list(`/api/v1/namespaces/${NS}/pods`).filter((p: any) => PODS.includes(p.metadata.name)) as any[];
async function podCall(pod: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; json: any }> {
  const p = podObjects().find((x) => x.metadata.name === pod);
  if (!p?.status?.podIP || p.metadata.deletionTimestamp) return { status: 0, json: null };
  const res = await fetch(`http://${p.status.podIP}:8080${urlPath}`, {
    method, headers: { 'api-key': apiKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }), signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}
const events = async (reason: string) => (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === NAME && e.reason === reason).map((e: any) => String(e.message));
const debug = async () => `${JSON.stringify((await getCluster())?.status?.members)}\n${logs.slice(-20).join('\n')}`;

beforeAll(async () => {
  unlock = await lockAddressRange('127.0.0.220-229');
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-e2e-fo-'));
  const crdDir = path.resolve('crds');
  emu = await startEmulator({ crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: 220, podIpCount: 10 });
  client = KubeClient.fromFile(emu.kubeconfigPath);
  op = await startOperator({
    client, identity: 'op-fo', leaseNamespace: NS, namespace: NS, metricsPort: 0, metricsHost: '127.0.0.1',
    log: (m) => logs.push(m), leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300,
    informer: { resyncMs: 20_000, watchdogMs: 1500, backoffBaseMs: 50, backoffMaxMs: 1000, watchTimeoutSeconds: 60 },
    controller: { requeueSettlingMs: 300, requeueRunningMs: 1000, rolloutSettleMs: 1000, debug: (m) => logs.push(`debug: ${m}`) },
  });
  await waitFor(() => op!.isLeader(), 10_000, 50, 'operator leading');
}, 120_000);

afterAll(async () => {
  // A frozen process would not take the emulator's SIGTERM.
  for (const pod of stopped) { try { emu.killPod(NS, pod, 'SIGCONT'); } catch { /* gone */ } }
  await op?.halt().catch(() => {});
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
  unlock?.();
});

describe('failover on the emulator', { timeout: 150_000 }, () => {
  it('a hung member is declared dead past spec.failover.notReadyDeadAfterSeconds and its replica is re-created on the spare member', async () => {
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: NAME, namespace: NS },
      spec: { replicas: 4, storage: { size: '1Gi' }, failover: { notReadyDeadAfterSeconds: DEAD_AFTER_SECONDS } },
    });
    await waitFor(async () => {
      const c = await getCluster();
      return c?.status?.phase === 'Running' && c.status.readyReplicas === 4 && c.status.members?.every((m) => m.joined) ? c : undefined;
    }, 100_000, 200, `${NAME} Running with 4 joined members`);
    const secret = await client.get('Secret', NS, `${NAME}-api-key`);
    apiKey = Buffer.from((secret.data as Record<string, string>)['api-key'], 'base64').toString('utf8');
    expect((await podCall(`${NAME}-0`, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Euclid' }, shard_number: 1, replication_factor: 3 })).status).toBe(200);
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    expect((await podCall(`${NAME}-0`, 'PUT', '/collections/docs/points?wait=true', { points: ids.map((id) => ({ id, vector: [id, -id] })) })).status).toBe(200);

    // The victim: a member with a replica that does not lead the meta group (the leader cannot be declared dead by itself).
    const layout = (await podCall(`${NAME}-0`, 'GET', '/collections/docs/cluster')).json.result.jade.shards[0];
    const holders: string[] = layout.replicas.map((r: any) => r.peer_id);
    expect(holders).toHaveLength(3);
    const metaLeader = (await podCall(`${NAME}-0`, 'GET', '/v1/status')).json.metaLeader as string;
    const victim = holders.find((p) => p !== metaLeader)!;
    const spare = PODS.find((p) => !holders.includes(p))!;
    const witness = PODS.find((p) => p !== victim && p !== spare)!;

    const stoppedAtMs = Date.now();
    emu.killPod(NS, victim, 'SIGSTOP');
    stopped.add(victim);
    const declared = await waitFor(async () => {
      const c = await getCluster();
      return c?.status?.members?.find((m) => m.pod === victim)?.declaredDead ? c : undefined;
    }, 60_000, 200, `${victim} declared dead in status`).catch(async (e) => { throw new Error(`${String(e)}: ${await debug()}`); });
    // Not before the pod was NotReady for the setting (the readiness window is 15 s).
    expect(Date.now() - stoppedAtMs).toBeGreaterThan(DEAD_AFTER_SECONDS * 1000);
    const member = declared.status!.members!.find((m) => m.pod === victim)!;
    expect(member).toMatchObject({ ready: false, declaredDead: true, message: expect.stringContaining('declared the member dead') });
    const deadEvents = await events('MemberDeclaredDead');
    expect(deadEvents).toHaveLength(1);
    expect(deadEvents[0]).toMatch(new RegExp(`^${victim} was not ready for \\d+ s \\(spec.failover.notReadyDeadAfterSeconds: ${DEAD_AFTER_SECONDS}\\); the meta leader declared it dead`));
    const liveness = (await podCall(witness, 'GET', '/v1/status')).json.members.find((m: any) => m.id === victim).liveness;
    expect(liveness).toBe('dead');

    // The meta leader re-creates the replica on the spare member; it serves every point.
    await waitFor(async () => {
      const shard = (await podCall(witness, 'GET', '/collections/docs/cluster')).json?.result?.jade?.shards?.[0];
      return shard?.replicas?.some((r: any) => r.peer_id === spare && r.state === 'active');
    }, 60_000, 250, `a replica of docs on ${spare}`).catch(async (e) => {
      throw new Error(`${String(e)}: ${JSON.stringify((await podCall(witness, 'GET', '/collections/docs/cluster')).json?.result?.jade)}\n${await debug()}`);
    });
    // Its own replica holds every point (as the node reports its local replicas), and reads through it see them.
    await waitFor(async () => {
      const s = await podCall(spare, 'GET', '/v1/status').catch(() => undefined);
      return s?.json?.collections?.find((c: any) => c.name === 'docs')?.points === ids.length;
    }, 30_000, 250, `${spare}'s replica holds every point`);
    const got = await podCall(spare, 'POST', '/collections/docs/points', { ids });
    expect(got.json.result.map((p: any) => p.id).sort((a: number, b: number) => a - b)).toEqual(ids);
    // Asked once: no second declaration, no second Event, while the member stays dead.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await events('MemberDeclaredDead')).toHaveLength(1);
    expect(logs.filter((l) => l.includes(`declaring ${victim} dead`))).toEqual([]);
  });
});
