// Collections: list, create, info, update, exists, delete, and payload indexes (Qdrant's dialect),
// plus JadeVectorDB's own view of one collection (/v1/collections/{name}). Every answer of a
// Qdrant route has exactly the fields of Qdrant's response schema (test/api/qdrant-schemas.ts).
import type { FastifyInstance } from 'fastify';
import { PAYLOAD_SCHEMAS, type PayloadSchema } from '../../../query/vocabulary.js';
import type { CollectionInfo } from '../../../query/types.js';
import { badRequest, consistencyOf, deadlineOf, ok, parseWriteConsistency, refuseUnsupported, writeOptionsOf, type AppDeps, type RouteContext } from '../context.js';
import { visibleTo } from '../access.js';
import { parseVectorsConfig, vectorsConfigJson } from '../convert.js';
import * as S from '../schemas.js';

/** Fields of a create that would change what is stored or how, and that JadeVectorDB does not have. */
const CREATE_UNSUPPORTED = ['sparse_vectors', 'quantization_config', 'init_from', 'optimizers_config', 'wal_config', 'strict_mode_config', 'metadata'] as const;
/** Fields of an update (PATCH) other than hnsw_config. */
const UPDATE_UNSUPPORTED = ['vectors', 'optimizers_config', 'params', 'quantization_config', 'sparse_vectors', 'strict_mode_config', 'metadata'] as const;

function isEmptyObject(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => x === undefined || x === null));
}

/**
 * Qdrant's field_schema: a type name, or its params object ({type, is_tenant, on_disk, ...}).
 * Only is_tenant is acted on (keyword and integer); any other param set is refused, never ignored.
 */
function payloadFieldSchema(raw: unknown): { schema: PayloadSchema; isTenant: boolean } {
  const params = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
  const name = (params ? params.type : raw) ?? 'keyword';
  if (typeof name !== 'string' || !PAYLOAD_SCHEMAS.includes(name as PayloadSchema)) badRequest(`field_schema "${String(name)}" is not supported: use ${PAYLOAD_SCHEMAS.join(', ')}`);
  const schema = name as PayloadSchema;
  if (!params) return { schema, isTenant: false };
  for (const [k, v] of Object.entries(params)) {
    if (k === 'type' || k === 'is_tenant' || v === null || v === undefined || (k === 'on_disk' && v === false)) continue;
    if (schema === 'integer' && (k === 'lookup' || k === 'range') && v === true) continue; // what the integer index does anyway
    badRequest(`field_schema.${k} is not supported by JadeVectorDB (supported: type, is_tenant)`);
  }
  if (params.is_tenant !== undefined && params.is_tenant !== null && typeof params.is_tenant !== 'boolean') badRequest('field_schema.is_tenant must be a boolean');
  const isTenant = params.is_tenant === true;
  if (isTenant && schema !== 'keyword' && schema !== 'integer') badRequest(`field_schema.is_tenant is only supported on keyword and integer fields, not ${schema}`);
  return { schema, isTenant };
}

/** Qdrant's CollectionInfo of a collection: the values describe what this node does. */
function qdrantInfo(info: CollectionInfo, deps: AppDeps): Record<string, unknown> {
  const p = info.params;
  const payloadSchema: Record<string, unknown> = {};
  for (const i of info.payloadIndexes) payloadSchema[i.field] = { data_type: i.schema, ...(i.isTenant ? { params: { type: i.schema, is_tenant: true } } : {}), points: i.points };
  return {
    status: info.indexBacklog > 0 ? 'yellow' : 'green',
    optimizer_status: 'ok',
    points_count: info.points,
    // The backlog counts tenant-graph insertions too (a point may wait for two graphs).
    indexed_vectors_count: Math.max(0, info.points - info.indexBacklog),
    // One segment per shard: each shard is one store with one HNSW graph.
    segments_count: info.shardNumber,
    config: {
      params: { vectors: vectorsConfigJson(p), shard_number: info.shardNumber, replication_factor: info.replicationFactor, write_consistency_factor: 1, on_disk_payload: false },
      hnsw_config: { m: p.hnsw.m, ef_construct: p.hnsw.efConstruction, full_scan_threshold: info.fullScanThresholdKb, on_disk: false },
      // There is no segment optimizer: no vacuum by deleted share, one segment, and every write is
      // fsynced before it is acknowledged (nothing is left for a periodic flush).
      optimizer_config: { deleted_threshold: 1, vacuum_min_vector_number: 0, default_segment_number: 1, flush_interval_sec: 0 },
      wal_config: { wal_capacity_mb: Math.max(1, Math.round(deps.walSegmentSizeBytes / (1024 * 1024))), wal_segments_ahead: 0 },
    },
    payload_schema: payloadSchema,
  };
}

export function collectionRoutes({ deps, writes }: RouteContext) {
  const { database, limits } = deps;
  const nameParams = S.collectionNameParams;
  const errors = S.errorResponses;
  return async (app: FastifyInstance) => {
    app.get('/collections', { schema: { tags: ['collections'], response: { 200: S.envelope({ type: 'object', properties: { collections: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } } } }) } } }, async (req, reply) =>
      // A key limited to some collections sees only those.
      ok(reply, { collections: visibleTo(req, database.names()).map((name) => ({ name })) }, req),
    );

    app.put<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name',
      { schema: { tags: ['collections'], params: nameParams, body: S.createCollectionBody, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } },
      async (req, reply) => {
        const body = req.body;
        refuseUnsupported(body, CREATE_UNSUPPORTED.filter((f) => !isEmptyObject(body[f])));
        if (body.on_disk_payload === true) badRequest('on_disk_payload: payloads are kept in memory');
        if (body.sharding_method === 'custom') badRequest('sharding_method "custom" (shard keys) is not supported');
        if (body.write_consistency_factor != null && body.write_consistency_factor !== 1) badRequest('write_consistency_factor: writes are acknowledged by a Raft quorum; only 1 is accepted');
        const hnsw = body.hnsw_config ?? {};
        await database.create(
          req.params.name,
          {
            ...parseVectorsConfig(body.vectors),
            hnsw: {
              m: hnsw.m ?? deps.hnswDefaults.m,
              efConstruction: hnsw.ef_construct ?? deps.hnswDefaults.efConstruction,
              efSearch: hnsw.ef ?? deps.hnswDefaults.efSearch,
            },
          },
          { shardNumber: body.shard_number ?? undefined, replicationFactor: body.replication_factor ?? undefined, writeConsistency: parseWriteConsistency(body.write_consistency) },
        );
        return ok(reply, true, req);
      },
    );

    app.get<{ Params: { name: string } }>('/collections/:name', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } }, async (req, reply) => {
      const info = await database.collection(req.params.name).info({ consistency: consistencyOf(req), deadlineMs: deadlineOf(req, limits) });
      return ok(reply, qdrantInfo(info, deps), req);
    });

    app.patch<{ Params: { name: string }; Body: Record<string, any> | null }>(
      '/collections/:name',
      { schema: { tags: ['collections'], summary: 'update search parameters', params: nameParams, body: S.updateCollectionBody, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } },
      async (req, reply) => {
        const body = req.body ?? {};
        refuseUnsupported(body, UPDATE_UNSUPPORTED.filter((f) => !isEmptyObject(body[f])));
        const collection = database.collection(req.params.name);
        const hnsw = body.hnsw_config ?? {};
        const current = collection.params.hnsw;
        // The graph is built with m and ef_construct: changing them needs a rebuild JadeVectorDB does not do.
        if (hnsw.m != null && hnsw.m !== current.m) badRequest(`hnsw_config.m cannot change after creation (it is ${current.m}): the graph would have to be rebuilt`);
        if (hnsw.ef_construct != null && hnsw.ef_construct !== current.efConstruction) badRequest(`hnsw_config.ef_construct cannot change after creation (it is ${current.efConstruction})`);
        for (const f of Object.keys(hnsw)) if (!['m', 'ef_construct', 'ef'].includes(f) && hnsw[f] != null) badRequest(`hnsw_config.${f} is not supported by JadeVectorDB`);
        if (hnsw.ef != null) await database.update(req.params.name, { efSearch: hnsw.ef });
        return ok(reply, true, req);
      },
    );

    app.get<{ Params: { name: string } }>('/collections/:name/exists', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'object', properties: { exists: { type: 'boolean' } } }) } } }, async (req, reply) =>
      ok(reply, { exists: database.has(database.resolve(req.params.name)) }, req),
    );

    // As Qdrant: deleting a collection that does not exist answers 200 with result false
    // (recreate_collection deletes first), and an alias is not deleted this way.
    app.delete<{ Params: { name: string } }>('/collections/:name', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } }, async (req, reply) =>
      ok(reply, await database.delete(req.params.name), req),
    );

    app.put<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/index',
      { schema: { tags: ['points'], params: nameParams, body: S.payloadIndexBody, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } },
      async (req, reply) => {
        const { schema, isTenant } = payloadFieldSchema(req.body.field_schema);
        const op = { kind: 'create_payload_index' as const, field: req.body.field_name, schema, ...(isTenant ? { isTenant: true } : {}) };
        const result = await writes.write(req.params.name, { ops: [op] }, writeOptionsOf(req, limits));
        return ok(reply, result, req);
      },
    );

    // JadeVectorDB's own details of a collection (not Qdrant's schema, so nothing is added to that).
    app.get<{ Params: { name: string } }>('/v1/collections/:name', { schema: { tags: ['collections'], summary: "JadeVectorDB's view of a collection: metric, index backlog, memory, WAL", params: nameParams, response: { 200: { type: 'object', additionalProperties: true }, ...errors } } }, async (req) => {
      const collection = database.collection(req.params.name);
      const info = await collection.info({ consistency: consistencyOf(req), deadlineMs: deadlineOf(req, limits) });
      const p = info.params;
      return {
        name: info.name,
        dimension: p.dimension,
        metric: p.metric,
        vector_name: p.vectorName ?? null,
        hnsw: { m: p.hnsw.m, ef_construct: p.hnsw.efConstruction, ef: p.hnsw.efSearch },
        points: info.points,
        index_status: info.indexBacklog > 0 ? 'indexing' : 'ready',
        index_backlog: info.indexBacklog,
        memory_bytes: info.memoryBytes,
        wal_bytes: info.walBytes,
        shard_number: info.shardNumber,
        replication_factor: info.replicationFactor,
        created_at_ms: info.createdAtMs,
        aliases: database.aliases().filter((a) => a.collection === info.name).map((a) => a.alias),
      };
    });
  };
}
