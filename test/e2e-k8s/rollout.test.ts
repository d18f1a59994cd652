// End-to-end rolling restart on the Kubernetes API emulator: a 3-node VectorCluster (real node
// processes) with a collection under a light write load gets a new pod template. The operator, not the
// StatefulSet controller (OnDelete), restarts the pods one at a time: never two down at once, each only
// once every member has rejoined and settled. status.rollout reaches 3/3, every acknowledged write is
// still there, the nodes report one cluster id, and Progressing goes back to False. The pause
// annotation holds the rollout until it is removed.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import type { KubeClient } from '../../operator/src/kube/client.js';
import { ROLLOUT_PAUSED_ANNOTATION } from '../../operator/src/reconcile/rollout.js';
import { NS, condition, startE2e, type E2e } from './harness.js';

const NAME = 'roll';
const PODS = [0, 1, 2].map((i) => `${NAME}-${i}`);
const SETTLE_MS = 2000;

let e2e: E2e;
let emu: Emulator;
let client: KubeClient;

const getCluster = () => e2e.getCluster(NAME);
const podObjects = () => emu.list(`/api/v1/namespaces/${NS}/pods`).filter((p: any) => PODS.includes(p.metadata.name)) as any[];
const isUp = (p: any) => !p.metadata.deletionTimestamp && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
const podCall = (pod: string, method: string, urlPath: string, body?: unknown) => e2e.podCall(pod, method, urlPath, body);
const events = (reason: string) => e2e.events(NAME, reason);
const debug = async () => `${JSON.stringify((await getCluster())?.status?.rollout)} ${JSON.stringify(condition(await getCluster(), 'Progressing'))}\n${e2e.logs.slice(-20).join('\n')}`;

beforeAll(async () => {
  e2e = await startE2e({ podIpBase: 190, podIpCount: 10, tmpPrefix: 'roll' });
  ({ emu, client } = e2e);
  await e2e.operator('op-roll', { controller: { rolloutSettleMs: SETTLE_MS } });
}, 180_000);

afterAll(() => e2e?.close());

describe('rolling restart on the emulator', { timeout: 300_000 }, () => {
  it('rolls a changed pod template one pod at a time under writes; the pause annotation holds it', async () => {
    await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: NAME, namespace: NS }, spec: { replicas: 3, storage: { size: '1Gi' } } });
    const running = await waitFor(async () => {
      const c = await getCluster();
      return c?.status?.phase === 'Running' && c.status.readyReplicas === 3 && c.status.members?.every((m) => m.joined) ? c : undefined;
    }, 120_000, 200, 'roll Running with 3 joined members');
    const clusterId = running.status!.clusterId!;
    const sts = await client.get('StatefulSet', NS, NAME);
    expect((sts.spec as any).updateStrategy).toEqual({ type: 'OnDelete' });
    expect((await podCall('roll-0', 'PUT', '/collections/docs', { vectors: { size: 2, distance: 'Euclid' } })).status).toBe(200);
    const uidsBefore = new Map(podObjects().map((p) => [p.metadata.name, p.metadata.uid]));
    const oldRevision = (await client.get('StatefulSet', NS, NAME)).status as any;
    let resumedAtMs = Infinity;
    let metaLeader = '';

    // Light write load through whichever pod answers; only acknowledged ids count.
    const acked: number[] = [];
    let writing = true;
    const writer = (async () => {
      for (let id = 1, at = 0; writing; id++) {
        for (let tries = 0; tries < PODS.length && writing; tries++, at++) {
          const r = await podCall(PODS[at % PODS.length], 'PUT', '/collections/docs/points?wait=true', { points: [{ id, vector: [id, -id] }] }).catch(() => ({ status: 0 }));
          if (r.status === 200) { acked.push(id); break; }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // Pods down at once (terminating, missing or not Ready), sampled from the emulator's store.
    let maxDown = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const pods = podObjects();
        maxDown = Math.max(maxDown, PODS.length - pods.filter(isUp).length);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    try {
      // Paused first: the template changes but no pod restarts, and the status says why.
      await client.patch('VectorCluster', NS, NAME, { metadata: { annotations: { [ROLLOUT_PAUSED_ANNOTATION]: 'true' } } });
      await client.patch('VectorCluster', NS, NAME, { spec: { resources: { requests: { cpu: '100m' } } } });
      const paused = await waitFor(async () => {
        const c = await getCluster();
        return c?.status?.rollout?.paused && condition(c, 'Progressing')?.reason === 'RollingRestart' ? c : undefined;
      }, 30_000, 100, 'rollout paused').catch(async (e) => { throw new Error(`${String(e)}: ${await debug()}`); });
      expect(paused.status!.rollout).toMatchObject({ done: 0, total: 3, waiting: `paused by the ${ROLLOUT_PAUSED_ANNOTATION} annotation` });
      expect(condition(paused, 'Progressing')!.message).toContain('paused');
      await new Promise((r) => setTimeout(r, SETTLE_MS + 2000));
      expect(podObjects().map((p) => p.metadata.uid).sort()).toEqual([...uidsBefore.values()].sort());
      expect(maxDown).toBe(0);
      expect(await events('MemberRestarted')).toEqual([]);

      // Resumed: the operator restarts the three pods, one at a time, the meta leader last.
      metaLeader = (await podCall('roll-0', 'GET', '/v1/status')).json.metaLeader;
      expect(PODS).toContain(metaLeader);
      resumedAtMs = Date.now();
      await client.patch('VectorCluster', NS, NAME, { metadata: { annotations: { [ROLLOUT_PAUSED_ANNOTATION]: null } } });
      const finished = await waitFor(async () => {
        const c = await getCluster();
        const r = c?.status?.rollout;
        return r && r.done === 3 && r.total === 3 && r.waiting === '' && !r.paused && condition(c, 'Progressing')?.status === 'False' ? c : undefined;
      }, 240_000, 200, 'rollout 3/3 and Progressing=False').catch(async (e) => { throw new Error(`${String(e)}: ${await debug()}`); });
      expect(condition(finished, 'Progressing')).toMatchObject({ status: 'False', reason: 'Stable' });
    } finally {
      writing = false;
      sampling = false;
      await writer;
      await sampler;
    }

    // Every pod is a new one, on the StatefulSet's new revision; never two were down at once.
    const newStatus = (await client.get('StatefulSet', NS, NAME)).status as any;
    expect(newStatus.updateRevision).not.toBe(oldRevision.updateRevision);
    for (const p of podObjects()) {
      expect(p.metadata.uid, p.metadata.name).not.toBe(uidsBefore.get(p.metadata.name));
      expect(p.metadata.labels['controller-revision-hash'], p.metadata.name).toBe(newStatus.updateRevision);
    }
    expect(maxDown).toBe(1);
    const restarted = await events('MemberRestarted');
    expect(restarted).toHaveLength(3);
    expect(restarted.map((m) => /Deleted pod (\S+)/.exec(m)?.[1])).toEqual([...PODS.filter((p) => p !== metaLeader).reverse(), metaLeader]);
    expect(await events('RolloutStarted')).toHaveLength(1);
    expect(await events('RolloutFinished')).toHaveLength(1);

    // The nodes' own account: each leader stepping down handed its groups over, and no node refused a
    // peer's Raft connection after the restarts (a restarted node keeps its identity and its peers).
    const lines = PODS.flatMap((p) => readFileSync(emu.podLogPath(NS, p, 'jadevectordb'), 'utf8').split('\n').filter(Boolean).map((l) => {
      try { return { pod: p, ...(JSON.parse(l) as { time: number; msg: string }) }; } catch { return { pod: p, time: 0, msg: l }; }
    }));
    const handoffs = lines.filter((l) => /handed \d+ of \d+ leaderships/.test(l.msg));
    for (const h of handoffs) expect(h.msg, h.pod).toMatch(/handed (\d+) of \1 leaderships/);
    expect(handoffs.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.time >= resumedAtMs && /refused/.test(l.msg)).map((l) => `${l.pod}: ${l.msg}`)).toEqual([]);

    // One cluster; every acknowledged write is readable.
    for (const pod of PODS) {
      const s = await podCall(pod, 'GET', '/v1/status');
      expect(s.json, pod).toMatchObject({ clusterId, joined: true });
      expect(s.json.members.map((m: any) => m.id).sort()).toEqual(PODS);
    }
    expect(acked.length).toBeGreaterThan(10);
    const got = await podCall('roll-1', 'POST', '/collections/docs/points', { ids: acked });
    expect(got.json.result.map((p: any) => p.id).sort((a: number, b: number) => a - b)).toEqual(acked);

    // The pod restarted first now loses its machine: no clean shutdown, a new IP, and its peers have
    // all moved since its last clean stop. It comes back, finds them, and serves every write.
    const crashed = restarted.length > 0 ? /Deleted pod (\S+)/.exec(restarted[0])![1] : 'roll-2';
    const oldUid = podObjects().find((p) => p.metadata.name === crashed).metadata.uid;
    await client.request('DELETE', `/api/v1/namespaces/${NS}/pods/${crashed}`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 });
    await waitFor(async () => {
      const p = podObjects().find((x) => x.metadata.name === crashed);
      if (!p || p.metadata.uid === oldUid || !isUp(p)) return false;
      const s = await podCall(crashed, 'GET', '/v1/status').catch(() => undefined);
      return s?.json?.clusterId === clusterId && s.json.joined && s.json.groups?.every((g: any) => g.leader) && s.json.members?.length === 3;
    }, 90_000, 250, `${crashed} back after a force delete`).catch(async (e) => { throw new Error(`${String(e)}: ${await debug()}`); });
    const again = await podCall(crashed, 'POST', '/collections/docs/points', { ids: acked });
    expect(again.json.result.map((p: any) => p.id).sort((a: number, b: number) => a - b)).toEqual(acked);
  });
});
