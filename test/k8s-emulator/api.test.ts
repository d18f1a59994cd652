// Checks the emulator's core API semantics through the real @kubernetes/client-node: CRUD with
// resourceVersion conflicts, patches, selectors, informers across forced 410 / dropped / stalled
// watches and 500s, finalizers, owner-reference GC, subresources, Leases and discovery.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { startEmulator, waitFor, type Emulator } from './index.js';
import { expectApiError } from './expect-api-error.js';

let emu: Emulator;
let dataRoot: string;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
const ns = 'api-test';

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

beforeAll(async () => {
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'k8s-emu-api-'));
  emu = await startEmulator({ dataRoot, bookmarkIntervalMs: 100 });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(emu.kubeconfigPath);
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
});

afterAll(async () => {
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
});

describe('CRUD', () => {
  it('creates, reads, updates with resourceVersion checks, and deletes', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cm1' }, data: { a: '1' } } });
    expect(created.metadata?.uid).toMatch(/[0-9a-f-]{36}/);
    const rv1 = Number(created.metadata?.resourceVersion);

    const body = await expectApiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cm1' } } }), 409);
    expect(body.reason).toBe('AlreadyExists');
    expect(body.message).toBe('configmaps "cm1" already exists');

    const updated = await core.replaceNamespacedConfigMap({ namespace: ns, name: 'cm1', body: { ...created, data: { a: '2' } } });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(rv1);

    const stale = await expectApiError(core.replaceNamespacedConfigMap({ namespace: ns, name: 'cm1', body: { ...created, data: { a: '3' } } }), 409);
    expect(stale.reason).toBe('Conflict');
    expect(stale.message).toContain('the object has been modified');

    const read = await core.readNamespacedConfigMap({ namespace: ns, name: 'cm1' });
    expect(read.data).toEqual({ a: '2' });

    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'cm1' });
    const missing = await expectApiError(core.readNamespacedConfigMap({ namespace: ns, name: 'cm1' }), 404);
    expect(missing).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'configmaps "cm1" not found' });
  });

  it('validates names, label keys and values like the apiserver', async () => {
    const longValue = await expectApiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'valid-labels', labels: { app: 'x'.repeat(64) } } } }), 422);
    expect(longValue.message).toContain('metadata.labels: Invalid value');
    await expectApiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'valid-labels', labels: { 'bad key!': 'v' } } } }), 422);
    const svc = await expectApiError(core.createNamespacedService({ namespace: ns, body: { metadata: { name: `s${'x'.repeat(63)}` }, spec: { ports: [{ port: 80 }] } } }), 422);
    expect(svc.message).toContain('a DNS-1035 label');
    await expectApiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'Upper' } } }), 422);
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'valid-labels', labels: { 'app.kubernetes.io/name': 'ok', empty: '' } } } });
  });

  it('refuses objects in a namespace that does not exist', async () => {
    const body = await expectApiError(core.createNamespacedConfigMap({ namespace: 'nope', body: { metadata: { name: 'x' } } }), 404);
    expect(body.message).toBe('namespaces "nope" not found');
  });

  it('applies merge patches and json patches, with a resourceVersion precondition in the patch', async () => {
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 's1', labels: { a: 'x' } }, stringData: { token: 'abc' } } });
    const secret = await core.readNamespacedSecret({ namespace: ns, name: 's1' });
    expect(Buffer.from(secret.data!.token, 'base64').toString()).toBe('abc');

    const merged = await core.patchNamespacedSecret({ namespace: ns, name: 's1', body: { metadata: { labels: { b: 'y', a: null } } } }, mergePatch);
    expect(merged.metadata?.labels).toEqual({ b: 'y' });

    const patched = await core.patchNamespacedSecret({ namespace: ns, name: 's1', body: [{ op: 'add', path: '/metadata/annotations', value: { note: 'n' } }] });
    expect(patched.metadata?.annotations).toEqual({ note: 'n' });

    const conflict = await expectApiError(core.patchNamespacedSecret({ namespace: ns, name: 's1', body: { metadata: { resourceVersion: '1', labels: { c: 'z' } } } }, mergePatch), 409);
    expect(conflict.reason).toBe('Conflict');
  });

  it('keeps Leases under optimistic concurrency', async () => {
    const coord = kc.makeApiClient(k8s.CoordinationV1Api);
    const lease = await coord.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
    const won = await coord.replaceNamespacedLease({ namespace: ns, name: 'leader', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } } });
    expect(won.spec?.holderIdentity).toBe('b');
    await expectApiError(coord.replaceNamespacedLease({ namespace: ns, name: 'leader', body: { ...lease, spec: { ...lease.spec, holderIdentity: 'c' } } }), 409);
  });

  it('stores Events of both APIs', async () => {
    await core.createNamespacedEvent({ namespace: ns, body: { metadata: { name: 'e1' }, involvedObject: { kind: 'Pod', name: 'p' }, reason: 'Test', message: 'hello', type: 'Normal' } });
    const events = kc.makeApiClient(k8s.EventsV1Api);
    await events.createNamespacedEvent({ namespace: ns, body: { metadata: { name: 'e2' }, eventTime: new Date() as any, reason: 'Test', action: 'Do', note: 'n', reportingController: 'c', reportingInstance: 'i', type: 'Normal' } });
    expect((await core.listNamespacedEvent({ namespace: ns })).items.map((e) => e.message)).toEqual(['hello']);
    expect((await events.listNamespacedEvent({ namespace: ns })).items.map((e) => e.note)).toEqual(['n']);
  });
});

describe('immutability', () => {
  it('refuses changes to immutable ConfigMaps and to pod spec fields other than images', async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'frozen' }, data: { a: '1' }, immutable: true } });
    const refused = await expectApiError(core.replaceNamespacedConfigMap({ namespace: ns, name: 'frozen', body: { ...cm, data: { a: '2' } } }), 422);
    expect(refused.message).toContain('field is immutable when `immutable` is set');
    await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'still' }, spec: { containers: [{ name: 'c', image: 'unmapped:1', args: ['a'] }] } } });
    const pod = await waitFor(async () => {
      const p = await core.readNamespacedPod({ namespace: ns, name: 'still' });
      return p.spec?.nodeName ? p : undefined;
    }, 3000, 20, 'pod bound to the node');
    const badUpdate = await expectApiError(core.patchNamespacedPod({ namespace: ns, name: 'still', body: { spec: { containers: [{ name: 'c', image: 'unmapped:1', args: ['b'] }] } } }, mergePatch), 422);
    expect(badUpdate.message).toContain('pod updates may not change fields other than');
    const imageUpdate = await core.replaceNamespacedPod({ namespace: ns, name: 'still', body: { ...pod!, spec: { ...pod!.spec!, containers: [{ ...pod!.spec!.containers[0], image: 'unmapped:2' }] } } });
    expect(imageUpdate.spec?.containers[0].image).toBe('unmapped:2');
    expect(imageUpdate.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ErrImagePull');
    await core.deleteNamespacedPod({ namespace: ns, name: 'still' });
    await waitFor(() => !emu.get(`/api/v1/namespaces/${ns}/pods/still`), 3000, 20, 'pod deletion');
  });
});

describe('selectors', () => {
  it('filters lists by label selector operators and by field selector', async () => {
    const labelSets: Record<string, Record<string, string>> = {
      l1: { env: 'prod', tier: 'a' },
      l2: { env: 'prod', tier: 'b', legacy: 'true' },
      l3: { env: 'dev', tier: 'c' },
      l4: { tier: 'a' },
    };
    for (const [name, labels] of Object.entries(labelSets)) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name, labels } } });
    }
    const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
      (await core.listNamespacedConfigMap({ namespace: ns, labelSelector, fieldSelector })).items.map((c) => c.metadata!.name!).filter((n) => n.startsWith('l'));
    expect(await names('env=prod')).toEqual(['l1', 'l2']);
    expect(await names('env!=prod')).toEqual(['l3', 'l4']);
    expect(await names('tier in (a,c)')).toEqual(['l1', 'l3', 'l4']);
    expect(await names('tier notin (a),env')).toEqual(['l2', 'l3']);
    expect(await names('!legacy,env==prod')).toEqual(['l1']);
    expect(await names(undefined, 'metadata.name=l3')).toEqual(['l3']);
    expect(await names('tier=a', 'metadata.name!=l1')).toEqual(['l4']);
  });
});

describe('informers and watch faults', { timeout: 60_000 }, () => {
  it('delivers add, update and delete, and heals a forced 410, a dropped connection, a stall and a 500 without missing a change', async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const informer = k8s.makeInformer(kc, path, () => core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'inf=1' }), 'inf=1');
    const seen: string[] = [];
    let errors = 0;
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name} ${o.data?.v ?? ''}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name} ${o.data?.v ?? ''}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    // client-node informers stop on a non-410 error; restarting is the caller's job (the operator does it with backoff).
    informer.on('error', () => {
      errors++;
      setTimeout(() => void informer.start().catch(() => undefined), 50);
    });
    await informer.start();
    const cached = (name: string): string | undefined => informer.get(name, ns)?.data?.v;
    try {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'w1', labels: { inf: '1' } }, data: { v: '1' } } });
      await core.patchNamespacedConfigMap({ namespace: ns, name: 'w1', body: { data: { v: '2' } } }, mergePatch);
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'w2', labels: { inf: '1' } }, data: { v: '1' } } });
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'w2' });
      await waitFor(() => seen.includes('delete w2'), 5000, 20, 'informer delete');
      expect(seen).toEqual(['add w1 1', 'update w1 2', 'add w2 1', 'delete w2']);

      // A label change out of the selector is a DELETED for this watch.
      await core.patchNamespacedConfigMap({ namespace: ns, name: 'w1', body: { metadata: { labels: { inf: '0' } } } }, mergePatch);
      await waitFor(() => informer.list(ns).length === 0, 5000, 20, 'selector exit');
      await core.patchNamespacedConfigMap({ namespace: ns, name: 'w1', body: { metadata: { labels: { inf: '1' } }, data: { v: '3' } } }, mergePatch);
      await waitFor(() => cached('w1') === '3', 5000, 20, 'selector re-entry');

      // Silent dead watch: events stop; changes made meanwhile arrive after a forced 410 relist.
      emu.faults.stallWatches('configmaps');
      await core.patchNamespacedConfigMap({ namespace: ns, name: 'w1', body: { data: { v: '4' } } }, mergePatch);
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'w3', labels: { inf: '1' } }, data: { v: '1' } } });
      await new Promise((r) => setTimeout(r, 200));
      expect(cached('w1')).toBe('3');
      emu.faults.clear();
      emu.faults.goneNextWatch('configmaps');
      emu.faults.dropWatchConnections('configmaps');
      await waitFor(() => cached('w1') === '4' && cached('w3') === '1', 5000, 20, 'relist after 410');

      // Abrupt connection loss, and a 500 on the first attempt to recover: a change made meanwhile still arrives.
      const errorsBefore = errors;
      emu.faults.failNextRequests(1, 500, { method: 'GET', path: /configmaps/ });
      emu.faults.dropWatchConnections('configmaps');
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'w3' });
      await waitFor(() => cached('w3') === undefined && seen.includes('delete w3'), 5000, 20, 'recovery after drop and 500');
      expect(errors).toBeGreaterThan(errorsBefore);

      // A 410 on the open watch itself (compaction): the informer relists and sees the change made meanwhile.
      emu.faults.stallWatches('configmaps');
      await core.patchNamespacedConfigMap({ namespace: ns, name: 'w1', body: { data: { v: '4b' } } }, mergePatch);
      emu.faults.clear();
      emu.faults.expireWatches('configmaps');
      await waitFor(() => cached('w1') === '4b', 5000, 20, 'relist after expired watch');

      // A graceful server-side close (watch timeout): the informer resumes from its resourceVersion.
      emu.faults.closeWatches('configmaps');
      await core.patchNamespacedConfigMap({ namespace: ns, name: 'w1', body: { data: { v: '5' } } }, mergePatch);
      await waitFor(() => cached('w1') === '5', 5000, 20, 'resume after close');
    } finally {
      await informer.stop();
    }
  });

  it('answers a watch from a compacted resourceVersion with 410 Expired', async () => {
    const small = await startEmulator({ dataRoot: path.join(dataRoot, 'small'), watchHistoryMax: 5 });
    try {
      const kc2 = new k8s.KubeConfig();
      kc2.loadFromFile(small.kubeconfigPath);
      const core2 = kc2.makeApiClient(k8s.CoreV1Api);
      const first = await core2.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'c0' } } });
      for (let i = 1; i <= 10; i++) await core2.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `c${i}` } } });
      const events: any[] = [];
      await new Promise<void>((resolve) => {
        void new k8s.Watch(kc2).watch('/api/v1/namespaces/default/configmaps', { resourceVersion: first.metadata!.resourceVersion }, (type, obj) => events.push({ type, obj }), () => resolve());
      });
      expect(events).toHaveLength(1);
      expect(events[0].type).toBe('ERROR');
      expect(events[0].obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
    } finally {
      await small.stop();
    }
  });

  it('sends bookmarks when asked', async () => {
    const events: string[] = [];
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    const controller = await new k8s.Watch(kc).watch(`/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: list.metadata!.resourceVersion, allowWatchBookmarks: true }, (type) => events.push(type), () => undefined);
    try {
      await waitFor(() => events.includes('BOOKMARK'), 3000, 20, 'bookmark');
    } finally {
      controller.abort();
    }
  });
});

describe('finalizers and garbage collection', () => {
  it('deletes an object with finalizers only when the last finalizer is removed', async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'fin', finalizers: ['test.io/keep'] } } });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'fin' });
    const terminating = await core.readNamespacedConfigMap({ namespace: ns, name: 'fin' });
    expect(terminating.metadata?.deletionTimestamp).toBeTruthy();
    const refused = await expectApiError(core.patchNamespacedConfigMap({ namespace: ns, name: 'fin', body: { metadata: { finalizers: ['test.io/keep', 'test.io/more'] } } }, mergePatch), 422);
    expect(refused.message).toContain('no new finalizers can be added');
    await core.patchNamespacedConfigMap({ namespace: ns, name: 'fin', body: { metadata: { finalizers: null } } }, mergePatch);
    await expectApiError(core.readNamespacedConfigMap({ namespace: ns, name: 'fin' }), 404);
  });

  it('collects dependents of a deleted owner in background or foreground, and orphans them when asked', async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid!, controller: true };
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'dep1', ownerReferences: [ref] } } });
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'dep2', ownerReferences: [ref] }, spec: { ports: [{ port: 80 }] } } });
    const other = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'other-owner' } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'dep3', ownerReferences: [ref, { ...ref, name: 'other-owner', uid: other.metadata!.uid!, controller: false }] } } });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
    await waitFor(() => !emu.get(`/api/v1/namespaces/${ns}/secrets/dep1`) && !emu.get(`/api/v1/namespaces/${ns}/services/dep2`), 3000, 20, 'GC');
    expect(emu.get(`/api/v1/namespaces/${ns}/secrets/dep3`)).toBeTruthy();

    // Foreground: the owner stays (deletionTimestamp + foregroundDeletion) until blocking dependents are gone.
    const owner3 = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner3' } } });
    const blockingRef = { ...ref, name: 'owner3', uid: owner3.metadata!.uid!, blockOwnerDeletion: true };
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'dep5', ownerReferences: [blockingRef], finalizers: ['test.io/hold'] } } });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner3', propagationPolicy: 'Foreground' });
    await waitFor(() => emu.get(`/api/v1/namespaces/${ns}/secrets/dep5`)?.metadata?.deletionTimestamp, 3000, 20, 'dependent terminating');
    const waiting = await core.readNamespacedConfigMap({ namespace: ns, name: 'owner3' });
    expect(waiting.metadata?.finalizers).toEqual(['foregroundDeletion']);
    expect(waiting.metadata?.deletionTimestamp).toBeTruthy();
    await core.patchNamespacedSecret({ namespace: ns, name: 'dep5', body: { metadata: { finalizers: null } } }, mergePatch);
    await waitFor(() => !emu.get(`/api/v1/namespaces/${ns}/configmaps/owner3`), 3000, 20, 'owner gone after its dependent');

    const owner2 = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner2' } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'dep4', ownerReferences: [{ ...ref, name: 'owner2', uid: owner2.metadata!.uid! }] } } });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner2', propagationPolicy: 'Orphan' });
    await new Promise((r) => setTimeout(r, 50));
    const orphan = await core.readNamespacedSecret({ namespace: ns, name: 'dep4' });
    expect(orphan.metadata?.ownerReferences ?? []).toEqual([]);
  });
});

describe('subresources', () => {
  it('bumps generation on spec changes only, separates status, and scales through /scale', async () => {
    const deployment = { metadata: { name: 'd1' }, spec: { replicas: 1, selector: { matchLabels: { app: 'd1' } }, template: { metadata: { labels: { app: 'd1' } }, spec: { containers: [{ name: 'c', image: 'none' }] } } } };
    const created = await apps.createNamespacedDeployment({ namespace: ns, body: deployment });
    expect(created.metadata?.generation).toBe(1);
    expect(created.status).toBeUndefined();

    const withStatus = await apps.replaceNamespacedDeploymentStatus({ namespace: ns, name: 'd1', body: { ...created, spec: { ...created.spec!, replicas: 9 }, status: { replicas: 1, readyReplicas: 1 } } });
    expect(withStatus.status?.readyReplicas).toBe(1);
    expect(withStatus.spec?.replicas).toBe(1);
    expect(withStatus.metadata?.generation).toBe(1);

    const labelled = await apps.patchNamespacedDeployment({ namespace: ns, name: 'd1', body: { metadata: { labels: { x: 'y' } } } }, mergePatch);
    expect(labelled.metadata?.generation).toBe(1);

    const mainIgnoresStatus = await apps.replaceNamespacedDeployment({ namespace: ns, name: 'd1', body: { ...labelled, status: { replicas: 5 } } });
    expect(mainIgnoresStatus.status?.replicas).toBe(1);

    const scale = await apps.readNamespacedDeploymentScale({ namespace: ns, name: 'd1' });
    expect(scale.spec?.replicas).toBe(1);
    expect(scale.status?.selector).toBe('app=d1');
    const scaled = await apps.patchNamespacedDeploymentScale({ namespace: ns, name: 'd1', body: { spec: { replicas: 4 } } }, mergePatch);
    expect(scaled.spec?.replicas).toBe(4);
    const after = await apps.readNamespacedDeployment({ namespace: ns, name: 'd1' });
    expect(after.spec?.replicas).toBe(4);
    expect(after.metadata?.generation).toBe(2);

    // A typed client re-serializes with its own key order: a replace without changes is a no-op.
    const same = await apps.replaceNamespacedDeployment({ namespace: ns, name: 'd1', body: after });
    expect(same.metadata?.generation).toBe(2);
    expect(same.metadata?.resourceVersion).toBe(after.metadata?.resourceVersion);
  });
});

describe('authentication and namespaces', () => {
  it('refuses a wrong bearer token and serves requests without credentials as anonymous (kubectl over http)', async () => {
    const wrong = await fetch(`${emu.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const anonymous = await fetch(`${emu.url}/api/v1/namespaces/${ns}`);
    expect(((await anonymous.json()) as any).metadata.name).toBe(ns);
  });

  it('deletes a namespace with its contents after Terminating', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c' } } });
    await core.deleteNamespace({ name: 'doomed' });
    await waitFor(() => !emu.get('/api/v1/namespaces/doomed'), 3000, 20, 'namespace deletion');
    expect(emu.list('/api/v1/namespaces/doomed/configmaps')).toEqual([]);
    await expectApiError(core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'c' } } }), 404);
  });
});

describe('StatefulSet controller failures', () => {
  it('records a FailedCreate Warning event when the pods it would create are invalid', async () => {
    const longName = `s${'x'.repeat(62)}`;
    await apps.createNamespacedStatefulSet({ namespace: ns, body: { metadata: { name: longName }, spec: { replicas: 1, serviceName: 'x', selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'unmapped' }] } } } } });
    const event = await waitFor(() => emu.list(`/api/v1/namespaces/${ns}/events`).find((e) => e.involvedObject?.name === longName), 3000, 20, 'FailedCreate event');
    expect(event).toMatchObject({ reason: 'FailedCreate', type: 'Warning' });
    expect(event.message).toContain('metadata.labels: Invalid value');
    expect(emu.list(`/api/v1/namespaces/${ns}/pods`, { labelSelector: 'a=b' })).toEqual([]);
    await apps.deleteNamespacedStatefulSet({ namespace: ns, name: longName });
  });
});

describe('discovery', () => {
  it('lets the generic KubernetesObjectApi resolve kinds to paths', async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    await objects.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r1', namespace: ns }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }] } as k8s.KubernetesObject);
    const role = await objects.read({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'r1', namespace: ns } });
    expect((role as any).rules[0].verbs).toEqual(['get']);
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.major).toBe('1');
  });
});
