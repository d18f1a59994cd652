// Shard reads between nodes: the handlers a node serves for its own replicas, and the client that
// reads a replica on another node. Arguments travel as JSON; vectors (queries, and stored ones
// when asked for) as one binary part of concatenated float32, in order.
import type { ClusterNode, LocalShardReplica } from '../cluster/cluster-node.js';
import { JadeError, isJadeError } from '../util/errors.js';
import { LocalShardReader } from './local-reader.js';
import type { Hit, PayloadSelector, PointOutput, ReadOptions, ScrollPage, ScrollRequest, ShardInfo, ShardReader, ShardSearchRequest } from './types.js';
import type { PointId } from '../storage/types.js';
import { wireCall, wireRetrieve, wireScroll, wireSearches, type WireCall, type WireSearch } from './shard-wire.js';

export const SHARD_METHODS = { search: 'shard.search', retrieve: 'shard.retrieve', scroll: 'shard.scroll', count: 'shard.count', info: 'shard.info' } as const;

/** What the serving replica was, for eventual reads' staleness. */
export interface ReplicaReadInfo {
  nodeId: string;
  applied: number;
  commit: number;
}

function concatVectors(vectors: readonly Float32Array[]): Uint8Array {
  let n = 0;
  for (const v of vectors) n += v.length;
  const out = new Float32Array(n);
  let at = 0;
  for (const v of vectors) {
    out.set(v, at);
    at += v.length;
  }
  return new Uint8Array(out.buffer);
}

function splitVectors(binary: Uint8Array | undefined, count: number, dimension: number): Float32Array[] {
  const bytes = binary ?? new Uint8Array(0);
  if (bytes.length !== count * dimension * 4) throw new JadeError('JADE_ERR_BAD_REQUEST', `expected ${count} vectors of ${dimension} dimensions (${count * dimension * 4} bytes), got ${bytes.length} bytes`);
  // A copy: the bytes may be a Buffer view into a larger pool (Buffer#slice does not copy).
  const aligned = new Uint8Array(bytes.length);
  aligned.set(bytes);
  const all = new Float32Array(aligned.buffer);
  return Array.from({ length: count }, (_, i) => all.subarray(i * dimension, (i + 1) * dimension));
}

/** A replica's reader for a call from another node: strong reads pass this replica's ReadIndex barrier. */
function localReader(node: ClusterNode, groupId: string): { reader: LocalShardReader; replica: LocalShardReplica } {
  const replica = node.localReplica(groupId);
  if (!replica) throw new JadeError('JADE_ERR_UNAVAILABLE', `no open replica of ${groupId} on ${node.nodeId}`, { noReplica: true });
  return { reader: replicaReader(replica), replica };
}

/** A LocalShardReader over a cluster replica: strong reads wait for a ReadIndex barrier (retried while no leader is known). */
export function replicaReader(replica: LocalShardReplica): LocalShardReader {
  return new LocalShardReader({
    state: () => replica.sm.state,
    walBytes: () => replica.group.storage.walSizeBytes(),
    readBarrier: (opts) => replica.group.readBarrierBy(opts.deadlineMs, `strong read of ${replica.group.groupId}`),
  });
}

function readInfo(node: ClusterNode, replica: LocalShardReplica): ReplicaReadInfo {
  const s = replica.group.driver.core.basicStatus();
  return { nodeId: node.nodeId, applied: s.applied, commit: s.commit };
}

function callOptions(args: WireCall, deadlineMs: number): ReadOptions {
  return { consistency: args.consistency, deadlineMs };
}

/** Registers the shard read methods this node serves for its replicas. */
export function serveShardReads(node: ClusterNode): void {
  node.handle(SHARD_METHODS.search, async ({ json, binary }, ctx) => {
    const args = wireCall(json, SHARD_METHODS.search);
    const requests = wireSearches(args.requests, SHARD_METHODS.search);
    const opts = callOptions(args, ctx.deadlineMs);
    const { reader, replica } = localReader(node, args.groupId);
    const vectors = splitVectors(binary, requests.length, replica.sm.state.params.dimension);
    const hits = await reader.search(requests.map((r, i) => ({ ...r, vector: vectors[i] })), opts);
    const withVectors: Float32Array[] = [];
    const wire = hits.map((list) =>
      list.map((h) => {
        if (h.vector) withVectors.push(h.vector);
        return { id: h.id, distance: h.distance, score: h.score, payload: h.payload, v: h.vector ? 1 : 0 };
      }),
    );
    return { json: { hits: wire, replica: readInfo(node, replica) }, binary: concatVectors(withVectors) };
  });
  const points = (list: PointOutput[]) => {
    const withVectors: Float32Array[] = [];
    const wire = list.map((p) => {
      if (p.vector) withVectors.push(p.vector);
      return { id: p.id, payload: p.payload, v: p.vector ? 1 : 0 };
    });
    return { wire, binary: concatVectors(withVectors) };
  };
  node.handle(SHARD_METHODS.retrieve, async ({ json }, ctx) => {
    const args = wireCall(json, SHARD_METHODS.retrieve);
    const { ids, withPayload, withVector } = wireRetrieve(args, SHARD_METHODS.retrieve);
    const opts = callOptions(args, ctx.deadlineMs);
    const { reader, replica } = localReader(node, args.groupId);
    const { wire, binary } = points(await reader.retrieve(ids, withPayload, withVector, opts));
    return { json: { points: wire, replica: readInfo(node, replica) }, binary };
  });
  node.handle(SHARD_METHODS.scroll, async ({ json }, ctx) => {
    const args = wireCall(json, SHARD_METHODS.scroll);
    const request = wireScroll(args.request, SHARD_METHODS.scroll);
    const opts = callOptions(args, ctx.deadlineMs);
    const { reader, replica } = localReader(node, args.groupId);
    const page = await reader.scroll(request, opts);
    const { wire, binary } = points(page.points);
    return { json: { points: wire, nextOffset: page.nextOffset, replica: readInfo(node, replica) }, binary };
  });
  node.handle(SHARD_METHODS.count, async ({ json }, ctx) => {
    const args = wireCall(json, SHARD_METHODS.count);
    const opts = callOptions(args, ctx.deadlineMs);
    const { reader, replica } = localReader(node, args.groupId);
    return { json: { count: await reader.count(args.filter, opts), replica: readInfo(node, replica) } };
  });
  node.handle(SHARD_METHODS.info, async ({ json }, ctx) => {
    const args = wireCall(json, SHARD_METHODS.info);
    const opts = callOptions(args, ctx.deadlineMs);
    const { reader, replica } = localReader(node, args.groupId);
    return { json: { info: await reader.info(opts), replica: readInfo(node, replica) } };
  });
}

/** Reads one replica on another node. */
export class RemoteShardReader implements ShardReader {
  constructor(
    private readonly node: ClusterNode,
    private readonly target: string,
    private readonly groupId: string,
    private readonly dimension: number,
    private readonly observe?: (info: ReplicaReadInfo) => void,
  ) {}

  private async call(method: string, args: Record<string, unknown>, opts: ReadOptions, binary?: Uint8Array): Promise<{ json: any; binary?: Uint8Array }> {
    const address = this.node.nodeAddress(this.target);
    if (!address) throw new JadeError('JADE_ERR_UNAVAILABLE', `no address for node ${this.target}`);
    const reply = await this.node.rpc.call(address, method, { json: { groupId: this.groupId, consistency: opts.consistency, ...args }, binary }, opts.deadlineMs);
    const json = reply.json as { replica?: ReplicaReadInfo };
    if (json?.replica) this.observe?.(json.replica);
    return { json: reply.json, binary: reply.binary };
  }

  async search(requests: ShardSearchRequest[], opts: ReadOptions): Promise<Hit[][]> {
    const wire: WireSearch[] = requests.map((r) => ({ k: r.k, ef: r.ef, filter: r.filter, exact: r.exact, withPayload: r.withPayload, withVector: r.withVector, scoreThreshold: r.scoreThreshold }));
    const { json, binary } = await this.call(SHARD_METHODS.search, { dimension: this.dimension, requests: wire }, opts, concatVectors(requests.map((r) => r.vector)));
    const hits = json.hits as { id: PointId; distance: number; score: number; payload?: Hit['payload']; v: number }[][];
    const count = hits.reduce((a, list) => a + list.filter((h) => h.v).length, 0);
    const vectors = splitVectors(binary, count, this.dimension);
    let at = 0;
    return hits.map((list) =>
      list.map((h) => {
        const hit: Hit = { id: h.id, distance: h.distance, score: h.score };
        if (h.payload !== undefined) hit.payload = h.payload;
        if (h.v) hit.vector = vectors[at++];
        return hit;
      }),
    );
  }

  private points(list: { id: PointId; payload?: PointOutput['payload']; v: number }[], binary: Uint8Array | undefined): PointOutput[] {
    const vectors = splitVectors(binary, list.filter((p) => p.v).length, this.dimension);
    let at = 0;
    return list.map((p) => {
      const out: PointOutput = { id: p.id };
      if (p.payload !== undefined) out.payload = p.payload;
      if (p.v) out.vector = vectors[at++];
      return out;
    });
  }

  async retrieve(ids: PointId[], withPayload: PayloadSelector, withVector: boolean, opts: ReadOptions): Promise<PointOutput[]> {
    const { json, binary } = await this.call(SHARD_METHODS.retrieve, { ids, withPayload, withVector }, opts);
    return this.points(json.points, binary);
  }

  async scroll(request: ScrollRequest, opts: ReadOptions): Promise<ScrollPage> {
    const { json, binary } = await this.call(SHARD_METHODS.scroll, { request }, opts);
    return { points: this.points(json.points, binary), nextOffset: json.nextOffset ?? null };
  }

  async count(filter: unknown, opts: ReadOptions): Promise<number> {
    return (await this.call(SHARD_METHODS.count, { filter }, opts)).json.count as number;
  }

  async info(opts: ReadOptions): Promise<ShardInfo> {
    return (await this.call(SHARD_METHODS.info, {}, opts)).json.info as ShardInfo;
  }
}

/** Whether a failed replica read may be retried on another replica (it did not fail because of the request). */
export function tryAnotherReplica(e: unknown): boolean {
  return isJadeError(e) && (e.code === 'JADE_ERR_UNAVAILABLE' || e.code === 'JADE_ERR_NOT_LEADER' || e.code === 'JADE_ERR_QUEUE_FULL' || e.code === 'JADE_ERR_NOT_READY');
}
