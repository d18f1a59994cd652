// A node of a JadeVectorDB cluster: its identity, the consensus host (the meta group and the shard
// replicas placed here), the router for proposals, membership (bootstrap, join, promotion,
// removal) and the internal calls other nodes make. The collection layer (query/) reads and
// writes shards through it; this file knows nothing of searches.
//
// A cluster starts with --bootstrap on one node (a meta group of one voter); every other node
// --joins any member: the meta leader records it and adds it to the meta group as a learner, and
// promotes it to voter once caught up (up to 5 voters, odd). JADE_PEERS is a convenience for a
// fixed set: the first peer (sorted) bootstraps once every other peer has said it is not in a
// cluster yet, the rest join.
import { isIP } from 'node:net';
import path from 'node:path';
import { decodeWriteBatch, encodeWriteBatch } from '../storage/codec.js';
import type { Disk } from '../storage/disk.js';
import type { WriteBatch } from '../storage/types.js';
import type { WalOptions } from '../storage/wal.js';
import type { CollectionParams, ShardLimits } from '../shard/state.js';
import { validateParams } from '../shard/state.js';
import { validateCollectionName } from '../shard/collection-name.js';
import type { AliasAction } from '../shard/aliases.js';
import { RAFT_COMPACTION_LAG_BYTES_DEFAULT, RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT } from '../raft/driver.js';
import { JadeError, isJadeError } from '../util/errors.js';
import { wireBool, wireInt, wireObject } from '../util/wire-args.js';
import { remainingMs, sleep } from '../util/deadline.js';
import { GroupAdmin } from './group-admin.js';
import { GroupHost } from './group-host.js';
import { handOffLeaderships } from './leader-handoff.js';
import { NO_REMEMBERED_PEERS, parseRememberedPeers, peerAddresses, serializeRememberedPeers, type RememberedPeers } from './peer-addresses.js';
import { MoveExecutor } from './move-executor.js';
import type { MoveProgress } from './move-progress.js';
import { activeMoves, underReplicated, type DrainRecord, type MoveRecord } from './moves.js';
import { planRebalance, type RebalancePlan } from './rebalance.js';
import { LEADER_BALANCE_INTERVAL_MS, LeaderBalancer } from './leader-balance.js';
import { FAILURE_DETECTOR_DEFAULTS, livenessOf, type FailureDetectorSettings, type Liveness } from './failure-detector.js';
import { moveRequestOf, type MoveApiRequest } from './move-requests.js';
import type { GroupStatus, HostedGroup, ProposeAck, RaftGroupOptions } from './hosted-group.js';
import { IdentityStore, memberId, newClusterId, nodeOfMember } from './identity.js';
import { MetaDuties, META_VOTERS_MAX } from './meta-duties.js';
import { MetaStateMachine, checkJoiningNode, decodeMetaCommand, encodeMetaCommand, replicasOnMember, unwrapMetaResult, type CollectionMeta, type MetaCommand, type NodeRecord, type RebalanceRecord, type ShardPlacement, type WriteConsistency } from './meta.js';
import { placeShards, type MemberLoad } from './placement.js';
import { PROPOSE_METHOD, Router } from './router.js';
import { resolveSeed, splitHostPort } from './seeds.js';
import { ShardStateMachine } from './shard-sm.js';
import { GrpcRaftTransport } from './transport/grpc-transport.js';
import { NodeRpc, neverSent, type RpcAuth, type RpcHandler } from './transport/rpc.js';
import type { TlsPair } from '../security/tls.js';
import type { NodeTlsCredentials } from './transport/tls-credentials.js';
import { answersWithTls, probeTls } from './transport/tls-probe.js';
import type { FaultSpec } from './transport/types.js';
import type { GroupObserver, RpcObserver } from '../util/observers.js';

export const META_GROUP = 'meta';
/** Room for a MsgApp's own fields and the transport's framing around one entry's data. */
const ENTRY_FRAMING_BYTES_MAX = 64 * 1024;
/** Under a shard group's directory: the HNSW graph files written beside this replica's own snapshots. */
const GRAPH_DIR = 'graph';
/** Read barrier deadline and retry pause while a node waits for its meta state to catch up after start or join. */
const META_CATCH_UP_BARRIER_MS = 2_000;
const META_CATCH_UP_RETRY_MS = 200;
/** How often a node not yet in a cluster retries joining, and logs that it waits. */
const JOIN_RETRY_MS = 500;
/** Under-replicated groups named in /v1/status (the count is always whole). */
const UNDER_REPLICATED_LISTED_MAX = 20;
/**
 * Where the other nodes were last seen, kept beside the identity: a restarted node must reach
 * its peers before its meta state (which has their addresses) is replayed, and it replays only
 * once the meta leader, whom it must answer, tells it the commit index.
 */
const PEER_ADDRESSES_FILE = 'peers.json';
const PEER_ADDRESSES_WRITE_DELAY_MS = 1_000;
const WAITING_LOG_EVERY_MS = 5_000;

export type { RaftGroupOptions } from './hosted-group.js';

export const RAFT_GROUP_DEFAULTS: RaftGroupOptions = {
  proposalTimeoutMs: 10_000,
  readTimeoutMs: 5_000,
  snapshotEveryEntries: 10_000,
  snapshotEveryBytes: RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT,
  retainEntries: 1_000,
  retainBytes: RAFT_COMPACTION_LAG_BYTES_DEFAULT,
  waitersMax: 10_000,
};

export interface ClusterPeer {
  id: string;
  grpcAddress: string;
  restUrl: string;
}

export interface ClusterDefaults {
  /** Shards of a new collection when the request names none. */
  shardNumber: number;
  /** Replicas of each shard when the request names none; null = min(3, nodes). */
  replicationFactor: number | null;
  writeConsistency: WriteConsistency;
}

export interface ClusterOptions {
  nodeId: string;
  dataDir: string;
  clusterName: string;
  /** host:port the gRPC server (Raft and internal calls) listens on. */
  grpcListenAddress: string;
  /** How other nodes reach this one. */
  advertise: { restUrl: string; grpcAddress: string };
  labels?: Record<string, string>;
  /** Form a new cluster of one (first start only). */
  bootstrap: boolean;
  /** Seeds to join (first start only): host:port or DNS names. */
  join: string[];
  /** A fixed member set (JADE_PEERS), this node included; bootstrap and join are derived from it. */
  peers: ClusterPeer[];
  tickIntervalMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  wal: WalOptions;
  shardLimits: ShardLimits;
  group: RaftGroupOptions;
  /** How long a write may wait for a leader (elections, forwarding) before 503, when the request names no deadline. */
  leaderWaitMs: number;
  /** How long close() waits for the groups this node leads to take another leader (0: no handoff). */
  leaderHandoffMs: number;
  defaults: ClusterDefaults;
  faultHooksEnabled: boolean;
  /** Bytes per snapshot chunk on the wire (default: the transport's, 1 MiB). */
  snapshotChunkBytes?: number;
  /** Rebalance replicas when a new node joins (default true). */
  rebalanceOnJoin?: boolean;
  /** How often the meta leader evens out shard group leaderships (default LEADER_BALANCE_INTERVAL_MS; 0: never). */
  leaderBalanceIntervalMs?: number;
  /** When the meta leader calls a silent node suspect, then dead (default FAILURE_DETECTOR_DEFAULTS). */
  failureDetector?: FailureDetectorSettings;
  /**
   * Shared by every node: authenticates the Raft streams, snapshots and internal calls (see
   * security/node-auth.ts). Null or absent: unauthenticated, loopback development only.
   */
  clusterSecret?: string | null;
  /** Overrides the internal calls' authentication (default: the transport's, by clusterSecret). */
  rpcAuth?: RpcAuth;
  /** Mutual TLS of every node-to-node connection (transport/tls-credentials.ts); absent = plain text. */
  tls?: { credentials: NodeTlsCredentials; pair: () => TlsPair } | null;
  /** The cluster's narration (membership, elections). */
  log?: (line: string) => void;
  groupObserver?: GroupObserver;
  rpcObserver?: RpcObserver;
  /** What an operator must see: refused entries, refused or forged peer traffic. Never given secrets. Default: log. */
  warn?: (line: string) => void;
}

export const CLUSTER_DEFAULTS = {
  tickIntervalMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  leaderWaitMs: 5_000,
  leaderHandoffMs: 2_000,
  group: RAFT_GROUP_DEFAULTS,
  defaults: { shardNumber: 1, replicationFactor: null, writeConsistency: 'majority' } as ClusterDefaults,
};

/** A local replica of a shard, as the collection layer reads it. */
export interface LocalShardReplica {
  sm: ShardStateMachine;
  group: HostedGroup;
}

export interface MemberStatus {
  id: string;
  incarnation: string;
  restUrl: string;
  grpcAddress: string;
  labels: Record<string, string>;
  /** In the meta group: voter, learner, or not (yet) a member of it. */
  metaRole: 'voter' | 'learner' | 'none';
  /** Replicas placed on this node's current incarnation. */
  replicas: number;
  /** Set once POST /cluster/peer/{id}/drain was asked for this incarnation. */
  drain: DrainRecord['state'] | null;
  /** dead: declared dead in the meta state; suspect: silent past suspectAfterMs as this node hears it; else alive. */
  liveness: Liveness;
}

export interface RebalanceReport {
  /** The last rebalance (running, done or stopped), or null when none ran. */
  rebalance: RebalanceRecord | null;
  /** The moves that would even out the replicas now (the whole plan; the running rebalance starts them a few at a time). */
  plan: RebalancePlan;
}

export interface DrainReport {
  node: string;
  /** null: no drain was asked for this incarnation. */
  state: DrainRecord['state'] | null;
  replicasLeft: number;
  movesStarted: number;
  /** The drain's moves the meta state still lists (active and recently finished). */
  moves: MoveRecord[];
}

export class ClusterNode {
  readonly mode = 'cluster' as const;
  readonly meta = new MetaStateMachine();
  readonly transport: GrpcRaftTransport;
  /** Addresses join seeds' DNS names resolved to last time, and the name each was found by (its TLS server name). */
  private seedServerNames = new Map<string, string>();
  readonly rpc: NodeRpc;
  readonly host: GroupHost;
  readonly router: Router;
  private readonly shards = new Map<string, ShardStateMachine>();
  private readonly opening = new Set<string>();
  /** Groups this node should hold but cannot open (their directory was lost after founding). */
  readonly lostGroups = new Map<string, string>();
  private metaGroup: HostedGroup | null = null;
  private duties: MetaDuties | null = null;
  private mover: MoveExecutor | null = null;
  private leaderBalancer: LeaderBalancer | null = null;
  private readonly admin: GroupAdmin;
  private closed = false;
  /** Set once a meta read barrier passed after start or join: from then on a missing collection is a 404. */
  private metaCaughtUp = false;
  private joined = false;
  /** Set while an explicit bootstrap request (POST /cluster/bootstrap) runs: the join loop stands down. */
  private bootstrapRequested = false;
  private joining: Promise<void> | null = null;
  /** Addresses announced by peers ahead of the meta state (a restarted pod with a new IP). */
  private readonly announced = new Map<string, string>();
  private readonly log: (line: string) => void;
  private reconciling: Promise<void> = Promise.resolve();

  /**
   * The largest entry a write may propose. A larger one would be dropped by the transport at every
   * send (the group stalls behind it forever) or refused by the WAL (the group stops).
   */
  readonly entryBytesMax: number;

  private constructor(
    private readonly disk: Disk,
    private readonly opts: ClusterOptions,
    readonly identity: IdentityStore,
  ) {
    this.log = opts.log ?? (() => undefined);
    const warn = opts.warn ?? this.log;
    this.transport = new GrpcRaftTransport({
      nodeId: opts.nodeId,
      listenAddress: opts.grpcListenAddress,
      clusterId: opts.clusterName,
      clusterSecret: opts.clusterSecret ?? null,
      tls: opts.tls ?? null,
      faultHooksEnabled: opts.faultHooksEnabled,
      ...(opts.snapshotChunkBytes ? { snapshotChunkBytes: opts.snapshotChunkBytes } : {}),
      log: (line) => warn(`node-to-node: ${line}`),
    });
    this.rpc = new NodeRpc({ nodeId: opts.nodeId, clusterId: opts.clusterName, auth: opts.rpcAuth ?? this.transport.rpcAuth(), observer: opts.rpcObserver, channelCredentials: opts.tls?.credentials.channel });
    this.entryBytesMax = Math.min(this.transport.messageBytesMax, opts.wal.recordSizeBytesMax) - ENTRY_FRAMING_BYTES_MAX;
    this.host = new GroupHost(disk, this.transport, {
      nodeId: opts.nodeId,
      memberId: identity.memberId,
      dataDir: opts.dataDir,
      tickIntervalMs: opts.tickIntervalMs,
      electionTicks: opts.electionTicks,
      heartbeatTicks: opts.heartbeatTicks,
      wal: opts.wal,
      group: opts.group,
      log: this.log,
      observer: opts.groupObserver,
      warn: opts.warn,
    });
    this.router = new Router(this.host, this.rpc, {
      nodeId: opts.nodeId,
      addressOf: (nodeId) => this.addressOf(nodeId),
      replicasOf: (groupId) => this.replicaNodesOf(groupId),
      isClosed: () => this.closed,
      prepare: (groupId, data) => this.prepareProposal(groupId, data),
    });
    this.admin = new GroupAdmin({ nodeId: opts.nodeId, group: (id) => this.host.get(id), groups: () => this.host.all(), shard: (id) => this.shards.get(id), rpc: this.rpc, addressOf: (id) => this.addressOf(id) });
  }

  static async start(disk: Disk, opts: ClusterOptions): Promise<ClusterNode> {
    const identity = await IdentityStore.open(disk, opts.dataDir, { nodeId: opts.nodeId, clusterName: opts.clusterName });
    const node = new ClusterNode(disk, opts, identity);
    await node.loadPeerAddresses();
    node.registerHandlers();
    const { definition, implementation } = node.rpc.service();
    node.transport.addService(definition, implementation);
    await node.transport.start();
    node.meta.onChange(() => node.metaChanged());
    try {
      await node.openMeta();
    } catch (e) {
      await node.close();
      throw e;
    }
    node.host.start();
    return node;
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  get memberId(): string {
    return this.identity.memberId;
  }

  /** True once this node is a member of a cluster (bootstrapped, joined, or restarted as one). */
  get isMember(): boolean {
    return this.joined && !this.closed;
  }

  /** A member whose meta state has caught up with the cluster's (until then collection lookups may be 503s). */
  get isServing(): boolean {
    return this.isMember && this.metaCaughtUp;
  }

  private addressOf(nodeId: string): string | undefined {
    if (nodeId === this.opts.nodeId) return this.opts.advertise.grpcAddress;
    return this.currentPeers().get(nodeId);
  }

  private selfRecord(): NodeRecord {
    return { id: this.opts.nodeId, incarnation: this.identity.identity.incarnation, restUrl: this.opts.advertise.restUrl, grpcAddress: this.opts.advertise.grpcAddress, labels: this.opts.labels ?? {}, joinedAtMs: Date.now() };
  }

  // ---- start: restart, bootstrap or join ----

  private async openMeta(): Promise<void> {
    const hasState = await this.host.hasState(META_GROUP);
    if (hasState) {
      this.metaGroup = await this.host.open(META_GROUP, this.meta, null);
      this.joined = true;
      this.afterMetaOpen();
      void this.announceSelf();
      return;
    }
    if (this.identity.identity.clusterId !== null) {
      throw new JadeError('JADE_ERR_CONFLICT', `this node (${this.memberId}) is a member of cluster ${this.identity.identity.clusterId} but its meta group state is gone: it cannot vote safely. Move the data directory away and start with an empty one (the node then joins as a new incarnation)`);
    }
    if (this.opts.bootstrap) return this.bootstrapNow();
    if (this.opts.peers.length > 0) {
      const first = [...this.opts.peers].sort((a, b) => (a.id < b.id ? -1 : 1))[0];
      if (first.id === this.opts.nodeId) {
        void this.bootstrapWhenPeersAgree();
        return;
      }
    }
    this.startJoinLoop();
  }

  private startJoinLoop(): void {
    this.joining = this.joinLoop().catch((e: unknown) => this.log(`join loop stopped: ${String(e)}`));
  }

  /**
   * Founds a new cluster with this node, on request (the Kubernetes operator decides which pod founds
   * it, so pods never race). Refused once this node is or was in a cluster, when it runs a fixed
   * member set (JADE_PEERS decides itself), and when any seed already answers with a cluster id.
   */
  async bootstrapOnRequest(): Promise<{ clusterId: string; nodeId: string; incarnation: string }> {
    const conflict = (reason: string, message: string) => new JadeError('JADE_ERR_CONFLICT', message, { reason });
    if (this.closed) throw new JadeError('JADE_ERR_UNAVAILABLE', 'node is shutting down');
    if (this.isMember || this.identity.identity.clusterId !== null) {
      throw conflict('ALREADY_MEMBER', `node ${this.opts.nodeId} is already a member of cluster ${this.identity.identity.clusterId ?? this.meta.state.clusterId}`);
    }
    if (this.opts.peers.length > 0) throw conflict('FIXED_PEERS', 'this node runs a fixed member set (JADE_PEERS): its first peer bootstraps by itself');
    if (this.bootstrapRequested) throw conflict('BOOTSTRAP_IN_PROGRESS', 'a bootstrap of this node is already running');
    this.bootstrapRequested = true;
    try {
      const seeds = await this.seedAddresses();
      const answers = await Promise.all(seeds.map((a) => this.rpc.call(a, 'cluster.identify', { json: {} }, Date.now() + 2_000, this.seedServerNames.get(a)).then((r) => r.json as { clusterId: string | null; nodeId: string }).catch(() => null)));
      const existing = answers.find((a) => a?.clusterId);
      if (existing) throw conflict('CLUSTER_EXISTS', `node ${existing.nodeId} is already in cluster ${existing.clusterId}: this node joins it instead (it keeps trying its seeds)`);
      await this.joining;
      if (this.isMember) throw conflict('ALREADY_MEMBER', `node ${this.opts.nodeId} joined cluster ${this.identity.identity.clusterId} meanwhile`);
      const conf = this.metaGroup?.driver.core.confState();
      if (conf && conf.voters.length + conf.learners.length > 0) throw conflict('ALREADY_MEMBER', `node ${this.opts.nodeId} already holds meta state from a cluster`);
      // The empty meta group the join loop opened for the leader to fill is replaced by a founded one.
      this.duties?.stop();
      this.duties = null;
      this.metaGroup = null;
      await this.host.close(META_GROUP, true);
      await this.bootstrapNow();
      return { clusterId: this.meta.state.clusterId!, nodeId: this.opts.nodeId, incarnation: this.identity.identity.incarnation };
    } catch (e) {
      if (!this.isMember && !this.closed) this.startJoinLoop();
      throw e;
    } finally {
      this.bootstrapRequested = false;
    }
  }

  private async bootstrapNow(): Promise<void> {
    this.log(`bootstrapping a new cluster with this node (${this.memberId}) as its first member`);
    this.metaGroup = await this.host.open(META_GROUP, this.meta, [this.memberId]);
    this.afterMetaOpen();
    this.metaGroup.driver.campaign();
    const clusterId = newClusterId();
    const deadline = Date.now() + 30_000;
    while (!this.closed) {
      try {
        await this.proposeMeta({ op: 'init', clusterId, node: this.selfRecord() }, Math.min(deadline, Date.now() + 5_000));
        break;
      } catch (e) {
        if (isJadeError(e) && e.code === 'JADE_ERR_CONFLICT') break; // initialized before a crash
        if (Date.now() > deadline) throw e;
        await sleep(100);
      }
    }
    if (this.meta.state.clusterId) await this.identity.setClusterId(this.meta.state.clusterId);
    this.joined = true;
  }

  /** JADE_PEERS: the first peer founds the cluster only once every other peer said it is in none. */
  private async bootstrapWhenPeersAgree(): Promise<void> {
    const others = this.opts.peers.filter((p) => p.id !== this.opts.nodeId);
    let lastLog = 0;
    while (!this.closed) {
      const answers = await Promise.all(
        others.map((p) =>
          this.rpc
            .call(p.grpcAddress, 'cluster.identify', { json: {} }, Date.now() + 2_000)
            .then((r) => r.json as { clusterId: string | null })
            .catch(() => null),
        ),
      );
      const existing = answers.find((a) => a?.clusterId);
      if (existing) {
        this.log(`peers already form cluster ${existing.clusterId}: joining it instead of bootstrapping`);
        this.startJoinLoop();
        return this.joining!;
      }
      if (answers.every((a) => a !== null)) return this.bootstrapNow();
      if (Date.now() - lastLog > WAITING_LOG_EVERY_MS) {
        lastLog = Date.now();
        this.log(`waiting for every peer to answer before bootstrapping (unanswered: ${others.filter((_, i) => answers[i] === null).map((p) => p.id).join(', ')})`);
      }
      await sleep(JOIN_RETRY_MS);
    }
  }

  private async seedAddresses(): Promise<string[]> {
    const seeds = this.opts.join.length > 0 ? this.opts.join : this.opts.peers.filter((p) => p.id !== this.opts.nodeId).map((p) => p.grpcAddress);
    const resolved = await Promise.all(seeds.map(async (seed) => ({ seed, addresses: await resolveSeed(seed) })));
    // With TLS, an IP a seed's DNS name resolved to is verified against that name (tls-credentials.ts).
    const names = new Map<string, string>();
    for (const { seed, addresses } of resolved) {
      const { host } = splitHostPort(seed);
      for (const a of addresses) if (a !== seed && !isIP(host)) names.set(a, host);
    }
    this.seedServerNames = names; // the last resolution only: pods' old IPs do not pile up
    const all = resolved.flatMap((r) => r.addresses);
    return [...new Set(all)].filter((a) => a !== this.opts.advertise.grpcAddress);
  }

  /**
   * Why a call to `address` never connected, when TLS is the reason (another CA, a name not in the
   * certificate, one side plain text), for the join loop's log; null otherwise.
   */
  private async tlsProblem(address: string, e: unknown): Promise<string | null> {
    if (!neverSent(e)) return null;
    const tls = this.opts.tls;
    if (tls) return probeTls(address, tls.pair(), 2_000, this.seedServerNames.get(address));
    return (await answersWithTls(address, 2_000)) ? 'it serves node-to-node TLS and this node has none: set JADE_NODE_TLS_CERT_FILE, _KEY_FILE and _CA_FILE (every node of a cluster needs the same mode)' : null;
  }

  /** Opens an empty meta group (the leader fills it), then asks a seed until the meta leader adds this node. */
  private async joinLoop(): Promise<void> {
    if (!this.metaGroup) {
      this.metaGroup = await this.host.open(META_GROUP, this.meta, null);
      this.afterMetaOpen();
    }
    let lastLog = 0;
    let lastError = '';
    while (!this.closed && !this.bootstrapRequested) {
      for (const address of await this.seedAddresses()) {
        if (this.bootstrapRequested) return;
        try {
          const reply = await this.rpc.call(address, 'cluster.join', { json: { node: this.selfRecord() } }, Date.now() + 10_000, this.seedServerNames.get(address));
          const r = reply.json as { clusterId: string; nodes: NodeRecord[] };
          for (const n of r.nodes) if (n.id !== this.opts.nodeId) this.announced.set(n.id, n.grpcAddress);
          this.updatePeers();
          await this.identity.setClusterId(r.clusterId);
          this.joined = true;
          this.log(`joined cluster ${r.clusterId} through ${address} as ${this.memberId}`);
          return;
        } catch (e) {
          lastError = `${address}: ${(await this.tlsProblem(address, e)) ?? (e as Error).message}`;
        }
      }
      if (Date.now() - lastLog > WAITING_LOG_EVERY_MS) {
        lastLog = Date.now();
        this.log(`not in a cluster yet; retrying the join (last answer: ${lastError || 'no seed resolved'})`);
      }
      await sleep(JOIN_RETRY_MS);
    }
  }

  private afterMetaOpen(): void {
    this.duties = new MetaDuties({
      metaGroup: () => this.metaGroup,
      meta: this.meta,
      log: this.log,
      isClosed: () => this.closed,
    });
    this.duties.start();
    this.mover = new MoveExecutor({
      meta: this.meta,
      metaGroup: () => this.metaGroup,
      admin: this.admin,
      proposeMeta: (c, d) => this.proposeMeta(c, d),
      findLeader: (g, d) => this.findLeader(g, d),
      log: this.log,
      isClosed: () => this.closed,
      selfNodeId: this.opts.nodeId,
      silentMs: (id) => this.host.silentMs(id),
      failureDetector: this.opts.failureDetector ?? FAILURE_DETECTOR_DEFAULTS,
    });
    this.mover.start();
    this.leaderBalancer?.stop();
    this.leaderBalancer = new LeaderBalancer({
      intervalMs: this.opts.leaderBalanceIntervalMs ?? LEADER_BALANCE_INTERVAL_MS,
      meta: this.meta,
      isMetaLeader: () => this.metaGroup?.isLeader === true,
      isAlive: (id) => id === this.opts.nodeId || livenessOf(this.meta.state, id, this.host.silentMs(id), this.opts.failureDetector ?? FAILURE_DETECTOR_DEFAULTS) === 'alive',
      leaderships: (id, d) => this.admin.leaderships(id, d),
      transferLeader: (leader, groupId, to, d) => this.admin.transferLeader(leader, groupId, memberId(to, this.meta.state.nodes[to].incarnation), d),
      log: this.log,
      isClosed: () => this.closed,
    });
    this.leaderBalancer.start();
    this.metaChanged();
    void this.awaitMetaCaughtUp();
  }

  /**
   * Until its meta state has caught up with the leader's once (a read barrier of the meta group
   * passed), a node that just started or joined may not know collections that exist: it answers a
   * lookup it cannot find with 503, not a 404 a client would take as definite.
   */
  private async awaitMetaCaughtUp(): Promise<void> {
    while (!this.closed && !this.metaCaughtUp) {
      const g = this.metaGroup;
      if (g) {
        try {
          await g.readBarrier(META_CATCH_UP_BARRIER_MS);
          this.metaCaughtUp = true;
          return;
        } catch {
          // No meta leader yet, or it is far ahead: try again.
        }
      }
      await sleep(META_CATCH_UP_RETRY_MS);
    }
  }

  /** After a restart: tell the others where this incarnation is now, then record it in the meta state. */
  private async announceSelf(): Promise<void> {
    const self = this.selfRecord();
    while (!this.closed) {
      const known = this.meta.state.nodes[self.id];
      if (known && known.incarnation === self.incarnation && known.restUrl === self.restUrl && known.grpcAddress === self.grpcAddress) return;
      const targets = new Set([...this.currentPeers()].filter(([id]) => id !== self.id).map(([, address]) => address));
      // After a restart of every node (a hibernated cluster woken, all pods at new IPs) no known address
      // is current: the seeds (a headless Service names every pod) reach the peers where they are now.
      for (const address of await this.seedAddresses()) targets.add(address);
      for (const address of targets) {
        void this.rpc.call(address, 'cluster.announce', { json: { nodeId: self.id, incarnation: self.incarnation, grpcAddress: self.grpcAddress } }, Date.now() + 1_000, this.seedServerNames.get(address)).catch(() => undefined);
      }
      if (known && known.incarnation === self.incarnation) {
        await this.proposeMeta({ op: 'setNodeAddress', nodeId: self.id, incarnation: self.incarnation, restUrl: self.restUrl, grpcAddress: self.grpcAddress }, Date.now() + 5_000).catch(() => undefined);
      }
      await sleep(1_000);
    }
  }

  // ---- the meta state changed: peers, shard replicas ----

  private metaChanged(): void {
    this.updatePeers();
    const self = this.meta.state.nodes[this.opts.nodeId];
    if (this.joined && this.meta.state.clusterId && self && self.incarnation !== this.identity.identity.incarnation) {
      this.log(`the cluster now knows node ${this.opts.nodeId} as incarnation ${self.incarnation}, not this one (${this.identity.identity.incarnation}): this process holds no replicas`);
    }
    this.reconciling = this.reconciling.then(() => this.reconcileShards()).catch((e: unknown) => this.log(`reconciling shard replicas failed: ${String(e)}`));
  }

  /** Addresses saved at the last run (peers.json), with the meta applied index they were saved at. */
  private rememberedPeers: RememberedPeers = NO_REMEMBERED_PEERS;
  private peersWriteTimer: NodeJS.Timeout | null = null;
  private lastPeersWritten = '';

  private async loadPeerAddresses(): Promise<void> {
    const file = path.join(this.opts.dataDir, PEER_ADDRESSES_FILE);
    if (!(await this.disk.exists(file))) return;
    try {
      this.rememberedPeers = parseRememberedPeers(new TextDecoder().decode(await this.disk.readFile(file)), this.opts.nodeId);
      this.lastPeersWritten = JSON.stringify([...this.rememberedPeers.addresses].sort());
    } catch {
      this.log(`${file} is unreadable; peers are learned again from the cluster`);
    }
  }

  /** Saves the peer addresses soon after they change (a lost write only costs a slower restart). */
  private rememberPeers(peers: Map<string, string>): void {
    const json = JSON.stringify([...peers].sort());
    if (json === this.lastPeersWritten || this.peersWriteTimer || this.closed) return;
    this.peersWriteTimer = setTimeout(() => {
      this.peersWriteTimer = null;
      const current = this.currentPeers();
      const now = JSON.stringify([...current].sort());
      if (now === this.lastPeersWritten || this.closed) return;
      this.lastPeersWritten = now;
      const text = serializeRememberedPeers(current, this.metaGroup?.driver.applied ?? 0);
      void this.disk.writeFileAtomic(path.join(this.opts.dataDir, PEER_ADDRESSES_FILE), new TextEncoder().encode(text)).catch((e: unknown) => this.log(`saving peer addresses failed: ${String(e)}`));
    }, PEER_ADDRESSES_WRITE_DELAY_MS);
  }

  private currentPeers(): Map<string, string> {
    return peerAddresses({
      selfId: this.opts.nodeId, fixed: this.opts.peers, metaNodes: Object.values(this.meta.state.nodes), metaApplied: this.metaGroup?.driver.applied ?? 0,
      announced: this.announced, remembered: this.rememberedPeers,
    });
  }

  private updatePeers(): void {
    const peers = this.currentPeers();
    this.transport.setPeers(peers);
    if (Object.keys(this.meta.state.nodes).length > 0) this.rememberPeers(peers);
  }

  /** Node ids holding a replica of a group, preferred leader first. */
  private replicaNodesOf(groupId: string): string[] {
    if (groupId === META_GROUP) return Object.keys(this.meta.state.nodes);
    for (const c of Object.values(this.meta.state.collections)) for (const s of c.shards) if (s.groupId === groupId) return s.replicas.map(nodeOfMember);
    return [];
  }

  /** Opens the shard groups the meta state places on this incarnation, and closes those no longer placed here. */
  private async reconcileShards(): Promise<void> {
    if (this.closed) return;
    const wanted = new Map<string, { params: CollectionParams; placement: ShardPlacement }>();
    for (const c of Object.values(this.meta.state.collections)) {
      for (const s of c.shards) if (s.replicas.includes(this.memberId)) wanted.set(s.groupId, { params: c.params, placement: s });
    }
    // The target of a move opens the group empty; the group's leader fills it once it is a learner.
    for (const m of activeMoves(this.meta.state)) {
      const c = this.meta.state.collections[m.collection];
      const s = c?.shards.find((x) => x.groupId === m.groupId);
      if (m.to === this.memberId && c && s) wanted.set(s.groupId, { params: c.params, placement: s });
    }
    await Promise.all([...wanted].map(([groupId, w]) => this.openShard(groupId, w.params, w.placement)));
    const gone = [...this.shards.keys()].filter((g) => !wanted.has(g));
    for (const groupId of gone) {
      const sm = this.shards.get(groupId)!;
      this.shards.delete(groupId);
      sm.indexer.stop();
      await this.host.close(groupId, true);
    }
    for (const g of [...this.lostGroups.keys()]) if (!wanted.has(g)) this.lostGroups.delete(g);
    if (gone.length > 0) await this.identity.forgetGroups(gone);
  }

  private async openShard(groupId: string, params: CollectionParams, placement: ShardPlacement): Promise<void> {
    if (this.shards.has(groupId) || this.opening.has(groupId) || this.lostGroups.has(groupId) || this.closed) return;
    this.opening.add(groupId);
    try {
      const hasState = await this.host.hasState(groupId);
      const founder = placement.founders.includes(this.memberId);
      if (!hasState && this.identity.hasFounded(groupId)) {
        const why = `the directory of group ${groupId} was lost after this node founded it: refusing to found it again (its votes and log are gone); the group runs without this replica until it is replaced`;
        this.lostGroups.set(groupId, why);
        this.log(why);
        return;
      }
      const graphDir = path.join(this.host.groupDir(groupId), GRAPH_DIR);
      await this.disk.mkdirp(graphDir);
      const sm = new ShardStateMachine(params, this.opts.shardLimits, { disk: this.disk, dir: graphDir, log: (line) => this.log(`${groupId}: ${line}`) });
      const group = await this.host.open(groupId, sm, !hasState && founder ? placement.founders : null);
      if (!hasState && founder) await this.identity.markFounded(groupId);
      this.shards.set(groupId, sm);
      sm.onGraphCaughtUp = () => group.driver.requestSnapshot();
      // The preferred leader campaigns at once so a new collection gets a leader without waiting a timeout.
      if (placement.replicas[0] === this.memberId && group.storage.lastIndex() <= 1) group.driver.campaign();
    } catch (e) {
      if (!this.closed) this.log(`opening replica ${groupId} failed: ${String(e)}`);
    } finally {
      this.opening.delete(groupId);
    }
  }

  // ---- proposals ----

  private checkEntrySize(data: Uint8Array): void {
    if (data.length > this.entryBytesMax) {
      throw new JadeError('JADE_ERR_PAYLOAD_TOO_LARGE', `this write encodes to ${data.length} bytes; one replicated write holds at most ${this.entryBytesMax}: send it in smaller batches`);
    }
  }

  async proposeMeta(c: MetaCommand, deadlineMs = Date.now() + this.opts.leaderWaitMs): Promise<unknown> {
    const data = encodeMetaCommand(c);
    decodeMetaCommand(data); // refuse a malformed command before it is logged
    const result = unwrapMetaResult(await this.router.propose(META_GROUP, data, 'majority', deadlineMs, { validatedHere: true }));
    // Forwarded to the meta leader, the command is applied there; wait until it is applied here
    // too, so the caller's next request to this node sees it (a collection created through a
    // follower answered 404 to the very next request, seen in CI). Best effort: it is done either way.
    const g = this.metaGroup;
    if (g && !g.isLeader) await g.readBarrier(Math.max(1, Math.min(deadlineMs - Date.now(), META_CATCH_UP_BARRIER_MS))).catch(() => undefined);
    return result;
  }

  /**
   * What the leader proposes for a forwarded write: the batch decoded and validated exactly as
   * the REST path does (dimension, finite numbers, ids, payload, limits), re-encoded normalized.
   */
  private prepareProposal(groupId: string, data: Uint8Array): Uint8Array {
    this.checkEntrySize(data);
    if (groupId === META_GROUP) {
      decodeMetaCommand(data);
      return data;
    }
    const sm = this.shards.get(groupId);
    if (!sm) throw new JadeError('JADE_ERR_NOT_LEADER', `group ${groupId} is not hosted on ${this.opts.nodeId}`, { leader: '' });
    let batch: WriteBatch;
    try {
      // Views: validateBatch copies what it changes (cosine), and the encoder copies the rest at once.
      batch = decodeWriteBatch(data, { vectorViews: true });
    } catch (e) {
      throw new JadeError('JADE_ERR_BAD_REQUEST', `forwarded write for ${groupId} is not a valid write batch: ${(e as Error).message}`);
    }
    const checked = sm.state.validateBatch(batch);
    // Unchanged by validation (no cosine normalization): the bytes decode to exactly the checked
    // batch, so they go as they came, sparing an encode of megabytes on the leader.
    if (unchangedBy(batch, checked)) return data;
    const valid = encodeWriteBatch(checked);
    this.checkEntrySize(valid);
    return valid;
  }

  /** Writes one shard's part of a batch through the group's leader, acknowledged per the consistency level. */
  async writeShard(groupId: string, batch: WriteBatch, consistency: WriteConsistency, deadlineMs: number): Promise<number> {
    // Validated here when this node has a replica (the leader validates again either way).
    const sm = this.shards.get(groupId);
    // An update of points by id needs them to exist: a read barrier first makes this replica as
    // current as the leader, so a point just written through another node is not refused with a 404.
    const group = this.host.get(groupId);
    if (sm && group && !group.isLeader && updatesPointsById(batch)) await group.readBarrier(remainingMs(deadlineMs));
    const data = encodeWriteBatch(sm ? sm.state.validateBatch(batch) : batch);
    this.checkEntrySize(data);
    const ack: ProposeAck = consistency === 'one' ? 'one' : 'majority';
    const index = (await this.router.propose(groupId, data, ack, deadlineMs, { validatedHere: sm !== undefined })) as number;
    if (consistency === 'all') await this.waitAppliedEverywhere(groupId, index, deadlineMs);
    return index;
  }

  /** `all`: every replica has applied `index`, or a coded error names those that had not. */
  private async waitAppliedEverywhere(groupId: string, index: number, deadlineMs: number): Promise<void> {
    const replicas = this.replicaNodesOf(groupId);
    const lagging: string[] = [];
    await Promise.all(
      replicas.map(async (nodeId) => {
        try {
          if (nodeId === this.opts.nodeId) {
            const g = this.host.get(groupId);
            if (!g) throw new JadeError('JADE_ERR_UNAVAILABLE', 'replica not open here');
            await g.whenApplied(index, remainingMs(deadlineMs));
            return;
          }
          const address = this.addressOf(nodeId);
          if (!address) throw new JadeError('JADE_ERR_UNAVAILABLE', `no address for ${nodeId}`);
          await this.rpc.call(address, 'group.waitApplied', { json: { groupId, index } }, deadlineMs);
        } catch {
          lagging.push(nodeId);
        }
      }),
    );
    if (lagging.length > 0) {
      lagging.sort();
      throw new JadeError('JADE_ERR_DEADLINE', `write consistency "all": the write is committed (index ${index}) but replica${lagging.length > 1 ? 's' : ''} ${lagging.join(', ')} of ${groupId} had not applied it before the deadline`, { laggingReplicas: lagging, index });
    }
  }

  // ---- internal calls ----

  /** Registers an internal method (the collection layer adds its shard reads). */
  handle(method: string, handler: RpcHandler): void {
    this.rpc.handle(method, handler);
  }

  private registerHandlers(): void {
    this.rpc.handle(PROPOSE_METHOD, async ({ json, binary }, ctx) => {
      const { groupId, ack } = wireObject(json, PROPOSE_METHOD);
      if (typeof groupId !== 'string' || (ack !== 'majority' && ack !== 'one') || !binary) throw new JadeError('JADE_ERR_BAD_REQUEST', `${PROPOSE_METHOD} needs groupId, ack and the proposal bytes`);
      const value = await this.router.proposeHere(groupId, binary, ack, ctx.deadlineMs);
      return { json: value ?? null };
    });
    this.rpc.handle('group.waitApplied', async ({ json }, ctx) => {
      const { groupId, index: rawIndex } = wireObject(json, 'group.waitApplied');
      if (typeof groupId !== 'string') throw new JadeError('JADE_ERR_BAD_REQUEST', 'group.waitApplied needs groupId and index');
      const index = wireInt(rawIndex, 'group.waitApplied', 'index', 0, Number.MAX_SAFE_INTEGER);
      const g = this.host.get(groupId);
      if (!g) throw new JadeError('JADE_ERR_UNAVAILABLE', `no replica of ${groupId} on ${this.opts.nodeId}`);
      await g.whenApplied(index, remainingMs(ctx.deadlineMs));
      return { json: true };
    });
    this.rpc.handle('group.status', async ({ json }) => {
      const { groupId } = wireObject(json, 'group.status');
      if (typeof groupId !== 'string') throw new JadeError('JADE_ERR_BAD_REQUEST', 'group.status needs groupId');
      const g = this.host.get(groupId);
      if (!g) throw new JadeError('JADE_ERR_UNAVAILABLE', `no replica of ${groupId} on ${this.opts.nodeId}`);
      return { json: g.status() };
    });
    this.rpc.handle('cluster.identify', async () => ({
      json: { clusterId: this.identity.identity.clusterId, nodeId: this.opts.nodeId, incarnation: this.identity.identity.incarnation, member: this.isMember },
    }));
    this.rpc.handle('cluster.announce', async ({ json }, ctx) => {
      const { nodeId, incarnation, grpcAddress } = wireObject(json, 'cluster.announce');
      if (nodeId !== ctx.fromNodeId || typeof grpcAddress !== 'string' || typeof incarnation !== 'string') throw new JadeError('JADE_ERR_BAD_REQUEST', 'cluster.announce names the caller and its address');
      const known = this.meta.state.nodes[nodeId];
      if (known && known.incarnation === incarnation) {
        this.announced.set(nodeId, grpcAddress);
        this.updatePeers();
      }
      return { json: true };
    });
    this.rpc.handle('cluster.join', async ({ json }, ctx) => {
      const node = wireObject(json, 'cluster.join').node as NodeRecord | undefined;
      if (!node || typeof node !== 'object' || node.id !== ctx.fromNodeId) throw new JadeError('JADE_ERR_BAD_REQUEST', 'cluster.join names the calling node');
      checkJoiningNode(node);
      return { json: await this.admit(node, ctx.deadlineMs) };
    });
    this.admin.register(this.rpc);
    this.rpc.handle('cluster.move', async ({ json }, ctx) => ({ json: await this.requestMove(moveRequestOf(json), ctx.deadlineMs) }));
    // Answered here, never forwarded again: a node that lost the meta leadership meanwhile has nothing to show.
    this.rpc.handle('cluster.moveProgress', async () => ({ json: this.moveProgressHere() }));
    this.rpc.handle('cluster.declareDead', async ({ json }, ctx) => {
      const nodeId = (json as { nodeId?: unknown } | null)?.nodeId;
      if (typeof nodeId !== 'string') throw new JadeError('JADE_ERR_BAD_REQUEST', 'cluster.declareDead: nodeId must be a string');
      return { json: await this.declareDead(nodeId, ctx.deadlineMs) };
    });
    this.rpc.handle('cluster.rebalance', async ({ json }, ctx) => {
      const v = (json ?? {}) as { dryRun?: unknown; stop?: unknown };
      if (typeof v.dryRun !== 'boolean' || typeof v.stop !== 'boolean') throw new JadeError('JADE_ERR_BAD_REQUEST', 'cluster.rebalance: dryRun and stop must be booleans');
      return { json: await this.rebalance({ dryRun: v.dryRun, stop: v.stop }, ctx.deadlineMs) };
    });
    this.rpc.handle('cluster.drain', async ({ json }, ctx) => {
      const { nodeId } = wireObject(json, 'cluster.drain');
      if (typeof nodeId !== 'string') throw new JadeError('JADE_ERR_BAD_REQUEST', 'cluster.drain needs nodeId');
      return { json: await this.drain(nodeId, ctx.deadlineMs) };
    });
    this.rpc.handle('cluster.removePeer', async ({ json }, ctx) => {
      const { nodeId, force } = wireObject(json, 'cluster.removePeer');
      if (typeof nodeId !== 'string') throw new JadeError('JADE_ERR_BAD_REQUEST', 'cluster.removePeer needs nodeId');
      const forced = force === undefined ? false : wireBool(force, 'cluster.removePeer', 'force');
      return { json: await this.removePeer(nodeId, forced, ctx.deadlineMs) };
    });
  }

  /** Runs `fn` on the meta leader: here when this node leads the meta group, else forwarded there once. */
  private async onMetaLeader<T>(method: string, args: unknown, deadlineMs: number, here: () => Promise<T>): Promise<T> {
    const g = this.metaGroup;
    if (g?.isLeader) return here();
    const leader = g?.leaderMember ? nodeOfMember(g.leaderMember) : undefined;
    const address = leader && leader !== this.opts.nodeId ? this.addressOf(leader) : undefined;
    if (!address) throw new JadeError('JADE_ERR_UNAVAILABLE', `no meta leader known on ${this.opts.nodeId} yet; retry shortly`);
    return (await this.rpc.call(address, method, { json: args }, deadlineMs)).json as T;
  }

  /** Meta leader: records a joining node (replacing an older incarnation) and adds it to the meta group as a learner. */
  private admit(node: NodeRecord, deadlineMs: number): Promise<{ clusterId: string; nodes: NodeRecord[] }> {
    return this.onMetaLeader('cluster.join', { node }, deadlineMs, async () => {
      if (!this.meta.state.clusterId) throw new JadeError('JADE_ERR_UNAVAILABLE', 'the cluster is still bootstrapping; retry shortly');
      const known = this.meta.state.nodes[node.id];
      if (!known || known.incarnation !== node.incarnation) {
        if (known) this.log(`node ${node.id} returns as a new incarnation ${node.incarnation} (was ${known.incarnation}): its old replicas are lost and the old member leaves the meta group`);
        await this.proposeMeta({ op: 'addNode', node: { ...node, joinedAtMs: Date.now() } }, deadlineMs);
        // A new node takes replicas from the others (a returning one is refilled by re-replication first).
        if (!known && this.opts.rebalanceOnJoin !== false && this.mover && Object.keys(this.meta.state.collections).length > 0) {
          this.mover.startRebalance(`node ${node.id} joined`).catch((e) => this.log(`rebalance after ${node.id} joined not started: ${(e as Error).message}`));
        }
      }
      // The learner is added by the meta duties (one membership change at a time); wait for it.
      const member = memberId(node.id, node.incarnation);
      while (Date.now() < deadlineMs) {
        const conf = this.metaGroup!.driver.core.confState();
        if (conf.voters.includes(member) || conf.learners.includes(member)) break;
        await sleep(50);
      }
      return { clusterId: this.meta.state.clusterId!, nodes: Object.values(this.meta.state.nodes) };
    });
  }

  /** Takes a node out of the cluster: refused (409) while it holds replicas, unless forced. */
  removePeer(nodeId: string, force: boolean, deadlineMs: number): Promise<{ removed: string; degradedGroups: string[] }> {
    return this.onMetaLeader('cluster.removePeer', { nodeId, force }, deadlineMs, async () => {
      const n = this.meta.state.nodes[nodeId];
      if (!n) throw new JadeError('JADE_ERR_NOT_FOUND', `no node ${nodeId} in the cluster`);
      const member = memberId(n.id, n.incarnation);
      const replicas = replicasOnMember(this.meta.state, member);
      if (replicas.length > 0 && !force) {
        throw new JadeError('JADE_ERR_CONFLICT', `node ${nodeId} still holds ${replicas.length} replica${replicas.length > 1 ? 's' : ''} (${replicas.slice(0, 5).map((r) => r.groupId).join(', ')}${replicas.length > 5 ? ', …' : ''}): move them first, or remove it with force=true, which leaves those groups without this replica`, { reason: 'NODE_HOLDS_REPLICAS', replicas: replicas.length });
      }
      if (Object.keys(this.meta.state.nodes).length === 1) throw new JadeError('JADE_ERR_CONFLICT', `node ${nodeId} is the last member of the cluster`, { reason: 'LAST_MEMBER' });
      await this.proposeMeta({ op: 'removeNode', nodeId, incarnation: n.incarnation }, deadlineMs);
      if (force && replicas.length > 0) this.log(`node ${nodeId} removed with force: ${replicas.length} groups run without its replica`);
      return { removed: member, degradedGroups: replicas.map((r) => r.groupId) };
    });
  }

  /** Meta leader: starts a move (move_shard, replicate_shard, drop_replica) or cancels one (abort_transfer). Resolves with the move's id. */
  requestMove(req: MoveApiRequest, deadlineMs: number): Promise<string> {
    return this.onMetaLeader('cluster.move', req, deadlineMs, async () => {
      if (!this.mover) throw new JadeError('JADE_ERR_UNAVAILABLE', 'the meta group is not open yet; retry shortly');
      const shard = this.collectionMeta(req.collection).shards[req.shard];
      if (!shard) throw new JadeError('JADE_ERR_NOT_FOUND', `collection "${req.collection}" has no shard ${req.shard}`);
      if (req.kind === 'abort') {
        // Qdrant's abort_transfer names the transfer; checked here, on the meta leader, where the
        // moves are current (a follower may not have applied the move it names yet).
        const active = activeMoves(this.meta.state).find((m) => m.groupId === shard.groupId);
        const node = (m: string | null) => (m === null ? null : nodeOfMember(m));
        // (A replicate_shard records no source: the target copies from the leader, whichever node names it.)
        if (active && ((req.from !== null && active.from !== null && node(active.from) !== req.from) || (req.to !== null && node(active.to) !== req.to))) {
          throw new JadeError('JADE_ERR_NOT_FOUND', `no transfer of shard ${req.shard} from ${req.from ?? '-'} to ${req.to ?? '-'}: the move in progress (${active.id}) is from ${node(active.from) ?? '-'} to ${node(active.to) ?? '-'}`);
        }
        return this.mover.cancel(shard.groupId);
      }
      const member = (nodeId: string | null) => (nodeId === null ? null : this.meta.memberOf(nodeId) ?? (() => { throw new JadeError('JADE_ERR_NOT_FOUND', `no peer ${nodeId} in the cluster`); })());
      const from = member(req.from);
      if (req.kind === 'replicate' && from !== null && !shard.replicas.includes(from)) throw new JadeError('JADE_ERR_NOT_FOUND', `peer ${req.from} holds no replica of shard ${req.shard}`);
      return this.mover.request({ collection: req.collection, groupId: shard.groupId, from: req.kind === 'replicate' ? null : from, to: member(req.to) });
    });
  }

  /**
   * Meta leader: the rebalance plan, and unless `dryRun` starts it (or with `stop`, starts no
   * further moves of the one running). Answers the rebalance record and the plan as they are then.
   */
  rebalance(req: { dryRun: boolean; stop: boolean }, deadlineMs: number): Promise<RebalanceReport> {
    return this.onMetaLeader('cluster.rebalance', req, deadlineMs, async () => {
      if (!this.mover) throw new JadeError('JADE_ERR_UNAVAILABLE', 'the meta group is not open yet; retry shortly');
      if (req.stop) await this.mover.stopRebalance('stopped by request');
      else if (!req.dryRun) await this.mover.startRebalance('requested');
      return this.rebalanceReport();
    });
  }

  /** The last rebalance and the plan from here, as this node's meta state knows them. */
  rebalanceReport(): RebalanceReport {
    return { rebalance: this.meta.state.rebalance ?? null, plan: planRebalance(this.meta.state) };
  }

  /**
   * Meta leader: declares a silent node dead now, without waiting for the dead time (the operator,
   * for a pod NotReady past its timeout). Refused with 409 NODE_ALIVE while the meta leader still
   * hears it: the failure detector would declare it alive again at once.
   */
  declareDead(nodeId: string, deadlineMs: number): Promise<{ node: string; dead: boolean }> {
    return this.onMetaLeader('cluster.declareDead', { nodeId }, deadlineMs, async () => {
      const n = this.meta.state.nodes[nodeId];
      if (!n) throw new JadeError('JADE_ERR_NOT_FOUND', `no peer ${nodeId} in the cluster`);
      if (nodeId === this.opts.nodeId) throw new JadeError('JADE_ERR_CONFLICT', `${nodeId} leads the meta group: it cannot be declared dead`, { reason: 'NODE_ALIVE' });
      const settings = this.opts.failureDetector ?? FAILURE_DETECTOR_DEFAULTS;
      const silentMs = this.host.silentMs(nodeId);
      if (silentMs < settings.suspectAfterMs) throw new JadeError('JADE_ERR_CONFLICT', `${nodeId} was heard from ${silentMs} ms ago: only a node silent for ${settings.suspectAfterMs} ms (suspect) can be declared dead`, { reason: 'NODE_ALIVE' });
      if (!this.meta.state.deadNodes?.[nodeId]) {
        await this.proposeMeta({ op: 'setNodeDead', nodeId, incarnation: n.incarnation, dead: true, reason: `declared dead by request after ${Math.round(silentMs / 1000)} s of silence`, atMs: Date.now() }, deadlineMs);
        this.log(`node ${nodeId} declared dead by request; its replicas are re-created on other nodes`);
      }
      return { node: nodeId, dead: true };
    });
  }

  /** Meta leader: starts draining a node (idempotent); the drain's state as every node reports it. */
  drain(nodeId: string, deadlineMs: number): Promise<DrainReport> {
    return this.onMetaLeader('cluster.drain', { nodeId }, deadlineMs, async () => {
      if (!this.mover) throw new JadeError('JADE_ERR_UNAVAILABLE', 'the meta group is not open yet; retry shortly');
      await this.mover.drain(nodeId);
      return this.drainReport(nodeId);
    });
  }

  /** A node's drain as this node's meta state knows it. */
  drainReport(nodeId: string): DrainReport {
    const n = this.meta.state.nodes[nodeId];
    if (!n) throw new JadeError('JADE_ERR_NOT_FOUND', `no peer ${nodeId} in the cluster`);
    const d = this.meta.state.drains?.[nodeId];
    const moves = (this.meta.state.moves ?? []).filter((m) => m.drain === nodeId);
    return { node: nodeId, state: d && d.incarnation === n.incarnation ? d.state : null, replicasLeft: replicasOnMember(this.meta.state, memberId(n.id, n.incarnation)).length, movesStarted: d?.moves ?? 0, moves };
  }

  /**
   * The progress of each move as the meta leader last observed it (asked there: only it polls the
   * groups' leaders). Moves it has not observed are absent.
   */
  moveProgress(deadlineMs: number): Promise<Record<string, MoveProgress>> {
    return this.onMetaLeader('cluster.moveProgress', {}, deadlineMs, async () => this.moveProgressHere());
  }

  /** This node's executor's move progress: empty unless it leads the meta group. */
  moveProgressHere(): Record<string, MoveProgress> {
    return this.mover?.progressAll() ?? {};
  }

  /** Moves in flight and recently finished (every node's meta state has them). */
  moves(): MoveRecord[] {
    return [...(this.meta.state.moves ?? [])];
  }

  // ---- collections ----

  names(): string[] {
    return Object.keys(this.meta.state.collections).sort();
  }

  has(name: string): boolean {
    return name in this.meta.state.collections;
  }

  collectionMeta(name: string): CollectionMeta {
    const c = this.meta.state.collections[name];
    if (!c) {
      this.assertMetaCaughtUp();
      throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${name}" does not exist`);
    }
    return c;
  }

  /** A 503 while this node's meta state may still lack what the cluster has (see awaitMetaCaughtUp). */
  assertMetaCaughtUp(): void {
    if (!this.metaCaughtUp) throw new JadeError('JADE_ERR_UNAVAILABLE', `node ${this.opts.nodeId} is still catching up with the cluster's metadata; retry shortly`);
  }

  /** This node's replica of a shard group, when it holds one and it is open. */
  localReplica(groupId: string): LocalShardReplica | undefined {
    const sm = this.shards.get(groupId);
    const group = this.host.get(groupId);
    return sm && group ? { sm, group } : undefined;
  }

  /** gRPC address of a node (for the collection layer's remote reads). */
  nodeAddress(nodeId: string): string | undefined {
    return this.addressOf(nodeId);
  }

  /** The node believed to lead a group. */
  leaderOf(groupId: string): string | undefined {
    return this.router.leaderOf(groupId);
  }

  noteLeader(groupId: string, nodeId: string | undefined): void {
    this.router.noteLeader(groupId, nodeId);
  }

  /** A group's leader as this node sees it, else as its replicas report it (asked in turn until the deadline). */
  async findLeader(groupId: string, deadlineMs: number): Promise<string | null> {
    // A local replica that knows no leader may be a move's target not yet added (an empty group that
    // hears from nobody): ask the placed replicas then, as a node without a replica does.
    const local = this.host.get(groupId);
    if (local?.leaderMember) return nodeOfMember(local.leaderMember);
    for (const nodeId of this.replicaNodesOf(groupId)) {
      if (local && nodeId === this.opts.nodeId) continue;
      const address = this.addressOf(nodeId);
      if (!address || Date.now() >= deadlineMs) continue;
      try {
        const s = (await this.rpc.call(address, 'group.status', { json: { groupId } }, Math.min(deadlineMs, Date.now() + 1_000))).json as GroupStatus;
        if (s.leader) {
          this.router.noteLeader(groupId, s.leader);
          return s.leader;
        }
      } catch {
        // that replica is down or has not opened the group: ask the next
      }
    }
    return null;
  }

  nodeLabels(nodeId: string): Record<string, string> {
    return this.meta.state.nodes[nodeId]?.labels ?? {};
  }

  get labels(): Record<string, string> {
    return this.opts.labels ?? {};
  }

  /** Members that may hold new replicas: every node's current incarnation. */
  private placementMembers(): string[] {
    return Object.values(this.meta.state.nodes)
      .map((n) => memberId(n.id, n.incarnation))
      .sort();
  }

  async create(name: string, params: CollectionParams, options: { shardNumber?: number; replicationFactor?: number; writeConsistency?: WriteConsistency } = {}): Promise<void> {
    validateCollectionName(name);
    validateParams(params);
    if (this.has(name)) throw new JadeError('JADE_ERR_COLLECTION_EXISTS', `collection "${name}" already exists`);
    const members = this.placementMembers();
    const shardNumber = options.shardNumber ?? this.opts.defaults.shardNumber;
    // A fixed member set (JADE_PEERS) counts its configured size: the default must not depend on
    // how many peers had joined when the first collection was created.
    const clusterSize = Math.max(members.length, this.opts.peers.length);
    const rf = options.replicationFactor ?? this.opts.defaults.replicationFactor ?? Math.min(3, clusterSize);
    if (rf > members.length && rf <= clusterSize) {
      throw new JadeError('JADE_ERR_UNAVAILABLE', `the cluster is still forming (${members.length} of ${clusterSize} configured peers have joined): retry shortly`);
    }
    const load = new Map<string, MemberLoad>();
    for (const c of Object.values(this.meta.state.collections)) {
      for (const s of c.shards) {
        s.replicas.forEach((m, i) => {
          const l = load.get(m) ?? { replicas: 0, leaders: 0 };
          l.replicas++;
          if (i === 0) l.leaders++;
          load.set(m, l);
        });
      }
    }
    if (!Number.isInteger(shardNumber) || shardNumber < 1 || shardNumber > 1024) throw new JadeError('JADE_ERR_BAD_REQUEST', 'shard_number must be an integer in 1..1024');
    const placed = placeShards({ members, load, shardNumber, replicationFactor: rf, seed: name });
    const createdAtMs = Date.now();
    const space = 2 ** 32;
    const shards: ShardPlacement[] = placed.map((replicas, i) => ({
      groupId: `c-${name}-${createdAtMs.toString(36)}-s${i}`,
      range: { start: Math.floor((i * space) / shardNumber), end: Math.floor(((i + 1) * space) / shardNumber) },
      founders: replicas,
      replicas,
    }));
    await this.proposeMeta({ op: 'createCollection', collection: { name, params, createdAtMs, replicationFactor: rf, writeConsistency: options.writeConsistency ?? this.opts.defaults.writeConsistency, shards } });
  }

  /** The collection an alias names (as this node's meta state knows it), or the name itself. */
  resolve(name: string): string {
    return this.meta.state.aliases?.[name] ?? name;
  }

  aliases(): { alias: string; collection: string }[] {
    return Object.entries(this.meta.state.aliases ?? {})
      .map(([alias, collection]) => ({ alias, collection }))
      .sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
  }

  /** Alias actions as one meta command: applied all or none on every node. */
  async updateAliases(actions: AliasAction[]): Promise<void> {
    await this.proposeMeta({ op: 'updateAliases', actions });
  }

  /** Changes a collection's default search ef (a meta command; the replicas are not touched). */
  async updateSearchParams(name: string, efSearch: number): Promise<void> {
    await this.proposeMeta({ op: 'updateCollection', name, efSearch });
  }

  async delete(name: string): Promise<boolean> {
    if (!this.has(name)) return false;
    try {
      await this.proposeMeta({ op: 'deleteCollection', name });
    } catch (e) {
      if (isJadeError(e) && e.code === 'JADE_ERR_COLLECTION_NOT_FOUND') return false;
      throw e;
    }
    return true;
  }

  // ---- status ----

  members(): MemberStatus[] {
    const conf = this.metaGroup?.driver.core.confState() ?? { voters: [], learners: [] };
    return Object.values(this.meta.state.nodes)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((n) => {
        const m = memberId(n.id, n.incarnation);
        return {
          id: n.id,
          incarnation: n.incarnation,
          restUrl: n.restUrl,
          grpcAddress: this.announced.get(n.id) ?? n.grpcAddress,
          labels: n.labels,
          metaRole: conf.voters.includes(m) ? 'voter' : conf.learners.includes(m) ? 'learner' : 'none',
          replicas: replicasOnMember(this.meta.state, m).length,
          drain: this.meta.state.drains?.[n.id]?.incarnation === n.incarnation ? this.meta.state.drains[n.id].state : null,
          liveness: n.id === this.opts.nodeId ? 'alive' : livenessOf(this.meta.state, n.id, this.host.silentMs(n.id), this.opts.failureDetector ?? FAILURE_DETECTOR_DEFAULTS),
        };
      });
  }

  groupStatuses(): GroupStatus[] {
    return this.host.all().map((g) => ({ ...g.status(), quiesced: this.host.isQuiesced(g.groupId) }));
  }

  /** Shard groups with a replica on a dead member (as the meta state says), and replicas this node could not open (metrics). */
  replicationHealth(): { underReplicatedGroups: number; lostReplicas: number } {
    return { underReplicatedGroups: underReplicated(this.meta.state).length, lostReplicas: this.lostGroups.size };
  }

  clusterStatus(): Record<string, unknown> {
    const m = this.metaGroup?.status();
    return {
      mode: 'cluster',
      clusterId: this.meta.state.clusterId,
      memberId: this.memberId,
      joined: this.isMember,
      role: m?.role ?? 'none',
      term: m?.term ?? 0,
      metaLeader: m?.leader || null,
      metaVotersMax: META_VOTERS_MAX,
      members: this.members().map((x) => ({ id: x.id, restUrl: x.restUrl, grpcAddress: x.grpcAddress, voter: x.metaRole === 'voter', metaRole: x.metaRole, incarnation: x.incarnation, replicas: x.replicas, drain: x.drain, liveness: x.liveness })),
      groups: this.groupStatuses(),
      lostGroups: [...this.lostGroups.keys()],
      // Shard groups with a replica on a member that left or returned empty (re-replication refills them).
      underReplicated: ((u) => ({ count: u.length, groups: u.slice(0, UNDER_REPLICATED_LISTED_MAX).map((x) => x.groupId) }))(underReplicated(this.meta.state)),
      // The last rebalance as this node knows it (the operator's Progressing reason Rebalancing).
      rebalance: ((r) => (r ? { state: r.state, reason: r.reason, movesStarted: r.moves, movesInFlight: activeMoves(this.meta.state).filter((m) => m.rebalance).length } : null))(this.meta.state.rebalance),
      // The meta leader's last leader-balancing round (null elsewhere, or before the first).
      leaderBalance: this.leaderBalancer?.lastRound ?? null,
      transport: { authenticated: this.transport.authenticated, tls: this.transport.tlsEnabled, droppedForOtherMember: this.host.droppedForOtherMember, ...this.transport.stats() },
    };
  }

  setFaults(spec: Partial<FaultSpec>): void {
    this.transport.setFaults(spec);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Still serving Raft while the leaderships go, so each group elects its successor at once.
    if (this.opts.leaderHandoffMs > 0) {
      const r = await handOffLeaderships(this.host.all(), this.opts.leaderHandoffMs);
      if (r.led > 0) this.log(`shutting down: handed ${r.handedOff} of ${r.led} leaderships to other members${r.noTarget.length ? ` (no caught-up follower for ${r.noTarget.join(', ')})` : ''}`);
    }
    this.closed = true;
    this.duties?.stop();
    this.mover?.stop();
    this.leaderBalancer?.stop();
    if (this.peersWriteTimer) clearTimeout(this.peersWriteTimer);
    for (const sm of this.shards.values()) sm.indexer.stop();
    await this.reconciling.catch(() => undefined);
    await this.host.closeAll();
    this.rpc.close();
    await this.transport.close();
  }
}

/** Whether validateBatch returned the batch's own ids, vectors and payloads, unchanged. */
function unchangedBy(batch: WriteBatch, valid: WriteBatch): boolean {
  return batch.ops.every((op, o) => {
    const v = valid.ops[o];
    if (op.kind === 'upsert' && v.kind === 'upsert') return op.points.every((p, i) => p.id === v.points[i].id && p.vector === v.points[i].vector && p.payload === v.points[i].payload);
    if (op.kind === 'delete' && v.kind === 'delete') return op.ids.every((id, i) => id === v.ids[i]);
    return op === v;
  });
}

/** Whether a batch updates points named by id (payload or vector updates), which must exist. */
function updatesPointsById(batch: WriteBatch): boolean {
  return batch.ops.some((op) => (op.kind === 'set_payload' || op.kind === 'delete_payload' ? 'ids' in op.target : op.kind === 'update_vectors'));
}
