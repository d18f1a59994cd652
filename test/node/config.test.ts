// Checks the node's one configuration schema: defaults, flags over environment, coded refusal of
// bad values and peer lists, secrets masked in what gets logged, the start-up guard over every
// listening address (REST and the Raft transport) — and, with real processes, that a node bound
// beyond loopback refuses to start without an API key, or without a cluster secret when its Raft
// transport is (JADE_GRPC_HOST).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, authRefusal, loadConfig, parsePeers, redactedConfig } from '../../node/src/config.js';
import { REPO_ROOT } from '../helpers/node-process.js';

describe('loadConfig', () => {
  it('uses the defaults of the README: ./data, 127.0.0.1:8080, standalone', () => {
    const c = loadConfig({});
    expect([c.dataDir, c.host, c.port, c.peers, c.apiKey]).toEqual(['./data', '127.0.0.1', 8080, [], null]);
    expect(c.limits).toEqual(DEFAULT_CONFIG.limits);
  });

  it('lets flags override JADE_* variables', () => {
    const c = loadConfig({ JADE_PORT: '9000', JADE_DATA_DIR: '/env', JADE_HNSW_M: '32' }, { port: '9100' });
    expect([c.port, c.dataDir, c.hnswDefaults.m]).toEqual([9100, '/env', 32]);
  });

  it('refuses out-of-range numbers, unknown log levels and a backlog smaller than a batch', () => {
    expect(() => loadConfig({ JADE_PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadConfig({ JADE_BATCH_POINTS_MAX: 'ten' })).toThrow(/batchPointsMax/);
    expect(() => loadConfig({ JADE_LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    expect(() => loadConfig({ JADE_INDEX_BACKLOG_MAX: '10', JADE_BATCH_POINTS_MAX: '100' })).toThrow(/indexBacklogMax/);
  });

  it('reads the cluster-mode settings: join seeds, labels, shard and replica defaults, write consistency (quorum = majority), read strategy', () => {
    const c = loadConfig({ JADE_JOIN: 'a:9090, b', JADE_NODE_LABELS: 'zone=eu-1,read-weight=2', JADE_DEFAULT_SHARDS: '6', JADE_DEFAULT_REPLICATION_FACTOR: '2', JADE_WRITE_CONSISTENCY: 'quorum', JADE_READ_STRATEGY: 'random' });
    expect(c).toMatchObject({ join: ['a:9090', 'b'], nodeLabels: { zone: 'eu-1', 'read-weight': '2' }, defaultShards: 6, defaultReplicationFactor: 2, writeConsistency: 'majority', readStrategy: 'random' });
    expect(loadConfig({}).defaultReplicationFactor).toBeNull();
    expect(() => loadConfig({ JADE_WRITE_CONSISTENCY: 'most' })).toThrow(/writeConsistency must be one of majority, all, one/);
    expect(() => loadConfig({ JADE_READ_STRATEGY: 'closest' })).toThrow(/readStrategy must be one of/);
    expect(() => loadConfig({ JADE_BOOTSTRAP: '1', JADE_JOIN: 'a' })).toThrow(/give one of them/);
    expect(() => loadConfig({ JADE_NODE_LABELS: 'zone' })).toThrow(/key=value/);
  });

  it('parses peer lists and requires this node among them', () => {
    expect(parsePeers('a=127.0.0.1:9090/127.0.0.1:8080,b=h:9091/http://h:8081')).toEqual([
      { id: 'a', grpcAddress: '127.0.0.1:9090', restUrl: 'http://127.0.0.1:8080' },
      { id: 'b', grpcAddress: 'h:9091', restUrl: 'http://h:8081' },
    ]);
    expect(() => parsePeers('a=127.0.0.1/127.0.0.1:8080')).toThrow(ConfigError);
    expect(() => loadConfig({ JADE_PEERS: 'a=h:1/h:2', JADE_NODE_ID: 'b' })).toThrow(/not among the peers/);
    expect(loadConfig({ JADE_PEERS: 'a=h:1/h:2', JADE_NODE_ID: 'a' }).peers).toHaveLength(1);
  });

  it('masks the API key and the cluster secret in the logged configuration', () => {
    const c = loadConfig({ JADE_API_KEY: 'super-secret-key-123456', JADE_CLUSTER_SECRET: 'cluster-secret-of-at-least-32-chars-xyz' });
    expect(c.apiKey).toBe('super-secret-key-123456');
    expect(c.clusterSecret).toBe('cluster-secret-of-at-least-32-chars-xyz');
    const logged = JSON.stringify(redactedConfig(c));
    expect(logged).not.toContain('super-secret');
    expect(logged).not.toContain('cluster-secret-of');
  });

  it('reads the cluster secret from the environment only, never from a flag', () => {
    expect(loadConfig({}, { clusterSecret: 'x'.repeat(40) }).clusterSecret).toBeNull();
  });
});

describe('authRefusal: the start-up guard over every listening address', () => {
  const PEERS = 'n0=10.0.0.1:9090/10.0.0.1:8080,n1=10.0.0.2:9090/10.0.0.2:8080';
  const SECRET = 's'.repeat(32);
  const KEY = 'k'.repeat(16);
  const refusal = (env: Record<string, string>) => authRefusal(loadConfig({ JADE_NODE_ID: 'n0', ...env }));

  it('lets loopback-only nodes start without secrets, standalone or clustered', () => {
    expect(refusal({})).toBeNull();
    expect(refusal({ JADE_PEERS: PEERS })).toBeNull();
  });

  it('needs the API key when REST binds beyond loopback', () => {
    expect(refusal({ JADE_HOST: '0.0.0.0' })).toMatch(/refusing to bind 0\.0\.0\.0 without authentication: set JADE_API_KEY/);
    expect(refusal({ JADE_HOST: '0.0.0.0', JADE_API_KEY: 'short' })).toMatch(/at least 16/);
    expect(refusal({ JADE_HOST: '0.0.0.0', JADE_API_KEY: KEY })).toBeNull();
  });

  it('needs the cluster secret when the Raft transport or REST of a cluster node binds beyond loopback', () => {
    expect(refusal({ JADE_PEERS: PEERS, JADE_GRPC_HOST: '0.0.0.0' })).toMatch(/refusing to bind 0\.0\.0\.0 \(JADE_GRPC_HOST.*set JADE_CLUSTER_SECRET/);
    expect(refusal({ JADE_PEERS: PEERS, JADE_HOST: '10.0.0.1', JADE_API_KEY: KEY })).toMatch(/JADE_CLUSTER_SECRET/);
    expect(refusal({ JADE_PEERS: PEERS, JADE_GRPC_HOST: '0.0.0.0', JADE_CLUSTER_SECRET: 'too-short' })).toMatch(/JADE_CLUSTER_SECRET must be at least 32/);
    expect(refusal({ JADE_PEERS: PEERS, JADE_GRPC_HOST: '0.0.0.0', JADE_CLUSTER_SECRET: SECRET })).toBeNull();
    expect(refusal({ JADE_PEERS: PEERS, JADE_HOST: '10.0.0.1', JADE_API_KEY: KEY, JADE_CLUSTER_SECRET: SECRET })).toBeNull();
    // Standalone has no Raft transport: JADE_GRPC_HOST opens nothing.
    expect(refusal({ JADE_GRPC_HOST: '0.0.0.0' })).toBeNull();
  });
});

describe('authentication by default', () => {
  it('refuses to bind beyond loopback without JADE_API_KEY, naming the fix', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'node/src/main.ts'), '--host', '0.0.0.0', '--port', '0', '--data-dir', '/nonexistent-never-created'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/refusing to bind 0\.0\.0\.0 without authentication: set JADE_API_KEY/);
  });

  it('refuses a Raft transport beyond loopback (JADE_GRPC_HOST) without JADE_CLUSTER_SECRET, though REST is on loopback', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'node/src/main.ts'), '--host', '127.0.0.1', '--port', '0', '--data-dir', '/nonexistent-never-created', '--node-id', 'n0'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', JADE_GRPC_HOST: '0.0.0.0', JADE_PEERS: 'n0=127.0.0.1:1/127.0.0.1:2' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/refusing to bind 0\.0\.0\.0 \(JADE_GRPC_HOST, the Raft transport and internal calls\) without node-to-node authentication: set JADE_CLUSTER_SECRET/);
  });
});
