// A ShardReader over a replica in this process: the standalone node's one shard, or a cluster
// node's own replica of a shard (reads pass the group's ReadIndex barrier first when strong).
import { parseFilter } from '../shard/filter.js';
import type { ShardState } from '../shard/state.js';
import type { PointId } from '../storage/types.js';
import { passesThreshold, scoreOf, selectPayload } from './score.js';
import type { Hit, PayloadSelector, PointOutput, ReadOptions, ScrollPage, ScrollRequest, ShardInfo, ShardReader, ShardSearchRequest } from './types.js';

export interface LocalReplica {
  /** The replica's state now (it may be replaced by a snapshot install, so it is asked each time). */
  state(): ShardState;
  walBytes(): number;
  /** Resolves once this replica has applied everything committed before the call (strong reads). */
  readBarrier?(opts: ReadOptions): Promise<void>;
}

export class LocalShardReader implements ShardReader {
  constructor(private readonly replica: LocalReplica) {}

  private async ready(opts: ReadOptions): Promise<ShardState> {
    if (opts.consistency === 'strong' && this.replica.readBarrier) await this.replica.readBarrier(opts);
    return this.replica.state();
  }

  async search(requests: ShardSearchRequest[], opts: ReadOptions): Promise<Hit[][]> {
    const state = await this.ready(opts);
    return requests.map((r) => searchState(state, r));
  }

  async retrieve(ids: PointId[], withPayload: PayloadSelector, withVector: boolean, opts: ReadOptions): Promise<PointOutput[]> {
    const state = await this.ready(opts);
    const out: PointOutput[] = [];
    for (const id of ids) {
      const p = state.get(id);
      if (p) out.push(pointOutput(p, withPayload, withVector));
    }
    return out;
  }

  async scroll(request: ScrollRequest, opts: ReadOptions): Promise<ScrollPage> {
    const state = await this.ready(opts);
    const page = state.scroll(request.offset, request.limit, parseFilter(request.filter));
    return { points: page.labels.map((l) => pointOutput(request.withVector ? state.pointByLabel(l) : state.pointInfoByLabel(l), request.withPayload, request.withVector)), nextOffset: page.nextOffset };
  }

  async count(filter: unknown, opts: ReadOptions): Promise<number> {
    return (await this.ready(opts)).countMatching(parseFilter(filter));
  }

  async info(opts: ReadOptions): Promise<ShardInfo> {
    const state = opts.consistency === 'strong' ? await this.ready(opts) : this.replica.state();
    const m = state.memoryBytes();
    return {
      points: state.count,
      // Points not yet in every graph they belong to (the main graph, their tenant's graph).
      indexBacklog: state.indexWork,
      payloadIndexes: state.payloadIndexList().map((i) => ({ field: i.field, schema: i.schema, isTenant: i.isTenant, points: i.points })),
      memoryBytes: m.vectors + m.index,
      walBytes: this.replica.walBytes(),
      fullScanThresholdKb: Math.floor((Math.max(state.limits.exactScanCandidatesMax * state.params.dimension, state.limits.exactScanElementsMax) * 4) / 1024),
    };
  }
}

function pointOutput(p: { id: PointId; payload: Record<string, unknown> | null; vector?: Float32Array }, withPayload: PayloadSelector, withVector: boolean): PointOutput {
  const out: PointOutput = { id: p.id };
  const payload = selectPayload(p.payload, withPayload);
  if (payload !== undefined) out.payload = payload;
  if (withVector && p.vector) out.vector = p.vector;
  return out;
}

/** One shard's top-k for a request, with scores, the threshold applied and payloads selected. */
export function searchState(state: ShardState, r: ShardSearchRequest): Hit[] {
  const { hits } = state.search({ vector: r.vector, k: r.k, ef: r.ef, filter: parseFilter(r.filter), exact: r.exact });
  const metric = state.params.metric;
  const out: Hit[] = [];
  for (const h of hits) {
    const score = scoreOf(metric, h.distance);
    if (!passesThreshold(metric, score, r.scoreThreshold)) continue;
    const hit: Hit = { id: h.id, distance: h.distance, score };
    const info = state.pointInfoByLabel(h.label);
    const payload = selectPayload(info.payload, r.withPayload);
    if (payload !== undefined) hit.payload = payload;
    if (r.withVector) hit.vector = state.pointByLabel(h.label).vector;
    out.push(hit);
  }
  return out;
}
