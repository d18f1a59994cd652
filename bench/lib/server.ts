// A real JadeVectorDB node for the REST part of the benchmark: durable batch ingest with base64
// vectors, the REST search target, memory from /v1/status, and restart-to-ready timings.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { REPO_ROOT, nodeProcessHandle, type NodeProcess } from '../../test/helpers/node-process.js';
import { encodeVectorBase64 } from '../../node/src/cli/import.js';
import { withNodeProcessEnv, withNodeProcessFlags } from '../../node/src/cli/node-env.js';
import { type BenchData, K } from './data.js';
import type { GraphParams, Target } from './targets.js';
import { RestClient, waitUntil } from './rest.js';
import { inFlightPool } from './measure.js';

export const COLLECTION = 'fashion';
/** Longest wait for the background HNSW build to drain after ingest or a restart. */
export const INDEX_WAIT_MS_MAX = 30 * 60_000;
export const READY_POLL_MS = 10;
export const BACKLOG_POLL_MS = 250;
export const START_TIMEOUT_MS = 10 * 60_000;
/** Tail of a node's output kept for error messages. */
export const OUTPUT_KEPT_CHARS = 64 * 1024;

export interface RunningServer {
  proc: NodeProcess;
  client: RestClient;
  /** The node's client gRPC API port (Qdrant's gRPC services). */
  grpcPort: number;
  pid: number;
}

/** Starts `node/src/main.ts` as `npm start` would, with the given log level. */
export async function startServer(dataDir: string, logLevel: string): Promise<RunningServer> {
  return startNodeWithFlags(dataDir, [], logLevel);
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Like startNodeProcess, with extra flags for node itself (e.g. --cpu-prof, which NODE_OPTIONS
 * refuses) and any log level: it picks a free port and polls /healthz instead of reading the
 * "listening on" log line (which a warn level hides).
 */
export async function startNodeWithFlags(dataDir: string, nodeArgs: string[], logLevel = 'info'): Promise<RunningServer> {
  const port = await freePort();
  const grpcPort = await freePort();
  const child = spawn(process.execPath, withNodeProcessFlags([...nodeArgs, '--import', 'tsx', path.join(REPO_ROOT, 'node/src/main.ts'), '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port), '--api-grpc-port', String(grpcPort), '--log-level', logLevel]), {
    cwd: REPO_ROOT,
    env: withNodeProcessEnv({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-OUTPUT_KEPT_CHARS)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-OUTPUT_KEPT_CHARS)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const client = new RestClient(url);
  let exitCode: number | null | undefined;
  void exited.then((c) => (exitCode = c));
  await waitUntil(async () => exitCode !== undefined || (await client.raw('GET', '/healthz')).status === 200, START_TIMEOUT_MS, READY_POLL_MS, `${url}/healthz`);
  if (exitCode !== undefined) throw new Error(`node exited with ${exitCode} before listening:\n${out}`);
  const proc = nodeProcessHandle(url, child, exited, () => out);
  return { proc, client, grpcPort, pid: child.pid! };
}

export async function stopServer(s: RunningServer, how: 'sigterm' | 'kill9'): Promise<number> {
  const t0 = performance.now();
  s.client.close();
  if (how === 'kill9') await s.proc.kill9();
  else await s.proc.stop();
  return (performance.now() - t0) / 1000;
}

export async function indexBacklog(client: RestClient): Promise<number> {
  const r = await client.json('GET', `/v1/collections/${COLLECTION}`);
  return r.index_backlog as number;
}

export async function rssBytes(client: RestClient): Promise<number> {
  return (await client.json('GET', '/v1/status')).memory.rssBytes as number;
}

export interface IngestReport {
  vectors: number;
  batchPoints: number;
  requestsInFlight: number;
  /** From the first request sent to the last acknowledgement (durable: fsynced). */
  ackSeconds: number;
  ackVectorsPerSecond: number;
  /** From the first request sent until index_backlog reached 0. */
  indexedSeconds: number;
  indexedVectorsPerSecond: number;
  /** Client CPU seconds spent on encoding bodies (done before timing starts). */
  encodeSeconds: number;
}

/** Creates the collection and upserts every base vector in `batch` form with base64 vectors. */
export async function ingest(s: RunningServer, data: BenchData, g: GraphParams, batchPoints: number, inFlight: number): Promise<IngestReport> {
  await s.client.json('PUT', `/collections/${COLLECTION}`, { vectors: { size: data.dimension, distance: 'Euclid' }, hnsw_config: { m: g.m, ef_construct: g.efConstruction } });
  const e0 = performance.now();
  const bodies: string[] = [];
  for (let start = 0; start < data.base.length; start += batchPoints) {
    const ids: number[] = [];
    const vectors: string[] = [];
    const payloads: { label: number }[] = [];
    for (let i = start; i < Math.min(start + batchPoints, data.base.length); i++) {
      ids.push(i);
      vectors.push(encodeVectorBase64(data.base[i]));
      payloads.push({ label: data.baseLabels[i] });
    }
    bodies.push(JSON.stringify({ batch: { ids, vectors, payloads } }));
  }
  const encodeSeconds = (performance.now() - e0) / 1000;
  const t0 = performance.now();
  await inFlightPool(bodies.length, inFlight, async (b) => {
    const r = await s.client.raw('PUT', `/collections/${COLLECTION}/points?wait=true`, bodies[b]);
    if (r.status !== 200) throw new Error(`ingest batch ${b} → ${r.status}: ${r.text.slice(0, 300)}`);
  });
  const t1 = performance.now();
  await waitUntil(async () => (await indexBacklog(s.client)) === 0, INDEX_WAIT_MS_MAX, BACKLOG_POLL_MS, 'the index backlog to drain');
  const t2 = performance.now();
  const n = data.base.length;
  return {
    vectors: n,
    batchPoints,
    requestsInFlight: inFlight,
    ackSeconds: (t1 - t0) / 1000,
    ackVectorsPerSecond: n / ((t1 - t0) / 1000),
    indexedSeconds: (t2 - t0) / 1000,
    indexedVectorsPerSecond: n / ((t2 - t0) / 1000),
    encodeSeconds,
  };
}

export function encodeQueries(data: BenchData): string[] {
  return data.queries.map(encodeVectorBase64);
}

export function queryBody(b64: string, ef: number, filterLabel: number | null): string {
  const filter = filterLabel === null ? '' : `,"filter":{"must":[{"key":"label","match":{"value":${filterLabel}}}]}`;
  return `{"query":"${b64}","limit":${K},"params":{"hnsw_ef":${ef}},"with_payload":false${filter}}`;
}

/** POST /collections/x/points/query with the base64 query, `concurrency` requests in flight. */
export function restTarget(s: RunningServer, data: BenchData, queriesB64: string[], concurrency: number): Target & { concurrency: number } {
  const path = `/collections/${COLLECTION}/points/query`;
  const call = async (body: string) => {
    const r = await s.client.raw('POST', path, body);
    if (r.status !== 200) throw new Error(`query → ${r.status}: ${r.text.slice(0, 300)}`);
    return (JSON.parse(r.text).result.points as { id: number }[]).map((p) => p.id);
  };
  return {
    name: `REST ${concurrency} client${concurrency === 1 ? '' : 's'}`,
    isAsync: true,
    concurrency,
    build: { seconds: 0, vectorsPerSecond: 0, notes: '' },
    search: (q, ef) => call(queryBody(queriesB64[q], ef, null)),
    searchFiltered: (q, ef) => call(queryBody(queriesB64[q], ef, data.filterLabel(q))),
  };
}

export interface RestartReport {
  how: 'sigterm' | 'kill9';
  stopSeconds: number;
  /** Spawn → GET /readyz answers 200. */
  readySeconds: number;
  /** Spawn → first search answered 200. */
  firstSearchSeconds: number;
  /** Spawn → index_backlog 0 (the graph complete again), or null when it did not drain in time. */
  indexedSeconds: number | null;
  pointsAfter: number;
}

/** Stops the node (SIGTERM checkpoints; kill -9 leaves the WAL to replay), starts it again, times readiness. */
export async function restart(s: RunningServer, dataDir: string, logLevel: string, how: 'sigterm' | 'kill9', queryB64: string, indexWaitMs: number): Promise<{ server: RunningServer; report: RestartReport }> {
  const stopSeconds = await stopServer(s, how);
  const t0 = performance.now();
  const server = await startServer(dataDir, logLevel);
  await waitUntil(async () => (await server.client.raw('GET', '/readyz')).status === 200, START_TIMEOUT_MS, READY_POLL_MS, '/readyz');
  const t1 = performance.now();
  await waitUntil(async () => (await server.client.raw('POST', `/collections/${COLLECTION}/points/query`, queryBody(queryB64, 64, null))).status === 200, START_TIMEOUT_MS, READY_POLL_MS, 'a search to succeed');
  const t2 = performance.now();
  let indexedSeconds: number | null = null;
  try {
    await waitUntil(async () => (await indexBacklog(server.client)) === 0, indexWaitMs, BACKLOG_POLL_MS, 'the index backlog to drain');
    indexedSeconds = (performance.now() - t0) / 1000;
  } catch {
    indexedSeconds = null;
  }
  const info = await server.client.json('GET', `/collections/${COLLECTION}`);
  return {
    server,
    report: { how, stopSeconds, readySeconds: (t1 - t0) / 1000, firstSearchSeconds: (t2 - t0) / 1000, indexedSeconds, pointsAfter: info.result.points_count },
  };
}

export async function createLabelIndex(s: RunningServer): Promise<number> {
  const t0 = performance.now();
  await s.client.json('PUT', `/collections/${COLLECTION}/index?wait=true`, { field_name: 'label', field_schema: 'integer' });
  return (performance.now() - t0) / 1000;
}

/** POST /collections/x/points/query/batch with `size` base64 queries per request, one request in flight. */
export function restBatchTarget(s: RunningServer, data: BenchData, queriesB64: string[], size: number): Target & { concurrency: number } {
  const path = `/collections/${COLLECTION}/points/query/batch`;
  const search = async (qs: number[], ef: number, filtered: boolean) => {
    const body = `{"searches":[${qs.map((q) => queryBody(queriesB64[q], ef, filtered ? data.filterLabel(q) : null)).join(',')}]}`;
    const r = await s.client.raw('POST', path, body);
    if (r.status !== 200) throw new Error(`query/batch → ${r.status}: ${r.text.slice(0, 300)}`);
    return (JSON.parse(r.text).result as { points: { id: number }[] }[]).map((x) => x.points.map((p) => p.id));
  };
  const one = async (q: number, ef: number, filtered: boolean) => (await search([q], ef, filtered))[0];
  return {
    name: `REST batch ${size}/request`,
    isAsync: true,
    concurrency: 1,
    build: { seconds: 0, vectorsPerSecond: 0, notes: '' },
    search: (q, ef) => one(q, ef, false),
    searchFiltered: (q, ef) => one(q, ef, true),
    batch: { size, search },
  };
}
