// A collection over its shards: writes are split by point hash and each part goes to its shard;
// searches fan out to one replica per shard in parallel (one call per shard for a whole batch of
// searches), each shard answers its top-(offset+limit), and a k-way merge with a deterministic
// tie-break (distance, then id order) makes the page. Standalone is the same with one local shard.
import { idKey } from '../shard/filter.js';
import type { CollectionParams } from '../shard/state.js';
import { compareIdKeys } from '../shard/state.js';
import type { PointId, WriteBatch } from '../storage/types.js';
import { JadeError, isJadeError, type ErrorCode } from '../util/errors.js';
import { beforeDeadline } from '../util/deadline.js';
import type { ShardCallObserver } from '../util/observers.js';
import type { HashRange } from './hash.js';
import { maximalMarginalRelevance } from './mmr.js';
import { groupBy, shardOfPoint, splitBatch } from './split.js';
import type {
  Collection,
  CollectionInfo,
  Hit,
  PayloadIndexInfo,
  PayloadSelector,
  PointOutput,
  ReadOptions,
  ScrollPage,
  ScrollRequest,
  SearchResult,
  SearchSpec,
  ShardReader,
  ShardSearchRequest,
  WriteOptions,
} from './types.js';

/** What a collection needs of its topology: shard ranges, a replica to read each shard, a way to write it. */
export interface ShardSet {
  readonly name: string;
  readonly params: CollectionParams;
  readonly createdAtMs: number;
  readonly replicationFactor: number;
  /** One per shard, in shard order, tiling the hash space. */
  readonly ranges: readonly HashRange[];
  /** A replica of shard `index` to read, chosen for this consistency (and the node's read strategy). */
  reader(index: number, opts: ReadOptions): ShardReader;
  /** Proposes/appends one shard's part; resolves with its log index once durable and applied. */
  write(index: number, batch: WriteBatch, opts: WriteOptions): Promise<number>;
  /** Told each shard call's latency and outcome (metrics). */
  observer?: ShardCallObserver;
}

/** Codes that mean the request itself is wrong: the same on every shard, never a partial answer. */
const REQUEST_ERRORS = new Set<ErrorCode>(['JADE_ERR_BAD_REQUEST', 'JADE_ERR_BAD_JSON', 'JADE_ERR_DIMENSION_MISMATCH', 'JADE_ERR_NOT_FINITE', 'JADE_ERR_BAD_FILTER', 'JADE_ERR_BAD_ID', 'JADE_ERR_BATCH_TOO_LARGE', 'JADE_ERR_PAYLOAD_TOO_LARGE', 'JADE_ERR_COLLECTION_NOT_FOUND', 'JADE_ERR_NOT_FOUND', 'JADE_ERR_UNAUTHENTICATED', 'JADE_ERR_FORBIDDEN']);

function isRequestError(e: unknown): boolean {
  return isJadeError(e) && REQUEST_ERRORS.has(e.code);
}

interface FanOutResult<T> {
  results: (T | undefined)[];
  missing: number[];
  firstFailure: unknown;
}

export class ShardedCollection implements Collection {
  constructor(private readonly shards: ShardSet) {}

  get name(): string {
    return this.shards.name;
  }

  get params(): CollectionParams {
    return this.shards.params;
  }

  private get shardCount(): number {
    return this.shards.ranges.length;
  }

  /**
   * Runs `call` on one replica of each listed shard in parallel, each bounded by the request's
   * deadline. A bad request fails the whole call at once; an unavailable shard is missing.
   */
  private async fanOut<T>(shardIndexes: readonly number[], opts: ReadOptions, what: string, call: (reader: ShardReader, index: number) => Promise<T>): Promise<FanOutResult<T>> {
    const results: (T | undefined)[] = new Array(this.shardCount);
    const missing: number[] = [];
    let firstFailure: unknown = null;
    await Promise.all(
      shardIndexes.map(async (index) => {
        const started = performance.now();
        try {
          results[index] = await beforeDeadline(call(this.shards.reader(index, opts), index), opts.deadlineMs, `${what} on shard ${index} of "${this.name}"`);
          this.shards.observer?.shardCall(this.name, index, what, (performance.now() - started) / 1000, true);
        } catch (e) {
          this.shards.observer?.shardCall(this.name, index, what, (performance.now() - started) / 1000, false);
          if (isRequestError(e)) throw e;
          missing.push(index);
          firstFailure ??= e;
        }
      }),
    );
    missing.sort((a, b) => a - b);
    return { results, missing, firstFailure };
  }

  /** Every shard must answer: a missing one is a 503 naming it (or the request's own timeout). */
  private requireAll<T>(r: FanOutResult<T>, what: string): T[] {
    if (r.missing.length === 0) return r.results as T[];
    throw this.shardsUnavailable(r, what);
  }

  private shardsUnavailable(r: FanOutResult<unknown>, what: string): JadeError {
    const cause = r.firstFailure instanceof Error ? r.firstFailure.message : String(r.firstFailure);
    const code: ErrorCode = isJadeError(r.firstFailure) && r.firstFailure.code === 'JADE_ERR_DEADLINE' ? 'JADE_ERR_DEADLINE' : isJadeError(r.firstFailure) && r.firstFailure.code === 'JADE_ERR_QUEUE_FULL' ? 'JADE_ERR_QUEUE_FULL' : 'JADE_ERR_UNAVAILABLE';
    return new JadeError(code, `${what} of "${this.name}": shard${r.missing.length > 1 ? 's' : ''} ${r.missing.join(', ')} did not answer (${cause})`, { missingShards: r.missing });
  }

  private allShards(): number[] {
    return Array.from({ length: this.shardCount }, (_, i) => i);
  }

  async info(opts: ReadOptions): Promise<CollectionInfo> {
    const infos = this.requireAll(await this.fanOut(this.allShards(), opts, 'info', (r) => r.info(opts)), 'info');
    const indexes = new Map<string, PayloadIndexInfo>();
    for (const info of infos) {
      for (const pi of info.payloadIndexes) {
        const seen = indexes.get(pi.field);
        if (seen) seen.points += pi.points;
        else indexes.set(pi.field, { ...pi });
      }
    }
    const sum = (f: (i: (typeof infos)[number]) => number) => infos.reduce((a, i) => a + f(i), 0);
    return {
      name: this.name,
      params: this.shards.params,
      createdAtMs: this.shards.createdAtMs,
      shardNumber: this.shardCount,
      replicationFactor: this.shards.replicationFactor,
      points: sum((i) => i.points),
      indexBacklog: sum((i) => i.indexBacklog),
      payloadIndexes: [...indexes.values()],
      memoryBytes: sum((i) => i.memoryBytes),
      walBytes: sum((i) => i.walBytes),
      fullScanThresholdKb: Math.min(...infos.map((i) => i.fullScanThresholdKb)),
    };
  }

  async write(batch: WriteBatch, opts: WriteOptions): Promise<number> {
    const parts = splitBatch(batch, this.shards.ranges);
    const outcomes = await Promise.allSettled([...parts].map(async ([index, part]) => ({ index, lsn: await this.shards.write(index, part, opts) })));
    const applied: number[] = [];
    const failed: { index: number; error: unknown }[] = [];
    let lsn = 0;
    outcomes.forEach((o, i) => {
      const index = [...parts.keys()][i];
      if (o.status === 'fulfilled') {
        applied.push(index);
        lsn = Math.max(lsn, o.value.lsn);
      } else failed.push({ index, error: o.reason });
    });
    if (failed.length === 0) return lsn;
    const first = failed[0].error;
    // One shard (or the same refusal everywhere, nothing applied): the shard's own error as it is.
    if (applied.length === 0 && (failed.length === 1 || isRequestError(first))) throw first;
    const code: ErrorCode = isJadeError(first) ? first.code : 'JADE_ERR_INTERNAL';
    const reasons = failed.map((f) => `shard ${f.index}: ${f.error instanceof Error ? f.error.message : String(f.error)}`).join('; ');
    throw new JadeError(code, `write to "${this.name}" is atomic per shard: applied on shard${applied.length === 1 ? '' : 's'} [${applied.join(', ')}], failed on ${reasons}`, { appliedShards: applied, failedShards: failed.map((f) => f.index) });
  }

  async search(spec: SearchSpec, opts: ReadOptions): Promise<SearchResult> {
    return (await this.searchBatch([spec], opts))[0];
  }

  async searchBatch(specs: SearchSpec[], opts: ReadOptions): Promise<SearchResult[]> {
    if (specs.length === 0) return [];
    const vectors = await this.queryVectors(specs, opts);
    const requests: ShardSearchRequest[] = specs.map((s, i) => ({
      vector: vectors[i],
      // With MMR each shard gives its share of the candidates (the nearest candidatesLimit overall).
      k: s.mmr ? Math.max(s.mmr.candidatesLimit, s.offset + s.limit) : s.offset + s.limit,
      // The collection's default ef as it is now: PATCH changes it without touching the replicas.
      ef: s.ef ?? this.shards.params.hnsw.efSearch,
      filter: s.filter,
      exact: s.exact,
      withPayload: s.withPayload,
      withVector: s.withVector || s.mmr !== undefined,
      scoreThreshold: s.scoreThreshold,
    }));
    const fan = await this.fanOut(this.allShards(), opts, 'search', (r) => r.search(requests, opts));
    if (fan.missing.length > 0 && !opts.allowPartial) throw this.shardsUnavailable(fan, 'search');
    if (fan.missing.length > 0) this.shards.observer?.partialResult(this.name);
    return specs.map((s, i) => {
      const perShard = fan.results.filter((r): r is Hit[][] => r !== undefined).map((r) => r[i]);
      let hits: Hit[];
      if (s.mmr) {
        const candidates = mergeHits(perShard, 0, requests[i].k);
        hits = maximalMarginalRelevance(this.shards.params.metric, vectors[i], candidates, s.mmr.diversity, s.offset + s.limit).slice(s.offset);
        if (!s.withVector) hits = hits.map(({ vector: _vector, ...h }) => h);
      } else {
        hits = mergeHits(perShard, s.offset, s.limit);
      }
      return { hits, partial: fan.missing.length > 0, missingShards: fan.missing };
    });
  }

  /** The query vector of each search; `query: <point id>` takes the stored point's (404 when absent). */
  private async queryVectors(specs: SearchSpec[], opts: ReadOptions): Promise<Float32Array[]> {
    const ids = specs.filter((s) => s.vector === undefined).map((s) => s.pointId!);
    const byKey = new Map<string, Float32Array>();
    if (ids.length > 0) {
      const { found } = await this.retrieve(ids, false, true, opts);
      for (const p of found) byKey.set(idKey(p.id), p.vector!);
    }
    return specs.map((s) => {
      const v = s.vector ?? byKey.get(idKey(s.pointId!));
      if (!v) throw new JadeError('JADE_ERR_NOT_FOUND', `point ${JSON.stringify(s.pointId)} used as query does not exist`);
      if (v.length !== this.shards.params.dimension) {
        throw new JadeError('JADE_ERR_DIMENSION_MISMATCH', `query vector has ${v.length} dimensions; collection expects ${this.shards.params.dimension}`);
      }
      for (let j = 0; j < v.length; j++) if (!Number.isFinite(v[j])) throw new JadeError('JADE_ERR_NOT_FINITE', `query vector[${j}] is not a finite number`);
      return v;
    });
  }

  async retrieve(ids: PointId[], withPayload: PayloadSelector, withVector: boolean, opts: ReadOptions): Promise<{ found: PointOutput[]; missing: PointId[] }> {
    const byShard = groupBy(ids, (id) => shardOfPoint(this.shards.ranges, id));
    const fan = await this.fanOut([...byShard.keys()], opts, 'retrieve', (r, index) => r.retrieve(byShard.get(index)!, withPayload, withVector, opts));
    const points = this.requireAll(fan, 'retrieve');
    const byKey = new Map<string, PointOutput>();
    for (const list of points) for (const p of list ?? []) byKey.set(idKey(p.id), p);
    const found: PointOutput[] = [];
    const missing: PointId[] = [];
    for (const id of ids) {
      const p = byKey.get(idKey(id));
      if (p) found.push(p);
      else missing.push(id);
    }
    return { found, missing };
  }

  /**
   * Every shard scrolls the same global id order from the same offset; the page is the first
   * `limit` of their union, and the next offset the smallest id not on it (any shard's next).
   */
  async scroll(request: ScrollRequest, opts: ReadOptions): Promise<ScrollPage> {
    const pages = this.requireAll(await this.fanOut(this.allShards(), opts, 'scroll', (r) => r.scroll(request, opts)), 'scroll');
    if (pages.length === 1) return pages[0];
    const all = pages.flatMap((p) => p.points).sort((a, b) => compareIdKeys(idKey(a.id), idKey(b.id)));
    const points = all.slice(0, request.limit);
    const nextCandidates: PointId[] = pages.map((p) => p.nextOffset).filter((o): o is PointId => o !== null);
    if (all.length > request.limit) nextCandidates.push(all[request.limit].id);
    let nextOffset: PointId | null = null;
    for (const c of nextCandidates) if (nextOffset === null || compareIdKeys(idKey(c), idKey(nextOffset)) < 0) nextOffset = c;
    return { points, nextOffset };
  }

  async count(filter: unknown, opts: ReadOptions): Promise<number> {
    const counts = this.requireAll(await this.fanOut(this.allShards(), opts, 'count', (r) => r.count(filter, opts)), 'count');
    return counts.reduce((a, b) => a + b, 0);
  }
}

/** Merges each shard's sorted top-k: nearest first, ties by id order; then the page [offset, offset+limit). */
export function mergeHits(perShard: readonly Hit[][], offset: number, limit: number): Hit[] {
  if (perShard.length === 1) return perShard[0].slice(offset, offset + limit);
  const all: Hit[] = [];
  for (const hits of perShard) for (const h of hits) all.push(h);
  all.sort((a, b) => a.distance - b.distance || compareIdKeys(idKey(a.id), idKey(b.id)));
  return all.slice(offset, offset + limit);
}
