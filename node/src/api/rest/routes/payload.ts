// Payload and vector updates (Qdrant's set / overwrite / delete / clear payload and update_vectors):
// each is one write op of the shard, logged and replicated like an upsert. Points are named by
// ids (an id that does not exist is a 404, as in Qdrant) or chosen by a filter evaluated where the
// write is applied, on every replica and on WAL replay.
import type { FastifyInstance } from 'fastify';
import { PAYLOAD_KEYS_MAX, parseFilter, parsePointId } from '../../../query/vocabulary.js';
import type { PointSelector, WriteOp } from '../../../storage/types.js';
import { JadeError } from '../../../util/errors.js';
import { badRequest, ok, refuseUnsupported, writeOptionsOf, type RouteContext } from '../context.js';
import { parsePayload, parseVectors, unwrapVector } from '../convert.js';
import * as S from '../schemas.js';

export function payloadRoutes({ deps, writes }: RouteContext) {
  const { database, limits } = deps;
  const nameParams = S.collectionNameParams;
  const errors = S.errorResponses;
  const response = { 200: S.envelope({ type: 'object', properties: { operation_id: { type: 'integer' }, status: { type: 'string' } } }), ...errors };

  /** Exactly one of `points` (ids) and `filter`. */
  function selector(body: Record<string, any>): PointSelector {
    const hasPoints = Array.isArray(body.points);
    const hasFilter = body.filter !== undefined && body.filter !== null;
    if (hasPoints === hasFilter) badRequest('name the points with exactly one of "points" (a list of ids) and "filter"');
    if (hasFilter) {
      parseFilter(body.filter); // a bad filter is a 400 here, before anything is logged
      return { filterJson: JSON.stringify(body.filter) };
    }
    if (body.points.length > limits.batchPointsMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${body.points.length} ids in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
    return { ids: body.points.map((id: unknown, i: number) => parsePointId(id, `points[${i}]`)) };
  }

  const write = (name: string, op: WriteOp, req: Parameters<typeof writeOptionsOf>[0]) => writes.write(name, { ops: [op] }, writeOptionsOf(req, limits));

  function payloadOf(body: Record<string, any>): Record<string, unknown> {
    refuseUnsupported(body, ['key', 'shard_key']);
    const payload = parsePayload(body.payload, 'payload');
    if (payload === null) badRequest('payload must be a JSON object');
    return payload;
  }

  return async (app: FastifyInstance) => {
    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/payload',
      { schema: { tags: ['points'], summary: 'set payload keys (others kept)', params: nameParams, body: S.setPayloadBody, response } },
      async (req, reply) => ok(reply, await write(req.params.name, { kind: 'set_payload', payload: payloadOf(req.body), overwrite: false, target: selector(req.body) }, req), req),
    );

    app.put<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/payload',
      { schema: { tags: ['points'], summary: 'replace the whole payload', params: nameParams, body: S.setPayloadBody, response } },
      async (req, reply) => ok(reply, await write(req.params.name, { kind: 'set_payload', payload: payloadOf(req.body), overwrite: true, target: selector(req.body) }, req), req),
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/payload/delete',
      { schema: { tags: ['points'], summary: 'delete payload keys', params: nameParams, body: S.deletePayloadBody, response } },
      async (req, reply) => {
        refuseUnsupported(req.body, ['shard_key']);
        const keys: string[] = req.body.keys;
        if (keys.length === 0 || keys.length > PAYLOAD_KEYS_MAX) badRequest(`keys must list 1..${PAYLOAD_KEYS_MAX} payload keys`);
        return ok(reply, await write(req.params.name, { kind: 'delete_payload', keys, target: selector(req.body) }, req), req);
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/payload/clear',
      { schema: { tags: ['points'], summary: 'clear the whole payload', params: nameParams, body: S.pointsSelectorBody, response } },
      async (req, reply) => {
        refuseUnsupported(req.body, ['shard_key']);
        return ok(reply, await write(req.params.name, { kind: 'set_payload', payload: {}, overwrite: true, target: selector(req.body) }, req), req);
      },
    );

    app.put<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/vectors',
      { schema: { tags: ['points'], summary: 'replace the vectors of existing points', params: nameParams, body: S.updateVectorsBody, response } },
      async (req, reply) => {
        refuseUnsupported(req.body, ['update_filter', 'shard_key']);
        const params = database.collection(req.params.name).params;
        const raw: { id: unknown; vector: unknown }[] = req.body.points;
        if (raw.length > limits.batchPointsMax) throw new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${raw.length} points in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
        const vectors = parseVectors(raw.map((p, i) => unwrapVector(p.vector, params, `points[${i}].vector`)), (i) => `points[${i}].vector`);
        const points = raw.map((p, i) => ({ id: parsePointId(p.id, `points[${i}].id`), vector: vectors[i] }));
        return ok(reply, await write(req.params.name, { kind: 'update_vectors', points }, req), req);
      },
    );
  };
}
