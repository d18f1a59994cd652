// Fencing (fencing.ts): GET /cluster/fence says whether this node is fenced; POST fences it (the
// answer comes once the fence is durable; then the node hands off its leaderships, closes its data
// and serves only /healthz and these routes); DELETE unfences it (the node starts serving again).
// The routes act on the node that answers them: address the pod or node itself, not a Service.
import type { FastifyInstance } from 'fastify';
import { fencedError } from '../../../query/fenced-database.js';
import { JadeError } from '../../../util/errors.js';
import { ok, type AppDeps, type FenceControl, type RouteContext } from '../context.js';
import * as S from '../schemas.js';

/** Characters of a fence's reason (fence-file.ts FENCE_REASON_LENGTH_MAX). */
const REASON_LENGTH_MAX = 256;

const fenceState = {
  type: 'object',
  properties: {
    node_id: { type: 'string' },
    fenced: { type: 'boolean' },
    fenced_at: { type: ['string', 'null'], description: 'ISO time the fence was recorded' },
    reason: { type: ['string', 'null'] },
    switching: { type: 'boolean', description: 'true right after POST/DELETE: the node is closing and starting again in its new state' },
  },
} as const;

/** Routes a fenced node still answers: probes, its status and metrics, the fence itself, the API document. */
const FENCED_NODE_ROUTES = new Set(['GET /', 'GET /healthz', 'GET /readyz', 'GET /v1/status', 'GET /v1/diagnostics', 'GET /metrics', 'GET /openapi.json', 'GET /cluster/fence', 'POST /cluster/fence', 'DELETE /cluster/fence']);

/** While fenced, every other route answers 503 JADE_ERR_FENCED (after authentication, before its handler). */
export function installFenceGuard(app: FastifyInstance, deps: AppDeps): void {
  app.addHook('preHandler', async (req) => {
    const fence = deps.fencing?.state();
    if (!fence || FENCED_NODE_ROUTES.has(`${req.method} ${req.routeOptions.url ?? ''}`)) return;
    throw fencedError(fence);
  });
}

function control(fencing: FenceControl | undefined): FenceControl {
  if (!fencing) throw new JadeError('JADE_ERR_BAD_REQUEST', 'fencing needs a node run by `jade serve` / `npm start` (this process embeds the node without its supervisor)');
  return fencing;
}

export function fenceRoutes({ deps }: RouteContext) {
  const stateOf = (switching: boolean) => {
    const f = deps.fencing?.state() ?? null;
    return { node_id: deps.info.nodeId, fenced: f !== null, fenced_at: f ? new Date(f.fencedAtMs).toISOString() : null, reason: f?.reason ?? null, switching };
  };
  return async (app: FastifyInstance) => {
    app.get('/cluster/fence', { schema: { tags: ['cluster'], response: { 200: S.envelope(fenceState) } } }, async (req, reply) => ok(reply, stateOf(false), req));

    app.post<{ Body: { reason?: string } | null }>(
      '/cluster/fence',
      {
        schema: {
          tags: ['cluster'],
          body: { type: ['object', 'null'], additionalProperties: false, properties: { reason: { type: 'string', maxLength: REASON_LENGTH_MAX } } },
          response: { 200: S.envelope(fenceState), 202: S.envelope(fenceState), 400: S.errorResponse },
        },
      },
      async (req, reply) => {
        const c = control(deps.fencing);
        const already = c.state() !== null;
        await c.fenceNode(req.body?.reason ?? '');
        req.log.warn({ reason: c.state()?.reason }, already ? 'fence requested: already fenced' : 'fenced: closing the node; it serves nothing until unfenced');
        return ok(reply.status(already ? 200 : 202), stateOf(!already), req);
      },
    );

    app.delete('/cluster/fence', { schema: { tags: ['cluster'], response: { 200: S.envelope(fenceState), 202: S.envelope(fenceState), 400: S.errorResponse } } }, async (req, reply) => {
      const c = control(deps.fencing);
      const was = c.state() !== null;
      await c.unfenceNode();
      if (was) req.log.warn('unfenced: starting the node again');
      return ok(reply.status(was ? 202 : 200), stateOf(was), req);
    });
  };
}
