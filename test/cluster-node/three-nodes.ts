// Three ClusterNodes in this process on 127.0.0.1 (fresh directories, free ports, a fixed peer set:
// the first bootstraps, the others join), for tests that drive the cluster node's API directly.
// Writes go through ClusterNode.writeShard (forwarded to the leader over the internal calls);
// reads are this node's replica after a linearizable read barrier.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLUSTER_DEFAULTS, ClusterNode, type ClusterOptions, type ClusterPeer } from '../../node/src/cluster/cluster-node.js';
import type { GroupStatus } from '../../node/src/cluster/hosted-group.js';
import { DEFAULT_SHARD_LIMITS, type CollectionParams, type ShardState } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import type { WriteBatch } from '../../node/src/storage/types.js';
import { freePort } from '../helpers/ports.js';

export { freePort };

export const WAIT_MS = 20_000;


export async function waitFor<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class ThreeNodes {
  baseDir = '';
  peers: ClusterPeer[] = [];
  readonly running = new Map<string, ClusterNode>();
  /** warn() lines of every node, prefixed with its id. */
  readonly warnings: string[] = [];

  constructor(private readonly extra: (id: string) => Partial<ClusterOptions> = () => ({})) {}

  /** Starts n0..n2 (or the nodes named) and waits until every node is a member and three are meta voters. */
  async startAll(ids: readonly string[] = ['n0', 'n1', 'n2']): Promise<void> {
    this.baseDir = await mkdtemp(path.join(os.tmpdir(), 'jade-cluster-node-'));
    this.peers = await Promise.all(ids.map(async (id) => ({ id, grpcAddress: `127.0.0.1:${await freePort()}`, restUrl: 'http://127.0.0.1:1' })));
    for (const p of this.peers) await this.start(p.id);
    await waitFor('three meta voters', () => [...this.running.values()].every((n) => n.isMember && n.members().length === ids.length && n.members().filter((m) => m.metaRole === 'voter').length === 3));
  }

  async start(id: string): Promise<ClusterNode> {
    const self = this.peers.find((p) => p.id === id)!;
    const opts: ClusterOptions = {
      ...CLUSTER_DEFAULTS,
      nodeId: id,
      dataDir: path.join(this.baseDir, id),
      peers: this.peers,
      grpcListenAddress: self.grpcAddress,
      advertise: { grpcAddress: self.grpcAddress, restUrl: self.restUrl },
      bootstrap: false,
      join: [],
      clusterName: 'test',
      wal: { segmentSizeBytesMax: 1 << 20, recordSizeBytesMax: 1 << 20, pendingBytesMax: 8 << 20 },
      shardLimits: DEFAULT_SHARD_LIMITS,
      faultHooksEnabled: false,
      warn: (line) => this.warnings.push(`${id}: ${line}`),
      ...this.extra(id),
    };
    const node = await ClusterNode.start(new RealDisk(), opts);
    this.running.set(id, node);
    return node;
  }

  async stop(id: string): Promise<void> {
    await this.running.get(id)?.close();
    this.running.delete(id);
  }

  async cleanUp(): Promise<void> {
    for (const id of [...this.running.keys()]) await this.stop(id);
    if (this.baseDir) await rm(this.baseDir, { recursive: true, force: true });
  }

  node(id: string): ClusterNode {
    const n = this.running.get(id);
    if (!n) throw new Error(`${id} is not running`);
    return n;
  }

  address(id: string): string {
    return this.peers.find((p) => p.id === id)!.grpcAddress;
  }

  /** The running node that leads the group whose id starts with `groupPrefix`. */
  leaderOf(groupPrefix: string): ClusterNode | undefined {
    return [...this.running.values()].find((n) => n.groupStatuses().some((g) => g.groupId.startsWith(groupPrefix) && g.role === 'leader'));
  }

  group(node: ClusterNode, groupId: string): GroupStatus {
    const g = node.groupStatuses().find((x) => x.groupId === groupId);
    if (!g) throw new Error(`no group ${groupId} on ${node.nodeId}`);
    return g;
  }

  /** Creates a collection of one shard on all three nodes; resolves with its group id once a leader is elected. */
  async create(name: string, params: CollectionParams): Promise<string> {
    const leader = await waitFor('a meta leader', () => this.leaderOf('meta'));
    await leader.create(name, params, { replicationFactor: 3, shardNumber: 1 });
    const groupId = leader.collectionMeta(name).shards[0].groupId;
    await waitFor(`a leader of ${groupId}`, () => this.leaderOf(groupId));
    return groupId;
  }

  groupIdOf(name: string): string {
    return [...this.running.values()][0].collectionMeta(name).shards[0].groupId;
  }

  /** A write of the collection's one shard from `from` (forwarded to the leader when elsewhere). */
  write(name: string, batch: WriteBatch, from: ClusterNode = [...this.running.values()][0]): Promise<number> {
    return from.writeShard(this.groupIdOf(name), batch, 'majority', Date.now() + 10_000);
  }

  /** This node's replica of the collection's one shard, after a linearizable read barrier (null while it cannot answer). */
  async read(node: ClusterNode, name: string): Promise<ShardState | null> {
    try {
      const replica = node.localReplica(node.collectionMeta(name).shards[0].groupId);
      if (!replica) return null;
      await replica.group.readBarrier(2_000);
      return replica.sm.state;
    } catch {
      return null;
    }
  }
}
