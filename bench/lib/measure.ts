// Timed search loops: every query once, one at a time (sync targets) or with N requests in
// flight (async targets), recording ids for recall and CPU seconds of this process and, for
// REST, of the server process, so the cost of the client sharing the cores is visible.
import { type BenchData, ResultIds, recallAt10 } from './data.js';
import { processCpuSeconds } from './rest.js';

export interface SearchMeasurement {
  queries: number;
  seconds: number;
  qps: number;
  recall: number;
  /** CPU µs this (client) process spent per query. */
  clientCpuUsPerQuery: number;
  /** CPU µs the server process spent per query (REST only). */
  serverCpuUsPerQuery: number | null;
}

export type Ids = ArrayLike<number | bigint>;

function cpuSecondsHere(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function finish(data: BenchData, results: ResultIds, filtered: boolean, seconds: number, cpu: number, serverCpu: number | null): SearchMeasurement {
  const n = results.queryCount;
  return {
    queries: n,
    seconds,
    qps: n / seconds,
    recall: recallAt10(data, results, filtered),
    clientCpuUsPerQuery: (cpu / n) * 1e6,
    serverCpuUsPerQuery: serverCpu === null ? null : (serverCpu / n) * 1e6,
  };
}

/** Runs `search(q)` for q in [0, queryCount) back to back on this thread. */
export function measureSync(data: BenchData, queryCount: number, filtered: boolean, search: (q: number) => Ids): SearchMeasurement {
  const results = new ResultIds(queryCount);
  const cpu0 = cpuSecondsHere();
  const t0 = performance.now();
  for (let q = 0; q < queryCount; q++) results.set(q, search(q));
  const seconds = (performance.now() - t0) / 1000;
  return finish(data, results, filtered, seconds, cpuSecondsHere() - cpu0, null);
}

/** Runs `search(q)` with `concurrency` calls in flight; `serverPid` adds the server's CPU time. */
export async function measureAsync(
  data: BenchData,
  queryCount: number,
  filtered: boolean,
  concurrency: number,
  search: (q: number) => Promise<Ids>,
  serverPid?: number,
): Promise<SearchMeasurement> {
  const results = new ResultIds(queryCount);
  const server0 = serverPid === undefined ? null : processCpuSeconds(serverPid);
  const cpu0 = cpuSecondsHere();
  const t0 = performance.now();
  await inFlightPool(queryCount, concurrency, async (q) => results.set(q, await search(q)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSecondsHere() - cpu0;
  const server1 = serverPid === undefined ? null : processCpuSeconds(serverPid);
  return finish(data, results, filtered, seconds, cpu, server0 === null || server1 === null ? null : server1 - server0);
}

/** Calls `task(i)` for i = 0 … count-1, `inFlight` calls at a time; rejects with the first failure. */
export async function inFlightPool(count: number, inFlight: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

/** Runs the first `count` queries untimed, so JIT, caches and sockets are warm. */
export async function warmUp(count: number, search: (q: number) => Ids | Promise<Ids>): Promise<void> {
  for (let q = 0; q < count; q++) await search(q);
}

/** Sends queries in groups of `batch` per call (e.g. /points/query/batch), `concurrency` calls in flight. */
export async function measureBatched(
  data: BenchData,
  queryCount: number,
  filtered: boolean,
  batch: number,
  concurrency: number,
  search: (qs: number[]) => Promise<Ids[]>,
  serverPid?: number,
): Promise<SearchMeasurement> {
  const results = new ResultIds(queryCount);
  let next = 0;
  const server0 = serverPid === undefined ? null : processCpuSeconds(serverPid);
  const cpu0 = cpuSecondsHere();
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const start = next;
      if (start >= queryCount) return;
      next = Math.min(start + batch, queryCount);
      const qs = Array.from({ length: next - start }, (_, i) => start + i);
      const out = await search(qs);
      qs.forEach((q, i) => results.set(q, out[i]));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSecondsHere() - cpu0;
  const server1 = serverPid === undefined ? null : processCpuSeconds(serverPid);
  return finish(data, results, filtered, seconds, cpu, server0 === null || server1 === null ? null : server1 - server0);
}
