// `jade diagnostics` (node/src/cli/diagnostics.ts) against a 3-node in-process cluster with an API
// key: one archive with every member's status, redacted configuration, recent log lines, metrics
// and cluster view, plus each collection's info and layout; no secret appears anywhere in it; a
// member that does not answer is recorded and the archive is still written.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JadeClient } from '../../node/src/cli/client.js';
import { writeDiagnostics } from '../../node/src/cli/diagnostics.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { clusterMemberConfig } from './qdrant-client.suite.js';
import { freeLoopbackPorts } from '../helpers/ports.js';

const API_KEY = 'diagnostics-test-admin-key-0123456789abcdef';
const CLUSTER_SECRET = 'diagnostics-test-cluster-secret-0123456789abcdef';
let dir = '';
const nodes: RunningNode[] = [];

async function untar(file: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        files.set(header.name.split('/').slice(1).join('/'), Buffer.concat(chunks).toString('utf8'));
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(gunzipSync(await readFile(file)));
  await done;
  return files;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'jade-diag-'));
  const ports = await freeLoopbackPorts(6);
  for (let i = 0; i < 3; i++) {
    nodes.push(await startNode(clusterMemberConfig(i, dir, ports, { apiKey: API_KEY, clusterSecret: CLUSTER_SECRET, logLevel: 'info' }), { logger: { level: 'info' }, logOutput: () => undefined, clusterLog: () => undefined }));
  }
  const client = new JadeClient(nodes[0].url, API_KEY);
  for (let i = 0; ; i++) {
    const views = await Promise.all(nodes.map((n) => new JadeClient(n.url, API_KEY).call<any>('GET', '/cluster')));
    if (views.every((c) => c.jade.members.length === 3)) break;
    if (i > 400) throw new Error('members did not join');
    await new Promise((r) => setTimeout(r, 50));
  }
  for (let i = 0; ; i++) {
    try {
      await client.call('PUT', '/collections/docs', { vectors: { size: 2, distance: 'Cosine' }, shard_number: 2, replication_factor: 3 });
      break;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Every replica open (a new collection's replicas open in the background).
  for (let i = 0; ; i++) {
    const ok = await Promise.all(nodes.map((n) => new JadeClient(n.url, API_KEY).call('GET', '/collections/docs').then(() => true, () => false)));
    if (ok.every(Boolean)) break;
    if (i > 200) throw new Error('collection did not open');
    await new Promise((r) => setTimeout(r, 100));
  }
}, 90_000);

afterAll(async () => {
  for (const n of nodes.reverse()) await n.close().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('jade diagnostics', () => {
  it('writes every member and collection into one archive, with no secret in it', { timeout: 60_000 }, async () => {
    const file = path.join(dir, 'report.tar.gz');
    const r = await writeDiagnostics(new JadeClient(nodes[1].url, API_KEY), file);
    expect(r.nodes.map((n) => n.node).sort()).toEqual(['n0', 'n1', 'n2']);
    expect(r.nodes.every((n) => Object.keys(n.errors).length === 0)).toBe(true);
    const files = await untar(file);
    for (const id of ['n0', 'n1', 'n2']) {
      expect(JSON.parse(files.get(`${id}/status.json`)!)).toMatchObject({ nodeId: id, mode: 'cluster' });
      const diag = JSON.parse(files.get(`${id}/diagnostics.json`)!);
      expect(diag).toMatchObject({ nodeId: id, config: { nodeId: id, apiKey: '<redacted>', clusterSecret: '<redacted>' } });
      expect(diag.logs.lines.length).toBeGreaterThan(0);
      expect(files.get(`${id}/metrics.txt`)).toMatch(/^# HELP/m);
      expect(JSON.parse(files.get(`${id}/cluster.json`)!).jade.members).toHaveLength(3);
    }
    expect(JSON.parse(files.get('collections/docs/cluster.json')!).shard_count).toBe(2);
    expect(JSON.parse(files.get('summary.json')!).collectionErrors).toEqual({});
    expect(JSON.parse(files.get('collections/docs/info.json')!)).toMatchObject({ status: 'green' });
    const all = [...files.values()].join('\n');
    expect(all).not.toContain(API_KEY);
    expect(all).not.toContain(CLUSTER_SECRET);
  });

  it('records a member that does not answer and still writes the archive', { timeout: 60_000 }, async () => {
    await nodes[2].close();
    const file = path.join(dir, 'partial.tar.gz');
    const r = await writeDiagnostics(new JadeClient(nodes[0].url, API_KEY), file);
    const n2 = r.nodes.find((n) => n.node === 'n2')!;
    expect(Object.keys(n2.errors)).toContain('/v1/status');
    const summary = JSON.parse((await untar(file)).get('summary.json')!);
    expect(summary.nodes.find((n: { node: string }) => n.node === 'n2').errors['/v1/status']).toMatch(/cannot reach/);
    expect(summary.nodes.find((n: { node: string }) => n.node === 'n0').files).toContain('status.json');
  });
});
