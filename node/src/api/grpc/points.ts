// qdrant.Points: upsert, delete, get, search (single, batch), query (single, batch), scroll, count and
// payload indexes, turned into the same collection-layer calls the REST routes make, with the REST
// parsers wherever a request maps onto a REST body (search options, queries, with_payload).
import { create } from '@bufbuild/protobuf';
import {
  CountResponseSchema,
  GetResponseSchema,
  PointsOperationResponseSchema,
  QueryBatchResponseSchema,
  QueryResponseSchema,
  ScrollResponseSchema,
  SearchBatchResponseSchema,
  SearchResponseSchema,
  UpdateStatus,
  FieldType,
  type CountPoints,
  type CreateFieldIndexCollection,
  type DeletePoints,
  type GetPoints,
  type QueryBatchPoints,
  type QueryPoints,
  type ScrollPoints,
  type SearchBatchPoints,
  type SearchParams,
  type SearchPoints,
  type UpsertPoints,
  type WithPayloadSelector,
  type WithVectorsSelector,
} from '@qdrant/js-client-grpc';
import type { CollectionParams } from '../../query/vocabulary.js';
import { parseFilter, type PayloadSchema } from '../../query/vocabulary.js';
import type { SearchSpec } from '../../query/types.js';
import type { PointId, PointRecord } from '../../storage/types.js';
import { JadeError } from '../../util/errors.js';
import { intInRange } from '../rest/context.js';
import { checkUsing, parseVectors, parseWithPayload, parseWithVector, unwrapSearchVector, parseVector } from '../rest/convert.js';
import { parseQuery, parseSearchOptions } from '../rest/routes/search.js';
import type { GrpcCall, GrpcDeps } from './context.js';
import { readOptionsOf, writeOptionsOf } from './context.js';
import { filterIn, invalid, payloadIn, pointIdIn, pointIdOut, pointVectorIn, retrievedOut, safeNumber, scoredOut, snakeCase, unsupported } from './convert.js';

/** The REST body's with_payload of a selector (absent stays absent: each request has its own default). */
function withPayloadJson(s: WithPayloadSelector | undefined): unknown {
  const o = s?.selectorOptions;
  if (!o || o.case === undefined) return undefined;
  if (o.case === 'enable') return o.value;
  return o.case === 'include' ? { include: o.value.fields } : { exclude: o.value.fields };
}

function withVectorJson(s: WithVectorsSelector | undefined): unknown {
  const o = s?.selectorOptions;
  if (!o || o.case === undefined) return undefined;
  return o.case === 'enable' ? o.value : o.value.names;
}

function paramsJson(p: SearchParams | undefined, where: string): Record<string, unknown> {
  if (!p) return {};
  if (p.quantization) unsupported(`${where}.quantization`, 'is not supported: vectors are not quantized');
  if (p.indexedOnly === true) unsupported(`${where}.indexed_only`, 'is not supported: points not yet indexed are searched exactly');
  if (p.acorn) unsupported(`${where}.acorn`);
  return { hnsw_ef: p.hnswEf === undefined ? undefined : safeNumber(p.hnswEf, `${where}.hnsw_ef`), exact: p.exact };
}

function refuseShardKey(req: { shardKeySelector?: unknown }): void {
  if (req.shardKeySelector) unsupported('shard_key_selector', 'is not supported: sharding is automatic (by point id)');
}

/** A SearchPoints as the collection layer's SearchSpec, through the REST parser of the same body. */
function searchSpecOf(s: SearchPoints, deps: GrpcDeps, params: CollectionParams, where: string): SearchSpec {
  refuseShardKey(s);
  if (s.sparseIndices) unsupported(`${where}.sparse_indices`, 'sparse vectors are not supported');
  const body = {
    filter: filterIn(s.filter),
    limit: safeNumber(s.limit, `${where}.limit`),
    offset: s.offset === undefined ? undefined : safeNumber(s.offset, `${where}.offset`),
    params: paramsJson(s.params, `${where}.params`),
    with_payload: withPayloadJson(s.withPayload),
    with_vector: withVectorJson(s.withVectors),
    score_threshold: s.scoreThreshold,
  };
  const raw = s.vectorName === undefined ? s.vector : { name: s.vectorName, vector: s.vector };
  return { ...parseSearchOptions(body, deps.app.limits, params), vector: parseVector(unwrapSearchVector(raw, params, `${where}.vector`), `${where}.vector`) };
}

/** A QueryPoints as a SearchSpec: nearest by vector or by point id (optionally with MMR); other queries are refused. */
function querySpecOf(q: QueryPoints, deps: GrpcDeps, params: CollectionParams, where: string): SearchSpec {
  refuseShardKey(q);
  if (q.prefetch.length > 0) unsupported(`${where}.prefetch`, 'is not supported: only single-stage nearest-neighbour queries are');
  if (q.lookupFrom) unsupported(`${where}.lookup_from`);
  checkUsing(q.using, params);
  const body = {
    filter: filterIn(q.filter),
    limit: q.limit === undefined ? undefined : safeNumber(q.limit, `${where}.limit`),
    offset: q.offset === undefined ? undefined : safeNumber(q.offset, `${where}.offset`),
    params: paramsJson(q.params, `${where}.params`),
    with_payload: withPayloadJson(q.withPayload),
    with_vector: withVectorJson(q.withVectors),
    score_threshold: q.scoreThreshold,
  };
  const options = parseSearchOptions(body, deps.app.limits, params);
  const variant = q.query?.variant;
  let query: unknown;
  const nearest = (v: NonNullable<typeof q.query>['variant'] & { case: 'nearest' }, at: string): unknown => {
    const input = v.value.variant;
    if (input.case === 'id') return pointIdIn(input.value, `${at}.id`);
    if (input.case === 'dense') return input.value.data;
    if (input.case === undefined) return invalid(`${at} needs a vector or a point id`);
    return unsupported(`${at}.${snakeCase(input.case)}`, input.case === 'sparse' ? 'sparse vectors are not supported' : input.case === 'multiDense' ? 'multi-vectors are not supported' : 'inference (documents, images, objects) is not supported: send a dense vector');
  };
  if (variant === undefined || variant.case === undefined) query = undefined;
  else if (variant.case === 'nearest') query = nearest(variant, `${where}.query.nearest`);
  else if (variant.case === 'nearestWithMmr') {
    const m = variant.value.mmr;
    if (!variant.value.nearest) invalid(`${where}.query.nearest_with_mmr.nearest is required`);
    query = {
      nearest: nearest({ case: 'nearest', value: variant.value.nearest }, `${where}.query.nearest_with_mmr.nearest`),
      ...(m ? { mmr: { ...(m.diversity === undefined ? {} : { diversity: m.diversity }), ...(m.candidatesLimit === undefined ? {} : { candidates_limit: m.candidatesLimit }) } } : {}),
    };
  } else {
    unsupported(`${where}.query.${snakeCase(variant.case)}`, 'is not supported: only nearest-neighbour queries (by vector or by point id) are');
  }
  return { ...options, ...parseQuery(query, options.limit) };
}

const INDEX_TYPES: Partial<Record<FieldType, PayloadSchema>> = { [FieldType.FieldTypeKeyword]: 'keyword', [FieldType.FieldTypeInteger]: 'integer', [FieldType.FieldTypeFloat]: 'float', [FieldType.FieldTypeBool]: 'bool' };

export const operationOut = (operationId: number) => create(PointsOperationResponseSchema, { result: { operationId: BigInt(operationId), status: UpdateStatus.Completed } });

export function pointHandlers(deps: GrpcDeps) {
  const { database, limits, metrics } = deps.app;
  const tooMany = (n: number, what: string) => new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${n} ${what} in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
  const checkBatch = (n: number) => {
    if (n > limits.searchBatchMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${n} searches in one batch; the limit (searchBatchMax) is ${limits.searchBatchMax}`);
  };
  return {
    async Upsert(req: UpsertPoints, call: GrpcCall) {
      refuseShardKey(req);
      if (req.updateFilter) unsupported('update_filter', 'is not supported: upserts are unconditional');
      if (req.updateMode !== undefined && req.updateMode !== 0) unsupported('update_mode', 'is not supported: an upsert inserts or replaces');
      const collection = database.collection(req.collectionName);
      const params = collection.params;
      if (req.points.length > limits.batchPointsMax) throw tooMany(req.points.length, 'points');
      const vectors = parseVectors(req.points.map((p, i) => pointVectorIn(p.vectors, params, `points[${i}].vectors`)), (i) => `points[${i}].vectors`);
      const points: PointRecord[] = req.points.map((p, i) => ({ id: pointIdIn(p.id, `points[${i}].id`), vector: vectors[i], payload: payloadIn(p.payload, `points[${i}].payload`) }));
      const written = await deps.writes.write(req.collectionName, { ops: [{ kind: 'upsert', points }] }, writeOptionsOf(call, req.timeout));
      metrics.pointsUpserted.inc({ collection: collection.name }, points.length);
      return operationOut(written.operation_id);
    },

    async Delete(req: DeletePoints, call: GrpcCall) {
      refuseShardKey(req);
      const selector = req.points?.pointsSelectorOneOf;
      if (!selector || selector.case === undefined) invalid('points: a selector (ids or filter) is required');
      if (selector.case === 'points') {
        const raw = selector.value.ids;
        if (raw.length > limits.batchPointsMax) throw tooMany(raw.length, 'ids');
        const ids: PointId[] = raw.map((id, i) => pointIdIn(id, `points.ids[${i}]`));
        return operationOut((await deps.writes.write(req.collectionName, { ops: [{ kind: 'delete', ids }] }, writeOptionsOf(call, req.timeout))).operation_id);
      }
      const filter = filterIn(selector.value);
      parseFilter(filter); // a bad filter is refused before anything is logged
      return operationOut((await deps.writes.write(req.collectionName, { ops: [{ kind: 'delete_by_filter', filterJson: JSON.stringify(filter ?? {}) }] }, writeOptionsOf(call, req.timeout))).operation_id);
    },

    async Get(req: GetPoints, call: GrpcCall) {
      refuseShardKey(req);
      const collection = database.collection(req.collectionName);
      if (req.ids.length > limits.batchPointsMax) throw tooMany(req.ids.length, 'ids');
      const ids = req.ids.map((id, i) => pointIdIn(id, `ids[${i}]`));
      const { found } = await collection.retrieve(ids, parseWithPayload(withPayloadJson(req.withPayload), true), parseWithVector(withVectorJson(req.withVectors), collection.params), readOptionsOf(call, req.readConsistency, req.timeout));
      return create(GetResponseSchema, { result: found.map((p) => retrievedOut(p, collection.params)) });
    },

    async Search(req: SearchPoints, call: GrpcCall) {
      const collection = database.collection(req.collectionName);
      const spec = searchSpecOf(req, deps, collection.params, 'search');
      const result = await collection.search(spec, readOptionsOf(call, req.readConsistency, req.timeout));
      return create(SearchResponseSchema, { result: result.hits.map((h) => scoredOut(h, collection.params)) });
    },

    async SearchBatch(req: SearchBatchPoints, call: GrpcCall) {
      checkBatch(req.searchPoints.length);
      const collection = database.collection(req.collectionName);
      const specs = req.searchPoints.map((s, i) => {
        if (s.collectionName !== '' && database.resolve(s.collectionName) !== collection.name) invalid(`search_points[${i}].collection_name names another collection than the batch`);
        return searchSpecOf(s, deps, collection.params, `search_points[${i}]`);
      });
      const results = await collection.searchBatch(specs, readOptionsOf(call, req.readConsistency, req.timeout));
      return create(SearchBatchResponseSchema, { result: results.map((r) => ({ result: r.hits.map((h) => scoredOut(h, collection.params)) })) });
    },

    async Query(req: QueryPoints, call: GrpcCall) {
      const collection = database.collection(req.collectionName);
      const spec = querySpecOf(req, deps, collection.params, 'query_points');
      const result = await collection.search(spec, readOptionsOf(call, req.readConsistency, req.timeout));
      return create(QueryResponseSchema, { result: result.hits.map((h) => scoredOut(h, collection.params)) });
    },

    async QueryBatch(req: QueryBatchPoints, call: GrpcCall) {
      checkBatch(req.queryPoints.length);
      const collection = database.collection(req.collectionName);
      const specs = req.queryPoints.map((q, i) => {
        if (q.collectionName !== '' && database.resolve(q.collectionName) !== collection.name) invalid(`query_points[${i}].collection_name names another collection than the batch`);
        return querySpecOf(q, deps, collection.params, `query_points[${i}]`);
      });
      const results = await collection.searchBatch(specs, readOptionsOf(call, req.readConsistency, req.timeout));
      return create(QueryBatchResponseSchema, { result: results.map((r) => ({ result: r.hits.map((h) => scoredOut(h, collection.params)) })) });
    },

    async Scroll(req: ScrollPoints, call: GrpcCall) {
      refuseShardKey(req);
      if (req.orderBy) unsupported('order_by', 'is not supported: pages follow point id order');
      const collection = database.collection(req.collectionName);
      const limit = intInRange(req.limit, 'limit', 10, 0, limits.batchPointsMax);
      const offset = req.offset === undefined ? null : pointIdIn(req.offset, 'offset');
      const filter = filterIn(req.filter);
      parseFilter(filter);
      const page = await collection.scroll({ offset, limit, filter, withPayload: parseWithPayload(withPayloadJson(req.withPayload), true), withVector: parseWithVector(withVectorJson(req.withVectors), collection.params) }, readOptionsOf(call, req.readConsistency, req.timeout));
      return create(ScrollResponseSchema, { result: page.points.map((p) => retrievedOut(p, collection.params)), ...(page.nextOffset === null ? {} : { nextPageOffset: pointIdOut(page.nextOffset) }) });
    },

    async Count(req: CountPoints, call: GrpcCall) {
      refuseShardKey(req);
      const collection = database.collection(req.collectionName);
      const filter = filterIn(req.filter);
      parseFilter(filter);
      // Counts are always exact (exact: false asks for no less).
      const count = await collection.count(filter, readOptionsOf(call, req.readConsistency, req.timeout));
      return create(CountResponseSchema, { result: { count: BigInt(count) } });
    },

    async CreateFieldIndex(req: CreateFieldIndexCollection, call: GrpcCall) {
      const type = req.fieldType ?? FieldType.FieldTypeKeyword;
      const schema = INDEX_TYPES[type];
      if (!schema) unsupported(`field_type ${FieldType[type] ?? type}`, `is not supported: use ${Object.values(INDEX_TYPES).join(', ')}`);
      if (req.fieldName === '') invalid('field_name is required');
      const isTenant = tenantOf(req.fieldIndexParams, schema);
      const op = { kind: 'create_payload_index' as const, field: req.fieldName, schema, ...(isTenant ? { isTenant: true } : {}) };
      return operationOut((await deps.writes.write(req.collectionName, { ops: [op] }, writeOptionsOf(call, req.timeout))).operation_id);
    },
  };
}


/**
 * Qdrant's field_index_params: keyword_index_params.is_tenant is acted on (the field's values get
 * their own graphs, as over REST); a param that would change what the index does and that
 * JadeVectorDB does not do is refused, never ignored (on_disk: false and integer lookup/range: true
 * are what the index does anyway).
 */
function tenantOf(params: CreateFieldIndexCollection['fieldIndexParams'], schema: PayloadSchema): boolean {
  const p = params?.indexParams;
  if (!p || p.case === undefined) return false;
  const expected = { keywordIndexParams: 'keyword', integerIndexParams: 'integer', floatIndexParams: 'float', boolIndexParams: 'bool' } as Record<string, PayloadSchema>;
  if (expected[p.case] !== schema) unsupported(`field_index_params.${snakeCase(p.case)}`, `does not match field_type ${schema}`);
  for (const [k, v] of Object.entries(p.value as unknown as Record<string, unknown>)) {
    if (k === '$typeName' || v === undefined || k === 'isTenant' || (k === 'onDisk' && v === false)) continue;
    if (p.case === 'integerIndexParams' && (k === 'lookup' || k === 'range') && v === true) continue;
    unsupported(`field_index_params.${snakeCase(p.case)}.${snakeCase(k)}`);
  }
  return p.case === 'keywordIndexParams' && (p.value as { isTenant?: boolean }).isTenant === true;
}
