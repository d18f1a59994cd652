// Search: the older search API and Qdrant's Query API, single and batched. Parsing turns each body
// into a SearchSpec; the collection layer fans out, merges and pages.
import type { FastifyInstance } from 'fastify';
import { parseFilter, parsePointId } from '../../../query/vocabulary.js';
import type { CollectionParams } from '../../../query/vocabulary.js';
import type { SearchResult, SearchSpec } from '../../../query/types.js';
import { JadeError } from '../../../util/errors.js';
import { badRequest, intInRange, ok, readWithReport, refuseUnsupported, type RestLimits, type RouteContext } from '../context.js';
import { checkUsing, hitJson, parseVector, parseWithPayload, parseWithVector, unwrapSearchVector } from '../convert.js';
import * as S from '../schemas.js';

/** Query API fields beyond a nearest-neighbour query (multi-stage, cross-collection lookup). */
const QUERY_UNSUPPORTED = ['prefetch', 'lookup_from'] as const;

export function parseSearchOptions(body: any, limits: RestLimits, collectionParams: CollectionParams): Omit<SearchSpec, 'vector' | 'pointId'> {
  const params = body.params ?? {};
  parseFilter(body.filter); // a bad filter is a 400 before any shard is asked
  return {
    limit: intInRange(body.limit, 'limit', 10, 0, limits.searchLimitMax),
    offset: intInRange(body.offset, 'offset', 0, 0, limits.searchLimitMax),
    filter: body.filter,
    ef: params.hnsw_ef == null ? undefined : intInRange(params.hnsw_ef, 'params.hnsw_ef', 1, 1, limits.searchEfMax),
    exact: params.exact === true,
    withPayload: parseWithPayload(body.with_payload, false),
    withVector: parseWithVector(body.with_vector, collectionParams),
    scoreThreshold: typeof body.score_threshold === 'number' ? body.score_threshold : undefined,
  };
}

/** Query API's `query`: a vector, {nearest: vector} (optionally with mmr), or the id of a stored point. */
export function parseQuery(raw: unknown, limit: number, insideNearest = false): Pick<SearchSpec, 'vector' | 'pointId' | 'mmr'> {
  if (raw === undefined || raw === null) badRequest('query is required (a vector, {"nearest": vector} or a point id)');
  if (typeof raw === 'object' && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>;
    // One level only: {nearest: {nearest: ...}} nested thousands deep would overflow the stack.
    if ('nearest' in o && !insideNearest) {
      for (const k of Object.keys(o)) if (k !== 'nearest' && k !== 'mmr') badRequest(`query.${k} is not supported: a nearest query takes "nearest" and "mmr"`);
      return { ...parseQuery(o.nearest, limit, true), ...(o.mmr === undefined || o.mmr === null ? {} : { mmr: parseMmr(o.mmr, limit) }) };
    }
    badRequest('only nearest-neighbour queries are supported: query must be a vector, {"nearest": ...} or a point id');
  }
  if (typeof raw === 'number' || (typeof raw === 'string' && /^[0-9a-f-]{32,36}$/i.test(raw))) return { pointId: parsePointId(raw, 'query') };
  return { vector: parseVector(raw, 'query') };
}

/** Qdrant's MMR: diversity in [0, 1] (default 0.5), candidates_limit ≥ limit (default: limit). */
function parseMmr(raw: unknown, limit: number): NonNullable<SearchSpec['mmr']> {
  if (typeof raw !== 'object' || Array.isArray(raw)) badRequest('query.mmr must be {"diversity", "candidates_limit"}');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'diversity' && k !== 'candidates_limit') badRequest(`query.mmr.${k} is not a field of mmr`);
  const diversity = o.diversity ?? 0.5;
  if (typeof diversity !== 'number' || !(diversity >= 0 && diversity <= 1)) badRequest('query.mmr.diversity must be a number in [0, 1]');
  const candidatesLimit = o.candidates_limit ?? limit;
  if (typeof candidatesLimit !== 'number' || !Number.isInteger(candidatesLimit) || candidatesLimit < 0) badRequest('query.mmr.candidates_limit must be an integer ≥ 0');
  return { diversity, candidatesLimit };
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
        const collection = database.collection(req.params.name);
        const params = collection.params;
        const spec: SearchSpec = { ...parseSearchOptions(req.body, limits, params), vector: parseVector(unwrapSearchVector(req.body.vector, params, 'vector'), 'vector') };
        const { opts, report } = readWithReport(req, limits);
        const result = await collection.search(spec, opts);
        report(reply);
        return ok(reply, result.hits.map((h) => hitJson(h, params)), req, partialExtra([result]));
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/search/batch',
      { schema: { tags: ['search'], params: nameParams, body: { type: 'object', required: ['searches'], properties: { searches: { type: 'array', items: S.searchRequest } } }, response: { 200: S.envelope({ type: 'array', items: { type: 'array', items: S.scoredPoint } }, S.partialFields), ...errors } } },
      async (req, reply) => {
        const searches: any[] = req.body.searches;
        checkBatch(searches.length);
        const collection = database.collection(req.params.name);
        const params = collection.params;
        const specs = searches.map((s, i): SearchSpec => ({ ...parseSearchOptions(s, limits, params), vector: parseVector(unwrapSearchVector(s.vector, params, `searches[${i}].vector`), `searches[${i}].vector`) }));
        const { opts, report } = readWithReport(req, limits);
        const results = await collection.searchBatch(specs, opts);
        report(reply);
        return ok(reply, results.map((r) => r.hits.map((h) => hitJson(h, params))), req, partialExtra(results));
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/query',
      { schema: { tags: ['search'], params: nameParams, body: S.queryRequest, response: { 200: S.envelope({ type: 'object', properties: { points: { type: 'array', items: S.scoredPoint } } }, S.partialFields), ...errors } } },
      async (req, reply) => {
        const collection = database.collection(req.params.name);
        refuseUnsupported(req.body, QUERY_UNSUPPORTED);
        const params = collection.params;
        checkUsing(req.body.using, params);
        const options = parseSearchOptions(req.body, limits, params);
        const spec: SearchSpec = { ...options, ...parseQuery(req.body.query, options.limit) };
        const { opts, report } = readWithReport(req, limits);
        const result = await collection.search(spec, opts);
        report(reply);
        return ok(reply, { points: result.hits.map((h) => hitJson(h, params)) }, req, partialExtra([result]));
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
        const params = collection.params;
        const specs = searches.map((s): SearchSpec => {
          checkUsing(s.using, params);
          const options = parseSearchOptions(s, limits, params);
          return { ...options, ...parseQuery(s.query, options.limit) };
        });
        const { opts, report } = readWithReport(req, limits);
        const results = await collection.searchBatch(specs, opts);
        report(reply);
        return ok(reply, results.map((r) => ({ points: r.hits.map((h) => hitJson(h, params)) })), req, partialExtra(results));
      },
    );
  };
}
