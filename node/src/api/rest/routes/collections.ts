// Collections: list, create, info, exists, delete, and payload indexes (Qdrant's dialect).
import type { FastifyInstance } from 'fastify';
import { PAYLOAD_SCHEMAS, type PayloadSchema } from '../../../query/vocabulary.js';
import { JadeError } from '../../../util/errors.js';
import { badRequest, deadlineOf, ok, parseWriteConsistency, writeOptionsOf, type RouteContext } from '../context.js';
import { QDRANT_DISTANCE, parseMetric } from '../convert.js';
import * as S from '../schemas.js';

export function collectionRoutes({ deps, writes }: RouteContext) {
  const { database, limits } = deps;
  const nameParams = S.collectionNameParams;
  const errors = S.errorResponses;
  return async (app: FastifyInstance) => {
    app.get('/collections', { schema: { tags: ['collections'], response: { 200: S.envelope({ type: 'object', properties: { collections: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } } } }) } } }, async (req, reply) =>
      ok(reply, { collections: database.names().map((name) => ({ name })) }, req),
    );

    app.put<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name',
      { schema: { tags: ['collections'], params: nameParams, body: S.createCollectionBody, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } },
      async (req, reply) => {
        const body = req.body;
        const hnsw = body.hnsw_config ?? {};
        await database.create(
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
          { shardNumber: body.shard_number ?? undefined, replicationFactor: body.replication_factor ?? undefined, writeConsistency: parseWriteConsistency(body.write_consistency) },
        );
        return ok(reply, true, req);
      },
    );

    app.get<{ Params: { name: string } }>('/collections/:name', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } }, async (req, reply) => {
      const info = await database.collection(req.params.name).info({ consistency: 'eventual', deadlineMs: deadlineOf(req, limits) });
      const p = info.params;
      const payloadSchema: Record<string, unknown> = {};
      for (const i of info.payloadIndexes) payloadSchema[i.field] = { data_type: i.schema, params: { type: i.schema }, points: i.points };
      return ok(
        reply,
        {
          status: info.indexBacklog > 0 ? 'yellow' : 'green',
          optimizer_status: 'ok',
          points_count: info.points,
          indexed_vectors_count: info.points - info.indexBacklog,
          segments_count: info.shardNumber,
          config: {
            params: { vectors: { size: p.dimension, distance: QDRANT_DISTANCE[p.metric] }, shard_number: info.shardNumber, replication_factor: info.replicationFactor, write_consistency_factor: 1, on_disk_payload: false },
            hnsw_config: { m: p.hnsw.m, ef_construct: p.hnsw.efConstruction, ef: p.hnsw.efSearch, full_scan_threshold: 0, on_disk: false },
            optimizer_config: {},
            wal_config: { wal_capacity_mb: 64, wal_segments_ahead: 0 },
          },
          payload_schema: payloadSchema,
          jade: { metric: p.metric, index_status: info.indexBacklog > 0 ? 'indexing' : 'ready', index_backlog: info.indexBacklog, memory_bytes: info.memoryBytes, wal_bytes: info.walBytes, created_at_ms: info.createdAtMs },
        },
        req,
      );
    });

    app.get<{ Params: { name: string } }>('/collections/:name/exists', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'object', properties: { exists: { type: 'boolean' } } }) } } }, async (req, reply) =>
      ok(reply, { exists: database.has(req.params.name) }, req),
    );

    app.delete<{ Params: { name: string } }>('/collections/:name', { schema: { tags: ['collections'], params: nameParams, response: { 200: S.envelope({ type: 'boolean' }), ...errors } } }, async (req, reply) => {
      if (!(await database.delete(req.params.name))) throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${req.params.name}" does not exist`);
      return ok(reply, true, req);
    });

    app.put<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/index',
      { schema: { tags: ['points'], params: nameParams, body: S.payloadIndexBody, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } },
      async (req, reply) => {
        const raw = req.body.field_schema;
        const schemaName = (typeof raw === 'object' && raw !== null ? raw.type : raw) ?? 'keyword';
        if (!PAYLOAD_SCHEMAS.includes(schemaName)) badRequest(`field_schema "${schemaName}" is not supported: use ${PAYLOAD_SCHEMAS.join(', ')}`);
        const result = await writes.write(req.params.name, { ops: [{ kind: 'create_payload_index', field: req.body.field_name, schema: schemaName as PayloadSchema }] }, writeOptionsOf(req, limits));
        return ok(reply, result, req);
      },
    );
  };
}
