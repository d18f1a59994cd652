// The planner writes LastBackupSucceeded from what the backup controller reports (Observed.lastBackup)
// and, without a report (backup informer not synced yet), keeps the condition the cluster has.
import { describe, expect, it } from 'vitest';
import type { VectorCluster } from '../../operator/src/api/types.js';
import { FINALIZER } from '../../operator/src/reconcile/children.js';
import { plan } from '../../operator/src/reconcile/plan.js';
import type { Action, Observed } from '../../operator/src/reconcile/plan.js';

const NOW = '2026-01-01T00:00:00Z';
const LATER = '2026-01-01T00:05:00Z';

function world(status: VectorCluster['status'] | undefined, patch: Partial<Observed> = {}): Observed {
  const cluster: VectorCluster = {
    apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster',
    metadata: { name: 'vc', namespace: 'db', uid: 'uid-1', generation: 1, finalizers: [FINALIZER] }, spec: { replicas: 1 }, ...(status ? { status } : {}),
  };
  return { cluster, children: {}, pods: [], pvcs: [], nodeStatus: {}, generatedApiKey: 'k', generatedClusterSecret: 's', now: NOW, ...patch };
}
const backupCondition = (actions: Action[]) =>
  (actions.find((a) => a.type === 'updateStatus') as Extract<Action, { type: 'updateStatus' }>).status.conditions!.find((c) => c.type === 'LastBackupSucceeded');

describe('LastBackupSucceeded in the planned status', () => {
  it('is the backup controller\'s report, with a transition time that moves only when the status changes', () => {
    const ok = { status: 'True' as const, reason: 'BackupSucceeded', message: 'VectorBackup b1 (backup b1-x, 10 bytes) succeeded at 2026-01-01T00:00:00Z' };
    const first = backupCondition(plan(world(undefined, { lastBackup: ok })));
    expect(first).toMatchObject({ ...ok, lastTransitionTime: NOW, observedGeneration: 1 });
    const again = backupCondition(plan(world({ conditions: [first!] }, { now: LATER, lastBackup: { ...ok, message: 'VectorBackup b2 succeeded' } })));
    expect(again).toMatchObject({ status: 'True', message: 'VectorBackup b2 succeeded', lastTransitionTime: NOW });
    const failed = backupCondition(plan(world({ conditions: [again!] }, { now: LATER, lastBackup: { status: 'False', reason: 'BackupFailed', message: 'x' } })));
    expect(failed).toMatchObject({ status: 'False', reason: 'BackupFailed', lastTransitionTime: LATER });
  });
  it('without a report keeps the condition as it is, or Unknown when there is none', () => {
    const kept = { type: 'LastBackupSucceeded', status: 'True' as const, reason: 'BackupSucceeded', message: 'm', lastTransitionTime: NOW, observedGeneration: 1 };
    expect(backupCondition(plan(world({ conditions: [kept] }, { now: LATER })))).toEqual(kept);
    expect(backupCondition(plan(world(undefined)))).toMatchObject({ status: 'Unknown', reason: 'NoBackupYet' });
  });
});
