// `npm run bench:raft`: a 3-process Raft cluster on the loopback. Quorum writes of batches of
// 784-dim vectors (Fashion-MNIST rows when the shared set is present, else seeded random; base64
// vectors, several requests in flight): vectors/s and p50/p99 commit latency (request sent → acknowledged,
// i.e. committed by a quorum and applied on the leader), to the leader and through a follower (forwarded);
// then the time from a shard leader's kill -9 to a new leader accepting writes, over repetitions.
// Prints tables and PASS/MISS per target, saves JSON under bench/results/. It never fails on a miss.
import { Command } from 'commander';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeVectorBase64 } from '../node/src/cli/import.js';
import { startProcessCluster, type ProcessCluster } from '../test/cluster/cluster-processes.js';
import { fashionAvailable, loadFashion } from '../test/helpers/fashion.js';
import { RestClient, processCpuSeconds } from './lib/rest.js';
import { renderTable, type Cell } from './lib/table.js';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const DIMENSION = 784;
const COLLECTION = 'raftbench';
/**
 * Untimed writes go here first, half to its leader and half through a follower; the collection is
 * deleted before the measured run. Fresh processes spend their first seconds compiling the hot
 * paths (TurboFan threads were ~9% of the nodes' CPU in a 40k-vector run from cold).
 */
const WARMUP_COLLECTION = 'raftbench-warmup';
const VECTORS_PER_SECOND_TARGET = 10_000;
const FAILOVER_MS_TARGET = 2_000;
/** Interval between write attempts while waiting for a new leader. */
const FAILOVER_POLL_MS = 20;
/** Probe writes outstanding at once while waiting for a new leader. */
const FAILOVER_ATTEMPTS_IN_FLIGHT_MAX = 100;
const FAILOVER_GIVE_UP_MS = 30_000;

interface Options {
  vectors: number;
  /** Untimed vectors written to WARMUP_COLLECTION before the measured run. */
  warmupVectors: number;
  batch: number;
  inFlight: number;
  failovers: number;
  /** HNSW graph parameters of the collection: small values make indexing cheap, isolating the Raft path. */
  hnswM: number | null;
  efConstruct: number | null;
  quick: boolean;
}

interface WriteRun {
  path: 'leader' | 'follower (forwarded)';
  /** The shard group's leader during the run. */
  leader: string;
  vectors: number;
  batchPoints: number;
  inFlight: number;
  seconds: number;
  vectorsPerSecond: number;
  commitP50Ms: number;
  commitP99Ms: number;
  commitMaxMs: number;
  /** Batches answered with an error (counted out of vectors and latencies). */
  failedBatches: number;
  /** CPU time of all three node processes during the run, per acknowledged vector (all their threads). */
  clusterCpuUsPerVector: number | null;
  /** The same, per node id. */
  cpuUsPerVectorByNode: Record<string, number | null>;
  /** CPU of this benchmark process (the client) per acknowledged vector: it shares the cores with the nodes. */
  clientCpuUsPerVector: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function vectorSource(count: number): { vectors: Float32Array[]; source: string } {
  if (fashionAvailable()) {
    const f = loadFashion(Math.min(count, 60_000), 0);
    const vectors = Array.from({ length: count }, (_, i) => f.base[i % f.base.length]);
    return { vectors, source: 'fashion-mnist' };
  }
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return { vectors: Array.from({ length: count }, () => Float32Array.from({ length: DIMENSION }, next)), source: 'seeded random' };
}

/** One write request, encoded once before the run: the client's cost per send stays a socket write. */
interface WriteBody {
  bytes: Buffer;
  points: number;
}

function encodeBodies(vectors: Float32Array[], idOffset: number, batchPoints: number): WriteBody[] {
  const bodies: WriteBody[] = [];
  for (let start = 0; start < vectors.length; start += batchPoints) {
    const ids: number[] = [];
    const encoded: string[] = [];
    for (let i = start; i < Math.min(start + batchPoints, vectors.length); i++) {
      ids.push(idOffset + i);
      encoded.push(encodeVectorBase64(vectors[i]));
    }
    bodies.push({ bytes: Buffer.from(JSON.stringify({ batch: { ids, vectors: encoded } })), points: ids.length });
  }
  return bodies;
}

/** Half of the vectors to the leader, half through a follower; ids distinct so every write inserts. */
function prepareBodies(o: Options): { toLeader: WriteBody[]; toFollower: WriteBody[]; warmup: WriteBody[]; probe: string; source: string } {
  const { vectors, source } = vectorSource(o.vectors);
  const half = Math.floor(vectors.length / 2);
  return {
    warmup: encodeBodies(Array.from({ length: o.warmupVectors }, (_, i) => vectors[i % vectors.length]), 0, o.batch),
    toLeader: encodeBodies(vectors.slice(0, half), 0, o.batch),
    toFollower: encodeBodies(vectors.slice(half), half, o.batch),
    probe: encodeVectorBase64(vectors[0]),
    source,
  };
}

async function shardGroupOf(cluster: ProcessCluster, collection = COLLECTION): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const g = (await cluster.groups(cluster.members[0].id))?.find((x) => x.groupId.startsWith(`c-${collection}-`));
    if (g) return g.groupId;
    await sleep(100);
  }
  throw new Error('the shard group did not appear');
}

async function waitForLeader(cluster: ProcessCluster, groupId: string): Promise<string> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const leader = await cluster.leaderOf(groupId);
    if (leader && cluster.member(leader).running()) return leader;
    await sleep(50);
  }
  throw new Error(`no leader for ${groupId}`);
}

function clusterCpuSeconds(cluster: ProcessCluster): Record<string, number | null> {
  return Object.fromEntries(cluster.members.map((m) => {
    const pid = m.pid();
    return [m.id, pid === null ? null : processCpuSeconds(pid)];
  }));
}

async function writeRun(cluster: ProcessCluster, leader: string, client: RestClient, bodies: WriteBody[], batchPoints: number, inFlight: number, label: WriteRun['path'], collection = COLLECTION): Promise<WriteRun> {
  const cpuBefore = clusterCpuSeconds(cluster);
  const clientCpuBefore = process.cpuUsage();
  const latenciesMs: number[] = [];
  let next = 0;
  let vectors = 0;
  let failed = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const b = next++;
      if (b >= bodies.length) return;
      const s = performance.now();
      const r = await client.raw('PUT', `/collections/${collection}/points?wait=true`, bodies[b].bytes);
      if (r.status !== 200) {
        // Reported, not fatal: a failed batch under load is itself a finding.
        failed++;
        if (failed <= 3) console.log(`  batch ${b} failed after ${Math.round(performance.now() - s)} ms: HTTP ${r.status} ${r.text.slice(0, 240)}`);
        continue;
      }
      latenciesMs.push(performance.now() - s);
      vectors += bodies[b].points;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpuAfter = clusterCpuSeconds(cluster);
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const cpuUsPerVectorByNode = Object.fromEntries(
    Object.keys(cpuAfter).map((id) => {
      const a = cpuAfter[id];
      const b = cpuBefore[id];
      return [id, a === null || b === null || vectors === 0 ? null : ((a - b) * 1e6) / vectors];
    }),
  );
  const perNode = Object.values(cpuUsPerVectorByNode);
  latenciesMs.sort((a, b) => a - b);
  return {
    path: label,
    leader,
    vectors,
    batchPoints,
    inFlight,
    seconds,
    vectorsPerSecond: vectors / seconds,
    commitP50Ms: percentile(latenciesMs, 0.5),
    commitP99Ms: percentile(latenciesMs, 0.99),
    commitMaxMs: latenciesMs.at(-1) ?? NaN,
    failedBatches: failed,
    clusterCpuUsPerVector: perNode.some((x) => x === null) ? null : perNode.reduce((sum: number, x) => sum + x!, 0),
    cpuUsPerVectorByNode,
    clientCpuUsPerVector: vectors === 0 ? NaN : (clientCpu.user + clientCpu.system) / vectors,
  };
}

interface FailoverRun {
  killed: string;
  /** kill -9 → first write acknowledged by the cluster (through a surviving node). */
  writeAcceptedMs: number;
  /** kill -9 → a surviving node reports a new leader in /v1/status. */
  leaderSeenMs: number | null;
  newLeader: string | null;
}

async function failoverRun(cluster: ProcessCluster, groupId: string, probeVector: string, id: number): Promise<FailoverRun> {
  const victim = await waitForLeader(cluster, groupId);
  const survivors = cluster.members.filter((m) => m.id !== victim);
  const clients = survivors.map((m) => new RestClient(m.url));
  const body = JSON.stringify({ batch: { ids: [id], vectors: [probeVector] } });
  let settled = 0;
  await cluster.member(victim).kill9();
  const t0 = performance.now();
  let leaderSeenMs: number | null = null;
  let newLeader: string | null = null;
  const watcher = (async () => {
    while (leaderSeenMs === null && performance.now() - t0 < FAILOVER_GIVE_UP_MS) {
      for (const m of survivors) {
        const g = (await cluster.groups(m.id, 500))?.find((x) => x.groupId === groupId);
        if (g?.leader && g.leader !== victim && leaderSeenMs === null) {
          leaderSeenMs = performance.now() - t0;
          newLeader = g.leader;
        }
      }
      await sleep(FAILOVER_POLL_MS);
    }
  })();
  // A new write every FAILOVER_POLL_MS (not waiting for the previous one, whose node may still be
  // waiting for a leader): the first acknowledgement marks the cluster accepting writes again.
  let writeAcceptedMs = NaN;
  const attempts: Promise<void>[] = [];
  for (let attempt = 0; Number.isNaN(writeAcceptedMs) && performance.now() - t0 < FAILOVER_GIVE_UP_MS; attempt++) {
    if (attempts.length - settled < FAILOVER_ATTEMPTS_IN_FLIGHT_MAX) {
      const client = clients[attempt % clients.length];
      attempts.push(
        client
          .raw('PUT', `/collections/${COLLECTION}/points?wait=true`, body)
          .then((r) => {
            if (r.status === 200 && Number.isNaN(writeAcceptedMs)) writeAcceptedMs = performance.now() - t0;
          })
          .catch(() => undefined)
          .finally(() => settled++),
      );
    }
    await sleep(FAILOVER_POLL_MS);
  }
  await Promise.all(attempts);
  await watcher;
  for (const c of clients) c.close();
  await cluster.member(victim).restart();
  return { killed: victim, writeAcceptedMs, leaderSeenMs, newLeader };
}

async function main(o: Options): Promise<void> {
  const started = new Date();
  const loadBefore = os.loadavg();
  // Encoded before the cluster starts, from vectors that are dropped right after: the 2 × 20k
  // Float32Arrays would otherwise stay live in the client, which shares the cores with the nodes.
  const { toLeader, toFollower, warmup, probe, source } = prepareBodies(o);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jade-bench-raft-'));
  console.log(
    `bench:raft: 3 processes on 127.0.0.1, ${o.vectors} × ${DIMENSION}-dim vectors (${source}) after ${o.warmupVectors} untimed, batches of ${o.batch}, ${o.inFlight} in flight, HNSW m ${o.hnswM ?? 'default'} ef_construct ${o.efConstruct ?? 'default'}; data in ${dir}`,
  );
  const cluster = await startProcessCluster({ nodeCount: 3, baseDir: dir, startTimeoutMs: 120_000 });
  const writes: WriteRun[] = [];
  const failovers: FailoverRun[] = [];
  try {
    const admin = new RestClient(cluster.members[0].url);
    const hnsw = { ...(o.hnswM ? { m: o.hnswM } : {}), ...(o.efConstruct ? { ef_construct: o.efConstruct } : {}) };
    const collectionBody = { vectors: { size: DIMENSION, distance: 'Euclid' }, ...(Object.keys(hnsw).length ? { hnsw_config: hnsw } : {}) };
    if (warmup.length > 0) {
      await admin.json('PUT', `/collections/${WARMUP_COLLECTION}`, collectionBody);
      const warmupLeader = await waitForLeader(cluster, await shardGroupOf(cluster, WARMUP_COLLECTION));
      const warmupFollower = cluster.members.find((m) => m.id !== warmupLeader)!.id;
      const half = Math.ceil(warmup.length / 2);
      for (const [nodeId, bodies, label] of [[warmupLeader, warmup.slice(0, half), 'leader'], [warmupFollower, warmup.slice(half), 'follower (forwarded)']] as const) {
        const client = new RestClient(cluster.member(nodeId).url);
        const run = await writeRun(cluster, warmupLeader, client, bodies, o.batch, o.inFlight, label, WARMUP_COLLECTION);
        client.close();
        if (run.failedBatches > 0) console.log(`  warm-up: ${run.failedBatches} batches failed`);
      }
      await admin.json('DELETE', `/collections/${WARMUP_COLLECTION}`);
    }
    await admin.json('PUT', `/collections/${COLLECTION}`, collectionBody);
    admin.close();
    const groupId = await shardGroupOf(cluster);
    const leaderId = await waitForLeader(cluster, groupId);
    const followerId = cluster.members.find((m) => m.id !== leaderId)!.id;
    const leaderClient = new RestClient(cluster.member(leaderId).url);
    const followerClient = new RestClient(cluster.member(followerId).url);
    writes.push(await writeRun(cluster, leaderId, leaderClient, toLeader, o.batch, o.inFlight, 'leader'));
    writes.push(await writeRun(cluster, leaderId, followerClient, toFollower, o.batch, o.inFlight, 'follower (forwarded)'));
    leaderClient.close();
    followerClient.close();
    for (let i = 0; i < o.failovers; i++) {
      failovers.push(await failoverRun(cluster, groupId, probe, 10_000_000 + i));
      // Let the restarted node catch up so the next repetition starts from a healthy cluster.
      await sleep(2_000);
    }
  } finally {
    await cluster.stopAll();
  }
  const best = Math.max(...writes.map((w) => w.vectorsPerSecond));
  const failoverMs = failovers.map((f) => f.writeAcceptedMs).sort((a, b) => a - b);
  const failoverWorst = failoverMs.at(-1) ?? NaN;
  console.log(
    renderTable(
      'Quorum writes (3 replicas, fsync on each)',
      ['path', 'vectors acked', 'batch', 'in flight', 'failed batches', 'seconds', 'vectors/s', 'p50 ms', 'p99 ms', 'max ms', 'cluster CPU µs/vector', 'per node (leader first)', 'client CPU µs/vector'],
      writes.map((w): Cell[] => [
        w.path, w.vectors, w.batchPoints, w.inFlight, w.failedBatches, w.seconds, w.vectorsPerSecond, w.commitP50Ms, w.commitP99Ms, w.commitMaxMs, w.clusterCpuUsPerVector,
        [w.leader, ...Object.keys(w.cpuUsPerVectorByNode).filter((id) => id !== w.leader)].map((id) => `${id} ${Math.round(w.cpuUsPerVectorByNode[id] ?? NaN)}`).join(', '),
        w.clientCpuUsPerVector,
      ]),
    ),
  );
  console.log(
    renderTable(
      'Failover: shard leader kill -9',
      ['#', 'killed', 'new leader', 'leader seen ms', 'write accepted ms'],
      failovers.map((f, i): Cell[] => [i + 1, f.killed, f.newLeader, f.leaderSeenMs, f.writeAcceptedMs]),
    ),
  );
  const verdicts = [
    `${best >= VECTORS_PER_SECOND_TARGET ? 'PASS' : 'MISS'} quorum write rate ${Math.round(best)} vectors/s (target ≥ ${VECTORS_PER_SECOND_TARGET})`,
    `${failoverWorst < FAILOVER_MS_TARGET ? 'PASS' : 'MISS'} failover worst ${Math.round(failoverWorst)} ms, median ${Math.round(percentile(failoverMs, 0.5))} ms (target < ${FAILOVER_MS_TARGET} ms)`,
  ];
  const loadAfter = os.loadavg();
  // Three replicas and the client share this machine's cores: the load says how much else was running.
  console.log(`\nhost: ${os.cpus().length} cores, load average ${loadBefore[0].toFixed(1)} before, ${loadAfter[0].toFixed(1)} after`);
  console.log(verdicts.join('\n'));
  mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
  const file = path.join(BENCH_DIR, 'results', `raft-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ startedAt: started.toISOString(), host: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, loadBefore, loadAfter }, options: o, source, writes, failovers, verdicts }, null, 2),
  );
  console.log(`saved ${path.relative(process.cwd(), file)}`);
  rmSync(dir, { recursive: true, force: true });
}

const program = new Command('bench:raft')
  .option('--vectors <n>', 'vectors written in total (half to the leader, half through a follower)', '40000')
  .option('--warmup <n>', 'untimed vectors written first, to a collection deleted before the measured run', '4000')
  .option('--batch <n>', 'points per write request', '1000')
  .option('--in-flight <n>', 'write requests in flight', '4')
  .option('--failovers <n>', 'leader kill -9 repetitions', '3')
  .option('--hnsw-m <n>', 'HNSW m of the collection (default: the node default)')
  .option('--ef-construct <n>', 'HNSW ef_construct of the collection (default: the node default); e.g. --hnsw-m 4 --ef-construct 8 makes indexing cheap to isolate replication')
  .option('--quick', 'small run (10k vectors, 2 failovers) for a smoke check')
  .parse();
const raw = program.opts<{ vectors: string; warmup: string; batch: string; inFlight: string; failovers: string; hnswM?: string; efConstruct?: string; quick?: boolean }>();
const quick = raw.quick === true;
await main({
  vectors: quick ? 10_000 : Number(raw.vectors),
  warmupVectors: quick ? 2_000 : Number(raw.warmup),
  batch: Number(raw.batch),
  inFlight: Number(raw.inFlight),
  failovers: quick ? 2 : Number(raw.failovers),
  hnswM: raw.hnswM ? Number(raw.hnswM) : null,
  efConstruct: raw.efConstruct ? Number(raw.efConstruct) : null,
  quick,
});
