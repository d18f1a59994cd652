// The observability pack (issue 19): every metric the Grafana dashboard and the alert rules reference
// exists — on a real one-node cluster's /metrics after writes and searches, or among the operator's
// metrics — and `helm template` with the PodMonitors, the PrometheusRule and the dashboard ConfigMap on
// renders valid manifests. No promtool here: the rules get a schema check and a PromQL sanity check.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { defaultSpec } from '../../operator/src/api/validate.js';
import { CLUSTER_LABEL, buildStatefulSet } from '../../operator/src/reconcile/children.js';
import { until } from '../helpers/http-api.js';
import { layerBinary } from '../helpers/layer-binary.js';
import { freeLoopbackPorts } from '../helpers/ports.js';
import { standaloneConfig } from '../api/qdrant-client.suite.js';

const CHART = path.resolve('helm/jadevectordb-operator');
const DASHBOARD = path.join(CHART, 'dashboards/jadevectordb.json');
const ALL_ON = ['monitoring.podMonitor.enabled=true', 'monitoring.prometheusRule.enabled=true', 'monitoring.grafanaDashboard.enabled=true'];

function helm(...args: string[]): string {
  return execFileSync(layerBinary('helm'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HELM_CACHE_HOME: path.join(os.tmpdir(), 'jade-helm-cache'), HELM_CONFIG_HOME: path.join(os.tmpdir(), 'jade-helm-config') } });
}
function render(...sets: string[]): any[] {
  return parseAllDocuments(helm('template', 'rel', CHART, '--namespace', 'jade-system', ...sets.flatMap((s) => ['--set', s])))
    .map((d) => {
      expect(d.errors, 'rendered YAML parses').toEqual([]);
      return d.toJS();
    })
    .filter((d) => d);
}

// ---- PromQL, just enough to find the metric names an expression selects ----

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** Metric names an expression selects (Grafana's $variables and [$__rate_interval] allowed). */
export function metricNamesOf(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/'(?:[^'\\]|\\.)*'/g, "''");
  // Label matchers and range selectors name no metric; nor do the label lists of by/without/on/ignoring/group_*.
  s = s.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const m of s.matchAll(/(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    if (PROMQL_KEYWORDS.has(m[0].toLowerCase())) continue;
    if (s.slice(m.index + m[0].length).trimStart().startsWith('(')) continue; // a function
    names.push(m[0]);
  }
  return names;
}

/** Shape problems of an expression: empty, unbalanced brackets, Helm template left in it. */
function promqlProblems(expr: unknown): string[] {
  if (typeof expr !== 'string' || expr.trim() === '') return ['empty expr'];
  const problems: string[] = [];
  if (expr.includes('{{') || expr.includes('}}')) problems.push('template markers left in expr');
  const stripped = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const c of stripped) {
    if ('([{'.includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) problems.push(`unbalanced ${c}`);
  }
  if (stack.length > 0) problems.push(`unclosed ${stack.join('')}`);
  if (metricNamesOf(expr).length === 0) problems.push('selects no metric');
  return problems;
}

/** Sample names a /metrics text exports, from its # TYPE lines (histograms: _bucket, _sum, _count). */
function exportedSampleNames(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, family, type] = m;
    out.set(family, type);
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) out.set(family + suffix, type);
  }
  return out;
}

/** Names of the operator's metrics, read from its code (collectDefaultMetrics' own under its prefix). */
function operatorMetricNames(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir)) {
      const p = path.join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/new (Gauge|Counter|Histogram|Summary)\(\{\s*name: '([a-z_:][a-z0-9_:]*)'/g)) {
          names.add(m[2]);
          if (m[1] === 'Histogram' || m[1] === 'Summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(m[2] + suffix);
        }
      }
    }
  };
  walk(path.resolve('operator/src'));
  return names;
}

interface Expression { where: string; expr: string }

function dashboardExpressions(dashboard: any): Expression[] {
  const out: Expression[] = [];
  const visit = (panels: any[]): void => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue;
    const m = /^label_values\((.+),\s*\w+\)$/.exec(v.query.query);
    expect(m, `variable ${v.name}: label_values(selector, label)`).not.toBeNull();
    out.push({ where: `variable ${v.name}`, expr: m![1] });
  }
  return out;
}

function ruleExpressions(rule: any): Expression[] {
  return rule.spec.groups.flatMap((g: any) => g.rules.map((r: any) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })));
}

describe('observability pack', () => {
  let dir: string;
  let node: RunningNode;
  let scrape: string;

  const req = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${node.url}${p}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jade-observability-'));
    const [port, grpcPort] = await freeLoopbackPorts(2);
    // A one-node cluster: the Raft, replication and log-append metrics have series too.
    node = await startNode(standaloneConfig({ nodeId: 'n0', dataDir: path.join(dir, 'n0'), port, grpcPort, bootstrap: true }), { clusterLog: () => undefined });
    await until('ready', async () => (await req('GET', '/readyz')).status === 200, 30_000);
    expect((await req('PUT', '/collections/docs', { vectors: { size: 4, distance: 'Cosine' }, shard_number: 2, replication_factor: 1 })).status).toBe(200);
    for (let b = 0; b < 3; b++) {
      const points = Array.from({ length: 20 }, (_, i) => ({ id: b * 20 + i + 1, vector: [Math.cos(i), Math.sin(i), b, 1], payload: { b } }));
      const put = await until('upsert', async () => ((r) => (r.status === 200 ? r : null))(await req('PUT', '/collections/docs/points?wait=true', { points })), 15_000);
      expect(put.status).toBe(200);
    }
    for (let i = 0; i < 3; i++) expect((await req('POST', '/collections/docs/points/search', { vector: [1, 0, 0, 1], limit: 3 })).status).toBe(200);
    expect((await req('POST', '/collections/docs/points/query', { query: [1, 0, 0, 1], limit: 3 })).status).toBe(200);
    scrape = (await req('GET', '/metrics')).body as string;
  }, 60_000);
  afterAll(async () => {
    await node?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the PromQL reader finds metric names, not functions, labels or keywords', () => {
    expect(metricNamesOf('histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"x|y", pod="$pod"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNamesOf('time() - max by (namespace) (b_seconds) > 1e3 and on (x) c offset 5m')).toEqual(['b_seconds', 'c']);
    expect(promqlProblems('sum(rate(x[5m])')).toContain('unclosed (');
    expect(promqlProblems('')).toEqual(['empty expr']);
  });

  it('the node exports the new series after writes and searches', () => {
    const has = (re: RegExp) => expect(scrape, re.source).toMatch(re);
    has(/^jade_raft_is_leader\{group="meta"\} 1$/m);
    has(/^jade_raft_log_append_seconds_count\{group="[^"]+"\} [1-9]/m);
    has(/^jade_index_backlog_points\{collection="docs"\} \d+$/m);
    has(/^jade_data_dir_filesystem_free_bytes [1-9]/m);
    has(/^jade_data_dir_filesystem_size_bytes [1-9]/m);
    has(/^jade_shard_groups_under_replicated 0$/m);
    has(/^jade_shard_replicas_lost 0$/m);
    has(/^jade_collection_points\{collection="docs"\} 60$/m);
    has(/^jade_points_upserted_total\{collection="docs"\} 60$/m);
  });

  it('every dashboard expression is sane and uses only metrics the node exports', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const exported = exportedSampleNames(scrape);
    const exprs = dashboardExpressions(dashboard);
    expect(exprs.length).toBeGreaterThan(30);
    const missing: string[] = [];
    for (const { where, expr } of exprs) {
      expect(promqlProblems(expr), `${where}: ${expr}`).toEqual([]);
      for (const name of metricNamesOf(expr)) if (!exported.has(name)) missing.push(`${where}: ${name}`);
    }
    expect(missing).toEqual([]);
    // The route matchers match the routes the node labels requests with.
    const routes = new Set([...scrape.matchAll(/^jade_http_request_duration_seconds_count\{[^}]*route="([^"]+)"/gm)].map((m) => m[1]));
    const routeMatchers = new Set(exprs.flatMap(({ expr }) => [...expr.matchAll(/route(=~?)"([^"]+)"/g)].map((m) => `${m[1]}${m[2]}`)));
    expect(routeMatchers.size).toBeGreaterThan(0);
    for (const matcher of routeMatchers) {
      const [op, value] = matcher.startsWith('=~') ? ['=~', matcher.slice(2)] : ['=', matcher.slice(1)];
      const matches = [...routes].filter((r) => (op === '=' ? r === value : new RegExp(`^(?:${value})$`).test(r)));
      expect(matches, `route${matcher} matches a scraped route (${[...routes].join(', ')})`).not.toEqual([]);
    }
    // Every panel asks the chosen data source; units are set (names carry units, so do panels).
    const visit = (panels: any[]): void => {
      for (const p of panels ?? []) {
        if (p.type !== 'row') {
          expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
          expect(p.fieldConfig.defaults.unit, p.title).toBeTruthy();
        }
        visit(p.panels);
      }
    };
    visit(dashboard.panels);
    expect(dashboard.panels.filter((p: any) => p.type === 'row').map((p: any) => p.title)).toEqual(['Cluster', 'Collections', 'Nodes']);
  });

  it('helm template with monitoring on renders the PodMonitors, PrometheusRule and dashboard ConfigMap; off by default', () => {
    const kinds = (docs: any[]) => docs.map((d) => `${d.kind}/${d.metadata.name}`);
    for (const k of kinds(render())) expect(k).not.toMatch(/^(PodMonitor|PrometheusRule)\/|-dashboard$/);
    const docs = render(...ALL_ON, 'monitoring.podMonitor.apiKeySecret.name=alpha-api-key', 'monitoring.grafanaDashboard.annotations.grafana_folder=Databases');
    expect(kinds(docs)).toEqual(expect.arrayContaining(['PodMonitor/rel-jadevectordb-operator-nodes', 'PodMonitor/rel-jadevectordb-operator', 'PrometheusRule/rel-jadevectordb-operator', 'ConfigMap/rel-jadevectordb-operator-dashboard']));
    expect(helm('lint', '--strict', CHART, ...ALL_ON.flatMap((s) => ['--set', s]))).toContain('0 chart(s) failed');
    // values.schema.json refuses bad monitoring values.
    for (const bad of ['monitoring.podMonitor.scheme=ftp', 'monitoring.prometheusRule.thresholds.diskFreeRatio=2', 'monitoring.prometheusRule.for.noLeader=soon', 'monitoring.nosuch=1']) {
      expect(() => render(bad), bad).toThrow(/values don't meet the specifications of the schema|additional properties/i);
    }

    // The node PodMonitor selects the pods the operator makes, on their REST port, with the cluster label.
    const nodes = docs.find((d) => d.kind === 'PodMonitor' && d.metadata.name.endsWith('-nodes'));
    expect(nodes.apiVersion).toBe('monitoring.coreos.com/v1');
    const sts: any = buildStatefulSet({ apiVersion: 'jadevectordb.io/v1alpha1', kind: 'VectorCluster', metadata: { name: 'alpha', namespace: 'ns1', uid: 'u1' }, spec: {} }, defaultSpec({}), 3);
    const podLabels = sts.spec.template.metadata.labels;
    expect(podLabels).toMatchObject(nodes.spec.selector.matchLabels);
    expect(nodes.spec.namespaceSelector).toEqual({ any: true });
    const endpoint = nodes.spec.podMetricsEndpoints[0];
    expect(sts.spec.template.spec.containers[0].ports.map((p: any) => p.name)).toContain(endpoint.port);
    expect(endpoint).toMatchObject({ path: '/metrics', scheme: 'http', authorization: { type: 'Bearer', credentials: { name: 'alpha-api-key', key: 'api-key' } } });
    expect(endpoint.relabelings).toEqual([{ sourceLabels: [`__meta_kubernetes_pod_label_${CLUSTER_LABEL.replace(/[^a-zA-Z0-9_]/g, '_')}`], targetLabel: 'cluster' }]);
    const one = render(...ALL_ON, 'monitoring.podMonitor.vectorCluster=alpha', 'monitoring.podMonitor.namespaces={ns1}', 'monitoring.podMonitor.operator=false').filter((d) => d.kind === 'PodMonitor');
    expect(one.length).toBe(1);
    expect(one[0].spec.selector.matchLabels[CLUSTER_LABEL]).toBe('alpha');
    expect(one[0].spec.namespaceSelector).toEqual({ matchNames: ['ns1'] });
    const operator = docs.find((d) => d.kind === 'PodMonitor' && d.metadata.name === 'rel-jadevectordb-operator');
    expect(operator.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', honorLabels: true });
    expect(operator.spec.selector.matchLabels).toEqual(docs.find((d) => d.kind === 'Deployment').spec.selector.matchLabels);

    // The dashboard ConfigMap carries the sidecar's label and the JSON file as it is.
    const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.endsWith('-dashboard'));
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm.metadata.annotations).toEqual({ grafana_folder: 'Databases' });
    expect(JSON.parse(cm.data['jadevectordb.json'])).toEqual(JSON.parse(readFileSync(DASHBOARD, 'utf8')));
  });

  it('the PrometheusRule is well formed and uses only metrics the node or the operator exports', () => {
    const rule = render(...ALL_ON, 'monitoring.prometheusRule.thresholds.tlsExpiryDays=7').find((d) => d.kind === 'PrometheusRule');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    const alerts: string[] = [];
    const groupNames = new Set<string>();
    for (const g of rule.spec.groups) {
      expect(typeof g.name).toBe('string');
      expect(groupNames.has(g.name), `group ${g.name} unique`).toBe(false);
      groupNames.add(g.name);
      expect(Array.isArray(g.rules) && g.rules.length > 0, g.name).toBe(true);
      for (const r of g.rules) {
        expect(Object.keys(r).sort(), r.alert).toEqual(['alert', 'annotations', 'expr', 'for', 'labels']);
        expect(r.alert).toMatch(/^JadeVectorDB[A-Z][A-Za-z]+$/);
        expect(r.for).toMatch(/^([0-9]+(ms|s|m|h|d|w|y))+$/);
        expect(['critical', 'warning', 'info']).toContain(r.labels.severity);
        for (const v of [...Object.values(r.labels), ...Object.values(r.annotations)]) expect(typeof v).toBe('string');
        expect(r.annotations.summary, r.alert).toBeTruthy();
        expect(r.annotations.description, r.alert).toBeTruthy();
        // Alertmanager templates survive Helm's: {{ $labels.x }} / {{ $value }} reach Prometheus as written.
        expect(`${r.annotations.summary}`).not.toContain('<no value>');
        alerts.push(r.alert);
      }
    }
    expect(alerts.sort()).toEqual(['JadeVectorDBBackupTooOld', 'JadeVectorDBDiskNearlyFull', 'JadeVectorDBFollowerLagging', 'JadeVectorDBNoLeader', 'JadeVectorDBShardReplicaLost', 'JadeVectorDBShardUnderReplicated', 'JadeVectorDBTLSCertificateExpiring']);
    expect(rule.spec.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === 'JadeVectorDBTLSCertificateExpiring').expr).toContain(`< ${7 * 86_400}`);

    const node = exportedSampleNames(scrape);
    const operator = operatorMetricNames();
    expect(operator.has('jadevectordb_backup_last_success_timestamp_seconds')).toBe(true);
    // jade_tls_certificate_expiry_seconds has no series without TLS, but the node always exports the family.
    expect(node.get('jade_tls_certificate_expiry_seconds')).toBe('gauge');
    const missing: string[] = [];
    for (const { where, expr } of ruleExpressions(rule)) {
      expect(promqlProblems(expr), `${where}: ${expr}`).toEqual([]);
      for (const name of metricNamesOf(expr)) if (!node.has(name) && !operator.has(name)) missing.push(`${where}: ${name}`);
    }
    expect(missing).toEqual([]);

    // additionalRules land in a group of their own.
    const extra = render('monitoring.prometheusRule.enabled=true', 'monitoring.prometheusRule.additionalRules[0].alert=Custom', 'monitoring.prometheusRule.additionalRules[0].expr=up == 0')
      .find((d) => d.kind === 'PrometheusRule');
    expect(extra.spec.groups.at(-1)).toEqual({ name: 'jadevectordb.additional', rules: [{ alert: 'Custom', expr: 'up == 0' }] });
  });
});
