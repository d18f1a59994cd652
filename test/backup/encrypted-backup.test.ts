// Compressed and encrypted standalone backups end to end: a node started with a key file
// (JADE_BACKUP_KEY_FILE) writes every file zstd-compressed and AES-256-GCM-encrypted, the manifest
// says so per file, verify passes and an offline restore gives the same content digests. Damage
// (a flipped byte, also with the manifest's SHA-256 forged to match; a truncated or missing file),
// a wrong key, an unknown key id or no key file: each a coded error naming the file, nothing
// restored. Keys rotate: with B first and A still in the file, new backups use B and old ones
// restore; with A removed they are refused clearly. Without a key file backups are compressed
// only, and a manifest from before compression still restores. Prints the compression ratio of
// Fashion-MNIST images and of embedding-like vectors with text payloads.
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../node/src/backup/digest.js';
import { DirectoryTarget } from '../../node/src/backup/directory-target.js';
import { BackupKeyRing } from '../../node/src/backup/keys.js';
import { restoreBackup } from '../../node/src/backup/restore.js';
import { DEFAULT_CONFIG, type NodeConfig } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import type { StandaloneDatabase } from '../../node/src/query/catalog.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import { isJadeError } from '../../node/src/util/errors.js';
import { fashionAvailable, loadFashion } from '../helpers/fashion.js';

const shardOptions = { wal: { ...DEFAULT_CONFIG.wal, pendingBytesMax: 1 << 28 }, limits: DEFAULT_SHARD_LIMITS, checkpointWalBytes: 1 << 30 };
const MARKER = 'plaintext-marker-of-a-payload';
const EMB_DIM = 128;
const EMB_POINTS = 1500;
const FASHION_POINTS = 1500;

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const keyLine = (id: string, k: Buffer) => `${id}:${k.toString('base64')}`;

let root: string;
let backupDir: string;
let node: RunningNode;
const keyFile = (name: string, text: string) => {
  const p = path.join(root, name);
  writeFileSync(p, `${text}\n`);
  return p;
};
const ringA = BackupKeyRing.of([['a', keyA]]);

function config(dataDir: string, keyFilePath: string | null): NodeConfig {
  return { ...DEFAULT_CONFIG, host: '127.0.0.1', port: 0, logLevel: 'silent', dataDir, backupDir, backupKeyFile: keyFilePath };
}

async function call(n: RunningNode, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) {
  const r = await n.app.inject({ method, url, payload: payload as any });
  return { status: r.statusCode, body: r.json() as any };
}

function digestOfNode(n: RunningNode, name: string) {
  return digestOf((n.database as StandaloneDatabase).catalog.get(name).shard.state.exportPoints().points);
}

const manifestOf = (id: string, dir = backupDir) => JSON.parse(readFileSync(path.join(dir, id, 'manifest.json'), 'utf8'));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Seeded normal-ish floats, unit length: what a text-embedding model gives (little to compress). */
function embedding(i: number): number[] {
  let s = i * 2654435761 + 1;
  const v = Array.from({ length: EMB_DIM }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s / 2 ** 32 - 0.5) + ((s >>> 7) % 100) / 400 - 0.125;
  });
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

async function upsertAll(name: string, points: { id: number; vector: number[]; payload: Record<string, unknown> }[]) {
  for (let at = 0; at < points.length; at += 500) {
    const r = await call(node, 'PUT', `/collections/${name}/points?wait=true`, { points: points.slice(at, at + 500) });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  }
}

async function restoreError(id: string, keys: BackupKeyRing | null, damage?: (dir: string) => void): Promise<{ error: any; dataDir: string }> {
  const disk = new RealDisk();
  const targetRoot = mkdtempSync(path.join(root, 'restore-'));
  cpSync(path.join(backupDir, id), path.join(targetRoot, id), { recursive: true });
  damage?.(path.join(targetRoot, id));
  const dataDir = path.join(targetRoot, 'data');
  const error = await restoreBackup(disk, new DirectoryTarget(disk, targetRoot, { keys, keySetting: 'JADE_BACKUP_KEY_FILE' }), id, dataDir, shardOptions).then(() => null, (e: unknown) => e);
  return { error, dataDir };
}

function expectNothingRestored(dataDir: string, what: string) {
  const present = existsSync(dataDir) ? readdirSync(dataDir) : [];
  expect(present.filter((n) => n !== 'LOCK' && !n.startsWith('.lock')), what).toEqual([]);
}

function expectNoKeyIn(message: string) {
  for (const k of [keyA, keyB]) {
    expect(message).not.toContain(k.toString('base64'));
    expect(message).not.toContain(k.toString('hex'));
  }
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'jade-backup-crypt-'));
  backupDir = path.join(root, 'backups');
  node = await startNode(config(path.join(root, 'node1'), keyFile('keys-a', `# backup keys\n${keyLine('a', keyA)}`)));
  expect((await call(node, 'PUT', '/collections/emb', { vectors: { size: EMB_DIM, distance: 'Cosine' } })).status).toBe(200);
  await upsertAll('emb', Array.from({ length: EMB_POINTS }, (_, i) => ({ id: i, vector: embedding(i), payload: { title: `document ${i} about topic ${i % 37}`, lang: i % 3 === 0 ? 'en' : 'de', marker: MARKER, year: 1990 + (i % 30) } })));
  expect((await call(node, 'PUT', '/collections/emb/index', { field_name: 'lang', field_schema: 'keyword' })).status).toBe(200);
  if (fashionAvailable()) {
    const fm = loadFashion(FASHION_POINTS, 1);
    expect((await call(node, 'PUT', '/collections/fm', { vectors: { size: 784, distance: 'Euclid' } })).status).toBe(200);
    await upsertAll('fm', fm.base.map((v, i) => ({ id: i, vector: Array.from(v), payload: { label: fm.baseLabels[i] } })));
  }
}, 120_000);

afterAll(async () => {
  await node?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('compressed and encrypted backups', () => {
  it('writes every file compressed and encrypted with the key file\'s first key; verify passes; restores with equal digests', async () => {
    const made = await call(node, 'POST', '/backups', { name: 'enc-1' });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    expect(made.body.result).toMatchObject({ compression: 'zstd', encryption: { algorithm: 'aes-256-gcm', key_id: 'a' } });
    expect(made.body.result.content_size_bytes).toBeGreaterThan(0);
    const m = manifestOf('enc-1');
    expect(m.compression).toBe('zstd');
    expect(m.encryption).toEqual({ algorithm: 'aes-256-gcm', keyId: 'a', keyFingerprint: ringA.fingerprint('a') });
    const nonces = new Set<string>();
    for (const f of m.files) {
      expect(f).toMatchObject({ compression: 'zstd', contentSizeBytes: expect.any(Number), encryption: { algorithm: 'aes-256-gcm', keyId: 'a', nonce: expect.stringMatching(/^[0-9a-f]{24}$/), chunkBytes: 1 << 20 } });
      nonces.add(f.encryption.nonce);
      // sizeBytes and sha256 are of what is stored.
      const stored = readFileSync(path.join(backupDir, 'enc-1', f.path));
      expect(stored.length).toBe(f.sizeBytes);
      expect(sha256(stored)).toBe(f.sha256);
      expect(stored.includes(Buffer.from(MARKER)), f.path).toBe(false);
    }
    expect(nonces.size, 'a fresh nonce per file').toBe(m.files.length);
    expect(JSON.stringify(m)).not.toContain(keyA.toString('base64'));

    // Compression ratio per collection, content bytes over stored bytes.
    for (const [i, c] of m.collections.entries()) {
      const files = m.files.filter((f: any) => f.path.startsWith(`collections/${i}/`));
      const content = files.reduce((n: number, f: any) => n + f.contentSizeBytes, 0);
      const stored = files.reduce((n: number, f: any) => n + f.sizeBytes, 0);
      const byRole = files.map((f: any) => `${f.path.split('/').at(-1)} ${(f.contentSizeBytes / f.sizeBytes).toFixed(2)}x`).join(', ');
      process.stdout.write(`backup compression (zstd level 3 + AES-256-GCM) of ${c.name} (${c.points} points, dim ${c.params.dimension}): ${content} -> ${stored} bytes, ${(content / stored).toFixed(2)}x (${byRole})\n`);
      expect(stored).toBeLessThan(content);
    }

    const verified = await call(node, 'POST', '/backups/enc-1/verify');
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    const disk = new RealDisk();
    const dataDir = path.join(root, 'restored-enc-1');
    const r = await restoreBackup(disk, new DirectoryTarget(disk, backupDir, { keys: ringA, keySetting: 'JADE_BACKUP_KEY_FILE' }), 'enc-1', dataDir, shardOptions);
    expect(r.collections.find((c) => c.name === 'emb')).toMatchObject({ points: EMB_POINTS, contentDigest: digestOfNode(node, 'emb').digest });
    const restored = await startNode(config(dataDir, null));
    try {
      expect(digestOfNode(restored, 'emb')).toEqual(digestOfNode(node, 'emb'));
      const hit = await call(restored, 'POST', '/collections/emb/points/search', { vector: embedding(42), limit: 1, with_payload: true });
      expect(hit.body.result[0]).toMatchObject({ id: 42, payload: { marker: MARKER } });
    } finally {
      await restored.close();
    }
  }, 60_000);

  it('refuses damage whole, naming the file: flipped byte (also with a forged SHA-256), truncated, missing', async () => {
    const m = manifestOf('enc-1');
    const snapshot: string = m.files.find((f: any) => f.path.endsWith('/snapshot')).path;
    const graph: string = m.files.find((f: any) => f.path.endsWith('/graph')).path;
    const flip = (dir: string, file: string, at: (n: number) => number) => {
      const p = path.join(dir, file);
      const b = readFileSync(p);
      b[at(b.length)] ^= 0x10;
      writeFileSync(p, b);
      return b;
    };
    const cases: [string, string, (dir: string) => void, RegExp][] = [
      ['flipped byte', snapshot, (dir) => flip(dir, snapshot, (n) => Math.floor(n / 2)), /SHA-256 does not match/],
      ['flipped tag byte at the end', graph, (dir) => flip(dir, graph, (n) => n - 1), /SHA-256 does not match/],
      ['flipped byte, the manifest\'s SHA-256 forged to match', snapshot, (dir) => {
        const b = flip(dir, snapshot, () => 20);
        const mm = manifestOf('enc-1', path.dirname(dir));
        mm.files.find((f: any) => f.path === snapshot).sha256 = sha256(b);
        writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(mm));
      }, /fails authentication/],
      ['truncated, the manifest\'s size and SHA-256 forged to match', graph, (dir) => {
        const p = path.join(dir, graph);
        const b = readFileSync(p).subarray(0, 100);
        writeFileSync(p, b);
        const mm = manifestOf('enc-1', path.dirname(dir));
        Object.assign(mm.files.find((f: any) => f.path === graph), { sha256: sha256(b), sizeBytes: b.length });
        writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(mm));
      }, /fails authentication|cut short/],
      ['truncated', snapshot, (dir) => truncateSync(path.join(dir, snapshot), 40), /truncated or changed/],
      ['missing', graph, (dir) => unlinkSync(path.join(dir, graph)), /missing/],
    ];
    for (const [what, file, damage, message] of cases) {
      const { error, dataDir } = await restoreError('enc-1', ringA, damage);
      expect(isJadeError(error) && error.code, `${what}: ${error}`).toBe('JADE_ERR_BACKUP_CORRUPT');
      expect(error.message, what).toContain(file);
      expect(error.message, what).toMatch(message);
      expectNoKeyIn(error.message);
      expectNothingRestored(dataDir, what);
    }
  }, 60_000);

  it('a wrong key, an unknown key id or no key file: JADE_ERR_BACKUP_KEY naming the file, nothing restored', async () => {
    const cases: [string, BackupKeyRing | null, RegExp][] = [
      ['wrong key under id a', BackupKeyRing.of([['a', keyB]]), /key a of the backup key file \(JADE_BACKUP_KEY_FILE\) is not the key this file was encrypted with .*wrong key/],
      ['unknown key id', BackupKeyRing.of([['b', keyB]]), /encrypted with key a, which the backup key file \(JADE_BACKUP_KEY_FILE\) does not hold \(it holds: b\)/],
      ['no key file', null, /encrypted with key a, and no backup key file is configured/],
    ];
    for (const [what, keys, message] of cases) {
      const { error, dataDir } = await restoreError('enc-1', keys);
      expect(isJadeError(error) && error.code, `${what}: ${error}`).toBe('JADE_ERR_BACKUP_KEY');
      expect(error.message, what).toMatch(message);
      expect(error.message, what).toMatch(/backup file collections\/\d+\/shard-0\/\w+/);
      expectNoKeyIn(error.message);
      expectNothingRestored(dataDir, what);
    }
    // Over REST too: the running node's own key ring, a 409 with the code.
    const other = await startNode(config(path.join(root, 'node-wrong-key'), keyFile('keys-wrong', keyLine('a', keyB))));
    try {
      const v = await call(other, 'POST', '/backups/enc-1/verify');
      expect(v.status).toBe(409);
      expect(v.body.status.code).toBe('JADE_ERR_BACKUP_KEY');
      expectNoKeyIn(v.body.status.error);
      const r = await call(other, 'POST', '/backups/enc-1/restore', { collection: 'emb', as: 'emb_copy' });
      expect(r.body.status.code).toBe('JADE_ERR_BACKUP_KEY');
      expect((await call(other, 'GET', '/collections')).body.result.collections).toEqual([]);
    } finally {
      await other.close();
    }
  }, 60_000);

  it('rotates keys: B first with A kept, new backups use B and both restore; A removed, the old backup is refused clearly', async () => {
    await node.close();
    node = await startNode(config(path.join(root, 'node1'), keyFile('keys-ba', `${keyLine('b', keyB)}\n${keyLine('a', keyA)}`)));
    const made = await call(node, 'POST', '/backups', { name: 'enc-2' });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    expect(made.body.result.encryption).toEqual({ algorithm: 'aes-256-gcm', key_id: 'b' });
    expect(manifestOf('enc-2').files.every((f: any) => f.encryption.keyId === 'b')).toBe(true);
    for (const id of ['enc-1', 'enc-2']) {
      expect((await call(node, 'POST', `/backups/${id}/verify`)).status, id).toBe(200);
      const r = await call(node, 'POST', `/backups/${id}/restore`, { collection: 'emb', as: `emb_from_${id.replace('-', '_')}` });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.result).toMatchObject({ points: EMB_POINTS, content_digest: digestOfNode(node, 'emb').digest, payload_indexes: 1 });
    }
    const ringBA = BackupKeyRing.of([['b', keyB], ['a', keyA]]);
    for (const id of ['enc-1', 'enc-2']) expect((await restoreError(id, ringBA)).error, id).toBeNull();

    await node.close();
    node = await startNode(config(path.join(root, 'node1'), keyFile('keys-b', keyLine('b', keyB))));
    expect((await call(node, 'POST', '/backups/enc-2/verify')).status).toBe(200);
    const refused = await call(node, 'POST', '/backups/enc-1/verify');
    expect(refused.status).toBe(409);
    expect(refused.body.status.code).toBe('JADE_ERR_BACKUP_KEY');
    expect(refused.body.status.error).toMatch(/encrypted with key a, which the backup key file \(JADE_BACKUP_KEY_FILE\) does not hold \(it holds: b\); add that key back/);
    const { error, dataDir } = await restoreError('enc-1', BackupKeyRing.of([['b', keyB]]));
    expect(error?.code).toBe('JADE_ERR_BACKUP_KEY');
    expectNothingRestored(dataDir, 'A removed');
  }, 90_000);

  it('without a key file backups are compressed only, and a manifest from before compression still restores', async () => {
    await node.close();
    node = await startNode(config(path.join(root, 'node1'), null));
    const made = await call(node, 'POST', '/backups', { name: 'plain-1' });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    expect(made.body.result).toMatchObject({ compression: 'zstd', encryption: null });
    const m = manifestOf('plain-1');
    expect(m.encryption).toBeNull();
    for (const f of m.files) expect(f).toMatchObject({ compression: 'zstd', encryption: null });
    expect((await restoreError('plain-1', null)).error).toBeNull();
    // An encrypted backup is not readable here, and says why.
    expect((await call(node, 'POST', '/backups/enc-2/verify')).body.status.error).toMatch(/no backup key file is configured \(JADE_BACKUP_KEY_FILE\)/);

    // The layout of a backup made before compression: files stored raw, no per-file encoding.
    const disk = new RealDisk();
    const target = new DirectoryTarget(disk, backupDir);
    const oldDir = path.join(root, 'old-format');
    const { manifest } = await target.readManifest('plain-1');
    const files = [];
    cpSync(path.join(backupDir, 'plain-1'), path.join(oldDir, 'old-1'), { recursive: true });
    for (const f of manifest.files) {
      const content = await target.readFile('plain-1', f);
      writeFileSync(path.join(oldDir, 'old-1', f.path), content);
      files.push({ path: f.path, sizeBytes: content.length, sha256: sha256(content) });
    }
    writeFileSync(path.join(oldDir, 'old-1', 'manifest.json'), JSON.stringify({ ...manifest, id: 'old-1', compression: 'none', encryption: null, files }, null, 2));
    const dataDir = path.join(root, 'restored-old');
    const r = await restoreBackup(disk, new DirectoryTarget(disk, oldDir), 'old-1', dataDir, shardOptions);
    expect(r.collections.find((c) => c.name === 'emb')).toMatchObject({ points: EMB_POINTS, contentDigest: digestOfNode(node, 'emb').digest });
    const summary = await new DirectoryTarget(disk, oldDir).readManifest('old-1');
    expect(summary.manifest.files.every((f) => f.compression === 'none' && f.encryption === null && f.contentSizeBytes === f.sizeBytes)).toBe(true);

    // A file of an encrypted backup swapped for a plain one is refused, not read as plain.
    const mixed = manifestOf('enc-2');
    Object.assign(mixed.files[0], { encryption: null });
    const swapped = mkdtempSync(path.join(root, 'mixed-'));
    cpSync(path.join(backupDir, 'enc-2'), path.join(swapped, 'enc-2'), { recursive: true });
    writeFileSync(path.join(swapped, 'enc-2', 'manifest.json'), JSON.stringify(mixed));
    await expect(new DirectoryTarget(disk, swapped).readManifest('enc-2')).rejects.toMatchObject({ code: 'JADE_ERR_BACKUP_CORRUPT', message: expect.stringContaining('is not encrypted, the backup says every file is') });
  }, 60_000);

  it('a key file that cannot be used stops the node with a coded error naming the file and line, never the key', async () => {
    const b64 = keyA.toString('base64');
    const cases: [string, string | null, RegExp][] = [
      ['short key', `k:${b64.slice(0, 24)}`, /line 1: key k is 18 bytes, AES-256 needs 32/],
      ['no colon', `\n\nk ${b64}`, /line 3: expected keyId:base64key/],
      ['missing file', null, /cannot be read \(ENOENT\)/],
    ];
    for (const [what, text, message] of cases) {
      const p = text === null ? path.join(root, 'no-such-key-file') : keyFile(`bad-${what.replace(/ /g, '-')}`, text);
      const error: any = await startNode(config(path.join(root, `node-${what.replace(/ /g, '-')}`), p)).then((n) => n.close().then(() => null), (e: unknown) => e);
      expect(error?.code, what).toBe('JADE_ERR_BACKUP_KEY');
      expect(error.message, what).toMatch(message);
      expect(error.message, what).toContain(p);
      expect(error.message, what).not.toContain(b64.slice(0, 16));
    }
  });
});
