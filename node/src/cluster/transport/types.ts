// The Raft transport contract. Messages are opaque bytes: the Raft core owns their encoding, the
// transport only routes them to a node and tags them with the Raft group they belong to.
import type { PeerCertificate } from 'node:tls';

export type NodeId = string;
export type GroupId = string;

/**
 * An outbound message: one buffer, or parts that the transport concatenates as it writes the frame,
 * so that megabytes of entry data are copied once on their way out (not once more into a message).
 */
export type MessageBytes = Uint8Array | readonly Uint8Array[];

export function messageLength(m: MessageBytes): number {
  if (m instanceof Uint8Array) return m.length;
  let n = 0;
  for (const part of m) n += part.length;
  return n;
}

/** `fromNodeId` is the authenticated peer the message came from (not what the message claims). */
export type MessageHandler = (fromNodeId: NodeId, groupId: GroupId, message: Uint8Array) => void;
/** A peer could not be reached (connect failed or the stream broke): Raft may probe it instead of streaming (etcd's ReportUnreachable). */
export type UnreachableHandler = (nodeId: NodeId) => void;
export type SnapshotHandler = (fromNodeId: NodeId, groupId: GroupId, meta: Uint8Array, data: Uint8Array) => Promise<void>;

/** What a snapshot sender may ask of the transport besides the bytes. */
export interface SnapshotSendOptions {
  /** Called after each chunk is written, with the bytes written so far (move progress). */
  onBytesSent?: (bytesSent: number) => void;
}

export interface RaftTransport {
  /** Never blocks and never throws for a reachable or unreachable peer: past the per-peer queue bound the message is dropped (Raft retries). */
  send(toNodeId: NodeId, groupId: GroupId, message: MessageBytes): void;
  /** Streams a snapshot in chunks; resolves once the receiver's snapshot handler has resolved. */
  sendSnapshot(toNodeId: NodeId, groupId: GroupId, meta: Uint8Array, data: AsyncIterable<Uint8Array> | Uint8Array, options?: SnapshotSendOptions): Promise<void>;
  onMessage(handler: MessageHandler): void;
  onSnapshot(handler: SnapshotHandler): void;
  onPeerUnreachable?(handler: UnreachableHandler): void;
  /** The full peer set (this node excluded); peers not in the map are disconnected and forgotten. */
  setPeers(peers: Map<NodeId, string>): void;
  close(): Promise<void>;
}

/** Which traffic a partition hook cuts, seen from this node. */
export type PartitionDirection = 'both' | 'outbound' | 'inbound';

/**
 * Test-only fault injection, JSON-friendly so the node's test admin endpoint can pass it through.
 * Hooks act on this node's side only; a symmetric partition between A and B needs 'both' on one
 * of them (or 'outbound' on each).
 */
export interface FaultSpec {
  /** Peers cut off, with the direction cut. */
  partitionedPeers: Record<NodeId, PartitionDirection>;
  /** Extra delay before outbound messages to a peer leave the queue, and before each snapshot chunk to it. */
  delayMsByPeer: Record<NodeId, number>;
  /** Probability (0..1) that an outbound message is dropped. */
  dropProbability: number;
  /** Seed of the drop decisions, so a failing run can be replayed. */
  seed: number;
}

export interface TransportStats {
  messagesQueued: number;
  messagesSent: number;
  batchesSent: number;
  bytesSent: number;
  messagesReceived: number;
  batchesReceived: number;
  /** Dropped because the peer's queue was at its message or byte bound. */
  droppedQueueFull: number;
  /** Queued messages discarded when a connect attempt failed or the stream broke (stale by the time the peer is back). */
  droppedUnreachable: number;
  /** Dropped by fault hooks (partition or drop probability), both directions. */
  droppedByFault: number;
  /** Dropped because the peer is unknown, the message was too large, no handler was set, or the cluster id differed. */
  droppedOther: number;
  /** Inbound streams and snapshots refused: no valid proof of the cluster secret (missing, wrong, stale, replayed) or a node not in the peer set. */
  refusedUnauthenticated: number;
  /** Inbound messages dropped because the sender they claim (in a batch, snapshot or Raft message) is not the authenticated peer. */
  droppedForgedSender: number;
  /** Our streams and snapshots a peer refused as unauthenticated. */
  refusedByPeer: number;
  /** Streams to peers (re)opened after a successful connect. */
  connects: number;
  /** Streams to peers that failed or broke. */
  disconnects: number;
  snapshotsSent: number;
  snapshotsReceived: number;
  snapshotBytesSent: number;
  /** Times a snapshot sender paused until the stream drained (flow control at work). */
  snapshotBackpressureWaits: number;
}

export function emptyStats(): TransportStats {
  return {
    messagesQueued: 0,
    messagesSent: 0,
    batchesSent: 0,
    bytesSent: 0,
    messagesReceived: 0,
    batchesReceived: 0,
    droppedQueueFull: 0,
    droppedUnreachable: 0,
    droppedByFault: 0,
    droppedOther: 0,
    refusedUnauthenticated: 0,
    droppedForgedSender: 0,
    refusedByPeer: 0,
    connects: 0,
    disconnects: 0,
    snapshotsSent: 0,
    snapshotsReceived: 0,
    snapshotBytesSent: 0,
    snapshotBackpressureWaits: 0,
  };
}

/**
 * Help text of each counter, for whoever exports them (e.g. as `jade_raft_transport_<snake_name>_total`
 * read from stats() at scrape time). Typed against TransportStats so a new counter needs its text.
 */
export const TRANSPORT_STAT_HELP: Record<keyof TransportStats, string> = {
  messagesQueued: 'Raft messages accepted into a peer queue',
  messagesSent: 'Raft messages written to a peer stream',
  batchesSent: 'Batch frames written to peer streams',
  bytesSent: 'Raft message payload bytes written to peer streams',
  messagesReceived: 'Raft messages received and handed to the host',
  batchesReceived: 'Batch frames received',
  droppedQueueFull: 'Raft messages dropped because a peer queue was full',
  droppedUnreachable: 'Queued Raft messages discarded when a peer became unreachable',
  droppedByFault: 'Raft messages dropped by test fault hooks',
  droppedOther: 'Raft messages dropped: unknown peer, too large, no handler or other cluster',
  refusedUnauthenticated: 'Inbound Raft streams and snapshots refused: no valid cluster-secret proof, or a node not in the peer set',
  droppedForgedSender: 'Inbound Raft messages dropped: the sender they claim is not the authenticated peer',
  refusedByPeer: 'Outbound Raft streams and snapshots a peer refused as unauthenticated',
  connects: 'Streams to peers opened',
  disconnects: 'Failed connects and broken streams to peers',
  snapshotsSent: 'Snapshots sent and acknowledged',
  snapshotsReceived: 'Snapshots received and installed by the host',
  snapshotBytesSent: 'Snapshot bytes sent',
  snapshotBackpressureWaits: 'Times a snapshot sender waited for the stream to drain',
};

/** What grpc-js's call.getAuthContext() gives (its AuthContext type is not exported): the peer's TLS certificate. */
export interface PeerAuthContext {
  transportSecurityType?: string;
  sslPeerCertificate?: PeerCertificate;
}
