// Backups of a cluster, made by whichever node the request reaches (the coordinator), into that
// node's own backup directory. For every collection (or the one named) and every shard, one replica
// captures its image after a read barrier, together with the Raft index it stands at and that
// index's term: this node's own replica when it holds one, else one on another node, from which the
// files are pulled in chunks (replica-images.ts), each checked against the SHA-256 the replica
// reported. Shards are captured one after another: each stands at its own Raft position (writes to
// different shards are independent, there is no instant they share). The backup appears whole or
// not at all: a replica that cannot be reached fails it with a coded 503 naming the shard, and the
// partial directory is removed. One backup, verify or restore at a time on a coordinator (409).
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { ShardPlacement } from '../cluster/meta.js';
import { nodeOfMember } from '../cluster/identity.js';
import type { LocalShardOptions } from '../shard/local-shard.js';
import type { Disk } from '../storage/disk.js';
import { JadeError, isJadeError } from '../util/errors.js';
import { combineDigests } from './digest.js';
import type { BackupTarget, TargetWriter } from './target.js';
import { IMAGE_CALL_TIMEOUT_MS, localImageSource, remoteImageSource, type ShardImageSource } from './image-source.js';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, type ManifestCollection, type ManifestShard } from './manifest.js';
import { validateBackupName } from './names.js';
import { IMAGE_METHODS, ImageHolds, captureReplica, replicaDigest, serveReplicaImages } from './replica-images.js';
import { restoreCollection, type CollectionRestoreRequest, type CollectionRestoreResult, type RestoreSink } from './restore-into.js';
import { verifyBackup, type RestoreResult } from './restore.js';
import type { BackupService } from './service.js';
import { BackupSlot } from './slot.js';
import { defaultBackupName, listSummaries, summarize, summaryOf, type BackupRequest, type BackupSummary } from './summary.js';

export interface ClusterBackupOptions {
  nodeVersion: string;
  disk: Disk;
  /** Where captures write their graph scratch file and verify stages images: the data directory. */
  scratchDir: string;
  /** How verify opens each staged shard image. */
  shardOptions: LocalShardOptions;
  /** The cluster's database, for restores (created and written through the normal paths). */
  sink: RestoreSink;
  /** Bytes per pulled chunk (default IMAGE_CHUNK_BYTES, the most a replica sends at once; tests pull in small ones). */
  imageChunkBytes?: number;
}

function shardError(collection: string, shard: number, id: string, detail: string, cause?: unknown): JadeError {
  return new JadeError('JADE_ERR_UNAVAILABLE', `backup ${id}: shard ${shard} of "${collection}": ${detail}; nothing of the backup was kept, retry when its replicas are back`, {
    collection,
    shard,
    cause: isJadeError(cause) ? cause.code : undefined,
  });
}

/** The source's chunks, with any failure of the replica (or of the call to it) named by shard. */
async function* named(chunks: AsyncIterable<Uint8Array>, fail: (e: unknown) => JadeError): AsyncIterable<Uint8Array> {
  try {
    yield* chunks;
  } catch (e) {
    throw fail(e);
  }
}

export class ClusterBackups implements BackupService {
  private readonly slot = new BackupSlot();
  /** Images this node holds for other coordinators. */
  readonly holds = new ImageHolds();

  constructor(
    private readonly node: ClusterNode,
    readonly target: BackupTarget,
    private readonly options: ClusterBackupOptions,
  ) {
    serveReplicaImages(node, this.holds, options.scratchDir);
  }

  async create(request: BackupRequest): Promise<BackupSummary> {
    if (request.id !== undefined) validateBackupName(request.id);
    const names = request.collection === undefined ? this.node.names() : [this.node.collectionMeta(this.node.resolve(request.collection)).name];
    const now = new Date();
    const id = request.id ?? defaultBackupName(request.collection === undefined ? 'backup' : names[0], now);
    return this.slot.run(async () => {
      const writer = await this.target.begin(id);
      try {
        const collections: ManifestCollection[] = [];
        for (const [i, name] of names.entries()) {
          const meta = this.node.collectionMeta(name);
          const shards: ManifestShard[] = [];
          for (const [s, placement] of meta.shards.entries()) shards.push(await this.copyShard(writer, id, name, s, placement, `collections/${i}/shard-${s}`));
          collections.push({
            name,
            params: meta.params,
            createdAtMs: meta.createdAtMs,
            shardNumber: meta.shards.length,
            replicationFactor: meta.replicationFactor,
            points: shards.reduce((n, x) => n + x.points, 0),
            contentDigest: combineDigests(shards.map((x) => x.contentDigest)),
            shards,
          });
        }
        const included = new Set(names);
        const manifest = await writer.commit({
          format: BACKUP_FORMAT,
          formatVersion: BACKUP_FORMAT_VERSION,
          id,
          kind: request.collection === undefined ? 'full' : 'collection',
          mode: 'cluster',
          nodeVersion: this.options.nodeVersion,
          createdAt: now.toISOString(),
          parent: null,
          collections,
          aliases: request.collection === undefined ? this.node.aliases().filter((a) => included.has(a.collection)) : [],
        });
        const read = await this.target.readManifest(id);
        return summarize(manifest, read.sha256, read.sizeBytes - manifest.files.reduce((n, f) => n + f.sizeBytes, 0));
      } catch (e) {
        await writer.abort();
        throw e;
      }
    });
  }

  /** Captures one shard on one replica and copies its files into the backup, each checked. */
  private async copyShard(writer: TargetWriter, id: string, collection: string, shard: number, placement: ShardPlacement, dir: string): Promise<ManifestShard> {
    const source = await this.capture(id, collection, shard, placement);
    try {
      const files: Record<string, string> = {};
      for (const f of source.files) {
        const file = `${dir}/${f.role}`;
        const chunks = named(source.chunks(f.role), (e) => shardError(collection, shard, id, `pulling its ${f.role} file from ${source.nodeId} failed (${(e as Error).message})`, e));
        const written = await writer.writeFile(file, chunks, f.sha256).catch((e: unknown) => {
          // Bytes that hash otherwise than the replica said were damaged on the way: retryable, not a corrupt backup.
          throw isJadeError(e) && e.code === 'JADE_ERR_BACKUP_CORRUPT' ? shardError(collection, shard, id, e.message, e) : e;
        });
        if (written.contentSizeBytes !== f.sizeBytes) throw shardError(collection, shard, id, `${written.contentSizeBytes} bytes of its ${f.role} file arrived, ${source.nodeId} reported ${f.sizeBytes}`);
        files[f.role] = file;
      }
      return { index: shard, points: source.points, contentDigest: source.contentDigest, position: { kind: 'raft', index: source.position.index, term: source.position.term }, capturedFrom: source.nodeId, files };
    } finally {
      await source.release();
    }
  }

  /** The shard's image from this node's replica if it holds one, else from the first other replica that answers. */
  private async capture(id: string, collection: string, shard: number, placement: ShardPlacement): Promise<ShardImageSource> {
    const tried: string[] = [];
    const local = this.node.localReplica(placement.groupId);
    if (local) {
      try {
        const { image, position } = await captureReplica(local, this.options.scratchDir, Date.now() + IMAGE_CALL_TIMEOUT_MS);
        return localImageSource(this.node.nodeId, image, position);
      } catch (e) {
        tried.push(`${this.node.nodeId}: ${(e as Error).message}`);
      }
    }
    let last: unknown = null;
    for (const member of placement.replicas) {
      const nodeId = nodeOfMember(member);
      if (nodeId === this.node.nodeId) continue;
      try {
        return await remoteImageSource(this.node, nodeId, placement.groupId, this.options.imageChunkBytes);
      } catch (e) {
        last = e;
        tried.push(`${nodeId}: ${(e as Error).message}`);
      }
    }
    throw shardError(collection, shard, id, `no replica could be captured (${tried.join('; ') || 'it has no replicas'})`, last);
  }

  delete(id: string): Promise<void> {
    return this.slot.run(() => this.target.delete(id));
  }

  verify(id: string): Promise<RestoreResult> {
    return this.slot.run(() => verifyBackup(this.options.disk, this.target, id, this.options.scratchDir, this.options.shardOptions));
  }

  restoreCollection(request: CollectionRestoreRequest): Promise<CollectionRestoreResult> {
    return this.slot.run(() => restoreCollection(this.target, request, this.options.sink, (name) => this.collectionDigest(name)));
  }

  /** A collection's count and content digest, each shard read on one replica (this node's when it holds one). */
  private async collectionDigest(name: string): Promise<{ points: number; digest: string }> {
    const digests: string[] = [];
    let points = 0;
    for (const [s, placement] of this.node.collectionMeta(name).shards.entries()) {
      const d = await this.shardDigest(placement).catch((e: unknown) => {
        throw new JadeError('JADE_ERR_UNAVAILABLE', `shard ${s} of "${name}": no replica could be read back (${(e as Error).message})`, { collection: name, shard: s });
      });
      digests.push(d.digest);
      points += d.points;
    }
    return { points, digest: combineDigests(digests) };
  }

  private async shardDigest(placement: ShardPlacement): Promise<{ points: number; digest: string }> {
    const deadlineMs = Date.now() + IMAGE_CALL_TIMEOUT_MS;
    const local = this.node.localReplica(placement.groupId);
    if (local) return replicaDigest(local, deadlineMs);
    let last: unknown = new Error('it has no replica on another node');
    for (const member of placement.replicas) {
      const nodeId = nodeOfMember(member);
      const address = nodeId === this.node.nodeId ? undefined : this.node.nodeAddress(nodeId);
      if (!address) continue;
      try {
        return (await this.node.rpc.call(address, IMAGE_METHODS.digest, { json: { groupId: placement.groupId } }, deadlineMs)).json as { points: number; digest: string };
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  list(): Promise<BackupSummary[]> {
    return listSummaries(this.target);
  }

  get(id: string): Promise<BackupSummary> {
    return summaryOf(this.target, id);
  }

  close(): void {
    this.holds.clear();
    this.target.close?.();
  }
}
