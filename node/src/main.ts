// `npm start` / `jade serve`: one standalone node. The only place (with the CLI's main) that reads
// process.env: flags override JADE_* variables, which override the defaults in config.ts.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { API_GRPC_PORT_DEFAULT, ConfigError, DEFAULT_CONFIG, ENV_KEYS, authRefusal, isClusterMode, loadConfig, redactedConfig } from './config.js';
import { S3_PART_SIZE_BYTES_DEFAULT, S3_PART_SIZE_BYTES_MIN } from './backup/s3-settings.js';
import { API_KEY_LENGTH_MIN, ENV_ADMIN_KEY_ID } from './security/auth.js';
import { CLUSTER_SECRET_LENGTH_MIN } from './security/node-auth.js';
import { isJadeError } from './util/errors.js';
import { JADE_VERSION } from './node.js';
import { NodeSupervisor } from './fencing.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('run a JadeVectorDB node: standalone by default (no Kubernetes, no other service), a Raft cluster member with --peers')
    .option('--data-dir <dir>', `data directory (env ${ENV_KEYS.dataDir})`, undefined)
    .option('--host <address>', `address to bind (env ${ENV_KEYS.host}; default 127.0.0.1)`)
    .option('--port <port>', `REST port (env ${ENV_KEYS.port}; default 8080; 0 = any free port)`)
    .option('--node-id <id>', `node id (env ${ENV_KEYS.nodeId})`)
    .option('--bootstrap', `form a new cluster with this node as its first member (first start only; env ${ENV_KEYS.bootstrap}=1)`)
    .option('--join <seeds>', `join the cluster through any member: host:port of its gRPC port, or a DNS name whose every address is tried, comma-separated (first start only; env ${ENV_KEYS.join})`)
    .option('--advertise-host <host>', `address other nodes reach this one at (env ${ENV_KEYS.advertiseHost}; default: --host)`)
    .option('--grpc-port <port>', `gRPC port for Raft and node-to-node calls (env ${ENV_KEYS.grpcPort}; default 9090)`)
    .option('--api-grpc-port <port>', `client gRPC API port: Qdrant's gRPC services (@qdrant/js-client-grpc, qdrant-client prefer_grpc), on --host, with REST's keys and TLS (env ${ENV_KEYS.apiGrpcPort}; default ${API_GRPC_PORT_DEFAULT}; 0 = any free port; off = none)`)
    .option('--peers <list>', `a fixed member set, this node included: id=grpcHost:port/restHost:port,...; the first bootstraps, the rest join (env ${ENV_KEYS.peers})`)
    .option('--log-level <level>', `fatal|error|warn|info|debug|trace|silent (env ${ENV_KEYS.logLevel})`)
    .addHelpText(
      'after',
      `
Authentication (secrets come from the environment only, never flags, so they stay out of process lists):
  ${ENV_KEYS.apiKey}         the admin key (id ${ENV_ADMIN_KEY_ID}), at least ${API_KEY_LENGTH_MIN} characters.
  ${ENV_KEYS.apiKeysFile}   a JSON list of keys with roles: [{"id", "key" or "sha256", "role": admin|write|read,
                       "collections"?: [...]}] (README "Access control").
  ${ENV_KEYS.jwtSecretFile} HS256 secret (at least 32 bytes) of Qdrant-style JWTs with "exp" and "access".
  One of these three is required when --host is not loopback. Per key: ${ENV_KEYS.keyRequestsPerSecondMax},
  ${ENV_KEYS.keyRequestsBurstMax}, ${ENV_KEYS.keyRequestsInFlightMax} (429 past them). Slow clients:
  ${ENV_KEYS.headersTimeoutMs}, ${ENV_KEYS.requestReceiveTimeoutMs}.
  ${ENV_KEYS.clusterSecret}  cluster mode: the same secret on every node, at least ${CLUSTER_SECRET_LENGTH_MIN} characters; every
                       Raft stream, snapshot and internal call proves it (HMAC). Required when --host or
                       ${ENV_KEYS.grpcHost} is not loopback; without it node-to-node traffic is unauthenticated
                       (loopback development only).
A node that would listen beyond loopback without them refuses to start.
TLS: ${ENV_KEYS.tlsCertFile} and ${ENV_KEYS.tlsKeyFile} (PEM files, both or neither) serve REST over HTTPS only (TLS 1.2+, the
  same port, /healthz and /metrics included), and the client gRPC API over TLS with the same pair; the files
  are reloaded when they change, without a restart.
  ${ENV_KEYS.tlsExpiryWarningSeconds} (default ${DEFAULT_CONFIG.tlsExpiryWarningSeconds}, 14 days): log a warning this long before the certificate expires;
  the gauge jade_tls_certificate_expiry_seconds{kind="rest"} has the seconds left.
Node TLS: ${ENV_KEYS.nodeTlsCertFile}, ${ENV_KEYS.nodeTlsKeyFile} and ${ENV_KEYS.nodeTlsCaFile} (PEM, all three or none) make
  node-to-node gRPC (Raft, snapshots, internal calls) mutual TLS 1.3: a peer must present a certificate from the CA, and
  a peer's certificate must name the host it is dialled at (its advertised host; for a --join DNS name, that name).
  The cluster secret still proves which node is calling. Reloaded when the files change (new connections use the
  new pair); jade_tls_certificate_expiry_seconds{kind="node"}. Without them node-to-node traffic is plain text.
  ${ENV_KEYS.nodeTlsCrlFile}: a CRL signed by that CA (PEM or DER, reloaded with the pair): a peer whose certificate
  it lists is refused, as client and as server; a node whose own certificate it lists does not start.
Client gRPC API (${ENV_KEYS.apiGrpcPort}, default ${API_GRPC_PORT_DEFAULT}): qdrant.Qdrant, qdrant.Collections and qdrant.Points as
  README "gRPC API (Qdrant-compatible)" lists; keys as REST (api-key metadata or authorization: Bearer), each
  method with its REST twin's role; requests up to ${ENV_KEYS.bodyBytesMax}; other methods answer UNIMPLEMENTED.
Backups: ${ENV_KEYS.backupDir} (default <data dir>/backups), or S3-compatible object storage instead (not both):
  ${ENV_KEYS.backupS3Url}=s3://bucket/prefix, ${ENV_KEYS.backupS3Endpoint} (an S3-compatible server's URL, path-style;
  default AWS S3), ${ENV_KEYS.backupS3Region} (default us-east-1), ${ENV_KEYS.backupS3PartSizeBytes} (multipart
  part size, default ${S3_PART_SIZE_BYTES_DEFAULT / 1024 / 1024} MiB, at least ${S3_PART_SIZE_BYTES_MIN / 1024 / 1024} MiB); credentials (secret) from ${ENV_KEYS.awsAccessKeyId} and
  ${ENV_KEYS.awsSecretAccessKey} (and ${ENV_KEYS.awsSessionToken}), else the AWS SDK's default chain (instance or pod roles).
  ${ENV_KEYS.backupKeyFile}, a file of keyId:base64key lines (32-byte AES-256 keys; the first encrypts, all decrypt):
  backups are zstd-compressed, and encrypted only with it.
Limits and HNSW defaults: ${Object.values(ENV_KEYS).filter((k) => k.endsWith('_MAX') || k.includes('HNSW')).join(', ')}.
Cluster mode (--bootstrap on the first node, --join on the others, or --peers): ${[ENV_KEYS.grpcHost, ENV_KEYS.nodeLabels, ENV_KEYS.defaultShards, ENV_KEYS.defaultReplicationFactor, ENV_KEYS.writeConsistency, ENV_KEYS.readStrategy, ENV_KEYS.raftSnapshotEveryEntries, ENV_KEYS.raftSnapshotEveryBytes, ENV_KEYS.rebalanceOnJoin, ENV_KEYS.nodeSuspectAfterMs, ENV_KEYS.nodeDeadAfterMs, ENV_KEYS.leaderHandoffMs, ENV_KEYS.leaderBalanceIntervalMs].join(', ')}.`,
    );
}

/** Which authentication the node uses, for its start-up line: names of settings, never secrets. */
function authSources(c: { apiKey: string | null; apiKeysFile: string | null; jwtSecretFile: string | null }): string {
  const on = [c.apiKey ? ENV_KEYS.apiKey : null, c.apiKeysFile ? ENV_KEYS.apiKeysFile : null, c.jwtSecretFile ? 'JWT' : null].filter(Boolean);
  return on.length > 0 ? `on (${on.join(', ')})` : 'off';
}

export async function runServe(opts: Record<string, string | undefined>, env: Record<string, string | undefined>): Promise<void> {
  let config;
  try {
    config = loadConfig(env, {
      dataDir: opts.dataDir,
      host: opts.host,
      port: opts.port,
      nodeId: opts.nodeId,
      logLevel: opts.logLevel,
      peers: opts.peers,
      bootstrap: opts.bootstrap === undefined ? undefined : String(Boolean(opts.bootstrap)),
      join: opts.join,
      advertiseHost: opts.advertiseHost,
      grpcPort: opts.grpcPort,
      apiGrpcPort: opts.apiGrpcPort,
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`jade: invalid configuration: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const refusal = authRefusal(config);
  if (refusal) {
    console.error(`jade: ${refusal}`);
    process.exit(2);
  }
  let supervisor: NodeSupervisor;
  try {
    supervisor = await NodeSupervisor.start(config, {
      logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
      onSwitch: (fenced, n) => n.app.log.warn(fenced ? `fenced: listening on ${n.url} for /healthz and /cluster/fence only` : `unfenced: serving again on ${n.url}`),
      // The node could not be started again after a fence or unfence: exit, so a supervisor (the kubelet) restarts it.
      onFatal: (e) => {
        console.error(`jade: cannot restart after fencing or unfencing: ${isJadeError(e) ? e.message : (e as Error).message}`);
        process.exit(1);
      },
    });
  } catch (e) {
    console.error(`jade: cannot start: ${isJadeError(e) ? e.message : (e as Error).message}`);
    process.exit(1);
  }
  const node = supervisor.current;
  const clustered = isClusterMode(config);
  const nodeAuth = clustered ? `, node-to-node auth ${config.clusterSecret ? 'on' : 'off'}` : '';
  node.app.log.info({ config: redactedConfig(config) }, `JadeVectorDB ${JADE_VERSION} listening on ${node.url}${node.grpcPort === null ? '' : ` and gRPC ${config.host}:${node.grpcPort}`} (data in ${config.dataDir}, auth ${authSources(config)}${nodeAuth}, backups in ${config.backupS3 ? `s3://${config.backupS3.bucket}/${config.backupS3.prefix}` : (config.backupDir ?? `${config.dataDir}/backups`)}, backup encryption ${config.backupKeyFile ? 'on' : 'off'}, TLS ${node.tls ? `on, certificate serial ${node.tls.current.serialNumber} valid until ${new Date(node.tls.current.notAfterMs).toISOString()}` : 'off'})`);
  if (clustered && !config.clusterSecret) {
    node.app.log.warn(`node-to-node traffic is unauthenticated (${ENV_KEYS.clusterSecret} is not set): loopback development only`);
  }
  if (!clustered && config.clusterSecret) node.app.log.info(`${ENV_KEYS.clusterSecret} is set but not used: this node is standalone`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const current = supervisor.current;
    current.app.log.info(`${signal}: checkpointing and shutting down`);
    try {
      await supervisor.close();
    } catch (e) {
      // Nothing acknowledged is lost (the WAL is intact and replayed at the next start), but the
      // operator must learn that the disk refused the checkpoint: log it with the errno, exit 1.
      const errno = isJadeError(e) && typeof e.details?.errno === 'string' ? e.details.errno : null;
      current.app.log.error({ err: e, errno }, `${signal}: shutdown did not complete (${errno ?? 'no errno'}): ${(e as Error).message}; the WAL keeps every acknowledged write and the next start replays it`);
      process.exit(1);
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Whether this module is the process's entry script: node/src/main.ts under tsx (npm start) or
 *  dist/node/src/main.js from the build (the image), not a module imported by the CLI. */
function isEntryScript(argv1: string | undefined): boolean {
  if (!argv1) return false;
  if (argv1.endsWith('node/src/main.ts') || argv1.endsWith('node/src/main.js')) return true;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// Run when executed directly (npm start, the image's ENTRYPOINT), not when imported by the CLI.
if (isEntryScript(process.argv[1])) {
  const program = serveCommand().name('jade-node').version(JADE_VERSION);
  program.action(async (opts) => runServe(opts, process.env));
  await program.parseAsync(process.argv);
}
