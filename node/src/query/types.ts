// The collection layer's contract (DESIGN.md "Collections, shards, replicas"): the API holds a
// Database of Collections and never a replica's state. A collection is shards; each shard is read
// through a ShardReader, which is a replica in this process or on another node; the collection
// does not care which.
import type { PayloadSchema } from '../shard/payload-index.js';
import type { CollectionParams } from '../shard/state.js';
import type { AliasAction } from '../shard/aliases.js';
import type { PointId, WriteBatch } from '../storage/types.js';
import type { ReadStrategy } from './read-strategy.js';

/** `strong`: linearizable (ReadIndex through the shard's leader); `eventual`: one replica as it is, maybe stale. */
export type ReadConsistency = 'strong' | 'eventual';

/** Which payload fields an answer carries: all, none, or a list to keep or to drop. */
export type PayloadSelector = boolean | { include: string[] } | { exclude: string[] };

export type Payload = Record<string, unknown>;

export interface ReadOptions {
  consistency: ReadConsistency;
  /** Absolute deadline (epoch ms) that every hop of the read honours. */
  deadlineMs: number;
  /** Search: answer from the shards that did answer (partial: true) instead of a 503 naming the others. */
  allowPartial?: boolean;
  /** Eventual reads: how to choose the replica (the node's default when absent). */
  readStrategy?: ReadStrategy;
  /** Told which replica served each shard and how far its applied index was behind its commit index. */
  observeReplica?: (shard: number, replica: { nodeId: string; applied: number; commit: number }) => void;
}

/** `majority` (default): linearizable; `all`: applied by every replica; `one`: durable in the leader's log only. */
export type WriteConsistency = 'majority' | 'all' | 'one';

export interface WriteOptions {
  /** Absolute deadline (epoch ms) for the whole write. */
  deadlineMs: number;
  /** The request's write consistency; the collection's default when absent. */
  consistency?: WriteConsistency;
}

/** What a shard is asked for one search: its own top-k, where k = offset + limit of the request. */
export interface ShardSearchRequest {
  vector: Float32Array;
  k: number;
  ef?: number;
  /** Qdrant filter JSON; parsed and validated where it runs. */
  filter: unknown;
  exact: boolean;
  withPayload: PayloadSelector;
  withVector: boolean;
  /** Qdrant's score_threshold: an upper bound for Euclid, a lower bound otherwise. */
  scoreThreshold?: number;
}

export interface Hit {
  id: PointId;
  /** Lower is nearer, whatever the metric: what shards are merged by. */
  distance: number;
  /** Qdrant's score for the collection's metric. */
  score: number;
  payload?: Payload | null;
  vector?: Float32Array;
}

export interface PointOutput {
  id: PointId;
  payload?: Payload | null;
  vector?: Float32Array;
}

export interface ScrollRequest {
  /** First id of the page (inclusive), in the one global id order every shard shares. */
  offset: PointId | null;
  limit: number;
  filter: unknown;
  withPayload: PayloadSelector;
  withVector: boolean;
}

export interface ScrollPage {
  points: PointOutput[];
  nextOffset: PointId | null;
}

export interface PayloadIndexInfo {
  field: string;
  schema: PayloadSchema;
  /** Qdrant's is_tenant: values with many points have their own graph. */
  isTenant?: boolean;
  /** Points with at least one value of the field's type. */
  points: number;
}

export interface ShardInfo {
  points: number;
  indexBacklog: number;
  payloadIndexes: PayloadIndexInfo[];
  /** Vectors plus graph. */
  memoryBytes: number;
  walBytes: number;
  /** Filtered searches whose candidates hold at most this many KiB of vectors are scanned exactly (Qdrant's full_scan_threshold). */
  fullScanThresholdKb: number;
}

/** One shard's replica as a collection reads it. */
export interface ShardReader {
  search(requests: ShardSearchRequest[], opts: ReadOptions): Promise<Hit[][]>;
  retrieve(ids: PointId[], withPayload: PayloadSelector, withVector: boolean, opts: ReadOptions): Promise<PointOutput[]>;
  scroll(request: ScrollRequest, opts: ReadOptions): Promise<ScrollPage>;
  count(filter: unknown, opts: ReadOptions): Promise<number>;
  info(opts: ReadOptions): Promise<ShardInfo>;
}

/** One search of a collection: by vector, or by the vector of a stored point (Query API `query: id`). */
export interface SearchSpec {
  vector?: Float32Array;
  pointId?: PointId;
  limit: number;
  offset: number;
  filter: unknown;
  ef?: number;
  exact: boolean;
  withPayload: PayloadSelector;
  withVector: boolean;
  scoreThreshold?: number;
  /**
   * Qdrant's Maximal Marginal Relevance: the nearest `candidatesLimit` are re-ranked greedily by
   * (1 - diversity) · similarity to the query - diversity · the largest similarity to a point
   * already picked.
   */
  mmr?: { diversity: number; candidatesLimit: number };
}

export interface SearchResult {
  hits: Hit[];
  /** True when some shard did not answer in time and allowPartial was set. */
  partial: boolean;
  /** Indexes of the shards missing from a partial answer. */
  missingShards: number[];
}

export interface CollectionInfo {
  name: string;
  params: CollectionParams;
  createdAtMs: number;
  shardNumber: number;
  replicationFactor: number;
  points: number;
  indexBacklog: number;
  payloadIndexes: PayloadIndexInfo[];
  memoryBytes: number;
  walBytes: number;
  fullScanThresholdKb: number;
}

export interface Collection {
  readonly name: string;
  /** The collection's parameters as they are now (PATCH changes the default ef). */
  readonly params: CollectionParams;
  info(opts: ReadOptions): Promise<CollectionInfo>;
  /** Resolves once every shard's part is durable and applied; returns an operation id. */
  write(batch: WriteBatch, opts: WriteOptions): Promise<number>;
  search(spec: SearchSpec, opts: ReadOptions): Promise<SearchResult>;
  /** Several searches in one pass: one round trip per shard replica, not one per search. */
  searchBatch(specs: SearchSpec[], opts: ReadOptions): Promise<SearchResult[]>;
  retrieve(ids: PointId[], withPayload: PayloadSelector, withVector: boolean, opts: ReadOptions): Promise<{ found: PointOutput[]; missing: PointId[] }>;
  scroll(request: ScrollRequest, opts: ReadOptions): Promise<ScrollPage>;
  count(filter: unknown, opts: ReadOptions): Promise<number>;
}

export interface CreateOptions {
  /** Shards of the collection (cluster mode; standalone has one). */
  shardNumber?: number;
  /** Replicas of each shard (cluster mode; standalone has one). */
  replicationFactor?: number;
  /** Default write consistency of the collection (cluster mode). */
  writeConsistency?: WriteConsistency;
}

/** What PATCH /collections/{name} may change: the search-time parameters (the graph's m and ef_construct are fixed at creation). */
export interface CollectionUpdate {
  /** Default HNSW ef of searches that do not name one. */
  efSearch?: number;
}

export interface AliasRecord {
  alias: string;
  collection: string;
}

export type { AliasAction } from '../shard/aliases.js';

/** What the API serves: the collections of one standalone node or of a whole cluster. */
export interface Database {
  readonly mode: 'standalone' | 'cluster';
  /** Collections (not aliases), sorted. */
  names(): string[];
  /** Whether a collection of this name exists (an alias is not one: see resolve). */
  has(name: string): boolean;
  /** The collection an alias names, or the name itself when it is no alias. */
  resolve(name: string): string;
  /** The collection of a name or an alias, or a coded 404. */
  collection(name: string): Collection;
  create(name: string, params: CollectionParams, options?: CreateOptions): Promise<void>;
  /** False when there was no such collection (an alias is not deleted this way); its aliases go with it. */
  delete(name: string): Promise<boolean>;
  /** Changes a collection's search-time parameters (its name or an alias); durable when it resolves. */
  update(name: string, update: CollectionUpdate): Promise<void>;
  /** Every alias, sorted by alias. */
  aliases(): AliasRecord[];
  /** Applies alias actions all or none (Qdrant's change_aliases); durable when it resolves. */
  updateAliases(actions: AliasAction[]): Promise<void>;
  /** Role and membership for /v1/status. */
  clusterStatus(): Record<string, unknown>;
  /** Per collection, what this node holds, for metrics and /v1/status (no remote calls). */
  localStats(): LocalCollectionStats[];
  /** Cluster mode, test hooks enabled: transport faults (partitions, delays, drops). */
  setFaults?(spec: Record<string, unknown>): void;
  /** Cluster mode: members, the meta group's Raft state (GET /cluster). */
  clusterInfo?(): ClusterInfo;
  /** Cluster mode: a collection's shards, replicas, their states and leaders (GET /collections/{name}/cluster). */
  collectionClusterInfo?(name: string, deadlineMs: number): Promise<CollectionClusterInfo>;
  /** Cluster mode: takes a node out of the cluster (DELETE /cluster/peer/{id}). */
  removePeer?(nodeId: string, force: boolean, deadlineMs: number): Promise<{ removed: string; degradedGroups: string[] }>;
  /** Cluster mode: founds a new cluster with this node, when it is in none (POST /cluster/bootstrap). */
  bootstrapCluster?(): Promise<{ clusterId: string; nodeId: string; incarnation: string }>;
  /** Cluster mode: starts a replica move (or cancels one: abort); resolves with the move's id (POST /collections/{name}/cluster). */
  requestMove?(req: MoveRequest, deadlineMs: number): Promise<string>;
  /** Cluster mode: starts draining a node (idempotent) and reports it (POST /cluster/peer/{id}/drain). */
  drainPeer?(nodeId: string, deadlineMs: number): Promise<DrainInfo>;
  /** Cluster mode: a node's drain as this node's meta state knows it (GET /cluster/peer/{id}/drain). */
  drainStatus?(nodeId: string): DrainInfo;
  /** Cluster mode: moves in flight and recently finished, every collection. */
  moves?(): MoveInfo[];
  /** Cluster mode: each move's progress as the meta leader last observed it, by move id (moves it has not observed are absent). */
  moveProgress?(deadlineMs: number): Promise<Record<string, MoveProgressInfo>>;
  /** Cluster mode: on the meta leader, starts (or with stop, stops) the rebalance unless dryRun; reports it and the plan (POST/DELETE /cluster/rebalance). */
  rebalance?(req: { dryRun: boolean; stop: boolean }, deadlineMs: number): Promise<RebalanceInfo>;
  /** Cluster mode: declares a silent node dead now (POST /cluster/peer/{id}/dead). */
  declarePeerDead?(nodeId: string, deadlineMs: number): Promise<{ node: string; dead: boolean }>;
  /** Cluster mode: the rebalance and plan as this node's meta state knows them (GET /cluster/rebalance). */
  rebalanceStatus?(): RebalanceInfo;
}

/** The last rebalance and the moves that would even out replicas per node now (peers by node id). */
export interface RebalanceInfo {
  last: { state: 'running' | 'done' | 'stopped'; reason: string; startedAtMs: number; updatedAtMs: number; moves: number } | null;
  plan: { moves: { collection: string; shard: number; from: string; to: string }[]; before: Record<string, number>; after: Record<string, number> };
  /** Rebalance moves in flight. */
  inFlight: MoveInfo[];
}

/** A replica move as the API asks for it: Qdrant's move_shard, replicate_shard, drop_replica, abort_transfer. */
export interface MoveRequest {
  kind: 'move' | 'replicate' | 'drop' | 'abort';
  collection: string;
  shard: number;
  /** Node ids; null where the kind has none (replicate copies from the group's leader; drop has no target). */
  from: string | null;
  to: string | null;
}

/** A replica move as the meta state records it, peers named by node id. */
export interface MoveInfo {
  id: string;
  collection: string;
  /** The shard's index in the collection; null once the collection is gone. */
  shard: number | null;
  groupId: string;
  from: string | null;
  to: string | null;
  /** planned, copying, catching_up, promoting, verifying, removing_source, done, cancelled, failed. */
  stage: string;
  /** done, cancelled or failed. */
  finished: boolean;
  /** The node whose drain started it, or null. */
  drain: string | null;
  /** Why it ended cancelled or failed. */
  reason: string | null;
  /** What the verifying stage found equal on leader, target and source. */
  verified: { index: number; count: number; digest: string } | null;
  startedAtMs: number;
  updatedAtMs: number;
}

/**
 * How far a move's target has filled, measured by the group leader (snapshot bytes sent) and the
 * meta leader (log lag, catch-up rate); null where it is not known.
 */
export interface MoveProgressInfo {
  /** snapshot: the leader streams its snapshot to the target; log: the target catches up from the log; null: neither seen yet. */
  phase: 'snapshot' | 'log' | null;
  snapshotIndex: number | null;
  snapshotBytesSent: number | null;
  snapshotBytesTotal: number | null;
  snapshotPoints: number | null;
  /** Snapshot phase only: over the last few seconds. */
  bytesPerSecond: number | null;
  /** The group leader's last index minus the target's match index. */
  lagEntries: number | null;
  /** Log phase only: how fast the lag shrinks (negative: it grows). */
  catchUpEntriesPerSecond: number | null;
  /** Snapshot phase: until it is sent; log phase: until the lag is small enough to promote the target. */
  etaSeconds: number | null;
  observedAtMs: number;
}

export interface DrainInfo {
  node: string;
  /** null: no drain was asked for this node's current incarnation. */
  state: 'draining' | 'drained' | null;
  replicasLeft: number;
  movesStarted: number;
  /** The drain's moves the meta state still lists (active and recently finished). */
  moves: MoveInfo[];
}

export interface ClusterInfo {
  nodeId: string;
  clusterId: string | null;
  metaLeader: string | null;
  term: number;
  commit: number;
  role: string;
  members: { id: string; incarnation: string; restUrl: string; grpcAddress: string; metaRole: string; replicas: number; labels: Record<string, string>; /** alive, suspect (silent past the suspect time, as this node hears it) or dead (declared so by the meta leader). */ liveness: 'alive' | 'suspect' | 'dead' }[];
}

export type ReplicaState = 'active' | 'dead' | 'lost';

export interface CollectionClusterInfo {
  name: string;
  shards: {
    shard: number;
    groupId: string;
    range: { start: number; end: number };
    leader: string | null;
    replicas: { nodeId: string; member: string; state: ReplicaState; local: boolean; points: number | null; role: string | null }[];
  }[];
}

export interface LocalCollectionStats {
  name: string;
  dimension: number;
  metric: string;
  /** Null while this node's replica is still opening or it holds none. */
  points: number | null;
  indexBacklog: number | null;
  memoryBytes: number | null;
  walBytes: number | null;
}
