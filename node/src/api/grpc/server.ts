// The client gRPC API: Qdrant's services (qdrant.Qdrant, qdrant.Collections, qdrant.Points) on their
// own port beside REST, so Qdrant's gRPC clients work unchanged. Every call is authenticated,
// limited and authorized as its REST twin (access.ts), runs on the collection layer, and fails
// through one error mapping (errors.ts). Methods JadeVectorDB does not serve answer UNIMPLEMENTED.
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { HealthCheckReplySchema } from '@qdrant/js-client-grpc';
import type { SecureContextOptions } from 'node:tls';
import { authorize, type Role } from '../../security/access.js';
import { JadeError } from '../../util/errors.js';
import { REQUEST_ID_HEADER, currentRequestId, requestIdOf, withRequestId } from '../../util/request-context.js';
import { QDRANT_COMPAT_VERSION } from '../rest/context.js';
import { collectionHandlers } from './collections.js';
import type { GrpcCall, GrpcDeps } from './context.js';
import { elapsedSeconds } from './context.js';
import { credentialHeaders, methodRule } from './access.js';
import { grpcFailureOf, unimplemented } from './errors.js';
import { payloadHandlers } from './payload.js';
import { pointHandlers } from './points.js';
import { QDRANT_SERVICES, methodPath, serviceDefinition } from './services.js';

/** The services served; qdrant.Snapshots and any other answer UNIMPLEMENTED for every method. */
const SERVED_SERVICES = ['qdrant.Qdrant', 'qdrant.Collections', 'qdrant.Points', 'qdrant.Snapshots'] as const;

/** Methods of a served service that JadeVectorDB does not serve, with why (the rest just "is not implemented"). */
const WHY_NOT: Readonly<Record<string, string>> = {
  'qdrant.Points/DeleteFieldIndex': 'is not supported: a payload index cannot be dropped yet (it is dropped with its collection)',
  'qdrant.Collections/Update': 'is not supported over gRPC: its only setting JadeVectorDB can change (hnsw ef) is not in Qdrant\'s gRPC message; use PATCH /collections/{name} over REST',
  'qdrant.Snapshots/Create': 'is not supported: use the backup API (POST /backups) over REST',
};

const LEVEL: Record<'read' | 'write' | 'manage', Role> = { read: 'read', write: 'write', manage: 'admin' };

type Handler = (req: never, call: GrpcCall) => Promise<object>;

export interface GrpcApiOptions {
  host: string;
  /** 0 = any free port. */
  port: number;
  /** Serve TLS with these (REST's certificate); null = plaintext. */
  tls: SecureContextOptions | null;
  /** Largest request message accepted (REST's body limit). */
  receiveMessageBytesMax: number;
}

/**
 * grpc-js's credentials with a pair that can change: grpc-js installs the new context on new
 * connections when updateSecureContextOptions runs (its own certificate providers do the same).
 */
class ReloadableServerCredentials extends grpc.ServerCredentials {
  constructor(options: SecureContextOptions) {
    super({}, options);
  }
  update(options: SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export interface GrpcApi {
  port: number;
  /** Installs a new certificate pair (REST's TLS reload); new connections get it. */
  setSecureContext(options: SecureContextOptions): void;
  close(): Promise<void>;
}

export async function startGrpcApi(deps: GrpcDeps, options: GrpcApiOptions): Promise<GrpcApi> {
  const { auth, database, metrics } = deps.app;
  const handlers: Record<string, Handler> = {};
  const add = (service: string, table: Record<string, Handler>) => {
    for (const [name, h] of Object.entries(table)) handlers[`${service}/${name}`] = h;
  };
  add('qdrant.Qdrant', { HealthCheck: async () => create(HealthCheckReplySchema, { title: 'JadeVectorDB', version: QDRANT_COMPAT_VERSION }) });
  add('qdrant.Collections', collectionHandlers(deps) as unknown as Record<string, Handler>);
  add('qdrant.Points', pointHandlers(deps) as unknown as Record<string, Handler>);
  add('qdrant.Points', payloadHandlers(deps) as unknown as Record<string, Handler>);

  const server = new grpc.Server({ 'grpc.max_receive_message_length': options.receiveMessageBytesMax, 'grpc.max_send_message_length': -1 });

  async function run(method: string, handler: Handler, call: grpc.ServerUnaryCall<unknown, unknown>): Promise<object> {
    const principal = await auth.authenticate(credentialHeaders(call.metadata));
    const release = deps.limiter.acquire(principal);
    const rule = methodRule(method);
    const name = (call.request as { collectionName?: unknown }).collectionName;
    let outcome = 'OK';
    try {
      const collection = rule.collection && typeof name === 'string' ? database.resolve(name) : null;
      if (rule.class === 'read' || rule.class === 'write' || rule.class === 'manage') authorize(principal, { level: LEVEL[rule.class], collection });
      const deadline = call.getDeadline();
      const callDeadlineMs = deadline instanceof Date ? deadline.getTime() : Number.isFinite(deadline) ? deadline : Infinity;
      const deadlineMs = Math.min(callDeadlineMs, Date.now() + deps.app.limits.requestTimeoutMs);
      return await handler(call.request as never, { principal, deadlineMs });
    } catch (e) {
      outcome = e instanceof JadeError ? e.code : 'JADE_ERR_INTERNAL';
      throw e;
    } finally {
      release();
      // Every manage call of an authenticated key, refused or not, as REST's audit lines.
      if (rule.class === 'manage') deps.log.info({ audit: true, api: 'grpc', requestId: currentRequestId() ?? null, keyId: principal.id, method, collection: typeof name === 'string' ? name : null, outcome }, 'audit');
    }
  }

  for (const typeName of SERVED_SERVICES) {
    const service = QDRANT_SERVICES.get(typeName);
    if (!service) throw new Error(`@qdrant/js-client-grpc has no service ${typeName}: its descriptors changed`);
    const impl: grpc.UntypedServiceImplementation = {};
    for (const method of service.methods) {
      const key = methodPath(method).slice(1);
      const handler = handlers[key];
      impl[method.name] = handler
        ? (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
            const startNs = process.hrtime.bigint();
            const requestId = requestIdOf(call.metadata.get(REQUEST_ID_HEADER)[0]?.toString());
            withRequestId(requestId, () => {
              run(key, handler, call).then(
                (result) => {
                  if ('time' in result) (result as { time: number }).time = elapsedSeconds(startNs);
                  metrics.grpcDuration.observe({ method: key, code: 'OK' }, elapsedSeconds(startNs));
                  callback(null, result);
                },
                (error: unknown) => {
                  const failure = grpcFailureOf(error, deps.log, key);
                  metrics.grpcDuration.observe({ method: key, code: grpc.status[failure.code] }, elapsedSeconds(startNs));
                  callback(failure);
                },
              );
            });
          }
        : (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
            metrics.grpcDuration.observe({ method: key, code: 'UNIMPLEMENTED' }, 0);
            callback(unimplemented(`/${key}`, WHY_NOT[key]));
          };
    }
    server.addService(serviceDefinition(service), impl);
  }

  const credentials = options.tls ? new ReloadableServerCredentials(options.tls) : grpc.ServerCredentials.createInsecure();
  const hostForAddress = options.host.includes(':') ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${hostForAddress}:${options.port}`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    port,
    setSecureContext(tls) {
      if (credentials instanceof ReloadableServerCredentials) credentials.update(tls);
    },
    close: () =>
      new Promise<void>((resolve) => {
        // Calls in flight finish; past a grace period, the rest are cancelled.
        const force = setTimeout(() => server.forceShutdown(), GRPC_SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/** How long a stopping node lets gRPC calls in flight finish before cancelling them. */
export const GRPC_SHUTDOWN_GRACE_MS = 5_000;
