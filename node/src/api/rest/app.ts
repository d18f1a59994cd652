// The REST API: Qdrant's dialect for collections and points (so @qdrant/js-client-rest works
// unchanged) plus JadeVectorDB's own system endpoints. buildApp() builds without listening, so
// tests drive it with inject(). Every error leaves through one handler and one code table.
import { isAscii } from 'node:buffer';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { CollectionsBackend, ReadConsistency } from '../../cluster/backend.js';
import type { HnswParams } from '../../index/types.js';
import type { Authenticator } from '../../security/auth.js';
import { parseFilter, parsePointId } from '../../shard/filter.js';
import type { PayloadSchema } from '../../shard/payload-index.js';
import { PAYLOAD_SCHEMAS } from '../../shard/payload-index.js';
import type { ShardState } from '../../shard/state.js';
import type { PointId, PointRecord, WriteBatch } from '../../storage/types.js';
import { ERROR_TABLE, JadeError, type ErrorCode } from '../../util/errors.js';
import type { NodeMetrics } from '../metrics.js';
import type { PayloadSelector, PointOut } from './convert.js';
import { QDRANT_DISTANCE, parseMetric, parsePayload, parseVector, parseVectors, parseWithPayload, passesThreshold, scoreOf, selectPayload, vectorOut } from './convert.js';
import * as S from './schemas.js';

/** The Qdrant REST API level we speak; @qdrant/js-client-rest checks it on connect. */
export const QDRANT_COMPAT_VERSION = '1.18.0';

/** Seconds a client is told to wait after a 429 (queues drain within about a second). */
export const RETRY_AFTER_SECONDS = 1;

export interface RestLimits {
  bodyBytesMax: number;
  batchPointsMax: number;
  searchBatchMax: number;
  searchLimitMax: number;
  searchEfMax: number;
  writesInFlightMax: number;
}

export interface SystemInfo {
  version: string;
  nodeId: string;
  clusterName: string;
  startedAtMs: number;
  dataDir: string;
}

export interface AppDeps {
  backend: CollectionsBackend;
  limits: RestLimits;
  hnswDefaults: HnswParams;
  auth: Authenticator;
  metrics: NodeMetrics;
  info: SystemInfo;
  isReady(): boolean;
  /** Bytes used under the data directory (for /v1/status); optional. */
  diskUsageBytes?(): Promise<number>;
  logger?: boolean | Record<string, unknown>;
  /** Enables /internal/v1/faults (transport fault injection for tests). */
  testHooksEnabled?: boolean;
}

function ok(reply: FastifyReply, result: unknown, startedNs: bigint, extra: Record<string, unknown> = {}) {
  return reply.send({ result, status: 'ok', time: Number(process.hrtime.bigint() - startedNs) / 1e9, ...extra });
}

function startOf(req: FastifyRequest): bigint {
  return (req as unknown as { jadeStartNs: bigint }).jadeStartNs ?? process.hrtime.bigint();
}

/** The value at an ajv instancePath (a JSON pointer such as /points/0/vector/3), or undefined. */
function valueAtPointer(root: unknown, pointer: string): unknown {
  let current = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return current;
}

function badRequest(message: string): never {
  throw new JadeError('JADE_ERR_BAD_REQUEST', message);
}

/** Qdrant fields we do not implement and that would change the answer if ignored: refuse them instead. */
function refuseUnsupported(body: Record<string, unknown> | null | undefined, fields: readonly string[], where = ''): void {
  for (const field of fields) {
    const v = body?.[field];
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    badRequest(`${where}"${field}" is not supported by JadeVectorDB (see the README's differences from Qdrant)`);
  }
}

/** Query API fields beyond a plain nearest-neighbour query (multi-stage, named vectors, cross-collection lookup). */
const QUERY_UNSUPPORTED = ['prefetch', 'using', 'lookup_from'] as const;

function intInRange(raw: unknown, name: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min) badRequest(`${name} must be an integer ≥ ${min}`);
  if (raw > max) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${name} ${raw} is over the limit ${max}`);
  return raw;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { backend, limits, auth, metrics } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: limits.bodyBytesMax,
    ajv: { customOptions: { coerceTypes: false, allErrors: false } },
    // Collection names may be 255 characters (fastify's default cap is 100), and router errors
    // (malformed %-encoding, over-long parameters) answer in our envelope, not fastify's.
    routerOptions: { maxParamLength: 512 },
    frameworkErrors: (error, _req, reply: FastifyReply) => {
      void reply.status(400).send({ status: { error: `bad URL: ${error.message.slice(0, 200)}`, code: 'JADE_ERR_BAD_REQUEST' }, time: 0 });
    },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'JadeVectorDB REST API', version: deps.info.version, description: 'Qdrant-compatible collections and points, plus JadeVectorDB system endpoints.' },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'api-key' } } },
      security: [{ apiKey: [] }],
    },
  });

  let writesInFlight = 0;

  // Per-request logs only at warn: info-level request lines cost throughput and add nothing.
  app.addHook('onRoute', (route) => {
    // Unconditionally: fastify has already filled in the default level before onRoute runs.
    route.logLevel = 'warn';
  });

  app.addHook('onRequest', async (req) => {
    (req as unknown as { jadeStartNs: bigint }).jadeStartNs = process.hrtime.bigint();
    auth.check(req.url, req.headers);
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, Number(process.hrtime.bigint() - startOf(req)) / 1e9);
  });

  app.setErrorHandler((error: any, req, reply) => {
    let code: ErrorCode;
    let message: string;
    if (error instanceof JadeError && error.code === 'JADE_ERR_STORAGE') {
      // The message names files of the data directory: the node's log gets it, the client the errno.
      code = error.code;
      const errno = typeof error.details?.errno === 'string' ? error.details.errno : null;
      message = `storage error on the node${errno ? `: ${errno}` : ''} (details in its log)`;
      req.log.error({ err: error }, 'storage error');
    } else if (error instanceof JadeError) {
      code = error.code;
      message = error.message;
    } else if (error.validation) {
      // JSON's 1e999 parses to Infinity, which the schema's `number` refuses before our own check
      // could: name it as the non-finite number it is.
      const nonFinite = error.validationContext === 'body' ? (error.validation as { instancePath?: string }[]).find((v) => {
        const value = valueAtPointer(req.body, v.instancePath ?? '');
        return typeof value === 'number' && !Number.isFinite(value);
      }) : undefined;
      code = nonFinite ? 'JADE_ERR_NOT_FINITE' : 'JADE_ERR_BAD_REQUEST';
      message = nonFinite ? `body${nonFinite.instancePath} is not a finite number` : `invalid request: ${error.message}`;
    } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      code = 'JADE_ERR_PAYLOAD_TOO_LARGE';
      message = `request body is over the limit of ${limits.bodyBytesMax} bytes (bodyBytesMax)`;
    } else if (typeof error.code === 'string' && error.code.startsWith('FST_ERR_CTP') || error instanceof SyntaxError) {
      code = 'JADE_ERR_BAD_JSON';
      message = `request body is not valid JSON: ${error.message}`;
    } else if (error.statusCode === 404) {
      code = 'JADE_ERR_NOT_FOUND';
      message = error.message;
    } else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      code = 'JADE_ERR_BAD_REQUEST';
      message = error.message;
    } else {
      code = 'JADE_ERR_INTERNAL';
      message = 'internal error';
      req.log.error({ err: error }, 'unhandled error');
    }
    // Qdrant sends Retry-After on 429; its JS client then raises its dedicated rate-limit error.
    if (code === 'JADE_ERR_QUEUE_FULL') reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    reply.status(ERROR_TABLE[code].http).send({ status: { error: message, code }, time: Number(process.hrtime.bigint() - startOf(req)) / 1e9 });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ status: { error: `no route ${req.method} ${req.url.split('?')[0]}`, code: 'JADE_ERR_NOT_FOUND' }, time: 0 });
  });

  const errors = { 400: S.errorResponse, 404: S.errorResponse, 409: S.errorResponse, 413: S.errorResponse, 429: S.errorResponse, 503: S.errorResponse };
  const nameParams = S.collectionNameParams;

  /** Qdrant's `consistency` (query string or body): "one"/"eventual" reads this replica; anything else is strong. */
  function consistencyOf(req: FastifyRequest): ReadConsistency {
    const raw = (req.query as Record<string, unknown> | undefined)?.consistency ?? (req.body as Record<string, unknown> | undefined)?.consistency;
    return raw === 'eventual' || raw === 'one' || raw === 1 || raw === '1' ? 'eventual' : 'strong';
  }

  async function stateOf(name: string, req: FastifyRequest): Promise<ShardState> {
    return (await backend.read(name, consistencyOf(req))).state;
  }

  async function write(name: string, batch: WriteBatch): Promise<{ operation_id: number; status: 'completed' }> {
    if (!backend.has(name)) throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${name}" does not exist`);
    if (writesInFlight >= limits.writesInFlightMax) {
      throw new JadeError('JADE_ERR_QUEUE_FULL', `too many writes in flight (writesInFlightMax ${limits.writesInFlightMax}); retry later`);
    }
    writesInFlight++;
    try {
      const lsn = await backend.write(name, batch);
      return { operation_id: lsn, status: 'completed' };
    } finally {
      writesInFlight--;
    }
  }

  function pointOut(state: ShardState, label: number, selector: PayloadSelector, withVector: boolean, score?: number): PointOut {
    const p = state.pointInfoByLabel(label);
    const out: PointOut = { id: p.id, version: 0 };
    if (score !== undefined) out.score = score;
    const payload = selectPayload(p.payload, selector);
    if (payload !== undefined) out.payload = payload;
    if (withVector) out.vector = vectorOut(state.pointByLabel(label).vector);
    return out;
  }

  interface SearchSpec {
    vector: Float32Array;
    limit: number;
    offset: number;
    filter: unknown;
    ef?: number;
    exact: boolean;
    withPayload: PayloadSelector;
    withVector: boolean;
    scoreThreshold?: number;
  }

  function parseSearch(body: any, vector: Float32Array, defaultWithPayload: boolean): SearchSpec {
    const params = body.params ?? {};
    return {
      vector,
      limit: intInRange(body.limit, 'limit', 10, 0, limits.searchLimitMax),
      offset: intInRange(body.offset, 'offset', 0, 0, limits.searchLimitMax),
      filter: body.filter,
      ef: params.hnsw_ef == null ? undefined : intInRange(params.hnsw_ef, 'params.hnsw_ef', 1, 1, limits.searchEfMax),
      exact: params.exact === true,
      withPayload: parseWithPayload(body.with_payload, defaultWithPayload),
      withVector: body.with_vector === true,
      scoreThreshold: typeof body.score_threshold === 'number' ? body.score_threshold : undefined,
    };
  }

  function runSearch(state: ShardState, spec: SearchSpec): PointOut[] {
    const k = spec.limit + spec.offset;
    const { hits } = state.search({ vector: spec.vector, k, ef: spec.ef, filter: parseFilter(spec.filter), exact: spec.exact });
    const out: PointOut[] = [];
    for (const h of hits.slice(spec.offset)) {
      const score = scoreOf(state.params.metric, h.distance);
      if (!passesThreshold(state.params.metric, score, spec.scoreThreshold)) continue;
      out.push(pointOut(state, h.label, spec.withPayload, spec.withVector, score));
    }
    return out;
  }

  /** Query API's `query`: a vector, {nearest: vector}, or the id of a stored point. */
  function queryVector(state: ShardState, raw: unknown, insideNearest = false): Float32Array {
    if (raw === undefined || raw === null) badRequest('query is required (a vector, {"nearest": vector} or a point id)');
    if (typeof raw === 'object' && !Array.isArray(raw)) {
      const o = raw as Record<string, unknown>;
      // One level only: {nearest: {nearest: ...}} nested thousands deep would overflow the stack.
      if ('nearest' in o && !insideNearest) return queryVector(state, o.nearest, true);
      badRequest('only nearest-neighbour queries are supported: query must be a vector, {"nearest": ...} or a point id');
    }
    if (typeof raw === 'number' || (typeof raw === 'string' && /^[0-9a-f-]{32,36}$/i.test(raw))) {
      const p = state.get(parsePointId(raw, 'query'));
      if (!p) throw new JadeError('JADE_ERR_NOT_FOUND', `point ${JSON.stringify(raw)} used as query does not exist`);
      return p.vector;
    }
    return parseVector(raw, 'query');
  }

  // ---- system ----
  app.get('/', { schema: { tags: ['system'], response: { 200: { type: 'object', additionalProperties: true } } } }, async () => ({
    title: 'JadeVectorDB',
    version: QDRANT_COMPAT_VERSION,
    jade_version: deps.info.version,
  }));

  app.get('/healthz', { schema: { tags: ['system'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags: ['system'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } }, 503: S.errorResponse } } }, async () => {
    if (!deps.isReady()) throw new JadeError('JADE_ERR_NOT_READY', 'node is starting or shutting down');
    return { status: 'ready' };
  });

  app.get('/v1/status', { schema: { tags: ['system'], response: { 200: { type: 'object', additionalProperties: true } } } }, async () => {
    const mem = process.memoryUsage();
    interface CollectionStatus { name: string; opening?: boolean; points?: number; dimension?: number; metric?: string; walBytes?: number; memoryBytes?: number; indexBacklog?: number }
    const collections = backend.names().map((name): CollectionStatus => {
      let view;
      try {
        view = backend.view(name);
      } catch {
        return { name, opening: true }; // a replica still opening (cluster mode) has nothing to report yet
      }
      const { state, record, walBytes } = view;
      const m = state.memoryBytes();
      return { name, points: state.count, dimension: record.params.dimension, metric: record.params.metric, walBytes, memoryBytes: m.vectors + m.index, indexBacklog: state.indexBacklog };
    });
    return {
      version: deps.info.version,
      nodeId: deps.info.nodeId,
      clusterName: deps.info.clusterName,
      mode: backend.mode,
      role: 'leader',
      ...backend.clusterStatus(),
      ready: deps.isReady(),
      uptimeSeconds: Math.round((Date.now() - deps.info.startedAtMs) / 1000),
      collections,
      points: collections.reduce((a, c) => a + (c.points ?? 0), 0),
      walBytes: collections.reduce((a, c) => a + (c.walBytes ?? 0), 0),
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, indexBytes: collections.reduce((a, c) => a + (c.memoryBytes ?? 0), 0) },
      diskUsedBytes: deps.diskUsageBytes ? await deps.diskUsageBytes() : null,
    };
  });

  app.get('/metrics', { schema: { tags: ['system'], hide: false } }, async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // JSON bodies: fastify's own parser (same limits, proto-poisoning checks and errors), fed a
  // latin1 decoding when the body is pure ASCII, as upserts of base64 vectors are: 2-3× cheaper
  // than UTF-8 decoding of a multi-megabyte body and the same string.
  const parseJsonText = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: limits.bodyBytesMax }, (req, body: Buffer, done) => {
    parseJsonText(req, body.toString(isAscii(body) ? 'latin1' : 'utf8'), done);
  });

  // ---- cluster internals (other nodes forward proposals here; tests inject faults) ----
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: limits.bodyBytesMax }, (_req, body, done) => done(null, body));

  if (backend.proposeLocal) {
    const proposeLocal = backend.proposeLocal.bind(backend);
    app.post<{ Params: { groupId: string }; Body: Buffer }>(
      '/internal/v1/groups/:groupId/propose',
      { schema: { hide: true, params: { type: 'object', required: ['groupId'], properties: { groupId: { type: 'string', maxLength: 300 } } } } },
      async (req, reply) => {
        if (!Buffer.isBuffer(req.body)) badRequest('body must be application/octet-stream');
        return ok(reply, await proposeLocal(req.params.groupId, new Uint8Array(req.body)), startOf(req));
      },
    );
  }

  if (deps.testHooksEnabled && backend.setFaults) {
    const setFaults = backend.setFaults.bind(backend);
    app.post<{ Body: Record<string, unknown> }>('/internal/v1/faults', { schema: { hide: true, body: { type: 'object' } } }, async (req, reply) => {
      setFaults(req.body);
      return ok(reply, true, startOf(req));
    });
  }

  // ---- collections ----
  app.get('/collections', { schema: { tags: ['collections'], response: { 200: S.envelope({ type: 'object', properties: { collections: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } } } }) } } }, async (req, reply) =>
    ok(reply, { collections: backend.names().map((name) => ({ name })) }, startOf(req)),
  );

  app.put<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name',
    { schema: { tags: ['collections'], params: nameParams, body: S.createCollectionBody, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } },
    async (req, reply) => {
      const body = req.body;
      const hnsw = body.hnsw_config ?? {};
      if (body.shard_number !== undefined && body.shard_number !== null && body.shard_number !== 1) badRequest('shard_number other than 1 is not supported yet: one shard per collection, replicated');
      await backend.create(
        req.params.name,
        {
        dimension: body.vectors.size,
        metric: parseMetric(body.vectors.distance),
        hnsw: {
          m: hnsw.m ?? deps.hnswDefaults.m,
          efConstruction: hnsw.ef_construct ?? deps.hnswDefaults.efConstruction,
          efSearch: hnsw.ef ?? deps.hnswDefaults.efSearch,
        },
      },
        { replicationFactor: body.replication_factor ?? undefined },
      );
      return ok(reply, true, startOf(req));
    },
  );

  app.get<{ Params: { name: string } }>('/collections/:name', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } }, async (req, reply) => {
    const { record, state, walBytes } = backend.view(req.params.name);
    const p = record.params;
    const mem = state.memoryBytes();
    const payloadSchema: Record<string, unknown> = {};
    for (const i of state.payloadIndexList()) payloadSchema[i.field] = { data_type: i.schema, params: { type: i.schema } };
    return ok(
      reply,
      {
        status: state.indexBacklog > 0 ? 'yellow' : 'green',
        optimizer_status: 'ok',
        points_count: state.count,
        indexed_vectors_count: state.count - state.indexBacklog,
        segments_count: 1,
        config: {
          params: { vectors: { size: p.dimension, distance: QDRANT_DISTANCE[p.metric] }, shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: false },
          hnsw_config: { m: p.hnsw.m, ef_construct: p.hnsw.efConstruction, ef: p.hnsw.efSearch, full_scan_threshold: 0, on_disk: false },
          optimizer_config: {},
          wal_config: { wal_capacity_mb: 64, wal_segments_ahead: 0 },
        },
        payload_schema: payloadSchema,
        jade: { metric: p.metric, index_status: state.indexBacklog > 0 ? 'indexing' : 'ready', index_backlog: state.indexBacklog, memory_bytes: mem.vectors + mem.index, wal_bytes: walBytes, created_at_ms: record.createdAtMs },
      },
      startOf(req),
    );
  });

  app.get<{ Params: { name: string } }>('/collections/:name/exists', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'object', properties: { exists: { type: 'boolean' } } }) } } }, async (req, reply) =>
    ok(reply, { exists: backend.has(req.params.name) }, startOf(req)),
  );

  app.delete<{ Params: { name: string } }>('/collections/:name', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } }, async (req, reply) => {
    if (!(await backend.delete(req.params.name))) throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${req.params.name}" does not exist`);
    return ok(reply, true, startOf(req));
  });

  // ---- payload indexes ----
  app.put<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/index',
    { schema: { tags: ['points'], params: nameParams, body: S.payloadIndexBody, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } },
    async (req, reply) => {
      const raw = req.body.field_schema;
      const schemaName = (typeof raw === 'object' && raw !== null ? raw.type : raw) ?? 'keyword';
      if (!PAYLOAD_SCHEMAS.includes(schemaName)) badRequest(`field_schema "${schemaName}" is not supported: use ${PAYLOAD_SCHEMAS.join(', ')}`);
      const result = await write(req.params.name, { ops: [{ kind: 'create_payload_index', field: req.body.field_name, schema: schemaName as PayloadSchema }] });
      return ok(reply, result, startOf(req));
    },
  );

  // ---- points ----
  app.put<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points',
    { schema: { tags: ['points'], params: nameParams, body: S.upsertBody, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } },
    async (req, reply) => {
      const body = req.body;
      const points: PointRecord[] = [];
      if (Array.isArray(body.points)) {
        if (body.points.length > limits.batchPointsMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${body.points.length} points in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
        const vectors = parseVectors(body.points.map((p: any) => p.vector), (i) => `points[${i}].vector`);
        body.points.forEach((p: any, i: number) => points.push({ id: parsePointId(p.id, `points[${i}].id`), vector: vectors[i], payload: parsePayload(p.payload, `points[${i}].payload`) }));
        body.points.length = 0; // as for batch.vectors below
      } else if (body.batch) {
        const { ids, vectors, payloads } = body.batch;
        if (ids.length !== vectors.length || (payloads && payloads.length !== ids.length)) badRequest('batch.ids, batch.vectors and batch.payloads must have the same length');
        if (ids.length > limits.batchPointsMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${ids.length} points in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
        const parsed = parseVectors(vectors, (i) => `batch.vectors[${i}]`);
        ids.forEach((id: unknown, i: number) => points.push({ id: parsePointId(id, `batch.ids[${i}]`), vector: parsed[i], payload: parsePayload(payloads?.[i], `batch.payloads[${i}]`) }));
        // The request (and fastify's reference to its body) lives until the write commits, long
        // enough for megabytes of base64 strings to be promoted to the old generation: drop them.
        vectors.length = 0;
      } else {
        badRequest('body needs "points" (a list of {id, vector, payload}) or "batch" ({ids, vectors, payloads})');
      }
      return ok(reply, await write(req.params.name, { ops: [{ kind: 'upsert', points }] }), startOf(req));
    },
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points',
    { schema: { tags: ['points'], params: nameParams, body: S.retrieveBody, response: { 200: S.envelope({ type: 'array', items: S.scoredPoint }, { missing_ids: { type: 'array', items: S.pointId } }), ...errors } } },
    async (req, reply) => {
      const state = await stateOf(req.params.name, req);
      const ids: unknown[] = req.body.ids;
      if (ids.length > limits.batchPointsMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${ids.length} ids in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
      const selector = parseWithPayload(req.body.with_payload, true);
      const withVector = req.body.with_vector === true;
      const found: PointOut[] = [];
      const missing: PointId[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = parsePointId(ids[i], `ids[${i}]`);
        const p = state.get(id);
        if (!p) {
          missing.push(id);
          continue;
        }
        const out: PointOut = { id: p.id };
        const payload = selectPayload(p.payload, selector);
        if (payload !== undefined) out.payload = payload;
        if (withVector) out.vector = vectorOut(p.vector);
        found.push(out);
      }
      // Qdrant omits missing ids; we also list them beside the result.
      return ok(reply, found, startOf(req), { missing_ids: missing });
    },
  );

  app.get<{ Params: { name: string; id: string } }>(
    '/collections/:name/points/:id',
    { schema: { tags: ['points'], params: { type: 'object', required: ['name', 'id'], properties: { name: { type: 'string' }, id: { type: 'string' } } }, response: { 200: S.envelope(S.scoredPoint), ...errors } } },
    async (req, reply) => {
      const raw = /^\d+$/.test(req.params.id) ? Number(req.params.id) : req.params.id;
      const p = (await stateOf(req.params.name, req)).get(parsePointId(raw, 'id'));
      if (!p) throw new JadeError('JADE_ERR_NOT_FOUND', `point ${req.params.id} does not exist`);
      return ok(reply, { id: p.id, payload: p.payload ?? {}, vector: vectorOut(p.vector) }, startOf(req));
    },
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points/delete',
    { schema: { tags: ['points'], params: nameParams, body: S.deleteBody, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } },
    async (req, reply) => {
      if (Array.isArray(req.body.points)) {
        if (req.body.points.length > limits.batchPointsMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${req.body.points.length} ids in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
        const ids: PointId[] = req.body.points.map((id: unknown, i: number) => parsePointId(id, `points[${i}]`));
        return ok(reply, await write(req.params.name, { ops: [{ kind: 'delete', ids }] }), startOf(req));
      }
      if (req.body.filter) {
        // One op, evaluated where it is applied (on every replica, and on WAL replay): all matching
        // points go at once however many there are, including those written just before it in the log.
        parseFilter(req.body.filter); // a bad filter is a 400 here, before anything is logged
        return ok(reply, await write(req.params.name, { ops: [{ kind: 'delete_by_filter', filterJson: JSON.stringify(req.body.filter) }] }), startOf(req));
      }
      badRequest('body needs "points" (a list of ids) or "filter"');
    },
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points/count',
    { schema: { tags: ['points'], params: nameParams, body: S.countBody, response: { 200: S.envelope({ type: 'object', properties: { count: { type: 'integer' } } }), ...errors } } },
    async (req, reply) => ok(reply, { count: (await stateOf(req.params.name, req)).countMatching(parseFilter(req.body?.filter)) }, startOf(req)),
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points/scroll',
    { schema: { tags: ['points'], params: nameParams, body: S.scrollBody, response: { 200: S.envelope({ type: 'object', properties: { points: { type: 'array', items: S.scoredPoint }, next_page_offset: { anyOf: [S.pointId, { type: 'null' }] } } }), ...errors } } },
    async (req, reply) => {
      const body = req.body ?? {};
      refuseUnsupported(body, ['order_by']);
      const state = await stateOf(req.params.name, req);
      const limit = intInRange(body.limit, 'limit', 10, 0, limits.batchPointsMax);
      const offset = body.offset === undefined || body.offset === null ? null : parsePointId(body.offset, 'offset');
      const page = state.scroll(offset, limit, parseFilter(body.filter));
      const selector = parseWithPayload(body.with_payload, true);
      const points = page.labels.map((l) => {
        const out = pointOut(state, l, selector, body.with_vector === true);
        delete out.version;
        return out;
      });
      return ok(reply, { points, next_page_offset: page.nextOffset }, startOf(req));
    },
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points/search',
    { schema: { tags: ['search'], params: nameParams, body: S.searchRequest, response: { 200: S.envelope({ type: 'array', items: S.scoredPoint }), ...errors } } },
    async (req, reply) => {
      const spec = parseSearch(req.body, parseVector(req.body.vector, 'vector'), false);
      return ok(reply, runSearch(await stateOf(req.params.name, req), spec), startOf(req));
    },
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points/search/batch',
    { schema: { tags: ['search'], params: nameParams, body: { type: 'object', required: ['searches'], properties: { searches: { type: 'array', items: S.searchRequest } } }, response: { 200: S.envelope({ type: 'array', items: { type: 'array', items: S.scoredPoint } }), ...errors } } },
    async (req, reply) => {
      const searches: any[] = req.body.searches;
      if (searches.length > limits.searchBatchMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${searches.length} searches in one batch; the limit (searchBatchMax) is ${limits.searchBatchMax}`);
      const state = await stateOf(req.params.name, req);
      const results = searches.map((s, i) => runSearch(state, parseSearch(s, parseVector(s.vector, `searches[${i}].vector`), false)));
      return ok(reply, results, startOf(req));
    },
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points/query',
    { schema: { tags: ['search'], params: nameParams, body: S.queryRequest, response: { 200: S.envelope({ type: 'object', properties: { points: { type: 'array', items: S.scoredPoint } } }), ...errors } } },
    async (req, reply) => {
      const state = await stateOf(req.params.name, req);
      refuseUnsupported(req.body, QUERY_UNSUPPORTED);
      const spec = parseSearch(req.body, queryVector(state, req.body.query), false);
      return ok(reply, { points: runSearch(state, spec) }, startOf(req));
    },
  );

  app.post<{ Params: { name: string }; Body: Record<string, any> }>(
    '/collections/:name/points/query/batch',
    { schema: { tags: ['search'], params: nameParams, body: { type: 'object', required: ['searches'], properties: { searches: { type: 'array', items: S.queryRequest } } }, response: { 200: S.envelope({ type: 'array', items: { type: 'object', properties: { points: { type: 'array', items: S.scoredPoint } } } }), ...errors } } },
    async (req, reply) => {
      const searches: any[] = req.body.searches;
      if (searches.length > limits.searchBatchMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${searches.length} searches in one batch; the limit (searchBatchMax) is ${limits.searchBatchMax}`);
      const state = await stateOf(req.params.name, req);
      searches.forEach((s, i) => refuseUnsupported(s, QUERY_UNSUPPORTED, `searches[${i}]: `));
      const results = searches.map((s) => ({ points: runSearch(state, parseSearch(s, queryVector(state, s.query), false)) }));
      return ok(reply, results, startOf(req));
    },
  );

  return app;
}
