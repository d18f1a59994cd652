// The one configuration schema of a node. main.ts builds it once from flags and environment
// (the only place that reads process.env) and hands each component its slice.
import type { HnswParams } from './index/types.js';
import { DEFAULT_HNSW_PARAMS } from './index/types.js';
import { RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT } from './raft/driver.js';
import { READ_STRATEGIES, type ReadStrategy } from './query/read-strategy.js';
import { API_KEY_LENGTH_MIN, isLoopbackHost } from './security/auth.js';
import { CLUSTER_SECRET_LENGTH_MIN } from './security/node-auth.js';
import { DEFAULT_SHARD_LIMITS } from './shard/state.js';

export interface NodeLimits {
  /** Bytes of one HTTP request body (413 past it). */
  bodyBytesMax: number;
  /** Points in one upsert/delete/retrieve request (413 past it). */
  batchPointsMax: number;
  /** Bytes of one point's JSON payload (413 past it). */
  payloadBytesMax: number;
  /** Searches in one batch-search request (413 past it). */
  searchBatchMax: number;
  /** Largest k (limit) of one search. */
  searchLimitMax: number;
  /** Largest ef of one search. */
  searchEfMax: number;
  /** Collections on one node. */
  collectionsMax: number;
  /** Write requests in flight on the node (429 past it). */
  writesInFlightMax: number;
  /** WAL bytes accepted but not yet fsynced, per collection (429 past it). */
  walPendingBytesMax: number;
  /** Filtered searches with at most this many candidates use exact scan... */
  exactScanCandidatesMax: number;
  /** ... or with at most this many vector elements in them (candidates × dimension). */
  exactScanElementsMax: number;
  /** Points per collection stored but not yet in the HNSW graph (429 past it). */
  indexBacklogMax: number;
  /** Deadline of a request that names none (Qdrant's `timeout`), for every hop of it. */
  requestTimeoutMs: number;
}

export interface NodeConfig {
  dataDir: string;
  /** Backup target directory (standalone backups and snapshots); null = <dataDir>/backups. */
  backupDir: string | null;
  /** Backup key file (keyId:base64key lines, the first encrypts: backup/keys.ts); null = backups unencrypted. A path, not a secret: the keys are read from it at start. */
  backupKeyFile: string | null;
  host: string;
  port: number;
  /** REST over HTTPS: PEM certificate (chain) and key files, reloaded when they change; both or neither (null = plain HTTP). Paths, not secrets. */
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  /** Warn (log) when the REST certificate expires within this many seconds. */
  tlsExpiryWarningSeconds: number;
  grpcPort: number;
  nodeId: string;
  clusterName: string;
  /** Secret: never logged or printed. */
  apiKey: string | null;
  /** Secret shared by the nodes of a cluster, authenticating their Raft traffic: never logged or printed. */
  clusterSecret: string | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  limits: NodeLimits;
  hnswDefaults: HnswParams;
  wal: { segmentSizeBytesMax: number; groupCommitMaxDelayMs: number; recordSizeBytesMax: number };
  /** A collection checkpoints once its WAL holds this many bytes. */
  checkpointWalBytes: number;
  /** Test-only fault hooks (transport partitions, delays, drops); off unless explicitly enabled. */
  testHooksEnabled: boolean;
  /** A fixed set of cluster members (this node included); the first bootstraps, the rest join. */
  peers: PeerConfig[];
  /** Form a new cluster with this node as its first member (first start only). */
  bootstrap: boolean;
  /** Members (host:port of their gRPC port, or a DNS name whose every address is tried) to join through (first start only). */
  join: string[];
  /** The host other nodes reach this one at (default: the bind address, or the first peer entry naming this node). */
  advertiseHost: string | null;
  /** Free-form labels of this node (zone, read-weight) for read strategies. */
  nodeLabels: Record<string, string>;
  /** Defaults of new collections in cluster mode. */
  defaultShards: number;
  /** null = min(3, nodes). */
  defaultReplicationFactor: number | null;
  writeConsistency: 'majority' | 'all' | 'one';
  /** Which replica serves an eventual read. */
  readStrategy: ReadStrategy;
  /** Address the Raft transport (gRPC) listens on; cluster mode only. */
  grpcHost: string;
  /** Cluster mode: each Raft group snapshots its state and compacts its log after this many applied entries... */
  raftSnapshotEveryEntries: number;
  /** ... or this many bytes of applied entries, whichever comes first. */
  raftSnapshotEveryBytes: number;
  /** Cluster mode: the meta leader rebalances replicas when a new node joins. */
  rebalanceOnJoin: boolean;
  /** Cluster mode: the meta leader calls a node silent this long suspect (reported only)... */
  nodeSuspectAfterMs: number;
  /** ... and dead after this long: its replicas are re-created on other nodes. */
  nodeDeadAfterMs: number;
  /** Cluster mode: on SIGTERM, how long the node waits for the groups it leads to take a new leader before it stops (0: no handoff). */
  leaderHandoffMs: number;
  /** Cluster mode: how often the meta leader evens out shard group leaderships over the nodes (0: never). */
  leaderBalanceIntervalMs: number;
}

export interface PeerConfig {
  id: string;
  /** host:port of its Raft transport. */
  grpcAddress: string;
  /** http://host:port of its REST API (writes are forwarded there). */
  restUrl: string;
}

/** Parses `id=grpcHost:port/restHost:port,...` (JADE_PEERS / --peers). */
export function parsePeers(raw: string | undefined): PeerConfig[] {
  if (!raw) return [];
  return raw.split(',').map((part) => {
    const m = /^([A-Za-z0-9_.-]+)=([^/\s]+:\d+)\/(https?:\/\/)?([^/\s]+:\d+)$/.exec(part.trim());
    if (!m) throw new ConfigError(`peer "${part}" must look like id=grpcHost:port/restHost:port`);
    return { id: m[1], grpcAddress: m[2], restUrl: `${m[3] ?? 'http://'}${m[4]}` };
  });
}

export const DEFAULT_LIMITS: NodeLimits = {
  bodyBytesMax: 64 * 1024 * 1024,
  batchPointsMax: 10_000,
  payloadBytesMax: 64 * 1024,
  searchBatchMax: 256,
  searchLimitMax: 10_000,
  searchEfMax: 32_768,
  collectionsMax: 1_000,
  writesInFlightMax: 256,
  walPendingBytesMax: 256 * 1024 * 1024,
  exactScanCandidatesMax: DEFAULT_SHARD_LIMITS.exactScanCandidatesMax,
  exactScanElementsMax: DEFAULT_SHARD_LIMITS.exactScanElementsMax,
  indexBacklogMax: 200_000,
  requestTimeoutMs: 30_000,
};

export const DEFAULT_CONFIG: NodeConfig = {
  dataDir: './data',
  backupDir: null,
  backupKeyFile: null,
  host: '127.0.0.1',
  port: 8080,
  tlsCertFile: null,
  tlsKeyFile: null,
  tlsExpiryWarningSeconds: 14 * 86400,
  grpcPort: 9090,
  nodeId: 'node-0',
  clusterName: 'jade',
  apiKey: null,
  clusterSecret: null,
  logLevel: 'info',
  limits: DEFAULT_LIMITS,
  hnswDefaults: DEFAULT_HNSW_PARAMS,
  wal: { segmentSizeBytesMax: 64 * 1024 * 1024, groupCommitMaxDelayMs: 0, recordSizeBytesMax: 128 * 1024 * 1024 },
  checkpointWalBytes: 512 * 1024 * 1024,
  testHooksEnabled: false,
  peers: [],
  bootstrap: false,
  join: [],
  advertiseHost: null,
  nodeLabels: {},
  defaultShards: 1,
  defaultReplicationFactor: null,
  writeConsistency: 'majority',
  readStrategy: 'locality',
  grpcHost: '127.0.0.1',
  raftSnapshotEveryEntries: 10_000,
  raftSnapshotEveryBytes: RAFT_SNAPSHOT_EVERY_BYTES_DEFAULT,
  rebalanceOnJoin: true,
  nodeSuspectAfterMs: 10_000,
  nodeDeadAfterMs: 300_000,
  leaderHandoffMs: 2_000,
  leaderBalanceIntervalMs: 30_000,
};

/** Environment variables a node reads (documented in README "Configuration"). */
export const ENV_KEYS = {
  dataDir: 'JADE_DATA_DIR',
  backupDir: 'JADE_BACKUP_DIR',
  backupKeyFile: 'JADE_BACKUP_KEY_FILE',
  host: 'JADE_HOST',
  port: 'JADE_PORT',
  tlsCertFile: 'JADE_TLS_CERT_FILE',
  tlsKeyFile: 'JADE_TLS_KEY_FILE',
  tlsExpiryWarningSeconds: 'JADE_TLS_EXPIRY_WARNING_SECONDS',
  grpcPort: 'JADE_GRPC_PORT',
  nodeId: 'JADE_NODE_ID',
  clusterName: 'JADE_CLUSTER_NAME',
  apiKey: 'JADE_API_KEY',
  clusterSecret: 'JADE_CLUSTER_SECRET',
  logLevel: 'JADE_LOG_LEVEL',
  bodyBytesMax: 'JADE_BODY_BYTES_MAX',
  batchPointsMax: 'JADE_BATCH_POINTS_MAX',
  payloadBytesMax: 'JADE_PAYLOAD_BYTES_MAX',
  searchBatchMax: 'JADE_SEARCH_BATCH_MAX',
  collectionsMax: 'JADE_COLLECTIONS_MAX',
  writesInFlightMax: 'JADE_WRITES_IN_FLIGHT_MAX',
  walPendingBytesMax: 'JADE_WAL_PENDING_BYTES_MAX',
  indexBacklogMax: 'JADE_INDEX_BACKLOG_MAX',
  requestTimeoutMs: 'JADE_REQUEST_TIMEOUT_MS',
  hnswM: 'JADE_HNSW_M',
  hnswEfConstruction: 'JADE_HNSW_EF_CONSTRUCTION',
  hnswEf: 'JADE_HNSW_EF',
  checkpointWalBytes: 'JADE_CHECKPOINT_WAL_BYTES',
  testHooks: 'JADE_TEST_HOOKS',
  peers: 'JADE_PEERS',
  bootstrap: 'JADE_BOOTSTRAP',
  join: 'JADE_JOIN',
  advertiseHost: 'JADE_ADVERTISE_HOST',
  nodeLabels: 'JADE_NODE_LABELS',
  defaultShards: 'JADE_DEFAULT_SHARDS',
  defaultReplicationFactor: 'JADE_DEFAULT_REPLICATION_FACTOR',
  writeConsistency: 'JADE_WRITE_CONSISTENCY',
  readStrategy: 'JADE_READ_STRATEGY',
  grpcHost: 'JADE_GRPC_HOST',
  raftSnapshotEveryEntries: 'JADE_RAFT_SNAPSHOT_EVERY_ENTRIES',
  raftSnapshotEveryBytes: 'JADE_RAFT_SNAPSHOT_EVERY_BYTES',
  rebalanceOnJoin: 'JADE_REBALANCE_ON_JOIN',
  nodeSuspectAfterMs: 'JADE_NODE_SUSPECT_AFTER_MS',
  nodeDeadAfterMs: 'JADE_NODE_DEAD_AFTER_MS',
  leaderHandoffMs: 'JADE_LEADER_HANDOFF_MS',
  leaderBalanceIntervalMs: 'JADE_LEADER_BALANCE_INTERVAL_MS',
} as const;

export class ConfigError extends Error {}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

/** "zone=a,read-weight=2" → { zone: 'a', 'read-weight': '2' }. */
export function parseLabels(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (raw ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_./-]{1,63})=([^,=\s]{0,256})$/.exec(part);
    if (!m) throw new ConfigError(`node label "${part}" must look like key=value`);
    out[m[1]] = m[2];
  }
  return out;
}

/** Whether the configuration asks for cluster mode (else the node runs standalone). */
export function isClusterMode(c: NodeConfig): boolean {
  return c.peers.length > 0 || c.bootstrap || c.join.length > 0;
}

function int(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer in ${min}..${max}, got "${raw}"`);
  return n;
}

export type ConfigSource = Record<string, string | undefined>;

/**
 * Merges flags over environment over defaults. `flags` uses the ENV_KEYS names as keys so the
 * CLI and the environment share one vocabulary.
 */
export function loadConfig(env: ConfigSource, flags: ConfigSource = {}): NodeConfig {
  const get = (k: keyof typeof ENV_KEYS) => flags[k] ?? env[ENV_KEYS[k]];
  const d = DEFAULT_CONFIG;
  const logLevel = (get('logLevel') ?? d.logLevel) as NodeConfig['logLevel'];
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) throw new ConfigError(`log level "${logLevel}" is not one of fatal, error, warn, info, debug, trace, silent`);
  const apiKey = get('apiKey') || null;
  // Secrets come from the environment only, never from flags (process lists show flags).
  const clusterSecret = env[ENV_KEYS.clusterSecret] || null;
  const config: NodeConfig = {
    dataDir: get('dataDir') || d.dataDir,
    backupDir: get('backupDir') || d.backupDir,
    backupKeyFile: get('backupKeyFile') || d.backupKeyFile,
    host: get('host') || d.host,
    port: int('port', get('port'), d.port, 0, 65535),
    tlsCertFile: get('tlsCertFile') || d.tlsCertFile,
    tlsKeyFile: get('tlsKeyFile') || d.tlsKeyFile,
    tlsExpiryWarningSeconds: int('tlsExpiryWarningSeconds', get('tlsExpiryWarningSeconds'), d.tlsExpiryWarningSeconds, 0, 365 * 86400),
    grpcPort: int('grpcPort', get('grpcPort'), d.grpcPort, 0, 65535),
    nodeId: get('nodeId') || d.nodeId,
    clusterName: get('clusterName') || d.clusterName,
    apiKey,
    clusterSecret,
    logLevel,
    limits: {
      ...d.limits,
      bodyBytesMax: int('bodyBytesMax', get('bodyBytesMax'), d.limits.bodyBytesMax, 1024, 2 ** 31),
      batchPointsMax: int('batchPointsMax', get('batchPointsMax'), d.limits.batchPointsMax, 1, 1_000_000),
      payloadBytesMax: int('payloadBytesMax', get('payloadBytesMax'), d.limits.payloadBytesMax, 16, 64 * 1024 * 1024),
      searchBatchMax: int('searchBatchMax', get('searchBatchMax'), d.limits.searchBatchMax, 1, 100_000),
      collectionsMax: int('collectionsMax', get('collectionsMax'), d.limits.collectionsMax, 1, 100_000),
      writesInFlightMax: int('writesInFlightMax', get('writesInFlightMax'), d.limits.writesInFlightMax, 1, 1_000_000),
      walPendingBytesMax: int('walPendingBytesMax', get('walPendingBytesMax'), d.limits.walPendingBytesMax, 1024, 2 ** 40),
      indexBacklogMax: int('indexBacklogMax', get('indexBacklogMax'), d.limits.indexBacklogMax, 1, 100_000_000),
      requestTimeoutMs: int('requestTimeoutMs', get('requestTimeoutMs'), d.limits.requestTimeoutMs, 100, 600_000),
    },
    hnswDefaults: {
      m: int('hnswM', get('hnswM'), d.hnswDefaults.m, 2, 128),
      efConstruction: int('hnswEfConstruction', get('hnswEfConstruction'), d.hnswDefaults.efConstruction, 4, 4096),
      efSearch: int('hnswEf', get('hnswEf'), d.hnswDefaults.efSearch, 1, 32_768),
    },
    wal: d.wal,
    checkpointWalBytes: int('checkpointWalBytes', get('checkpointWalBytes'), d.checkpointWalBytes, 1024, 2 ** 40),
    testHooksEnabled: get('testHooks') === '1',
    peers: parsePeers(get('peers')),
    bootstrap: get('bootstrap') === '1' || get('bootstrap') === 'true',
    join: (get('join') ?? '').split(',').map((x) => x.trim()).filter(Boolean),
    advertiseHost: get('advertiseHost') || null,
    nodeLabels: parseLabels(get('nodeLabels')),
    defaultShards: int('defaultShards', get('defaultShards'), d.defaultShards, 1, 1024),
    defaultReplicationFactor: get('defaultReplicationFactor') ? int('defaultReplicationFactor', get('defaultReplicationFactor'), 1, 1, 16) : null,
    // 'quorum' (DESIGN.md's word, and the CRD's) is another name for majority.
    writeConsistency: oneOf('writeConsistency', get('writeConsistency') === 'quorum' ? 'majority' : get('writeConsistency'), ['majority', 'all', 'one'] as const, d.writeConsistency),
    readStrategy: oneOf('readStrategy', get('readStrategy'), READ_STRATEGIES, d.readStrategy),
    grpcHost: get('grpcHost') || get('host') || d.grpcHost,
    raftSnapshotEveryEntries: int('raftSnapshotEveryEntries', get('raftSnapshotEveryEntries'), d.raftSnapshotEveryEntries, 2, 100_000_000),
    raftSnapshotEveryBytes: int('raftSnapshotEveryBytes', get('raftSnapshotEveryBytes'), d.raftSnapshotEveryBytes, 1 << 20, 64 * 1024 * 1024 * 1024),
    rebalanceOnJoin: oneOf('rebalanceOnJoin', get('rebalanceOnJoin'), ['true', 'false'] as const, d.rebalanceOnJoin ? 'true' : 'false') === 'true',
    nodeSuspectAfterMs: int('nodeSuspectAfterMs', get('nodeSuspectAfterMs'), d.nodeSuspectAfterMs, 1_000, 24 * 3600_000),
    nodeDeadAfterMs: int('nodeDeadAfterMs', get('nodeDeadAfterMs'), d.nodeDeadAfterMs, 1_000, 7 * 24 * 3600_000),
    leaderHandoffMs: int('leaderHandoffMs', get('leaderHandoffMs'), d.leaderHandoffMs, 0, 60_000),
    leaderBalanceIntervalMs: int('leaderBalanceIntervalMs', get('leaderBalanceIntervalMs'), d.leaderBalanceIntervalMs, 0, 24 * 3600_000),
  };
  if (config.limits.indexBacklogMax < config.limits.batchPointsMax) {
    throw new ConfigError(`indexBacklogMax (${config.limits.indexBacklogMax}) must be at least batchPointsMax (${config.limits.batchPointsMax}), or a full batch could never be written`);
  }
  if (config.nodeDeadAfterMs <= config.nodeSuspectAfterMs) throw new ConfigError(`nodeDeadAfterMs (${config.nodeDeadAfterMs}) must be longer than nodeSuspectAfterMs (${config.nodeSuspectAfterMs})`);
  if ((config.tlsCertFile === null) !== (config.tlsKeyFile === null)) {
    const [given, missing] = config.tlsCertFile === null ? [ENV_KEYS.tlsKeyFile, ENV_KEYS.tlsCertFile] : [ENV_KEYS.tlsCertFile, ENV_KEYS.tlsKeyFile];
    throw new ConfigError(`${given} is set but ${missing} is not: REST TLS needs both the certificate and the key file (or neither, for plain HTTP)`);
  }
  if (config.bootstrap && config.join.length > 0) throw new ConfigError('--bootstrap forms a new cluster and --join enters an existing one: give one of them');
  if (config.peers.length > 0 && (config.bootstrap || config.join.length > 0)) throw new ConfigError('--peers (a fixed member set) derives bootstrap and join itself: do not combine it with --bootstrap or --join');
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(config.nodeId)) throw new ConfigError(`node id "${config.nodeId}" must be 1-128 characters of letters, digits, _ . -`);
  if (config.peers.length > 0 && !config.peers.some((p) => p.id === config.nodeId)) {
    throw new ConfigError(`node id "${config.nodeId}" is not among the peers (${config.peers.map((p) => p.id).join(', ')})`);
  }
  return config;
}

/** The config with secrets masked, for logs and `jade status`. */
export function redactedConfig(c: NodeConfig): Record<string, unknown> {
  return { ...c, apiKey: c.apiKey === null ? null : '<redacted>', clusterSecret: c.clusterSecret === null ? null : '<redacted>' };
}

/** Every address the node listens on, with the setting that chose it: REST, and the Raft transport in cluster mode. */
export function listeningAddresses(c: NodeConfig): { host: string; setting: string }[] {
  const rest = { host: c.host, setting: `--host / ${ENV_KEYS.host}` };
  return isClusterMode(c) ? [rest, { host: c.grpcHost, setting: `${ENV_KEYS.grpcHost}, the Raft transport and internal calls` }] : [rest];
}

/**
 * Why this configuration must not start, or null. Authentication is on whenever a node binds
 * beyond loopback: clients need an API key when REST does; in cluster mode the nodes need the
 * cluster secret when any of their addresses (REST, which carries forwarded writes, or the Raft
 * transport) does.
 */
export function authRefusal(c: NodeConfig): string | null {
  const exposed = listeningAddresses(c).filter((a) => !isLoopbackHost(a.host));
  if (!isLoopbackHost(c.host) && c.apiKey === null) {
    return `refusing to bind ${c.host} without authentication: set ${ENV_KEYS.apiKey} (at least ${API_KEY_LENGTH_MIN} characters), or bind to 127.0.0.1`;
  }
  if (c.apiKey !== null && c.apiKey.length < API_KEY_LENGTH_MIN) return `${ENV_KEYS.apiKey} must be at least ${API_KEY_LENGTH_MIN} characters`;
  if (isClusterMode(c) && exposed.length > 0 && c.clusterSecret === null) {
    const where = exposed.map((a) => `${a.host} (${a.setting})`).join(' and ');
    return `refusing to bind ${where} without node-to-node authentication: set ${ENV_KEYS.clusterSecret} (at least ${CLUSTER_SECRET_LENGTH_MIN} characters, the same on every node), or bind to 127.0.0.1`;
  }
  if (c.clusterSecret !== null && c.clusterSecret.length < CLUSTER_SECRET_LENGTH_MIN) return `${ENV_KEYS.clusterSecret} must be at least ${CLUSTER_SECRET_LENGTH_MIN} characters`;
  return null;
}
