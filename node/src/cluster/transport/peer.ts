// One peer: one gRPC client (one HTTP/2 connection), a bounded outbound queue, a send loop that drains
// the queue into batch frames on a long-lived client stream, and reconnection with exponential backoff.
//
// States: idle (no stream, nothing to send) → connecting (waitForReady with a deadline) → open
// (stream up, flushing) → backoff (after a failed connect or a broken stream) → connecting ...
// Messages written into a stream that breaks are lost; Raft retransmits, so no acks are kept here.

import * as grpc from '@grpc/grpc-js';
import { JadeError } from '../../util/errors.js';
import type { OutboundMessageBatch, RaftTransportClient, SnapshotAckFrame, SnapshotFrame } from './proto.js';
import { raftTransportService } from './proto.js';
import { messageLength, type GroupId, type MessageBytes, type NodeId, type TransportStats } from './types.js';

export interface PeerLimits {
  queueMessagesMax: number;
  queueBytesMax: number;
  batchMessagesMax: number;
  batchBytesMax: number;
  connectTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A stream whose write buffer has not drained for this long is cancelled and reopened. */
  sendStallTimeoutMs: number;
  snapshotChunkBytes: number;
  snapshotDeadlineMs: number;
}

export interface PeerIdentity {
  fromNodeId: NodeId;
  clusterId: string;
}

/** What a peer connection needs from its transport besides limits and counters. */
export interface PeerHooks {
  /** Metadata of each new call: who we are and, with a cluster secret, a fresh proof for this peer. */
  callMetadata(): grpc.Metadata;
  /** The peer could not be reached, or the stream broke. */
  onUnreachable(nodeId: NodeId): void;
  /** The peer refused a call as unauthenticated (UNAUTHENTICATED or PERMISSION_DENIED). */
  onRefused(nodeId: NodeId, details: string): void;
}

function isRefusal(error: Partial<grpc.ServiceError> | null): error is grpc.ServiceError {
  return error?.code === grpc.status.UNAUTHENTICATED || error?.code === grpc.status.PERMISSION_DENIED;
}

interface QueuedMessage {
  groupId: GroupId;
  payload: MessageBytes;
  /** payload bytes */
  length: number;
  /** Delay hook: the message may leave the queue from this time on (ms since epoch). */
  readyAtMs: number;
}

export type PeerState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/** Compact the queue array once this many consumed slots sit at its front. */
const QUEUE_COMPACT_AFTER = 1024;

export class PeerConnection {
  readonly client: RaftTransportClient;
  private state: PeerState = 'idle';
  private queue: QueuedMessage[] = [];
  private queueHead = 0;
  private queueBytes = 0;
  private stream: grpc.ClientWritableStream<OutboundMessageBatch> | null = null;
  private awaitingDrain = false;
  private flushScheduled: NodeJS.Immediate | null = null;
  private delayTimer: NodeJS.Timeout | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private backoffTimer: NodeJS.Timeout | null = null;
  private failedAttempts = 0;
  private readonly snapshotCalls = new Set<grpc.ClientWritableStream<SnapshotFrame>>();

  constructor(
    readonly nodeId: NodeId,
    readonly address: string,
    private readonly identity: PeerIdentity,
    private readonly limits: PeerLimits,
    private readonly stats: TransportStats,
    credentials: grpc.ChannelCredentials,
    channelOptions: grpc.ChannelOptions,
    private readonly hooks: PeerHooks,
  ) {
    const Client = raftTransportService();
    this.client = new Client(address, credentials, channelOptions);
  }

  get connectionState(): PeerState {
    return this.state;
  }

  get queuedMessages(): number {
    return this.queue.length - this.queueHead;
  }

  get queuedBytes(): number {
    return this.queueBytes;
  }

  get consecutiveFailures(): number {
    return this.failedAttempts;
  }

  /** Queue a message; false (and counted) when the queue is at its bound. Never blocks. */
  enqueue(groupId: GroupId, payload: MessageBytes, delayMs: number): boolean {
    if (this.state === 'closed') return false;
    const length = messageLength(payload);
    if (this.queuedMessages >= this.limits.queueMessagesMax || this.queueBytes + length > this.limits.queueBytesMax) {
      this.stats.droppedQueueFull++;
      return false;
    }
    this.queue.push({ groupId, payload, length, readyAtMs: delayMs > 0 ? Date.now() + delayMs : 0 });
    this.queueBytes += length;
    this.stats.messagesQueued++;
    if (this.state === 'idle') this.connect();
    else if (this.state === 'open') this.scheduleFlush();
    return true;
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const timer of [this.delayTimer, this.stallTimer, this.backoffTimer]) if (timer) clearTimeout(timer);
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.queue = [];
    this.queueHead = 0;
    this.queueBytes = 0;
    const stream = this.stream;
    this.stream = null;
    stream?.cancel();
    for (const call of this.snapshotCalls) call.cancel();
    this.client.close();
  }

  private connect(): void {
    this.state = 'connecting';
    this.client.waitForReady(Date.now() + this.limits.connectTimeoutMs, (error) => {
      if (this.state !== 'connecting') return; // closed meanwhile
      if (error) {
        this.stats.disconnects++;
        this.becameUnreachable();
        return;
      }
      this.openStream();
    });
  }

  private openStream(): void {
    const stream = this.client.Send(this.hooks.callMetadata(), (error) => this.onStreamEnded(stream, error));
    // Failures arrive through the callback; a listener keeps an 'error' event from becoming uncaught.
    stream.on('error', () => {});
    this.stream = stream;
    this.state = 'open';
    this.failedAttempts = 0;
    this.stats.connects++;
    this.scheduleFlush();
  }

  private onStreamEnded(stream: grpc.ClientWritableStream<OutboundMessageBatch>, error: grpc.ServiceError | null): void {
    if (this.stream !== stream) return;
    if (isRefusal(error)) {
      this.stats.refusedByPeer++;
      this.hooks.onRefused(this.nodeId, error.details);
    }
    this.stream = null;
    this.awaitingDrain = false;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = null;
    if (this.state === 'closed') return;
    this.stats.disconnects++;
    this.becameUnreachable();
  }

  /**
   * Drop what is queued (Raft resends fresh messages once the peer is back; old heartbeats and
   * appends would only be rejected), tell the owner, and retry after a backoff.
   */
  private becameUnreachable(): void {
    this.stats.droppedUnreachable += this.queuedMessages;
    this.queue = [];
    this.queueHead = 0;
    this.queueBytes = 0;
    this.scheduleReconnect();
    this.hooks.onUnreachable(this.nodeId);
  }

  private scheduleReconnect(): void {
    this.state = 'backoff';
    const exponential = Math.min(this.limits.backoffMaxMs, this.limits.backoffInitialMs * 2 ** Math.min(this.failedAttempts, 30));
    // Jitter spreads reconnects of many nodes after a shared outage.
    const delayMs = exponential * (0.5 + 0.5 * Math.random());
    this.failedAttempts++;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null;
      if (this.state !== 'backoff') return;
      if (this.queuedMessages > 0) this.connect();
      else this.state = 'idle'; // reconnect on the next send
    }, delayMs);
  }

  private scheduleFlush(): void {
    // setImmediate rather than a microtask: everything queued in this event-loop turn shares one frame.
    if (this.flushScheduled || this.awaitingDrain) return;
    this.flushScheduled = setImmediate(() => {
      this.flushScheduled = null;
      this.flush();
    });
  }

  private flush(): void {
    const stream = this.stream;
    if (this.state !== 'open' || !stream || this.awaitingDrain) return;
    const now = Date.now();
    while (this.queueHead < this.queue.length) {
      const first = this.queue[this.queueHead];
      if (first.readyAtMs > now) {
        if (!this.delayTimer) {
          this.delayTimer = setTimeout(() => {
            this.delayTimer = null;
            this.scheduleFlush();
          }, first.readyAtMs - now);
        }
        break;
      }
      const messages: OutboundMessageBatch['messages'] = [];
      let batchBytes = 0;
      while (this.queueHead < this.queue.length && messages.length < this.limits.batchMessagesMax) {
        const next = this.queue[this.queueHead];
        if (next.readyAtMs > now) break;
        if (messages.length > 0 && batchBytes + next.length > this.limits.batchBytesMax) break;
        messages.push({ groupId: next.groupId, payload: next.payload });
        batchBytes += next.length;
        this.queueHead++;
      }
      this.queueBytes -= batchBytes;
      this.stats.batchesSent++;
      this.stats.messagesSent += messages.length;
      this.stats.bytesSent += batchBytes;
      const writable = stream.write({ fromNodeId: this.identity.fromNodeId, clusterId: this.identity.clusterId, messages });
      if (!writable) {
        this.waitForDrain(stream);
        break;
      }
    }
    if (this.queueHead >= QUEUE_COMPACT_AFTER && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private waitForDrain(stream: grpc.ClientWritableStream<OutboundMessageBatch>): void {
    this.awaitingDrain = true;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      if (this.stream === stream) stream.cancel(); // ends through onStreamEnded → reconnect
    }, this.limits.sendStallTimeoutMs);
    stream.once('drain', () => {
      if (this.stream !== stream) return;
      if (this.stallTimer) clearTimeout(this.stallTimer);
      this.stallTimer = null;
      this.awaitingDrain = false;
      this.scheduleFlush();
    });
  }

  /** Stream one snapshot: a header frame, then chunks, waiting for 'drain' whenever write() says so. */
  async sendSnapshot(
    groupId: GroupId,
    meta: Uint8Array,
    data: AsyncIterable<Uint8Array> | Uint8Array,
    options: { onBytesSent?: (bytesSent: number) => void; chunkDelayMs?: () => number } = {},
  ): Promise<number> {
    if (this.state === 'closed') throw new JadeError('JADE_ERR_UNAVAILABLE', `peer ${this.nodeId} is closed`);
    let call!: grpc.ClientWritableStream<SnapshotFrame>;
    const answered = new Promise<SnapshotAckFrame>((resolve, reject) => {
      call = this.client.InstallSnapshot(
        this.hooks.callMetadata(),
        { deadline: Date.now() + this.limits.snapshotDeadlineMs },
        (error, ack) => (error ? reject(error) : resolve(ack ?? { receivedBytes: 0 })),
      );
    });
    answered.catch(() => {}); // observed below; avoids an unhandled rejection while chunks are written
    let settled = false;
    answered.then(
      () => (settled = true),
      () => (settled = true),
    );
    // An answer before the last chunk can only be a failure (or a broken peer): it stops the writing.
    const answeredEarly = answered.then(() => {
      throw new JadeError('JADE_ERR_INTERNAL', `peer ${this.nodeId} answered before the snapshot ended`);
    });
    answeredEarly.catch(() => {});
    call.on('error', () => {});
    this.snapshotCalls.add(call);
    let sentBytes = 0;
    try {
      await this.writeFrame(call, answeredEarly, {
        header: { fromNodeId: this.identity.fromNodeId, clusterId: this.identity.clusterId, groupId, meta },
      });
      for await (const piece of data instanceof Uint8Array ? [data] : data) {
        for (let offset = 0; offset < piece.length; offset += this.limits.snapshotChunkBytes) {
          // A cancelled or failed call may keep accepting writes: stop pulling from the source.
          if (settled) await answeredEarly;
          const delayMs = options.chunkDelayMs?.() ?? 0;
          if (delayMs > 0) await Promise.race([new Promise((r) => setTimeout(r, delayMs)), answeredEarly]);
          const chunk = piece.subarray(offset, offset + this.limits.snapshotChunkBytes);
          await this.writeFrame(call, answeredEarly, { chunk });
          sentBytes += chunk.length;
          this.stats.snapshotBytesSent += chunk.length;
          options.onBytesSent?.(sentBytes);
        }
      }
      call.end();
      const ack = await answered;
      if (ack.receivedBytes !== sentBytes) {
        throw new JadeError('JADE_ERR_INTERNAL', `peer ${this.nodeId} received ${ack.receivedBytes} of ${sentBytes} snapshot bytes`);
      }
      return sentBytes;
    } catch (error) {
      call.cancel();
      if (isRefusal(error as Partial<grpc.ServiceError>)) {
        this.stats.refusedByPeer++;
        this.hooks.onRefused(this.nodeId, (error as grpc.ServiceError).details);
      }
      throw toJadeError(error, `snapshot to ${this.nodeId} for group ${groupId}`);
    } finally {
      this.snapshotCalls.delete(call);
    }
  }

  private async writeFrame(
    call: grpc.ClientWritableStream<SnapshotFrame>,
    answeredEarly: Promise<never>,
    frame: SnapshotFrame,
  ): Promise<void> {
    if (call.write(frame)) return;
    this.stats.snapshotBackpressureWaits++;
    let onDrain!: () => void;
    const drained = new Promise<void>((resolve) => {
      onDrain = resolve;
      call.once('drain', onDrain);
    });
    try {
      await Promise.race([drained, answeredEarly]);
    } finally {
      call.removeListener('drain', onDrain);
    }
  }
}

export function toJadeError(error: unknown, what: string): JadeError {
  if (error instanceof JadeError) return error;
  const e = error as Partial<grpc.ServiceError>;
  const details = e.details ?? e.message ?? String(error);
  if (e.code === grpc.status.DEADLINE_EXCEEDED) return new JadeError('JADE_ERR_DEADLINE', `${what}: ${details}`);
  if (e.code === grpc.status.RESOURCE_EXHAUSTED) return new JadeError('JADE_ERR_QUEUE_FULL', `${what}: ${details}`);
  if (e.code === grpc.status.OUT_OF_RANGE) return new JadeError('JADE_ERR_PAYLOAD_TOO_LARGE', `${what}: ${details}`);
  if (e.code === grpc.status.FAILED_PRECONDITION) return new JadeError('JADE_ERR_CONFLICT', `${what}: ${details}`);
  if (e.code === grpc.status.INVALID_ARGUMENT) return new JadeError('JADE_ERR_BAD_REQUEST', `${what}: ${details}`);
  if (e.code === grpc.status.UNAUTHENTICATED) return new JadeError('JADE_ERR_UNAUTHENTICATED', `${what}: ${details}`);
  if (e.code === grpc.status.PERMISSION_DENIED) return new JadeError('JADE_ERR_FORBIDDEN', `${what}: ${details}`);
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.CANCELLED) {
    return new JadeError('JADE_ERR_UNAVAILABLE', `${what}: ${details}`);
  }
  return new JadeError('JADE_ERR_INTERNAL', `${what}: ${details}`, { grpcCode: e.code });
}
