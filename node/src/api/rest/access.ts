// Access control of the REST API: every route's class (read, write or manage, and whether its
// :name is the collection it touches), the hooks that authenticate, limit and authorize each
// request before its handler, and the audit line of every manage operation. Node-to-node calls
// never come here: they use the authenticated gRPC port.
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ANONYMOUS, authorize, visible, type Principal, type Role } from '../../security/access.js';
import { KeyLimiter } from '../../security/rate-limit.js';
import type { AppDeps } from './context.js';
import { startOf } from './context.js';
import { errorResponse } from './schemas.js';

/**
 * - public: no key (liveness and readiness probes; see AuthConfig.publicPaths)
 * - open: any valid key (the root probe Qdrant's clients call on connect, the OpenAPI document, unknown routes' 404)
 * - list: any valid key; the answer lists only the collections the key may read
 * - read / write / manage: that role (manage = admin), on the route's collection when `collection`
 */
export type RouteClass = 'public' | 'open' | 'list' | 'read' | 'write' | 'manage';

export interface RouteRule {
  class: RouteClass;
  /** The route's :name is the collection (or alias) it touches. */
  collection: boolean;
}

const open = { class: 'open', collection: false } as const;
const list = { class: 'list', collection: false } as const;
const node = (c: 'read' | 'manage'): RouteRule => ({ class: c, collection: false });
const on = (c: 'read' | 'write' | 'manage'): RouteRule => ({ class: c, collection: true });

/** Every route, by `METHOD url` as registered (HEAD uses its GET's rule). A route missing here is manage on the node: closed by default. */
export const ROUTE_RULES: Readonly<Record<string, RouteRule>> = {
  'GET /': open,
  'GET /healthz': { class: 'public', collection: false },
  'GET /readyz': { class: 'public', collection: false },
  'GET /v1/status': node('read'),
  'GET /metrics': node('read'),
  'GET /openapi.json': open,
  'POST /internal/v1/faults': node('manage'),

  'GET /collections': list,
  'PUT /collections/:name': on('manage'),
  'GET /collections/:name': on('read'),
  'PATCH /collections/:name': on('manage'),
  'GET /collections/:name/exists': on('read'),
  'DELETE /collections/:name': on('manage'),
  // A payload index changes how a collection's data is searched, not the collection: Qdrant's "rw".
  'PUT /collections/:name/index': on('write'),
  'GET /v1/collections/:name': on('read'),

  'POST /collections/aliases': node('manage'),
  'GET /collections/:name/aliases': on('read'),
  'GET /aliases': list,

  'PUT /collections/:name/points': on('write'),
  'POST /collections/:name/points': on('read'),
  'GET /collections/:name/points/:id': on('read'),
  'POST /collections/:name/points/delete': on('write'),
  'POST /collections/:name/points/count': on('read'),
  'POST /collections/:name/points/scroll': on('read'),
  'POST /collections/:name/points/search': on('read'),
  'POST /collections/:name/points/search/batch': on('read'),
  'POST /collections/:name/points/query': on('read'),
  'POST /collections/:name/points/query/batch': on('read'),
  'POST /collections/:name/points/payload': on('write'),
  'PUT /collections/:name/points/payload': on('write'),
  'POST /collections/:name/points/payload/delete': on('write'),
  'POST /collections/:name/points/payload/clear': on('write'),
  'PUT /collections/:name/points/vectors': on('write'),

  'GET /cluster': node('manage'),
  'GET /v1/diagnostics': node('manage'),
  'GET /cluster/fence': node('manage'),
  'POST /cluster/fence': node('manage'),
  'DELETE /cluster/fence': node('manage'),
  'GET /collections/:name/cluster': on('manage'),
  'POST /collections/:name/cluster': on('manage'),
  'POST /cluster/peer/:id/drain': node('manage'),
  'GET /cluster/peer/:id/drain': node('manage'),
  'POST /cluster/peer/:id/dead': node('manage'),
  'DELETE /cluster/peer/:id': node('manage'),
  'POST /cluster/rebalance': node('manage'),
  'GET /cluster/rebalance': node('manage'),
  'DELETE /cluster/rebalance': node('manage'),
  'POST /cluster/bootstrap': node('manage'),

  'POST /collections/:name/snapshots': on('manage'),
  'GET /collections/:name/snapshots': on('manage'),
  'POST /backups': node('manage'),
  'GET /backups': node('manage'),
  'GET /backups/:id': node('manage'),
  'DELETE /backups/:id': node('manage'),
  'POST /backups/:id/verify': node('manage'),
  'POST /backups/:id/restore': node('manage'),
};

const FAIL_CLOSED: RouteRule = node('manage');
/** At most one audit line per this interval for manage requests without a valid key (401s); the next says how many it skipped. */
export const UNAUTHENTICATED_AUDIT_INTERVAL_MS = 1_000;
const LEVEL: Record<'read' | 'write' | 'manage', Role> = { read: 'read', write: 'write', manage: 'admin' };

/** The rule of a matched route (undefined url: no route matched, a 404 for any valid key). */
export function ruleOf(method: string, url: string | undefined): RouteRule {
  if (url === undefined) return open;
  return ROUTE_RULES[`${method === 'HEAD' ? 'GET' : method} ${url}`] ?? FAIL_CLOSED;
}

/** A rule in words, for the OpenAPI document (x-jade-access) and the README. */
export function describeRule(rule: RouteRule): string {
  switch (rule.class) {
    case 'public':
      return 'no key';
    case 'open':
      return 'any valid key';
    case 'list':
      return 'any valid key; lists only what the key may read';
    case 'manage':
      return 'admin (the whole node)';
    default:
      return `${rule.class} ${rule.collection ? 'on the collection (aliases resolved)' : 'on the whole node'}`;
  }
}

interface RequestAccess {
  principal: Principal;
  rule: RouteRule;
  /** The collection the request touches, aliases resolved; null for node-wide routes. */
  collection: string | null;
  release: () => void;
}

const accessOf = new WeakMap<FastifyRequest, RequestAccess>();

/** The principal a request acts as (ANONYMOUS when authentication is off or the path is public). */
export function principalOf(req: FastifyRequest): Principal {
  return accessOf.get(req)?.principal ?? ANONYMOUS;
}

/** Of `names` (collections), those the request's key may read: what list answers show. */
export function visibleTo(req: FastifyRequest, names: readonly string[]): string[] {
  return visible(principalOf(req), names);
}

/** What an audit line says a manage operation touched beyond its path (collections named in the body). */
function bodyTargets(req: FastifyRequest): Record<string, unknown> {
  const body = req.body as Record<string, any> | null | undefined;
  if (!body || typeof body !== 'object') return {};
  if (req.routeOptions.url === '/backups/:id/restore') return { collection: typeof body.as === 'string' ? body.as : typeof body.collection === 'string' ? body.collection : null };
  if (req.routeOptions.url === '/collections/aliases' && Array.isArray(body.actions)) {
    const named = new Set<string>();
    for (const a of body.actions as Record<string, any>[]) {
      for (const v of Object.values(a ?? {})) {
        for (const f of ['collection_name', 'alias_name', 'old_alias_name', 'new_alias_name']) if (typeof v?.[f] === 'string') named.add(v[f]);
      }
    }
    return { names: [...named].slice(0, 100) };
  }
  return {};
}

/** The per-key limiter of a node's limits; one per node, shared by REST and gRPC (AppDeps.keyLimiter). */
export function keyLimiterOf(limits: AppDeps['limits']): KeyLimiter {
  return new KeyLimiter({ requestsPerSecondMax: limits.keyRequestsPerSecondMax, requestsBurstMax: limits.keyRequestsBurstMax, requestsInFlightMax: limits.keyRequestsInFlightMax });
}

/** Installs the access hooks; call after the hook that stamps the request's start. */
export function installAccess(app: FastifyInstance, deps: AppDeps): void {
  const { auth, database, limits } = deps;
  const limiter = deps.keyLimiter ?? keyLimiterOf(limits);
  // Audit lines are info-level whatever the node's log level (its routes log at warn): an
  // operator who turns request logs down still gets them. Only a node without a logger drops them.
  const audit: FastifyBaseLogger = app.log.child({ audit: true }, { level: 'info' });
  // Requests without a valid key cost nothing to send: their lines are throttled per route (the
  // routes are a fixed set), and the next line says how many were skipped.
  const unauthenticated = new Map<string, { loggedAtMs: number; suppressed: number }>();

  // The OpenAPI document says what each route needs, and that probes need nothing.
  app.addHook('onRoute', (route) => {
    const schema = route.schema as Record<string, any> | undefined;
    if (!schema) return;
    const rule = ruleOf(Array.isArray(route.method) ? route.method[0] : route.method, route.url);
    schema['x-jade-access'] = describeRule(rule);
    if (rule.class === 'public') schema.security = [];
    else if (schema.response) for (const status of [401, 403, 429]) schema.response[status] ??= errorResponse;
  });

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (auth.isPublic(req.url)) return;
    const principal = await auth.authenticate(req.headers);
    const rule = ruleOf(req.method, req.routeOptions.url);
    const name = rule.collection ? (req.params as Record<string, unknown> | undefined)?.name : undefined;
    const collection = typeof name === 'string' ? database.resolve(name) : null;
    const state: RequestAccess = { principal, rule, collection, release: () => undefined };
    accessOf.set(req, state);
    // Counted before the role check: a key that only collects 403s still spends its rate.
    state.release = limiter.acquire(principal);
    // A client that disconnects early may never get an onResponse: release on close as well.
    reply.raw.once('close', state.release);
    if (rule.class === 'open' || rule.class === 'list' || rule.class === 'public') return;
    authorize(principal, { level: LEVEL[rule.class], collection });
  });

  // The body arrives between onRequest and the handler: an alias repointed meanwhile must not
  // carry the request to a collection it was not checked against.
  app.addHook('preHandler', async (req: FastifyRequest) => {
    const state = accessOf.get(req);
    if (!state || state.collection === null) return;
    const name = (req.params as Record<string, unknown> | undefined)?.name;
    const now = typeof name === 'string' ? database.resolve(name) : null;
    if (now === null || now === state.collection) return;
    state.collection = now;
    if (state.rule.class === 'read' || state.rule.class === 'write' || state.rule.class === 'manage') authorize(state.principal, { level: LEVEL[state.rule.class], collection: now });
  });

  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const state = accessOf.get(req);
    state?.release();
    const rule = state?.rule ?? ruleOf(req.method, req.routeOptions.url);
    if (rule.class !== 'manage' || req.method === 'GET' || req.method === 'HEAD') return;
    let suppressed = {};
    if (!state) {
      const key = `${req.method} ${req.routeOptions.url}`;
      const seen = unauthenticated.get(key) ?? { loggedAtMs: -Infinity, suppressed: 0 };
      unauthenticated.set(key, seen);
      if (Date.now() - seen.loggedAtMs < UNAUTHENTICATED_AUDIT_INTERVAL_MS) {
        seen.suppressed++;
        return;
      }
      suppressed = { suppressedBefore: seen.suppressed };
      seen.loggedAtMs = Date.now();
      seen.suppressed = 0;
    }
    const params = req.params as Record<string, unknown> | undefined;
    audit.info(
      {
        requestId: req.id,
        keyId: state?.principal.id ?? null,
        method: req.method,
        route: req.routeOptions.url ?? null,
        path: req.url.split('?')[0],
        collection: state?.collection ?? (typeof params?.name === 'string' ? params.name : null),
        ...bodyTargets(req),
        status: reply.statusCode,
        durationMs: Math.round(Number(process.hrtime.bigint() - startOf(req)) / 1e4) / 100,
        ...suppressed,
      },
      'audit',
    );
  });
}
