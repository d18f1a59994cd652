// The one configuration schema of a node. main.ts builds it once from flags and environment
// (the only place that reads process.env) and hands each component its slice.
import { S3_PART_SIZE_BYTES_DEFAULT, S3_PART_SIZE_BYTES_MAX, S3_PART_SIZE_BYTES_MIN, type S3TargetSettings } from './backup/s3-settings.js';
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
  /** Per key (its id): sustained requests per second; 0 = no rate limit (429 past it). */
  keyRequestsPerSecondMax: number;
  /** Per key: requests at once after idling (the token bucket's size); 0 = one second's worth. */
  keyRequestsBurstMax: number;
  /** Per key: requests in flight; 0 = no cap (429 past it). */
  keyRequestsInFlightMax: number;
  /** A client must send its request headers within this (slowloris; 408). */
  headersTimeoutMs: number;
  /** ... and its whole request, body included, within this (408). */
  requestReceiveTimeoutMs: number;
}

export interface NodeConfig {
  dataDir: string;
  /** Backup target directory (standalone backups and snapshots); null = <dataDir>/backups. */
  backupDir: string | null;
  /** Backups in S3-compatible object storage instead of backupDir (both set is refused); null = the directory. Its credentials are secret: never logged or printed. */
  backupS3: S3TargetSettings | null;
  /** Backup key file (keyId:base64key lines, the first encrypts: backup/keys.ts); null = backups unencrypted. A path, not a secret: the keys are read from it at start. */
  backupKeyFile: string | null;
  host: string;
  port: number;
  /** REST over HTTPS: PEM certificate (chain) and key files, reloaded when they change; both or neither (null = plain HTTP). Paths, not secrets. */
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  /** Warn (log) when the REST certificate expires within this many seconds. */
  tlsExpiryWarningSeconds: number;
  /** Node-to-node mutual TLS: this node's PEM certificate (chain), key and the cluster CA; all three or none (null = plain text). Reloaded when they change. Paths, not secrets. */
  /** crlFile: a CRL from the CA (JADE_NODE_TLS_CRL_FILE); peers whose certificate it lists are refused. */
  nodeTls: { certFile: string; keyFile: string; caFile: string; crlFile?: string } | null;
  grpcPort: number;
  /**
   * Port of the client gRPC API (Qdrant's gRPC services), on the REST host; 0 = any free port,
   * null = off. loadConfig (a served node) defaults to API_GRPC_PORT_DEFAULT; DEFAULT_CONFIG, the
   * base of embedded and in-process nodes, leaves it off so many of them can run side by side.
   */
  apiGrpcPort: number | null;
  nodeId: string;
  clusterName: string;
  /** Secret: never logged or printed. The admin key. */
  apiKey: string | null;
  /** API keys with roles (JSON, security/keys-file.ts); a path, not a secret: the keys are read from it at start. */
  apiKeysFile: string | null;
  /** HS256 secret of Qdrant-style JWTs; a path, read at start. null = JWTs are not accepted. */
  jwtSecretFile: string | null;
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
  keyRequestsPerSecondMax: 0,
  keyRequestsBurstMax: 0,
  keyRequestsInFlightMax: 1_024,
  // Node's own defaults, which fastify turns off for the whole request (requestTimeout 0).
  headersTimeoutMs: 60_000,
  requestReceiveTimeoutMs: 300_000,
};

/** The client gRPC API's port when nothing says otherwise: Qdrant's. */
export const API_GRPC_PORT_DEFAULT = 6334;

export const DEFAULT_CONFIG: NodeConfig = {
  dataDir: './data',
  backupDir: null,
  backupS3: null,
  backupKeyFile: null,
  host: '127.0.0.1',
  port: 8080,
  tlsCertFile: null,
  tlsKeyFile: null,
  tlsExpiryWarningSeconds: 14 * 86400,
  nodeTls: null,
  grpcPort: 9090,
  apiGrpcPort: null,
  nodeId: 'node-0',
  clusterName: 'jade',
  apiKey: null,
  apiKeysFile: null,
  jwtSecretFile: null,
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
  backupS3Url: 'JADE_BACKUP_S3_URL',
  backupS3Endpoint: 'JADE_BACKUP_S3_ENDPOINT',
  backupS3Region: 'JADE_BACKUP_S3_REGION',
  backupS3PartSizeBytes: 'JADE_BACKUP_S3_PART_SIZE_BYTES',
  awsAccessKeyId: 'AWS_ACCESS_KEY_ID',
  awsSecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  awsSessionToken: 'AWS_SESSION_TOKEN',
  host: 'JADE_HOST',
  port: 'JADE_PORT',
  tlsCertFile: 'JADE_TLS_CERT_FILE',
  tlsKeyFile: 'JADE_TLS_KEY_FILE',
  tlsExpiryWarningSeconds: 'JADE_TLS_EXPIRY_WARNING_SECONDS',
  nodeTlsCertFile: 'JADE_NODE_TLS_CERT_FILE',
  nodeTlsKeyFile: 'JADE_NODE_TLS_KEY_FILE',
  nodeTlsCaFile: 'JADE_NODE_TLS_CA_FILE',
  nodeTlsCrlFile: 'JADE_NODE_TLS_CRL_FILE',
  grpcPort: 'JADE_GRPC_PORT',
  apiGrpcPort: 'JADE_API_GRPC_PORT',
  nodeId: 'JADE_NODE_ID',
  clusterName: 'JADE_CLUSTER_NAME',
  apiKey: 'JADE_API_KEY',
  apiKeysFile: 'JADE_API_KEYS_FILE',
  jwtSecretFile: 'JADE_JWT_SECRET_FILE',
  keyRequestsPerSecondMax: 'JADE_KEY_REQUESTS_PER_SECOND_MAX',
  keyRequestsBurstMax: 'JADE_KEY_REQUESTS_BURST_MAX',
  keyRequestsInFlightMax: 'JADE_KEY_REQUESTS_IN_FLIGHT_MAX',
  headersTimeoutMs: 'JADE_HEADERS_TIMEOUT_MS',
  requestReceiveTimeoutMs: 'JADE_REQUEST_RECEIVE_TIMEOUT_MS',
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

/** Bucket names as S3 allows them (3-63 of lowercase letters, digits, . -). */
const S3_BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/prefix` → bucket and prefix (no leading or trailing "/"; "" for none). */
export function parseS3Url(raw: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(raw);
  if (!m) throw new ConfigError(`${ENV_KEYS.backupS3Url} must look like s3://bucket/prefix, got "${raw}"`);
  if (!S3_BUCKET_RE.test(m[1])) throw new ConfigError(`${ENV_KEYS.backupS3Url}: "${m[1]}" is not a bucket name (3-63 of lowercase letters, digits, . -)`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if ((prefix !== '' && prefix.split('/').some((seg) => seg === '' || seg === '.' || seg === '..')) || /[\x00-\x1f\x7f\\]/.test(prefix)) {
    throw new ConfigError(`${ENV_KEYS.backupS3Url}: prefix "${prefix}" must be segments joined by "/" (no empty, "." or ".." segments, no control characters or backslashes)`);
  }
  return { bucket: m[1], prefix };
}

/** The S3 settings, or null when no bucket is named. Credentials come from the environment only (never flags). */
function s3Settings(env: ConfigSource, get: (k: keyof typeof ENV_KEYS) => string | undefined): S3TargetSettings | null {
  const url = get('backupS3Url');
  const endpoint = get('backupS3Endpoint') || null;
  if (!url) {
    if (endpoint) throw new ConfigError(`${ENV_KEYS.backupS3Endpoint} is set without ${ENV_KEYS.backupS3Url}: name the bucket (s3://bucket/prefix)`);
    return null;
  }
  const { bucket, prefix } = parseS3Url(url);
  if (endpoint !== null) {
    let u: URL;
    try {
      u = new URL(endpoint);
    } catch {
      throw new ConfigError(`${ENV_KEYS.backupS3Endpoint} must be an http(s) URL, got "${endpoint}"`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${ENV_KEYS.backupS3Endpoint} must be an http(s) URL, got "${u.protocol}"`);
    // Credentials in the URL would end up in messages: they belong in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    if (u.username || u.password) throw new ConfigError(`${ENV_KEYS.backupS3Endpoint} must not hold credentials: set ${ENV_KEYS.awsAccessKeyId} and ${ENV_KEYS.awsSecretAccessKey}`);
  }
  const accessKeyId = env[ENV_KEYS.awsAccessKeyId] || null;
  const secretAccessKey = env[ENV_KEYS.awsSecretAccessKey] || null;
  if ((accessKeyId === null) !== (secretAccessKey === null)) throw new ConfigError(`${ENV_KEYS.awsAccessKeyId} and ${ENV_KEYS.awsSecretAccessKey} go together: set both, or neither (the SDK's default chain: instance or pod roles)`);
  const sessionToken = env[ENV_KEYS.awsSessionToken] || undefined;
  return {
    bucket,
    prefix,
    endpoint,
    region: get('backupS3Region') || 'us-east-1',
    partSizeBytes: int('backupS3PartSizeBytes', get('backupS3PartSizeBytes'), S3_PART_SIZE_BYTES_DEFAULT, S3_PART_SIZE_BYTES_MIN, S3_PART_SIZE_BYTES_MAX),
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } : null,
  };
}

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
    backupS3: s3Settings(env, get),
    backupKeyFile: get('backupKeyFile') || d.backupKeyFile,
    host: get('host') || d.host,
    port: int('port', get('port'), d.port, 0, 65535),
    tlsCertFile: get('tlsCertFile') || d.tlsCertFile,
    tlsKeyFile: get('tlsKeyFile') || d.tlsKeyFile,
    tlsExpiryWarningSeconds: int('tlsExpiryWarningSeconds', get('tlsExpiryWarningSeconds'), d.tlsExpiryWarningSeconds, 0, 365 * 86400),
    nodeTls: nodeTlsFiles(get),
    grpcPort: int('grpcPort', get('grpcPort'), d.grpcPort, 0, 65535),
    apiGrpcPort: get('apiGrpcPort') === 'off' ? null : int('apiGrpcPort', get('apiGrpcPort'), API_GRPC_PORT_DEFAULT, 0, 65535),
    nodeId: get('nodeId') || d.nodeId,
    clusterName: get('clusterName') || d.clusterName,
    apiKey,
    apiKeysFile: get('apiKeysFile') || null,
    jwtSecretFile: get('jwtSecretFile') || null,
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
      keyRequestsPerSecondMax: int('keyRequestsPerSecondMax', get('keyRequestsPerSecondMax'), d.limits.keyRequestsPerSecondMax, 0, 1_000_000),
      keyRequestsBurstMax: int('keyRequestsBurstMax', get('keyRequestsBurstMax'), d.limits.keyRequestsBurstMax, 0, 1_000_000),
      keyRequestsInFlightMax: int('keyRequestsInFlightMax', get('keyRequestsInFlightMax'), d.limits.keyRequestsInFlightMax, 0, 1_000_000),
      headersTimeoutMs: int('headersTimeoutMs', get('headersTimeoutMs'), d.limits.headersTimeoutMs, 1_000, 3_600_000),
      requestReceiveTimeoutMs: int('requestReceiveTimeoutMs', get('requestReceiveTimeoutMs'), d.limits.requestReceiveTimeoutMs, 1_000, 3_600_000),
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
  if (config.backupDir !== null && config.backupS3 !== null) throw new ConfigError(`${ENV_KEYS.backupDir} and ${ENV_KEYS.backupS3Url} are both set: backups go to one target, unset one of them`);
  if (config.limits.indexBacklogMax < config.limits.batchPointsMax) {
    throw new ConfigError(`indexBacklogMax (${config.limits.indexBacklogMax}) must be at least batchPointsMax (${config.limits.batchPointsMax}), or a full batch could never be written`);
  }
  // Node's HTTP server requires it: the headers are part of the request.
  if (config.limits.headersTimeoutMs > config.limits.requestReceiveTimeoutMs) throw new ConfigError(`headersTimeoutMs (${config.limits.headersTimeoutMs}) must not be longer than requestReceiveTimeoutMs (${config.limits.requestReceiveTimeoutMs})`);
  if (config.nodeDeadAfterMs <= config.nodeSuspectAfterMs) throw new ConfigError(`nodeDeadAfterMs (${config.nodeDeadAfterMs}) must be longer than nodeSuspectAfterMs (${config.nodeSuspectAfterMs})`);
  if ((config.tlsCertFile === null) !== (config.tlsKeyFile === null)) {
    const [given, missing] = config.tlsCertFile === null ? [ENV_KEYS.tlsKeyFile, ENV_KEYS.tlsCertFile] : [ENV_KEYS.tlsCertFile, ENV_KEYS.tlsKeyFile];
    throw new ConfigError(`${given} is set but ${missing} is not: REST TLS needs both the certificate and the key file (or neither, for plain HTTP)`);
  }
  if (config.apiGrpcPort !== null && config.apiGrpcPort !== 0 && (config.apiGrpcPort === config.port || (isClusterMode(config) && config.apiGrpcPort === config.grpcPort))) {
    throw new ConfigError(`${ENV_KEYS.apiGrpcPort} (${config.apiGrpcPort}) is the port of ${config.apiGrpcPort === config.port ? ENV_KEYS.port : ENV_KEYS.grpcPort}: give the client gRPC API its own port (or "off")`);
  }
  if (config.bootstrap && config.join.length > 0) throw new ConfigError('--bootstrap forms a new cluster and --join enters an existing one: give one of them');
  if (config.peers.length > 0 && (config.bootstrap || config.join.length > 0)) throw new ConfigError('--peers (a fixed member set) derives bootstrap and join itself: do not combine it with --bootstrap or --join');
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(config.nodeId)) throw new ConfigError(`node id "${config.nodeId}" must be 1-128 characters of letters, digits, _ . -`);
  if (config.peers.length > 0 && !config.peers.some((p) => p.id === config.nodeId)) {
    throw new ConfigError(`node id "${config.nodeId}" is not among the peers (${config.peers.map((p) => p.id).join(', ')})`);
  }
  return config;
}

/** JADE_NODE_TLS_CERT_FILE, _KEY_FILE and _CA_FILE: all three (mutual TLS) or none (plain text). */
function nodeTlsFiles(get: (key: keyof typeof ENV_KEYS) => string | undefined): NodeConfig['nodeTls'] {
  const files = { certFile: get('nodeTlsCertFile') || null, keyFile: get('nodeTlsKeyFile') || null, caFile: get('nodeTlsCaFile') || null };
  const keys = { certFile: ENV_KEYS.nodeTlsCertFile, keyFile: ENV_KEYS.nodeTlsKeyFile, caFile: ENV_KEYS.nodeTlsCaFile };
  const missing = (Object.keys(files) as (keyof typeof files)[]).filter((k) => files[k] === null);
  const crlFile = get('nodeTlsCrlFile') || null;
  if (missing.length === 3) {
    if (crlFile) throw new ConfigError(`${ENV_KEYS.nodeTlsCrlFile} needs node-to-node TLS (${keys.certFile}, ${keys.keyFile} and ${keys.caFile})`);
    return null;
  }
  if (missing.length > 0) throw new ConfigError(`node-to-node TLS needs ${keys.certFile}, ${keys.keyFile} and ${keys.caFile} together (or none, for plain text): ${missing.map((k) => keys[k]).join(' and ')} not set`);
  return { ...(files as { certFile: string; keyFile: string; caFile: string }), ...(crlFile ? { crlFile } : {}) };
}

/** The config with secrets masked, for logs and `jade status`. */
export function redactedConfig(c: NodeConfig): Record<string, unknown> {
  const s3 = c.backupS3 === null ? null : { ...c.backupS3, credentials: c.backupS3.credentials === null ? null : '<redacted>' };
  return { ...c, apiKey: c.apiKey === null ? null : '<redacted>', clusterSecret: c.clusterSecret === null ? null : '<redacted>', backupS3: s3 };
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
  if (!isLoopbackHost(c.host) && c.apiKey === null && c.apiKeysFile === null && c.jwtSecretFile === null) {
    return `refusing to bind ${c.host} without authentication: set ${ENV_KEYS.apiKey} (at least ${API_KEY_LENGTH_MIN} characters), ${ENV_KEYS.apiKeysFile} or ${ENV_KEYS.jwtSecretFile}, or bind to 127.0.0.1`;
  }
  if (c.apiKey !== null && c.apiKey.length < API_KEY_LENGTH_MIN) return `${ENV_KEYS.apiKey} must be at least ${API_KEY_LENGTH_MIN} characters`;
  if (isClusterMode(c) && exposed.length > 0 && c.clusterSecret === null) {
    const where = exposed.map((a) => `${a.host} (${a.setting})`).join(' and ');
    return `refusing to bind ${where} without node-to-node authentication: set ${ENV_KEYS.clusterSecret} (at least ${CLUSTER_SECRET_LENGTH_MIN} characters, the same on every node), or bind to 127.0.0.1`;
  }
  if (c.clusterSecret !== null && c.clusterSecret.length < CLUSTER_SECRET_LENGTH_MIN) return `${ENV_KEYS.clusterSecret} must be at least ${CLUSTER_SECRET_LENGTH_MIN} characters`;
  return null;
}
