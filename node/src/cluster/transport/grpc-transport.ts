// gRPC implementation of RaftTransport (proto/raft.proto). One server per node receives batches and
// snapshots; one PeerConnection per peer sends them. Fault hooks exist only when the node is built
// with `faultHooksEnabled` (tests); otherwise the admin methods refuse with JADE_ERR_FORBIDDEN.
//
// Authentication: every call (the message stream, each snapshot) carries the sender's node id and,
// with a cluster secret, a fresh proof of it (security/node-auth.ts). The server refuses a call
// from a node outside the peer set or without a valid proof (UNAUTHENTICATED), binds the call to
// the authenticated node id, and drops (and counts) any batch or snapshot that claims another
// sender; the host checks the `from` inside each Raft message the same way (reportForgedSender).
// Without a secret (loopback development only) the node id is taken as claimed.
//
// Mutual TLS (tls-credentials.ts), when the node has a certificate: the server refuses clients
// without a certificate from the cluster CA in the handshake, before any call; peers are verified
// against the CA and the host dialled. A peer that keeps failing to connect is probed with a bare
// TLS handshake so the log says why (another CA, a plain-text peer, a name not in its certificate).
//
// Deadlines: connecting to a peer has `connectTimeoutMs`; a snapshot has `snapshotDeadlineMs`; the
// long-lived message stream has no deadline but HTTP/2 keepalive pings (a dead peer is noticed within
// keepaliveTimeMs + keepaliveTimeoutMs) and a stall timeout when its write buffer never drains.

import * as grpc from '@grpc/grpc-js';
import type { PeerAuthContext } from './types.js';
import { NodeProofSigner, NodeProofVerifier } from '../../security/node-auth.js';
import type { TlsPair } from '../../security/tls.js';
import { JadeError, assert } from '../../util/errors.js';
import { FaultHooks } from './faults.js';
import { PeerConnection } from './peer.js';
import type { PeerLimits, PeerState } from './peer.js';
import type { MessageBatchFrame, SnapshotAckFrame, SnapshotFrame, SnapshotHeaderFrame } from './proto.js';
import { raftTransportService } from './proto.js';
import type { RpcAuth } from './rpc.js';
import { probeTls, TLS_PROBE_AFTER_FAILURES } from './tls-probe.js';
import type { NodeTlsCredentials } from './tls-credentials.js';
import { identityMismatch, nodeIdsOfSubjectAltName } from '../../security/node-identity.js';
import { emptyStats, messageLength, type MessageBytes } from './types.js';
import type {
  FaultSpec,
  GroupId,
  MessageHandler,
  NodeId,
  RaftTransport,
  SnapshotHandler,
  SnapshotSendOptions,
  TransportStats,
  UnreachableHandler,
} from './types.js';

const MIB = 1024 * 1024;
/** Metadata of every call: the sender's node id, and its proof of the cluster secret. */
export const NODE_ID_METADATA = 'x-jade-node-id';
export const NODE_PROOF_METADATA = 'x-jade-node-proof';
/** A refusal or forgery of the same kind from the same peer is logged at most this often. */
const LOG_INTERVAL_MS = 10_000;
const LOG_KEYS_MAX = 1_000;

export interface GrpcTransportOptions extends Partial<PeerLimits> {
  nodeId: NodeId;
  /** host:port to listen on; port 0 picks a free one (see `address` after start()). */
  listenAddress: string;
  /** Frames tagged with another cluster id are dropped. */
  clusterId?: string;
  /**
   * Shared by every node: each call proves it (HMAC, see security/node-auth.ts) and calls without a
   * valid proof are refused. Null: calls are not authenticated (loopback development only).
   */
  clusterSecret?: string | null;
  /** Refused and forged traffic (at most one line per peer and kind every LOG_INTERVAL_MS); never given secrets. */
  log?: (line: string) => void;
  faultHooksEnabled?: boolean;
  /** Largest single Raft message accepted by send(); larger ones are dropped and counted. */
  messageBytesMax?: number;
  /** Largest snapshot a receiver buffers before refusing it. */
  snapshotBytesMax?: number;
  /** Concurrent snapshot transfers, per direction, for the whole node. */
  snapshotsInFlightMax?: number;
  keepaliveTimeMs?: number;
  keepaliveTimeoutMs?: number;
  /** Mutual TLS for the server and every peer connection, and the pair in use (for probes); absent = plain text. */
  tls?: { credentials: NodeTlsCredentials; pair: () => TlsPair } | null;
  serverCredentials?: grpc.ServerCredentials;
  channelCredentials?: grpc.ChannelCredentials;
}

export const TRANSPORT_DEFAULTS = {
  queueMessagesMax: 10_000,
  queueBytesMax: 64 * MIB,
  batchMessagesMax: 1_024,
  batchBytesMax: 4 * MIB,
  connectTimeoutMs: 2_000,
  backoffInitialMs: 50,
  backoffMaxMs: 1_000,
  sendStallTimeoutMs: 10_000,
  snapshotChunkBytes: 1 * MIB,
  snapshotDeadlineMs: 300_000,
  messageBytesMax: 64 * MIB,
  snapshotBytesMax: 1024 * MIB,
  snapshotsInFlightMax: 4,
  keepaliveTimeMs: 10_000,
  keepaliveTimeoutMs: 5_000,
} as const;

export interface PeerStatus {
  nodeId: NodeId;
  address: string;
  state: PeerState;
  queuedMessages: number;
  queuedBytes: number;
  consecutiveFailures: number;
}

export class GrpcRaftTransport implements RaftTransport {
  readonly nodeId: NodeId;
  private readonly clusterId: string;
  private readonly limits: PeerLimits;
  /** Largest single Raft message send() takes (larger ones are dropped). */
  readonly messageBytesMax: number;
  private readonly snapshotBytesMax: number;
  private readonly snapshotsInFlightMax: number;
  private readonly faults: FaultHooks | null;
  private readonly counters: TransportStats = emptyStats();
  private readonly server: grpc.Server;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly channelCredentials: grpc.ChannelCredentials;
  private readonly serverCredentials: grpc.ServerCredentials;
  private readonly peers = new Map<NodeId, PeerConnection>();
  private messageHandler: MessageHandler | null = null;
  private snapshotHandler: SnapshotHandler | null = null;
  private unreachableHandler: UnreachableHandler | null = null;
  private snapshotsSending = 0;
  private snapshotsReceiving = 0;
  private boundAddress: string | null = null;
  private closed = false;
  private readonly signer: NodeProofSigner | null;
  private readonly verifier: NodeProofVerifier | null;
  /** Last time each kind of refusal was logged, and how many went unlogged since. */
  private readonly logged = new Map<string, { atMs: number; suppressed: number }>();
  /** Peers with a TLS probe under way. */
  private readonly probing = new Set<NodeId>();

  constructor(private readonly options: GrpcTransportOptions) {
    this.nodeId = options.nodeId;
    this.clusterId = options.clusterId ?? '';
    this.limits = {
      queueMessagesMax: options.queueMessagesMax ?? TRANSPORT_DEFAULTS.queueMessagesMax,
      queueBytesMax: options.queueBytesMax ?? TRANSPORT_DEFAULTS.queueBytesMax,
      batchMessagesMax: options.batchMessagesMax ?? TRANSPORT_DEFAULTS.batchMessagesMax,
      batchBytesMax: options.batchBytesMax ?? TRANSPORT_DEFAULTS.batchBytesMax,
      connectTimeoutMs: options.connectTimeoutMs ?? TRANSPORT_DEFAULTS.connectTimeoutMs,
      backoffInitialMs: options.backoffInitialMs ?? TRANSPORT_DEFAULTS.backoffInitialMs,
      backoffMaxMs: options.backoffMaxMs ?? TRANSPORT_DEFAULTS.backoffMaxMs,
      sendStallTimeoutMs: options.sendStallTimeoutMs ?? TRANSPORT_DEFAULTS.sendStallTimeoutMs,
      snapshotChunkBytes: options.snapshotChunkBytes ?? TRANSPORT_DEFAULTS.snapshotChunkBytes,
      snapshotDeadlineMs: options.snapshotDeadlineMs ?? TRANSPORT_DEFAULTS.snapshotDeadlineMs,
    };
    this.messageBytesMax = options.messageBytesMax ?? TRANSPORT_DEFAULTS.messageBytesMax;
    this.snapshotBytesMax = options.snapshotBytesMax ?? TRANSPORT_DEFAULTS.snapshotBytesMax;
    this.snapshotsInFlightMax = options.snapshotsInFlightMax ?? TRANSPORT_DEFAULTS.snapshotsInFlightMax;
    assert(this.limits.snapshotChunkBytes > 0 && this.limits.batchBytesMax > 0, 'transport limits must be positive');
    this.faults = options.faultHooksEnabled ? new FaultHooks() : null;
    const secret = options.clusterSecret ?? null;
    this.signer = secret === null ? null : new NodeProofSigner(secret, this.clusterId, this.nodeId);
    this.verifier = secret === null ? null : new NodeProofVerifier(secret, this.clusterId, this.nodeId);

    // A frame holds at most one message past batchBytesMax, or one snapshot chunk, plus framing.
    const frameBytesMax = Math.max(this.messageBytesMax, this.limits.batchBytesMax, this.limits.snapshotChunkBytes) + MIB;
    const keepalive = {
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? TRANSPORT_DEFAULTS.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
    };
    this.channelOptions = {
      ...keepalive,
      'grpc.max_send_message_length': frameBytesMax,
      'grpc.max_receive_message_length': frameBytesMax,
      // Own connection per client: a peer's traffic never shares (or loses) another client's socket.
      'grpc.use_local_subchannel_pool': 1,
      // The channel's own reconnect backoff matches ours, so the two do not compound.
      'grpc.initial_reconnect_backoff_ms': this.limits.backoffInitialMs,
      'grpc.max_reconnect_backoff_ms': this.limits.backoffMaxMs,
    };
    this.channelCredentials = options.channelCredentials ?? options.tls?.credentials.channel ?? grpc.credentials.createInsecure();
    this.serverCredentials = options.serverCredentials ?? options.tls?.credentials.server ?? grpc.ServerCredentials.createInsecure();
    this.server = new grpc.Server({
      ...keepalive,
      'grpc.max_receive_message_length': frameBytesMax,
      'grpc.max_send_message_length': frameBytesMax,
    });
    this.server.addService(raftTransportService().service, {
      Send: (call: grpc.ServerReadableStream<MessageBatchFrame, Record<string, never>>, callback: grpc.sendUnaryData<Record<string, never>>) =>
        this.serveSend(call, callback),
      InstallSnapshot: (call: grpc.ServerReadableStream<SnapshotFrame, SnapshotAckFrame>, callback: grpc.sendUnaryData<SnapshotAckFrame>) =>
        this.serveInstallSnapshot(call, callback),
    });
  }

  /** Adds another service (the internal calls) to this node's gRPC server; before start(). */
  addService(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    assert(!this.boundAddress, 'services are added before the transport starts');
    this.server.addService(definition, implementation);
  }

  /** Bind the server; resolves with the bound host:port. */
  async start(): Promise<string> {
    assert(!this.boundAddress && !this.closed, 'transport started twice or after close');
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.options.listenAddress, this.serverCredentials, (error, boundPort) =>
        error ? reject(new JadeError('JADE_ERR_UNAVAILABLE', `cannot listen on ${this.options.listenAddress}: ${error.message}`)) : resolve(boundPort),
      );
    });
    const host = this.options.listenAddress.slice(0, this.options.listenAddress.lastIndexOf(':'));
    this.boundAddress = `${host}:${port}`;
    return this.boundAddress;
  }

  /** Whether node-to-node connections are mutual TLS. */
  get tlsEnabled(): boolean {
    return Boolean(this.options.tls);
  }

  /** Whether calls are authenticated by the cluster secret. */
  get authenticated(): boolean {
    return this.verifier !== null;
  }

  get address(): string {
    assert(this.boundAddress, 'transport not started');
    return this.boundAddress;
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandler = handler;
  }

  onPeerUnreachable(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  setPeers(peers: Map<NodeId, string>): void {
    if (this.closed) return;
    for (const [nodeId, peer] of this.peers) {
      if (peers.get(nodeId) !== peer.address) {
        peer.close();
        this.peers.delete(nodeId);
      }
    }
    for (const [nodeId, address] of peers) {
      if (nodeId === this.nodeId || this.peers.has(nodeId)) continue;
      this.peers.set(
        nodeId,
        new PeerConnection(
          nodeId,
          address,
          { fromNodeId: this.nodeId, clusterId: this.clusterId },
          this.limits,
          this.counters,
          this.channelCredentials,
          this.channelOptions,
          {
            callMetadata: () => this.callMetadata(nodeId),
            onUnreachable: (peerId) => {
              this.diagnoseTls(peerId);
              this.unreachableHandler?.(peerId);
            },
            onRefused: (peerId, details) => this.logLimited(`refused-by:${peerId}`, `peer ${peerId} refused our Raft connection: ${details}`),
          },
        ),
      );
    }
  }

  send(toNodeId: NodeId, groupId: GroupId, message: MessageBytes): void {
    const peer = this.peers.get(toNodeId);
    if (!peer || messageLength(message) > this.messageBytesMax) {
      this.counters.droppedOther++;
      return;
    }
    if (this.faults?.dropOutbound(toNodeId)) {
      this.counters.droppedByFault++;
      return;
    }
    peer.enqueue(groupId, message, this.faults?.delayMs(toNodeId) ?? 0);
  }

  async sendSnapshot(
    toNodeId: NodeId,
    groupId: GroupId,
    meta: Uint8Array,
    data: AsyncIterable<Uint8Array> | Uint8Array,
    options: SnapshotSendOptions = {},
  ): Promise<void> {
    const peer = this.peers.get(toNodeId);
    if (!peer) throw new JadeError('JADE_ERR_UNAVAILABLE', `no address for peer ${toNodeId}`);
    if (this.faults?.outboundCut(toNodeId)) {
      this.counters.droppedByFault++;
      throw new JadeError('JADE_ERR_UNAVAILABLE', `peer ${toNodeId} is partitioned (fault hook)`);
    }
    if (this.snapshotsSending >= this.snapshotsInFlightMax) {
      throw new JadeError('JADE_ERR_QUEUE_FULL', `${this.snapshotsSending} snapshots already in flight`);
    }
    this.snapshotsSending++;
    try {
      // Delay faults slow snapshots too (per chunk), so tests can watch a transfer's progress.
      const faults = this.faults;
      await peer.sendSnapshot(groupId, meta, data, { onBytesSent: options.onBytesSent, chunkDelayMs: faults ? () => faults.delayMs(toNodeId) : undefined });
      this.counters.snapshotsSent++;
    } finally {
      this.snapshotsSending--;
    }
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /**
   * The host found a Raft message from `fromNodeId` (the authenticated peer) that claims another
   * sender: it is dropped there; counted and logged here.
   */
  reportForgedSender(fromNodeId: NodeId, claimed: string): void {
    this.counters.droppedForgedSender++;
    this.logLimited(`forged:${fromNodeId}`, `dropped a Raft message from ${fromNodeId} that claims to come from ${JSON.stringify(claimed.slice(0, 64))}`);
  }

  /**
   * A peer that keeps failing to connect over TLS: one bare handshake (no data) says why, in the log
   * (at most once per LOG_INTERVAL_MS per peer and reason).
   */
  private diagnoseTls(peerId: NodeId): void {
    const tls = this.options.tls;
    const peer = this.peers.get(peerId);
    if (!tls || !peer || peer.consecutiveFailures + 1 < TLS_PROBE_AFTER_FAILURES || this.probing.has(peerId)) return;
    this.probing.add(peerId);
    void probeTls(peer.address, tls.pair(), this.limits.connectTimeoutMs).then((problem) => {
      this.probing.delete(peerId);
      if (problem && !this.closed) this.logLimited(`tls:${peerId}:${problem.slice(0, 20)}`, `cannot connect to peer ${peerId} at ${peer.address}: ${problem}`);
    });
  }

  /** Metadata of a call to `toNodeId` (null: to an address, whichever node is there): our id and a fresh proof. */
  private callMetadata(toNodeId: NodeId | null, md = new grpc.Metadata()): grpc.Metadata {
    md.set(NODE_ID_METADATA, this.nodeId);
    if (this.signer) md.set(NODE_PROOF_METADATA, this.signer.proof(toNodeId));
    return md;
  }

  /**
   * The node id a call is authenticated as, or null after refusing it (counted, logged). Raft
   * streams and snapshots come only from members: a node outside the peer set is refused even with
   * a valid proof. Internal calls may come from a node joining (a valid proof suffices); the node
   * id they claim in the request must be the one they proved.
   */
  private authenticate(call: { metadata: grpc.Metadata; getPeer(): string; getAuthContext?(): PeerAuthContext | null }, how: { members: boolean; claimed?: string; what: string }): NodeId | null {
    const single = (key: string): string | undefined => {
      const values = call.metadata.get(key);
      return values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
    };
    const claimed = single(NODE_ID_METADATA);
    let reason: string | null = null;
    if (claimed === undefined) reason = 'no node id';
    else if (how.members && !this.peers.has(claimed)) reason = `node ${JSON.stringify(claimed.slice(0, 64))} is not in the peer set`;
    else if (how.claimed !== undefined && how.claimed !== claimed) reason = `the call claims to come from ${JSON.stringify(how.claimed.slice(0, 64))}`;
    else if (this.verifier) {
      const check = this.verifier.verify(claimed, single(NODE_PROOF_METADATA));
      if (!check.ok) reason = check.reason;
    }
    // A certificate that names node ids (one per pod) proves which node is calling: no other id may be claimed over it.
    if (reason === null && this.options.tls) reason = identityMismatch(nodeIdsOfSubjectAltName(call.getAuthContext?.()?.sslPeerCertificate?.subjectaltname), claimed!);
    if (reason === null) return claimed!;
    this.counters.refusedUnauthenticated++;
    this.logLimited(`refused:${how.what}:${claimed?.slice(0, 64) ?? ''}:${reason.slice(0, 20)}`, `refused ${how.what} from ${call.getPeer()} claiming to be ${JSON.stringify(claimed?.slice(0, 64) ?? null)}: ${reason}`);
    return null;
  }

  /** Authentication of the internal calls (NodeRpc) on this server, by the same secret and counters. */
  rpcAuth(): RpcAuth {
    return {
      sign: (metadata) => void this.callMetadata(null, metadata),
      verify: (metadata, claimed, call) => {
        const id = this.authenticate({ metadata, getPeer: () => call?.getPeer() ?? 'a node', getAuthContext: () => call?.getAuthContext() ?? null }, { members: false, claimed, what: 'an internal call' });
        if (id === null) throw new JadeError('JADE_ERR_UNAUTHENTICATED', 'the call is not authenticated as a node of this cluster');
        return id;
      },
    };
  }

  private logLimited(key: string, line: string): void {
    const log = this.options.log;
    if (!log) return;
    const now = Date.now();
    const seen = this.logged.get(key);
    if (seen && now - seen.atMs < LOG_INTERVAL_MS) {
      seen.suppressed++;
      return;
    }
    if (this.logged.size >= LOG_KEYS_MAX) this.logged.clear();
    this.logged.set(key, { atMs: now, suppressed: 0 });
    log(seen?.suppressed ? `${line} (and ${seen.suppressed} more like it since the last line)` : line);
  }

  peerStatus(): PeerStatus[] {
    return [...this.peers.values()].map((p) => ({
      nodeId: p.nodeId,
      address: p.address,
      state: p.connectionState,
      queuedMessages: p.queuedMessages,
      queuedBytes: p.queuedBytes,
      consecutiveFailures: p.consecutiveFailures,
    }));
  }

  get faultHooksEnabled(): boolean {
    return this.faults !== null;
  }

  /** Test admin: replace the fault configuration. Refused unless built with faultHooksEnabled. */
  setFaults(spec: Partial<FaultSpec>): void {
    this.requireFaults().set(spec);
  }

  getFaults(): FaultSpec {
    return this.requireFaults().get();
  }

  healFaults(): void {
    this.requireFaults().heal();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    // Our streams never end by themselves, so a graceful shutdown would wait forever: force it.
    this.server.forceShutdown();
  }

  private requireFaults(): FaultHooks {
    if (!this.faults) throw new JadeError('JADE_ERR_FORBIDDEN', 'fault hooks are disabled on this node');
    return this.faults;
  }

  private serveSend(
    call: grpc.ServerReadableStream<MessageBatchFrame, Record<string, never>>,
    callback: grpc.sendUnaryData<Record<string, never>>,
  ): void {
    call.on('error', () => {}); // the sender reconnects; nothing to clean up here
    const peerId = this.authenticate(call, { members: true, what: 'a Raft connection' });
    if (peerId === null) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'not authenticated as a member of this cluster' });
      return;
    }
    call.on('data', (batch: MessageBatchFrame) => this.receiveBatch(peerId, batch));
    call.on('end', () => callback(null, {}));
  }

  private receiveBatch(peerId: NodeId, batch: MessageBatchFrame): void {
    const count = batch.messages.length;
    if (batch.fromNodeId !== peerId) {
      this.counters.droppedForgedSender += count;
      this.logLimited(`forged:${peerId}`, `dropped a batch from ${peerId} that claims to come from ${JSON.stringify(batch.fromNodeId.slice(0, 64))}`);
      return;
    }
    if (batch.clusterId !== this.clusterId || !this.messageHandler || this.closed || !this.peers.has(peerId)) {
      this.counters.droppedOther += count;
      return;
    }
    if (this.faults?.dropInbound(peerId)) {
      this.counters.droppedByFault += count;
      return;
    }
    this.counters.batchesReceived++;
    this.counters.messagesReceived += count;
    for (const envelope of batch.messages) this.messageHandler(peerId, envelope.groupId, envelope.payload);
  }

  private serveInstallSnapshot(
    call: grpc.ServerReadableStream<SnapshotFrame, SnapshotAckFrame>,
    callback: grpc.sendUnaryData<SnapshotAckFrame>,
  ): void {
    let header: SnapshotHeaderFrame | null = null;
    const chunks: Uint8Array[] = [];
    let receivedBytes = 0;
    let finished = false;
    let counted = false;
    const finish = (error: Partial<grpc.StatusObject> | null, ack?: SnapshotAckFrame): void => {
      if (finished) return;
      finished = true;
      chunks.length = 0;
      if (counted) this.snapshotsReceiving--;
      callback(error, ack);
    };
    const fail = (code: grpc.status, details: string): void => finish({ code, details });
    const peerId = this.authenticate(call, { members: true, what: 'a snapshot' });
    if (peerId === null) {
      call.on('error', () => {});
      return fail(grpc.status.UNAUTHENTICATED, 'not authenticated as a member of this cluster');
    }

    call.on('data', (frame: SnapshotFrame) => {
      if (finished) return;
      if (frame.header) {
        if (header) return fail(grpc.status.INVALID_ARGUMENT, 'second snapshot header');
        if (frame.header.fromNodeId !== peerId) {
          this.counters.droppedForgedSender++;
          this.logLimited(`forged:${peerId}`, `refused a snapshot from ${peerId} that claims to come from ${JSON.stringify(frame.header.fromNodeId.slice(0, 64))}`);
          return fail(grpc.status.PERMISSION_DENIED, 'the snapshot claims another sender than the authenticated one');
        }
        if (frame.header.clusterId !== this.clusterId) return fail(grpc.status.FAILED_PRECONDITION, 'cluster id differs');
        if (this.faults?.dropInbound(frame.header.fromNodeId)) {
          this.counters.droppedByFault++;
          return fail(grpc.status.UNAVAILABLE, 'partitioned (fault hook)');
        }
        if (this.snapshotsReceiving >= this.snapshotsInFlightMax) {
          return fail(grpc.status.RESOURCE_EXHAUSTED, `${this.snapshotsReceiving} snapshots already being received`);
        }
        this.snapshotsReceiving++;
        counted = true;
        header = frame.header;
        return;
      }
      if (!header) return fail(grpc.status.INVALID_ARGUMENT, 'snapshot chunk before the header');
      const chunk = frame.chunk ?? new Uint8Array(0);
      receivedBytes += chunk.length;
      if (receivedBytes > this.snapshotBytesMax) {
        return fail(grpc.status.OUT_OF_RANGE, `snapshot larger than ${this.snapshotBytesMax} bytes`);
      }
      chunks.push(chunk);
    });
    call.on('error', () => finish({ code: grpc.status.CANCELLED, details: 'sender went away' }));
    call.on('end', () => {
      if (finished) return;
      if (!header) return fail(grpc.status.INVALID_ARGUMENT, 'snapshot without a header');
      const handler = this.snapshotHandler;
      if (!handler) return fail(grpc.status.UNAVAILABLE, 'no snapshot handler');
      const data = Buffer.concat(chunks, receivedBytes);
      chunks.length = 0;
      const { groupId, meta } = header;
      handler(peerId, groupId, meta, data).then(
        () => {
          this.counters.snapshotsReceived++;
          finish(null, { receivedBytes });
        },
        (error: unknown) => fail(grpc.status.INTERNAL, `snapshot handler failed: ${(error as Error).message}`),
      );
    });
  }
}
