// Checks operator/src/kube against the Kubernetes API emulator (no pods): the REST client's error
// mapping and status merge-patch, the informer healing 410 Gone, 500s (with backoff), dropped and
// silently stalled watches without losing a change, and Lease leader election with failover and release.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, waitFor } from '../k8s-emulator/index.js';
import type { Emulator } from '../k8s-emulator/index.js';
import { KubeClient, isConflict, isNotFound } from '../../operator/src/kube/client.js';
import type { KubeObject } from '../../operator/src/kube/client.js';
import { Informer } from '../../operator/src/kube/informer.js';
import { LeaderElector } from '../../operator/src/kube/leader.js';
import { JadeError } from '../../node/src/util/errors.js';

let emu: Emulator;
let dataRoot: string;
let client: KubeClient;
const NS = 'default';

beforeAll(async () => {
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-kube-'));
  const crdDir = path.resolve('crds');
  emu = await startEmulator({ crdPaths: readdirSync(crdDir).map((f) => path.join(crdDir, f)), dataRoot, bookmarkIntervalMs: 200 });
  client = KubeClient.fromFile(emu.kubeconfigPath);
});
afterAll(async () => {
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
});

const cm = (name: string, data: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS, labels: { suite: 'kube' } }, data });

describe('KubeClient', () => {
  it('maps API errors to coded JadeErrors and writes status by merge-patch on the subresource', async () => {
    const created = await client.create(cm('c1', { a: '1' }));
    const dup = await client.create(cm('c1')).catch((e) => e);
    expect(dup).toBeInstanceOf(JadeError);
    expect(isConflict(dup)).toBe(true);
    expect(isNotFound(await client.get('ConfigMap', NS, 'missing').catch((e) => e))).toBe(true);
    const stale = await client.replace({ ...created, data: { a: '2' } }).then(() => client.replace({ ...created, data: { a: '3' } })).catch((e) => e);
    expect((stale as JadeError).code).toBe('JADE_ERR_CONFLICT');

    const vc = await client.create({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'sv', namespace: NS }, spec: { replicas: 1 } });
    await client.patchStatus('VectorCluster', NS, 'sv', { phase: 'Pending', reason: 'test' });
    const after = await client.get('VectorCluster', NS, 'sv');
    expect(after.status).toEqual({ phase: 'Pending', reason: 'test' });
    expect(after.metadata.generation).toBe((vc.metadata as { generation?: number }).generation);
    // The main resource endpoint ignores status, as on a real API server.
    await client.patch('VectorCluster', NS, 'sv', { status: { phase: 'Running' } });
    expect((await client.get('VectorCluster', NS, 'sv')).status).toEqual({ phase: 'Pending', reason: 'test' });
    await client.delete('VectorCluster', NS, 'sv');
    await client.delete('VectorCluster', NS, 'sv'); // deleting twice is not an error
  });
});

describe('Informer', { timeout: 60_000 }, () => {
  it('heals 410, 500, dropped and stalled watches and ends with the server state', async () => {
    const seen = new Map<string, string | undefined>();
    const informer = new Informer(client, { kind: 'ConfigMap', namespace: NS, labelSelector: 'suite=kube', watchdogMs: 800, backoffBaseMs: 20, backoffMaxMs: 200, resyncMs: 60_000 });
    informer.on((event, o) => { if (event === 'DELETED') seen.delete(o.metadata.name); else seen.set(o.metadata.name, (o.data as any)?.v); });
    await informer.start();
    try {
      await client.create(cm('w1', { v: '1' }));
      await waitFor(() => seen.get('w1') === '1', 5000, 20, 'w1 seen');

      emu.faults.goneNextWatch('configmaps');
      emu.faults.dropWatchConnections('configmaps');
      await client.patch('ConfigMap', NS, 'w1', { data: { v: '2' } });
      await waitFor(() => seen.get('w1') === '2' && informer.stats.gone > 0, 5000, 20, 'change after 410');

      emu.faults.failNextRequests(3, 500, { path: /configmaps/ });
      emu.faults.dropWatchConnections('configmaps');
      await waitFor(() => informer.stats.errors >= 1, 5000, 20, 'errors counted');
      await waitFor(() => client.create(cm('w2', { v: 'x' })).then(() => true, (e) => isConflict(e)), 5000, 20, 'w2 created');
      await waitFor(() => seen.get('w2') === 'x', 5000, 20, 'w2 after 500s');

      // Every watch goes silent; changes made now can only arrive once the watchdog restarts the watch.
      emu.faults.stallWatches('configmaps');
      const fires = informer.stats.watchdogFires;
      await client.patch('ConfigMap', NS, 'w1', { data: { v: '3' } });
      await client.delete('ConfigMap', NS, 'w2');
      await waitFor(() => informer.stats.watchdogFires > fires, 5000, 20, 'watchdog fired');
      expect(seen.get('w1')).toBe('2');
      emu.faults.clear();
      await waitFor(() => seen.get('w1') === '3' && !seen.has('w2'), 8000, 20, 'changes after a stalled watch');
      expect(informer.stats.watchdogFires).toBeGreaterThan(0);
      expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['c1', 'w1']);
    } finally {
      emu.faults.clear();
      await informer.stop();
    }
  });

  it('a relist emits DELETED for objects removed while no watch was open', async () => {
    const events: string[] = [];
    const informer = new Informer(client, { kind: 'ConfigMap', namespace: NS, labelSelector: 'suite=kube' });
    informer.on((event, o) => events.push(`${event}:${o.metadata.name}`));
    await informer.start();
    await informer.stop();
    await client.delete('ConfigMap', NS, 'c1');
    const again = new Informer(client, { kind: 'ConfigMap', namespace: NS, labelSelector: 'suite=kube' });
    (again as any).cache.set(`${NS}/c1`, { metadata: { name: 'c1', namespace: NS } });
    again.on((event, o) => events.push(`${event}:${o.metadata.name}`));
    await again.start();
    await again.stop();
    expect(events).toContain('DELETED:c1');
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('LeaderElector', { timeout: 60_000 }, () => {
  it('one of two candidates leads; the other takes over after a crash, and at once after a release', async () => {
    const leading = new Set<string>();
    const make = (id: string) => new LeaderElector(client, {
      namespace: NS, name: 'test-lease', identity: id, leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 100,
      onStartedLeading: () => leading.add(id), onStoppedLeading: () => leading.delete(id),
    });
    const a = make('a');
    const b = make('b');
    a.start();
    await waitFor(() => a.isLeader, 5000, 20, 'a leads');
    b.start();
    await sleep(600);
    expect([...leading]).toEqual(['a']);
    await a.stop(false); // crash: no release
    const t0 = Date.now();
    await waitFor(() => b.isLeader, 5000, 20, 'b takes over');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect([...leading]).toEqual(['b']);

    const c = make('c');
    c.start();
    await sleep(300);
    expect(c.isLeader).toBe(false);
    const t1 = Date.now();
    await b.stop(true); // clean: released
    await waitFor(() => c.isLeader, 5000, 20, 'c takes over');
    expect(Date.now() - t1).toBeLessThan(1400);
    await c.stop(true);
  });
});
