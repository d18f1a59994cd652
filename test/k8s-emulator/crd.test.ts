// Checks custom resources through the real client-node: a CRD installed from YAML and one via the
// API, structural-schema pruning/defaulting/validation, CEL rules (with message and a transition
// rule on oldSelf) rejected with the apiserver's 422 message, status/scale subresources, and CRD creation
// refusing the VectorCluster CRD a real kube-apiserver refused (issue 10) through the API and at start.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as k8s from '@kubernetes/client-node';
import { parse } from 'yaml';
import { startEmulator, type Emulator } from './index.js';
import { expectApiError } from './expect-api-error.js';
import { layerBinary } from '../helpers/layer-binary.js';

// Async: the emulator answers on this process's event loop.
const run = promisify(execFile);

const widgetCrdYaml = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.jadevectordb.io
spec:
  group: test.jadevectordb.io
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, shortNames: [wd] }
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: { specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas, labelSelectorPath: .status.selector }
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-validations:
        - rule: "size(self.metadata.name) <= 12"
          message: "name must be at most 12 characters"
        properties:
          spec:
            type: object
            required: [image]
            x-kubernetes-validations:
            - rule: "self.replicas <= 7"
              message: "replicas must be at most 7"
            - rule: "quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0"
              message: "storage size cannot shrink"
            properties:
              replicas: { type: integer, minimum: 1, default: 3 }
              image: { type: string, maxLength: 20 }
              mode: { type: string, enum: [fast, safe], default: safe }
              size: { type: string, pattern: '^[0-9]+(Mi|Gi)$', default: 1Gi }
              tier:
                type: string
                x-kubernetes-validations:
                - rule: "self == oldSelf"
                  message: "tier is immutable"
              extra: { type: object, x-kubernetes-preserve-unknown-fields: true }
              nested:
                type: object
                properties:
                  limit: { type: integer, default: 10 }
          status:
            type: object
            properties:
              replicas: { type: integer }
              selector: { type: string }
              phase: { type: string }
`;

let emu: Emulator;
let dataRoot: string;
let custom: k8s.CustomObjectsApi;
let kc: k8s.KubeConfig;
const ns = 'default';
const group = 'test.jadevectordb.io';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

function widget(name: string, spec: Record<string, unknown>): any {
  return { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec };
}

beforeAll(async () => {
  dataRoot = mkdtempSync(path.join(os.tmpdir(), 'k8s-emu-crd-'));
  const crdPath = path.join(dataRoot, 'widgets.yaml');
  writeFileSync(crdPath, widgetCrdYaml);
  emu = await startEmulator({ dataRoot, crdPaths: [crdPath] });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(emu.kubeconfigPath);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
});

afterAll(async () => {
  await emu?.stop();
  rmSync(dataRoot, { recursive: true, force: true });
});

describe('custom resource admission', () => {
  it('prunes unknown fields, keeps preserved ones and applies defaults', async () => {
    const created: any = await custom.createNamespacedCustomObject({
      group, version: 'v1', namespace: ns, plural: 'widgets',
      body: widget('w1', { image: 'img', bogus: true, extra: { anything: { goes: 1 } }, nested: {} }),
    });
    expect(created.spec).toEqual({ image: 'img', replicas: 3, mode: 'safe', size: '1Gi', extra: { anything: { goes: 1 } }, nested: { limit: 10 } });
    expect(created.metadata.generation).toBe(1);
  });

  it('rejects schema violations with the apiserver message format', async () => {
    const tooFew = await expectApiError(custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('bad1', { image: 'i', replicas: 0 }) }), 422);
    expect(tooFew.reason).toBe('Invalid');
    expect(tooFew.message).toBe('Widget.test.jadevectordb.io "bad1" is invalid: spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1');
    expect(tooFew.details.causes[0].field).toBe('spec.replicas');

    const several = await expectApiError(custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('bad2', { mode: 'turbo', size: '10Ti', replicas: 'x' }) }), 422);
    expect(several.message).toContain('spec.image: Required value');
    expect(several.message).toContain('spec.mode: Unsupported value: "turbo": supported values: "fast", "safe"');
    expect(several.message).toContain("spec.size in body should match '^[0-9]+(Mi|Gi)$'");
    expect(several.message).toContain('spec.replicas in body must be of type integer');

    const longName = await expectApiError(custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('a-very-long-name', { image: 'i' }) }), 422);
    expect(longName.message).toBe('Widget.test.jadevectordb.io "a-very-long-name" is invalid: <nil>: Invalid value: "object": name must be at most 12 characters');

    const nulled: any = await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('nulled', { image: 'i', mode: null }) });
    expect(nulled.spec.mode).toBe('safe');

    const long = await expectApiError(custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('bad3', { image: 'x'.repeat(21) }) }), 422);
    expect(long.message).toContain('spec.image: Too long: may not be more than 20 bytes');
  });

  it('evaluates CEL rules, including transition rules against oldSelf', async () => {
    const cel = await expectApiError(custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('bad4', { image: 'i', replicas: 9 }) }), 422);
    expect(cel.message).toBe('Widget.test.jadevectordb.io "bad4" is invalid: spec: Invalid value: "object": replicas must be at most 7');

    const w: any = await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('w2', { image: 'i', size: '10Gi', tier: 'gold' }) });
    const shrink = await expectApiError(custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w2', body: { spec: { size: '5Gi' } } }, mergePatch), 422);
    expect(shrink.message).toBe('Widget.test.jadevectordb.io "w2" is invalid: spec: Invalid value: "object": storage size cannot shrink');
    const immutable = await expectApiError(custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w2', body: { spec: { tier: 'silver' } } }, mergePatch), 422);
    expect(immutable.message).toContain('spec.tier: Invalid value: "string": tier is immutable');
    const grown: any = await custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w2', body: { spec: { size: '20Gi' } } }, mergePatch);
    expect(grown.spec.size).toBe('20Gi');
    expect(grown.metadata.generation).toBe(w.metadata.generation + 1);
  });

  it('requires resourceVersion on update of a custom resource and detects conflicts', async () => {
    const w: any = await custom.getNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w1' });
    const noRv = await expectApiError(custom.replaceNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w1', body: { ...w, metadata: { name: 'w1' } } }), 422);
    expect(noRv.message).toContain('metadata.resourceVersion: Invalid value: 0x0: must be specified for an update');
    await custom.replaceNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w1', body: { ...w, spec: { ...w.spec, replicas: 4 } } });
    const stale = await expectApiError(custom.replaceNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w1', body: { ...w, spec: { ...w.spec, replicas: 5 } } }), 409);
    expect(stale.message).toContain('Operation cannot be fulfilled on widgets.test.jadevectordb.io "w1"');
  });
});

describe('custom resource subresources', () => {
  it('writes status only through /status and scales through /scale', async () => {
    await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', body: widget('w3', { image: 'i', replicas: 2 }) });
    const ignored: any = await custom.patchNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w3', body: { status: { phase: 'Fake' } } }, mergePatch);
    expect(ignored.status).toBeUndefined();
    const status: any = await custom.patchNamespacedCustomObjectStatus({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w3', body: { spec: { replicas: 7 }, status: { phase: 'Ready', replicas: 2, selector: 'app=w3' } } }, mergePatch);
    expect(status.status.phase).toBe('Ready');
    expect(status.spec.replicas).toBe(2);
    expect(status.metadata.generation).toBe(1);
    const badStatus = await expectApiError(custom.patchNamespacedCustomObjectStatus({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w3', body: { status: { replicas: 'two' } } }, mergePatch), 422);
    expect(badStatus.message).toContain('status.replicas in body must be of type integer');

    const scale: any = await custom.getNamespacedCustomObjectScale({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w3' });
    expect(scale).toMatchObject({ kind: 'Scale', spec: { replicas: 2 }, status: { replicas: 2, selector: 'app=w3' } });
    const rejected = await expectApiError(custom.patchNamespacedCustomObjectScale({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w3', body: { spec: { replicas: 8 } } }, mergePatch), 422);
    expect(rejected.message).toContain('replicas must be at most 7');
    await custom.patchNamespacedCustomObjectScale({ group, version: 'v1', namespace: ns, plural: 'widgets', name: 'w3', body: { spec: { replicas: 5 } } }, mergePatch);
    const after: any = emu.get(`/apis/${group}/v1/namespaces/${ns}/widgets/w3`);
    expect(after.spec.replicas).toBe(5);
    expect(after.metadata.generation).toBe(2);
  });
});

describe('CRD installation through the API', () => {
  it('serves a CRD created with POST and refuses one whose CEL rule does not compile', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = (name: string, rule: string): k8s.V1CustomResourceDefinition => ({
      metadata: { name: `${name}s.test.jadevectordb.io` },
      spec: {
        group, scope: 'Namespaced', names: { plural: `${name}s`, singular: name, kind: name[0].toUpperCase() + name.slice(1) },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', x_kubernetes_validations: [{ rule }], properties: { n: { type: 'integer' } } } } } } }],
      },
    });
    const created = await ext.createCustomResourceDefinition({ body: crd('gadget', 'self.n > 0') });
    expect(created.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'gadgets', body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g', labels: { a: 'b' } }, spec: { n: 1 } } });
    const noMessage = await expectApiError(custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'gadgets', body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'h' }, spec: { n: 0 } } }), 422);
    expect(noMessage.message).toBe('Gadget.test.jadevectordb.io "h" is invalid: spec: Invalid value: "object": failed rule: self.n > 0');
    const listed: any = await custom.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'gadgets', labelSelector: 'a=b' });
    expect(listed.items.map((i: any) => i.metadata.name)).toEqual(['g']);

    await expectApiError(ext.createCustomResourceDefinition({ body: crd('broken', 'self.n >') }), 422);

    await ext.deleteCustomResourceDefinition({ name: 'gadgets.test.jadevectordb.io' });
    await expectApiError(custom.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'gadgets' }), 404);
  });
});

describe('CRD creation checks schemas like the apiserver', () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repoRoot = path.resolve(here, '../..');
  const fixture = path.join(here, 'fixtures/vectorclusters-refused-by-apiserver.yaml');
  const refusal = 'CustomResourceDefinition.apiextensions.k8s.io "vectorclusters.jadevectordb.io" is invalid: ['
    + 'spec.validation.openAPIV3Schema.properties[spec].properties[node].properties[ports].default: Invalid value: "object": no such key: rest evaluating rule: node.ports.rest and node.ports.grpc must differ, '
    + 'spec.validation.openAPIV3Schema.properties[spec].properties[storage].default: Invalid value: "object": no such key: size evaluating rule: storage.size cannot be decreased]';

  it('refuses the old VectorCluster CRD through the API with the apiserver\'s Status', async () => {
    // Raw JSON: client-node's typed CRD model would drop x-kubernetes-validations.
    const response = await fetch(`${emu.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(parse(readFileSync(fixture, 'utf8'))),
    });
    expect(response.status).toBe(422);
    const status: any = await response.json();
    expect(status.reason).toBe('Invalid');
    expect(status.message).toBe(refusal);
    expect(status.details.causes).toEqual([
      { reason: 'FieldValueInvalid', field: 'spec.validation.openAPIV3Schema.properties[spec].properties[node].properties[ports].default', message: 'Invalid value: "object": no such key: rest evaluating rule: node.ports.rest and node.ports.grpc must differ' },
      { reason: 'FieldValueInvalid', field: 'spec.validation.openAPIV3Schema.properties[spec].properties[storage].default', message: 'Invalid value: "object": no such key: size evaluating rule: storage.size cannot be decreased' },
    ]);
  });

  it('kubectl apply refuses the old VectorCluster CRD as a real apiserver did, and applies crds/', async () => {
    const kubectl = (...args: string[]) => run(layerBinary('kubectl'), ['--kubeconfig', emu.kubeconfigPath, ...args]);
    const refused = await kubectl('apply', '--validate=false', '-f', fixture).then(() => '', (e) => String(e.stderr));
    expect(refused).toBe('The CustomResourceDefinition "vectorclusters.jadevectordb.io" is invalid: \n'
      + '* spec.validation.openAPIV3Schema.properties[spec].properties[node].properties[ports].default: Invalid value: "object": no such key: rest evaluating rule: node.ports.rest and node.ports.grpc must differ\n'
      + '* spec.validation.openAPIV3Schema.properties[spec].properties[storage].default: Invalid value: "object": no such key: size evaluating rule: storage.size cannot be decreased\n');
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await expectApiError(ext.readCustomResourceDefinition({ name: 'vectorclusters.jadevectordb.io' }), 404);

    const applied = await kubectl('apply', '--validate=false', '-f', path.join(repoRoot, 'crds'));
    expect(applied.stdout.trim().split('\n').sort()).toEqual(['vectorbackups', 'vectorbackupschedules', 'vectorclusters']
      .map((p) => `customresourcedefinition.apiextensions.k8s.io/${p}.jadevectordb.io created`));
    const vc: any = await custom.createNamespacedCustomObject({ group: 'jadevectordb.io', version: 'v1alpha1', namespace: ns, plural: 'vectorclusters', body: { apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'x' }, spec: {} } });
    expect(vc.spec.node.ports).toEqual({ rest: 8080, grpc: 9090, metrics: 0, apiGrpc: 6334 });
    expect(vc.spec.storage).toEqual({ size: '10Gi', pvcRetention: { whenScaled: 'Retain', whenDeleted: 'Retain' } });
  });

  it('refuses to start with it in crdPaths', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'k8s-emu-crd-bad-'));
    try {
      await expect(startEmulator({ dataRoot: root, crdPaths: [fixture] })).rejects.toThrow(refusal);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reports a CEL evaluation error on an object like the apiserver (no such key ... evaluating rule)', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    await ext.createCustomResourceDefinition({ body: {
      metadata: { name: 'probes.test.jadevectordb.io' },
      spec: {
        group, scope: 'Namespaced', names: { plural: 'probes', singular: 'probe', kind: 'Probe' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: {
          type: 'object', x_kubernetes_validations: [{ rule: 'self.a != self.b', message: 'a and b must differ' }],
          properties: { a: { type: 'integer' }, b: { type: 'integer' } },
        } } } } }],
      },
    } });
    const err = await expectApiError(custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural: 'probes', body: { apiVersion: `${group}/v1`, kind: 'Probe', metadata: { name: 'p' }, spec: { a: 1 } } }), 422);
    expect(err.message).toBe('Probe.test.jadevectordb.io "p" is invalid: spec: Invalid value: "object": no such key: b evaluating rule: a and b must differ');
  });
});
