// Checks the node's one configuration schema: defaults, flags over environment, coded refusal of
// bad values and peer lists, secrets masked in what gets logged — and, with a real process, that
// a node bound beyond loopback refuses to start without an API key.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, loadConfig, parsePeers, redactedConfig } from '../../node/src/config.js';
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

  it('parses peer lists and requires this node among them', () => {
    expect(parsePeers('a=127.0.0.1:9090/127.0.0.1:8080,b=h:9091/http://h:8081')).toEqual([
      { id: 'a', grpcAddress: '127.0.0.1:9090', restUrl: 'http://127.0.0.1:8080' },
      { id: 'b', grpcAddress: 'h:9091', restUrl: 'http://h:8081' },
    ]);
    expect(() => parsePeers('a=127.0.0.1/127.0.0.1:8080')).toThrow(ConfigError);
    expect(() => loadConfig({ JADE_PEERS: 'a=h:1/h:2', JADE_NODE_ID: 'b' })).toThrow(/not among the peers/);
    expect(loadConfig({ JADE_PEERS: 'a=h:1/h:2', JADE_NODE_ID: 'a' }).peers).toHaveLength(1);
  });

  it('masks the API key in the logged configuration', () => {
    const c = loadConfig({ JADE_API_KEY: 'super-secret-key-123456' });
    expect(c.apiKey).toBe('super-secret-key-123456');
    expect(JSON.stringify(redactedConfig(c))).not.toContain('super-secret');
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
});
