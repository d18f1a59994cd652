// End-to-end hibernation on the Kubernetes API emulator: a 3-node VectorCluster (real node processes,
// pvcRetention.whenScaled: Delete) with points is scaled to 0: the StatefulSet goes to 0 without a
// drain, every PVC stays, the phase is Hibernated. Waking it at 2 is refused (ScalingBlocked); at 3 the
// same members (same node ids and incarnations, same cluster id) come back Running with every point.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import type { KubeClient } from '../../operator/src/kube/client.js';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { NS, condition, startE2e, type E2e } from './harness.js';

const NAME = 'hib';
const PODS = [0, 1, 2].map((i) => `${NAME}-${i}`);

let e2e: E2e;
let emu: Emulator;
let client: KubeClient;

const getCluster = () => e2e.getCluster(NAME);
const podObjects = () => emu.list(`/api/v1/namespaces/${NS}/pods`).filter((p: any) => PODS.includes(p.metadata.name)) as any[];
const pvcNames = () => emu.list(`/api/v1/namespaces/${NS}/persistentvolumeclaims`).map((p: any) => String(p.metadata.name)).filter((n) => n.startsWith(`data-${NAME}-`)).sort();
const stsReplicas = async () => ((await client.get('StatefulSet', NS, NAME)).spec as { replicas: number }).replicas;
const podCall = (pod: string, method: string, urlPath: string, body?: unknown) => e2e.podCall(pod, method, urlPath, body, { timeoutMs: 10_000 });
const events = (reason: string) => e2e.events(NAME, reason);
const debug = async () => `${JSON.stringify((await getCluster())?.status)}\n${e2e.logs.slice(-20).join('\n')}`;
async function runningWithJoinedMembers(timeoutMs: number): Promise<VectorCluster> {
  return waitFor(async () => {
    const c = await getCluster();
    return c?.status?.phase === 'Running' && c.status.readyReplicas === 3 && c.status.members?.every((m) => m.joined) && c.status.observedGeneration === c.metadata.generation ? c : undefined;
  }, timeoutMs, 200, `${NAME} Running with 3 joined members`).catch(async (e) => { throw new Error(`${String(e)}: ${await debug()}`); });
}

beforeAll(async () => {
  e2e = await startE2e({ podIpBase: 120, podIpCount: 10, tmpPrefix: 'hib' });
  ({ emu, client } = e2e);
  await e2e.operator('op-hib');
}, 120_000);

afterAll(() => e2e?.close());

describe('hibernation on the emulator', { timeout: 300_000 }, () => {
  it('spec.replicas 0 stops every pod and keeps the volumes; a smaller wake is refused; waking at 3 resumes the same members with every point', async () => {
    await client.create({
      apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: NAME, namespace: NS },
      spec: { replicas: 3, storage: { size: '1Gi', pvcRetention: { whenScaled: 'Delete' } } },
    });
    const running = await runningWithJoinedMembers(100_000);
    const clusterId = running.status!.clusterId!;
    expect((await podCall(`${NAME}-0`, 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Euclid' }, shard_number: 2 })).status).toBe(200);
    const ids = Array.from({ length: 50 }, (_, i) => i + 1);
    expect((await podCall(`${NAME}-0`, 'PUT', '/collections/docs/points?wait=true', { points: ids.map((id) => ({ id, vector: [id, -id], payload: { n: id } })) })).status).toBe(200);
    const memberIds = new Map<string, string>();
    for (const pod of PODS) memberIds.set(pod, (await podCall(pod, 'GET', '/v1/status')).json.memberId);
    expect([...memberIds.values()].every((m) => typeof m === 'string' && m.includes('#'))).toBe(true);

    // Hibernate through the scale subresource (what kubectl scale uses).
    await client.patch('VectorCluster', NS, NAME, { spec: { replicas: 0 } }, 'scale');
    const asleep = await waitFor(async () => {
      const c = await getCluster();
      return c?.status?.phase === 'Hibernated' && podObjects().length === 0 ? c : undefined;
    }, 60_000, 200, 'Hibernated with no pod').catch(async (e) => { throw new Error(`${String(e)}: ${await debug()}`); });
    expect(await stsReplicas()).toBe(0);
    expect(pvcNames()).toEqual(PODS.map((p) => `data-${p}`));
    expect(asleep.status).toMatchObject({ hibernation: { replicas: 3 }, clusterId, readyReplicas: 0 });
    expect(asleep.status!.members!.map((m) => [m.pod, m.joined])).toEqual(PODS.map((p) => [p, true]));
    expect(condition(asleep, 'Ready')).toMatchObject({ status: 'False', reason: 'Hibernated' });
    expect(await events('Hibernating')).toHaveLength(1);
    expect(await events('Hibernated')).toEqual([`No member runs; 3 volumes kept: ${PODS.map((p) => `data-${p}`).join(', ')}`]);
    expect(await events('DrainStarted')).toEqual([]);

    // Waking at fewer members than it had would leave a member with replicas stopped: refused.
    await client.patch('VectorCluster', NS, NAME, { spec: { replicas: 2 } });
    const refused = await waitFor(async () => {
      const c = await getCluster();
      return condition(c, 'ScalingBlocked')?.status === 'True' && c!.status!.observedGeneration === c!.metadata.generation ? c : undefined;
    }, 20_000, 100, 'wake refused');
    expect(condition(refused, 'ScalingBlocked')).toMatchObject({ reason: 'HibernatedSizeMismatch', message: expect.stringContaining('set spec.replicas to 3 to wake the cluster') });
    expect(refused.status!.phase).toBe('Hibernated');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stsReplicas()).toBe(0);
    expect(podObjects()).toEqual([]);
    expect(await events('WakeRefused')).toHaveLength(1);

    // Waking at 3: the same members come back on their volumes.
    await client.patch('VectorCluster', NS, NAME, { spec: { replicas: 3 } });
    // Generous: in CI (2 loaded cores) one waking member once took over 90 s to pass /readyz.
    const awake = await runningWithJoinedMembers(150_000);
    expect(awake.status!.clusterId).toBe(clusterId);
    expect(awake.status!.hibernation).toBeUndefined();
    expect(condition(awake, 'ScalingBlocked')).toMatchObject({ status: 'False' });
    expect(await events('Waking')).toHaveLength(1);
    expect(await events('ClusterBootstrapped')).toHaveLength(1);
    expect((await events('MemberJoined')).length).toBe(3);
    for (const pod of PODS) {
      const s = await podCall(pod, 'GET', '/v1/status');
      expect(s.json, pod).toMatchObject({ clusterId, joined: true, memberId: memberIds.get(pod) });
      expect(s.json.members.map((m: any) => m.id).sort()).toEqual(PODS);
    }
    expect(pvcNames()).toEqual(PODS.map((p) => `data-${p}`));
    let last: unknown;
    const got = await waitFor(async () => {
      const r = await podCall(`${NAME}-2`, 'POST', '/collections/docs/points', { ids, with_payload: true }).catch((e) => ({ status: 0, json: String(e) }));
      last = r;
      return r.status === 200 ? r.json.result : undefined;
    }, 30_000, 250, 'points readable after the wake').catch(async (e) => {
      throw new Error(`${String(e)}: ${JSON.stringify(last)}\n${JSON.stringify((await podCall(`${NAME}-2`, 'GET', '/v1/status')).json?.groups)}`);
    });
    expect(got.map((p: any) => p.id).sort((a: number, b: number) => a - b)).toEqual(ids);
    expect(got.every((p: any) => p.payload.n === p.id)).toBe(true);
  });
});
