// The rolling restart step (operator/src/reconcile/rollout.ts) as a pure function: which pod on an old
// revision restarts next, and why none does (paused, a scale in flight, under-replication, a member
// not rejoined, the settle time); plus the planner's action, events and Progressing condition.
import { describe, expect, it } from 'vitest';
import type { RolloutStatus, VectorCluster } from '../../operator/src/api/types.js';
import type { KubeObject } from '../../operator/src/reconcile/children.js';
import { reportedMeta } from '../../operator/src/reconcile/meta-view.js';
import { ROLLOUT_LAG_ENTRIES_MAX, ROLLOUT_PAUSED_ANNOTATION, rolloutStep } from '../../operator/src/reconcile/rollout.js';
import type { RolloutInput } from '../../operator/src/reconcile/rollout.js';
import { buildStatefulSet } from '../../operator/src/reconcile/children.js';
import { defaultSpec } from '../../operator/src/api/validate.js';
import { plan } from '../../operator/src/reconcile/plan.js';
import type { GroupReport, NodeStatusReport, Observed } from '../../operator/src/reconcile/plan.js';

const T0 = '2026-01-01T00:00:00Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const OLD = 'vc-old';
const NEW = 'vc-new';
const PODS = ['vc-0', 'vc-1', 'vc-2'];

function sts(revision = NEW): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'vc', generation: 2 }, spec: { replicas: 3 }, status: { observedGeneration: 2, updateRevision: revision } };
}
function pod(name: string, revision: string, opts: { ready?: boolean; terminating?: boolean } = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, labels: { 'controller-revision-hash': revision }, ...(opts.terminating ? { deletionTimestamp: T0 } : {}) },
    status: { podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: opts.ready === false ? 'False' : 'True' }] },
  };
}
const groups = (leader: string, lag: Record<string, number> = {}): GroupReport[] => [
  { groupId: 'meta', role: 'follower', leader, commit: 50, applied: 50 },
  { groupId: 'c-docs-s0', role: 'follower', leader, commit: 80, applied: 80, lag },
];
/** Every node reports the same cluster; vc-0 leads the meta group. */
function reports(over: Record<string, Partial<NodeStatusReport & { status: object }>> = {}): Record<string, NodeStatusReport> {
  const out: Record<string, NodeStatusReport> = {};
  for (const p of PODS) {
    const o = over[p] as any;
    if (o?.ok === false) { out[p] = { ok: false, error: o.error }; continue; }
    out[p] = {
      ok: true,
      status: {
        mode: 'cluster', clusterId: 'cid', joined: true, nodeId: p, memberId: `${p}#inc`, metaMembers: PODS, metaLeader: 'vc-0', metaTerm: 3,
        metaDrains: {}, underReplicated: { count: 0, groups: [] }, groups: groups('vc-0'), ...(over[p] as any)?.status,
      },
    };
  }
  return out;
}
function input(patch: Partial<RolloutInput> = {}): RolloutInput {
  const nodeStatus = patch.nodeStatus ?? reports();
  return {
    statefulSet: sts(), podNames: PODS, pods: PODS.map((p) => pod(p, OLD)), nodeStatus, meta: reportedMeta(nodeStatus), clusterId: 'cid',
    previous: undefined, paused: false, now: T0, settleMs: 10_000, ...patch,
  };
}
const rolling = (over: Partial<RolloutStatus>): RolloutStatus => ({ revision: NEW, done: 0, total: 3, current: '', waiting: '', paused: false, rejoinedSince: '', ...over });

describe('rolloutStep', () => {
  it('nothing to do while every pod runs the StatefulSet\'s revision', () => {
    expect(rolloutStep(input({ pods: PODS.map((p) => pod(p, NEW)) }))).toEqual({ active: false, started: false, finished: false });
  });

  it('starts with the highest-ordinal follower, and restarts the meta leader last', () => {
    const first = rolloutStep(input());
    expect(first).toMatchObject({ active: true, started: true, restart: 'vc-2', status: rolling({ current: 'vc-2', waiting: 'restarting vc-2' }) });
    // vc-2 and vc-1 done: the meta leader vc-0 is the last one left.
    const last = rolloutStep(input({
      pods: [pod('vc-0', OLD), pod('vc-1', NEW), pod('vc-2', NEW)], now: at(30),
      previous: rolling({ done: 2, current: 'vc-1', rejoinedSince: at(15) }),
    }));
    expect(last).toMatchObject({ restart: 'vc-0', started: false, status: { done: 2, current: 'vc-0' } });
    // With the leader elsewhere, vc-0 is an ordinary follower: ordinal order.
    const ns = reports(Object.fromEntries(PODS.map((p) => [p, { status: { metaLeader: 'vc-2' } }])));
    expect(rolloutStep(input({ nodeStatus: ns, meta: reportedMeta(ns) })).restart).toBe('vc-1');
  });

  it('waits for the restarted pod to be recreated, Ready and rejoined, then for the settle time', () => {
    const previous = rolling({ current: 'vc-2', waiting: 'restarting vc-2' });
    // The cache still shows the deleted pod with its old revision.
    expect(rolloutStep(input({ previous })).status!.waiting).toBe('waiting for vc-2 to be recreated from the new pod template');
    const back = [pod('vc-0', OLD), pod('vc-1', OLD), pod('vc-2', NEW, { ready: false })];
    expect(rolloutStep(input({ previous, pods: back })).status!.waiting).toBe('waiting for vc-2 to rejoin: its pod is not ready');
    const ready = [pod('vc-0', OLD), pod('vc-1', OLD), pod('vc-2', NEW)];
    const cases: [Partial<NodeStatusReport & { status: object }>, string][] = [
      [{ status: { clusterId: null } }, 'it reports no cluster id yet'],
      [{ status: { clusterId: 'other' } }, 'it reports cluster other, not cid'],
      [{ status: { joined: false } }, 'it is not a member of the meta group'],
      [{ status: { groups: groups('') } }, 'no leader known for meta, c-docs-s0'],
      [{ status: { groups: [{ groupId: 'meta', role: 'follower', leader: 'vc-0', commit: 500, applied: 10 }] } }, 'applying a backlog of committed entries of meta'],
    ];
    for (const [over, why] of cases) {
      const ns = reports({ 'vc-2': over });
      expect(rolloutStep(input({ previous, pods: ready, nodeStatus: ns, meta: reportedMeta(ns) })).status!.waiting, why).toBe(`waiting for vc-2 to rejoin: ${why}`);
    }
    // Its lag as the leader of its shard group reports it.
    const lagging = reports({ 'vc-0': { status: { groups: [{ groupId: 'c-docs-s0', role: 'leader', leader: 'vc-0', commit: 900, applied: 900, lag: { 'vc-2#inc': ROLLOUT_LAG_ENTRIES_MAX + 1 } }] } } });
    expect(rolloutStep(input({ previous, pods: ready, nodeStatus: lagging, meta: reportedMeta(lagging) })).status!.waiting).toBe(`waiting for vc-2 to rejoin: ${ROLLOUT_LAG_ENTRIES_MAX + 1} entries behind the leader of c-docs-s0`);
    // Rejoined: the settle clock starts now; no restart before it has run for settleMs.
    const rejoined = rolloutStep(input({ previous, pods: ready, now: at(1) }));
    expect(rejoined.restart).toBeUndefined();
    expect(rejoined.status).toMatchObject({ done: 1, rejoinedSince: at(1) });
    expect(rejoined.status!.waiting).toMatch(/^waiting for the cluster to settle after vc-2 rejoined: every member has been rejoined for 0 s, 10 s needed/);
    const nine = rolloutStep(input({ previous: rejoined.status, pods: ready, now: at(10) }));
    expect(nine.restart).toBeUndefined();
    // A member that drops out meanwhile resets the clock.
    const blip = reports({ 'vc-1': { ok: false, error: 'timeout' } as any });
    const reset = rolloutStep(input({ previous: nine.status, pods: ready, nodeStatus: blip, meta: reportedMeta(blip), now: at(11) }));
    expect(reset.status).toMatchObject({ rejoinedSince: '', waiting: 'waiting for vc-1 to rejoin: /v1/status: timeout' });
    const again = rolloutStep(input({ previous: reset.status, pods: ready, now: at(12) }));
    expect(again.status!.rejoinedSince).toBe(at(12));
    expect(rolloutStep(input({ previous: again.status, pods: ready, now: at(22) }))).toMatchObject({ restart: 'vc-1' });
  });

  it('never restarts while paused, while a scale is in flight, or while the cluster is under-replicated', () => {
    const paused = rolloutStep(input({ paused: true }));
    expect(paused.restart).toBeUndefined();
    expect(paused.status).toMatchObject({ paused: true, waiting: `paused by the ${ROLLOUT_PAUSED_ANNOTATION} annotation` });
    expect(rolloutStep(input({ busy: 'the scale-down' })).status!.waiting).toBe('waiting for the scale-down to finish');
    const ns = reports(Object.fromEntries(PODS.map((p) => [p, { status: { underReplicated: { count: 2, groups: ['a', 'b'] } } }])));
    expect(rolloutStep(input({ nodeStatus: ns, meta: reportedMeta(ns) })).status!.waiting).toBe('waiting for re-replication: 2 shard groups below the replication factor');
    // A member that is down is not restarted around: the rollout waits for it.
    expect(rolloutStep(input({ pods: [pod('vc-0', OLD), pod('vc-1', OLD, { ready: false }), pod('vc-2', OLD)] })).status!.waiting).toBe('waiting for vc-1 to rejoin: its pod is not ready');
  });

  it('finishes once the last pod rejoined, keeping the counts; waits while the StatefulSet has not seen the template', () => {
    const previous = rolling({ done: 2, current: 'vc-0', waiting: 'restarting vc-0' });
    const fresh = PODS.map((p) => pod(p, NEW));
    const down = reports({ 'vc-0': { ok: false, error: 'connect ECONNREFUSED' } as any });
    expect(rolloutStep(input({ previous, pods: fresh, nodeStatus: down, meta: reportedMeta(down) }))).toMatchObject({ active: true, finished: false });
    const finished = rolloutStep(input({ previous, pods: fresh, now: at(5) }));
    expect(finished).toEqual({ active: false, started: false, finished: true, status: rolling({ done: 3, current: 'vc-0', rejoinedSince: at(5) }) });
    expect(rolloutStep(input({ previous: finished.status, pods: fresh, now: at(6) }))).toMatchObject({ active: false, finished: false, status: finished.status });
    const stale = { ...sts(), metadata: { name: 'vc', generation: 3 } };
    const unseen = rolloutStep(input({ statefulSet: stale, previous }));
    expect(unseen.restart).toBeUndefined();
    expect(unseen).toMatchObject({ active: true, status: { waiting: 'waiting for the StatefulSet controller to record the new pod template' } });
  });
});

describe('plan: rolling restart', () => {
  const vc = (annotations: Record<string, string> = {}, status?: VectorCluster['status']): VectorCluster => ({
    apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster',
    metadata: { name: 'vc', namespace: 'db', uid: 'u', generation: 1, finalizers: ['jadevectordb.io/cleanup'], annotations },
    spec: { replicas: 3 }, ...(status ? { status } : {}),
  });
  function observed(c: VectorCluster): Observed {
    const set = buildStatefulSet(c, defaultSpec(c.spec), 3);
    const nodeStatus = reports();
    return {
      cluster: c, children: { statefulSet: { ...set, metadata: { ...set.metadata, generation: 2 }, status: sts().status } }, pods: PODS.map((p) => pod(p, OLD)),
      pvcs: [], nodeStatus, generatedApiKey: 'k', generatedClusterSecret: 's', now: T0,
    };
  }

  it('the StatefulSet updates OnDelete; the plan deletes one pod, records RolloutStarted and Progressing=RollingRestart', () => {
    const o = observed(vc());
    expect((o.children.statefulSet!.spec as any).updateStrategy).toEqual({ type: 'OnDelete' });
    const actions = plan(o);
    expect(actions.filter((a) => a.type === 'restartMember')).toEqual([{ type: 'restartMember', pod: 'vc-2', revision: NEW }]);
    expect(actions.filter((a) => a.type === 'event').map((a) => (a as any).reason)).toContain('RolloutStarted');
    const status = (actions.find((a) => a.type === 'updateStatus') as any).status;
    expect(status.rollout).toEqual(rolling({ current: 'vc-2', waiting: 'restarting vc-2' }));
    expect(status.conditions.find((x: any) => x.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'RollingRestart', message: `restarting members one at a time onto revision ${NEW}: 0/3 done; restarting vc-2` });
  });

  it('the pause annotation stops it, and the status says so', () => {
    const actions = plan(observed(vc({ [ROLLOUT_PAUSED_ANNOTATION]: 'true' })));
    expect(actions.some((a) => a.type === 'restartMember')).toBe(false);
    const status = (actions.find((a) => a.type === 'updateStatus') as any).status;
    expect(status.rollout).toMatchObject({ paused: true, waiting: `paused by the ${ROLLOUT_PAUSED_ANNOTATION} annotation` });
    expect(status.conditions.find((x: any) => x.type === 'Progressing').message).toContain('paused');
  });
});
