// The failover decision as a pure function: which members to declare dead to the meta leader, from
// the pods' Ready conditions (or their absence), the clock, spec.failover.notReadyDeadAfterSeconds
// and the requests already made; and how plan() turns it into actions and a truthful status.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operator/src/reconcile/children.js';
import { DECLARE_DEAD_RETRY_MS, membersToDeclareDead, nextMissingSince, notReadySince } from '../../operator/src/reconcile/failover.js';
import type { FailoverInput } from '../../operator/src/reconcile/failover.js';
import type { MetaView } from '../../operator/src/reconcile/meta-view.js';
import { plan } from '../../operator/src/reconcile/plan.js';
import type { Action, Observed } from '../../operator/src/reconcile/plan.js';
import { FINALIZER } from '../../operator/src/reconcile/children.js';

const T0 = '2026-01-01T00:00:00Z';
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function pod(name: string, ready: boolean, since = T0, extra: Partial<KubeObject['metadata']> = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'db', ...extra },
    status: { podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: since }] },
  };
}
function meta(members: string[], extra: Partial<MetaView> = {}): MetaView {
  return { members: new Set(members), drains: {}, dead: new Set(), leader: 'vc-0', ...extra };
}
const NAMES = ['vc-0', 'vc-1', 'vc-2', 'vc-3'];
function input(patch: Partial<FailoverInput>): FailoverInput {
  return {
    podNames: NAMES, pods: NAMES.map((n) => pod(n, true)), meta: meta(NAMES), now: at(0),
    notReadyDeadAfterSeconds: 60, missingSince: {}, requests: {}, ...patch,
  };
}
const pods = (...overrides: KubeObject[]) => NAMES.map((n) => overrides.find((p) => p.metadata.name === n) ?? pod(n, true));

describe('failover: which members to declare dead', () => {
  it('a member NotReady since its Ready condition\'s last transition, past the setting, and not before', () => {
    const w = { pods: pods(pod('vc-2', false, at(10))) };
    expect(membersToDeclareDead(input({ ...w, now: at(69) }))).toEqual([]);
    expect(membersToDeclareDead(input({ ...w, now: at(70) }))).toEqual([{ pod: 'vc-2', since: at(10), notReadySeconds: 60 }]);
  });

  it('a Ready pod, a pod not in the meta group, one already declared dead and the meta leader are never declared dead', () => {
    const notReady = pods(pod('vc-0', false), pod('vc-1', false), pod('vc-3', false));
    const m = meta(['vc-0', 'vc-1', 'vc-2'], { dead: new Set(['vc-1']) });
    expect(membersToDeclareDead(input({ pods: notReady, meta: m, now: at(600) }))).toEqual([]);
  });

  it('nothing while no member reports the membership, or with the setting at 0', () => {
    const w = { pods: pods(pod('vc-2', false)), now: at(600) };
    expect(membersToDeclareDead(input({ ...w, meta: undefined }))).toEqual([]);
    expect(membersToDeclareDead(input({ ...w, notReadyDeadAfterSeconds: 0 }))).toEqual([]);
    expect(membersToDeclareDead(input(w))).toHaveLength(1);
  });

  it('a pod whose container runs but has not passed its startup probe is starting, not lost: not declared dead', () => {
    const starting = pod('vc-2', false, at(0));
    starting.status = { ...(starting.status as object), containerStatuses: [{ name: 'jadevectordb', started: false, state: { running: { startedAt: at(0) } } }] };
    expect(membersToDeclareDead(input({ pods: pods(starting), now: at(600) }))).toEqual([]);
    // Started once (the kubelet's last report of a machine that is gone): counted.
    const lost = pod('vc-2', false, at(0));
    lost.status = { ...(lost.status as object), containerStatuses: [{ name: 'jadevectordb', started: true, state: { running: { startedAt: at(0) } } }] };
    expect(membersToDeclareDead(input({ pods: pods(lost), now: at(600) })).map((c) => c.pod)).toEqual(['vc-2']);
  });

  it('a terminating pod that stays NotReady counts (a pod stuck Terminating on a lost machine)', () => {
    const w = { pods: pods(pod('vc-3', false, at(0), { deletionTimestamp: at(0) })), now: at(61) };
    expect(membersToDeclareDead(input(w)).map((c) => c.pod)).toEqual(['vc-3']);
  });

  it('a pod that is gone counts from when the operator first saw it missing', () => {
    const present = NAMES.filter((n) => n !== 'vc-1').map((n) => pod(n, true));
    let missing = nextMissingSince(NAMES, present, {}, at(5));
    expect(missing).toEqual({ 'vc-1': at(5) });
    missing = nextMissingSince(NAMES, present, missing, at(50));
    expect(missing).toEqual({ 'vc-1': at(5) });
    expect(membersToDeclareDead(input({ pods: present, missingSince: missing, now: at(64) }))).toEqual([]);
    expect(membersToDeclareDead(input({ pods: present, missingSince: missing, now: at(65) }))).toEqual([{ pod: 'vc-1', since: at(5), notReadySeconds: 60 }]);
    // Back again: the clock is dropped.
    expect(nextMissingSince(NAMES, pods(), missing, at(70))).toEqual({});
  });

  it('asks once per NotReady episode: not again once confirmed, and an unconfirmed ask only after the retry time', () => {
    const w = { pods: pods(pod('vc-2', false, at(0))) };
    const now = 100;
    expect(membersToDeclareDead(input({ ...w, now: at(now), requests: { 'vc-2': { since: at(0), at: at(90), confirmed: true } } }))).toEqual([]);
    const retrySeconds = DECLARE_DEAD_RETRY_MS / 1000;
    const unconfirmed = (askedAt: number) => ({ 'vc-2': { since: at(0), at: at(askedAt), confirmed: false } });
    expect(membersToDeclareDead(input({ ...w, now: at(now), requests: unconfirmed(now - retrySeconds + 1) }))).toEqual([]);
    expect(membersToDeclareDead(input({ ...w, now: at(now), requests: unconfirmed(now - retrySeconds) }))).toHaveLength(1);
    // A new episode (Ready again, then NotReady since later) is asked about again.
    const later = { pods: pods(pod('vc-2', false, at(200))) };
    expect(membersToDeclareDead(input({ ...later, now: at(260), requests: { 'vc-2': { since: at(0), at: at(90), confirmed: true } } }))).toHaveLength(1);
  });

  it('notReadySince: the Ready condition\'s transition, else the pod\'s creation, undefined while Ready', () => {
    expect(notReadySince(pod('a', true))).toBeUndefined();
    expect(notReadySince(pod('a', false, at(3)))).toBe(at(3));
    expect(notReadySince({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', creationTimestamp: at(7) } as KubeObject['metadata'], status: { phase: 'Pending' } })).toBe(at(7));
  });
});

describe('failover in plan()', () => {
  const sts: KubeObject = {
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'vc', namespace: 'db', generation: 1 },
    spec: { replicas: 4 }, status: { observedGeneration: 1, replicas: 4, readyReplicas: 3, updatedReplicas: 4 },
  };
  function observed(liveness: Record<string, string>, now: string, deadRequests: Observed['deadRequests'] = {}): Observed {
    const status = (n: string) => ({
      mode: 'cluster', nodeId: n, clusterId: 'cid', joined: true, ready: true, metaMembers: NAMES, metaLeader: 'vc-0', metaTerm: 2,
      metaDrains: Object.fromEntries(NAMES.map((m) => [m, { state: null, replicas: 1 }])), metaLiveness: liveness,
    });
    return {
      cluster: {
        apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'vc', namespace: 'db', uid: 'u', generation: 1, finalizers: [FINALIZER] },
        spec: { replicas: 4, failover: { notReadyDeadAfterSeconds: 30 } },
      },
      children: { statefulSet: sts }, pods: pods(pod('vc-3', false, at(0))), pvcs: [],
      // vc-3 is stopped: it does not answer.
      nodeStatus: { ...Object.fromEntries(['vc-0', 'vc-1', 'vc-2'].map((n) => [n, { ok: true as const, status: status(n) }])), 'vc-3': { ok: false, error: 'timeout' } },
      generatedApiKey: 'k', generatedClusterSecret: 's', now, deadRequests,
    };
  }
  const declared = (actions: Action[]) => actions.flatMap((a) => (a.type === 'declareMemberDead' ? [a.pod] : []));
  const statusOf = (actions: Action[]) => (actions.find((a) => a.type === 'updateStatus') as Extract<Action, { type: 'updateStatus' }> | undefined)?.status;

  it('asks the meta leader to declare vc-3 dead past spec.failover.notReadyDeadAfterSeconds; status says so only once the nodes report it', () => {
    const alive = { 'vc-0': 'alive', 'vc-1': 'alive', 'vc-2': 'alive', 'vc-3': 'suspect' };
    expect(declared(plan(observed(alive, at(29))))).toEqual([]);
    const asking = plan(observed(alive, at(30)));
    expect(asking.find((a) => a.type === 'declareMemberDead')).toEqual({ type: 'declareMemberDead', pod: 'vc-3', since: at(0), notReadySeconds: 30 });
    // Asked and confirmed, but no node reports it yet: the status does not claim it.
    const confirmed = { 'vc-3': { since: at(0), at: at(30), confirmed: true } };
    const pending = plan(observed(alive, at(31), confirmed));
    expect(declared(pending)).toEqual([]);
    expect(statusOf(pending)!.members!.find((m) => m.pod === 'vc-3')).not.toHaveProperty('declaredDead');
    const dead = plan(observed({ ...alive, 'vc-3': 'dead' }, at(32), confirmed));
    expect(declared(dead)).toEqual([]);
    expect(statusOf(dead)!.members!.find((m) => m.pod === 'vc-3')).toMatchObject({ declaredDead: true, ready: false, message: expect.stringContaining('declared the member dead') });
  });

  it('does nothing with spec.failover.notReadyDeadAfterSeconds: 0', () => {
    const o = observed({ 'vc-3': 'suspect' }, at(3600));
    o.cluster.spec.failover = { notReadyDeadAfterSeconds: 0 };
    expect(declared(plan(o))).toEqual([]);
  });
});
