// The cluster's database as the API sees it: every collection's shards, read through this node's
// replica (after a ReadIndex barrier when strong) and written through each shard group's leader.
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { CollectionParams } from '../shard/state.js';
import { ShardedCollection } from './collection.js';
import { evenRanges } from './hash.js';
import { LocalShardReader } from './local-reader.js';
import type { Collection, CreateOptions, Database, LocalCollectionStats } from './types.js';
import { JadeError } from '../util/errors.js';

const ONE_SHARD = evenRanges(1);

export class ClusterDatabase implements Database {
  readonly mode = 'cluster' as const;
  constructor(readonly node: ClusterNode) {}

  names(): string[] {
    return this.node.names();
  }

  has(name: string): boolean {
    return this.node.has(name);
  }

  collection(name: string): Collection {
    const { record } = this.node.view(name);
    const reader = new LocalShardReader({
      state: () => this.node.view(name).state,
      walBytes: () => this.node.view(name).walBytes,
      readBarrier: async () => {
        await this.node.read(name, 'strong');
      },
    });
    return new ShardedCollection({
      name,
      params: record.params,
      createdAtMs: record.createdAtMs,
      replicationFactor: this.node.replicationFactorOf(name),
      ranges: ONE_SHARD,
      reader: () => reader,
      write: (_index, batch) => this.node.write(name, batch),
    });
  }

  async create(name: string, params: CollectionParams, options: CreateOptions = {}): Promise<void> {
    if (options.shardNumber !== undefined && options.shardNumber !== 1) throw new JadeError('JADE_ERR_BAD_REQUEST', 'shard_number other than 1 is not supported yet: one shard per collection, replicated');
    await this.node.create(name, params, { replicationFactor: options.replicationFactor });
  }

  delete(name: string): Promise<boolean> {
    return this.node.delete(name);
  }

  clusterStatus(): Record<string, unknown> {
    return this.node.clusterStatus();
  }

  localStats(): LocalCollectionStats[] {
    return this.node.names().map((name) => {
      try {
        const { record, state, walBytes } = this.node.view(name);
        const m = state.memoryBytes();
        return { name, dimension: record.params.dimension, metric: record.params.metric, points: state.count, indexBacklog: state.indexBacklog, memoryBytes: m.vectors + m.index, walBytes };
      } catch {
        return { name, dimension: 0, metric: '', points: null, indexBacklog: null, memoryBytes: null, walBytes: null };
      }
    });
  }

  proposeLocal(groupId: string, data: Uint8Array): Promise<unknown> {
    return this.node.proposeLocal(groupId, data);
  }

  setFaults(spec: Record<string, unknown>): void {
    this.node.setFaults(spec);
  }
}
