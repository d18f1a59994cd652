// How a backup file's content becomes the bytes stored (and back): zstd-compressed, then, when a
// key is configured, encrypted with AES-256-GCM in chunks. Both directions are push-style and
// work piece by piece, so a file of hundreds of MiB is never copied whole on its way.
//
// zstd: one frame per file with its content checksum (XXH64, checked while decompressing), from
// zstd-napi's streaming binding (Node 20's zlib has no zstd).
//
// Encryption: one GCM over a whole file would have to hold all of it before the tag is checked,
// so the compressed stream is cut into chunks of `chunkBytes` (the last shorter, possibly empty),
// each stored as ciphertext + 16-byte tag. Chunk i's nonce is the file's random 96-bit nonce XOR i
// (big-endian, low bytes); its AAD holds the file's path in the backup, i, and whether it is the
// last chunk. So a chunk moved, dropped, reordered, swapped with another file's, or a file cut at
// a chunk boundary fails authentication; and no chunk's plaintext is passed on before its tag checks.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
// The binding is CommonJS whose exports come from the native addon: only a default import sees them.
import zstd from 'zstd-napi/binding.js';
import type { EndDirective } from 'zstd-napi/binding.js';
import { JadeError } from '../util/errors.js';
import type { BackupKeyRing } from './keys.js';
import type { FileEncryption, ManifestFile } from './manifest.js';

/** zstd's default level: ~3-4x faster than level 9 for a few percent more bytes on vectors. */
export const BACKUP_ZSTD_LEVEL = 3;
/** Plaintext bytes of one encrypted chunk (16 bytes of tag each: 0.0015 % overhead). */
export const ENCRYPTION_CHUNK_BYTES = 1024 * 1024;
export const GCM_TAG_BYTES = 16;
export const GCM_NONCE_BYTES = 12;
const AAD_LABEL = 'jadevectordb-backup-chunk-v1';

/** A file that does not decode: the caller names it in a JADE_ERR_BACKUP_CORRUPT. */
export class DecodeError extends Error {}

function chunkNonce(fileNonce: Uint8Array, index: number): Buffer {
  const nonce = Buffer.from(fileNonce);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(index));
  for (let i = 0; i < 8; i++) nonce[GCM_NONCE_BYTES - 8 + i] ^= counter[i];
  return nonce;
}

function chunkAad(file: string, index: number, final: boolean): Buffer {
  const tail = Buffer.alloc(9);
  tail.writeBigUInt64BE(BigInt(index));
  tail[8] = final ? 1 : 0;
  return Buffer.concat([Buffer.from(`${AAD_LABEL}\0${file}\0`, 'utf8'), tail]);
}

/** A stage of the pipeline: bytes in, bytes out (possibly none yet), then the rest at the end. */
interface Stage {
  push(data: Uint8Array, out: (bytes: Uint8Array) => void): void;
  end(out: (bytes: Uint8Array) => void): void;
}

class ZstdCompress implements Stage {
  private readonly cctx = new zstd.CCtx();
  constructor(level: number) {
    this.cctx.setParameter(zstd.CParameter.compressionLevel, level);
    this.cctx.setParameter(zstd.CParameter.checksumFlag, 1);
  }

  private run(src: Uint8Array, op: EndDirective, out: (b: Uint8Array) => void): void {
    for (;;) {
      const dst = Buffer.allocUnsafe(zstd.cStreamOutSize());
      const [remaining, produced, consumed] = this.cctx.compressStream2(dst, src, op);
      if (produced > 0) out(dst.subarray(0, produced));
      src = src.subarray(consumed);
      // `continue` is done once the input is taken; `end` once nothing is left to flush.
      if (src.length === 0 && (op === zstd.EndDirective.continue || remaining === 0)) return;
    }
  }

  push(data: Uint8Array, out: (b: Uint8Array) => void): void {
    if (data.length > 0) this.run(data, zstd.EndDirective.continue, out);
  }

  end(out: (b: Uint8Array) => void): void {
    this.run(new Uint8Array(0), zstd.EndDirective.end, out);
  }
}

class ZstdDecompress implements Stage {
  private readonly dctx = new zstd.DCtx();
  /** zstd's hint: 0 once a frame is whole and flushed. */
  private remaining = 1;
  private started = false;

  private run(src: Uint8Array, out: (b: Uint8Array) => void): void {
    for (;;) {
      const dst = Buffer.allocUnsafe(zstd.dStreamOutSize());
      let result: [number, number, number];
      try {
        result = this.dctx.decompressStream(dst, src);
      } catch (e) {
        throw new DecodeError(`does not decompress (${(e as Error).message})`);
      }
      const [remaining, produced, consumed] = result;
      this.remaining = remaining;
      if (produced > 0) out(dst.subarray(0, produced));
      src = src.subarray(consumed);
      // A full output buffer may leave decoded bytes inside zstd: call again until it is not full,
      // or the frame is whole and flushed (0); a call with no input past that would start a new frame.
      if (src.length === 0 && (produced < dst.length || remaining === 0)) return;
    }
  }

  push(data: Uint8Array, out: (b: Uint8Array) => void): void {
    if (data.length === 0) return;
    this.started = true;
    this.run(data, out);
  }

  // push() drains zstd's output each time (it loops until the output buffer is not full), so the
  // end only checks that the frame was whole: another call with no input would start a new frame.
  end(): void {
    if (!this.started || this.remaining !== 0) throw new DecodeError('its zstd frame is cut short (truncated)');
  }
}

class GcmSeal implements Stage {
  private readonly chunk: Buffer;
  private filled = 0;
  private index = 0;
  constructor(private readonly key: Buffer, private readonly nonce: Uint8Array, private readonly file: string, chunkBytes: number) {
    this.chunk = Buffer.allocUnsafe(chunkBytes);
  }

  private seal(final: boolean, out: (b: Uint8Array) => void): void {
    const cipher = createCipheriv('aes-256-gcm', this.key, chunkNonce(this.nonce, this.index), { authTagLength: GCM_TAG_BYTES });
    cipher.setAAD(chunkAad(this.file, this.index, final));
    out(Buffer.concat([cipher.update(this.chunk.subarray(0, this.filled)), cipher.final(), cipher.getAuthTag()]));
    this.index++;
    this.filled = 0;
  }

  push(data: Uint8Array, out: (b: Uint8Array) => void): void {
    let at = 0;
    while (at < data.length) {
      // A full chunk is sealed only once more bytes come: the last chunk must know it is last.
      if (this.filled === this.chunk.length) this.seal(false, out);
      const n = Math.min(this.chunk.length - this.filled, data.length - at);
      this.chunk.set(data.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
    }
  }

  end(out: (b: Uint8Array) => void): void {
    this.seal(true, out);
  }
}

class GcmOpen implements Stage {
  private pending: Buffer = Buffer.alloc(0);
  private index = 0;
  private readonly frameBytes: number;
  constructor(private readonly key: Buffer, private readonly nonce: Uint8Array, private readonly file: string, chunkBytes: number) {
    this.frameBytes = chunkBytes + GCM_TAG_BYTES;
  }

  private open(frame: Buffer, final: boolean, out: (b: Uint8Array) => void): void {
    const decipher = createDecipheriv('aes-256-gcm', this.key, chunkNonce(this.nonce, this.index), { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(chunkAad(this.file, this.index, final));
    decipher.setAuthTag(frame.subarray(frame.length - GCM_TAG_BYTES));
    const plain = decipher.update(frame.subarray(0, frame.length - GCM_TAG_BYTES));
    try {
      decipher.final();
    } catch {
      throw new DecodeError(`encrypted chunk ${this.index} fails authentication (changed, moved, or the file was cut short)`);
    }
    out(plain);
    this.index++;
  }

  push(data: Uint8Array, out: (b: Uint8Array) => void): void {
    this.pending = this.pending.length === 0 ? Buffer.from(data) : Buffer.concat([this.pending, data]);
    // Only a frame followed by more bytes is known not to be the last.
    let at = 0;
    while (this.pending.length - at > this.frameBytes) {
      this.open(this.pending.subarray(at, at + this.frameBytes), false, out);
      at += this.frameBytes;
    }
    this.pending = this.pending.subarray(at);
  }

  end(out: (b: Uint8Array) => void): void {
    if (this.pending.length < GCM_TAG_BYTES) throw new DecodeError(`encrypted chunk ${this.index} is cut short (truncated)`);
    this.open(this.pending, true, out);
  }
}

/** Stages run in order, each feeding the next. */
class Pipeline {
  constructor(private readonly stages: Stage[]) {}

  private feed(i: number, data: Uint8Array, out: (b: Uint8Array) => void): void {
    if (i === this.stages.length) out(data);
    else this.stages[i].push(data, (b) => this.feed(i + 1, b, out));
  }

  push(data: Uint8Array, out: (b: Uint8Array) => void): void {
    this.feed(0, data, out);
  }

  end(out: (b: Uint8Array) => void): void {
    for (let i = 0; i < this.stages.length; i++) this.stages[i].end((b) => this.feed(i + 1, b, out));
  }
}

export interface EncodeOptions {
  compression: 'zstd' | 'none';
  /** The key ring whose primary key encrypts; null: stored unencrypted. */
  keys: BackupKeyRing | null;
  /** Plaintext bytes per encrypted chunk (default ENCRYPTION_CHUNK_BYTES; tests use small ones). */
  chunkBytes?: number;
}

/** Content → stored bytes of one backup file; `encryption` is what its manifest entry records. */
export class FileEncoder {
  readonly encryption: FileEncryption | null;
  private readonly pipeline: Pipeline;

  constructor(file: string, options: EncodeOptions) {
    const stages: Stage[] = [];
    if (options.compression === 'zstd') stages.push(new ZstdCompress(BACKUP_ZSTD_LEVEL));
    if (options.keys) {
      const keyId = options.keys.primaryKeyId;
      const nonce = randomBytes(GCM_NONCE_BYTES);
      const chunkBytes = options.chunkBytes ?? ENCRYPTION_CHUNK_BYTES;
      stages.push(new GcmSeal(options.keys.key(keyId)!, nonce, file, chunkBytes));
      this.encryption = { algorithm: 'aes-256-gcm', keyId, keyFingerprint: options.keys.fingerprint(keyId)!, nonce: nonce.toString('hex'), chunkBytes };
    } else {
      this.encryption = null;
    }
    this.pipeline = new Pipeline(stages);
  }

  push(content: Uint8Array, out: (stored: Uint8Array) => void): void {
    this.pipeline.push(content, out);
  }

  end(out: (stored: Uint8Array) => void): void {
    this.pipeline.end(out);
  }
}

/**
 * Stored bytes → content of one backup file, as its manifest entry says it was encoded. A key the
 * ring lacks, or holds under that id but with another fingerprint, is JADE_ERR_BACKUP_KEY naming
 * the file; bytes that do not decode are DecodeError (the caller names the file).
 */
export class FileDecoder {
  private readonly pipeline: Pipeline;

  constructor(entry: ManifestFile, keys: BackupKeyRing | null, keySetting: string) {
    const stages: Stage[] = [];
    const enc = entry.encryption;
    if (enc) {
      const details = { file: entry.path, keyId: enc.keyId };
      if (!keys) throw new JadeError('JADE_ERR_BACKUP_KEY', `backup file ${entry.path} is encrypted with key ${enc.keyId}, and no backup key file is configured (${keySetting})`, details);
      const key = keys.key(enc.keyId);
      if (!key) throw new JadeError('JADE_ERR_BACKUP_KEY', `backup file ${entry.path} is encrypted with key ${enc.keyId}, which the backup key file (${keySetting}) does not hold (it holds: ${keys.keyIds().join(', ')}); add that key back to restore this backup`, details);
      if (keys.fingerprint(enc.keyId) !== enc.keyFingerprint) throw new JadeError('JADE_ERR_BACKUP_KEY', `backup file ${entry.path}: key ${enc.keyId} of the backup key file (${keySetting}) is not the key this file was encrypted with (its fingerprint differs): wrong key`, details);
      stages.push(new GcmOpen(key, Buffer.from(enc.nonce, 'hex'), entry.path, enc.chunkBytes));
    }
    if (entry.compression === 'zstd') stages.push(new ZstdDecompress());
    this.pipeline = new Pipeline(stages);
  }

  push(stored: Uint8Array, out: (content: Uint8Array) => void): void {
    this.pipeline.push(stored, out);
  }

  end(out: (content: Uint8Array) => void): void {
    this.pipeline.end(out);
  }
}
