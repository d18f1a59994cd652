// Backups of a standalone node: one collection (Qdrant's collection snapshot) or every collection,
// captured in one synchronous pass (each collection at its WAL position, all at the same instant,
// while writes go on), then written to the target in the background of that instant. One backup
// runs at a time (BACKUPS_IN_FLIGHT_MAX); a second is refused with 409 rather than queued.
import type { LocalShard } from '../shard/local-shard.js';
import type { CollectionParams } from '../shard/state.js';
import type { LocalShardOptions } from '../shard/local-shard.js';
import type { Disk } from '../storage/disk.js';
import { JadeError } from '../util/errors.js';
import { BackupSlot } from './slot.js';
import { digestOf } from './digest.js';
import type { BackupTarget } from './target.js';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, type BackupManifest, type ManifestCollection } from './manifest.js';
import { validateBackupName } from './names.js';
import { defaultBackupName, listSummaries, summarize, summaryOf, type BackupRequest, type BackupSummary } from './summary.js';
import { verifyBackup, type RestoreResult } from './restore.js';
import { restoreCollection, type CollectionRestoreRequest, type CollectionRestoreResult, type RestoreSink } from './restore-into.js';
import type { BackupService } from './service.js';
import { captureShardImage, type ImageRole } from './shard-image.js';


export { defaultBackupName, summarize, type BackupRequest, type BackupSummary } from './summary.js';

/** What a backup needs of the standalone catalog (query/ is above this layer: handed in, not imported). */
export interface CatalogView {
  names(): string[];
  resolve(name: string): string;
  get(name: string): { record: { name: string; params: CollectionParams; createdAtMs: number }; shard: LocalShard };
  aliases(): { alias: string; collection: string }[];
}

export interface StandaloneBackupOptions {
  nodeVersion: string;
  disk: Disk;
  /** Where verify restores into (then removes): the data directory, so the space is the node's own. */
  scratchDir: string;
  /** How verify opens each restored shard (as the node would). */
  shardOptions: LocalShardOptions;
  /** The node's database, for restoring one collection under a new name while it runs. */
  sink?: RestoreSink;
}

export class StandaloneBackups implements BackupService {
  private readonly slot = new BackupSlot();
  constructor(
    private readonly catalog: CatalogView,
    readonly target: BackupTarget,
    private readonly options: StandaloneBackupOptions,
  ) {}

  async create(request: BackupRequest): Promise<BackupSummary> {
    return (await this.createWithManifest(request)).summary;
  }

  delete(id: string): Promise<void> {
    return this.slot.run(() => this.target.delete(id));
  }

  verify(id: string): Promise<RestoreResult> {
    return this.slot.run(() => verifyBackup(this.options.disk, this.target, id, this.options.scratchDir, this.options.shardOptions));
  }

  /** One collection under a new name (or its own, if free), re-indexed through the write path. */
  restoreCollection(request: CollectionRestoreRequest): Promise<CollectionRestoreResult> {
    const sink = this.options.sink;
    if (!sink) throw new JadeError('JADE_ERR_BAD_REQUEST', 'this node restores backups offline only: use `jade restore`');
    return this.slot.run(() =>
      restoreCollection(this.target, request, sink, async (name) => {
        const { points, digest } = digestOf(this.catalog.get(name).shard.state.exportPoints().points);
        return { points, digest };
      }),
    );
  }

  async createWithManifest(request: BackupRequest): Promise<{ manifest: BackupManifest; summary: BackupSummary }> {
    if (request.id !== undefined) validateBackupName(request.id);
    const names = request.collection === undefined ? this.catalog.names() : [this.catalog.get(this.catalog.resolve(request.collection)).record.name];
    const now = new Date();
    const id = request.id ?? defaultBackupName(request.collection === undefined ? 'backup' : names[0], now);
    return this.slot.run(async () => {
      if (await this.target.exists(id)) throw new JadeError('JADE_ERR_CONFLICT', `a backup named ${id} already exists`);
      // One synchronous pass over every collection: all images stand at the same instant.
      const files: { path: string; bytes: Uint8Array }[] = [];
      const collections: ManifestCollection[] = [];
      names.forEach((name, i) => {
        const { record, shard } = this.catalog.get(name);
        const lsn = shard.lastAppliedLsn;
        const image = captureShardImage(shard.state, lsn, this.options.scratchDir);
        const shardFiles: Record<string, string> = {};
        for (const [role, bytes] of Object.entries(image.files) as [ImageRole, Uint8Array][]) {
          const p = `collections/${i}/shard-0/${role}`;
          shardFiles[role] = p;
          files.push({ path: p, bytes });
        }
        collections.push({
          name,
          params: record.params,
          createdAtMs: record.createdAtMs,
          shardNumber: 1,
          replicationFactor: 1,
          points: image.points,
          contentDigest: image.contentDigest,
          shards: [{ index: 0, points: image.points, contentDigest: image.contentDigest, position: { kind: 'wal', lsn }, files: shardFiles }],
        });
      });
      const included = new Set(names);
      const manifest = await this.target.write(
        {
          format: BACKUP_FORMAT,
          formatVersion: BACKUP_FORMAT_VERSION,
          id,
          kind: request.collection === undefined ? 'full' : 'collection',
          mode: 'standalone',
          nodeVersion: this.options.nodeVersion,
          createdAt: now.toISOString(),
          parent: null,
          collections,
          aliases: request.collection === undefined ? this.catalog.aliases().filter((a) => included.has(a.collection)) : [],
        },
        files,
      );
      const read = await this.target.readManifest(id);
      return { manifest, summary: summarize(manifest, read.sha256, read.sizeBytes - manifest.files.reduce((n, f) => n + f.sizeBytes, 0)) };
    });
  }

  list(): Promise<BackupSummary[]> {
    return listSummaries(this.target);
  }

  get(id: string): Promise<BackupSummary> {
    return summaryOf(this.target, id);
  }

  close(): void {
    this.target.close?.();
  }
}
