// The controller's side of failover on the Kubernetes API emulator, with stand-in pod processes (an
// HTTP server that answers the probes) and the nodes' answers faked: a member whose pod hangs
// (SIGSTOP) is asked about once past spec.failover.notReadyDeadAfterSeconds; the meta leader's
// 409 NODE_ALIVE is logged at debug level only, records no Event, claims nothing in status, and is
// not asked again at every reconcile but after the retry time; once confirmed, the Event and the
// status say so and it is not asked again.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { EventRecorder } from '../../operator/src/kube/events.js';
import { ClusterController } from '../../operator/src/reconcile/controller.js';
import type { NodeStatusReport } from '../../operator/src/reconcile/plan.js';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { DECLARE_DEAD_RETRY_MS } from '../../operator/src/reconcile/failover.js';
import { lockAddressRange } from '../e2e-k8s/address-lock.js';

const NS = 'default';
const NAME = 'fc';
const PODS = [0, 1, 2].map((i) => `${NAME}-${i}`);
// Answers every probe on the pod's IP, like a node that is up.
const STAND_IN = "require('node:http').createServer((q, r) => r.end('ok')).listen(8080, process.env.JADE_HOST)";

let emu: Emulator;
let dataRoot: string;
let client: KubeClient;
let controller: ClusterController | undefined;
let unlock: (() => void) | undefined;
const logs: string[] = [];
const calls: string[] = [];
const callTimesMs: number[] = [];
/** The meta leader's answer: NODE_ALIVE until the test lets the node be declared dead. */
let heard = true;

const report: NodeStatusReport = {
  ok: true,
  status: {
    mode: 'cluster', clusterId: 'cid-1', joined: true, ready: true, metaMembers: PODS, metaLeader: `${NAME}-0`, metaTerm: 3,
    metaDrains: Object.fromEntries(PODS.map((p) => [p, { state: null, replicas: 1 }])), metaLiveness: Object.fromEntries(PODS.map((p) => [p, 'alive'])),
  },
};
const getCluster = () => client.getOrUndefined<KubeObject>('VectorCluster', NS, NAME) as Promise<VectorCluster | undefined>;
const events = async (reason: string) => (await client.list('Event', NS)).items.filter((e: any) => e.involvedObject?.name === NAME && e.reason === reason);

beforeAll(async () => {
  unlock = await lockAddressRange('127.0.0.130-139');
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-failover-ctl-'));
  const crdDir = path.resolve('crds');
  emu = await startEmulator({
    crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 300, podIpBase: 130, podIpCount: 10,
    imageCommands: { jadevectordb: () => ({ command: process.execPath, args: ['-e', STAND_IN] }) },
  });
  client = KubeClient.fromFile(emu.kubeconfigPath);
  controller = new ClusterController({
    client, events: new EventRecorder(client, 'test'), namespace: NS, log: (m) => logs.push(m), debug: (m) => logs.push(`debug: ${m}`),
    informer: { resyncMs: 20_000, watchdogMs: 1500, backoffBaseMs: 50, backoffMaxMs: 1000, watchTimeoutSeconds: 60 },
    requeueSettlingMs: 200, requeueRunningMs: 200,
    nodeStatus: async () => report,
    declareDead: async (_url, _key, nodeId) => {
      calls.push(nodeId);
      callTimesMs.push(Date.now());
      if (heard) return { done: false, reason: 'NODE_ALIVE', message: `${nodeId} was heard from 120 ms ago: only a node silent for 10000 ms (suspect) can be declared dead` };
      (report as Extract<NodeStatusReport, { ok: true }>).status.metaLiveness![nodeId] = 'dead';
      return { done: true };
    },
  });
  await controller.start();
}, 60_000);

afterAll(async () => {
  try { emu.killPod(NS, `${NAME}-2`, 'SIGCONT'); } catch { /* gone */ }
  await controller?.stop();
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
  unlock?.();
});

describe('failover calls from the controller', { timeout: 120_000 }, () => {
  it('NODE_ALIVE: asked once, logged at debug, no Event, nothing claimed in status, no hot loop; asked again after the retry time, then confirmed', async () => {
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: NAME, namespace: NS },
      spec: { replicas: 3, storage: { size: '1Gi' }, failover: { notReadyDeadAfterSeconds: 3 } },
    });
    await waitFor(async () => (await getCluster())?.status?.phase === 'Running', 40_000, 100, `${NAME} Running`);
    // (A pod slow to get Ready on a loaded machine may have been asked about already: count from here.)
    calls.length = 0;
    callTimesMs.length = 0;
    logs.length = 0;
    emu.killPod(NS, `${NAME}-2`, 'SIGSTOP');
    await waitFor(() => calls.length > 0, 40_000, 100, 'a dead declaration asked for');
    expect(calls).toEqual([`${NAME}-2`]);
    // Reconciles every 200 ms meanwhile: the refusal is not asked again at each one.
    await new Promise((r) => setTimeout(r, 3000));
    expect(calls).toEqual([`${NAME}-2`]);
    expect(logs.filter((l) => l.includes(`${NAME}-2 not declared dead`))).toEqual([expect.stringMatching(/^debug: .*was heard from 120 ms ago/)]);
    expect(logs.filter((l) => !l.startsWith('debug:') && l.includes('dead'))).toEqual([]);
    expect(await events('MemberDeclaredDead')).toEqual([]);
    const member = (await getCluster())!.status!.members!.find((m) => m.pod === `${NAME}-2`)!;
    expect(member).toMatchObject({ ready: false, message: 'pod is not ready' });
    expect(member.declaredDead).toBeUndefined();

    // The node stays silent: asked again only after DECLARE_DEAD_RETRY_MS; confirmed, then an Event and the status say so.
    heard = false;
    await waitFor(() => calls.length === 2, 45_000, 100, 'the declaration asked again');
    expect(callTimesMs[1] - callTimesMs[0]).toBeGreaterThanOrEqual(DECLARE_DEAD_RETRY_MS - 1000);
    const declared = await waitFor(async () => {
      const m = (await getCluster())?.status?.members?.find((x) => x.pod === `${NAME}-2`);
      return m?.declaredDead ? m : undefined;
    }, 10_000, 100, `${NAME}-2 declaredDead in status`);
    expect(declared.message).toContain('declared the member dead');
    expect((await events('MemberDeclaredDead')).map((e: any) => [e.type, e.message])).toEqual([['Warning', expect.stringMatching(new RegExp(`^${NAME}-2 was not ready for \\d+ s`))]]);
    await new Promise((r) => setTimeout(r, 1000));
    expect(calls).toHaveLength(2);
  });
});
