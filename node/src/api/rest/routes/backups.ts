// Backups: Qdrant's collection snapshots (POST/GET /collections/{name}/snapshots: a backup of one
// collection, described as Qdrant describes a snapshot) and JadeVectorDB's own /backups (every
// collection; list, describe, verify, restore one collection into this running node or cluster, delete). Names are validated by the backup layer
// (JADE_ERR_BAD_BACKUP_NAME). A named backup that POST /backups is still writing answers GET and DELETE
// with 409, not 404, so a caller that lost the POST's answer (the operator restarted) can tell "still
// being written" from "gone". Not built yet and refused rather than ignored: asynchronous creation
// (wait=false), snapshot download, upload and recovery over HTTP, deleting a snapshot.
import type { FastifyInstance } from 'fastify';
import type { BackupService } from '../../../backup/service.js';
import type { BackupSummary } from '../../../backup/standalone.js';
import { JadeError } from '../../../util/errors.js';
import { ok, type RouteContext } from '../context.js';
import * as S from '../schemas.js';

const backupName = { type: 'string', minLength: 1, maxLength: 300 } as const;
const backupIdParams = { type: 'object', required: ['id'], properties: { id: backupName } } as const;
// A string, as query values are (the validator does not coerce): ?wait=true is what clients send.
const waitQuery = { type: 'object', properties: { wait: { type: 'string', enum: ['true', 'false'], description: 'only true (the default) is supported: the answer comes when the snapshot is written' } } } as const;

const position = { type: 'object', properties: { kind: { type: 'string', enum: ['wal', 'raft'] }, lsn: { type: 'integer' }, index: { type: 'integer' }, term: { type: 'integer' } } } as const;
const backupSummary = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['collection', 'full'] },
    mode: { type: 'string', enum: ['standalone', 'cluster'] },
    created_at: { type: 'string' },
    node_version: { type: 'string' },
    format_version: { type: 'integer' },
    size_bytes: { type: 'integer', description: 'bytes stored: the files as written (compressed, and encrypted when a key is configured) and the manifest' },
    content_size_bytes: { type: 'integer', description: 'bytes of the files once decrypted and decompressed, and the manifest' },
    compression: { type: 'string', enum: ['none', 'zstd'], description: 'how every file is compressed (none: a backup made before compression)' },
    encryption: {
      type: ['object', 'null'],
      description: 'null: the files are not encrypted (no key file was configured)',
      properties: { algorithm: { type: 'string', enum: ['aes-256-gcm'] }, key_id: { type: 'string', description: 'the id of the key (in the backup key file) the files are encrypted with' } },
    },
    manifest_sha256: { type: 'string' },
    files: { type: 'integer' },
    collections: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          points: { type: 'integer' },
          content_digest: { type: 'string' },
          shards: { type: 'array', items: { type: 'object', properties: { index: { type: 'integer' }, points: { type: 'integer' }, position, captured_from: { type: ['string', 'null'], description: 'cluster: the node whose replica the image was read from' } } } },
        },
      },
    },
  },
} as const;
/** Qdrant's SnapshotDescription; checksum is the SHA-256 of the manifest (a snapshot here is a directory: the manifest holds every file's SHA-256). */
const snapshotDescription = {
  type: 'object',
  properties: { name: { type: 'string' }, creation_time: { type: ['string', 'null'] }, size: { type: 'integer' }, checksum: { type: ['string', 'null'] } },
} as const;
const restoreBody = {
  type: 'object',
  required: ['collection'],
  additionalProperties: false,
  properties: {
    collection: { type: 'string', minLength: 1, maxLength: 300, description: 'the collection\'s name in the backup' },
    as: { type: 'string', minLength: 1, maxLength: 300, description: 'the name to restore it as (default: its name in the backup); a name that exists is a 409' },
  },
} as const;
const restoreResult = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    collection: { type: 'string' },
    restored_as: { type: 'string' },
    shards: { type: 'integer' },
    points: { type: 'integer' },
    content_digest: { type: 'string' },
    payload_indexes: { type: 'integer' },
    bytes_read: { type: 'integer' },
    seconds: { type: 'number' },
  },
} as const;
const verifyResult = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    ok: { type: 'boolean' },
    bytes_read: { type: 'integer' },
    seconds: { type: 'number' },
    collections: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, points: { type: 'integer' }, content_digest: { type: 'string' } } } },
  },
} as const;

function asJson(b: BackupSummary) {
  return {
    id: b.id,
    kind: b.kind,
    mode: b.mode,
    created_at: b.createdAt,
    node_version: b.nodeVersion,
    format_version: b.formatVersion,
    size_bytes: b.sizeBytes,
    content_size_bytes: b.contentSizeBytes,
    compression: b.compression,
    encryption: b.encryption === null ? null : { algorithm: b.encryption.algorithm, key_id: b.encryption.keyId },
    manifest_sha256: b.manifestSha256,
    files: b.files,
    collections: b.collections.map((c) => ({ name: c.name, points: c.points, content_digest: c.contentDigest, shards: c.shards.map((s) => ({ index: s.index, points: s.points, position: s.position, captured_from: s.capturedFrom })) })),
  };
}

function asSnapshot(b: BackupSummary) {
  // Qdrant's creation_time has no zone suffix (UTC): 2024-01-01T00:00:00.
  return { name: b.id, creation_time: b.createdAt.replace(/Z$/, ''), size: b.sizeBytes, checksum: b.manifestSha256 };
}

function service(backups: BackupService | undefined): BackupService {
  if (!backups) throw new JadeError('JADE_ERR_BAD_REQUEST', 'this node was started without a backup service');
  return backups;
}

function refuseAsync(wait: string | undefined): void {
  if (wait === 'false') throw new JadeError('JADE_ERR_BAD_REQUEST', 'wait=false (asynchronous snapshots) is not supported: the snapshot is written before the answer');
}

/** 409 for a backup this node is writing right now (by its name in POST /backups). */
function refuseWhileWriting(writing: Set<string>, id: string): void {
  if (writing.has(id)) throw new JadeError('JADE_ERR_CONFLICT', `backup ${id} is being written on this node; ask again when it is done`);
}

export function backupRoutes({ deps }: RouteContext) {
  const { database } = deps;
  const errors = S.errorResponses;
  /** Names given to POST /backups whose answer has not been sent yet. */
  const writing = new Set<string>();
  return async (app: FastifyInstance) => {
    app.post<{ Params: { name: string }; Querystring: { wait?: 'true' | 'false' } }>(
      '/collections/:name/snapshots',
      { schema: { tags: ['snapshots'], summary: 'snapshot one collection (a backup of it) at its current position', params: S.collectionNameParams, querystring: waitQuery, response: { 200: S.envelope(snapshotDescription), ...errors } } },
      async (req, reply) => {
        refuseAsync(req.query.wait);
        const name = database.collection(req.params.name).name; // 404 for a collection that does not exist
        return ok(reply, asSnapshot(await service(deps.backups).create({ collection: name })), req);
      },
    );

    app.get<{ Params: { name: string } }>(
      '/collections/:name/snapshots',
      { schema: { tags: ['snapshots'], summary: 'the snapshots of one collection', params: S.collectionNameParams, response: { 200: S.envelope({ type: 'array', items: snapshotDescription }), ...errors } } },
      async (req, reply) => {
        const name = database.collection(req.params.name).name;
        const all = await service(deps.backups).list();
        return ok(reply, all.filter((b) => b.kind === 'collection' && b.collections.length === 1 && b.collections[0].name === name).map(asSnapshot), req);
      },
    );

    app.post<{ Body: { name?: string } | null; Querystring: { wait?: 'true' | 'false' } }>(
      '/backups',
      {
        schema: {
          tags: ['backups'],
          summary: 'back up every collection to this node\'s backup directory: standalone at one instant, a cluster shard by shard, each at a Raft position',
          querystring: waitQuery,
          body: { type: ['object', 'null'], additionalProperties: false, properties: { name: { ...backupName, description: 'the backup id: 1-128 of letters, digits, _ . - (generated when absent)' } } },
          response: { 200: S.envelope(backupSummary), ...errors },
        },
      },
      async (req, reply) => {
        refuseAsync(req.query.wait);
        const name = req.body?.name;
        // Only the first of two same-named requests is tracked: the second is refused (409) by the backup layer.
        const track = name !== undefined && !writing.has(name);
        if (track) writing.add(name);
        try {
          return ok(reply, asJson(await service(deps.backups).create({ id: name })), req);
        } finally {
          if (track) writing.delete(name);
        }
      },
    );

    app.get('/backups', { schema: { tags: ['backups'], summary: 'every whole backup in the backup directory', response: { 200: S.envelope({ type: 'array', items: backupSummary }), ...errors } } }, async (req, reply) => {
      return ok(reply, (await service(deps.backups).list()).map(asJson), req);
    });

    app.get<{ Params: { id: string } }>('/backups/:id', { schema: { tags: ['backups'], summary: 'describe one backup; 409 while POST /backups is still writing it, 404 when there is none', params: backupIdParams, response: { 200: S.envelope(backupSummary), ...errors } } }, async (req, reply) => {
      refuseWhileWriting(writing, req.params.id);
      return ok(reply, asJson(await service(deps.backups).get(req.params.id)), req);
    });

    app.delete<{ Params: { id: string } }>(
      '/backups/:id',
      { schema: { tags: ['backups'], summary: 'delete one backup from this node\'s backup directory; 404 when there is none, 409 while a backup, verify or restore runs on this node', params: backupIdParams, response: { 200: S.envelope({ type: 'object', properties: { id: { type: 'string' }, deleted: { type: 'boolean' } } }), ...errors } } },
      async (req, reply) => {
        refuseWhileWriting(writing, req.params.id);
        await service(deps.backups).delete(req.params.id);
        return ok(reply, { id: req.params.id, deleted: true }, req);
      },
    );

    app.post<{ Params: { id: string } }>(
      '/backups/:id/verify',
      { schema: { tags: ['backups'], summary: 're-read every file, check the digests, restore into a scratch directory and compare counts and content digests', params: backupIdParams, response: { 200: S.envelope(verifyResult), ...errors } } },
      async (req, reply) => {
        const r = await service(deps.backups).verify(req.params.id);
        return ok(reply, { id: r.id, ok: true, bytes_read: r.bytesRead, seconds: r.seconds, collections: r.collections.map((c) => ({ name: c.name, points: c.points, content_digest: c.contentDigest })) }, req);
      },
    );

    app.post<{ Params: { id: string }; Body: { collection: string; as?: string } }>(
      '/backups/:id/restore',
      {
        schema: {
          tags: ['backups'],
          summary: 'restore one collection of a backup into this running node or cluster, under its name or a new one: created with the backup\'s parameters, shards and replication factor, every point written back (the index is rebuilt), then its count and content digest checked against the backup',
          params: backupIdParams,
          body: restoreBody,
          response: { 200: S.envelope(restoreResult), ...errors },
        },
      },
      async (req, reply) => {
        const r = await service(deps.backups).restoreCollection({ id: req.params.id, collection: req.body.collection, as: req.body.as });
        return ok(reply, { id: r.id, collection: r.collection, restored_as: r.restoredAs, shards: r.shards, points: r.points, content_digest: r.contentDigest, payload_indexes: r.payloadIndexes, bytes_read: r.bytesRead, seconds: r.seconds }, req);
      },
    );
  };
}
