// `npm run bench` section "selectivity": filtered search over REST at 10%, 1% and 0.1%
// selectivity, on is_tenant keyword fields added to the Fashion-MNIST points, against the
// unfiltered REST pass measured right before it in the same run (same clients, same ef).
//   tenant10   = "t<label>"        10 values, 6,000 points each (10%): a tenant graph each
//   tenant100  = "u<index % 100>"  100 values, 600 each (1%): below the tenant-graph threshold, scanned
//   tenant1000 = "v<index % 1000>" 1,000 values, 60 each (0.1%): scanned
// Query q filters on the value q % (number of values). Ground truth is computed here exactly.
import { type BenchData, K, l2, RECALL_EPSILON } from './lib/data.js';
import { processCpuSeconds, waitUntil } from './lib/rest.js';
import { BACKLOG_POLL_MS, COLLECTION, indexBacklog, INDEX_WAIT_MS_MAX, rssBytes, type RunningServer } from './lib/server.js';
import { renderTable, type Cell } from './lib/table.js';
import { inFlightPool } from './lib/measure.js';

interface SelectivityField {
  field: string;
  selectivity: string;
  /** Values are prefix + 0 .. values-1; query q filters on prefix + (q % values). */
  prefix: string;
  values: number;
  pointValue(data: BenchData, i: number): string;
}

const FIELDS: SelectivityField[] = [
  { field: 'tenant10', selectivity: '10%', prefix: 't', values: 10, pointValue: (d, i) => `t${d.baseLabels[i]}` },
  { field: 'tenant100', selectivity: '1%', prefix: 'u', values: 100, pointValue: (_d, i) => `u${i % 100}` },
  { field: 'tenant1000', selectivity: '0.1%', prefix: 'v', values: 1000, pointValue: (_d, i) => `v${i % 1000}` },
];

/** Point ids per set_payload request (under batchPointsMax). */
const SET_PAYLOAD_IDS_MAX = 5_000;

export interface SelectivityRow {
  pass: string;
  selectivity: string;
  clients: number;
  ef: number;
  queries: number;
  qps: number;
  p50Ms: number;
  p95Ms: number;
  recall: number;
  /** Filtered QPS / unfiltered QPS at the same clients and ef (null for the unfiltered rows). */
  qpsRatio: number | null;
  serverCpuUsPerQuery: number | null;
}

export interface SelectivityReport {
  rows: SelectivityRow[];
  setPayloadSeconds: number;
  /** Index creation until index_backlog 0 (tenant graphs built). */
  tenantIndexSeconds: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  collectionMemoryBeforeBytes: number;
  collectionMemoryAfterBytes: number;
  text: string;
}

/** For tenant10 this is label == q % 10, the filter of the gt10-label file. */
function queryValue(f: SelectivityField, q: number): string {
  return `${f.prefix}${q % f.values}`;
}

/** The 10th-nearest distance among the points with the query's value, per query. */
function exactThresholds(data: BenchData, f: SelectivityField, valueOfPoint: string[], queries: number): Float64Array {
  const byValue = new Map<string, number[]>();
  valueOfPoint.forEach((v, i) => {
    let list = byValue.get(v);
    if (!list) byValue.set(v, (list = []));
    list.push(i);
  });
  const out = new Float64Array(queries);
  for (let q = 0; q < queries; q++) {
    const ids = byValue.get(queryValue(f, q)) ?? [];
    const d = ids.map((i) => l2(data.queries[q], data.base[i])).sort((a, b) => a - b);
    out[q] = d.length >= K ? d[K - 1] : Infinity;
  }
  return out;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function measure(
  s: RunningServer,
  bodies: (q: number) => string,
  queries: number,
  clients: number,
  recallOf: (q: number, ids: number[]) => number,
): Promise<{ qps: number; p50Ms: number; p95Ms: number; recall: number; serverCpuUsPerQuery: number | null }> {
  const path = `/collections/${COLLECTION}/points/query`;
  const latencies = new Float64Array(queries);
  let hits = 0;
  const cpu0 = processCpuSeconds(s.pid);
  const t0 = performance.now();
  await inFlightPool(queries, clients, async (q) => {
    const started = performance.now();
    const r = await s.client.raw('POST', path, bodies(q));
    latencies[q] = performance.now() - started;
    if (r.status !== 200) throw new Error(`query → ${r.status}: ${r.text.slice(0, 300)}`);
    hits += recallOf(q, (JSON.parse(r.text).result.points as { id: number }[]).map((p) => p.id));
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = processCpuSeconds(s.pid);
  latencies.sort();
  return {
    qps: queries / seconds,
    p50Ms: percentile(latencies, 0.5),
    p95Ms: percentile(latencies, 0.95),
    recall: hits / (queries * K),
    serverCpuUsPerQuery: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) / queries) * 1e6,
  };
}

function body(b64: string, ef: number, filter: { key: string; value: string } | null): string {
  const f = filter ? `,"filter":{"must":[{"key":"${filter.key}","match":{"value":"${filter.value}"}}]}` : '';
  return `{"query":"${b64}","limit":${K},"params":{"hnsw_ef":${ef}},"with_payload":false${f}}`;
}

/** Adds the fields, indexes them with is_tenant, waits for the tenant graphs, then measures. */
export async function runSelectivityPasses(
  s: RunningServer,
  data: BenchData,
  queriesB64: string[],
  opts: { queries: number; clients: number[]; efs: number[]; warmup: number; log: (m: string) => void },
): Promise<SelectivityReport> {
  const queries = Math.min(opts.queries, data.queries.length);
  const memoryOf = async () => (await s.client.json('GET', `/v1/collections/${COLLECTION}`)).memory_bytes as number;
  const rssBeforeBytes = await rssBytes(s.client);
  const collectionMemoryBeforeBytes = await memoryOf();

  opts.log(`selectivity: setting ${FIELDS.map((f) => f.field).join(', ')} on ${data.base.length} points`);
  const valuesOfPoint = FIELDS.map((f) => data.base.map((_, i) => f.pointValue(data, i)));
  const t0 = performance.now();
  for (let fi = 0; fi < FIELDS.length; fi++) {
    const byValue = new Map<string, number[]>();
    valuesOfPoint[fi].forEach((v, i) => {
      let list = byValue.get(v);
      if (!list) byValue.set(v, (list = []));
      list.push(i);
    });
    for (const [value, ids] of byValue) {
      for (let start = 0; start < ids.length; start += SET_PAYLOAD_IDS_MAX) {
        await s.client.json('POST', `/collections/${COLLECTION}/points/payload?wait=true`, { payload: { [FIELDS[fi].field]: value }, points: ids.slice(start, start + SET_PAYLOAD_IDS_MAX) });
      }
    }
  }
  const setPayloadSeconds = (performance.now() - t0) / 1000;

  const t1 = performance.now();
  for (const f of FIELDS) {
    await s.client.json('PUT', `/collections/${COLLECTION}/index?wait=true`, { field_name: f.field, field_schema: { type: 'keyword', is_tenant: true } });
  }
  await waitUntil(async () => (await indexBacklog(s.client)) === 0, INDEX_WAIT_MS_MAX, BACKLOG_POLL_MS, 'the tenant graphs to be built');
  const tenantIndexSeconds = (performance.now() - t1) / 1000;
  opts.log(`selectivity: payload set in ${setPayloadSeconds.toFixed(1)} s, is_tenant indexes and tenant graphs ready in ${tenantIndexSeconds.toFixed(1)} s`);
  const rssAfterBytes = await rssBytes(s.client);
  const collectionMemoryAfterBytes = await memoryOf();

  const thresholds = FIELDS.map((f, fi) => exactThresholds(data, f, valuesOfPoint[fi], queries));
  const rows: SelectivityRow[] = [];
  for (const clients of opts.clients) {
    for (const ef of opts.efs) {
      const unfilteredRecall = (q: number, ids: number[]) => ids.filter((id) => l2(data.queries[q], data.base[id]) <= data.thresholdAll[q] + RECALL_EPSILON).length;
      const warm = (b: (q: number) => string) => measure(s, b, Math.min(opts.warmup, queries), clients, () => 0);
      await warm((q) => body(queriesB64[q], ef, null));
      const base = await measure(s, (q) => body(queriesB64[q], ef, null), queries, clients, unfilteredRecall);
      rows.push({ pass: 'unfiltered', selectivity: '100%', clients, ef, queries, ...base, qpsRatio: null });
      for (let fi = 0; fi < FIELDS.length; fi++) {
        const f = FIELDS[fi];
        const bodyOf = (q: number) => body(queriesB64[q], ef, { key: f.field, value: queryValue(f, q) });
        const recallOf = (q: number, ids: number[]) =>
          ids.filter((id) => valuesOfPoint[fi][id] === queryValue(f, q) && l2(data.queries[q], data.base[id]) <= thresholds[fi][q] + RECALL_EPSILON).length;
        await warm(bodyOf);
        const m = await measure(s, bodyOf, queries, clients, recallOf);
        rows.push({ pass: f.field, selectivity: f.selectivity, clients, ef, queries, ...m, qpsRatio: m.qps / base.qps });
      }
      opts.log(`selectivity: ${clients} client(s), ef ${ef} done`);
    }
  }

  const tableRows: Cell[][] = rows.map((r) => [
    r.pass,
    r.selectivity,
    r.clients,
    r.ef,
    Math.round(r.qps),
    Number(r.p50Ms.toFixed(2)),
    Number(r.p95Ms.toFixed(2)),
    Number(r.recall.toFixed(3)),
    r.qpsRatio === null ? null : `${Math.round(r.qpsRatio * 100)}%`,
    r.serverCpuUsPerQuery === null ? null : Math.round(r.serverCpuUsPerQuery),
  ]);
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  const text = [
    renderTable(
      `Filtered search by selectivity over REST (is_tenant keyword fields; ${queries} queries per row; ratio = filtered QPS / unfiltered QPS, same clients and ef, same run)`,
      ['filter', 'selectivity', 'clients', 'ef', 'QPS', 'p50 ms', 'p95 ms', 'recall@10', 'QPS vs unfiltered', 'server CPU µs/q'],
      tableRows,
    ),
    `selectivity fields: set_payload ${setPayloadSeconds.toFixed(1)} s; is_tenant index creation until the tenant graphs were built ${tenantIndexSeconds.toFixed(1)} s; ` +
      `collection memory (vectors + graphs) ${mib(collectionMemoryBeforeBytes)} → ${mib(collectionMemoryAfterBytes)} MiB; RSS ${mib(rssBeforeBytes)} → ${mib(rssAfterBytes)} MiB`,
  ].join('\n');
  return { rows, setPayloadSeconds, tenantIndexSeconds, rssBeforeBytes, rssAfterBytes, collectionMemoryBeforeBytes, collectionMemoryAfterBytes, text };
}

const SELECTIVITY_RECALL_TARGET = 0.95;
const SELECTIVITY_QPS_RATIO_TARGET = 0.5;

/**
 * Issue 17's targets: per selectivity and client count, the fastest filtered row with recall@10
 * ≥ 0.95 against the fastest unfiltered row with that recall (same clients, same run).
 */
export function selectivityTargets(report: SelectivityReport): { target: string; verdict: 'PASS' | 'MISS' | 'N/A'; detail: string }[] {
  const out: { target: string; verdict: 'PASS' | 'MISS' | 'N/A'; detail: string }[] = [];
  const best = (pass: string, clients: number) =>
    report.rows.filter((r) => r.pass === pass && r.clients === clients && r.recall >= SELECTIVITY_RECALL_TARGET).sort((a, b) => b.qps - a.qps)[0] ?? null;
  for (const clients of [...new Set(report.rows.map((r) => r.clients))]) {
    const base = best('unfiltered', clients);
    for (const f of FIELDS) {
      const target = `filtered ${f.selectivity} (${f.field}), ${clients} client${clients === 1 ? '' : 's'}: recall ≥ ${SELECTIVITY_RECALL_TARGET} at QPS ≥ ${SELECTIVITY_QPS_RATIO_TARGET * 100}% of unfiltered`;
      const row = best(f.field, clients);
      if (!base || !row) {
        out.push({ target, verdict: base ? 'MISS' : 'N/A', detail: base ? 'no ef reached the recall' : 'unfiltered never reached the recall' });
        continue;
      }
      const ratio = row.qps / base.qps;
      out.push({
        target,
        verdict: ratio >= SELECTIVITY_QPS_RATIO_TARGET ? 'PASS' : 'MISS',
        detail: `${Math.round(row.qps)} QPS (ef ${row.ef}, recall ${row.recall.toFixed(3)}) vs unfiltered ${Math.round(base.qps)} QPS (ef ${base.ef}, recall ${base.recall.toFixed(3)}) = ${Math.round(ratio * 100)}%`,
      });
    }
  }
  return out;
}
