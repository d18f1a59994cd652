// What the API needs from "the database", whether one standalone node or a Raft cluster:
// collections, durable writes, and a replica's state to read after the right barrier.
import type { ShardState, CollectionParams } from '../shard/state.js';
import type { WriteBatch } from '../storage/types.js';

/** `strong`: linearizable (ReadIndex through the leader); `eventual`: this replica as it is, maybe stale. */
export type ReadConsistency = 'strong' | 'eventual';

export interface CollectionRecord {
  name: string;
  params: CollectionParams;
  createdAtMs: number;
}

export interface CollectionView {
  record: CollectionRecord;
  state: ShardState;
  walBytes: number;
}

export interface CreateOptions {
  /** Replicas of each shard (cluster mode); standalone always has one. */
  replicationFactor?: number;
}

export interface CollectionsBackend {
  readonly mode: 'standalone' | 'cluster';
  names(): string[];
  has(name: string): boolean;
  create(name: string, params: CollectionParams, options?: CreateOptions): Promise<void>;
  /** False when there was no such collection. */
  delete(name: string): Promise<boolean>;
  /** Resolves once the batch is durable and applied as the consistency level requires; returns its log index. */
  write(name: string, batch: WriteBatch): Promise<number>;
  /** This node's replica, after a linearizable read barrier when `strong`. */
  read(name: string, consistency: ReadConsistency): Promise<CollectionView>;
  /** This node's replica as it is now (for info and metrics). */
  view(name: string): CollectionView;
  /** Role and membership for /v1/status. */
  clusterStatus(): Record<string, unknown>;
  /** Cluster mode: a proposal forwarded by another node to this group's leader (bytes as proposed). */
  proposeLocal?(groupId: string, data: Uint8Array): Promise<unknown>;
  /** Cluster mode, test hooks enabled: transport faults (partitions, delays, drops). */
  setFaults?(spec: Record<string, unknown>): void;
}
