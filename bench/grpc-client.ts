// The gRPC path of `npm run bench`: the same node, data and measurements as the REST path, through
// Qdrant's official gRPC client (@qdrant/js-client-grpc, one HTTP/2 connection, protobuf bodies).
// Ingest goes to its own collection (fashion_grpc) with the REST batch size and requests in
// flight; searches are Query calls (nearest by vector, hnsw_ef) with 1 and N calls in flight.
import { Distance, QdrantClient, type PointStruct } from '@qdrant/js-client-grpc';
import type { BenchData } from './lib/data.js';
import { K } from './lib/data.js';
import { BACKLOG_POLL_MS, INDEX_WAIT_MS_MAX, type IngestReport, type RunningServer } from './lib/server.js';
import { waitUntil } from './lib/rest.js';
import type { GraphParams, Target } from './lib/targets.js';
import { inFlightPool } from './lib/measure.js';

export const GRPC_COLLECTION = 'fashion_grpc';

function clientOf(s: RunningServer): QdrantClient {
  // No compression: vectors do not compress, and REST's bodies are not compressed either.
  return new QdrantClient({ url: `http://127.0.0.1:${s.grpcPort}`, checkCompatibility: false, compression: false });
}

/** Creates fashion_grpc and upserts every base vector over gRPC (wait=true), timed like REST's ingest. */
export async function grpcIngest(s: RunningServer, data: BenchData, g: GraphParams, batchPoints: number, inFlight: number): Promise<IngestReport> {
  const client = clientOf(s);
  await client.api('collections').create({
    collectionName: GRPC_COLLECTION,
    vectorsConfig: { config: { case: 'params', value: { size: BigInt(data.dimension), distance: Distance.Euclid } } },
    hnswConfig: { m: BigInt(g.m), efConstruct: BigInt(g.efConstruction) },
  });
  const e0 = performance.now();
  const batches: PointStruct[][] = [];
  for (let start = 0; start < data.base.length; start += batchPoints) {
    const points: PointStruct[] = [];
    for (let i = start; i < Math.min(start + batchPoints, data.base.length); i++) {
      points.push({
        $typeName: 'qdrant.PointStruct',
        id: { $typeName: 'qdrant.PointId', pointIdOptions: { case: 'num', value: BigInt(i) } },
        vectors: { $typeName: 'qdrant.Vectors', vectorsOptions: { case: 'vector', value: { $typeName: 'qdrant.Vector', data: [], vector: { case: 'dense', value: { $typeName: 'qdrant.DenseVector', data: Array.from(data.base[i]) } } } } },
        payload: { label: { $typeName: 'qdrant.Value', kind: { case: 'integerValue', value: BigInt(data.baseLabels[i]) } } },
      });
    }
    batches.push(points);
  }
  const encodeSeconds = (performance.now() - e0) / 1000;
  const t0 = performance.now();
  await inFlightPool(batches.length, inFlight, async (b) => {
    await client.api('points').upsert({ collectionName: GRPC_COLLECTION, wait: true, points: batches[b] });
  });
  const t1 = performance.now();
  await waitUntil(async () => ((await s.client.json('GET', `/v1/collections/${GRPC_COLLECTION}`)).index_backlog as number) === 0, INDEX_WAIT_MS_MAX, BACKLOG_POLL_MS, 'the gRPC collection\'s index backlog to drain');
  const t2 = performance.now();
  const n = data.base.length;
  return { vectors: n, batchPoints, requestsInFlight: inFlight, ackSeconds: (t1 - t0) / 1000, ackVectorsPerSecond: n / ((t1 - t0) / 1000), indexedSeconds: (t2 - t0) / 1000, indexedVectorsPerSecond: n / ((t2 - t0) / 1000), encodeSeconds };
}

/** Query (nearest by vector, limit k, hnsw_ef) over gRPC with `concurrency` calls in flight on one client. */
export function grpcTarget(s: RunningServer, data: BenchData, concurrency: number): Target & { concurrency: number } {
  const client = clientOf(s);
  const queries = data.queries.map((q) => Array.from(q));
  const call = async (q: number, ef: number, label: number | null) => {
    const res = await client.api('points').query({
      collectionName: GRPC_COLLECTION,
      query: { variant: { case: 'nearest', value: { variant: { case: 'dense', value: { data: queries[q] } } } } },
      limit: BigInt(K),
      params: { hnswEf: BigInt(ef) },
      ...(label === null ? {} : { filter: { must: [{ conditionOneOf: { case: 'field', value: { key: 'label', match: { matchValue: { case: 'integer', value: BigInt(label) } } } } }] } }),
    });
    return res.result.map((p) => Number(p.id?.pointIdOptions.value));
  };
  return {
    name: `gRPC ${concurrency} client${concurrency === 1 ? '' : 's'}`,
    isAsync: true,
    concurrency,
    build: { seconds: 0, vectorsPerSecond: 0, notes: '' },
    search: (q, ef) => call(q, ef, null),
    searchFiltered: (q, ef) => call(q, ef, data.filterLabel(q)),
  };
}
