// The REST API: Qdrant's dialect for collections and points (so @qdrant/js-client-rest works
// unchanged) plus JadeVectorDB's own system endpoints, one fastify plugin per resource (routes/).
// buildApp() builds without listening, so tests drive it with inject(). Every error leaves
// through one handler and one code table. Routes talk to the collection layer (query/), never to
// a replica's state.
import { isAscii } from 'node:buffer';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import { ERROR_TABLE, JadeError, type ErrorCode } from '../../util/errors.js';
import { REQUEST_ID_HEADER, requestIdOf, withRequestId } from '../../util/request-context.js';
import { installAccess } from './access.js';
import { RETRY_AFTER_SECONDS, WriteGate, startOf, type AppDeps, type RouteContext } from './context.js';
import { backupRoutes } from './routes/backups.js';
import { clusterRoutes } from './routes/cluster.js';
import { fenceRoutes, installFenceGuard } from './routes/fence.js';
import { aliasRoutes } from './routes/aliases.js';
import { collectionRoutes } from './routes/collections.js';
import { internalRoutes } from './routes/internal.js';
import { payloadRoutes } from './routes/payload.js';
import { pointRoutes } from './routes/points.js';
import { searchRoutes } from './routes/search.js';
import { systemRoutes } from './routes/system.js';

export { QDRANT_COMPAT_VERSION, RETRY_AFTER_SECONDS, type AppDeps, type RestLimits, type SystemInfo } from './context.js';

/** The value at an ajv instancePath (a JSON pointer such as /points/0/vector/3), or undefined. */
function valueAtPointer(root: unknown, pointer: string): unknown {
  let current = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return current;
}

/**
 * Errors Node's HTTP parser meets before there is a request (headers over maxHeaderSize, a
 * malformed request line, a request that took too long to arrive) get our error envelope too;
 * fastify's default answers them in its own shape. The connection is closed after the answer.
 */
function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message]: [ErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? ['JADE_ERR_HEADERS_TOO_LARGE', 'request headers are over the size limit (Node\'s maxHeaderSize, 16 KiB by default)']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ['JADE_ERR_REQUEST_TIMEOUT', 'the request did not arrive in time']
        : ['JADE_ERR_BAD_REQUEST', 'malformed HTTP request'];
  const status = ERROR_TABLE[code].http;
  const body = JSON.stringify({ status: { error: message, code }, time: 0 });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { limits, metrics } = deps;
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: limits.bodyBytesMax,
    // Slow clients (slowloris): fastify's default 0 would let a request body trickle in forever.
    requestTimeout: limits.requestReceiveTimeoutMs,
    // Node checks both timeouts on this period (30 s by default): a quarter of the shorter keeps them close to their settings.
    http: { connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(limits.headersTimeoutMs / 4))) },
    // removeAdditional: false, so a schema's additionalProperties: false refuses an unknown field
    // (a coded 400) instead of fastify's default of silently dropping it.
    ajv: { customOptions: { coerceTypes: false, allErrors: false, removeAdditional: false } },
    // Collection names may be 255 characters (fastify's default cap is 100), and router errors
    // (malformed %-encoding, over-long parameters) answer in our envelope, not fastify's.
    routerOptions: { maxParamLength: 512 },
    clientErrorHandler,
    // Request ids: the caller's x-request-id when valid (printable, bounded), else a new UUID; fastify's
    // own header option would take any value as it is. Every line of req.log carries it as requestId.
    requestIdHeader: false,
    genReqId: (req) => requestIdOf(req.headers[REQUEST_ID_HEADER]),
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    // TLS (security/tls.ts): the same port, routes and hooks, over HTTPS.
    ...(deps.https ? { https: deps.https } : {}),
    frameworkErrors: (error, req, reply: FastifyReply) => {
      void reply.header(REQUEST_ID_HEADER, req.id).status(400).send({ status: { error: `bad URL: ${error.message.slice(0, 200)}`, code: 'JADE_ERR_BAD_REQUEST' }, time: 0 });
    },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'JadeVectorDB REST API', version: deps.info.version, description: 'Qdrant-compatible collections and points, plus JadeVectorDB system endpoints.' },
      // Either scheme carries an API key or a JWT (README "Access control").
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'api-key' }, bearer: { type: 'http', scheme: 'bearer', description: 'an API key or a JWT (HS256)' } } },
      security: [{ apiKey: [] }, { bearer: [] }],
    },
  });

  // Per-request logs only at warn: info-level request lines cost throughput and add nothing.
  app.addHook('onRoute', (route) => {
    // Unconditionally: fastify has already filled in the default level before onRoute runs.
    route.logLevel = 'warn';
  });

  app.server.headersTimeout = limits.headersTimeoutMs;

  app.addHook('onRequest', async (req, reply) => {
    (req as unknown as { jadeStartNs: bigint }).jadeStartNs = process.hrtime.bigint();
    // First, so refusals (401, 429) and errors answer with it too.
    reply.header(REQUEST_ID_HEADER, req.id);
  });
  // Authentication, per-key limits, roles, audit (access.ts): after the start stamp, before any handler.
  installAccess(app, deps);
  installFenceGuard(app, deps);
  // The handler, and the internal calls of its fan-out, run with the request's id (rpc.ts forwards it).
  // Entered last, just before the handler: the hooks before it log through req.log, which has it already.
  app.addHook('preHandler', (req, _reply, done) => withRequestId(req.id, done));

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, Number(process.hrtime.bigint() - startOf(req)) / 1e9);
  });

  app.setErrorHandler((error: any, req, reply) => {
    let code: ErrorCode;
    let message: string;
    let reason: string | undefined;
    if (error instanceof JadeError && error.code === 'JADE_ERR_STORAGE') {
      // The message names files of the data directory: the node's log gets it, the client the errno.
      code = error.code;
      const errno = typeof error.details?.errno === 'string' ? error.details.errno : null;
      message = `storage error on the node${errno ? `: ${errno}` : ''} (details in its log)`;
      req.log.error({ err: error }, 'storage error');
    } else if (error instanceof JadeError) {
      code = error.code;
      message = error.message;
      // A refusal's machine-readable reason (409 MOVE_IN_PROGRESS, NO_TARGET_NODE, ALREADY_MEMBER, ...).
      if (typeof error.details?.reason === 'string') reason = error.details.reason;
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
    if (code === 'JADE_ERR_RATE_LIMITED') reply.header('retry-after', String(error.details?.retryAfterSeconds ?? RETRY_AFTER_SECONDS));
    reply.status(ERROR_TABLE[code].http).send({ status: reason === undefined ? { error: message, code } : { error: message, code, reason }, time: Number(process.hrtime.bigint() - startOf(req)) / 1e9 });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ status: { error: `no route ${req.method} ${req.url.split('?')[0]}`, code: 'JADE_ERR_NOT_FOUND' }, time: 0 });
  });

  // JSON bodies: fastify's own parser (same limits, proto-poisoning checks and errors), fed a
  // latin1 decoding when the body is pure ASCII, as upserts of base64 vectors are: 2-3× cheaper
  // than UTF-8 decoding of a multi-megabyte body and the same string.
  const parseJsonText = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: limits.bodyBytesMax }, (req, body: Buffer, done) => {
    parseJsonText(req, body.toString(isAscii(body) ? 'latin1' : 'utf8'), done);
  });

  const context: RouteContext = { deps, writes: deps.writeGate ?? new WriteGate(deps.database, limits.writesInFlightMax) };
  await app.register(systemRoutes(context));
  await app.register(internalRoutes(context));
  await app.register(collectionRoutes(context));
  await app.register(aliasRoutes(context));
  await app.register(pointRoutes(context));
  await app.register(payloadRoutes(context));
  await app.register(searchRoutes(context));
  await app.register(clusterRoutes(context));
  await app.register(fenceRoutes(context));
  await app.register(backupRoutes(context));
  return app;
}
