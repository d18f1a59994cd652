// The cluster's database as the API sees it: every node serves every collection, whether or not
// it holds a replica. Each shard is read through one replica, chosen per read: for strong reads
// the leader first (a ReadIndex there costs no extra hop), then any replica (each can serve a
// linearizable read through its own barrier); for eventual reads in the order the read strategy
// gives. A replica that cannot answer is skipped for the next; writes go through each shard
// group's leader at the collection's (or the request's) write consistency.
import type { ClusterNode } from '../cluster/cluster-node.js';
import { nodeOfMember } from '../cluster/identity.js';
import type { CollectionMeta, WriteConsistency } from '../cluster/meta.js';
import { moveRequestOf } from '../cluster/move-requests.js';
import { isActive, isDeclaredDead, type MoveRecord } from '../cluster/moves.js';
import type { DrainReport, RebalanceReport } from '../cluster/cluster-node.js';
import type { CollectionParams } from '../shard/state.js';
import type { PointId } from '../storage/types.js';
import { JadeError } from '../util/errors.js';
import type { ShardCallObserver } from '../util/observers.js';
import { ShardedCollection, type ShardSet } from './collection.js';
import { LocalShardReader } from './local-reader.js';
import { ReplicaSelector, type ReadStrategy, type ReplicaCandidate } from './read-strategy.js';
import { RemoteShardReader, replicaReader, serveShardReads, tryAnotherReplica, type ReplicaReadInfo } from './shard-rpc.js';
import type { AliasAction, AliasRecord, ClusterInfo, Collection, CollectionClusterInfo, CollectionUpdate, CreateOptions, Database, DrainInfo, MoveInfo, MoveProgressInfo, RebalanceInfo, MoveRequest, ReplicaState, Hit, LocalCollectionStats, PayloadSelector, PointOutput, ReadOptions, ScrollPage, ScrollRequest, ShardInfo, ShardReader, ShardSearchRequest } from './types.js';

export interface ClusterDatabaseOptions {
  readStrategy: ReadStrategy;
  observer?: ShardCallObserver;
}

/** Tries the replicas of one shard in order until one answers (or the request itself is wrong). */
class FailoverShardReader implements ShardReader {
  constructor(
    private readonly candidates: () => ShardReader[],
    private readonly shardName: string,
  ) {}

  private async attempt<T>(f: (r: ShardReader) => Promise<T>): Promise<T> {
    let last: unknown = null;
    for (const reader of this.candidates()) {
      try {
        return await f(reader);
      } catch (e) {
        if (!tryAnotherReplica(e)) throw e;
        last = e;
      }
    }
    throw new JadeError('JADE_ERR_UNAVAILABLE', `no replica of ${this.shardName} answered${last instanceof Error ? `: ${last.message}` : ''}`);
  }

  search(requests: ShardSearchRequest[], opts: ReadOptions): Promise<Hit[][]> {
    return this.attempt((r) => r.search(requests, opts));
  }
  retrieve(ids: PointId[], withPayload: PayloadSelector, withVector: boolean, opts: ReadOptions): Promise<PointOutput[]> {
    return this.attempt((r) => r.retrieve(ids, withPayload, withVector, opts));
  }
  scroll(request: ScrollRequest, opts: ReadOptions): Promise<ScrollPage> {
    return this.attempt((r) => r.scroll(request, opts));
  }
  count(filter: unknown, opts: ReadOptions): Promise<number> {
    return this.attempt((r) => r.count(filter, opts));
  }
  info(opts: ReadOptions): Promise<ShardInfo> {
    return this.attempt((r) => r.info(opts));
  }
}

/** Calls `after` once each read of `reader` has answered. */
function observed(reader: ShardReader, after: () => void): ShardReader {
  const wrap = <A extends unknown[], T>(f: (...a: A) => Promise<T>) => async (...a: A): Promise<T> => {
    const out = await f(...a);
    after();
    return out;
  };
  return { search: wrap(reader.search.bind(reader)), retrieve: wrap(reader.retrieve.bind(reader)), scroll: wrap(reader.scroll.bind(reader)), count: wrap(reader.count.bind(reader)), info: wrap(reader.info.bind(reader)) };
}

/** Counts a call in the selector's per-node statistics. */
function counted(selector: ReplicaSelector, nodeId: string, reader: ShardReader): ShardReader {
  const wrap = <A extends unknown[], T>(f: (...a: A) => Promise<T>) => async (...a: A): Promise<T> => {
    const end = selector.begin(nodeId);
    try {
      return await f(...a);
    } finally {
      end();
    }
  };
  return { search: wrap(reader.search.bind(reader)), retrieve: wrap(reader.retrieve.bind(reader)), scroll: wrap(reader.scroll.bind(reader)), count: wrap(reader.count.bind(reader)), info: wrap(reader.info.bind(reader)) };
}

export class ClusterDatabase implements Database {
  readonly mode = 'cluster' as const;
  readonly selector: ReplicaSelector;

  constructor(readonly node: ClusterNode, private readonly opts: ClusterDatabaseOptions) {
    this.selector = new ReplicaSelector({ labels: node.labels });
    serveShardReads(node);
  }

  names(): string[] {
    // The list a client sees is the cluster's: not a partial one while this node catches up.
    this.node.assertMetaCaughtUp();
    return this.node.names();
  }

  has(name: string): boolean {
    return this.node.has(name);
  }

  private replicaOrder(meta: CollectionMeta, shard: number, opts: ReadOptions): ReplicaCandidate[] {
    const placement = meta.shards[shard];
    const candidates = placement.replicas.map((m) => {
      const nodeId = nodeOfMember(m);
      return { nodeId, local: nodeId === this.node.nodeId && this.node.localReplica(placement.groupId) !== undefined, labels: this.node.nodeLabels(nodeId) };
    });
    if (opts.consistency === 'strong') {
      // The leader first (its barrier is a heartbeat round), then the local replica, then the rest.
      const leader = this.node.leaderOf(placement.groupId);
      const rank = (c: ReplicaCandidate) => (c.nodeId === leader ? 0 : c.local ? 1 : 2);
      return this.selector.order(placement.groupId, candidates, 'round-robin').sort((a, b) => rank(a) - rank(b));
    }
    return this.selector.order(placement.groupId, candidates, opts.readStrategy ?? this.opts.readStrategy);
  }

  private readerFor(meta: CollectionMeta, shard: number, opts: ReadOptions): ShardReader {
    const placement = meta.shards[shard];
    const observe = (info: ReplicaReadInfo) => opts.observeReplica?.(shard, info);
    return new FailoverShardReader(
      () =>
        this.replicaOrder(meta, shard, opts).map((c) => {
          const local = c.nodeId === this.node.nodeId ? this.node.localReplica(placement.groupId) : undefined;
          if (local) return counted(this.selector, c.nodeId, observed(replicaReader(local), () => {
            const st = local.group.driver.core.basicStatus();
            observe({ nodeId: c.nodeId, applied: st.applied, commit: st.commit });
          }));
          return counted(this.selector, c.nodeId, new RemoteShardReader(this.node, c.nodeId, placement.groupId, meta.params.dimension, observe));
        }),
      `shard ${shard} of "${meta.name}"`,
    );
  }

  resolve(name: string): string {
    return this.node.resolve(name);
  }

  collection(alias: string): Collection {
    const name = this.node.resolve(alias);
    const meta = this.node.collectionMeta(name);
    const set: ShardSet = {
      name,
      params: meta.params,
      createdAtMs: meta.createdAtMs,
      replicationFactor: meta.replicationFactor,
      ranges: meta.shards.map((s) => s.range),
      reader: (index, opts) => this.readerFor(meta, index, opts),
      write: (index, batch, opts) => this.node.writeShard(meta.shards[index].groupId, batch, (opts.consistency ?? meta.writeConsistency) as WriteConsistency, opts.deadlineMs),
      observer: this.opts.observer,
    };
    return new ShardedCollection(set);
  }

  async create(name: string, params: CollectionParams, options: CreateOptions = {}): Promise<void> {
    await this.node.create(name, params, { shardNumber: options.shardNumber, replicationFactor: options.replicationFactor, writeConsistency: options.writeConsistency });
  }

  delete(name: string): Promise<boolean> {
    return this.node.delete(name);
  }

  async update(name: string, update: CollectionUpdate): Promise<void> {
    const real = this.node.resolve(name);
    if (!this.node.has(real)) throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${name}" does not exist`);
    if (update.efSearch !== undefined) await this.node.updateSearchParams(real, update.efSearch);
  }

  aliases(): AliasRecord[] {
    return this.node.aliases();
  }

  updateAliases(actions: AliasAction[]): Promise<void> {
    return this.node.updateAliases(actions);
  }

  clusterStatus(): Record<string, unknown> {
    return this.node.clusterStatus();
  }

  localStats(): LocalCollectionStats[] {
    return this.node.names().map((name) => {
      const meta = this.node.collectionMeta(name);
      let points = 0;
      let indexBacklog = 0;
      let memoryBytes = 0;
      let walBytes = 0;
      let any = false;
      for (const s of meta.shards) {
        const local = this.node.localReplica(s.groupId);
        if (!local) continue;
        any = true;
        const state = local.sm.state;
        const m = state.memoryBytes();
        points += state.count;
        indexBacklog += state.indexBacklog;
        memoryBytes += m.vectors + m.index;
        walBytes += local.group.storage.walSizeBytes();
      }
      return any
        ? { name, dimension: meta.params.dimension, metric: meta.params.metric, points, indexBacklog, memoryBytes, walBytes }
        : { name, dimension: meta.params.dimension, metric: meta.params.metric, points: null, indexBacklog: null, memoryBytes: null, walBytes: null };
    });
  }

  setFaults(spec: Record<string, unknown>): void {
    this.node.setFaults(spec);
  }

  clusterInfo(): ClusterInfo {
    const status = this.node.clusterStatus() as { clusterId: string | null; metaLeader: string | null; term: number; role: string };
    const meta = this.node.groupStatuses().find((g) => g.groupId === 'meta');
    return { nodeId: this.node.nodeId, clusterId: status.clusterId, metaLeader: status.metaLeader, term: status.term, commit: meta?.commit ?? 0, role: status.role, members: this.node.members() };
  }

  async collectionClusterInfo(name: string, deadlineMs: number): Promise<CollectionClusterInfo> {
    const meta = this.node.collectionMeta(name);
    const nodes = this.node.meta.state.nodes;
    const leaders = await Promise.all(meta.shards.map((s) => this.node.findLeader(s.groupId, deadlineMs)));
    return {
      name,
      shards: meta.shards.map((s, shard) => ({
        shard,
        groupId: s.groupId,
        range: s.range,
        leader: leaders[shard],
        replicas: s.replicas.map((member) => {
          const nodeId = nodeOfMember(member);
          const current = nodes[nodeId];
          const isCurrent = current !== undefined && `${current.id}#${current.incarnation}` === member;
          const local = nodeId === this.node.nodeId ? this.node.localReplica(s.groupId) : undefined;
          const state: ReplicaState = !isCurrent || isDeclaredDead(this.node.meta.state, nodeId) ? 'dead' : nodeId === this.node.nodeId && this.node.lostGroups.has(s.groupId) ? 'lost' : 'active';
          return { nodeId, member, state, local: local !== undefined, points: local ? local.sm.state.count : null, role: local ? local.group.driver.core.basicStatus().role : null };
        }),
      })),
    };
  }

  removePeer(nodeId: string, force: boolean, deadlineMs: number): Promise<{ removed: string; degradedGroups: string[] }> {
    return this.node.removePeer(nodeId, force, deadlineMs);
  }

  bootstrapCluster(): Promise<{ clusterId: string; nodeId: string; incarnation: string }> {
    return this.node.bootstrapOnRequest();
  }

  requestMove(req: MoveRequest, deadlineMs: number): Promise<string> {
    const checked = moveRequestOf(req);
    return this.node.requestMove(checked, deadlineMs);
  }

  async drainPeer(nodeId: string, deadlineMs: number): Promise<DrainInfo> {
    return this.drainInfoOf(await this.node.drain(nodeId, deadlineMs));
  }

  drainStatus(nodeId: string): DrainInfo {
    return this.drainInfoOf(this.node.drainReport(nodeId));
  }

  declarePeerDead(nodeId: string, deadlineMs: number): Promise<{ node: string; dead: boolean }> {
    return this.node.declareDead(nodeId, deadlineMs);
  }

  async rebalance(req: { dryRun: boolean; stop: boolean }, deadlineMs: number): Promise<RebalanceInfo> {
    return this.rebalanceInfoOf(await this.node.rebalance(req, deadlineMs));
  }

  rebalanceStatus(): RebalanceInfo {
    return this.rebalanceInfoOf(this.node.rebalanceReport());
  }

  private rebalanceInfoOf(r: RebalanceReport): RebalanceInfo {
    return {
      last: r.rebalance,
      plan: { moves: r.plan.moves.map((m) => ({ collection: m.collection, shard: m.shard, from: nodeOfMember(m.from), to: nodeOfMember(m.to) })), before: r.plan.before, after: r.plan.after },
      inFlight: this.node.moves().filter((m) => m.rebalance && isActive(m)).map((m) => this.moveInfoOf(m)),
    };
  }

  moves(): MoveInfo[] {
    return this.node.moves().map((m) => this.moveInfoOf(m));
  }

  moveProgress(deadlineMs: number): Promise<Record<string, MoveProgressInfo>> {
    return this.node.moveProgress(deadlineMs);
  }

  private drainInfoOf(r: DrainReport): DrainInfo {
    return { node: r.node, state: r.state, replicasLeft: r.replicasLeft, movesStarted: r.movesStarted, moves: r.moves.map((m) => this.moveInfoOf(m)) };
  }

  private moveInfoOf(m: MoveRecord): MoveInfo {
    const shards = this.node.meta.state.collections[m.collection]?.shards ?? [];
    const shard = shards.findIndex((s) => s.groupId === m.groupId);
    return {
      id: m.id,
      collection: m.collection,
      shard: shard >= 0 ? shard : null,
      groupId: m.groupId,
      from: m.from === null ? null : nodeOfMember(m.from),
      to: m.to === null ? null : nodeOfMember(m.to),
      stage: m.stage,
      finished: !isActive(m),
      drain: m.drain,
      reason: m.reason,
      verified: m.verified ?? null,
      startedAtMs: m.startedAtMs,
      updatedAtMs: m.updatedAtMs,
    };
  }
}

export { LocalShardReader };
