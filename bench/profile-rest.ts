// Where does a REST search spend its time? Starts a node, loads the data and waits for the graph,
// then restarts it under V8's --cpu-prof and sends base64 queries (1 client, keep-alive).
// The profile is cut to the query phase (first to last sample inside the query handler) and
// each sample is charged to the pipeline steps its stack passes through (inclusive), plus the
// top self-time functions. Run: node --import tsx bench/profile-rest.ts [--base N --queries N]
import { Command } from 'commander';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBenchData } from './lib/data.js';
import { measureAsync } from './lib/measure.js';
import { encodeQueries, ingest, restTarget, startServer, stopServer, type RunningServer } from './lib/server.js';
import { renderTable } from './lib/table.js';
import { startNodeProcess } from '../test/helpers/node-process.js';
import { RestClient, waitUntil } from './lib/rest.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Pipeline steps, matched against any frame of a sample's stack (so they may overlap). */
const STEPS: { step: string; match: (fn: string, url: string) => boolean }[] = [
  { step: 'route handler (queryVector + parseSearch + runSearch)', match: (fn, url) => url.includes('api/rest/app.ts') && /points\/query|runSearch|parseSearch|queryVector/.test(fn) },
  { step: 'ShardState.search', match: (fn, url) => url.includes('shard/state.ts') && fn === 'search' },
  { step: 'hnswlib searchKnn (native)', match: (fn) => fn === 'searchKnn' },
  { step: 'Float32Array → number[] (HnswIndex.fill)', match: (fn, url) => url.includes('index/hnsw.ts') && fn === 'fill' },
  { step: 'query finite check / backlog merge', match: (fn, url) => url.includes('shard/state.ts') && fn === 'withBacklog' },
  { step: 'parseVector (base64 → Float32Array)', match: (fn) => fn === 'parseVector' },
  { step: 'parseFilter', match: (fn) => fn === 'parseFilter' },
  { step: 'result points (pointOut/selectPayload)', match: (fn) => fn === 'pointOut' || fn === 'selectPayload' || fn === 'pointByLabel' },
  { step: 'body JSON parse (content-type parser)', match: (fn, url) => (url.includes('secure-json-parse') || url.includes('contentTypeParser')) || fn === 'defaultJsonParser' },
  { step: 'body schema validation (ajv)', match: (fn, url) => url.includes('fastify/lib/validation') || (url.includes('ajv') && fn !== '') },
  { step: 'response serialization (fast-json-stringify)', match: (fn, url) => url.includes('fast-json-stringify') || (url.includes('fastify/lib') && /serialize/i.test(fn)) },
  { step: 'fastify routing/hooks/reply (lib)', match: (_fn, url) => url.includes('node_modules/fastify/') || url.includes('find-my-way') || url.includes('avvio') },
  { step: 'metrics (prom-client)', match: (_fn, url) => url.includes('prom-client') },
  { step: 'auth check', match: (_fn, url) => url.includes('security/auth.ts') },
  { step: 'node http/net/stream internals', match: (_fn, url) => /node:_http|node:net|node:internal\/(streams|http|stream_base|net)|node:_stream/.test(url) },
  { step: 'garbage collector', match: (fn) => fn === '(garbage collector)' },
];

function analyze(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number) => {
    const out: ProfileNode[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) out.push(byId.get(cur)!);
    return out;
  };
  const handler = STEPS[0];
  const inHandler = (id: number) => stackOf(id).some((f) => handler.match(f.callFrame.functionName, f.callFrame.url));
  // The query phase: first to last sample inside the query handler (startup and shutdown excluded).
  let first = -1;
  let last = -1;
  profile.samples.forEach((id, i) => {
    if (inHandler(id)) {
      if (first < 0) first = i;
      last = i;
    }
  });
  const stepUs = new Map<string, number>();
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (let i = first; i <= last; i++) {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const stack = stackOf(profile.samples[i]);
    const leaf = stack[0].callFrame;
    if (leaf.functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    totalUs += dt;
    const selfKey = `${leaf.functionName || '(anonymous)'} ${leaf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/node\/src\//, '')}:${leaf.lineNumber + 1}`;
    selfUs.set(selfKey, (selfUs.get(selfKey) ?? 0) + dt);
    for (const s of STEPS) {
      if (stack.some((f) => s.match(f.callFrame.functionName, f.callFrame.url))) stepUs.set(s.step, (stepUs.get(s.step) ?? 0) + dt);
    }
  }
  return { totalUs, idleUs, stepUs, selfUs };
}

async function main() {
  const o = new Command('profile-rest')
    .option('--base <n>', 'base vectors', '60000')
    .option('--queries <n>', 'queries sent under the profiler', '5000')
    .option('--ef <n>', 'hnsw_ef of the queries', '32')
    .parse(process.argv)
    .opts();
  const data = loadBenchData(Number(o.base), Math.min(Number(o.queries), 10_000));
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'jade-profile-node-'));
  const profDir = mkdtempSync(path.join(os.tmpdir(), 'jade-profile-cpu-'));
  let server: RunningServer | null = null;
  try {
    server = await startServer(dataDir);
    const ing = await ingest(server, data, { m: 16, efConstruction: 200 }, 1000, 4);
    process.stderr.write(`loaded ${data.base.length} in ${ing.indexedSeconds.toFixed(1)} s; restarting under --cpu-prof\n`);
    await stopServer(server, 'sigterm');
    server = null;
    const proc = await startNodeProcess({ dataDir, env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profDir} --cpu-prof-interval=200` } });
    const client = new RestClient(proc.url);
    await waitUntil(async () => (await client.raw('GET', '/readyz')).status === 200, 120_000, 20, '/readyz');
    server = { proc, client, pid: proc.child.pid! };
    const target = restTarget(server, data, encodeQueries(data), 1);
    const ef = Number(o.ef);
    const m = await measureAsync(data, data.queries.length, false, 1, (q) => target.search(q, ef) as Promise<number[]>, server.pid);
    await stopServer(server, 'sigterm');
    server = null;
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
    const a = analyze(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile);
    const perQuery = (us: number) => us / data.queries.length;
    console.log(`REST 1 client, ef ${ef}, ${data.queries.length} queries: ${Math.round(m.qps)} QPS, recall ${m.recall.toFixed(4)}, server CPU ${Math.round(m.serverCpuUsPerQuery ?? 0)} µs/q, client CPU ${Math.round(m.clientCpuUsPerQuery)} µs/q`);
    console.log(`server profile over the query phase: ${Math.round(perQuery(a.totalUs))} µs busy + ${Math.round(perQuery(a.idleUs))} µs idle per query`);
    console.log(
      renderTable(
        'Server time per query by pipeline step (inclusive; steps nest and overlap)',
        ['step', 'µs/query', '% of busy'],
        STEPS.map((s) => [s.step, Number(perQuery(a.stepUs.get(s.step) ?? 0).toFixed(1)), Number((((a.stepUs.get(s.step) ?? 0) / a.totalUs) * 100).toFixed(1))]),
      ),
    );
    const top = [...a.selfUs.entries()].sort((x, y) => y[1] - x[1]).slice(0, 25);
    console.log(renderTable('Top self time', ['function', 'µs/query', '% of busy'], top.map(([k, v]) => [k, Number(perQuery(v).toFixed(1)), Number(((v / a.totalUs) * 100).toFixed(1))])));
  } finally {
    if (server) await stopServer(server, 'sigterm').catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(profDir, { recursive: true, force: true });
  }
}

await main();
