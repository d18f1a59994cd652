// Wiring of one standalone node: data-dir lock → catalog (collections, WAL replay) → REST app →
// listen. Takes the whole NodeConfig and hands each part only its slice.
import { readdir, stat, statfs } from 'node:fs/promises';
import type { Server as HttpsServer } from 'node:https';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { AppDeps } from './api/rest/app.js';
import type { FenceControl } from './api/rest/context.js';
import { NodeMetrics } from './api/metrics.js';
import { buildApp } from './api/rest/app.js';
import { keyLimiterOf } from './api/rest/access.js';
import { WriteGate } from './api/rest/context.js';
import { startGrpcApi, type GrpcApi } from './api/grpc/server.js';
import { backupKeysOf, clusterBackups, standaloneBackups } from './backup/wiring.js';
import { CLUSTER_DEFAULTS, ClusterNode } from './cluster/cluster-node.js';
import { isActive } from './cluster/moves.js';
import { Catalog, StandaloneDatabase } from './query/catalog.js';
import { ClusterDatabase } from './query/cluster-database.js';
import type { Database } from './query/types.js';
import { ENV_KEYS, isClusterMode, redactedConfig, type NodeConfig } from './config.js';
import { LogRing } from './util/log-ring.js';
import { readFence } from './fence-file.js';
import { FencedDatabase } from './query/fenced-database.js';
import { startNodeTls, type NodeTls } from './node-tls.js';
import { databaseSink } from './restore-sink.js';
import { authenticatorOf, isLoopbackHost } from './security/auth.js';
import { loadTlsPair, TlsReloader } from './security/tls.js';
import { RealDisk } from './storage/disk.js';
import { lockDataDir, type DataDirLock } from './storage/lock.js';
import { JadeError } from './util/errors.js';

export const JADE_VERSION = '0.1.0';

export interface RunningNode {
  url: string;
  app: FastifyInstance;
  database: Database;
  /** The client gRPC API's port (Qdrant's gRPC services), or null when it is off (JADE_API_GRPC_PORT=off). */
  grpcPort: number | null;
  /** REST TLS (JADE_TLS_CERT_FILE/KEY_FILE): the pair in use and its reloading; null = plain HTTP. */
  tls: TlsReloader | null;
  /**
   * Graceful stop: refuse new requests, checkpoint collections, release the lock. Rejects (after
   * closing everything) when a checkpoint failed: JADE_ERR_STORAGE with the errno in details.
   */
  close(): Promise<void>;
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(p);
    else total += await stat(p).then((s) => s.size).catch(() => 0);
  }
  return total;
}

/** Where the gRPC server listens and how other nodes reach this one (REST and gRPC). */
export function clusterAddresses(config: NodeConfig): { grpcListenAddress: string; advertise: { restUrl: string; grpcAddress: string } } {
  const self = config.peers.find((p) => p.id === config.nodeId);
  if (self) return { grpcListenAddress: `${config.grpcHost}:${self.grpcAddress.split(':').at(-1)}`, advertise: { restUrl: self.restUrl, grpcAddress: self.grpcAddress } };
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const host = config.advertiseHost ?? (wildcard ? null : config.host);
  if (!host) throw new JadeError('JADE_ERR_BAD_REQUEST', `bound to ${config.host}: set --advertise-host (JADE_ADVERTISE_HOST) to the address other nodes reach this one at`);
  if (config.port === 0 || config.grpcPort === 0) throw new JadeError('JADE_ERR_BAD_REQUEST', 'cluster mode needs fixed ports (--port and JADE_GRPC_PORT other than 0): other nodes are told them');
  const h = host.includes(':') ? `[${host}]` : host;
  return { grpcListenAddress: `${config.grpcHost}:${config.grpcPort}`, advertise: { restUrl: `${config.tlsCertFile ? 'https' : 'http'}://${h}:${config.port}`, grpcAddress: `${h}:${config.grpcPort}` } };
}

/**
 * The node's log for parts built before the REST app, whose logger it is: lines go to stderr until
 * bind() hands over the app's logger. Never given secrets.
 */
export class NodeLog {
  private target: FastifyBaseLogger | null = null;
  constructor(private readonly ring?: LogRing) {}
  bind(logger: FastifyBaseLogger): void {
    this.target = logger;
  }
  info(message: string, fields: Record<string, unknown> = {}): void {
    if (this.target) this.target.info(fields, message);
    else {
      this.ring?.push(JSON.stringify({ level: 'info', time: Date.now(), msg: message }));
      process.stderr.write(`jade: ${message}\n`);
    }
  }
  warn(message: string, fields: Record<string, unknown> = {}): void {
    if (this.target) this.target.warn(fields, message);
    else {
      this.ring?.push(JSON.stringify({ level: 'warn', time: Date.now(), msg: message }));
      process.stderr.write(`jade: ${message}\n`);
    }
  }
  error(message: string, fields: Record<string, unknown> = {}): void {
    if (this.target) this.target.error(fields, message);
    else {
      this.ring?.push(JSON.stringify({ level: 'error', time: Date.now(), msg: message }));
      process.stderr.write(`jade: ${message}\n`);
    }
  }
}

function errnoOf(e: unknown): string | null {
  const errno = (e as { details?: { errno?: unknown } } | null)?.details?.errno;
  return typeof errno === 'string' ? errno : null;
}

export interface StartOptions {
  logger?: boolean | Record<string, unknown>;
  clusterLog?: (line: string) => void;
  /** The supervisor that fences and unfences this node (fencing.ts); absent = the fence routes refuse, a fence file still fences. */
  fencing?: FenceControl;
  /** Where the REST logger's lines go besides the in-memory ring of recent lines (default stdout). */
  logOutput?: (line: string) => void;
}

export async function startNode(config: NodeConfig, options: StartOptions = {}): Promise<RunningNode> {
  const disk = new RealDisk();
  // The recent log lines (GET /v1/diagnostics): what the REST logger, the cluster and NodeLog print.
  const logRing = new LogRing();
  const nodeLog = new NodeLog(logRing);
  const logOutput = options.logOutput ?? ((line: string) => void process.stdout.write(line));
  // A caller's own stream (tests) still gets every line; the ring gets a copy.
  const callerStream = options.logger && typeof options.logger === 'object' ? (options.logger.stream as { write(line: string): unknown } | undefined) : undefined;
  const logger = options.logger && typeof options.logger === 'object'
    ? { ...options.logger, stream: { write: (line: string) => { logRing.push(line); if (callerStream) callerStream.write(line); else logOutput(line); } } }
    : options.logger;
  await disk.mkdirp(config.dataDir);
  const lock: DataDirLock = await lockDataDir(config.dataDir);
  let ready = false;
  let closeBackend: (() => Promise<void>) | undefined;
  let clusterNode: ClusterNode | null = null;
  let tls: TlsReloader | null = null;
  let nodeTls: NodeTls | null = null;
  let grpcApi: GrpcApi | null = null;
  try {
    const metrics = new NodeMetrics();
    const shardLimits = {
      batchPointsMax: config.limits.batchPointsMax,
      payloadBytesMax: config.limits.payloadBytesMax,
      exactScanCandidatesMax: config.limits.exactScanCandidatesMax,
      exactScanElementsMax: config.limits.exactScanElementsMax,
      indexBacklogMax: config.limits.indexBacklogMax,
    };
    const wal = { ...config.wal, pendingBytesMax: config.limits.walPendingBytesMax };
    // Read once at start: a key file that cannot be used stops the node rather than its first backup.
    const backupKeys = { keys: await backupKeysOf(config.backupKeyFile), keySetting: ENV_KEYS.backupKeyFile };
    // Likewise the REST TLS pair, before any collection is opened: a pair that cannot be used stops the node with a message naming the setting.
    const tlsFiles = config.tlsCertFile && config.tlsKeyFile
      ? { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, certSetting: ENV_KEYS.tlsCertFile, keySetting: ENV_KEYS.tlsKeyFile }
      : null;
    const tlsInitial = tlsFiles ? await loadTlsPair(tlsFiles) : null;
    const auth = await authenticatorOf({ ...config, publicPaths: ['/healthz', '/readyz'], settings: { apiKeysFile: ENV_KEYS.apiKeysFile, jwtSecretFile: ENV_KEYS.jwtSecretFile } });
    let database: Database;
    let backups: AppDeps['backups'];
    // A fenced node opens nothing of its data (fencing.ts): the lock above keeps it its own.
    const fence = options.fencing ? options.fencing.state() : await readFence(config.dataDir);
    if (fence) {
      database = new FencedDatabase(fence, isClusterMode(config) ? 'cluster' : 'standalone');
      nodeLog.warn(`fenced since ${new Date(fence.fencedAtMs).toISOString()} (${fence.reason}): serving nothing but /healthz and /cluster/fence until unfenced (DELETE /cluster/fence)`);
    } else if (isClusterMode(config)) {
      const { advertise, grpcListenAddress } = clusterAddresses(config);
      // The cluster's own lines (membership, elections) are info-level, as pino numbers them (30).
      const quiet = options.logger === false || !['info', 'debug', 'trace'].includes(config.logLevel);
      const print = options.clusterLog ?? (quiet ? () => undefined : (line: string) => process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), node: config.nodeId, msg: line })}\n`));
      // Kept in the ring even when not printed: membership and election lines are what a report needs.
      const log = (line: string) => {
        logRing.push(JSON.stringify({ level: 30, time: Date.now(), node: config.nodeId, msg: line }));
        print(line);
      };
      nodeTls = await startNodeTls(config, nodeLog);
      // Only worth a warning where the traffic leaves the machine.
      if (!nodeTls && !isLoopbackHost(config.grpcHost)) nodeLog.warn(`node-to-node gRPC is plain text (no ${ENV_KEYS.nodeTlsCertFile}/${ENV_KEYS.nodeTlsKeyFile}/${ENV_KEYS.nodeTlsCaFile}): fine on loopback, not across a network`);
      const nodeTlsInUse = nodeTls;
      const cluster = await ClusterNode.start(disk, {
        ...CLUSTER_DEFAULTS,
        nodeId: config.nodeId,
        dataDir: config.dataDir,
        clusterName: config.clusterName,
        grpcListenAddress,
        advertise,
        labels: config.nodeLabels,
        bootstrap: config.bootstrap,
        join: config.join,
        peers: config.peers,
        clusterSecret: config.clusterSecret,
        tls: nodeTlsInUse && { credentials: nodeTlsInUse.credentials, pair: () => nodeTlsInUse.reloader.current },
        wal,
        shardLimits,
        group: { ...CLUSTER_DEFAULTS.group, snapshotEveryEntries: config.raftSnapshotEveryEntries, snapshotEveryBytes: config.raftSnapshotEveryBytes },
        leaderWaitMs: config.limits.requestTimeoutMs,
        leaderHandoffMs: config.leaderHandoffMs,
        leaderBalanceIntervalMs: config.leaderBalanceIntervalMs,
        defaults: { shardNumber: config.defaultShards, replicationFactor: config.defaultReplicationFactor, writeConsistency: config.writeConsistency },
        faultHooksEnabled: config.testHooksEnabled,
        rebalanceOnJoin: config.rebalanceOnJoin,
        failureDetector: { suspectAfterMs: config.nodeSuspectAfterMs, deadAfterMs: config.nodeDeadAfterMs },
        log,
        groupObserver: metrics,
        rpcObserver: metrics,
        warn: (line) => nodeLog.warn(line),
      });
      clusterNode = cluster;
      metrics.setGroupSource(() => cluster.groupStatuses());
      metrics.setReplicationSource(() => cluster.replicationHealth());
      metrics.setMoveSource(() => {
        const progress = cluster.moveProgressHere();
        return cluster.moves().filter((m) => isActive(m) && progress[m.id]).map((m) => ({ id: m.id, collection: m.collection, groupId: m.groupId, progress: progress[m.id] }));
      });
      database = new ClusterDatabase(cluster, { readStrategy: config.readStrategy, observer: metrics });
      const clusterBackupService = await clusterBackups(disk, cluster, databaseSink(database), { dataDir: config.dataDir, backupDir: config.backupDir, s3: config.backupS3, ...backupKeys, nodeVersion: JADE_VERSION, shard: { wal, limits: shardLimits, checkpointWalBytes: config.checkpointWalBytes } });
      backups = clusterBackupService;
      closeBackend = async () => {
        clusterBackupService.close();
        await cluster.close();
      };
    } else {
      const catalog = await Catalog.open(
        disk,
        config.dataDir,
        { collectionsMax: config.limits.collectionsMax, shard: { wal, limits: shardLimits, checkpointWalBytes: config.checkpointWalBytes } },
        (name) => ({
          onFsync: (s) => metrics.walFsyncSeconds.observe({ collection: name }, s),
          onCheckpoint: (s) => metrics.checkpointSeconds.observe({ collection: name }, s),
          onCheckpointFailed: (e) => nodeLog.error(`collection ${name}: checkpoint failed (${errnoOf(e) ?? 'no errno'}); nothing is lost, the WAL keeps every write and the next write retries: ${(e as Error).message}`, { collection: name, errno: errnoOf(e) }),
        }),
      );
      closeBackend = () => catalog.close();
      database = new StandaloneDatabase(catalog);
      const standaloneBackupService = await standaloneBackups(disk, catalog, { dataDir: config.dataDir, backupDir: config.backupDir, s3: config.backupS3, ...backupKeys, nodeVersion: JADE_VERSION, shard: { wal, limits: shardLimits, checkpointWalBytes: config.checkpointWalBytes }, sink: databaseSink(database) });
      backups = standaloneBackupService;
      closeBackend = async () => {
        standaloneBackupService.close();
        await catalog.close();
      };
    }
    const openDatabase = database;
    metrics.setCollectionSource(() =>
      // A replica still opening (or none here) has nothing to report yet.
      openDatabase.localStats().flatMap((c) => (c.points === null ? [] : [{ name: c.name, points: c.points, indexMemoryBytes: c.memoryBytes ?? 0, walBytes: c.walBytes ?? 0, indexBacklog: c.indexBacklog ?? 0 }])),
    );
    metrics.setFilesystemSource(async () => {
      const fs = await statfs(config.dataDir);
      return { freeBytes: fs.bavail * fs.bsize, sizeBytes: fs.blocks * fs.bsize };
    });
    // One budget per key across REST and gRPC.
    const keyLimiter = keyLimiterOf(config.limits);
    // Likewise one bound on writes in flight.
    const writeGate = new WriteGate(openDatabase, config.limits.writesInFlightMax);
    const appDeps: AppDeps = {
      database: openDatabase,
      keyLimiter,
      writeGate,
      testHooksEnabled: config.testHooksEnabled,
      limits: config.limits,
      hnswDefaults: config.hnswDefaults,
      walSegmentSizeBytes: config.wal.segmentSizeBytesMax,
      auth,
      metrics,
      info: { version: JADE_VERSION, nodeId: config.nodeId, clusterName: config.clusterName, startedAtMs: Date.now(), dataDir: config.dataDir },
      // A cluster node is ready once it is a member (bootstrapped, joined, or restarted as one).
      isReady: () => ready && fence === null && (clusterNode === null || clusterNode.isServing),
      diskUsageBytes: () => directoryBytes(config.dataDir),
      backups,
      logger,
      https: tlsInitial?.options,
      diagnostics: { config: redactedConfig(config), logs: () => ({ lines: logRing.snapshot(), dropped: logRing.dropped }) },
      fencing: options.fencing,
    };
    const app = await buildApp(appDeps);
    nodeLog.bind(app.log);
    await app.listen({ host: config.host, port: config.port });
    if (config.apiGrpcPort !== null) {
      // Beside REST, on its host, with its certificate, limits and keys (api/grpc/server.ts).
      const log = app.log.child({ api: 'grpc' });
      grpcApi = await startGrpcApi(
        { app: appDeps, writes: writeGate, limiter: keyLimiter, log: { info: (f, m) => log.info(f, m), warn: (f, m) => log.warn(f, m), error: (f, m) => log.error(f, m) } },
        { host: config.host, port: config.apiGrpcPort, tls: tlsInitial?.options ?? null, receiveMessageBytesMax: config.limits.bodyBytesMax },
      ).catch(async (e: unknown) => {
        await app.close();
        throw new JadeError('JADE_ERR_BAD_REQUEST', `${ENV_KEYS.apiGrpcPort}: cannot listen on ${config.host}:${config.apiGrpcPort} for the client gRPC API: ${(e as Error).message}`);
      });
      nodeLog.info(`client gRPC API (Qdrant-compatible) listening on ${config.host}:${grpcApi.port}${tlsInitial ? ' (TLS)' : ''}`, { grpcPort: grpcApi.port });
    }
    if (tlsFiles && tlsInitial) {
      const server = app.server as unknown as HttpsServer;
      tls = new TlsReloader({
        files: tlsFiles,
        initial: tlsInitial,
        // New handshakes get the new pair; open connections keep theirs.
        install: (pair) => {
          server.setSecureContext(pair.options);
          grpcApi?.setSecureContext(pair.options);
        },
        expiryWarningSeconds: config.tlsExpiryWarningSeconds,
        log: nodeLog,
      });
      await tls.start();
    }
    const restReloader = tls;
    const nodeReloader = nodeTls?.reloader;
    metrics.setCertificateSource(() => [
      ...(restReloader ? [{ kind: 'rest', expirySeconds: restReloader.expirySeconds() }] : []),
      ...(nodeReloader ? [{ kind: 'node', expirySeconds: nodeReloader.expirySeconds() }] : []),
    ]);
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
    ready = true;
    let closing: Promise<void> | null = null;
    return {
      url: `${tls ? 'https' : 'http'}://${hostForUrl}:${port}`,
      app,
      database: openDatabase,
      grpcPort: grpcApi?.port ?? null,
      tls,
      close() {
        closing ??= (async () => {
          ready = false;
          tls?.close();
          nodeTls?.reloader.close();
          try {
            await grpcApi?.close();
            await app.close();
            await closeBackend?.();
          } finally {
            await lock.release();
          }
        })();
        return closing;
      },
    };
  } catch (e) {
    tls?.close();
    nodeTls?.reloader.close();
    await grpcApi?.close().catch(() => undefined);
    await closeBackend?.().catch(() => undefined);
    await lock.release();
    throw e;
  }
}
