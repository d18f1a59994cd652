// System routes: Qdrant's root probe, liveness and readiness, the node's status, metrics, OpenAPI.
import type { FastifyInstance } from 'fastify';
import { JadeError } from '../../../util/errors.js';
import { QDRANT_COMPAT_VERSION, type RouteContext } from '../context.js';
import * as S from '../schemas.js';

export function systemRoutes({ deps }: RouteContext) {
  const { database, metrics } = deps;
  return async (app: FastifyInstance) => {
    // Qdrant's VersionInfo, nothing more (its clients refuse extra fields); JadeVectorDB's own version is in /v1/status.
    app.get('/', { schema: { tags: ['system'], response: { 200: { type: 'object', properties: { title: { type: 'string' }, version: { type: 'string' } } } } } }, async () => ({
      title: 'JadeVectorDB',
      version: QDRANT_COMPAT_VERSION,
    }));

    app.get('/healthz', { schema: { tags: ['system'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: { tags: ['system'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } }, 503: S.errorResponse } } }, async () => {
      const fence = deps.fencing?.state();
      if (fence) throw new JadeError('JADE_ERR_FENCED', `node is fenced (${fence.reason})`);
      if (!deps.isReady()) throw new JadeError('JADE_ERR_NOT_READY', 'node is starting or shutting down');
      return { status: 'ready' };
    });

    app.get('/v1/status', { schema: { tags: ['system'], response: { 200: { type: 'object', additionalProperties: true } } } }, async () => {
      const mem = process.memoryUsage();
      const collections = database.localStats().map((c) =>
        c.points === null
          ? { name: c.name, opening: true } // no replica here yet (cluster mode): nothing to report
          : { name: c.name, points: c.points, dimension: c.dimension, metric: c.metric, walBytes: c.walBytes, memoryBytes: c.memoryBytes, indexBacklog: c.indexBacklog },
      );
      const sum = (f: (c: (typeof collections)[number]) => number | null | undefined) => collections.reduce((a, c) => a + (f(c) ?? 0), 0);
      return {
        version: deps.info.version,
        nodeId: deps.info.nodeId,
        clusterName: deps.info.clusterName,
        mode: database.mode,
        role: 'leader',
        ...database.clusterStatus(),
        ready: deps.isReady(),
        uptimeSeconds: Math.round((Date.now() - deps.info.startedAtMs) / 1000),
        collections,
        points: sum((c) => ('points' in c ? c.points : 0)),
        walBytes: sum((c) => ('walBytes' in c ? c.walBytes : 0)),
        memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, indexBytes: sum((c) => ('memoryBytes' in c ? c.memoryBytes : 0)) },
        diskUsedBytes: deps.diskUsageBytes ? await deps.diskUsageBytes() : null,
      };
    });

    app.get('/metrics', { schema: { tags: ['system'], hide: false } }, async (_req, reply) => {
      reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });

    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  };
}
