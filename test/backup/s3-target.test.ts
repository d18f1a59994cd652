// Backups in S3-compatible object storage end to end, against s3rver on the loopback, reached
// through a small HTTP proxy in this test that records every request and can cut the connection
// (a network failure from some request on). A standalone node with the S3 settings and a key file
// backs up over REST: the files are encrypted objects under <prefix>/<id>/, the manifest last; the
// backup is listed, verifies, restores offline from the bucket and into the running node with equal
// digests (also through `jade restore s3://…`); a file larger than the part size goes up multipart. A backup cut off before its manifest
// (or in the middle of a multipart upload) is not listed (its leftovers are), and a rerun under
// the same name removes them and succeeds; a deleted backup leaves no object. A
// changed or truncated object is JADE_ERR_BACKUP_CORRUPT naming the file; an unreachable endpoint,
// a missing bucket and refused credentials are coded 503 / 404 / 403 naming the bucket, never the
// secret. The configuration takes the settings, refuses a directory and a bucket together, and
// redacts the credentials.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf } from '../../node/src/backup/digest.js';
import { BackupKeyRing } from '../../node/src/backup/keys.js';
import { restoreBackup } from '../../node/src/backup/restore.js';
import type { S3TargetSettings } from '../../node/src/backup/s3-settings.js';
import { S3Target } from '../../node/src/backup/s3-target.js';
import { addBackupCommands } from '../../node/src/cli/backup.js';
import { ConfigError, DEFAULT_CONFIG, loadConfig, redactedConfig, type NodeConfig } from '../../node/src/config.js';
import { startNode, type RunningNode } from '../../node/src/node.js';
import type { StandaloneDatabase } from '../../node/src/query/catalog.js';
import { DEFAULT_SHARD_LIMITS } from '../../node/src/shard/state.js';
import { RealDisk } from '../../node/src/storage/disk.js';
import { isJadeError } from '../../node/src/util/errors.js';

const BUCKET = 'jade-backups';
const PREFIX = 'cluster-a/nightly';
const ACCESS_KEY_ID = 'S3RVER'; // s3rver's account (it does not check V4 signatures, so the secret is ours)
const SECRET = `jade-s3-secret-${randomBytes(12).toString('hex')}`;
/** Lowered from S3's 5 MiB minimum (s3rver takes small parts) so a test-sized file goes multipart. */
const PART_SIZE_BYTES = 128 * 1024;
const DIM = 64;
const POINTS = 3000;
const shardOptions = { wal: { ...DEFAULT_CONFIG.wal, pendingBytesMax: 1 << 28 }, limits: DEFAULT_SHARD_LIMITS, checkpointWalBytes: 1 << 30 };
const keyBytes = randomBytes(32);
const ring = BackupKeyRing.of([['k1', keyBytes]]);

/** A proxy in front of s3rver: records each request, and once `cutWhen` matches one, cuts it and every request after (until healed). */
class FaultProxy {
  readonly requests: { method: string; url: string }[] = [];
  cutWhen: ((method: string, url: string) => boolean) | null = null;
  cut = false;
  /** The next answer to a matching request breaks off after half its body (once). */
  breakBodyWhen: ((method: string, url: string) => boolean) | null = null;
  private server!: http.Server;
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const method = req.method ?? 'GET';
      const url = req.url ?? '/';
      this.requests.push({ method, url });
      if (!this.cut && this.cutWhen?.(method, url)) this.cut = true;
      if (this.cut) {
        req.socket.destroy();
        return;
      }
      const breakBody = this.breakBodyWhen?.(method, url) ?? false;
      if (breakBody) this.breakBodyWhen = null;
      const up = http.request({ host: '127.0.0.1', port: this.upstreamPort, method, path: url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (!breakBody) {
          upRes.pipe(res);
          return;
        }
        const half = Math.floor(Number(upRes.headers['content-length'] ?? 0) / 2);
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= half) return;
          const piece = chunk.subarray(0, half - sent);
          sent += piece.length;
          res.write(piece);
          if (sent >= half) setTimeout(() => req.socket.destroy(), 20);
        });
      });
      up.on('error', () => req.socket.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  heal(): void {
    this.cut = false;
    this.cutWhen = null;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

let root: string;
let s3rver: S3rver;
let proxy: FaultProxy;
let direct: S3Client;
let node: RunningNode;
let s3Port = 0;
let keyFile: string;

function settings(overrides: Partial<S3TargetSettings> = {}): S3TargetSettings {
  return { bucket: BUCKET, prefix: PREFIX, endpoint: `http://127.0.0.1:${proxy.port}`, region: 'us-east-1', partSizeBytes: PART_SIZE_BYTES, credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET }, maxAttempts: 2, ...overrides };
}

function config(dataDir: string): NodeConfig {
  return { ...DEFAULT_CONFIG, host: '127.0.0.1', port: 0, logLevel: 'silent', dataDir, backupS3: settings(), backupKeyFile: keyFile };
}

async function call(n: RunningNode, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) {
  const r = await n.app.inject({ method, url, payload: payload as any });
  return { status: r.statusCode, body: r.json() as any };
}

function digestOfNode(n: RunningNode, name: string) {
  return digestOf((n.database as StandaloneDatabase).catalog.get(name).shard.state.exportPoints().points);
}

async function keysUnder(prefix: string): Promise<string[]> {
  const r = await direct.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!).sort();
}

async function getObject(key: string): Promise<Buffer> {
  const r = await direct.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

function expectNoSecret(text: string) {
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(keyBytes.toString('base64'));
}

/** Seeded floats: little for zstd to take out, so the snapshot stays larger than a part. */
function vector(i: number): number[] {
  let s = (i + 1) * 2654435761;
  return Array.from({ length: DIM }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'jade-backup-s3-'));
  s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(root, 's3rver') });
  s3Port = (await s3rver.run()).port;
  proxy = new FaultProxy(s3Port);
  await proxy.start();
  direct = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: 'direct' }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await direct.send(new CreateBucketCommand({ Bucket: BUCKET }));
  keyFile = path.join(root, 'backup-keys');
  writeFileSync(keyFile, `k1:${keyBytes.toString('base64')}\n`);
  node = await startNode(config(path.join(root, 'node1')));
  expect((await call(node, 'PUT', '/collections/docs', { vectors: { size: DIM, distance: 'Dot' } })).status).toBe(200);
  for (let at = 0; at < POINTS; at += 1000) {
    const points = Array.from({ length: 1000 }, (_, j) => ({ id: at + j, vector: vector(at + j), payload: { n: at + j, tag: `t${(at + j) % 7}` } }));
    expect((await call(node, 'PUT', '/collections/docs/points?wait=true', { points })).status).toBe(200);
  }
  expect((await call(node, 'PUT', '/collections/docs/index', { field_name: 'tag', field_schema: 'keyword' })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await node?.close();
  direct?.destroy();
  await proxy?.stop();
  await s3rver?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('S3 backup target', () => {
  it('backs up into the bucket (encrypted objects, the manifest last, large files multipart); lists, verifies and restores with equal digests', async () => {
    proxy.requests.length = 0;
    const made = await call(node, 'POST', '/backups', { name: 'b1' });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    expect(made.body.result).toMatchObject({ id: 'b1', compression: 'zstd', encryption: { algorithm: 'aes-256-gcm', key_id: 'k1' } });

    const dir = `${PREFIX}/b1/`;
    const manifest = JSON.parse((await getObject(`${dir}manifest.json`)).toString('utf8'));
    expect((await keysUnder(dir)).sort()).toEqual([...manifest.files.map((f: any) => `${dir}${f.path}`), `${dir}manifest.json`].sort());
    for (const f of manifest.files) {
      const stored = await getObject(`${dir}${f.path}`);
      expect(stored.length).toBe(f.sizeBytes);
      expect(f.encryption).toMatchObject({ keyId: 'k1' });
    }
    // The manifest went up after every file it lists.
    const puts = proxy.requests.filter((r) => r.method === 'PUT' || r.method === 'POST').map((r) => decodeURIComponent(r.url.split('?')[0]));
    expect(puts.at(-1)).toBe(`/${BUCKET}/${dir}manifest.json`);
    // The snapshot is larger than a part: a multipart upload of several parts.
    const snapshot = manifest.files.find((f: any) => f.path.endsWith('/snapshot'));
    expect(snapshot.sizeBytes).toBeGreaterThan(2 * PART_SIZE_BYTES);
    const snapshotUrl = `/${BUCKET}/${dir}${snapshot.path}`;
    const ofSnapshot = proxy.requests.filter((r) => decodeURIComponent(r.url.split('?')[0]) === snapshotUrl);
    expect(ofSnapshot.some((r) => r.method === 'POST' && r.url.includes('uploads'))).toBe(true);
    expect(ofSnapshot.filter((r) => r.method === 'PUT' && r.url.includes('partNumber=')).length).toBe(Math.ceil(snapshot.sizeBytes / PART_SIZE_BYTES));
    // A small file is one PutObject.
    const meta = manifest.files.find((f: any) => f.path.endsWith('/meta'));
    expect(proxy.requests.filter((r) => decodeURIComponent(r.url.split('?')[0]) === `/${BUCKET}/${dir}${meta.path}`).map((r) => r.method)).toEqual(['PUT']);

    expect((await call(node, 'GET', '/backups')).body.result.map((b: any) => b.id)).toEqual(['b1']);
    expect((await call(node, 'GET', '/backups/b1')).body.result.collections).toEqual(made.body.result.collections);
    const source = digestOfNode(node, 'docs');
    const verified = await call(node, 'POST', '/backups/b1/verify');
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.result.collections[0]).toMatchObject({ name: 'docs', points: POINTS, content_digest: source.digest });

    // Offline restore from the bucket into a new data directory.
    const dataDir = path.join(root, 'restored');
    const target = new S3Target(settings(), { keys: ring, keySetting: 'JADE_BACKUP_KEY_FILE' });
    try {
      const r = await restoreBackup(new RealDisk(), target, 'b1', dataDir, shardOptions);
      expect(r.collections).toEqual([{ name: 'docs', points: POINTS, contentDigest: source.digest }]);
    } finally {
      target.close();
    }
    const restored = await startNode({ ...config(dataDir), backupS3: null, backupKeyFile: null });
    try {
      expect(digestOfNode(restored, 'docs')).toEqual(source);
    } finally {
      await restored.close();
    }
    // The same with `jade restore s3://bucket/prefix/<id>`, the S3 settings and credentials from the environment.
    const cliDataDir = path.join(root, 'restored-cli');
    const program = new Command().exitOverride();
    addBackupCommands(program, () => {
      throw new Error('offline: no client');
    }, { JADE_BACKUP_S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`, AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, JADE_BACKUP_KEY_FILE: keyFile });
    await program.parseAsync(['node', 'jade', 'restore', `s3://${BUCKET}/${PREFIX}/b1`, '--data-dir', cliDataDir]);
    const fromCli = await startNode({ ...config(cliDataDir), backupS3: null, backupKeyFile: null });
    try {
      expect(digestOfNode(fromCli, 'docs')).toEqual(source);
    } finally {
      await fromCli.close();
    }
    // And one collection into the running node under a new name.
    const into = await call(node, 'POST', '/backups/b1/restore', { collection: 'docs', as: 'docs-copy' });
    expect(into.status, JSON.stringify(into.body)).toBe(200);
    expect(digestOfNode(node, 'docs-copy')).toEqual(source);
  }, 60_000);

  it('a backup cut off before its manifest is not listed; a rerun under its name removes the leftovers and succeeds', async () => {
    // Every file is up; the connection dies at the manifest's upload and stays dead, so the failed write cannot clean up (as if killed).
    proxy.cutWhen = (method, url) => method === 'PUT' && url.split('?')[0].endsWith('/b2/manifest.json');
    const failed = await call(node, 'POST', '/backups', { name: 'b2' }).finally(() => proxy.heal());
    expect(failed.status, JSON.stringify(failed.body)).toBe(503);
    expect(failed.body.status.code).toBe('JADE_ERR_UNAVAILABLE');
    expect(failed.body.status.error).toContain(`s3://${BUCKET}/${PREFIX}/b2/`);
    expectNoSecret(JSON.stringify(failed.body));

    const left = await keysUnder(`${PREFIX}/b2/`);
    expect(left.length).toBeGreaterThan(0);
    expect(left).not.toContain(`${PREFIX}/b2/manifest.json`);
    expect((await call(node, 'GET', '/backups')).body.result.map((b: any) => b.id)).toEqual(['b1']);
    expect((await call(node, 'GET', '/backups/b2')).status).toBe(404);

    await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/b2/stray-leftover`, Body: Buffer.from('x') }));
    const rerun = await call(node, 'POST', '/backups', { name: 'b2' });
    expect(rerun.status, JSON.stringify(rerun.body)).toBe(200);
    const manifest = JSON.parse((await getObject(`${PREFIX}/b2/manifest.json`)).toString('utf8'));
    expect(await keysUnder(`${PREFIX}/b2/`)).toEqual([...manifest.files.map((f: any) => `${PREFIX}/b2/${f.path}`), `${PREFIX}/b2/manifest.json`].sort());
    expect((await call(node, 'GET', '/backups')).body.result.map((b: any) => b.id)).toEqual(['b1', 'b2']);
    expect((await call(node, 'POST', '/backups/b2/verify')).status).toBe(200);
    // A name taken by a whole backup stays taken.
    expect((await call(node, 'POST', '/backups', { name: 'b2' })).status).toBe(409);

    // Cut in the middle of a multipart upload (the snapshot's second part): not listed either, and a rerun succeeds.
    proxy.cutWhen = (method, url) => method === 'PUT' && url.includes('/b3/') && url.includes('partNumber=2');
    const midway = await call(node, 'POST', '/backups', { name: 'b3' }).finally(() => proxy.heal());
    expect(midway.status, JSON.stringify(midway.body)).toBe(503);
    expect(midway.body.status.error).toContain('upload part 2 of');
    expect(await keysUnder(`${PREFIX}/b3/manifest.json`)).toEqual([]);
    expect((await call(node, 'GET', '/backups')).body.result.map((b: any) => b.id)).toEqual(['b1', 'b2']);
    expect((await call(node, 'POST', '/backups', { name: 'b3' })).status).toBe(200);
    expect((await call(node, 'GET', '/backups')).body.result.map((b: any) => b.id)).toEqual(['b1', 'b2', 'b3']);

    // DELETE /backups/{id}: the manifest goes first (unlisted at once), then every object of the backup.
    expect((await call(node, 'DELETE', '/backups/b3')).status).toBe(200);
    expect(await keysUnder(`${PREFIX}/b3/`)).toEqual([]);
    expect((await call(node, 'GET', '/backups/b3')).status).toBe(404);
    expect((await call(node, 'DELETE', '/backups/b3')).status).toBe(404);
    expect((await call(node, 'GET', '/backups')).body.result.map((b: any) => b.id)).toEqual(['b1', 'b2']);
  }, 60_000);

  it('a changed or truncated object is JADE_ERR_BACKUP_CORRUPT naming its file', async () => {
    const manifest = JSON.parse((await getObject(`${PREFIX}/b2/manifest.json`)).toString('utf8'));
    const snapshot = manifest.files.find((f: any) => f.path.endsWith('/snapshot'));
    const key = `${PREFIX}/b2/${snapshot.path}`;
    const original = await getObject(key);
    const flipped = Buffer.from(original);
    flipped[Math.floor(flipped.length / 2)] ^= 0x40;
    await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: flipped }));
    const changed = await call(node, 'POST', '/backups/b2/verify');
    expect(changed.status).toBe(409);
    expect(changed.body.status.code).toBe('JADE_ERR_BACKUP_CORRUPT');
    expect(changed.body.status.error).toContain(snapshot.path);
    expect(changed.body.status.error).toContain('SHA-256 does not match');

    await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: original.subarray(0, original.length - 100) }));
    const truncated = await call(node, 'POST', '/backups/b2/verify');
    expect(truncated.body.status.code).toBe('JADE_ERR_BACKUP_CORRUPT');
    expect(truncated.body.status.error).toContain(`${original.length - 100} bytes, the manifest says ${original.length}`);

    await direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: original }));
    expect((await call(node, 'POST', '/backups/b2/verify')).status).toBe(200);

    // A read whose connection breaks mid-body goes on from the byte it reached (a ranged GET), and the file still checks.
    proxy.requests.length = 0;
    proxy.breakBodyWhen = (method, url) => method === 'GET' && decodeURIComponent(url.split('?')[0]) === `/${BUCKET}/${key}`;
    const resumed = await call(node, 'POST', '/backups/b2/verify');
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    expect(proxy.breakBodyWhen).toBe(null);
    expect(proxy.requests.filter((r) => r.method === 'GET' && decodeURIComponent(r.url.split('?')[0]) === `/${BUCKET}/${key}`).length).toBe(2);
  }, 60_000);

  it('an unreachable endpoint, a missing bucket and refused credentials are coded errors naming the bucket, never the secret', async () => {
    const cases: [Partial<S3TargetSettings>, string, number][] = [
      // A port nothing listens on: the proxy's, once stopped, is not reliably free; s3rver's + proxy's neighbours may be taken: use a closed server's port.
      [{ endpoint: `http://127.0.0.1:${await closedPort()}` }, 'JADE_ERR_UNAVAILABLE', 503],
      [{ bucket: 'no-such-bucket' }, 'JADE_ERR_NOT_FOUND', 404],
      [{ credentials: { accessKeyId: 'unknown-key-id', secretAccessKey: SECRET } }, 'JADE_ERR_FORBIDDEN', 403],
    ];
    for (const [override, code, status] of cases) {
      const target = new S3Target(settings(override));
      try {
        const e = await target.list().then(() => null, (x: unknown) => x);
        expect(isJadeError(e), String(e)).toBe(true);
        if (!isJadeError(e)) continue;
        expect(e.code).toBe(code);
        expect(e.httpStatus).toBe(status);
        expect(e.message).toContain(override.bucket ?? BUCKET);
        expectNoSecret(`${e.message} ${JSON.stringify(e.details)}`);
      } finally {
        target.close();
      }
    }
  }, 60_000);

  it('refuses to clear "leftovers" that hold another backup (a prefix nested inside this one), deleting nothing', async () => {
    const before = await keysUnder(`${PREFIX}/`);
    const outer = new S3Target(settings({ prefix: PREFIX.split('/')[0] }));
    try {
      await expect(outer.begin(PREFIX.split('/')[1])).rejects.toMatchObject({ code: 'JADE_ERR_CONFLICT', message: expect.stringContaining('holds another backup') });
    } finally {
      outer.close();
    }
    expect(await keysUnder(`${PREFIX}/`)).toEqual(before);
  });

  it('configuration: the S3 settings, credentials from the environment only and redacted, a directory and a bucket refused together', () => {
    const env = { JADE_BACKUP_S3_URL: 's3://jade-backups/a/b/', JADE_BACKUP_S3_ENDPOINT: 'http://127.0.0.1:9000', JADE_BACKUP_S3_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: SECRET };
    const c = loadConfig(env);
    expect(c.backupS3).toEqual({ bucket: 'jade-backups', prefix: 'a/b', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', partSizeBytes: 8 * 1024 * 1024, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: SECRET } });
    expect(JSON.stringify(redactedConfig(c))).not.toContain(SECRET);
    expect(loadConfig({ JADE_BACKUP_S3_URL: 's3://jade-backups' }).backupS3).toMatchObject({ prefix: '', endpoint: null, credentials: null });
    const refused = (e: Record<string, string>) => () => loadConfig(e);
    expect(refused({ ...env, JADE_BACKUP_DIR: '/backups' })).toThrow(/JADE_BACKUP_DIR and JADE_BACKUP_S3_URL are both set/);
    expect(refused({ JADE_BACKUP_S3_URL: 'https://jade-backups/x' })).toThrow(ConfigError);
    expect(refused({ JADE_BACKUP_S3_URL: 's3://Bad_Bucket/x' })).toThrow(/not a bucket name/);
    expect(refused({ JADE_BACKUP_S3_URL: 's3://jade-backups/a//b' })).toThrow(/prefix/);
    expect(refused({ JADE_BACKUP_S3_URL: 's3://jade-backups', AWS_ACCESS_KEY_ID: 'x' })).toThrow(/go together/);
    expect(refused({ JADE_BACKUP_S3_URL: 's3://jade-backups', JADE_BACKUP_S3_PART_SIZE_BYTES: '1024' })).toThrow(ConfigError);
    expect(refused({ JADE_BACKUP_S3_ENDPOINT: 'http://127.0.0.1:9000' })).toThrow(/without JADE_BACKUP_S3_URL/);
    expect(refused({ JADE_BACKUP_S3_URL: 's3://jade-backups', JADE_BACKUP_S3_ENDPOINT: `http://user:${SECRET}@127.0.0.1:9000` })).toThrow(/must not hold credentials/);
    try {
      loadConfig({ JADE_BACKUP_S3_URL: 's3://jade-backups', JADE_BACKUP_S3_ENDPOINT: `http://user:${SECRET}@127.0.0.1:9000` });
    } catch (e) {
      expectNoSecret((e as Error).message);
    }
  });
});

/** A loopback port that was just free (a server bound it and closed). */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
