// Fencing by the jadevectordb.io/fenced-pods annotation (operator/src/reconcile/fencing.ts): the
// operator fences the listed pods' nodes, unfences only those it fenced, does not declare fenced
// members dead, and says in status and Events what the nodes report.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../operator/src/reconcile/children.js';
import { FINALIZER } from '../../operator/src/reconcile/children.js';
import { FENCED_PODS_ANNOTATION, fencingStep, parseFencedPods } from '../../operator/src/reconcile/fencing.js';
import { plan } from '../../operator/src/reconcile/plan.js';
import type { Action, NodeStatusReport, Observed } from '../../operator/src/reconcile/plan.js';

const NAMES = ['vc-0', 'vc-1', 'vc-2'];
const serving = (fenced = false): NodeStatusReport => ({ ok: true, status: fenced ? { mode: 'cluster', fenced: true } : { mode: 'cluster', joined: true } });

describe('the fenced-pods annotation', () => {
  it('is a JSON list of pod names, ["*"] for all; names the StatefulSet does not have are ignored', () => {
    expect(parseFencedPods(undefined, NAMES)).toEqual({ pods: new Set() });
    expect(parseFencedPods('["vc-1","other-7"]', NAMES)).toEqual({ pods: new Set(['vc-1']) });
    expect(parseFencedPods('["*"]', NAMES)).toEqual({ pods: new Set(NAMES) });
    expect(parseFencedPods('vc-1', NAMES)).toMatchObject({ invalid: expect.stringContaining('not JSON') });
    expect(parseFencedPods('{"vc-1":true}', NAMES)).toMatchObject({ invalid: expect.stringContaining('list of pod names') });
  });
});

describe('fencingStep', () => {
  const status = (fenced: string[], silent: string[] = []) => Object.fromEntries(NAMES.map((n) => [n, silent.includes(n) ? { ok: false as const, error: 'timeout' } : serving(fenced.includes(n))]));

  it('fences a listed pod whose node serves, and records it as fenced by the operator', () => {
    const s = fencingStep({ annotation: '["vc-1"]', podNames: NAMES, nodeStatus: status([]), previous: undefined });
    expect(s.actions).toEqual([{ type: 'fenceMember', pod: 'vc-1' }]);
    expect(s.fencedPods).toEqual(['vc-1']);
    // Once the node reports it fenced: nothing more to do.
    expect(fencingStep({ annotation: '["vc-1"]', podNames: NAMES, nodeStatus: status(['vc-1']), previous: ['vc-1'] }).actions).toEqual([]);
  });

  it('unfences a pod taken off the list only if the operator fenced it, until its node serves again', () => {
    const off = fencingStep({ annotation: '[]', podNames: NAMES, nodeStatus: status(['vc-1', 'vc-2']), previous: ['vc-1'] });
    // vc-2 was fenced by hand through its API: the operator leaves it alone.
    expect(off.actions).toEqual([{ type: 'unfenceMember', pod: 'vc-1' }]);
    expect(off.fencedPods).toEqual(['vc-1']);
    expect(fencingStep({ annotation: undefined, podNames: NAMES, nodeStatus: status(['vc-2'], ['vc-1']), previous: ['vc-1'] }).fencedPods).toEqual(['vc-1']);
    const done = fencingStep({ annotation: undefined, podNames: NAMES, nodeStatus: status(['vc-2']), previous: ['vc-1'] });
    expect(done.actions).toEqual([]);
    expect(done.fencedPods).toEqual([]);
  });

  it('a listed pod that does not answer is not claimed fenced until the operator could ask', () => {
    const s = fencingStep({ annotation: '["vc-2"]', podNames: NAMES, nodeStatus: status([], ['vc-2']), previous: undefined });
    expect(s.actions).toEqual([]);
    expect(s.fencedPods).toEqual([]);
  });

  it('an annotation it cannot read changes nothing and says why', () => {
    const s = fencingStep({ annotation: 'vc-1', podNames: NAMES, nodeStatus: status(['vc-1']), previous: ['vc-1'] });
    expect(s.actions).toEqual([]);
    expect(s.fencedPods).toEqual(['vc-1']);
    expect(s.invalid).toMatch(/not JSON/);
  });
});

describe('fencing in plan()', () => {
  const T0 = '2026-01-01T00:00:00Z';
  const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const pod = (name: string, ready: boolean): KubeObject => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'db' },
    status: { podIP: '10.0.0.1', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: T0 }] },
  });
  const sts: KubeObject = {
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'vc', namespace: 'db', generation: 1 },
    spec: { replicas: 3 }, status: { observedGeneration: 1, replicas: 3, readyReplicas: 2, updatedReplicas: 3 },
  };
  function observed(annotation: string | undefined, vc2Fenced: boolean, previous?: string[]): Observed {
    const member = (n: string) => ({
      mode: 'cluster', nodeId: n, clusterId: 'cid', joined: true, ready: true, metaMembers: NAMES, metaLeader: 'vc-0', metaTerm: 2,
      metaDrains: Object.fromEntries(NAMES.map((m) => [m, { state: null, replicas: 1 }])), metaLiveness: Object.fromEntries(NAMES.map((m) => [m, 'alive'])),
    });
    return {
      cluster: {
        apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster',
        metadata: { name: 'vc', namespace: 'db', uid: 'u', generation: 1, finalizers: [FINALIZER], ...(annotation ? { annotations: { [FENCED_PODS_ANNOTATION]: annotation } } : {}) },
        spec: { replicas: 3, failover: { notReadyDeadAfterSeconds: 30 } },
        ...(previous ? { status: { fencedPods: previous } } : {}),
      },
      children: { statefulSet: sts }, pods: [pod('vc-0', true), pod('vc-1', true), pod('vc-2', !vc2Fenced)], pvcs: [],
      nodeStatus: { 'vc-0': { ok: true, status: member('vc-0') }, 'vc-1': { ok: true, status: member('vc-1') }, 'vc-2': vc2Fenced ? { ok: true, status: { mode: 'cluster', fenced: true } } : { ok: true, status: member('vc-2') } },
      generatedApiKey: 'k', generatedClusterSecret: 's', now: at(600),
    };
  }
  const of = (actions: Action[], type: string) => actions.filter((a) => a.type === type);
  const statusOf = (actions: Action[]) => (actions.find((a) => a.type === 'updateStatus') as Extract<Action, { type: 'updateStatus' }> | undefined)?.status;

  it('asks the pod to fence, records it, and never declares the fenced member dead however long it is NotReady', () => {
    const asking = plan(observed('["vc-2"]', false));
    expect(of(asking, 'fenceMember')).toEqual([{ type: 'fenceMember', pod: 'vc-2' }]);
    expect(statusOf(asking)?.fencedPods).toEqual(['vc-2']);
    const fenced = plan(observed('["vc-2"]', true, ['vc-2']));
    expect(of(fenced, 'fenceMember')).toEqual([]);
    expect(of(fenced, 'declareMemberDead')).toEqual([]);
    // Without the annotation, the same NotReady member fenced by hand is not declared dead either (its node says it is fenced).
    expect(of(plan(observed(undefined, true)), 'declareMemberDead')).toEqual([]);
    // The same member NotReady and silent, not fenced: declared dead (the check above is not vacuous).
    const silent = observed(undefined, true);
    silent.nodeStatus['vc-2'] = { ok: false, error: 'timeout' };
    expect(of(plan(silent), 'declareMemberDead')).toMatchObject([{ pod: 'vc-2' }]);
  });

  it('unfences once the pod leaves the annotation; a bad annotation is a Warning Event and a status field', () => {
    expect(of(plan(observed('[]', true, ['vc-2'])), 'unfenceMember')).toEqual([{ type: 'unfenceMember', pod: 'vc-2' }]);
    const bad = plan(observed('vc-2', false));
    expect(bad.find((a) => a.type === 'event' && a.reason === 'InvalidFencing')).toBeDefined();
    expect(statusOf(bad)?.fencingError).toMatch(/not JSON/);
    expect(of(bad, 'fenceMember')).toEqual([]);
  });
});
