// A node of a Raft cluster: hosts the meta group (every initial member a voter) and the shard
// groups placed on it, drives them from one tick timer, routes transport messages by group, and
// implements the API's CollectionsBackend: writes go through the shard group's leader
// (forwarded over HTTP when it is elsewhere), strong reads pass a ReadIndex barrier.
// Every group runs on the Raft package's RaftDriver + FileRaftStorage (node/src/raft/README.md);
// this file adds what the cluster needs on top: apply results back to the proposer, proposal and
// read deadlines, and the gRPC transport (MsgSnap as a snapshot stream).
import path from 'node:path';
import { RAFT_COMPACTION_LAG_BYTES_DEFAULT, RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT, RaftDriver, type RaftStateMachine } from '../raft/driver.js';
import { FileRaftStorage } from '../raft/file-storage.js';
import type { Entry, Message, NodeId } from '../raft/types.js';
import type { ShardLimits, CollectionParams } from '../shard/state.js';
import { validateParams } from '../shard/state.js';
import { validateCollectionName } from '../shard/collection-name.js';
import type { Disk } from '../storage/disk.js';
import { encodeWriteBatch } from '../storage/codec.js';
import type { WriteBatch } from '../storage/types.js';
import type { WalOptions } from '../storage/wal.js';
import { JadeError, isJadeError, type ErrorCode } from '../util/errors.js';
import type { CollectionView, CollectionsBackend, CreateOptions, ReadConsistency } from './backend.js';
import { MetaStateMachine, encodeMetaCommand, placeReplicas, unwrapMetaResult, type MetaCommand } from './meta.js';
import { decodeMessage, decodeSnapshotMeta, encodeMessage, encodeMessageParts, encodeSnapshotMeta } from './raft-codec.js';
import { ShardStateMachine } from './shard-sm.js';
import { GrpcRaftTransport } from './transport/grpc-transport.js';
import type { FaultSpec } from './transport/types.js';

export const META_GROUP = 'meta';
/** Room for a MsgApp's own fields and the transport's framing around one entry's data. */
const ENTRY_FRAMING_BYTES_MAX = 64 * 1024;
/** Each group's Raft storage lives in <dataDir>/groups/<groupId>. */
const GROUPS_DIR = 'groups';
/** Under a shard group's directory: the HNSW graph files written beside this replica's own snapshots. */
const GRAPH_DIR = 'graph';

export interface RaftGroupOptions {
  /** How long a proposal may wait to be applied before its outcome is reported unknown. */
  proposalTimeoutMs: number;
  readTimeoutMs: number;
  /** Take a snapshot and compact once this many entries were applied since the last one... */
  snapshotEveryEntries: number;
  /** ... or this many bytes of entries (the log since the last compaction is also held in memory). */
  snapshotEveryBytes: number;
  /** Entries kept behind a snapshot so slightly slow followers catch up from the log... */
  retainEntries: number;
  /** ... at most this many bytes of them. */
  retainBytes: number;
  /** Proposals waiting at once, and reads waiting at once (429 past it). */
  waitersMax: number;
}

export const RAFT_GROUP_DEFAULTS: RaftGroupOptions = {
  proposalTimeoutMs: 10_000,
  readTimeoutMs: 5_000,
  snapshotEveryEntries: 10_000,
  snapshotEveryBytes: RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT,
  retainEntries: 1_000,
  retainBytes: RAFT_COMPACTION_LAG_BYTES_DEFAULT,
  waitersMax: 10_000,
};

/** A group's state machine as the cluster writes them: synchronous, one entry at a time. */
export interface GroupStateMachine {
  /** Applies one committed normal entry; the result is handed to the proposer. */
  apply(entry: Entry): unknown;
  /**
   * Image of the state after every applied entry (for snapshots). It must capture that state when
   * called; the image may come later (the driver goes on applying entries meanwhile).
   */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  restore(data: Uint8Array): void;
  /** Restores this replica's own stored snapshot at start-up (may use local files it names); default restore(). */
  restoreOwn?(data: Uint8Array): Promise<void>;
}

/** What applying one entry here gave: the local proposer of that entry gets the value or the error. */
type ApplyOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const NOTHING_APPLIED: ApplyOutcome = { ok: true, value: undefined };

/** The driver's state machine contract over a GroupStateMachine; a failing command fails its proposer, not the group. */
function driverStateMachine(sm: GroupStateMachine): RaftStateMachine {
  return {
    apply: (entries) => {
      const outcomes = entries.map((e): ApplyOutcome => {
        // Leader no-op entries and membership changes carry no command.
        if (e.type !== 'normal' || e.data.length === 0) return NOTHING_APPLIED;
        try {
          return { ok: true, value: sm.apply(e) };
        } catch (error) {
          return { ok: false, error };
        }
      });
      return Promise.resolve(outcomes);
    },
    snapshot: () => Promise.resolve(sm.snapshot()),
    restore: (snap) => Promise.resolve(sm.restore(snap.data)),
  };
}

/** Settles like `p`, or rejects with `onTimeout()` after `ms`; a late settlement of `p` is absorbed. */
function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * One Raft group hosted here. Deadlines are enforced around the driver's promises: a proposal
 * that times out stays the driver's waiter for its index (so it can never remove a newer waiter
 * at that index); the driver settles it once the index is applied or overwritten.
 */
class HostedGroup {
  constructor(
    readonly groupId: string,
    readonly driver: RaftDriver,
    readonly storage: FileRaftStorage,
    private readonly options: RaftGroupOptions,
  ) {}

  get isLeader(): boolean {
    return this.driver.core.basicStatus().role === 'leader';
  }

  get leaderId(): NodeId {
    return this.driver.core.basicStatus().lead;
  }

  status() {
    const s = this.driver.core.basicStatus();
    return { groupId: this.groupId, role: s.role, term: s.term, leader: s.lead, commit: s.commit, applied: s.applied, lastIndex: s.lastIndex, conf: this.driver.core.confState() };
  }

  /** Proposes one command; resolves with the state machine's result once applied here. */
  async propose(data: Uint8Array): Promise<unknown> {
    const applied = await withDeadline(
      this.driver.propose([data]),
      this.options.proposalTimeoutMs,
      () => new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: proposal not applied within ${this.options.proposalTimeoutMs} ms; its outcome is unknown`),
    );
    const outcome = (applied.result as ApplyOutcome | undefined) ?? NOTHING_APPLIED;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** Linearizable read barrier: resolves once this replica applied everything committed before the call. */
  async readBarrier(): Promise<void> {
    await withDeadline(
      this.driver.readIndex(),
      this.options.readTimeoutMs,
      () => new JadeError('JADE_ERR_UNAVAILABLE', `group ${this.groupId}: no quorum confirmed the read within ${this.options.readTimeoutMs} ms`),
    );
  }

  async close(): Promise<void> {
    await this.driver.stop();
    await this.storage.close();
  }
}

export interface ClusterPeer {
  id: string;
  grpcAddress: string;
  restUrl: string;
}

export interface ClusterOptions {
  nodeId: string;
  dataDir: string;
  /** Every initial member, this node included: they bootstrap the meta group as voters. */
  peers: ClusterPeer[];
  grpcListenAddress: string;
  clusterName: string;
  apiKey: string | null;
  tickIntervalMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  wal: WalOptions;
  shardLimits: ShardLimits;
  group: RaftGroupOptions;
  /** How long a write may wait for a leader (elections, forwarding) before 503. */
  leaderWaitMs: number;
  faultHooksEnabled: boolean;
  log?: (line: string) => void;
}

export const CLUSTER_DEFAULTS = {
  tickIntervalMs: 50,
  electionTicks: 10,
  heartbeatTicks: 1,
  leaderWaitMs: 5_000,
  group: RAFT_GROUP_DEFAULTS,
};

class SeededRandom {
  constructor(private state: number) {}
  nextInt(maxExclusive: number): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state % maxExclusive;
  }
}

interface ShardReplica {
  group: HostedGroup;
  sm: ShardStateMachine;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class ClusterNode implements CollectionsBackend {
  readonly mode = 'cluster' as const;
  private readonly meta = new MetaStateMachine();
  private metaGroup!: HostedGroup;
  private readonly shards = new Map<string, ShardReplica>();
  private readonly opening = new Set<string>();
  private tickTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly transport: GrpcRaftTransport;

  /**
   * The largest entry a write may propose. A larger one would be dropped by the transport at every
   * send (the group stalls behind it forever) or refused by the WAL (the group stops).
   */
  readonly entryBytesMax: number;

  private constructor(private readonly disk: Disk, private readonly opts: ClusterOptions) {
    this.transport = new GrpcRaftTransport({ nodeId: opts.nodeId, listenAddress: opts.grpcListenAddress, clusterId: opts.clusterName, faultHooksEnabled: opts.faultHooksEnabled });
    this.entryBytesMax = Math.min(this.transport.messageBytesMax, opts.wal.recordSizeBytesMax) - ENTRY_FRAMING_BYTES_MAX;
  }

  private checkEntrySize(data: Uint8Array): void {
    if (data.length > this.entryBytesMax) {
      throw new JadeError('JADE_ERR_PAYLOAD_TOO_LARGE', `this write encodes to ${data.length} bytes; one replicated write holds at most ${this.entryBytesMax}: send it in smaller batches`);
    }
  }

  static async start(disk: Disk, opts: ClusterOptions): Promise<ClusterNode> {
    const node = new ClusterNode(disk, opts);
    await node.transport.start();
    node.transport.setPeers(new Map(opts.peers.filter((p) => p.id !== opts.nodeId).map((p) => [p.id, p.grpcAddress])));
    node.transport.onMessage((_from, groupId, bytes) => {
      let m: Message;
      try {
        m = decodeMessage(bytes);
      } catch {
        return; // a malformed frame is dropped like a lost message
      }
      node.groupOf(groupId)?.driver.step(m);
    });
    node.transport.onSnapshot(async (_from, groupId, metaBytes, data) => {
      const { message, snapMeta } = splitSnapshotHeader(metaBytes);
      message.snapshot = { meta: snapMeta, data };
      const group = node.groupOf(groupId);
      if (!group) throw new JadeError('JADE_ERR_NOT_FOUND', `no group ${groupId} here yet`);
      group.driver.step(message);
    });
    // Like etcd's ReportUnreachable: leaders stop streaming optimistically to a dead peer and probe.
    node.transport.onPeerUnreachable((peerId) => {
      node.metaGroup?.driver.reportUnreachable(peerId);
      for (const s of node.shards.values()) s.group.driver.reportUnreachable(peerId);
    });
    node.metaGroup = await node.openGroup(META_GROUP, opts.peers.map((p) => p.id), node.meta);
    node.meta.onChange(() => void node.reconcileShards());
    // The meta state restored from a stored snapshot changed before the listener existed.
    void node.reconcileShards();
    node.tickTimer = setInterval(() => node.tick(), opts.tickIntervalMs);
    // Publish our addresses in the meta state once a leader exists (idempotent).
    void node.registerSelf();
    return node;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private groupDir(groupId: string): string {
    return path.join(this.opts.dataDir, GROUPS_DIR, groupId);
  }

  /**
   * Opens a group from its directory (founding it with `voters` when the directory is new) and
   * restores the state machine from the stored snapshot; the driver replays the log after it.
   */
  private async openGroup(groupId: string, voters: string[], sm: GroupStateMachine): Promise<HostedGroup> {
    const storage = await FileRaftStorage.open({ disk: this.disk, dir: this.groupDir(groupId), bootstrap: { voters, learners: [] }, wal: this.opts.wal });
    const snap = storage.snapshot();
    if (snap && snap.data.length > 0) {
      if (sm.restoreOwn) await sm.restoreOwn(snap.data);
      else sm.restore(snap.data);
    }
    const seed = [...`${this.opts.nodeId}/${groupId}`].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0, 2166136261);
    let driver: RaftDriver | null = null;
    driver = new RaftDriver({
      core: {
        id: this.opts.nodeId,
        groupId,
        random: new SeededRandom(seed || 1),
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        preVote: true,
        checkQuorum: true,
        logger: (line) => this.log(`[${groupId}] ${line}`),
      },
      storage,
      transport: { send: (messages) => this.sendGroupMessages(groupId, messages, () => driver) },
      stateMachine: driverStateMachine(sm),
      snapshotEveryEntries: this.opts.group.snapshotEveryEntries,
      snapshotEveryBytes: this.opts.group.snapshotEveryBytes,
      compactionLagEntries: this.opts.group.retainEntries,
      compactionLagBytes: this.opts.group.retainBytes,
      maxPendingProposals: this.opts.group.waitersMax,
      maxPendingReads: this.opts.group.waitersMax,
      onFatal: (e) => this.log(`[${groupId}] stopped after a storage or state machine failure: ${String(e)}`),
    });
    return new HostedGroup(groupId, driver, storage, this.opts.group);
  }

  /** Raft messages go as transport frames; a MsgSnap goes as a snapshot stream whose outcome is reported to the core. */
  private sendGroupMessages(groupId: string, messages: Message[], driverOf: () => RaftDriver | null): void {
    for (const m of messages) {
      if (m.type !== 'MsgSnap') {
        this.transport.send(m.to, groupId, encodeMessageParts(m));
        continue;
      }
      this.transport.sendSnapshot(m.to, groupId, joinSnapshotHeader(m), m.snapshot!.data).then(
        () => driverOf()?.reportSnapshot(m.to, true),
        () => driverOf()?.reportSnapshot(m.to, false),
      );
    }
  }

  private groupOf(groupId: string): HostedGroup | undefined {
    return groupId === META_GROUP ? this.metaGroup : this.shards.get(groupId)?.group;
  }

  private tick(): void {
    this.metaGroup.driver.tick();
    for (const s of this.shards.values()) s.group.driver.tick();
  }

  private async registerSelf(): Promise<void> {
    const self = this.opts.peers.find((p) => p.id === this.opts.nodeId);
    if (!self) return;
    while (!this.closed) {
      const known = this.meta.state.nodes[self.id];
      if (known && known.restUrl === self.restUrl && known.grpcAddress === self.grpcAddress) return;
      try {
        await this.proposeMeta({ op: 'setNode', node: { id: self.id, restUrl: self.restUrl, grpcAddress: self.grpcAddress } });
        return;
      } catch {
        await sleep(200);
      }
    }
  }

  /** Opens the shard groups the meta state places here, and closes those of deleted collections. */
  private async reconcileShards(): Promise<void> {
    const wanted = new Map<string, { params: CollectionParams; replicas: string[] }>();
    for (const c of Object.values(this.meta.state.collections)) {
      for (const s of c.shards) if (s.replicas.includes(this.opts.nodeId)) wanted.set(s.groupId, { params: c.params, replicas: s.replicas });
    }
    for (const [groupId, w] of wanted) {
      if (this.shards.has(groupId) || this.opening.has(groupId) || this.closed) continue;
      this.opening.add(groupId);
      try {
        const graphDir = path.join(this.groupDir(groupId), GRAPH_DIR);
        await this.disk.mkdirp(graphDir);
        const sm = new ShardStateMachine(w.params, this.opts.shardLimits, { disk: this.disk, dir: graphDir, log: (line) => this.log(`${groupId}: ${line}`) });
        const group = await this.openGroup(groupId, w.replicas, sm);
        if (this.closed) {
          await group.close();
          return;
        }
        this.shards.set(groupId, { group, sm });
        sm.onGraphCaughtUp = () => group.driver.requestSnapshot();
        // The first replica campaigns at once so a new collection gets a leader without waiting a timeout.
        if (w.replicas[0] === this.opts.nodeId && group.storage.lastIndex() <= 1) group.driver.campaign();
      } finally {
        this.opening.delete(groupId);
      }
    }
    for (const [groupId, replica] of this.shards) {
      if (wanted.has(groupId)) continue;
      this.shards.delete(groupId);
      replica.sm.indexer.stop();
      await replica.group.close();
      await this.disk.removeAll(this.groupDir(groupId));
    }
  }

  // ---- proposals, with forwarding to the leader ----

  /** Proposes to a group: here when this node leads it, else at its leader over HTTP; retries while no leader is known. */
  private async proposeTo(groupId: string, data: Uint8Array): Promise<unknown> {
    const deadline = Date.now() + this.opts.leaderWaitMs;
    let lastError: unknown = null;
    while (Date.now() < deadline && !this.closed) {
      const group = this.groupOf(groupId);
      if (group?.isLeader) {
        try {
          return await group.propose(data);
        } catch (e) {
          // Not leader any more, or the entry was replaced: not applied, so trying again is safe.
          if (isJadeError(e) && e.code === 'JADE_ERR_NOT_LEADER') {
            lastError = e;
            await sleep(50);
            continue;
          }
          throw e;
        }
      }
      const leaderId = group?.leaderId;
      const leader = leaderId ? this.meta.state.nodes[leaderId] ?? this.opts.peers.find((p) => p.id === leaderId) : undefined;
      if (leader && leaderId !== this.opts.nodeId) {
        const r = await this.forward(leader.restUrl, groupId, data);
        if (r.retry) {
          lastError = r.error;
          await sleep(50);
          continue;
        }
        return r.result;
      }
      await sleep(50);
    }
    if (isJadeError(lastError)) throw new JadeError('JADE_ERR_UNAVAILABLE', `no leader accepted the write for ${groupId} within ${this.opts.leaderWaitMs} ms: ${lastError.message}`);
    throw new JadeError('JADE_ERR_UNAVAILABLE', `no leader for ${groupId} within ${this.opts.leaderWaitMs} ms`);
  }

  private async forward(restUrl: string, groupId: string, data: Uint8Array): Promise<{ retry: boolean; result?: unknown; error?: unknown }> {
    let res: Response;
    try {
      res = await fetch(`${restUrl}/internal/v1/groups/${encodeURIComponent(groupId)}/propose`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', ...(this.opts.apiKey ? { 'api-key': this.opts.apiKey } : {}) },
        body: data,
        signal: AbortSignal.timeout(this.opts.group.proposalTimeoutMs + 1_000),
      });
    } catch (e) {
      // Connection refused before sending is safe to retry; anything later has an unknown outcome.
      const code = (e as { cause?: { code?: string } }).cause?.code;
      if (code === 'ECONNREFUSED') return { retry: true, error: new JadeError('JADE_ERR_NOT_LEADER', `leader at ${restUrl} unreachable`) };
      throw new JadeError('JADE_ERR_UNAVAILABLE', `forwarding to the leader at ${restUrl} failed; the outcome is unknown`);
    }
    const json = (await res.json().catch(() => ({}))) as { result?: unknown; status?: { code?: ErrorCode; error?: string } };
    if (res.ok) return { retry: false, result: json.result };
    const code = json.status?.code ?? 'JADE_ERR_UNAVAILABLE';
    const error = new JadeError(code, json.status?.error ?? `HTTP ${res.status}`);
    if (code === 'JADE_ERR_NOT_LEADER') return { retry: true, error };
    throw error;
  }

  /** The internal endpoint behind forwarding: propose here, only if this node leads the group. */
  async proposeLocal(groupId: string, data: Uint8Array): Promise<unknown> {
    this.checkEntrySize(data);
    const group = this.groupOf(groupId);
    if (!group) throw new JadeError('JADE_ERR_NOT_LEADER', `group ${groupId} is not hosted here`);
    return group.propose(data);
  }

  private async proposeMeta(c: MetaCommand): Promise<void> {
    unwrapMetaResult(await this.proposeTo(META_GROUP, encodeMetaCommand(c)));
  }

  // ---- CollectionsBackend ----

  names(): string[] {
    return Object.keys(this.meta.state.collections).sort();
  }

  has(name: string): boolean {
    return name in this.meta.state.collections;
  }

  async create(name: string, params: CollectionParams, options: CreateOptions = {}): Promise<void> {
    validateCollectionName(name);
    validateParams(params);
    if (this.has(name)) throw new JadeError('JADE_ERR_COLLECTION_EXISTS', `collection "${name}" already exists`);
    const nodeIds = this.opts.peers.map((p) => p.id);
    const rf = options.replicationFactor ?? Math.min(3, nodeIds.length);
    if (!Number.isInteger(rf) || rf < 1 || rf > nodeIds.length) throw new JadeError('JADE_ERR_BAD_REQUEST', `replication_factor must be in 1..${nodeIds.length} (the cluster's size)`);
    const createdAtMs = Date.now();
    await this.proposeMeta({ op: 'createCollection', collection: { name, params, createdAtMs, shards: [{ groupId: `c-${name}-${createdAtMs.toString(36)}-s0`, replicas: placeReplicas(name, nodeIds, rf) }] } });
  }

  /** Replicas of each of the collection's shards (0 when there is no such collection). */
  replicationFactorOf(name: string): number {
    return this.meta.state.collections[name]?.shards[0]?.replicas.length ?? 0;
  }

  async delete(name: string): Promise<boolean> {
    if (!this.has(name)) return false;
    await this.proposeMeta({ op: 'deleteCollection', name });
    return true;
  }

  private shardOf(name: string): { groupId: string; replica: ShardReplica | undefined } {
    const c = this.meta.state.collections[name];
    if (!c) throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${name}" does not exist`);
    const groupId = c.shards[0].groupId;
    return { groupId, replica: this.shards.get(groupId) };
  }

  async write(name: string, batch: WriteBatch): Promise<number> {
    const { groupId, replica } = this.shardOf(name);
    // Validate against our replica when we have one; the leader applies exactly these bytes.
    const valid = replica ? replica.sm.state.validateBatch(batch) : batch;
    const data = encodeWriteBatch(valid);
    this.checkEntrySize(data);
    return (await this.proposeTo(groupId, data)) as number;
  }

  async read(name: string, consistency: ReadConsistency): Promise<CollectionView> {
    const { replica } = this.shardOf(name);
    if (!replica) throw new JadeError('JADE_ERR_UNAVAILABLE', `no replica of "${name}" on this node; query a node that holds one`);
    if (consistency === 'strong') {
      const deadline = Date.now() + this.opts.leaderWaitMs;
      for (;;) {
        try {
          await replica.group.readBarrier();
          break;
        } catch (e) {
          // No leader known yet: elections take a moment; give up only at the deadline.
          if (!(isJadeError(e) && e.code === 'JADE_ERR_NOT_LEADER') || Date.now() > deadline) throw e;
          await sleep(50);
        }
      }
    }
    return this.view(name);
  }

  view(name: string): CollectionView {
    const c = this.meta.state.collections[name];
    const { replica } = this.shardOf(name);
    if (!replica) throw new JadeError('JADE_ERR_UNAVAILABLE', `no replica of "${name}" on this node yet`);
    return { record: { name, params: c.params, createdAtMs: c.createdAtMs }, state: replica.sm.state, walBytes: replica.group.storage.walSizeBytes() };
  }

  clusterStatus(): Record<string, unknown> {
    const m = this.metaGroup.status();
    return {
      mode: 'cluster',
      role: m.role,
      term: m.term,
      metaLeader: m.leader || null,
      members: this.opts.peers.map((p) => ({ id: p.id, restUrl: p.restUrl, grpcAddress: p.grpcAddress, voter: m.conf.voters.includes(p.id) })),
      groups: [m, ...[...this.shards.values()].map((s) => s.group.status())],
    };
  }

  setFaults(spec: Partial<FaultSpec>): void {
    this.transport.setFaults(spec);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const s of this.shards.values()) {
      s.sm.indexer.stop();
      await s.group.close();
    }
    await this.metaGroup.close();
    await this.transport.close();
  }
}

/** The MsgSnap header travels as the transport's snapshot "meta": message + snapshot metadata. */
function joinSnapshotHeader(m: Message): Uint8Array {
  const msg = encodeMessage({ ...m, snapshot: undefined });
  const meta = encodeSnapshotMeta(m.snapshot!.meta);
  const out = new Uint8Array(4 + msg.length + meta.length);
  new DataView(out.buffer).setUint32(0, msg.length, true);
  out.set(msg, 4);
  out.set(meta, 4 + msg.length);
  return out;
}

function splitSnapshotHeader(bytes: Uint8Array): { message: Message; snapMeta: ReturnType<typeof decodeSnapshotMeta> } {
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  return { message: decodeMessage(bytes.subarray(4, 4 + len)), snapMeta: decodeSnapshotMeta(bytes.subarray(4 + len)) };
}
