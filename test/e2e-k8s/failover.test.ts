// End-to-end failover on the Kubernetes API emulator: a 4-node VectorCluster (real node processes)
// with a 3-replica collection. One member holding a replica hangs (SIGSTOP): its pod goes NotReady,
// and past spec.failover.notReadyDeadAfterSeconds the operator declares it dead to the meta leader,
// once, with a MemberDeclaredDead Event; the status says so once the nodes report it; the meta leader
// re-creates the replica on the spare member, which then serves every point.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import type { KubeClient } from '../../operator/src/kube/client.js';
import { NS, startE2e, type E2e } from './harness.js';

const NAME = 'fo';
const PODS = [0, 1, 2, 3].map((i) => `${NAME}-${i}`);
const DEAD_AFTER_SECONDS = 3;

let e2e: E2e;
let emu: Emulator;
let client: KubeClient;
let logs: string[] = [];
const stopped = new Set<string>();

const getCluster = () => e2e.getCluster(NAME);
const podCall = (pod: string, method: string, urlPath: string, body?: unknown) => e2e.podCall(pod, method, urlPath, body, { timeoutMs: 10_000 });
const events = (reason: string) => e2e.events(NAME, reason);
const debug = async () => `${JSON.stringify((await getCluster())?.status?.members)}\n${logs.slice(-20).join('\n')}`;

beforeAll(async () => {
  e2e = await startE2e({ podIpBase: 220, podIpCount: 10, tmpPrefix: 'fo' });
  ({ emu, client, logs } = e2e);
  await e2e.operator('op-fo', { controller: { debug: (m) => logs.push(`debug: ${m}`) } });
}, 120_000);

afterAll(async () => {
  // A frozen process would not take the emulator's SIGTERM.
  for (const pod of stopped) { try { emu.killPod(NS, pod, 'SIGCONT'); } catch { /* gone */ } }
  await e2e?.close();
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
