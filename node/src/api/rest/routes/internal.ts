// Cluster internals: other nodes forward proposals here; tests inject transport faults.
import type { FastifyInstance } from 'fastify';
import { badRequest, ok, type RouteContext } from '../context.js';

export function internalRoutes({ deps }: RouteContext) {
  const { database } = deps;
  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: deps.limits.bodyBytesMax }, (_req, body, done) => done(null, body));

    if (database.proposeLocal) {
      const proposeLocal = database.proposeLocal.bind(database);
      app.post<{ Params: { groupId: string }; Body: Buffer }>(
        '/internal/v1/groups/:groupId/propose',
        { schema: { hide: true, params: { type: 'object', required: ['groupId'], properties: { groupId: { type: 'string', maxLength: 300 } } } } },
        async (req, reply) => {
          if (!Buffer.isBuffer(req.body)) badRequest('body must be application/octet-stream');
          return ok(reply, await proposeLocal(req.params.groupId, new Uint8Array(req.body)), req);
        },
      );
    }

    if (deps.testHooksEnabled && database.setFaults) {
      const setFaults = database.setFaults.bind(database);
      app.post<{ Body: Record<string, unknown> }>('/internal/v1/faults', { schema: { hide: true, body: { type: 'object' } } }, async (req, reply) => {
        setFaults(req.body);
        return ok(reply, true, req);
      });
    }
  };
}
