// `jade backup create|list|show|verify|restore|delete` (clients of the REST API) and `jade restore`
// (offline: restores a backup directory, or a backup in S3, into a new node's data directory, under
// its lock, then exits).
import path from 'node:path';
import type { Command } from 'commander';
import { DirectoryTarget } from '../backup/directory-target.js';
import { restoreBackup } from '../backup/restore.js';
import type { BackupTarget, TargetCodecOptions } from '../backup/target.js';
import { backupKeysOf } from '../backup/wiring.js';
import { ENV_KEYS, loadConfig, type ConfigSource } from '../config.js';
import { RealDisk } from '../storage/disk.js';
import { lockDataDir } from '../storage/lock.js';
import { CliError, type JadeClient } from './client.js';
import type { OutputFormat } from './output.js';
import { printObject, printRows } from './output.js';

type ClientOf = (cmd: Command) => { client: JadeClient; output: OutputFormat };

function summaryRow(b: Record<string, any>) {
  return { id: b.id, kind: b.kind, mode: b.mode, created: b.created_at, collections: (b.collections as any[]).map((c) => c.name).join(' '), points: (b.collections as any[]).reduce((n, c) => n + c.points, 0), bytes: b.size_bytes, compression: b.compression ?? 'none', key: b.encryption?.key_id ?? '-' };
}

/**
 * The target and id of `jade restore`'s argument: <dir>/<id>, or s3://bucket/prefix/<id> read with
 * the node's S3 settings (endpoint, region, credentials) from the environment.
 */
async function offlineSource(disk: RealDisk, source: string, env: ConfigSource, codec: TargetCodecOptions): Promise<{ target: BackupTarget; id: string }> {
  if (!source.startsWith('s3://')) {
    const resolved = path.resolve(source);
    return { target: new DirectoryTarget(disk, path.dirname(resolved), codec), id: path.basename(resolved) };
  }
  const trimmed = source.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  if (cut < 's3://'.length) throw new CliError(`${source}: name the backup, s3://bucket/prefix/<id>`);
  const s3 = loadConfig({ ...env, [ENV_KEYS.backupDir]: undefined, [ENV_KEYS.backupS3Url]: trimmed.slice(0, cut) }).backupS3!;
  // Loaded only for S3: every other command starts without the AWS SDK (~170 ms).
  const { S3Target } = await import('../backup/s3-target.js');
  return { target: new S3Target(s3, codec), id: trimmed.slice(cut + 1) };
}

export function addBackupCommands(program: Command, clientOf: ClientOf, env: ConfigSource): void {
  const backup = program.command('backup').description('back up collections to the node\'s backup target (its directory or S3 bucket), list, show, verify, restore and delete backups');
  backup
    .command('create')
    .description('back up every collection (or one, as a snapshot) to the node\'s backup target (directory or S3): standalone at one instant, a cluster shard by shard at Raft positions')
    .option('--name <id>', 'the backup id (letters, digits, _ . -); generated when absent')
    .option('--collection <name>', 'only this collection (Qdrant\'s collection snapshot)')
    .action(async (o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      if (o.collection && o.name) throw new CliError('--name is for whole backups: a collection snapshot is named by the node');
      const r = o.collection
        ? await client.call<Record<string, any>>('POST', `/collections/${encodeURIComponent(o.collection)}/snapshots`)
        : await client.call<Record<string, any>>('POST', '/backups', o.name ? { name: o.name } : {});
      if (output === 'json') return printObject(r, 'json');
      printObject(o.collection ? r : summaryRow(r), 'table');
    });
  backup
    .command('list')
    .description('list the backups in the node\'s backup target (directory or S3 bucket)')
    .action(async (_o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const r = await client.call<Record<string, any>[]>('GET', '/backups');
      if (output === 'json') return printRows(r, 'json');
      printRows(r.map(summaryRow), 'table');
    });
  backup
    .command('show <id>')
    .description('one backup: its collections, point counts, content digests and positions')
    .action(async (id: string, _o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const r = await client.call<Record<string, any>>('GET', `/backups/${encodeURIComponent(id)}`);
      if (output === 'json') return printObject(r, 'json');
      printObject(summaryRow(r), 'table');
      process.stdout.write('\n');
      printRows((r.collections as any[]).flatMap((c) => (c.shards as any[]).map((s) => ({ collection: c.name, shard: s.index, points: s.points, position: s.position.kind === 'wal' ? `wal ${s.position.lsn}` : `raft ${s.position.index} (term ${s.position.term})`, from: s.captured_from ?? '-', digest: c.content_digest }))), 'table');
    });
  backup
    .command('verify <id>')
    .description('re-read every file, check the digests, restore into a scratch directory on the node and compare')
    .action(async (id: string, _o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const r = await client.call<Record<string, any>>('POST', `/backups/${encodeURIComponent(id)}/verify`);
      if (output === 'json') return printObject(r, 'json');
      printRows((r.collections as any[]).map((c) => ({ collection: c.name, points: c.points, digest: c.content_digest, verified: 'yes' })), 'table');
      process.stdout.write(`backup ${id} verified: ${r.bytes_read} bytes read in ${r.seconds.toFixed(2)} s\n`);
    });
  backup
    .command('restore <id>')
    .description('restore one collection of a backup into the running node or cluster (re-indexed from its points), under its name or --as a new one; its point count and content digest are checked against the backup')
    .requiredOption('--collection <name>', 'the collection\'s name in the backup')
    .option('--as <name>', 'the name to restore it as (it must not exist)')
    .action(async (id: string, o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const r = await client.call<Record<string, any>>('POST', `/backups/${encodeURIComponent(id)}/restore`, o.as ? { collection: o.collection, as: o.as } : { collection: o.collection });
      if (output === 'json') return printObject(r, 'json');
      printObject({ backup: r.id, collection: r.collection, restored_as: r.restored_as, shards: r.shards, points: r.points, digest: r.content_digest, payload_indexes: r.payload_indexes, seconds: r.seconds.toFixed(2) }, 'table');
    });
  backup
    .command('delete <id>')
    .description('delete one backup from the node\'s backup target (refused while a backup, verify or restore runs on the node)')
    .action(async (id: string, _o, cmd: Command) => {
      const { client, output } = clientOf(cmd);
      const r = await client.call<Record<string, any>>('DELETE', `/backups/${encodeURIComponent(id)}`);
      if (output === 'json') return printObject(r, 'json');
      process.stdout.write(`backup ${id} deleted\n`);
    });

  program
    .command('restore <backup>')
    .description(`offline: restore a backup (the directory holding its manifest.json, or s3://bucket/prefix/<id> with the ${ENV_KEYS.backupS3Endpoint}, ${ENV_KEYS.backupS3Region} and AWS_* credential settings of a node) into a new node's data directory, verifying every file and digest first`)
    .option('--data-dir <dir>', 'data directory to restore into: it must hold no collections', env.JADE_DATA_DIR ?? './data')
    .option('--key-file <file>', `the backup key file (keyId:base64key lines) holding the key an encrypted backup was made with (env ${ENV_KEYS.backupKeyFile})`)
    .action(async (source: string, o) => {
      const config = loadConfig({ ...env, [ENV_KEYS.backupS3Url]: undefined, [ENV_KEYS.backupS3Endpoint]: undefined }, { dataDir: o.dataDir, backupKeyFile: o.keyFile });
      const keys = await backupKeysOf(config.backupKeyFile);
      const disk = new RealDisk();
      const { target, id } = await offlineSource(disk, source, env, { keys, keySetting: o.keyFile ? '--key-file' : ENV_KEYS.backupKeyFile });
      const lock = await lockDataDir(config.dataDir);
      try {
        const r = await restoreBackup(disk, target, id, config.dataDir, {
          wal: { ...config.wal, pendingBytesMax: config.limits.walPendingBytesMax },
          limits: { batchPointsMax: config.limits.batchPointsMax, payloadBytesMax: config.limits.payloadBytesMax, exactScanCandidatesMax: config.limits.exactScanCandidatesMax, exactScanElementsMax: config.limits.exactScanElementsMax, indexBacklogMax: config.limits.indexBacklogMax },
          checkpointWalBytes: config.checkpointWalBytes,
        });
        for (const c of r.collections) process.stdout.write(`restored ${c.name}: ${c.points} points, content digest ${c.contentDigest}\n`);
        process.stdout.write(`restored backup ${r.id} into ${config.dataDir}: ${r.bytesRead} bytes in ${r.seconds.toFixed(2)} s\n`);
      } finally {
        target.close?.();
        await lock.release();
      }
    });
}
