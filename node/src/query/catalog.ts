// The collections of a standalone node: each is a directory under <dataDir>/collections holding
// collection.json (written atomically: the collection exists iff it is there) and one LocalShard.
// Aliases are one file beside them, <dataDir>/collections/.aliases.json, also written atomically.
import path from 'node:path';
import type { LocalShardObserver, LocalShardOptions } from '../shard/local-shard.js';
import { LocalShard } from '../shard/local-shard.js';
import { validateCollectionName } from '../shard/collection-name.js';
import { applyAliasActions, withoutCollection, type AliasAction } from '../shard/aliases.js';
import type { CollectionParams } from '../shard/state.js';
import { validateParams } from '../shard/state.js';
import type { Disk } from '../storage/disk.js';
import { JadeError, isJadeError } from '../util/errors.js';
import { LocalShardReader } from './local-reader.js';
import { ShardedCollection } from './collection.js';
import { evenRanges } from './hash.js';
import type { AliasRecord, Collection, CollectionUpdate, CreateOptions, Database, LocalCollectionStats, ReadOptions } from './types.js';

export const COLLECTIONS_MAX_DEFAULT = 1000;

export interface CatalogOptions {
  shard: LocalShardOptions;
  collectionsMax: number;
}

export interface CollectionRecord {
  name: string;
  params: CollectionParams;
  createdAtMs: number;
}

interface Entry {
  record: CollectionRecord;
  shard: LocalShard;
}

const ALIASES_FILE = '.aliases.json';
const RECORD_FILE = 'collection.json';

function encodeJson(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2));
}

export class Catalog {
  private readonly entries = new Map<string, Entry>();
  /** Names being created or deleted: a second concurrent call gets a 409 instead of racing. */
  private readonly busy = new Set<string>();
  /** alias -> collection. */
  private aliasMap: Record<string, string> = {};
  /** Alias and record rewrites run one at a time, so each file write sees the one before it. */
  private metaWrites: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly disk: Disk,
    private readonly root: string,
    private readonly opts: CatalogOptions,
    private readonly observer: (name: string) => LocalShardObserver,
  ) {}

  static async open(disk: Disk, dataDir: string, opts: CatalogOptions, observer: (name: string) => LocalShardObserver = () => ({})): Promise<Catalog> {
    const root = path.join(dataDir, 'collections');
    await disk.mkdirp(root);
    const catalog = new Catalog(disk, root, opts, observer);
    const aliasesPath = path.join(root, ALIASES_FILE);
    if (await disk.exists(aliasesPath)) {
      try {
        catalog.aliasMap = JSON.parse(new TextDecoder().decode(await disk.readFile(aliasesPath))) as Record<string, string>;
      } catch (e) {
        throw new JadeError('JADE_ERR_STORAGE', `cannot read ${aliasesPath}: ${(e as Error).message}`);
      }
    }
    for (const dirName of (await disk.list(root)).sort()) {
      const dir = path.join(root, dirName);
      if (dirName === ALIASES_FILE) continue;
      if (dirName.startsWith(`${ALIASES_FILE}.tmp-`)) {
        await disk.removeAll(dir); // an alias write that crashed before its rename
        continue;
      }
      if (dirName.startsWith('.trash-')) {
        await disk.removeAll(dir);
        continue;
      }
      const recordPath = path.join(dir, RECORD_FILE);
      if (!(await disk.exists(recordPath))) continue; // creation never finished: not a collection
      let record: CollectionRecord;
      try {
        record = JSON.parse(new TextDecoder().decode(await disk.readFile(recordPath))) as CollectionRecord;
      } catch (e) {
        throw new JadeError('JADE_ERR_STORAGE', `cannot read ${recordPath}: ${(e as Error).message}`);
      }
      const shard = await LocalShard.open(disk, path.join(dir, 'shard-0'), record.params, opts.shard, observer(record.name));
      catalog.entries.set(record.name, { record, shard });
    }
    return catalog;
  }

  names(): string[] {
    return [...this.entries.keys()].sort();
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get(name: string): { record: CollectionRecord; shard: LocalShard } {
    const e = this.entries.get(name);
    if (!e) throw new JadeError('JADE_ERR_COLLECTION_NOT_FOUND', `collection "${name}" does not exist`);
    return e;
  }

  async create(name: string, params: CollectionParams): Promise<CollectionRecord> {
    validateCollectionName(name);
    validateParams(params);
    if (this.entries.has(name) || this.busy.has(name)) throw new JadeError('JADE_ERR_COLLECTION_EXISTS', `collection "${name}" already exists`);
    if (name in this.aliasMap) throw new JadeError('JADE_ERR_COLLECTION_EXISTS', `"${name}" is an alias (of collection "${this.aliasMap[name]}")`);
    if (this.entries.size >= this.opts.collectionsMax) {
      throw new JadeError('JADE_ERR_CONFLICT', `this node holds the maximum of ${this.opts.collectionsMax} collections (collectionsMax)`);
    }
    this.busy.add(name);
    try {
      const dir = path.join(this.root, name);
      await this.disk.removeAll(dir); // leftovers of a creation that crashed before collection.json
      const record: CollectionRecord = { name, params, createdAtMs: Date.now() };
      const shard = await LocalShard.open(this.disk, path.join(dir, 'shard-0'), params, this.opts.shard, this.observer(name));
      await this.disk.writeFileAtomic(path.join(dir, RECORD_FILE), encodeJson(record));
      this.entries.set(name, { record, shard });
      return record;
    } finally {
      this.busy.delete(name);
    }
  }

  async delete(name: string): Promise<boolean> {
    const e = this.entries.get(name);
    if (!e || this.busy.has(name)) return false;
    // Busy until the directory is gone, so a create of the same name waits its turn (409).
    this.busy.add(name);
    try {
      this.entries.delete(name);
      await e.shard.close({ checkpoint: false });
      // Rename first so a crash mid-delete leaves a trash dir, never a half-deleted collection.
      // The trash name stays short whatever the collection name's length (file names ≤ 255 bytes).
      const trash = path.join(this.root, `.trash-${Date.now().toString(36)}-${(this.trashSeq++).toString(36)}`);
      await this.disk.rename(path.join(this.root, name), trash);
      await this.disk.syncDir(this.root);
      await this.disk.removeAll(trash);
      if (Object.values(this.aliasMap).includes(name)) await this.serialized(() => this.writeAliases(withoutCollection(this.aliasMap, name)));
      return true;
    } finally {
      this.busy.delete(name);
    }
  }
  private trashSeq = 0;

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.metaWrites.then(fn, fn);
    this.metaWrites = run.catch(() => undefined);
    return run;
  }

  private async writeAliases(next: Record<string, string>): Promise<void> {
    await this.disk.writeFileAtomic(path.join(this.root, ALIASES_FILE), encodeJson(next));
    this.aliasMap = next;
  }

  /** The collection an alias names, or the name itself. */
  resolve(name: string): string {
    return this.aliasMap[name] ?? name;
  }

  aliases(): AliasRecord[] {
    return Object.entries(this.aliasMap)
      .map(([alias, collection]) => ({ alias, collection }))
      .sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
  }

  /** All or none: the file is written once with every action applied, or not at all. */
  updateAliases(actions: AliasAction[]): Promise<void> {
    return this.serialized(() => this.writeAliases(applyAliasActions(this.aliasMap, (n) => this.entries.has(n), actions)));
  }

  /** Rewrites collection.json with the new parameters (atomically), then serves them. */
  update(name: string, update: CollectionUpdate): Promise<void> {
    return this.serialized(async () => {
      const e = this.get(this.resolve(name));
      const params: CollectionParams = { ...e.record.params, hnsw: { ...e.record.params.hnsw, efSearch: update.efSearch ?? e.record.params.hnsw.efSearch } };
      validateParams(params);
      const record: CollectionRecord = { ...e.record, params };
      await this.disk.writeFileAtomic(path.join(this.root, e.record.name, RECORD_FILE), encodeJson(record));
      e.record = record;
    });
  }

  /**
   * Closes every collection (each checkpoints). One whose checkpoint failed does not keep the others
   * open: all are closed, then the failures are thrown as one JADE_ERR_STORAGE naming each
   * collection and errno (details.failures), so the caller can log it and exit non-zero.
   */
  async close(): Promise<void> {
    const failures: { collection: string; errno: string | null; message: string }[] = [];
    for (const [name, e] of this.entries) {
      try {
        await e.shard.close();
      } catch (error) {
        const errno = isJadeError(error) && typeof error.details?.errno === 'string' ? error.details.errno : null;
        failures.push({ collection: name, errno, message: (error as Error).message });
      }
    }
    this.entries.clear();
    if (failures.length > 0) {
      const what = failures.map((f) => `${f.collection} (${f.errno ?? 'no errno'})`).join(', ');
      throw new JadeError('JADE_ERR_STORAGE', `checkpoint on close failed for ${what}: ${failures[0].message}`, { errno: failures[0].errno, failures });
    }
  }
}

const ONE_SHARD = evenRanges(1);

/** The standalone node's database: each collection is one local durable shard; every read is strong. */
export class StandaloneDatabase implements Database {
  readonly mode = 'standalone' as const;
  constructor(readonly catalog: Catalog) {}
  names(): string[] {
    return this.catalog.names();
  }
  has(name: string): boolean {
    return this.catalog.has(name);
  }
  resolve(name: string): string {
    return this.catalog.resolve(name);
  }
  collection(name: string): Collection {
    const { record, shard } = this.catalog.get(this.catalog.resolve(name));
    const reader = new LocalShardReader({ state: () => shard.state, walBytes: () => shard.walSizeBytes() });
    return new ShardedCollection({
      name: record.name,
      params: record.params,
      createdAtMs: record.createdAtMs,
      replicationFactor: 1,
      ranges: ONE_SHARD,
      reader: (_index: number, _opts: ReadOptions) => reader,
      write: (_index, batch) => shard.write(batch),
    });
  }
  async create(name: string, params: CollectionParams, options: CreateOptions = {}): Promise<void> {
    if (options.shardNumber !== undefined && options.shardNumber !== 1) throw new JadeError('JADE_ERR_BAD_REQUEST', 'shard_number other than 1 needs cluster mode (--bootstrap / --join): a standalone node keeps one shard per collection');
    if (options.replicationFactor !== undefined && options.replicationFactor !== 1) throw new JadeError('JADE_ERR_BAD_REQUEST', 'replication_factor other than 1 needs cluster mode (--bootstrap / --join)');
    await this.catalog.create(name, params);
  }
  delete(name: string): Promise<boolean> {
    return this.catalog.delete(name);
  }
  update(name: string, update: CollectionUpdate): Promise<void> {
    return this.catalog.update(name, update);
  }
  aliases(): AliasRecord[] {
    return this.catalog.aliases();
  }
  updateAliases(actions: AliasAction[]): Promise<void> {
    return this.catalog.updateAliases(actions);
  }
  clusterStatus(): Record<string, unknown> {
    return { mode: 'standalone', role: 'leader' };
  }
  localStats(): LocalCollectionStats[] {
    return this.catalog.names().map((name) => {
      const { record, shard } = this.catalog.get(name);
      const m = shard.state.memoryBytes();
      return { name, dimension: record.params.dimension, metric: record.params.metric, points: shard.state.count, indexBacklog: shard.state.indexBacklog, memoryBytes: m.vectors + m.index, walBytes: shard.walSizeBytes() };
    });
  }
}
