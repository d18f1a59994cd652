// Test hooks: transport fault injection (only with JADE_TEST_HOOKS=1). Node-to-node calls do not
// come over REST: they use the authenticated gRPC port.
import type { FastifyInstance } from 'fastify';
import { ok, type RouteContext } from '../context.js';

export function internalRoutes({ deps }: RouteContext) {
  const { database } = deps;
  return async (app: FastifyInstance) => {
    if (deps.testHooksEnabled && database.setFaults) {
      const setFaults = database.setFaults.bind(database);
      app.post<{ Body: Record<string, unknown> }>('/internal/v1/faults', { schema: { hide: true, body: { type: 'object' } } }, async (req, reply) => {
        setFaults(req.body);
        return ok(reply, true, req);
      });
    }
  };
}
