// Internal unary calls between nodes (proto/internal.proto): forwarded proposals, remote shard
// reads, joins. The server side registers handlers by method name on the transport's gRPC server
// (one port per node); the client side keeps one channel per peer address, separate from the Raft
// streams, so large reads never delay heartbeats. Errors cross as coded JadeErrors.
import * as grpc from '@grpc/grpc-js';
import type { PeerAuthContext } from './types.js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from '../../util/package-root.js';
import { serverNameOptions } from './tls-credentials.js';
import { JadeError, isJadeError, ERROR_TABLE, type ErrorCode } from '../../util/errors.js';
import type { RpcObserver } from '../../util/observers.js';
import { REQUEST_ID_HEADER, currentRequestId, isValidRequestId, withRequestId } from '../../util/request-context.js';

export const INTERNAL_PROTO_PATH = protoPath('internal.proto');

export interface RpcRequestFrame {
  method: string;
  fromNodeId: string;
  clusterId: string;
  json: Uint8Array;
  binary: Uint8Array;
}

export interface RpcReplyFrame {
  ok: boolean;
  code: string;
  message: string;
  json: Uint8Array;
  binary: Uint8Array;
}

interface NodeRpcClient extends grpc.Client {
  Call(request: RpcRequestFrame, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<RpcReplyFrame>): grpc.ClientUnaryCall;
}

type NodeRpcClientConstructor = (new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => NodeRpcClient) & { service: grpc.ServiceDefinition };

let loaded: NodeRpcClientConstructor | null = null;

export function nodeRpcService(): NodeRpcClientConstructor {
  if (!loaded) {
    const definition = protoLoader.loadSync(INTERNAL_PROTO_PATH, { keepCase: false, longs: Number, defaults: true });
    const root = grpc.loadPackageDefinition(definition) as unknown as { jade: { internal: { v1: { NodeRpc: NodeRpcClientConstructor } } } };
    loaded = root.jade.internal.v1.NodeRpc;
  }
  return loaded;
}

/** What a call carries and returns: JSON plus an optional binary part. */
export interface RpcPayload {
  json: unknown;
  binary?: Uint8Array;
}

export interface RpcCallContext {
  /** The node id the caller proved (authenticated), not only claimed. */
  fromNodeId: string;
  /** Absolute deadline of the call (epoch ms). */
  deadlineMs: number;
  /** The id of the REST request the call serves, when the caller sent a valid one. */
  requestId?: string;
}

export type RpcHandler = (args: RpcPayload, ctx: RpcCallContext) => Promise<RpcPayload>;

/** Authentication of internal calls: the caller signs its metadata, the server verifies it. */
export interface RpcAuth {
  sign(metadata: grpc.Metadata, fromNodeId: string): void;
  /** Returns the authenticated node id, or throws JADE_ERR_UNAUTHENTICATED. `call` gives the peer's TLS certificate, when there is one. */
  verify(metadata: grpc.Metadata, claimedNodeId: string, call?: { getPeer(): string; getAuthContext(): PeerAuthContext | null }): string;
}

/** Development mode on loopback: nodes are trusted by their claimed id (main.ts refuses this off loopback). */
export const NO_RPC_AUTH: RpcAuth = {
  sign: () => undefined,
  verify: (_metadata, claimed) => claimed,
};

/** Bytes one call or reply may carry (a forwarded write is at most one Raft entry of ~64 MiB). */
export const RPC_MESSAGE_BYTES_MAX = 80 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

function encodeJson(v: unknown): Uint8Array {
  return v === undefined ? EMPTY : encoder.encode(JSON.stringify(v));
}

function decodeJson(b: Uint8Array): unknown {
  if (!b || b.length === 0) return undefined;
  return JSON.parse(decoder.decode(b));
}

export interface RpcOptions {
  nodeId: string;
  clusterId: string;
  auth: RpcAuth;
  channelCredentials?: grpc.ChannelCredentials;
  /** Calls in flight from this node at once (the rest get 429). */
  callsInFlightMax?: number;
  observer?: RpcObserver;
}

/**
 * Whether a failed call's request certainly never left this node: the channel had no connection
 * (grpc-js "No connection established", a refused connect, an unresolvable name). Anything else —
 * "Connection dropped", a reset, a timeout — may have reached the peer and run there: retrying
 * elsewhere could apply a write twice (seen in a lincheck run: a forwarded write whose leader was
 * killed mid-call was re-proposed to the next leader and applied again after a later write).
 */
export function grpcFailureNeverSent(code: grpc.status, details: string): boolean {
  return code === grpc.status.UNAVAILABLE && /^No connection established|ECONNREFUSED|Name resolution failed|DNS resolution failed/.test(details);
}

export function neverSent(e: unknown): boolean {
  return isJadeError(e) && e.details?.neverSent === true;
}

export class NodeRpc {
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly clients = new Map<string, NodeRpcClient>();
  private inFlight = 0;
  private closed = false;

  constructor(private readonly opts: RpcOptions) {}

  handle(method: string, handler: RpcHandler): void {
    this.handlers.set(method, handler);
  }

  /** The service implementation to add to the node's gRPC server. */
  service(): { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation } {
    return {
      definition: nodeRpcService().service,
      implementation: {
        Call: (call: grpc.ServerUnaryCall<RpcRequestFrame, RpcReplyFrame>, callback: grpc.sendUnaryData<RpcReplyFrame>) => {
          void this.serve(call).then((reply) => callback(null, reply));
        },
      },
    };
  }

  private async serve(call: grpc.ServerUnaryCall<RpcRequestFrame, RpcReplyFrame>): Promise<RpcReplyFrame> {
    const req = call.request;
    try {
      if (req.clusterId !== this.opts.clusterId) throw new JadeError('JADE_ERR_FORBIDDEN', `call from cluster "${req.clusterId}", this node is in "${this.opts.clusterId}"`);
      const fromNodeId = this.opts.auth.verify(call.metadata, req.fromNodeId, call);
      const handler = this.handlers.get(req.method);
      if (!handler) throw new JadeError('JADE_ERR_NOT_FOUND', `no internal method ${req.method.slice(0, 80)}`);
      const deadline = call.getDeadline();
      const deadlineMs = deadline instanceof Date ? deadline.getTime() : typeof deadline === 'number' && Number.isFinite(deadline) ? deadline : Date.now() + 30_000;
      let json: unknown;
      try {
        json = decodeJson(req.json);
      } catch {
        throw new JadeError('JADE_ERR_BAD_REQUEST', `${req.method}: arguments are not JSON`);
      }
      // The caller's request id goes on with the handler, so its own internal calls forward it too.
      const requestId = call.metadata.get(REQUEST_ID_HEADER)[0];
      const out = isValidRequestId(requestId)
        ? await withRequestId(requestId, () => handler({ json, binary: req.binary }, { fromNodeId, deadlineMs, requestId }))
        : await handler({ json, binary: req.binary }, { fromNodeId, deadlineMs });
      return { ok: true, code: '', message: '', json: encodeJson(out.json), binary: out.binary ?? EMPTY };
    } catch (e) {
      const code: ErrorCode = isJadeError(e) ? e.code : 'JADE_ERR_INTERNAL';
      return { ok: false, code, message: isJadeError(e) ? e.message : `internal error in ${req.method}`, json: isJadeError(e) && e.details ? encodeJson(e.details) : EMPTY, binary: EMPTY };
    }
  }

  /** A channel to `address`; with TLS, the server's certificate must name `serverName` when given (a seed's DNS name that resolved to this address), else the address's host. */
  private client(address: string, serverName?: string): NodeRpcClient {
    const key = serverName ? `${address}|${serverName}` : address;
    let c = this.clients.get(key);
    if (!c) {
      const Client = nodeRpcService();
      c = new Client(address, this.opts.channelCredentials ?? grpc.credentials.createInsecure(), {
        ...(this.opts.channelCredentials ? serverNameOptions(serverName) : {}),
        'grpc.max_send_message_length': RPC_MESSAGE_BYTES_MAX,
        'grpc.max_receive_message_length': RPC_MESSAGE_BYTES_MAX,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.initial_reconnect_backoff_ms': 50,
        'grpc.max_reconnect_backoff_ms': 1_000,
      });
      this.clients.set(key, c);
    }
    return c;
  }

  /** Forgets channels to addresses no longer in use. */
  retainAddresses(addresses: ReadonlySet<string>): void {
    for (const [key, c] of this.clients) {
      if (addresses.has(key.split('|')[0])) continue;
      c.close();
      this.clients.delete(key);
    }
  }

  /** Calls `method` at `address`; a coded error comes back as the same JadeError. `serverName`: see client(). */
  call(address: string, method: string, args: RpcPayload, deadlineMs: number, serverName?: string): Promise<RpcPayload> {
    if (this.closed) return Promise.reject(new JadeError('JADE_ERR_UNAVAILABLE', 'node is shutting down'));
    const max = this.opts.callsInFlightMax ?? 4_096;
    if (this.inFlight >= max) return Promise.reject(new JadeError('JADE_ERR_QUEUE_FULL', `${this.inFlight} internal calls in flight (the limit is ${max}); retry shortly`));
    const metadata = new grpc.Metadata();
    this.opts.auth.sign(metadata, this.opts.nodeId);
    const requestId = currentRequestId();
    if (requestId !== undefined) metadata.set(REQUEST_ID_HEADER, requestId);
    const request: RpcRequestFrame = { method, fromNodeId: this.opts.nodeId, clusterId: this.opts.clusterId, json: encodeJson(args.json), binary: args.binary ?? EMPTY };
    this.inFlight++;
    const started = performance.now();
    return new Promise<RpcPayload>((resolve, reject) => {
      this.client(address, serverName).Call(request, metadata, { deadline: new Date(Math.max(deadlineMs, Date.now() + 1)) }, (error, reply) => {
        this.inFlight--;
        this.opts.observer?.call(method, (performance.now() - started) / 1000, error ? (error.code === grpc.status.DEADLINE_EXCEEDED ? 'JADE_ERR_DEADLINE' : 'JADE_ERR_UNAVAILABLE') : reply!.ok ? 'ok' : reply!.code);
        if (error) {
          const notConnected = grpcFailureNeverSent(error.code, error.details ?? '');
          const code: ErrorCode = error.code === grpc.status.DEADLINE_EXCEEDED ? 'JADE_ERR_DEADLINE' : 'JADE_ERR_UNAVAILABLE';
          reject(new JadeError(code, `${method} at ${address}: ${error.details || error.message}`, { neverSent: notConnected }));
          return;
        }
        if (!reply!.ok) {
          const code = (reply!.code in ERROR_TABLE ? reply!.code : 'JADE_ERR_INTERNAL') as ErrorCode;
          let details: Record<string, unknown> | undefined;
          try {
            details = decodeJson(reply!.json) as Record<string, unknown> | undefined;
          } catch {
            details = undefined;
          }
          reject(new JadeError(code, reply!.message, details));
          return;
        }
        try {
          resolve({ json: decodeJson(reply!.json), binary: reply!.binary });
        } catch {
          reject(new JadeError('JADE_ERR_INTERNAL', `${method} at ${address}: reply is not JSON`));
        }
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
