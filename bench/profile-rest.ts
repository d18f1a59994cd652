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
import { encodeQueries, ingest, restTarget, startNodeWithFlags, startServer, stopServer, type RunningServer } from './lib/server.js';
import { renderTable } from './lib/table.js';
import { waitUntil } from './lib/rest.js';

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

/**
 * Buckets for a sample: walking its stack from the leaf up, the first frame that matches a rule
 * owns the sample, so the buckets partition the busy time (the query window is found by WINDOW).
 */
const BUCKETS: { bucket: string; match: (fn: string, url: string) => boolean }[] = [
  { bucket: 'HNSW search (hnswlib-node searchKnn, native)', match: (fn, url) => url.includes('index/hnsw.ts') && fn === 'search' },
  { bucket: 'HnswIndex.fill (Float32Array → number[])', match: (fn, url) => url.includes('index/hnsw.ts') && fn === 'fill' },
  { bucket: 'pointByLabel (copies the stored vector per hit)', match: (fn) => fn === 'pointByLabel' },
  { bucket: 'ShardState.search (rest: checks, ids)', match: (_fn, url) => url.includes('shard/') },
  { bucket: 'parseVector (base64 regex + decode + finite check)', match: (fn) => fn === 'parseVector' },
  { bucket: 'route handler (rest of app.ts / convert.ts)', match: (_fn, url) => url.includes('api/rest/') || url.includes('cluster/') },
  { bucket: 'body JSON parse', match: (fn, url) => url.includes('secure-json-parse') || url.includes('contentTypeParser') || fn === 'parse' },
  { bucket: 'schema validation (ajv)', match: (_fn, url) => url.includes('fastify/lib/validation') || url.includes('/ajv/') },
  { bucket: 'response serialization (fast-json-stringify)', match: (fn, url) => url.includes('fast-json-stringify') || (url.includes('fastify/lib') && /serializ/i.test(fn)) },
  { bucket: 'metrics (prom-client histogram)', match: (_fn, url) => url.includes('prom-client') },
  { bucket: 'logging (pino)', match: (_fn, url) => url.includes('/pino') },
  { bucket: 'auth check', match: (_fn, url) => url.includes('security/auth.ts') },
  { bucket: 'socket writes (native write syscalls: loopback TCP, waking the client)', match: (fn) => /^(writeString|writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString)$/.test(fn) },
  { bucket: 'fastify core (routing, hooks, reply)', match: (_fn, url) => url.includes('node_modules/fastify/') || url.includes('find-my-way') || url.includes('avvio') || url.includes('light-my-request') },
  { bucket: 'node http/net/streams (parse, write path)', match: (_fn, url) => url.startsWith('node:') },
  { bucket: 'garbage collector', match: (fn) => fn === '(garbage collector)' },
];

/** The query phase: first to last sample whose stack is inside runSearch. */
const WINDOW = (fn: string, url: string) => url.includes('api/rest/app.ts') && fn === 'runSearch';

/** Buckets of the ingest phase (durable upserts while the background indexer runs). */
const INGEST_BUCKETS: typeof BUCKETS = [
  { bucket: 'background HNSW insert (indexSome → hnswlib addPoint)', match: (fn) => fn === 'indexSome' },
  { bucket: 'parseVector (base64 regex + readFloatLE loop + finite check)', match: (fn) => fn === 'parseVector' },
  { bucket: 'validateBatch (ids, finite check, payload size)', match: (fn, url) => url.includes('shard/state.ts') && /validate/.test(fn) },
  { bucket: 'apply (arena copy, maps, payload)', match: (fn, url) => url.includes('shard/state.ts') && /apply|upsertOne/.test(fn) },
  { bucket: 'WAL encode + CRC + append (storage/)', match: (_fn, url) => url.includes('/storage/') || url.includes('@node-rs/crc32') || url.includes('flatbuffers') },
  { bucket: 'fsync / file writes (native)', match: (fn) => /^(fsync|fdatasync|writeBuffer|writeBuffers|write)$/.test(fn) },
  { bucket: 'body JSON parse', match: (fn, url) => url.includes('secure-json-parse') || url.includes('contentTypeParser') || fn === 'parse' },
  { bucket: 'schema validation (ajv)', match: (_fn, url) => url.includes('fastify/lib/validation') || url.includes('/ajv/') },
  { bucket: 'route handler (parsePointId, parsePayload, ...)', match: (_fn, url) => url.includes('api/rest/') || url.includes('shard/') || url.includes('cluster/') },
  { bucket: 'fastify core', match: (_fn, url) => url.includes('node_modules/fastify/') },
  { bucket: 'node internals (http body read, streams)', match: (_fn, url) => url.startsWith('node:') },
  { bucket: 'garbage collector', match: (fn) => fn === '(garbage collector)' },
];

/** The acknowledged-ingest phase: first to last sample inside parseVector or the WAL. */
const INGEST_WINDOW = (fn: string, url: string) => fn === 'parseVector' || url.includes('storage/wal.ts');

function analyze(profile: CpuProfile, window = WINDOW, buckets = BUCKETS) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = (id: number) => {
    const out: ProfileNode[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) out.push(byId.get(cur)!);
    return out;
  };
  let first = -1;
  let last = -1;
  profile.samples.forEach((id, i) => {
    if (stackOf(id).some((f) => window(f.callFrame.functionName, f.callFrame.url))) {
      if (first < 0) first = i;
      last = i;
    }
  });
  const bucketUs = new Map<string, number>();
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
    const selfKey = `${leaf.functionName || '(anonymous)'} ${leaf.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/node\/src\//, '')}`;
    selfUs.set(selfKey, (selfUs.get(selfKey) ?? 0) + dt);
    let bucket = 'other';
    outer: for (const f of stack) {
      for (const b of buckets) {
        if (b.match(f.callFrame.functionName, f.callFrame.url)) {
          bucket = b.bucket;
          break outer;
        }
      }
    }
    bucketUs.set(bucket, (bucketUs.get(bucket) ?? 0) + dt);
  }
  return { totalUs, idleUs, bucketUs, selfUs };
}

async function main() {
  const o = new Command('profile-rest')
    .option('--base <n>', 'base vectors', '60000')
    .option('--queries <n>', 'queries sent under the profiler', '5000')
    .option('--ef <n>', 'hnsw_ef of the queries', '32')
    .option('--log-level <level>', 'log level of the profiled node (info is the default of npm start)', 'info')
    .option('--phase <phase>', 'query (search requests) or ingest (durable batch upserts with the indexer running)', 'query')
    .parse(process.argv)
    .opts();
  // Recall is not the point here: skip the ground truth (an exact scan for a partial base).
  const data = loadBenchData(Number(o.base), Math.min(Number(o.queries), 10_000), false);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'jade-profile-node-'));
  const profDir = mkdtempSync(path.join(os.tmpdir(), 'jade-profile-cpu-'));
  let server: RunningServer | null = null;
  try {
    if (o.phase === 'ingest') {
      server = await startNodeWithFlags(dataDir, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500'], o.logLevel);
      const ing = await ingest(server, data, { m: 16, efConstruction: 200 }, 1000, 4);
      await stopServer(server, 'sigterm');
      server = null;
      const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
      const a = analyze(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile, INGEST_WINDOW, INGEST_BUCKETS);
      const perThousand = (us: number) => (us / data.base.length) * 1000 / 1000; // ms per 1000 vectors
      console.log(`node log level ${o.logLevel}; ingest of ${data.base.length}: ${Math.round(ing.ackVectorsPerSecond)} vectors/s acknowledged, ${ing.indexedSeconds.toFixed(1)} s until indexed`);
      console.log(`server profile over the acknowledged phase: ${(a.totalUs / 1e6).toFixed(2)} s busy + ${(a.idleUs / 1e6).toFixed(2)} s idle`);
      const rows = [...a.bucketUs.entries()].sort((x, y) => y[1] - x[1]);
      console.log(renderTable('Server CPU during acknowledged ingest (ms per 1000 vectors)', ['step', 'ms/1000 vectors', '% of busy'], rows.map(([k, v]) => [k, Number(perThousand(v).toFixed(2)), Number(((v / a.totalUs) * 100).toFixed(1))])));
      return;
    }
    server = await startServer(dataDir, o.logLevel);
    const ing = await ingest(server, data, { m: 16, efConstruction: 200 }, 1000, 4);
    process.stderr.write(`loaded ${data.base.length} in ${ing.indexedSeconds.toFixed(1)} s; restarting under --cpu-prof\n`);
    await stopServer(server, 'sigterm');
    server = null;
    server = await startNodeWithFlags(dataDir, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=200'], o.logLevel);
    const client = server.client;
    await waitUntil(async () => (await client.raw('GET', '/readyz')).status === 200, 120_000, 20, '/readyz');
    const target = restTarget(server, data, encodeQueries(data), 1);
    const ef = Number(o.ef);
    const m = await measureAsync(data, data.queries.length, false, 1, (q) => target.search(q, ef) as Promise<number[]>, server.pid);
    await stopServer(server, 'sigterm');
    server = null;
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
    const a = analyze(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile);
    const perQuery = (us: number) => us / data.queries.length;
    console.log(`node log level ${o.logLevel}; REST 1 client, ef ${ef}, ${data.queries.length} queries: ${Math.round(m.qps)} QPS, server CPU ${Math.round(m.serverCpuUsPerQuery ?? 0)} µs/q, client CPU ${Math.round(m.clientCpuUsPerQuery)} µs/q`);
    console.log(`server profile over the query phase: ${Math.round(perQuery(a.totalUs))} µs busy + ${Math.round(perQuery(a.idleUs))} µs idle per query`);
    const buckets = [...a.bucketUs.entries()].sort((x, y) => y[1] - x[1]);
    console.log(
      renderTable(
        'Server CPU per query by step (each sample charged to the innermost matching frame)',
        ['step', 'µs/query', '% of busy'],
        buckets.map(([k, v]) => [k, Number(perQuery(v).toFixed(1)), Number(((v / a.totalUs) * 100).toFixed(1))]),
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
