// Points: upsert, retrieve (many and one), delete (ids or filter), count and scroll.
import type { FastifyInstance } from 'fastify';
import { parseFilter, parsePointId } from '../../../query/vocabulary.js';
import type { PointId, PointRecord } from '../../../storage/types.js';
import { JadeError } from '../../../util/errors.js';
import { badRequest, intInRange, ok, readWithReport, refuseUnsupported, writeOptionsOf, type RouteContext } from '../context.js';
import { parsePayload, parseVectors, parseWithPayload, parseWithVector, pointJson, unwrapVector } from '../convert.js';
import * as S from '../schemas.js';

export function pointRoutes({ deps, writes }: RouteContext) {
  const { database, limits } = deps;
  const nameParams = S.collectionNameParams;
  const errors = S.errorResponses;
  const tooMany = (n: number, what: string) => new JadeError('JADE_ERR_BATCH_TOO_LARGE', `${n} ${what} in one request; the limit (batchPointsMax) is ${limits.batchPointsMax}`);
  return async (app: FastifyInstance) => {
    app.put<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points',
      { schema: { tags: ['points'], params: nameParams, body: S.upsertBody, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } },
      async (req, reply) => {
        const body = req.body;
        const collection = database.collection(req.params.name);
        const params = collection.params;
        const points: PointRecord[] = [];
        if (Array.isArray(body.points)) {
          if (body.points.length > limits.batchPointsMax) throw tooMany(body.points.length, 'points');
          const vectors = parseVectors(body.points.map((p: any, i: number) => unwrapVector(p.vector, params, `points[${i}].vector`)), (i) => `points[${i}].vector`);
          body.points.forEach((p: any, i: number) => points.push({ id: parsePointId(p.id, `points[${i}].id`), vector: vectors[i], payload: parsePayload(p.payload, `points[${i}].payload`) }));
          body.points.length = 0; // as for batch.vectors below
        } else if (body.batch) {
          const { ids, payloads } = body.batch;
          // Column form: a list of vectors, or {name: list} naming the collection's vector.
          const vectors: unknown[] = unwrapVector(body.batch.vectors, params, 'batch.vectors') as unknown[];
          if (!Array.isArray(vectors)) badRequest('batch.vectors must be a list of vectors');
          if (ids.length !== vectors.length || (payloads && payloads.length !== ids.length)) badRequest('batch.ids, batch.vectors and batch.payloads must have the same length');
          if (ids.length > limits.batchPointsMax) throw tooMany(ids.length, 'points');
          const parsed = parseVectors(vectors, (i) => `batch.vectors[${i}]`);
          ids.forEach((id: unknown, i: number) => points.push({ id: parsePointId(id, `batch.ids[${i}]`), vector: parsed[i], payload: parsePayload(payloads?.[i], `batch.payloads[${i}]`) }));
          // The request (and fastify's reference to its body) lives until the write commits, long
          // enough for megabytes of base64 strings to be promoted to the old generation: drop them.
          vectors.length = 0;
        } else {
          badRequest('body needs "points" (a list of {id, vector, payload}) or "batch" ({ids, vectors, payloads})');
        }
        const pointCount = points.length;
        const written = await writes.write(req.params.name, { ops: [{ kind: 'upsert', points }] }, writeOptionsOf(req, limits));
        // Counted once, on the node that took the request (not per replica): the ingest rate.
        deps.metrics.pointsUpserted.inc({ collection: collection.name }, pointCount);
        return ok(reply, written, req);
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points',
      { schema: { tags: ['points'], params: nameParams, body: S.retrieveBody, response: { 200: S.envelope({ type: 'array', items: S.scoredPoint }), ...errors } } },
      async (req, reply) => {
        const collection = database.collection(req.params.name);
        const raw: unknown[] = req.body.ids;
        if (raw.length > limits.batchPointsMax) throw tooMany(raw.length, 'ids');
        const ids = raw.map((id, i) => parsePointId(id, `ids[${i}]`));
        const { opts, report } = readWithReport(req, limits);
        const { found } = await collection.retrieve(ids, parseWithPayload(req.body.with_payload, true), parseWithVector(req.body.with_vector, collection.params), opts);
        report(reply);
        // As Qdrant: ids that do not exist are left out.
        return ok(reply, found.map((p) => pointJson(p, collection.params)), req);
      },
    );

    app.get<{ Params: { name: string; id: string } }>(
      '/collections/:name/points/:id',
      { schema: { tags: ['points'], params: { type: 'object', required: ['name', 'id'], properties: { name: { type: 'string' }, id: { type: 'string' } } }, response: { 200: S.envelope(S.scoredPoint), ...errors } } },
      async (req, reply) => {
        const collection = database.collection(req.params.name);
        const raw = /^\d+$/.test(req.params.id) ? Number(req.params.id) : req.params.id;
        const { opts, report } = readWithReport(req, limits);
        const { found } = await collection.retrieve([parsePointId(raw, 'id')], true, true, opts);
        report(reply);
        if (found.length === 0) throw new JadeError('JADE_ERR_NOT_FOUND', `point ${req.params.id} does not exist`);
        const p = pointJson(found[0], collection.params);
        return ok(reply, { id: p.id, payload: p.payload ?? {}, vector: p.vector }, req);
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/delete',
      { schema: { tags: ['points'], params: nameParams, body: S.deleteBody, response: { 200: S.envelope({ type: 'object', additionalProperties: true }), ...errors } } },
      async (req, reply) => {
        if (Array.isArray(req.body.points)) {
          if (req.body.points.length > limits.batchPointsMax) throw tooMany(req.body.points.length, 'ids');
          const ids: PointId[] = req.body.points.map((id: unknown, i: number) => parsePointId(id, `points[${i}]`));
          return ok(reply, await writes.write(req.params.name, { ops: [{ kind: 'delete', ids }] }, writeOptionsOf(req, limits)), req);
        }
        if (req.body.filter) {
          // One op, evaluated where it is applied (on every replica, and on WAL replay): all matching
          // points go at once however many there are, including those written just before it in the log.
          parseFilter(req.body.filter); // a bad filter is a 400 here, before anything is logged
          return ok(reply, await writes.write(req.params.name, { ops: [{ kind: 'delete_by_filter', filterJson: JSON.stringify(req.body.filter) }] }, writeOptionsOf(req, limits)), req);
        }
        badRequest('body needs "points" (a list of ids) or "filter"');
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/count',
      { schema: { tags: ['points'], params: nameParams, body: S.countBody, response: { 200: S.envelope({ type: 'object', properties: { count: { type: 'integer' } } }), ...errors } } },
      async (req, reply) => {
        const collection = database.collection(req.params.name);
        const filter = req.body?.filter;
        parseFilter(filter);
        const { opts, report } = readWithReport(req, limits);
        const count = await collection.count(filter, opts);
        report(reply);
        return ok(reply, { count }, req);
      },
    );

    app.post<{ Params: { name: string }; Body: Record<string, any> }>(
      '/collections/:name/points/scroll',
      { schema: { tags: ['points'], params: nameParams, body: S.scrollBody, response: { 200: S.envelope({ type: 'object', properties: { points: { type: 'array', items: S.scoredPoint }, next_page_offset: { anyOf: [S.pointId, { type: 'null' }] } } }), ...errors } } },
      async (req, reply) => {
        const body = req.body ?? {};
        refuseUnsupported(body, ['order_by']);
        const collection = database.collection(req.params.name);
        const limit = intInRange(body.limit, 'limit', 10, 0, limits.batchPointsMax);
        const offset = body.offset === undefined || body.offset === null ? null : parsePointId(body.offset, 'offset');
        parseFilter(body.filter);
        const { opts, report } = readWithReport(req, limits);
        const page = await collection.scroll({ offset, limit, filter: body.filter, withPayload: parseWithPayload(body.with_payload, true), withVector: parseWithVector(body.with_vector, collection.params) }, opts);
        report(reply);
        return ok(reply, { points: page.points.map((p) => pointJson(p, collection.params)), next_page_offset: page.nextOffset }, req);
      },
    );
  };
}
