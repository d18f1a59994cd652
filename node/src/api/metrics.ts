// Prometheus metrics of a node, in a registry of its own (not prom-client's global one), so
// several nodes or apps in one process (tests) never share counters.
import client from 'prom-client';
import type { MoveProgressInfo } from '../query/types.js';
import type { GroupObserver, RpcObserver, ShardCallObserver } from '../util/observers.js';

export interface CollectionGauges {
  name: string;
  points: number;
  indexMemoryBytes: number;
  walBytes: number;
  /** Points written but not yet in the HNSW graph (searched exactly meanwhile). */
  indexBacklog: number;
}

/** Cluster mode: replication health as this node's meta state sees it. */
export interface ReplicationGauges {
  underReplicatedGroups: number;
  lostReplicas: number;
}

/** The filesystem holding the data directory. */
export interface FilesystemGauges {
  freeBytes: number;
  sizeBytes: number;
}

/** A Raft group as the metrics read it at scrape time. */
export interface GroupGauges {
  groupId: string;
  role: string;
  term: number;
  /** Leader only: entries each member is behind. */
  lag?: Record<string, number>;
}

/** A move in flight and its progress, as the meta leader reads them at scrape time. */
export interface MoveGauges {
  id: string;
  collection: string;
  groupId: string;
  progress: MoveProgressInfo;
}

export class NodeMetrics implements GroupObserver, RpcObserver, ShardCallObserver {
  readonly registry = new client.Registry();
  readonly httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  readonly grpcDuration: client.Histogram<'method' | 'code'>;
  readonly walFsyncSeconds: client.Histogram<'collection'>;
  readonly checkpointSeconds: client.Histogram<'collection'>;
  private collections: () => CollectionGauges[] = () => [];
  private groups: () => GroupGauges[] = () => [];
  private moves: () => MoveGauges[] = () => [];
  private certificates: () => { kind: string; expirySeconds: number }[] = () => [];
  private replication: (() => ReplicationGauges) | null = null;
  private filesystem: (() => Promise<FilesystemGauges>) | null = null;
  readonly raftLogAppendSeconds: client.Histogram<'group'>;
  readonly proposalSeconds: client.Histogram<'group' | 'outcome'>;
  readonly leaderChanges: client.Counter<'group'>;
  readonly rpcSeconds: client.Histogram<'method' | 'code'>;
  readonly shardCallSeconds: client.Histogram<'collection' | 'shard' | 'op' | 'outcome'>;
  readonly partialResults: client.Counter<'collection'>;
  readonly pointsUpserted: client.Counter<'collection'>;

  constructor() {
    this.httpDuration = new client.Histogram({
      name: 'jade_http_request_duration_seconds',
      help: 'REST request latency by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.grpcDuration = new client.Histogram({
      name: 'jade_grpc_request_duration_seconds',
      help: 'Client gRPC API (Qdrant-compatible) call latency by method and status code',
      labelNames: ['method', 'code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.walFsyncSeconds = new client.Histogram({
      name: 'jade_wal_fsync_seconds',
      help: 'Time from WAL append to durable (fsync), per collection',
      labelNames: ['collection'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.checkpointSeconds = new client.Histogram({
      name: 'jade_checkpoint_duration_seconds',
      help: 'Duration of collection checkpoints (snapshot + graph + WAL truncation)',
      labelNames: ['collection'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [this.registry],
    });
    // Per-collection gauges are read from the collections at scrape time, never kept in sync by hand.
    const perCollection = (name: string, help: string, value: (c: CollectionGauges) => number) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['collection'],
        registers: [this.registry],
        collect: () => {
          const gauge = this.registry.getSingleMetric(name) as client.Gauge<'collection'>;
          gauge.reset();
          for (const c of this.collections()) gauge.set({ collection: c.name }, value(c));
        },
      });
    perCollection('jade_collection_points', 'Points stored per collection', (c) => c.points);
    perCollection('jade_index_memory_bytes', 'Estimated memory of vectors and HNSW graph per collection', (c) => c.indexMemoryBytes);
    perCollection('jade_wal_bytes', 'WAL bytes not yet folded into a checkpoint, per collection', (c) => c.walBytes);
    perCollection('jade_index_backlog_points', 'Points of this node\'s replicas written but not yet indexed (searched exactly meanwhile), per collection', (c) => c.indexBacklog);
    // Read at scrape time (statfs): alerts see free space as the disk sees it, whatever else fills it.
    const filesystemGauge = (name: string, help: string, value: (f: FilesystemGauges) => number) =>
      new client.Gauge({
        name,
        help,
        registers: [this.registry],
        collect: async () => {
          const gauge = this.registry.getSingleMetric(name) as client.Gauge;
          gauge.reset();
          if (this.filesystem) gauge.set(value(await this.filesystem()));
        },
      });
    filesystemGauge('jade_data_dir_filesystem_free_bytes', 'Bytes available to the node on the filesystem of its data directory', (f) => f.freeBytes);
    filesystemGauge('jade_data_dir_filesystem_size_bytes', 'Size of the filesystem of the node\'s data directory', (f) => f.sizeBytes);
    client.collectDefaultMetrics({ register: this.registry, prefix: 'jade_process_' });

    const fast = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    this.proposalSeconds = new client.Histogram({ name: 'jade_raft_proposal_seconds', help: 'Proposals made on this node (as a group leader): time until applied (or durable, for consistency one), by group and outcome', labelNames: ['group', 'outcome'], buckets: fast, registers: [this.registry] });
    this.raftLogAppendSeconds = new client.Histogram({ name: 'jade_raft_log_append_seconds', help: 'Cluster mode\'s WAL: time for one batch of Raft entries to be appended and fsynced, by group', labelNames: ['group'], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry] });
    this.leaderChanges = new client.Counter({ name: 'jade_raft_leader_changes_total', help: 'Leaders this replica learned of (or lost), by group', labelNames: ['group'], registers: [this.registry] });
    this.rpcSeconds = new client.Histogram({ name: 'jade_internal_call_seconds', help: 'Internal calls this node made to others (forwarded writes, remote shard reads, joins), by method and result code', labelNames: ['method', 'code'], buckets: fast, registers: [this.registry] });
    this.shardCallSeconds = new client.Histogram({ name: 'jade_shard_fanout_seconds', help: 'One shard answering one collection read of a fan-out, by collection, shard, operation and outcome', labelNames: ['collection', 'shard', 'op', 'outcome'], buckets: fast, registers: [this.registry] });
    this.pointsUpserted = new client.Counter({ name: 'jade_points_upserted_total', help: 'Points in upserts this node accepted from clients (once per request, not per replica), by collection', labelNames: ['collection'], registers: [this.registry] });
    this.partialResults = new client.Counter({ name: 'jade_search_partial_results_total', help: 'Searches answered without some shard (allow_partial=true)', labelNames: ['collection'], registers: [this.registry] });
    const groupGauge = (name: string, help: string, labelNames: string[], fill: (g: client.Gauge<string>) => void) =>
      new client.Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect: () => {
          const gauge = this.registry.getSingleMetric(name) as client.Gauge<string>;
          gauge.reset();
          fill(gauge);
        },
      });
    groupGauge('jade_raft_follower_lag_entries', 'On group leaders: entries each member is behind the leader', ['group', 'member'], (g) => {
      for (const s of this.groups()) for (const [member, lag] of Object.entries(s.lag ?? {})) g.set({ group: s.groupId, member }, lag);
    });
    groupGauge('jade_raft_is_leader', '1 when this replica leads the group', ['group'], (g) => {
      for (const s of this.groups()) g.set({ group: s.groupId }, s.role === 'leader' ? 1 : 0);
    });
    // Cluster mode only (no series on a standalone node): every member reports what its meta state says.
    groupGauge('jade_shard_groups_under_replicated', 'Shard groups with a replica on a member that is dead (re-replication refills them)', [], (g) => {
      if (this.replication) g.set(this.replication().underReplicatedGroups);
    });
    groupGauge('jade_shard_replicas_lost', 'Shard replicas this node should host but could not open', [], (g) => {
      if (this.replication) g.set(this.replication().lostReplicas);
    });
    groupGauge('jade_raft_term', 'Current Raft term of this replica', ['group'], (g) => {
      for (const s of this.groups()) g.set({ group: s.groupId }, s.term);
    });
    // Only the meta leader observes moves: elsewhere these have no series. Unknown values have none either.
    const moveGauge = (name: string, help: string, value: (p: MoveProgressInfo) => number | null) =>
      groupGauge(name, `On the meta leader, per move in flight: ${help}`, ['move', 'collection', 'group'], (g) => {
        for (const m of this.moves()) {
          const v = value(m.progress);
          if (v !== null) g.set({ move: m.id, collection: m.collection, group: m.groupId }, v);
        }
      });
    moveGauge('jade_move_snapshot_bytes_sent', 'snapshot bytes the group leader sent to the target', (p) => p.snapshotBytesSent);
    moveGauge('jade_move_snapshot_bytes_total', 'size of the snapshot sent to the target', (p) => p.snapshotBytesTotal);
    moveGauge('jade_move_snapshot_points', 'points in the snapshot sent to the target', (p) => p.snapshotPoints);
    moveGauge('jade_move_snapshot_bytes_per_second', 'snapshot send rate over the last 5 s', (p) => p.bytesPerSecond);
    moveGauge('jade_move_lag_entries', 'entries the target\'s log is behind the group leader\'s', (p) => p.lagEntries);
    moveGauge('jade_move_catch_up_entries_per_second', 'how fast the target\'s lag shrinks over the last 5 s (negative: it grows)', (p) => p.catchUpEntriesPerSecond);
    // Read at scrape time from the certificate in use (reloads included); no series without TLS.
    groupGauge('jade_tls_certificate_expiry_seconds', 'Seconds until the TLS certificate in use expires (negative once expired), by what it secures (rest: the REST port; node: node-to-node gRPC)', ['kind'], (g) => {
      for (const c of this.certificates()) g.set({ kind: c.kind }, c.expirySeconds);
    });
    moveGauge('jade_move_eta_seconds', 'estimated seconds until the snapshot is sent, or until the target is caught up enough to be promoted', (p) => p.etaSeconds);
  }

  setReplicationSource(source: () => ReplicationGauges): void {
    this.replication = source;
  }

  setFilesystemSource(source: () => Promise<FilesystemGauges>): void {
    this.filesystem = source;
  }

  logAppended(groupId: string, seconds: number): void {
    this.raftLogAppendSeconds.observe({ group: groupId }, seconds);
  }

  setCertificateSource(source: () => { kind: string; expirySeconds: number }[]): void {
    this.certificates = source;
  }

  proposal(groupId: string, seconds: number, ok: boolean): void {
    this.proposalSeconds.observe({ group: groupId, outcome: ok ? 'ok' : 'error' }, seconds);
  }

  leaderChanged(groupId: string): void {
    this.leaderChanges.inc({ group: groupId });
  }

  call(method: string, seconds: number, code: string): void {
    this.rpcSeconds.observe({ method, code }, seconds);
  }

  shardCall(collection: string, shard: number, op: string, seconds: number, ok: boolean): void {
    this.shardCallSeconds.observe({ collection, shard: String(shard), op, outcome: ok ? 'ok' : 'error' }, seconds);
  }

  partialResult(collection: string): void {
    this.partialResults.inc({ collection });
  }

  setGroupSource(source: () => GroupGauges[]): void {
    this.groups = source;
  }

  setMoveSource(source: () => MoveGauges[]): void {
    this.moves = source;
  }

  setCollectionSource(source: () => CollectionGauges[]): void {
    this.collections = source;
  }
}
