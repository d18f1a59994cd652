// Search: the older search API and Qdrant's Query API, single and batched. Parsing turns each body
// into a SearchSpec; the collection layer fans out, merges and pages.
import type { FastifyInstance } from 'fastify';
import { parseFilter, parsePointId } from '../../../query/vocabulary.js';
import type { SearchResult, SearchSpec } from '../../../query/types.js';
import { JadeError } from '../../../util/errors.js';
import { badRequest, intInRange, ok, readWithReport, refuseUnsupported, type RestLimits, type RouteContext } from '../context.js';
import { hitJson, parseVector, parseWithPayload } from '../convert.js';
import * as S from '../schemas.js';

/** Query API fields beyond a plain nearest-neighbour query (multi-stage, named vectors, cross-collection lookup). */
const QUERY_UNSUPPORTED = ['prefetch', 'using', 'lookup_from'] as const;

function parseSearchOptions(body: any, limits: RestLimits): Omit<SearchSpec, 'vector' | 'pointId'> {
  const params = body.params ?? {};
  parseFilter(body.filter); // a bad filter is a 400 before any shard is asked
  return {
    limit: intInRange(body.limit, 'limit', 10, 0, limits.searchLimitMax),
    offset: intInRange(body.offset, 'offset', 0, 0, limits.searchLimitMax),
    filter: body.filter,
    ef: params.hnsw_ef == null ? undefined : intInRange(params.hnsw_ef, 'params.hnsw_ef', 1, 1, limits.searchEfMax),
    exact: params.exact === true,
    withPayload: parseWithPayload(body.with_payload, false),
    withVector: body.with_vector === true,
    scoreThreshold: typeof body.score_threshold === 'number' ? body.score_threshold : undefined,
  };
}

/** Query API's `query`: a vector, {nearest: vector}, or the id of a stored point. */
function parseQuery(raw: unknown, insideNearest = false): { vector?: Float32Array; pointId?: ReturnType<typeof parsePointId> } {
  if (raw === undefined || raw === null) badRequest('query is required (a vector, {"nearest": vector} or a point id)');
  if (typeof raw === 'object' && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    // One level only: {nearest: {nearest: ...}} nested thousands deep would overflow the stack.
    if ('nearest' in o && !insideNearest) return parseQuery(o.nearest, true);
    badRequest('only nearest-neighbour queries are supported: query must be a vector, {"nearest": ...} or a point id');
  }
  if (typeof raw === 'number' || (typeof raw === 'string' && /^[0-9a-f-]{32,36}$/i.test(raw))) return { pointId: parsePointId(raw, 'query') };
  return { vector: parseVector(raw, 'query') };
}

/** A partial answer says so beside the result (allow_partial=true); a complete one adds nothing. */
function partialExtra(results: SearchResult[]): Record<string, unknown> {
  const partial = results.find((r) => r.partial);
  return partial ? { partial: true, missing_shards: partial.missingShards } : {};
}

export function searchRoutes({ deps }: RouteContext) {
  const { database, limits } = deps;
  const nameParams = S.collectionNameParams;
  const errors = S.errorResponses;
  const checkBatch = (n: number) => {
    if (n > limits.searchBatchMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${n} searches in one batch; the limit (searchBatchMax) is ${limits.searchBatchMax}`);
  };
  return async (app: FastifyInstance) => {
    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/search',
      { schema: { tags: ['search'], params: nameParams, body: S.searchRequest, response: { 200: S.envelope({ type: 'array', items: S.scoredPoint }, S.partialFields), ...errors } } },
      async (req, reply) => {
        const spec: SearchSpec = { ...parseSearchOptions(req.body, limits), vector: parseVector(req.body.vector, 'vector') };
        const { opts, report } = readWithReport(req, limits);
        const result = await database.collection(req.params.name).search(spec, opts);
        return ok(reply, result.hits.map(hitJson), req, { ...partialExtra([result]), ...report() });
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/search/batch',
      { schema: { tags: ['search'], params: nameParams, body: { type: 'object', required: ['searches'], properties: { searches: { type: 'array', items: S.searchRequest } } }, response: { 200: S.envelope({ type: 'array', items: { type: 'array', items: S.scoredPoint } }, S.partialFields), ...errors } } },
      async (req, reply) => {
        const searches: any[] = req.body.searches;
        checkBatch(searches.length);
        const collection = database.collection(req.params.name);
        const specs = searches.map((s, i): SearchSpec => ({ ...parseSearchOptions(s, limits), vector: parseVector(s.vector, `searches[${i}].vector`) }));
        const { opts, report } = readWithReport(req, limits);
        const results = await collection.searchBatch(specs, opts);
        return ok(reply, results.map((r) => r.hits.map(hitJson)), req, { ...partialExtra(results), ...report() });
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/query',
      { schema: { tags: ['search'], params: nameParams, body: S.queryRequest, response: { 200: S.envelope({ type: 'object', properties: { points: { type: 'array', items: S.scoredPoint } } }, S.partialFields), ...errors } } },
      async (req, reply) => {
        const collection = database.collection(req.params.name);
        refuseUnsupported(req.body, QUERY_UNSUPPORTED);
        const spec: SearchSpec = { ...parseSearchOptions(req.body, limits), ...parseQuery(req.body.query) };
        const { opts, report } = readWithReport(req, limits);
        const result = await collection.search(spec, opts);
        return ok(reply, { points: result.hits.map(hitJson) }, req, { ...partialExtra([result]), ...report() });
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/query/batch',
      { schema: { tags: ['search'], params: nameParams, body: { type: 'object', required: ['searches'], properties: { searches: { type: 'array', items: S.queryRequest } } }, response: { 200: S.envelope({ type: 'array', items: { type: 'object', properties: { points: { type: 'array', items: S.scoredPoint } } } }, S.partialFields), ...errors } } },
      async (req, reply) => {
        const searches: any[] = req.body.searches;
        checkBatch(searches.length);
        const collection = database.collection(req.params.name);
        searches.forEach((s, i) => refuseUnsupported(s, QUERY_UNSUPPORTED, `searches[${i}]: `));
        const specs = searches.map((s): SearchSpec => ({ ...parseSearchOptions(s, limits), ...parseQuery(s.query) }));
        const { opts, report } = readWithReport(req, limits);
        const results = await collection.searchBatch(specs, opts);
        return ok(reply, results.map((r) => ({ points: r.hits.map(hitJson) })), req, { ...partialExtra(results), ...report() });
      },
    );
  };
}
