// Cluster backups through the REST API and the jade CLI: four nodes started in this process
// (startNode: the real fastify app over HTTP, n0 --bootstrap, the others --join), a collection of
// 3 shards × 2 replicas with a payload index and a cosine collection of one shard. The backup is
// made on a node that lacks a replica of some shard (so at least one image is pulled from another
// node in chunks) while writes go on. Checked: the manifest is a cluster one, each shard at a Raft
// position (index and term) with the node it was captured from; verify passes; a restore under a
// new name has the manifest's point count and content digest, the same payloads and the payload
// index; a second backup at once is 409; a restore to an existing name is 409, of a collection the
// backup lacks 404; a tampered shard file fails verify with JADE_ERR_BACKUP_CORRUPT naming it.
// Every node has the same backup key file: the backup's files are compressed and encrypted.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type RunningNode } from '../../node/src/node.js';
import { freeLoopbackPorts } from '../helpers/ports.js';
import { REPO_ROOT } from '../helpers/node-process.js';
import { clusterMemberConfig } from './qdrant-client.suite.js';
import { api as callApi, until as pollUntil, type Answer } from '../helpers/http-api.js';

const C = 'docs';
const COSINE = 'notes';
const POINTS = 300;
const WAIT_MS = 20_000;

/** The shared helpers with this file's request timeout and polling interval. */
const api = (url: string, method: string, route: string, body?: unknown): Promise<Answer> => callApi(url, method, route, body, 20_000);
const until = <T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, probe, timeoutMs, 100);

function expectRefusal(a: Answer, status: number, code: string): void {
  expect({ status: a.status, code: a.body?.status?.code }, JSON.stringify(a.body)).toEqual({ status, code });
  expect(a.body.status.error.length).toBeGreaterThan(0);
}

const vectorOf = (i: number) => [i, i % 7, i % 13, 1, 2, 3, 4, (i * 31) % 17];
const payloadOf = (i: number) => ({ i, kind: i % 3 === 0 ? 'fizz' : 'plain', tags: [`t${i % 5}`], nested: { even: i % 2 === 0, label: `point ${i}` } });

describe('cluster backups over REST and the CLI (4 nodes in this process)', () => {
  let dir = '';
  const nodes: RunningNode[] = [];
  const log: string[] = [];
  const ids = ['n0', 'n1', 'n2', 'n3'];
  /** The node the backups are made on: one without a replica of some shard of C. */
  let coordinator = 0;
  const url = () => nodes[coordinator].url;
  const backupDir = (id: string) => path.join(dir, ids[coordinator], 'backups', id);
  const count = async (name: string) => (await api(url(), 'POST', `/collections/${name}/points/count`, { exact: true })).body.result.count as number;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'jade-cluster-backup-'));
    const backupKeyFile = path.join(dir, 'backup-keys');
    writeFileSync(backupKeyFile, `k1:${randomBytes(32).toString('base64')}\n`);
    const ports = await freeLoopbackPorts(8);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      nodes.push(await startNode(clusterMemberConfig(i, dir, ports, { backupKeyFile }), { clusterLog: (line) => log.push(`${new Date().toISOString()} ${id}: ${line}`) }));
    }
    await until('four members known to every node', async () => {
      const views = await Promise.all(nodes.map((n) => api(n.url, 'GET', '/cluster')));
      return views.every((v) => v.body.result.jade?.members.length === 4);
    }, 30_000);
    const created = await api(nodes[1].url, 'PUT', `/collections/${C}`, { vectors: { size: 8, distance: 'Euclid' }, shard_number: 3, replication_factor: 2 });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect((await api(nodes[1].url, 'PUT', `/collections/${C}/index?wait=true`, { field_name: 'kind', field_schema: 'keyword' })).status).toBe(200);
    const points = Array.from({ length: POINTS }, (_, i) => ({ id: i, vector: vectorOf(i), payload: payloadOf(i) }));
    const up = await api(nodes[1].url, 'PUT', `/collections/${C}/points?wait=true`, { points });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect((await api(nodes[2].url, 'PUT', `/collections/${COSINE}`, { vectors: { size: 5, distance: 'Cosine' }, shard_number: 1, replication_factor: 3 })).status).toBe(200);
    const notes = Array.from({ length: 60 }, (_, i) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, vector: [Math.sin(i), Math.cos(i), i / 60, 0.5, -1], payload: i % 4 === 0 ? null : { text: `note ${i}` } }));
    expect((await api(nodes[2].url, 'PUT', `/collections/${COSINE}/points?wait=true`, { points: notes })).status).toBe(200);
    // A node that misses a replica of some shard of C: that shard's image comes over the RPC.
    const info = await api(nodes[0].url, 'GET', `/collections/${C}/cluster`);
    const shards = info.body.result.jade.shards as { replicas: { peer_id: string }[] }[];
    coordinator = ids.findIndex((id) => shards.some((s) => !s.replicas.some((r) => r.peer_id === id)));
    expect(coordinator).toBeGreaterThanOrEqual(0);
  }, 60_000);

  afterEach((t) => {
    if (t.task.result?.state === 'fail') process.stderr.write(`cluster log:\n${log.slice(-200).join('\n')}\n`);
  });

  afterAll(async () => {
    for (const n of nodes) await n.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('backs up every shard at a Raft position while writes go on; verify passes; a restore under a new name equals the manifest', async () => {
    // Writes to every shard through another node during the backup.
    let writing = true;
    let extra = 0;
    const writer = (async () => {
      while (writing) {
        const base = 10_000 + extra;
        const batch = Array.from({ length: 10 }, (_, k) => ({ id: base + k, vector: vectorOf(base + k), payload: payloadOf(base + k) }));
        const r = await api(nodes[(coordinator + 1) % 4].url, 'PUT', `/collections/${C}/points?wait=true`, { points: batch });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        extra += batch.length;
      }
    })();
    const first = api(url(), 'POST', '/backups', { name: 'b1' });
    // A second backup while the first is being written (its partial directory exists) is refused.
    const root = path.dirname(backupDir('b1'));
    const inProgress = () => existsSync(root) && readdirSync(root).some((n) => n.startsWith('.partial-b1-'));
    for (const deadline = Date.now() + 10_000; !inProgress(); ) {
      if (Date.now() > deadline) throw new Error('the first backup never showed its partial directory');
      await new Promise((r) => setTimeout(r, 1));
    }
    const second = await api(url(), 'POST', '/backups', { name: 'b1-other' });
    const made = await first;
    writing = false;
    await writer;
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    // One backup at a time per coordinator.
    expectRefusal(second, 409, 'JADE_ERR_CONFLICT');
    expect(made.body.result).toMatchObject({ id: 'b1', kind: 'full', mode: 'cluster' });
    expect(extra).toBeGreaterThan(0);

    const manifest = JSON.parse(readFileSync(path.join(backupDir('b1'), 'manifest.json'), 'utf8'));
    expect(manifest.mode).toBe('cluster');
    expect(manifest).toMatchObject({ compression: 'zstd', encryption: { algorithm: 'aes-256-gcm', keyId: 'k1' } });
    expect(manifest.files.every((f: any) => f.encryption?.keyId === 'k1' && f.compression === 'zstd')).toBe(true);
    const docs = manifest.collections.find((c: any) => c.name === C);
    expect(docs).toMatchObject({ shardNumber: 3, replicationFactor: 2, params: { dimension: 8, metric: 'l2' } });
    expect(docs.points).toBeGreaterThanOrEqual(POINTS);
    expect(docs.points).toBeLessThanOrEqual(POINTS + extra);
    for (const s of docs.shards) {
      expect(s.position).toEqual({ kind: 'raft', index: expect.any(Number), term: expect.any(Number) });
      expect(s.position.index).toBeGreaterThan(0);
      expect(s.position.term).toBeGreaterThan(0);
      expect(ids).toContain(s.capturedFrom);
    }
    expect(docs.shards.some((s: any) => s.capturedFrom !== ids[coordinator]), 'some shard was pulled from another node').toBe(true);
    expect(manifest.collections.find((c: any) => c.name === COSINE)).toMatchObject({ shardNumber: 1, replicationFactor: 3, points: 60 });
    const described = await api(url(), 'GET', '/backups/b1');
    expect(described.body.result.collections.find((c: any) => c.name === C).shards).toEqual(docs.shards.map((s: any) => ({ index: s.index, points: s.points, position: s.position, captured_from: s.capturedFrom })));

    const verified = await api(url(), 'POST', '/backups/b1/verify');
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.result.ok).toBe(true);
    expect(verified.body.result.collections).toEqual(expect.arrayContaining([{ name: C, points: docs.points, content_digest: docs.contentDigest }]));

    const restored = await api(url(), 'POST', '/backups/b1/restore', { collection: C, as: 'docs_restored' });
    expect(restored.status, JSON.stringify(restored.body)).toBe(200);
    expect(restored.body.result).toMatchObject({ id: 'b1', collection: C, restored_as: 'docs_restored', shards: 3, points: docs.points, content_digest: docs.contentDigest, payload_indexes: 1 });
    expect(await count('docs_restored')).toBe(docs.points);
    const layout = await api(nodes[0].url, 'GET', '/collections/docs_restored/cluster');
    expect(layout.body.result.jade.shards.map((s: any) => s.replicas.length)).toEqual([2, 2, 2]);
    const info = await api(url(), 'GET', '/collections/docs_restored');
    expect(info.body.result.payload_schema.kind).toMatchObject({ data_type: 'keyword' });

    // The same payloads and vectors, found by search too (the graph was rebuilt from the points).
    const some = [0, 1, 2, 150, 299];
    const original = await api(url(), 'POST', `/collections/${C}/points`, { ids: some, with_payload: true, with_vector: true });
    const copy = await api(url(), 'POST', '/collections/docs_restored/points', { ids: some, with_payload: true, with_vector: true });
    const byId = (r: Answer) => [...r.body.result].sort((a: any, b: any) => a.id - b.id);
    expect(byId(copy)).toEqual(byId(original));
    expect(byId(copy)[3].payload).toEqual(payloadOf(150));
    const hit = await api(url(), 'POST', '/collections/docs_restored/points/search', { vector: vectorOf(150), limit: 1, with_payload: true });
    expect(hit.body.result[0]).toMatchObject({ id: 150, payload: payloadOf(150) });
    const filtered = await api(url(), 'POST', '/collections/docs_restored/points/count', { exact: true, filter: { must: [{ key: 'kind', match: { value: 'fizz' } }] } });
    const filteredOriginal = await api(url(), 'POST', `/collections/${C}/points/count`, { exact: true, filter: { must: [{ key: 'kind', match: { value: 'fizz' } }, { key: 'i', range: { lt: POINTS } }] } });
    expect(filtered.body.result.count).toBeGreaterThanOrEqual(filteredOriginal.body.result.count);
  }, 60_000);

  it('restores a cosine collection from the CLI with the same content digest; an existing name is 409, a collection the backup lacks 404', async () => {
    const manifest = JSON.parse(readFileSync(path.join(backupDir('b1'), 'manifest.json'), 'utf8'));
    const notes = manifest.collections.find((c: any) => c.name === COSINE);
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'node/src/cli/main.ts', '--url', url(), '--output', 'json', 'backup', 'restore', 'b1', '--collection', COSINE, '--as', 'notes_copy'], { cwd: REPO_ROOT });
    expect(JSON.parse(stdout)).toMatchObject({ collection: COSINE, restored_as: 'notes_copy', points: 60, content_digest: notes.contentDigest });
    expect(await count('notes_copy')).toBe(60);
    const one = await api(url(), 'GET', '/collections/notes_copy/points/00000000-0000-4000-8000-000000000005');
    expect(one.body.result.payload).toEqual({ text: 'note 5' });

    expectRefusal(await api(url(), 'POST', '/backups/b1/restore', { collection: C }), 409, 'JADE_ERR_COLLECTION_EXISTS');
    expectRefusal(await api(url(), 'POST', '/backups/b1/restore', { collection: C, as: 'notes_copy' }), 409, 'JADE_ERR_COLLECTION_EXISTS');
    expectRefusal(await api(url(), 'POST', '/backups/b1/restore', { collection: 'nope', as: 'x' }), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await api(url(), 'POST', '/backups/missing/restore', { collection: C, as: 'x' }), 404, 'JADE_ERR_NOT_FOUND');
    expectRefusal(await api(url(), 'POST', '/backups/b1/restore', {}), 400, 'JADE_ERR_BAD_REQUEST');
    expectRefusal(await api(url(), 'POST', '/backups/b1/restore', { collection: C, as: '../x' }), 400, 'JADE_ERR_BAD_REQUEST');
    expect(await count(C)).toBeGreaterThanOrEqual(POINTS);
  }, 30_000);

  it('a tampered shard file fails verify with JADE_ERR_BACKUP_CORRUPT naming it', async () => {
    const made = await api(url(), 'POST', '/backups', { name: 'b2' });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const manifest = JSON.parse(readFileSync(path.join(backupDir('b2'), 'manifest.json'), 'utf8'));
    const file = manifest.collections.find((c: any) => c.name === C).shards[1].files.labels as string;
    const full = path.join(backupDir('b2'), ...file.split('/'));
    const bytes = readFileSync(full);
    bytes[0] ^= 0xff;
    writeFileSync(full, bytes);
    const v = await api(url(), 'POST', '/backups/b2/verify');
    expectRefusal(v, 409, 'JADE_ERR_BACKUP_CORRUPT');
    expect(v.body.status.error).toContain(file);
  }, 30_000);
});
