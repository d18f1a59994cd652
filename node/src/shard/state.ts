// One replica's state machine: apply(batch) updates points, payload indexes and the HNSW graph.
// Input is validated before it is logged (validateBatch, with the configured limits). apply()
// checks the whole batch again before it changes anything, with the rules that hold alike on
// every node (shard/validate.ts), so a bad batch that reached a log anyway fails as a whole, with
// a coded error, on every replica: no replica half-applies it or stores a non-finite vector.
import { VectorArena, type FrozenVectors } from '../index/arena.js';
import { normalized } from '../index/distance.js';
import { FlatIndex } from '../index/flat.js';
import { HnswIndex } from '../index/hnsw.js';
import type { HnswParams, IndexHit, Metric } from '../index/types.js';
import type { PointId, PointRecord, PointSelector, WriteBatch, WriteOp } from '../storage/types.js';
import { assert, JadeError } from '../util/errors.js';
import type { Filter } from './filter.js';
import { idKey, matchFilter, parseFilter, parsePointId } from './filter.js';
import type { PayloadSchema } from './payload-index.js';
import { PayloadFieldIndex, PAYLOAD_SCHEMAS, TENANT_SCHEMAS } from './payload-index.js';
import { type TenantGraph, TenantGraphs } from './tenant-graphs.js';
import { checkPayload, checkStoredId, checkVector } from './validate.js';

export interface CollectionParams {
  dimension: number;
  metric: Metric;
  hnsw: HnswParams;
  /**
   * The name of the collection's one vector: absent = unnamed (Qdrant's `vectors: {size, distance}`),
   * '' = unnamed but created as a map (`vectors: {"": {...}}`, as LangChain does), else a named vector.
   * Records written before names existed have none: unnamed.
   */
  vectorName?: string;
}

export const VECTOR_NAME_LENGTH_MAX = 255;

export interface ShardLimits {
  /** Points in one write batch. */
  batchPointsMax: number;
  /** UTF-8 bytes of one point's JSON payload. */
  payloadBytesMax: number;
  /** Filtered searches whose candidate set is at most this large are answered by exact scan... */
  exactScanCandidatesMax: number;
  /**
   * ... as are those whose candidates hold at most this many vector elements (candidates ×
   * dimension). The filtered graph walk calls a JS filter for every node it visits and must
   * visit ~1/selectivity times more of them: with 784 dimensions and 10% of 60k points matching,
   * scanning the 6k candidates exactly took what the walk at ef 16 did (~12 ms) with recall 1.0
   * instead of 0.98.
   */
  exactScanElementsMax: number;
  /** Points stored but not yet in the HNSW graph; past it writes are refused (429) until indexing catches up. */
  indexBacklogMax: number;
  /**
   * A value of an is_tenant field gets its own graph once its points hold this many vector
   * elements (points × dimension); filtered searches whose candidates hold fewer are scanned
   * exactly. Default TENANT_GRAPH_ELEMENTS_MIN.
   */
  tenantGraphElementsMin?: number;
}

/**
 * 200k elements = 256 points at 784 dimensions. Measured on Fashion-MNIST (10k points, in
 * process, same run): the exact scan of 1,000 candidates took ~10× an HNSW search at ef 32 and of
 * 100 about 1.3×, so the scan only keeps up with the graph below a few hundred points; above it a
 * tenant's own graph takes over (and costs memory: see README, filtered search).
 */
export const TENANT_GRAPH_ELEMENTS_MIN = 200_000;
/** A tenant graph never has fewer points than this, whatever the dimension. */
export const TENANT_GRAPH_POINTS_MIN = 128;

export const DEFAULT_SHARD_LIMITS: ShardLimits = {
  batchPointsMax: 10_000,
  payloadBytesMax: 64 * 1024,
  exactScanCandidatesMax: 2_000,
  exactScanElementsMax: 8_000_000,
  indexBacklogMax: 200_000,
};

export const DIMENSION_MAX = 65_536;

interface StoredPoint {
  id: PointId;
  payload: Record<string, unknown> | null;
}

/**
 * hnsw: the whole graph, unfiltered. hnsw_partition: the graph of the filter's is_tenant value
 * (other conditions checked in the walk). hnsw_filtered: the whole graph with the filter checked
 * per visited node. exact / exact_filtered: a scan (of the filter's candidates when indexed).
 */
export type SearchPlan = 'hnsw' | 'hnsw_partition' | 'hnsw_filtered' | 'exact' | 'exact_filtered';

export interface SearchRequest {
  vector: Float32Array;
  k: number;
  ef?: number;
  filter?: Filter | null;
  exact?: boolean;
}

export interface ShardHit {
  label: number;
  id: PointId;
  distance: number;
}

export function validateParams(p: CollectionParams): void {
  if (!Number.isInteger(p.dimension) || p.dimension < 1 || p.dimension > DIMENSION_MAX) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', `dimension must be an integer in 1..${DIMENSION_MAX}`);
  }
  if (!['l2', 'cosine', 'ip'].includes(p.metric)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'metric must be l2, cosine or ip');
  if (p.vectorName !== undefined && (typeof p.vectorName !== 'string' || p.vectorName.length > VECTOR_NAME_LENGTH_MAX)) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', `a vector name must be a string of at most ${VECTOR_NAME_LENGTH_MAX} characters`);
  }
  const { m, efConstruction, efSearch } = p.hnsw;
  if (!Number.isInteger(m) || m < 2 || m > 128) throw new JadeError('JADE_ERR_BAD_REQUEST', 'hnsw m must be an integer in 2..128');
  if (!Number.isInteger(efConstruction) || efConstruction < 4 || efConstruction > 4096) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', 'hnsw ef_construction must be an integer in 4..4096');
  }
  if (!Number.isInteger(efSearch) || efSearch < 1 || efSearch > 32_768) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', 'hnsw ef must be an integer in 1..32768');
  }
}

export class ShardState {
  private readonly arena: VectorArena;
  private readonly flat: FlatIndex;
  private hnsw: HnswIndex;
  private readonly labelOfId = new Map<string, number>();
  private readonly pointOfLabel = new Map<number, StoredPoint>();
  private readonly payloadIndexes = new Map<string, PayloadFieldIndex>();
  /** Per-value graphs of the is_tenant fields, by field. */
  private readonly tenantGraphs = new Map<string, TenantGraphs>();
  private nextLabel = 0;
  private sortedKeysCache: string[] | null = null;
  /**
   * Labels stored (and durable) but not yet inserted into the HNSW graph. Writes are acknowledged
   * without waiting for graph insertion (the slow part); searches scan this backlog exactly and
   * merge, so results never miss an acknowledged point. indexSome() drains it in the background.
   */
  private readonly unindexed = new Set<number>();

  constructor(readonly params: CollectionParams, readonly limits: ShardLimits = DEFAULT_SHARD_LIMITS) {
    validateParams(params);
    this.arena = new VectorArena(params.dimension);
    this.flat = new FlatIndex(params.dimension, params.metric, this.arena);
    this.hnsw = new HnswIndex(params.dimension, params.metric, params.hnsw);
  }

  get count(): number {
    return this.labelOfId.size;
  }

  /** Points not yet in the HNSW graph (searched exactly meanwhile). */
  get indexBacklog(): number {
    return this.unindexed.size;
  }

  /** Points not yet in their tenant's graph (scanned exactly meanwhile); rebuilt after a restart. */
  get tenantGraphBacklog(): number {
    let n = 0;
    for (const t of this.tenantGraphs.values()) n += t.backlog;
    return n;
  }

  /** All graph insertions waiting: the main graph's backlog, then the tenant graphs'. */
  get indexWork(): number {
    return this.unindexed.size + this.tenantGraphBacklog;
  }

  /** Points a value of an is_tenant field needs before it gets its own graph. */
  get tenantGraphPointsMin(): number {
    const elements = this.limits.tenantGraphElementsMin ?? TENANT_GRAPH_ELEMENTS_MIN;
    return Math.max(TENANT_GRAPH_POINTS_MIN, Math.ceil(elements / this.params.dimension));
  }

  /** Inserts up to `maxPoints` backlog points into the graph, stopping early past `deadlineMs` (performance.now()). */
  indexSome(maxPoints: number, deadlineMs = Infinity): number {
    if (this.hnsw.isSaving) return 0; // the graph is being written (saveGraphAsync); the backlog waits
    let done = 0;
    for (const label of this.unindexed) {
      if (done >= maxPoints || (done % 16 === 0 && performance.now() > deadlineMs)) break;
      this.unindexed.delete(label);
      this.hnsw.add(label, this.arena.get(label)!);
      done++;
    }
    // The main graph first: until a point is in it, unfiltered searches scan it exactly.
    for (const t of this.tenantGraphs.values()) {
      // In steps of 16, checking the deadline between them.
      while (done < maxPoints && t.backlog > 0 && performance.now() <= deadlineMs) done += t.indexSome(Math.min(maxPoints - done, 16), (label) => this.arena.get(label)!);
    }
    return done;
  }

  indexAll(): void {
    this.indexSome(Infinity);
  }

  /**
   * Checks a batch against this collection (dimension, finite numbers, ids, payload size) and
   * normalizes cosine vectors, so the logged batch is exactly what every replica applies.
   */
  validateBatch(batch: WriteBatch): WriteBatch {
    let points = 0;
    let upserts = 0;
    for (const op of batch.ops) {
      if (op.kind === 'upsert') upserts += op.points.length;
      if (op.kind === 'delete') points += op.ids.length;
      points += updateOpPoints(op);
      if (op.kind === 'update_vectors') upserts += op.points.length; // each goes into the graph again
    }
    points += upserts;
    if (points > this.limits.batchPointsMax) {
      throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `batch has ${points} points; the limit (batchPointsMax) is ${this.limits.batchPointsMax}`);
    }
    if (upserts > 0 && this.unindexed.size + upserts > this.limits.indexBacklogMax) {
      throw new JadeError('JADE_ERR_QUEUE_FULL', `indexing backlog is full (${this.unindexed.size} points waiting, indexBacklogMax ${this.limits.indexBacklogMax}); retry shortly`);
    }
    return {
      ops: batch.ops.map((op) => {
        if (op.kind === 'delete') return { kind: 'delete', ids: op.ids.map((id, i) => parsePointId(id, `ids[${i}]`)) };
        if (op.kind === 'delete_by_filter') {
          // Parsed here so a bad filter is refused before it is logged (its size is bounded by the
          // request body and the parser's condition budget); apply parses it again.
          parseDeleteFilter(op.filterJson);
          return op;
        }
        if (op.kind === 'create_payload_index') {
          checkPayloadIndexOp(op);
          return op.isTenant ? op : { kind: 'create_payload_index', field: op.field, schema: op.schema };
        }
        if (op.kind !== 'upsert') return this.validateUpdateOp(op);
        return { kind: 'upsert', points: op.points.map((p, i) => this.validatePoint(p, i)) };
      }),
    };
  }

  private validatePoint(p: PointRecord, i: number): PointRecord {
    const id = parsePointId(p.id, `points[${i}].id`);
    const v = checkVector(p.vector, this.params.dimension, `points[${i}]`);
    // Depth and finite numbers first: JSON.stringify below recurses.
    const payload = checkPayload(p.payload, `points[${i}].payload`);
    if (payload !== null) {
      const bytes = Buffer.byteLength(JSON.stringify(payload));
      if (bytes > this.limits.payloadBytesMax) {
        throw new JadeError('JADE_ERR_PAYLOAD_TOO_LARGE', `points[${i}]: payload is ${bytes} bytes; the limit (payloadBytesMax) is ${this.limits.payloadBytesMax}`);
      }
    }
    return { id, vector: this.params.metric === 'cosine' ? normalized(v) : v, payload };
  }

  /**
   * Checks a whole batch as apply() needs it, before anything changes: canonical ids, vectors of
   * the collection's dimension with finite numbers, storable payloads, parsable filters, known
   * index schemas. Only rules that hold alike on every replica (no configured limit), so every
   * replica accepts or refuses the same entry. Returns the parsed delete filters, in op order.
   */
  private checkApplicable(batch: WriteBatch): Filter[] {
    const filters: Filter[] = [];
    if (!batch || !Array.isArray(batch.ops)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'write batch has no ops');
    batch.ops.forEach((op, o) => {
      switch (op.kind) {
        case 'upsert':
          op.points.forEach((p, i) => {
            const where = `ops[${o}].points[${i}]`;
            checkStoredId(p.id, `${where}.id`);
            checkVector(p.vector, this.params.dimension, where);
            checkPayload(p.payload, `${where}.payload`);
          });
          break;
        case 'delete':
          op.ids.forEach((id, i) => checkStoredId(id, `ops[${o}].ids[${i}]`));
          break;
        case 'delete_by_filter':
          filters.push(parseDeleteFilter(op.filterJson));
          break;
        case 'create_payload_index':
          checkPayloadIndexOp(op);
          break;
        case 'set_payload':
        case 'delete_payload':
        case 'update_vectors':
          checkUpdateApplicable(op, this.params.dimension, `ops[${o}]`);
          break;
        default:
          throw new JadeError('JADE_ERR_BAD_REQUEST', `ops[${o}]: unknown write op ${JSON.stringify((op as { kind?: unknown }).kind)}`);
      }
    });
    return filters;
  }

  /**
   * Applies a batch: all of it or, when any part is not applicable (see checkApplicable), nothing,
   * with that part's coded error. Batches that passed validateBatch always apply.
   */
  apply(batch: WriteBatch): void {
    const filters = this.checkApplicable(batch);
    let f = 0;
    for (const op of batch.ops) {
      switch (op.kind) {
        case 'upsert':
          for (const p of op.points) this.upsertOne(p);
          break;
        case 'delete':
          for (const id of op.ids) this.deleteOne(id);
          break;
        case 'delete_by_filter':
          this.deleteMatching(filters[f++]);
          break;
        case 'create_payload_index':
          this.createPayloadIndex(op.field, op.schema, op.isTenant === true);
          break;
        case 'set_payload':
        case 'delete_payload':
        case 'update_vectors':
          this.applyUpdateOp(op);
          break;
      }
    }
  }

  private upsertOne(p: PointRecord): void {
    const key = idKey(p.id);
    const old = this.labelOfId.get(key);
    const label = this.nextLabel;
    assert(label <= 0xffffffff, 'label space (uint32) not exhausted');
    // The vector goes in first: if the arena refused it, no map would name a label without one.
    this.arena.set(label, p.vector);
    this.nextLabel++;
    if (old !== undefined) this.deleteLabel(key, old);
    this.labelOfId.set(key, label);
    this.pointOfLabel.set(label, { id: p.id, payload: p.payload });
    this.unindexed.add(label);
    for (const index of this.payloadIndexes.values()) index.add(label, p.payload);
    for (const t of this.tenantGraphs.values()) t.added(label, t.index.valuesOf(p.payload));
    if (old === undefined) this.sortedKeysCache = null;
  }

  /** Deletes every point matching `filter` (evaluated against the state as it is now). */
  private deleteMatching(filter: Filter): void {
    const doomed = [...this.labelsMatching(filter)]; // collected first: deleting changes the sets walked
    for (const label of doomed) this.deleteLabel(idKey(this.pointOfLabel.get(label)!.id), label);
    if (doomed.length > 0) this.sortedKeysCache = null;
  }

  private deleteOne(id: PointId): void {
    const key = idKey(id);
    const label = this.labelOfId.get(key);
    if (label === undefined) return;
    this.deleteLabel(key, label);
    this.sortedKeysCache = null;
  }

  private deleteLabel(key: string, label: number): void {
    const stored = this.pointOfLabel.get(label)!;
    for (const index of this.payloadIndexes.values()) index.remove(label, stored.payload);
    for (const t of this.tenantGraphs.values()) t.removed(label, t.index.valuesOf(stored.payload));
    this.labelOfId.delete(key);
    this.pointOfLabel.delete(label);
    this.arena.delete(label);
    if (!this.unindexed.delete(label)) this.hnsw.remove(label);
  }

  /** Creates (or replaces, when the schema or is_tenant differs) the index of one payload field. */
  createPayloadIndex(field: string, schema: PayloadSchema, isTenant = false): void {
    const existing = this.payloadIndexes.get(field);
    if (existing && existing.schema === schema && existing.isTenant === isTenant) return;
    const index = new PayloadFieldIndex(field, schema, isTenant);
    for (const [label, p] of this.pointOfLabel) index.add(label, p.payload);
    this.payloadIndexes.set(field, index);
    this.tenantGraphs.delete(field);
    // Every point of a large value starts pending: the indexer builds the graphs in the background.
    if (isTenant) this.tenantGraphs.set(field, new TenantGraphs(index, this.params.dimension, this.params.metric, this.params.hnsw, this.tenantGraphPointsMin));
  }

  payloadIndexList(): { field: string; schema: PayloadSchema; isTenant: boolean; distinctValues: number; points: number; tenantGraphs: number }[] {
    return [...this.payloadIndexes.values()].map((i) => ({
      field: i.field,
      schema: i.schema,
      isTenant: i.isTenant,
      distinctValues: i.distinctValues(),
      points: i.points,
      tenantGraphs: this.tenantGraphs.get(i.field)?.graphCount ?? 0,
    }));
  }

  get(id: PointId): { id: PointId; payload: Record<string, unknown> | null; vector: Float32Array } | null {
    const label = this.labelOfId.get(idKey(id));
    if (label === undefined) return null;
    const p = this.pointOfLabel.get(label)!;
    return { id: p.id, payload: p.payload, vector: new Float32Array(this.arena.get(label)!) };
  }

  /** Id and payload only: no copy of the vector (search results usually do not return it). */
  pointInfoByLabel(label: number): { id: PointId; payload: Record<string, unknown> | null } {
    return this.pointOfLabel.get(label)!;
  }

  pointByLabel(label: number): { id: PointId; payload: Record<string, unknown> | null; vector: Float32Array } {
    const p = this.pointOfLabel.get(label)!;
    return { id: p.id, payload: p.payload, vector: new Float32Array(this.arena.get(label)!) };
  }

  private matches(label: number, filter: Filter): boolean {
    const p = this.pointOfLabel.get(label);
    return p !== undefined && matchFilter(filter, p);
  }

  /**
   * Labels that can match the filter, from payload indexes and has_id: an exact superset of the
   * matches, or null when no indexed condition narrows it. Read-only: it may be a payload index's
   * own set (a single indexed condition is not copied per search).
   */
  candidateLabels(filter: Filter): ReadonlySet<number> | null {
    let result: ReadonlySet<number> | null = null;
    const intersect = (s: ReadonlySet<number>) => {
      if (result === null) {
        result = s;
        return;
      }
      const [small, large] = result.size <= s.size ? [result, s] : [s, result];
      const both = new Set<number>();
      for (const l of small) if (large.has(l)) both.add(l);
      result = both;
    };
    for (const c of filter.must) {
      let s: ReadonlySet<number> | null = null;
      if (c.type === 'has_id') {
        const ids = new Set<number>();
        for (const key of c.ids) {
          const l = this.labelOfId.get(key);
          if (l !== undefined) ids.add(l);
        }
        s = ids;
      } else if (c.type === 'filter') {
        s = this.candidateLabels(c.filter);
      } else if ('key' in c) {
        s = this.payloadIndexes.get(c.key)?.candidates(c) ?? null;
      }
      if (s) intersect(s);
    }
    if (result === null && filter.should.length > 0) {
      const union = new Set<number>();
      for (const c of filter.should) {
        const s = c.type === 'filter' ? this.candidateLabels(c.filter) : 'key' in c ? this.payloadIndexes.get(c.key)?.candidates(c) ?? null : null;
        if (!s) return null;
        for (const l of s) union.add(l);
      }
      result = union;
    }
    return result;
  }

  search(req: SearchRequest): { hits: ShardHit[]; plan: SearchPlan } {
    const { vector, k } = req;
    if (vector.length !== this.params.dimension) {
      throw new JadeError('JADE_ERR_DIMENSION_MISMATCH', `query vector has ${vector.length} dimensions; collection expects ${this.params.dimension}`);
    }
    for (let j = 0; j < vector.length; j++) {
      if (!Number.isFinite(vector[j])) throw new JadeError('JADE_ERR_NOT_FINITE', `query vector[${j}] is not a finite number`);
    }
    const query = this.params.metric === 'cosine' ? normalized(vector) : vector;
    const filter = req.filter ?? null;
    const toHits = (hits: IndexHit[]): ShardHit[] => hits.map((h) => ({ label: h.label, id: this.pointOfLabel.get(h.label)!.id, distance: h.distance }));
    if (k <= 0 || this.count === 0) return { hits: [], plan: filter ? 'exact_filtered' : 'exact' };

    if (!filter) {
      if (req.exact) return { hits: toHits(this.flat.search(query, k)), plan: 'exact' };
      return { hits: toHits(this.withBacklog(query, k, this.hnsw.search(query, k, { ef: req.ef }))), plan: 'hnsw' };
    }

    const candidates = this.candidateLabels(filter);
    const predicate = (label: number) => (candidates === null || candidates.has(label)) && this.matches(label, filter);
    const exactScanMax = Math.max(this.limits.exactScanCandidatesMax, Math.floor(this.limits.exactScanElementsMax / this.params.dimension), k);
    const exactFiltered = () => ({ hits: toHits(this.flat.searchLabels(query, k, candidates ?? this.arena.labels(), (l) => this.matches(l, filter))), plan: 'exact_filtered' as const });
    // Few candidates: a scan is as fast as any graph (and exact).
    if (req.exact || (candidates !== null && candidates.size <= Math.max(k, this.tenantGraphPointsMin))) return exactFiltered();
    const tenant = this.tenantGraphOf(filter);
    if (tenant) {
      const hits = this.searchTenantGraph(query, k, req.ef, tenant.graph, tenant.alone ? null : predicate);
      if (hits) return { hits: toHits(hits), plan: 'hnsw_partition' };
    }
    if (candidates !== null && candidates.size <= exactScanMax) return exactFiltered();
    // Filtered graph walk; hnswlib may stop short of k when matches are sparse, so raise ef.
    let ef = Math.max(req.ef ?? this.params.hnsw.efSearch, k);
    for (;;) {
      const hits = this.withBacklog(query, k, this.hnsw.search(query, k, { ef, filter: predicate }), predicate);
      if (hits.length >= k || ef >= this.count) {
        if (hits.length >= k) return { hits: toHits(hits), plan: 'hnsw_filtered' };
        break;
      }
      ef = Math.min(ef * 4, this.count);
    }
    // The graph could not reach k matches: the exact scan guarantees k whenever k points match.
    const pool = candidates ?? this.arena.labels();
    return { hits: toHits(this.flat.searchLabels(query, k, pool, (l) => this.matches(l, filter))), plan: 'exact_filtered' };
  }

  /**
   * The graph of a `must` match on an is_tenant field (the smallest, when several), and whether
   * that match is the whole filter (then the walk needs no predicate).
   */
  private tenantGraphOf(filter: Filter): { graph: TenantGraph; alone: boolean } | null {
    let best: TenantGraph | null = null;
    for (const c of filter.must) {
      if (c.type !== 'match') continue;
      const g = this.tenantGraphs.get(c.key)?.graphFor(c.value);
      if (g && (!best || g.graph.size() + g.pending.size < best.graph.size() + best.pending.size)) best = g;
    }
    if (!best) return null;
    const alone = filter.must.length === 1 && filter.should.length === 0 && filter.mustNot.length === 0 && !filter.minShould;
    return { graph: best, alone };
  }

  /**
   * k nearest in a tenant graph (its pending points scanned and merged), ef raised until k match;
   * null when the graph cannot give k (the caller scans exactly).
   */
  private searchTenantGraph(query: Float32Array, k: number, efAsked: number | undefined, t: TenantGraph, predicate: ((label: number) => boolean) | null): IndexHit[] | null {
    const size = t.graph.size();
    let ef = Math.max(efAsked ?? this.params.hnsw.efSearch, k);
    for (;;) {
      const graphHits = size === 0 ? [] : t.graph.search(query, k, predicate ? { ef, filter: predicate } : { ef });
      const hits = t.pending.size === 0 ? graphHits : mergeHits(graphHits, this.flat.searchLabels(query, k, t.pending, predicate ?? undefined), k);
      if (hits.length >= k) return hits;
      if (ef >= size) return null;
      ef = Math.min(ef * 4, size);
    }
  }

  /** Merges graph hits with an exact scan of the not-yet-indexed backlog. */
  private withBacklog(query: Float32Array, k: number, graphHits: IndexHit[], filter?: (label: number) => boolean): IndexHit[] {
    if (this.unindexed.size === 0) return graphHits;
    return mergeHits(graphHits, this.flat.searchLabels(query, k, this.unindexed, filter), k);
  }

  countMatching(filter: Filter | null): number {
    if (!filter) return this.count;
    let n = 0;
    for (const _label of this.labelsMatching(filter)) n++;
    return n;
  }

  /** Labels of the points matching `filter`: the payload indexes' candidates (or all), checked. */
  private *labelsMatching(filter: Filter): Generator<number> {
    for (const label of this.candidateLabels(filter) ?? this.pointOfLabel.keys()) if (this.matches(label, filter)) yield label;
  }

  /** Points ordered by id (integers ascending, then UUIDs), starting at `offset` inclusive. */
  scroll(offset: PointId | null, limit: number, filter: Filter | null): { labels: number[]; nextOffset: PointId | null } {
    const keys = this.sortedKeys();
    let i = 0;
    if (offset !== null) i = lowerBoundKey(keys, idKey(offset));
    const labels: number[] = [];
    for (; i < keys.length; i++) {
      const label = this.labelOfId.get(keys[i])!;
      if (filter && !this.matches(label, filter)) continue;
      if (labels.length === limit) return { labels, nextOffset: this.pointOfLabel.get(label)!.id };
      labels.push(label);
    }
    return { labels, nextOffset: null };
  }

  private sortedKeys(): string[] {
    if (!this.sortedKeysCache) this.sortedKeysCache = [...this.labelOfId.keys()].sort(compareIdKeys);
    return this.sortedKeysCache;
  }

  /**
   * The points as they are now, for an image encoded while writes go on: copies of the maps (their
   * values are never changed in place, only replaced) and a frozen view of the vectors; release
   * it (vectors.release()) when done.
   */
  freeze(): { points: ReadonlyMap<number, { id: PointId; payload: Record<string, unknown> | null }>; vectors: FrozenVectors; nextLabel: number; payloadIndexes: { field: string; schema: PayloadSchema; isTenant: boolean }[] } {
    return {
      points: new Map(this.pointOfLabel),
      vectors: this.arena.freeze(),
      nextLabel: this.nextLabel,
      payloadIndexes: this.payloadIndexList().map(({ field, schema, isTenant }) => ({ field, schema, isTenant })),
    };
  }

  /** Every point with its label; the vectors are views into the arena, valid until the next write. */
  exportPoints(): { labels: Uint32Array; points: PointRecord[]; nextLabel: number; unindexed: Uint32Array } {
    const labels = new Uint32Array(this.pointOfLabel.size);
    const points: PointRecord[] = [];
    let i = 0;
    for (const [label, p] of this.pointOfLabel) {
      labels[i++] = label;
      points.push({ id: p.id, payload: p.payload, vector: this.arena.get(label)! });
    }
    return { labels, points, nextLabel: this.nextLabel, unindexed: Uint32Array.from(this.unindexed) };
  }

  saveGraph(path: string): void {
    this.hnsw.save(path);
  }

  /**
   * Writes the graph as it is now, off the event loop, with the labels not in it (the backlog at
   * this instant). Until it settles the indexer pauses (indexSome returns 0) and deletions are
   * kept out of search answers; writes and searches go on.
   */
  saveGraphAsync(path: string): { unindexed: Uint32Array; done: Promise<void> } {
    return { unindexed: Uint32Array.from(this.unindexed), done: this.hnsw.saveAsync(path) };
  }

  /** True while saveGraphAsync() is writing: the indexer should wait for it. */
  get graphSaving(): boolean {
    return this.hnsw.isSaving;
  }

  /**
   * Rebuilds from a checkpoint; with a saved graph (a file to load, or a graph loaded already for
   * these labels, see graphLabels) the HNSW index is not rebuilt.
   */
  static restore(
    params: CollectionParams,
    limits: ShardLimits,
    data: { labels: Uint32Array; points: PointRecord[]; nextLabel: number; unindexed: Uint32Array; payloadIndexes: { field: string; schema: string; isTenant?: boolean }[] },
    graph: string | HnswIndex | null,
  ): ShardState {
    const s = new ShardState(params, limits);
    assert(data.labels.length === data.points.length, 'checkpoint labels match points');
    const unindexed = new Set(data.unindexed);
    if (typeof graph === 'string') s.hnsw = HnswIndex.load(graph, params.dimension, params.metric, params.hnsw, ShardState.graphLabels(data.labels, unindexed));
    else if (graph) s.hnsw = graph;
    for (let i = 0; i < data.points.length; i++) {
      const p = data.points[i];
      const label = data.labels[i];
      s.labelOfId.set(idKey(p.id), label);
      s.pointOfLabel.set(label, { id: p.id, payload: p.payload });
      s.arena.set(label, p.vector);
      // Without a saved graph every point is re-indexed in the background.
      if (!graph || unindexed.has(label)) s.unindexed.add(label);
    }
    s.nextLabel = data.nextLabel;
    // Tenant graphs are not saved: created here with every point pending, built by the indexer.
    for (const pi of data.payloadIndexes) s.createPayloadIndex(pi.field, pi.schema as PayloadSchema, pi.isTenant === true);
    return s;
  }

  /** The labels a saved graph holds: those stored, less the backlog when it was saved. */
  static graphLabels(labels: Uint32Array, unindexed: ReadonlySet<number>): number[] {
    return Array.from(labels).filter((l) => !unindexed.has(l));
  }

  // ---- Payload and vector updates (set / overwrite / delete / clear payload, update vectors) ----
  // Validated like every op before the batch is logged; applied to the points as they are when the
  // op is applied (a filter is evaluated there; an id deleted meanwhile is skipped), so every
  // replica and every WAL replay reaches the same state. Payload indexes follow each change.

  private validateUpdateOp(op: UpdateOp): UpdateOp {
    switch (op.kind) {
      case 'set_payload': {
        if (op.payload === null || typeof op.payload !== 'object' || Array.isArray(op.payload)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'payload must be a JSON object');
        checkPayload(op.payload, 'payload');
        this.checkPayloadSize(op.payload, 'payload');
        const target = this.validateSelector(op.target);
        // A merge may grow a payload past the limit: checked against the points as they are now.
        if (!op.overwrite && 'ids' in target) for (const id of target.ids) this.checkPayloadSize({ ...(this.get(id)?.payload ?? {}), ...op.payload }, `payload of point ${JSON.stringify(id)} after the update`);
        return { kind: 'set_payload', payload: op.payload, overwrite: op.overwrite === true, target };
      }
      case 'delete_payload': {
        if (!Array.isArray(op.keys) || op.keys.length === 0 || op.keys.length > PAYLOAD_KEYS_MAX) throw new JadeError('JADE_ERR_BAD_REQUEST', `keys must list 1..${PAYLOAD_KEYS_MAX} payload keys`);
        for (const k of op.keys) {
          if (typeof k !== 'string' || k.length === 0 || k.length > 256) throw new JadeError('JADE_ERR_BAD_REQUEST', 'each payload key must be a non-empty string of at most 256 characters');
          if (/[[\]]/.test(k)) throw new JadeError('JADE_ERR_BAD_REQUEST', `payload key "${k}": array paths ([]) are not supported; use dotted keys into nested objects`);
        }
        return { kind: 'delete_payload', keys: op.keys, target: this.validateSelector(op.target) };
      }
      case 'update_vectors': {
        const points = op.points.map((p, i) => {
          const v = this.validatePoint({ id: p.id, vector: p.vector, payload: null }, i);
          return { id: v.id, vector: v.vector };
        });
        this.requireExisting(points.map((p) => p.id));
        return { kind: 'update_vectors', points };
      }
      default:
        throw new JadeError('JADE_ERR_INTERNAL', `unknown write op ${(op as { kind: string }).kind}`);
    }
  }

  private checkPayloadSize(payload: Record<string, unknown>, what: string): void {
    const bytes = Buffer.byteLength(JSON.stringify(payload));
    if (bytes > this.limits.payloadBytesMax) throw new JadeError('JADE_ERR_PAYLOAD_TOO_LARGE', `${what} is ${bytes} bytes; the limit (payloadBytesMax) is ${this.limits.payloadBytesMax}`);
  }

  /** Ids parsed and required to exist (Qdrant answers 404 for an update of a missing point), or the filter checked. */
  private validateSelector(target: PointSelector): PointSelector {
    if ('filterJson' in target) {
      let raw: unknown;
      try {
        raw = JSON.parse(target.filterJson);
      } catch {
        throw new JadeError('JADE_ERR_BAD_FILTER', 'filter is not valid JSON');
      }
      if (!parseFilter(raw)) throw new JadeError('JADE_ERR_BAD_FILTER', 'an update by filter needs a filter');
      return target;
    }
    const ids = target.ids.map((id, i) => parsePointId(id, `points[${i}]`));
    this.requireExisting(ids);
    return { ids };
  }

  private requireExisting(ids: readonly PointId[]): void {
    for (const id of ids) if (!this.labelOfId.has(idKey(id))) throw new JadeError('JADE_ERR_NOT_FOUND', `point ${JSON.stringify(id)} does not exist`);
  }

  /** Labels an update addresses, as the state is now. */
  private labelsOf(target: PointSelector): number[] {
    if ('filterJson' in target) return [...this.labelsMatching(parseFilter(JSON.parse(target.filterJson))!)];
    const labels: number[] = [];
    for (const id of target.ids) {
      const l = this.labelOfId.get(idKey(id));
      if (l !== undefined) labels.push(l);
    }
    return labels;
  }

  private applyUpdateOp(op: UpdateOp): void {
    switch (op.kind) {
      case 'set_payload':
        for (const label of this.labelsOf(op.target)) {
          const stored = this.pointOfLabel.get(label)!;
          this.replacePayload(label, stored, op.overwrite ? op.payload : { ...(stored.payload ?? {}), ...op.payload });
        }
        break;
      case 'delete_payload':
        for (const label of this.labelsOf(op.target)) {
          const stored = this.pointOfLabel.get(label)!;
          const next = withoutPaths(stored.payload, op.keys);
          if (next !== stored.payload) this.replacePayload(label, stored, next);
        }
        break;
      case 'update_vectors':
        for (const p of op.points) {
          const label = this.labelOfId.get(idKey(p.id));
          if (label === undefined) continue; // deleted after validation: nothing to update
          this.upsertOne({ id: p.id, vector: p.vector, payload: this.pointOfLabel.get(label)!.payload });
        }
        break;
    }
  }

  /** Stored points are replaced, never changed in place (freeze() shares them with snapshots being written). */
  private replacePayload(label: number, stored: StoredPoint, payload: Record<string, unknown> | null): void {
    for (const index of this.payloadIndexes.values()) {
      const t = this.tenantGraphs.get(index.field);
      const before = t ? index.valuesOf(stored.payload) : [];
      index.remove(label, stored.payload);
      if (t) t.removed(label, before.filter((v) => !index.valuesOf(payload).includes(v)));
      index.add(label, payload);
      // A point whose tenant changed moves to the new value's graph (via its pending set).
      if (t) t.added(label, index.valuesOf(payload).filter((v) => !before.includes(v)));
    }
    this.pointOfLabel.set(label, { id: stored.id, payload });
  }

  memoryBytes(): { vectors: number; index: number } {
    let tenants = 0;
    for (const t of this.tenantGraphs.values()) tenants += t.memoryBytes();
    return { vectors: this.arena.byteSize(), index: this.hnsw.memoryBytes() + tenants };
  }
}

/** The filter of a delete-by-filter op (JSON text), or JADE_ERR_BAD_FILTER. */
function parseDeleteFilter(filterJson: string): Filter {
  let raw: unknown;
  try {
    raw = JSON.parse(filterJson);
  } catch {
    throw new JadeError('JADE_ERR_BAD_FILTER', 'filter is not valid JSON');
  }
  const filter = parseFilter(raw);
  if (!filter) throw new JadeError('JADE_ERR_BAD_FILTER', 'delete by filter needs a filter');
  return filter;
}

function checkPayloadIndexOp(op: { field: string; schema: string; isTenant?: boolean }): void {
  if (!PAYLOAD_SCHEMAS.includes(op.schema as PayloadSchema)) throw new JadeError('JADE_ERR_BAD_REQUEST', `field_schema must be one of ${PAYLOAD_SCHEMAS.join(', ')}`);
  if (typeof op.field !== 'string' || op.field.length === 0 || op.field.length > 256) throw new JadeError('JADE_ERR_BAD_REQUEST', 'field_name must be a non-empty string');
  if (op.isTenant !== undefined && typeof op.isTenant !== 'boolean') throw new JadeError('JADE_ERR_BAD_REQUEST', 'is_tenant must be a boolean');
  if (op.isTenant && !TENANT_SCHEMAS.includes(op.schema as PayloadSchema)) throw new JadeError('JADE_ERR_BAD_REQUEST', `is_tenant is only supported on ${TENANT_SCHEMAS.join(' and ')} indexes`);
}

/** The k nearest of two ascending hit lists (ties by lower label). */
function mergeHits(a: IndexHit[], b: IndexHit[], k: number): IndexHit[] {
  return [...a, ...b].sort((x, y) => x.distance - y.distance || x.label - y.label).slice(0, k);
}

function isNumericKey(k: string): boolean {
  return k.length > 0 && k.length < 17 && /^[0-9]+$/.test(k);
}

/** The one order of point ids (integers ascending, then UUIDs), over idKey() keys: scroll pages and merges share it. */
export function compareIdKeys(a: string, b: string): number {
  const an = isNumericKey(a);
  const bn = isNumericKey(b);
  if (an && bn) return Number(a) - Number(b);
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function lowerBoundKey(keys: string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareIdKeys(keys[mid], key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

type UpdateOp = Extract<WriteOp, { kind: 'set_payload' | 'delete_payload' | 'update_vectors' }>;

/** Keys one delete_payload may name. */
export const PAYLOAD_KEYS_MAX = 1024;

/** Points a payload or vector update names (counted against batchPointsMax). */
function updateOpPoints(op: WriteOp): number {
  if (op.kind === 'update_vectors') return op.points.length;
  if ((op.kind === 'set_payload' || op.kind === 'delete_payload') && 'ids' in op.target) return op.target.ids.length;
  return 0;
}

/** The payload without the dotted paths given (copies only along changed paths), or the same object when none was there. */
export function withoutPaths(payload: Record<string, unknown> | null, paths: readonly string[]): Record<string, unknown> | null {
  if (payload === null) return null;
  let out = payload;
  for (const path of paths) out = withoutPath(out, path.split('.'));
  return out;
}

function withoutPath(obj: Record<string, unknown>, parts: string[]): Record<string, unknown> {
  const [head, ...rest] = parts;
  if (!Object.prototype.hasOwnProperty.call(obj, head)) return obj;
  if (rest.length === 0) {
    const copy = { ...obj };
    delete copy[head];
    return copy;
  }
  const child = obj[head];
  if (child === null || typeof child !== 'object' || Array.isArray(child)) return obj;
  const next = withoutPath(child as Record<string, unknown>, rest);
  return next === child ? obj : { ...obj, [head]: next };
}

/**
 * What apply() needs of a payload or vector update, the same on every replica (no configured
 * limit, no question of which points exist): a storable payload, canonical ids or a parsable
 * filter, well-formed keys, vectors of the collection's dimension.
 */
function checkUpdateApplicable(op: UpdateOp, dimension: number, where: string): void {
  const checkTarget = (target: PointSelector) => {
    if (target && 'filterJson' in target) parseDeleteFilter(target.filterJson);
    else if (target && Array.isArray(target.ids)) target.ids.forEach((id, i) => checkStoredId(id, `${where}.ids[${i}]`));
    else throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}: no points named (ids or filter)`);
  };
  switch (op.kind) {
    case 'set_payload':
      if (checkPayload(op.payload, `${where}.payload`) === null) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}.payload must be a JSON object`);
      checkTarget(op.target);
      break;
    case 'delete_payload':
      if (!Array.isArray(op.keys) || op.keys.length === 0 || !op.keys.every((k) => typeof k === 'string' && k.length > 0 && !/[[\]]/.test(k))) throw new JadeError('JADE_ERR_BAD_REQUEST', `${where}.keys must be non-empty dotted payload keys`);
      checkTarget(op.target);
      break;
    case 'update_vectors':
      op.points.forEach((p, i) => {
        checkStoredId(p.id, `${where}.points[${i}].id`);
        checkVector(p.vector, dimension, `${where}.points[${i}]`);
      });
      break;
  }
}
