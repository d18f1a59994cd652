// A backup target in S3-compatible object storage: backup <id> is the objects <prefix>/<id>/<file>
// and <prefix>/<id>/manifest.json. There is no rename in S3, so the manifest is what commits: it is
// uploaded last, after every file it lists, and a backup is listed, read or restored only through
// its manifest. Objects under <prefix>/<id>/ without a manifest are a write that failed or was
// killed half-way: never listed, and removed by the next write of that id (as .partial- directories
// are in a directory target); a failed write removes what it uploaded when it can.
//
// Each file is encoded as it streams (target.ts) into one part buffer of `partSizeBytes`: a file
// that fits is one PutObject, a larger one a multipart upload of such parts, so memory holds one
// part whatever the file's size. Every request goes with its body in memory (at most a part), so
// the SDK's retries (exponential backoff, `maxAttempts`) resend it whole; Content-MD5 makes the
// server refuse a body damaged on the way. A read that breaks mid-body resumes at the byte it
// reached (a ranged GET of the same ETag). Sizes and SHA-256 in the manifest are of the stored
// bytes, checked on every read, so a changed object is an error naming its file.
//
// Errors are coded JadeErrors naming the bucket and key, never the credentials: a bucket that does
// not exist 404, access refused 403, an endpoint that does not answer (or answers 5xx) 503.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { JadeError, isJadeError } from '../util/errors.js';
import { S3_ATTEMPTS_MAX_DEFAULT, S3_PARTS_MAX, type S3TargetSettings } from './s3-settings.js';

export type { S3Credentials, S3TargetSettings } from './s3-settings.js';
import type { BackupKeyRing } from './keys.js';
import { MANIFEST_BYTES_MAX, MANIFEST_FILE, encodeManifest, type BackupManifest, type ManifestFile } from './manifest.js';
import { BACKUP_NAME_RE, validateBackupFilePath, validateBackupName } from './names.js';
import {
  StoredFileReader,
  checkedManifest,
  completeManifest,
  encodeFile,
  corruptFile,
  writeWhole,
  type BackupFileData,
  type BackupTarget,
  type ManifestDraft,
  type ManifestRead,
  type TargetCodecOptions,
  type TargetWriter,
} from './target.js';

/** Deletes in flight when removing a backup's leftovers. */
const DELETES_IN_FLIGHT_MAX = 8;
/** How long to wait for a connection, and for a request's answer, before the attempt counts as failed. */
const S3_CONNECT_TIMEOUT_MS = 5_000;
const S3_REQUEST_TIMEOUT_MS = 120_000;

/** The setting naming the bucket, for errors. */
const URL_SETTING = 'JADE_BACKUP_S3_URL';
const AUTH_CODES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'AllAccessDisabled', 'AccountProblem', 'InvalidObjectState']);

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

function md5Base64(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('base64');
}

export class S3Target implements BackupTarget {
  readonly client: S3Client;
  readonly location: string;
  private readonly keyPrefix: string;
  private readonly endpointLabel: string;

  /** The settings without the credentials (which only the client holds). */
  readonly settings: Omit<S3TargetSettings, 'credentials'>;

  constructor(
    settingsWithCredentials: S3TargetSettings,
    private readonly codec: TargetCodecOptions = { keys: null, keySetting: 'JADE_BACKUP_KEY_FILE' },
  ) {
    const { credentials, ...settings } = settingsWithCredentials;
    this.settings = settings;
    this.keyPrefix = settings.prefix === '' ? '' : `${settings.prefix}/`;
    this.location = `s3://${settings.bucket}/${settings.prefix}`;
    this.endpointLabel = settings.endpoint ?? `AWS S3 (${settings.region})`;
    this.client = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint ?? undefined,
      // S3-compatible servers are addressed by path (bucket in the path, not the host name).
      forcePathStyle: settings.endpoint !== null,
      credentials: credentials ?? undefined,
      maxAttempts: settings.maxAttempts ?? S3_ATTEMPTS_MAX_DEFAULT,
      // Checksums only where an operation requires one: many S3-compatible servers do not take the
      // SDK's default trailing checksums (aws-chunked bodies). Every body carries Content-MD5
      // instead, and the manifest's SHA-256 is checked on every read.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: S3_CONNECT_TIMEOUT_MS, requestTimeout: S3_REQUEST_TIMEOUT_MS },
    });
  }

  /** The object key of a backup's file (or manifest). */
  keyOf(id: string, file: string): string {
    return `${this.keyPrefix}${id}/${file}`;
  }

  private where(key: string): string {
    return `s3://${this.settings.bucket}/${key}`;
  }

  /** An SDK failure as a coded error naming the bucket and key (and never the credentials). */
  failure(e: unknown, key: string, action: string): JadeError {
    if (isJadeError(e)) return e;
    const err = (e ?? {}) as SdkError;
    const status = err.$metadata?.httpStatusCode;
    const code = err.Code ?? (err.name && err.name !== 'Error' ? err.name : undefined) ?? err.code ?? 'error';
    const details = { bucket: this.settings.bucket, key, s3Code: code, httpStatus: status ?? null };
    const at = this.where(key);
    if (code === 'NoSuchBucket') return new JadeError('JADE_ERR_NOT_FOUND', `S3 bucket ${this.settings.bucket} does not exist (${action} ${at}; ${URL_SETTING}): create it, or name another`, details);
    if (status === 403 || AUTH_CODES.has(code)) {
      return new JadeError('JADE_ERR_FORBIDDEN', `S3 refused access (${code}) to ${action} ${at}: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy`, details);
    }
    const attempts = err.$metadata?.attempts;
    const tries = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
    if (status === undefined) {
      const why = err.code ?? (err.name === 'TimeoutError' ? 'timed out' : code);
      return new JadeError('JADE_ERR_UNAVAILABLE', `S3 endpoint ${this.endpointLabel} did not answer (${why})${tries} to ${action} ${at}; retry when it is reachable`, details);
    }
    if (status >= 500 || status === 429) return new JadeError('JADE_ERR_UNAVAILABLE', `S3 answered ${status} (${code})${tries} to ${action} ${at}; retry later`, details);
    return new JadeError('JADE_ERR_STORAGE', `S3 refused to ${action} ${at}: ${status} (${code})`, details);
  }

  async send<T>(key: string, action: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      throw this.failure(e, key, action);
    }
  }

  /** Keys under a prefix, page by page. */
  private async *keysUnder(prefix: string): AsyncIterable<string> {
    let token: string | undefined;
    do {
      const page = await this.send(prefix, 'list', () => this.client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: prefix, ContinuationToken: token })));
      for (const o of page.Contents ?? []) if (o.Key !== undefined) yield o.Key;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Whether backup id has its manifest (a listing, not a HEAD: a HEAD's 404 does not tell a missing bucket from a missing key). */
  async exists(id: string): Promise<boolean> {
    validateBackupName(id);
    const key = this.keyOf(id, MANIFEST_FILE);
    const page = await this.send(key, 'look up', () => this.client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: key, MaxKeys: 1 })));
    return (page.Contents ?? []).some((o) => o.Key === key);
  }

  async list(): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of this.keysUnder(this.keyPrefix)) {
      const rest = key.slice(this.keyPrefix.length);
      const slash = rest.indexOf('/');
      if (slash <= 0 || rest.slice(slash + 1) !== MANIFEST_FILE) continue;
      const id = rest.slice(0, slash);
      if (BACKUP_NAME_RE.test(id)) ids.push(id);
    }
    return ids.sort();
  }

  /** Removes every object under <prefix>/<id>/ and aborts its unfinished multipart uploads (a failed write's leftovers). */
  async removeLeftovers(id: string): Promise<number> {
    const dir = this.keyOf(id, '');
    const keys: string[] = [];
    for await (const key of this.keysUnder(dir)) {
      // A manifest deeper down is another prefix's backup (s3://b/x/<id>/ holding s3://b/x/<id>/<other>/): never ours to delete.
      if (key.endsWith(`/${MANIFEST_FILE}`)) {
        throw new JadeError('JADE_ERR_CONFLICT', `backup ${id}: ${this.where(dir)} holds another backup's manifest (${this.where(key)}): is another target's prefix inside this one? Nothing was deleted; choose another name or prefix`, { bucket: this.settings.bucket, key });
      }
      keys.push(key);
    }
    await this.deleteKeys(keys);
    // Best effort: not every S3-compatible server lists uploads; S3 itself can also expire them (a lifecycle rule).
    try {
      const uploads = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: dir }));
      for (const u of uploads.Uploads ?? []) {
        if (u.Key && u.UploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => undefined);
      }
    } catch {
      // see above
    }
    return keys.length;
  }

  async deleteKeys(keys: string[]): Promise<void> {
    // One DeleteObject per key, a few at once: DeleteObjects needs a checksum header not every compatible server takes.
    for (let at = 0; at < keys.length; at += DELETES_IN_FLIGHT_MAX) {
      await Promise.all(keys.slice(at, at + DELETES_IN_FLIGHT_MAX).map((key) => this.send(key, 'delete', () => this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key })))));
    }
  }

  async begin(id: string): Promise<TargetWriter> {
    validateBackupName(id);
    if (await this.exists(id)) throw new JadeError('JADE_ERR_CONFLICT', `a backup named ${id} already exists`);
    await this.removeLeftovers(id);
    return new S3Writer(this, id, this.codec.keys);
  }

  /** The manifest first (the backup is unlisted in that one step), then its files; what a failure leaves the next write of the id removes. */
  async delete(id: string): Promise<void> {
    if (!(await this.exists(id))) throw new JadeError('JADE_ERR_NOT_FOUND', `no backup named ${id}`);
    await this.deleteKeys([this.keyOf(id, MANIFEST_FILE)]);
    await this.removeLeftovers(id);
  }

  write(manifest: ManifestDraft, files: BackupFileData[]): Promise<BackupManifest> {
    return writeWhole(this, manifest, files);
  }

  private async get(key: string, action: string, range?: { fromByte: number; etag: string }) {
    return this.send(key, action, () =>
      this.client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key, Range: range ? `bytes=${range.fromByte}-` : undefined, IfMatch: range?.etag })),
    );
  }

  async readManifest(id: string): Promise<ManifestRead> {
    validateBackupName(id);
    const key = this.keyOf(id, MANIFEST_FILE);
    let res;
    try {
      res = await this.get(key, 'read');
    } catch (e) {
      if (isJadeError(e) && e.details?.s3Code === 'NoSuchKey') throw new JadeError('JADE_ERR_NOT_FOUND', `no backup named ${id}`);
      throw e;
    }
    if ((res.ContentLength ?? 0) > MANIFEST_BYTES_MAX) {
      (res.Body as Readable).destroy();
      throw new JadeError('JADE_ERR_BACKUP_CORRUPT', `${MANIFEST_FILE}: ${res.ContentLength} bytes, over the limit of ${MANIFEST_BYTES_MAX}`, { file: MANIFEST_FILE });
    }
    const parts: Buffer[] = [];
    await this.send(key, 'read', async () => {
      for await (const chunk of res.Body as Readable) parts.push(chunk as Buffer);
    });
    return checkedManifest(id, Buffer.concat(parts));
  }

  async readFile(id: string, entry: ManifestFile): Promise<Uint8Array> {
    validateBackupFilePath(entry.path);
    const key = this.keyOf(validateBackupName(id), entry.path);
    let res;
    try {
      res = await this.get(key, 'read');
    } catch (e) {
      if (isJadeError(e) && e.details?.s3Code === 'NoSuchKey') throw corruptFile(entry.path, `missing (no object ${this.where(key)})`);
      throw e;
    }
    let reader: StoredFileReader;
    try {
      const size = res.ContentLength ?? -1;
      if (size !== entry.sizeBytes) throw corruptFile(entry.path, `${size} bytes, the manifest says ${entry.sizeBytes} (truncated or changed)`);
      reader = new StoredFileReader(entry, this.codec); // a missing or wrong key fails here, before the body is read
    } catch (e) {
      (res.Body as Readable).destroy(); // its connection is not left waiting on a body nobody reads
      throw e;
    }
    const etag = res.ETag ?? '';
    const attemptsMax = this.settings.maxAttempts ?? S3_ATTEMPTS_MAX_DEFAULT;
    let body = res.Body as Readable;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const chunk of body) reader.push(chunk as Buffer);
        break;
      } catch (e) {
        if (isJadeError(e) || attempt >= attemptsMax || reader.bytesRead >= entry.sizeBytes || etag === '') throw this.failure(e, key, 'read');
        // The body broke part-way: go on from the byte reached, in the same version of the object.
        body = (await this.get(key, 'read', { fromByte: reader.bytesRead, etag })).Body as Readable;
      }
    }
    return reader.finish();
  }

  /** Closes the client's connections. */
  close(): void {
    this.client.destroy();
  }
}

/**
 * One object being uploaded from a stream of pieces: they fill one part buffer; a full buffer is
 * sent as a part (starting a multipart upload) only once more bytes come, so an object that fits
 * in one part is one PutObject.
 */
class ObjectUpload {
  private filled = 0;
  private uploadId: string | null = null;
  private readonly parts: CompletedPart[] = [];

  constructor(private readonly target: S3Target, private readonly key: string, private readonly buf: Buffer) {}

  async append(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.filled === this.buf.length) await this.sendPart();
      const n = Math.min(this.buf.length - this.filled, bytes.length - at);
      this.buf.set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
    }
  }

  private async sendPart(): Promise<void> {
    const { client, settings } = this.target;
    if (this.uploadId === null) {
      const created = await this.target.send(this.key, 'start a multipart upload of', () => client.send(new CreateMultipartUploadCommand({ Bucket: settings.bucket, Key: this.key })));
      if (!created.UploadId) throw new JadeError('JADE_ERR_STORAGE', `S3 started no multipart upload of s3://${settings.bucket}/${this.key} (no upload id)`);
      this.uploadId = created.UploadId;
    }
    const partNumber = this.parts.length + 1;
    if (partNumber > S3_PARTS_MAX) throw new JadeError('JADE_ERR_STORAGE', `s3://${settings.bucket}/${this.key}: more than ${S3_PARTS_MAX} parts of ${this.buf.length} bytes; raise JADE_BACKUP_S3_PART_SIZE_BYTES`);
    const body = this.buf.subarray(0, this.filled);
    const uploadId = this.uploadId;
    const sent = await this.target.send(this.key, `upload part ${partNumber} of`, () =>
      client.send(new UploadPartCommand({ Bucket: settings.bucket, Key: this.key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length, ContentMD5: md5Base64(body) })),
    );
    this.parts.push({ PartNumber: partNumber, ETag: sent.ETag });
    this.filled = 0;
  }

  /** Sends what is left: the whole object, or the last part and the completion. */
  async finish(): Promise<void> {
    const { client, settings } = this.target;
    if (this.uploadId === null) {
      const body = this.buf.subarray(0, this.filled);
      await this.target.send(this.key, 'upload', () => client.send(new PutObjectCommand({ Bucket: settings.bucket, Key: this.key, Body: body, ContentLength: body.length, ContentMD5: md5Base64(body) })));
      return;
    }
    await this.sendPart();
    const uploadId = this.uploadId;
    await this.target.send(this.key, 'complete the multipart upload of', () =>
      client.send(new CompleteMultipartUploadCommand({ Bucket: settings.bucket, Key: this.key, UploadId: uploadId, MultipartUpload: { Parts: this.parts } })),
    );
  }

  /** Abandons an unfinished multipart upload (best effort: the next write of the backup's id, or a lifecycle rule, catches the rest). */
  async cancel(): Promise<void> {
    if (this.uploadId === null) return;
    const { client, settings } = this.target;
    await client.send(new AbortMultipartUploadCommand({ Bucket: settings.bucket, Key: this.key, UploadId: this.uploadId })).catch(() => undefined);
  }
}

/** One backup being written to S3: files one by one, the manifest last. */
class S3Writer implements TargetWriter {
  private readonly listed: ManifestFile[] = [];
  private readonly uploaded: string[] = [];
  private part: Buffer | null = null;
  private committing = false;
  private done = false;

  constructor(private readonly target: S3Target, readonly id: string, private readonly keys: BackupKeyRing | null) {}

  async writeFile(file: string, chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, expectedSha256?: string): Promise<ManifestFile> {
    if (this.done) throw new Error(`backup ${this.id} is already committed or aborted`);
    validateBackupFilePath(file);
    if (this.listed.some((f) => f.path === file)) throw new JadeError('JADE_ERR_CONFLICT', `backup ${this.id}: file ${file} is written twice`);
    // One part buffer for the whole backup: files go up one after another.
    this.part ??= Buffer.allocUnsafe(this.target.settings.partSizeBytes);
    const key = this.target.keyOf(this.id, file);
    const upload = new ObjectUpload(this.target, key, this.part);
    this.uploaded.push(key);
    let entry: ManifestFile;
    try {
      entry = await encodeFile(file, chunks, this.keys, (b) => upload.append(b), expectedSha256);
      await upload.finish();
    } catch (e) {
      await upload.cancel();
      throw e;
    }
    this.listed.push(entry);
    return entry;
  }

  async commit(manifest: ManifestDraft): Promise<BackupManifest> {
    if (manifest.id !== this.id) throw new Error(`manifest of ${manifest.id} committed as backup ${this.id}`);
    if (this.done) throw new Error(`backup ${this.id} is already committed or aborted`);
    const full = completeManifest(manifest, this.listed, this.keys);
    if (await this.target.exists(this.id)) throw new JadeError('JADE_ERR_CONFLICT', `a backup named ${this.id} already exists`);
    const key = this.target.keyOf(this.id, MANIFEST_FILE);
    const body = encodeManifest(full);
    this.committing = true;
    await this.target.send(key, 'upload', () =>
      this.target.client.send(new PutObjectCommand({ Bucket: this.target.settings.bucket, Key: key, Body: body, ContentLength: body.length, ContentMD5: md5Base64(body), ContentType: 'application/json' })),
    );
    this.done = true;
    this.part = null;
    return full;
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.part = null;
    // The manifest first (its upload may have landed though its answer did not): a backup is never listed with files gone.
    const keys = this.committing ? [this.target.keyOf(this.id, MANIFEST_FILE)] : [];
    try {
      if (keys.length > 0) await this.target.deleteKeys(keys);
      await this.target.deleteKeys(this.uploaded);
    } catch {
      // Best effort: what is left has no manifest, is not listed, and the next write of this id removes it.
    }
  }
}
