// Standalone backups end to end: a backup taken over REST while a writer keeps upserting holds
// exactly the batches up to the WAL position it records (its digest equals a model of those
// batches), restores into a new node's data directory with equal point counts and content digests,
// and is refused whole when any file is flipped, truncated or missing, or its manifest names a
// path outside the backup; bad backup names (traversal, absolute, symlinks) are coded 400s. One
// collection restores under a new name into the running node.
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../node/src/backup/digest.js';
import { DirectoryTarget } from '../../node/src/backup/directory-target.js';
import { restoreBackup } from '../../node/src/backup/restore.js';
import { DEFAULT_CONFIG, type NodeConfig } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import type { StandaloneDatabase } from '../../node/src/query/catalog.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import type { PointRecord } from '../../node/src/storage/types.js';
import { isJadeError } from '../../node/src/util/errors.js';

const DIM = 8;
const BATCH = 25;
const shardOptions = { wal: { ...DEFAULT_CONFIG.wal, pendingBytesMax: 1 << 28 }, limits: DEFAULT_SHARD_LIMITS, checkpointWalBytes: 1 << 30 };

function config(dataDir: string, backupDir: string): NodeConfig {
  return { ...DEFAULT_CONFIG, host: '127.0.0.1', port: 0, logLevel: 'silent', dataDir, backupDir };
}

function batchPoints(k: number): PointRecord[] {
  return Array.from({ length: BATCH }, (_, j) => {
    const id = k * BATCH + j;
    const vector = Float32Array.from({ length: DIM }, (_, d) => Math.fround(Math.sin(id * 7 + d) * 3));
    return { id, vector, payload: { batch: k, tag: `t${id % 5}`, nested: { b: id, a: [1, 'x'] } } };
  });
}

function digestOfNode(node: RunningNode, name: string): { points: number; digest: string } {
  const shard = (node.database as StandaloneDatabase).catalog.get(name).shard;
  return digestOf(shard.state.exportPoints().points);
}

async function call(node: RunningNode, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) {
  const r = await node.app.inject({ method, url, payload: payload as any });
  return { status: r.statusCode, body: r.json() as any };
}

let root: string;
let node: RunningNode;
let backupDir: string;
/** Batches the writer sent and saw acknowledged, in order (batch k is WAL record k + 1). */
const written: PointRecord[][] = [];

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'jade-backup-'));
  backupDir = path.join(root, 'backups');
  node = await startNode(config(path.join(root, 'node1'), backupDir));
  expect((await call(node, 'PUT', '/collections/docs', { vectors: { size: DIM, distance: 'Dot' } })).status).toBe(200);
  expect((await call(node, 'PUT', '/collections/small', { vectors: { size: 4, distance: 'Cosine' } })).status).toBe(200);
  expect((await call(node, 'PUT', '/collections/small/points?wait=true', { points: [{ id: 1, vector: [1, 2, 3, 4], payload: { a: 1 } }, { id: 2, vector: [0, 1, 0, 0] }] })).status).toBe(200);
  expect((await call(node, 'PUT', '/collections/small/index', { field_name: 'a', field_schema: { type: 'integer', is_tenant: true } })).status).toBe(200);
  expect((await call(node, 'POST', '/collections/aliases', { actions: [{ create_alias: { alias_name: 'docs-live', collection_name: 'docs' } }] })).status).toBe(200);
});

afterAll(async () => {
  await node?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('standalone backup and restore', () => {
  let manifestLsn = 0;

  it('captures every collection at one WAL position while writes go on, and holds exactly the batches up to it', async () => {
    let stop = false;
    const writer = (async () => {
      for (let k = 0; !stop && k < 2000; k++) {
        const pts = batchPoints(k);
        const r = await node.app.inject({ method: 'PUT', url: '/collections/docs/points?wait=true', payload: { points: pts.map((p) => ({ id: p.id, vector: Array.from(p.vector), payload: p.payload })) } });
        expect(r.statusCode).toBe(200);
        written.push(pts);
      }
    })();
    while (written.length < 20) await new Promise((r) => setTimeout(r, 5));
    const b = await call(node, 'POST', '/backups', { name: 'full-1' });
    const afterBackup = written.length;
    stop = true;
    await writer;
    expect(b.status).toBe(200);
    expect(b.body.result.kind).toBe('full');
    const docs = b.body.result.collections.find((c: any) => c.name === 'docs');
    manifestLsn = docs.shards[0].position.lsn;
    // Writes went on during the backup, and the backup stands between what was acknowledged before and after it.
    expect(manifestLsn).toBeGreaterThanOrEqual(20);
    expect(manifestLsn).toBeLessThanOrEqual(afterBackup);
    expect(written.length).toBeGreaterThan(manifestLsn);
    const model = digestOf(written.slice(0, manifestLsn).flat());
    expect(docs.points).toBe(manifestLsn * BATCH);
    expect(docs.content_digest).toBe(model.digest);
    expect(b.body.result.collections.find((c: any) => c.name === 'small').points).toBe(2);

    const manifest = JSON.parse(readFileSync(path.join(backupDir, 'full-1', 'manifest.json'), 'utf8'));
    // No key file: compressed, not encrypted.
    expect(manifest).toMatchObject({ format: 'jadevectordb-backup', formatVersion: 1, nodeVersion: expect.any(String), compression: 'zstd', encryption: null, aliases: [{ alias: 'docs-live', collection: 'docs' }] });
    for (const f of manifest.files) expect(f).toMatchObject({ path: expect.any(String), sizeBytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), contentSizeBytes: expect.any(Number), compression: 'zstd', encryption: null });
    expect(manifest.files.some((f: any) => f.path.endsWith('/graph'))).toBe(true);

    const got = await call(node, 'GET', '/backups/full-1');
    expect(got.body.result.collections).toEqual(b.body.result.collections);
    expect((await call(node, 'GET', '/backups')).body.result.map((x: any) => x.id)).toContain('full-1');
    const verified = await call(node, 'POST', '/backups/full-1/verify');
    expect(verified.status).toBe(200);
    expect(verified.body.result.collections.find((c: any) => c.name === 'docs').content_digest).toBe(model.digest);
  });

  it('restores into a new data directory: point counts and content digests equal the manifest, aliases and indexes back', async () => {
    const dataDir = path.join(root, 'node2');
    const disk = new RealDisk();
    const r = await restoreBackup(disk, new DirectoryTarget(disk, backupDir), 'full-1', dataDir, shardOptions);
    expect(r.collections.find((c) => c.name === 'docs')!.points).toBe(manifestLsn * BATCH);
    const restored = await startNode(config(dataDir, path.join(root, 'backups2')));
    try {
      expect(digestOfNode(restored, 'docs')).toEqual(digestOf(written.slice(0, manifestLsn).flat()));
      expect((await call(restored, 'POST', '/collections/docs-live/points/count', { exact: true })).body.result.count).toBe(manifestLsn * BATCH);
      const small = await call(restored, 'GET', '/collections/small');
      expect(small.body.result.points_count).toBe(2);
      expect(Object.keys(small.body.result.payload_schema)).toEqual(['a']);
    expect(small.body.result.payload_schema.a).toMatchObject({ data_type: 'integer', params: { is_tenant: true } });
      const hit = await call(restored, 'POST', '/collections/docs/points/search', { vector: Array.from(batchPoints(3)[4].vector), limit: 1 });
      expect(hit.status).toBe(200);
      // The restored WAL continues past the backup's position: a new write lands and survives a restart.
      expect((await call(restored, 'PUT', '/collections/docs/points?wait=true', { points: [{ id: 999_999, vector: Array(DIM).fill(0.5) }] })).status).toBe(200);
    } finally {
      await restored.close();
    }
    const again = await startNode(config(dataDir, path.join(root, 'backups2')));
    try {
      expect((await call(again, 'POST', '/collections/docs/points/count', { exact: true })).body.result.count).toBe(manifestLsn * BATCH + 1);
    } finally {
      await again.close();
    }
    // A data directory that already holds collections is refused.
    await expect(restoreBackup(disk, new DirectoryTarget(disk, backupDir), 'full-1', dataDir, shardOptions)).rejects.toMatchObject({ code: 'JADE_ERR_CONFLICT' });
  });

  it('collection snapshots in Qdrant\'s dialect: create, list', async () => {
    const s = await call(node, 'POST', '/collections/small/snapshots');
    expect(s.status).toBe(200);
    expect(s.body.result).toMatchObject({ name: expect.stringMatching(/^small-/), size: expect.any(Number), checksum: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const list = await call(node, 'GET', '/collections/small/snapshots');
    expect(list.body.result.map((x: any) => x.name)).toEqual([s.body.result.name]);
    expect((await call(node, 'GET', '/collections/docs/snapshots')).body.result).toEqual([]);
    expect((await call(node, 'POST', '/collections/nope/snapshots')).status).toBe(404);
    expect((await call(node, 'POST', '/collections/small/snapshots?wait=false')).body.status.code).toBe('JADE_ERR_BAD_REQUEST');
    // What Qdrant's clients send: a query string, not a JSON boolean (it was refused as "must be boolean").
    const waited = await call(node, 'POST', '/collections/small/snapshots?wait=true');
    expect(waited.status, JSON.stringify(waited.body)).toBe(200);
  });

  it('refuses a damaged backup whole, naming the file: flipped byte, truncated, missing, manifest naming ../../x', async () => {
    const disk = new RealDisk();
    const manifest = JSON.parse(readFileSync(path.join(backupDir, 'full-1', 'manifest.json'), 'utf8'));
    const files: string[] = manifest.files.map((f: any) => f.path);
    const cases: [string, (dir: string) => string, string][] = [
      ['flipped byte in the snapshot', (dir) => {
        const f = files.find((p) => p.includes('/0/') && p.endsWith('snapshot'))!;
        const bytes = readFileSync(path.join(dir, f));
        bytes[Math.floor(bytes.length / 2)] ^= 0x40;
        writeFileSync(path.join(dir, f), bytes);
        return f;
      }, 'JADE_ERR_BACKUP_CORRUPT'],
      ['flipped byte in the graph', (dir) => {
        const f = files.find((p) => p.endsWith('graph'))!;
        const bytes = readFileSync(path.join(dir, f));
        bytes[bytes.length - 3] ^= 0x01;
        writeFileSync(path.join(dir, f), bytes);
        return f;
      }, 'JADE_ERR_BACKUP_CORRUPT'],
      ['truncated file', (dir) => {
        const f = files.find((p) => p.endsWith('labels'))!;
        truncateSync(path.join(dir, f), 3);
        return f;
      }, 'JADE_ERR_BACKUP_CORRUPT'],
      ['grown file', (dir) => {
        const f = files.at(-1)!;
        appendFileSync(path.join(dir, f), 'x');
        return f;
      }, 'JADE_ERR_BACKUP_CORRUPT'],
      ['missing file', (dir) => {
        const f = files.find((p) => p.endsWith('meta'))!;
        unlinkSync(path.join(dir, f));
        return f;
      }, 'JADE_ERR_BACKUP_CORRUPT'],
      ['manifest naming ../../x', (dir) => {
        const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
        m.files[0].path = '../../x';
        writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
        return '../../x';
      }, 'JADE_ERR_BAD_BACKUP_NAME'],
      ['manifest naming an absolute path', (dir) => {
        const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
        m.files[1].path = '/etc/passwd';
        writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
        return '/etc/passwd';
      }, 'JADE_ERR_BAD_BACKUP_NAME'],
      ['a file replaced by a symlink', (dir) => {
        const f = files.find((p) => p.endsWith('unindexed'))!;
        unlinkSync(path.join(dir, f));
        symlinkSync('/etc/hostname', path.join(dir, f));
        return f;
      }, 'JADE_ERR_BAD_BACKUP_NAME'],
    ];
    for (const [what, damage, code] of cases) {
      const targetRoot = mkdtempSync(path.join(root, 'damaged-'));
      cpSync(path.join(backupDir, 'full-1'), path.join(targetRoot, 'full-1'), { recursive: true });
      const named = damage(path.join(targetRoot, 'full-1'));
      const dataDir = path.join(targetRoot, 'data');
      const error = await restoreBackup(disk, new DirectoryTarget(disk, targetRoot), 'full-1', dataDir, shardOptions).then(() => null, (e: unknown) => e);
      expect(error, what).not.toBeNull();
      expect(isJadeError(error) && error.code, what).toBe(code);
      expect((error as Error).message, what).toContain(named);
      // Nothing restored half-way: no collection in the data directory, no staging left behind.
      const present = existsSync(dataDir) ? readdirSync(dataDir) : [];
      expect(present.filter((n) => n !== 'LOCK' && !n.startsWith('.lock')), what).toEqual([]);
    }
  });

  it('restores one collection under a new name into the running node: same points, digest and payload index', async () => {
    expect((await call(node, 'POST', '/backups', { name: 'for-rename' })).status).toBe(200);
    const r = await call(node, 'POST', '/backups/for-rename/restore', { collection: 'small', as: 'small_copy' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const before = digestOfNode(node, 'small');
    expect(r.body.result).toMatchObject({ collection: 'small', restored_as: 'small_copy', shards: 1, points: before.points, content_digest: before.digest, payload_indexes: 1 });
    expect(digestOfNode(node, 'small_copy')).toEqual(before);
    const info = await call(node, 'GET', '/collections/small_copy');
    expect(info.body.result.payload_schema.a).toMatchObject({ data_type: 'integer', params: { is_tenant: true } });
    expect((await call(node, 'POST', '/backups/for-rename/restore', { collection: 'small' })).body.status.code).toBe('JADE_ERR_COLLECTION_EXISTS');
    expect((await call(node, 'POST', '/backups/for-rename/restore', { collection: 'nope', as: 'x' })).status).toBe(404);
  });

  it('verify over REST names the damaged file', async () => {
    expect((await call(node, 'POST', '/backups', { name: 'to-damage' })).status).toBe(200);
    const m = JSON.parse(readFileSync(path.join(backupDir, 'to-damage', 'manifest.json'), 'utf8'));
    const f = m.files.find((x: any) => x.path.endsWith('snapshot')).path;
    const p = path.join(backupDir, 'to-damage', f);
    const bytes = readFileSync(p);
    bytes[10] ^= 0xff;
    writeFileSync(p, bytes);
    const v = await call(node, 'POST', '/backups/to-damage/verify');
    expect(v.status).toBe(409);
    expect(v.body.status.code).toBe('JADE_ERR_BACKUP_CORRUPT');
    expect(v.body.status.error).toContain(f);
  });

  it('refuses bad backup names with a coded 400: traversal, absolute paths, separators, symlinks; a taken name is 409', async () => {
    for (const name of ['../x', '..', '/tmp/x', 'a/b', '.hidden', 'a\\b', '', 'x'.repeat(200)]) {
      const r = await call(node, 'POST', '/backups', { name });
      expect(r.status, name).toBe(400);
      expect(r.body.status.code, name).toMatch(/^JADE_ERR_BAD_(BACKUP_NAME|REQUEST)$/);
    }
    expect((await call(node, 'POST', '/backups', { name: '../x' })).body.status.code).toBe('JADE_ERR_BAD_BACKUP_NAME');
    for (const url of ['/backups/..%2F..%2Fetc', '/backups/%2Fetc', '/backups/.partial-x']) {
      const r = await call(node, 'GET', url);
      expect(r.status, url).toBe(400);
      expect(r.body.status.code, url).toBe('JADE_ERR_BAD_BACKUP_NAME');
    }
    symlinkSync(path.join(backupDir, 'full-1'), path.join(backupDir, 'linked'));
    const linked = await call(node, 'GET', '/backups/linked');
    expect(linked.status).toBe(400);
    expect(linked.body.status.code).toBe('JADE_ERR_BAD_BACKUP_NAME');
    expect((await call(node, 'GET', '/backups')).body.result.map((x: any) => x.id)).not.toContain('linked');
    expect((await call(node, 'POST', '/backups', { name: 'full-1' })).status).toBe(409);
    expect((await call(node, 'GET', '/backups/never-made')).status).toBe(404);
  });
});
