// The backup file codec on its own: zstd + chunked AES-256-GCM round trips at every size around a
// chunk boundary, and each way of damaging the chunk framing is caught: a changed byte, a chunk
// dropped, swapped, duplicated or appended, the file cut at a chunk boundary (where only the
// last-chunk flag tells), a file moved to another path, a nonce changed; a key ring never prints
// its keys, and a key file's errors name the line, never the key.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DecodeError, FileDecoder, FileEncoder, GCM_TAG_BYTES } from '../../node/src/backup/file-codec.js';
import { BackupKeyRing } from '../../node/src/backup/keys.js';
import type { ManifestFile } from '../../node/src/backup/manifest.js';

const CHUNK = 64;
const keyA = randomBytes(32);
const ring = BackupKeyRing.of([['a', keyA]]);

function encode(content: Uint8Array, options: { keys: BackupKeyRing | null; path?: string; chunkBytes?: number; pieceBytes?: number }): { stored: Buffer; entry: ManifestFile } {
  const file = options.path ?? 'collections/0/shard-0/snapshot';
  const enc = new FileEncoder(file, { compression: 'zstd', keys: options.keys, chunkBytes: options.chunkBytes ?? CHUNK });
  const out: Uint8Array[] = [];
  const piece = options.pieceBytes ?? 1000;
  for (let at = 0; at < content.length; at += piece) enc.push(content.subarray(at, at + piece), (b) => out.push(b));
  enc.end((b) => out.push(b));
  const stored = Buffer.concat(out);
  return { stored, entry: { path: file, sizeBytes: stored.length, sha256: '', contentSizeBytes: content.length, compression: 'zstd', encryption: enc.encryption } };
}

function decode(stored: Uint8Array, entry: ManifestFile, keys: BackupKeyRing | null = ring, pieceBytes = 37): Buffer {
  const dec = new FileDecoder(entry, keys, 'JADE_BACKUP_KEY_FILE');
  const out: Uint8Array[] = [];
  for (let at = 0; at < stored.length; at += pieceBytes) dec.push(stored.subarray(at, at + pieceBytes), (b) => out.push(b));
  dec.end((b) => out.push(b));
  return Buffer.concat(out);
}

/** Bytes zstd cannot squeeze much (so the stored file spans many chunks). */
function noisy(bytes: number): Buffer {
  return randomBytes(bytes);
}

describe('backup file codec', () => {
  it('round-trips compressed, and compressed + encrypted, at sizes around chunk boundaries, fed in any piece size', () => {
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 10_000, 100_003]) {
      const content = Buffer.concat([noisy(Math.floor(size / 2)), Buffer.alloc(size - Math.floor(size / 2), 7)]);
      for (const keys of [null, ring]) {
        const { stored, entry } = encode(content, { keys });
        expect(decode(stored, entry, keys).equals(content), `${size} ${keys ? 'encrypted' : 'plain'}`).toBe(true);
        expect(decode(stored, entry, keys, 1).equals(content)).toBe(true);
        expect(decode(stored, entry, keys, stored.length + 1).equals(content)).toBe(true);
      }
    }
    // Compressible content is stored smaller.
    const zeros = Buffer.alloc(1 << 20);
    expect(encode(zeros, { keys: ring, chunkBytes: 1 << 20 }).stored.length).toBeLessThan(1000);
  });

  it('encrypts: the stored bytes hold no plaintext, and two encodings of one content differ (a fresh nonce per file)', () => {
    const content = Buffer.from('{"secret":"the-plaintext-marker"}'.repeat(50));
    const a = encode(content, { keys: ring });
    const b = encode(content, { keys: ring });
    expect(a.stored.includes(Buffer.from('plaintext-marker'))).toBe(false);
    expect(a.entry.encryption!.nonce).not.toBe(b.entry.encryption!.nonce);
    expect(a.stored.equals(b.stored)).toBe(false);
    expect(a.entry.encryption).toMatchObject({ algorithm: 'aes-256-gcm', keyId: 'a', keyFingerprint: ring.fingerprint('a'), chunkBytes: CHUNK });
  });

  it('catches every change to the chunk framing', () => {
    const content = noisy(20 * CHUNK);
    const { stored, entry } = encode(content, { keys: ring });
    const frame = CHUNK + GCM_TAG_BYTES;
    const frames = Math.ceil(stored.length / frame);
    expect(frames).toBeGreaterThan(5);
    const chunkAt = (i: number) => stored.subarray(i * frame, (i + 1) * frame);
    const cases: [string, Buffer, Partial<ManifestFile>?][] = [
      ['a flipped byte', Buffer.from(stored).fill(stored[100] ^ 1, 100, 101)],
      ['a flipped tag byte of the last chunk', Buffer.from(stored).fill(stored[stored.length - 1] ^ 0x80, stored.length - 1)],
      ['a chunk dropped', Buffer.concat([stored.subarray(0, 2 * frame), stored.subarray(3 * frame)])],
      ['two chunks swapped', Buffer.concat([chunkAt(0), chunkAt(2), chunkAt(1), stored.subarray(3 * frame)])],
      ['a chunk duplicated', Buffer.concat([chunkAt(0), chunkAt(0), stored.subarray(frame)])],
      ['cut at a chunk boundary', stored.subarray(0, 3 * frame)],
      ['cut inside a tag', stored.subarray(0, 3 * frame + 5)],
      ['a chunk appended', Buffer.concat([stored, chunkAt(1)])],
      ['moved to another path', stored, { path: 'collections/0/shard-0/labels' }],
      ['another nonce', stored, { encryption: { ...entry.encryption!, nonce: randomBytes(12).toString('hex') } }],
      ['another chunk size', stored, { encryption: { ...entry.encryption!, chunkBytes: CHUNK * 2 } }],
    ];
    for (const [what, bytes, change] of cases) {
      const e = { ...entry, ...change, sizeBytes: bytes.length };
      let error: unknown = null;
      try {
        decode(bytes, e);
      } catch (x) {
        error = x;
      }
      expect(error, what).toBeInstanceOf(DecodeError);
      expect((error as Error).message, what).toMatch(/fails authentication|cut short/);
    }
  });

  it('catches a damaged or cut zstd frame when not encrypted', () => {
    const content = Buffer.from('abcdefgh'.repeat(5000));
    const { stored, entry } = encode(content, { keys: null });
    expect(() => decode(stored.subarray(0, stored.length - 3), entry, null)).toThrow(DecodeError);
    const flipped = Buffer.from(stored);
    flipped[Math.floor(stored.length / 2)] ^= 0xff;
    expect(() => decode(flipped, entry, null)).toThrow(DecodeError);
    expect(() => decode(Buffer.concat([stored, Buffer.from('trailing')]), entry, null)).toThrow(DecodeError);
  });

  it('a missing, unknown or different key is JADE_ERR_BACKUP_KEY naming the file and key id, never the key', () => {
    const { entry } = encode(Buffer.from('x'), { keys: ring });
    const other = randomBytes(32);
    const cases: [BackupKeyRing | null, RegExp][] = [
      [null, /no backup key file is configured/],
      [BackupKeyRing.of([['b', other]]), /which the backup key file \(JADE_BACKUP_KEY_FILE\) does not hold \(it holds: b\)/],
      [BackupKeyRing.of([['a', other]]), /wrong key/],
    ];
    for (const [keys, message] of cases) {
      let error: any = null;
      try {
        new FileDecoder(entry, keys, 'JADE_BACKUP_KEY_FILE');
      } catch (x) {
        error = x;
      }
      expect(error?.code).toBe('JADE_ERR_BACKUP_KEY');
      expect(error.message).toMatch(message);
      expect(error.message).toContain(entry.path);
      for (const k of [keyA, other]) expect(error.message).not.toContain(k.toString('base64'));
    }
    // The second key of a ring decrypts too (rotation).
    const rotated = BackupKeyRing.of([['b', other], ['a', keyA]]);
    const { stored, entry: e } = encode(Buffer.from('rotated'), { keys: ring });
    expect(decode(stored, e, rotated).toString()).toBe('rotated');
    expect(rotated.primaryKeyId).toBe('b');
  });

  it('a key ring prints as its key ids; a bad key file names the line, not the key', () => {
    const b64 = keyA.toString('base64');
    const r = BackupKeyRing.parse(`# backup keys\n\nnew:${randomBytes(32).toString('base64')}\nold : ${b64}\n`, '/etc/jade/keys');
    expect(r.keyIds()).toEqual(['new', 'old']);
    expect(r.primaryKeyId).toBe('new');
    for (const shown of [inspect(r), JSON.stringify(r), String(r)]) expect(shown).not.toContain(b64);
    const bad: [string, RegExp][] = [
      [`k1 ${b64}`, /line 1: expected keyId:base64key/],
      [`k1:${b64.slice(0, 20)}`, /line 1: key k1 is 15 bytes, AES-256 needs 32/],
      [`k1:${b64}\nk1:${b64}`, /line 2: key id k1 is given twice/],
      [`bad/id:${b64}`, /line 1: the key id/],
      [`k1:${b64}!`, /line 1: key k1 is not base64/],
      ['# nothing\n', /holds no key/],
    ];
    for (const [text, message] of bad) {
      let error: any = null;
      try {
        BackupKeyRing.parse(text, '/etc/jade/keys');
      } catch (x) {
        error = x;
      }
      expect(error?.code, text).toBe('JADE_ERR_BACKUP_KEY');
      expect(error.message).toMatch(message);
      expect(error.message).toContain('/etc/jade/keys');
      expect(error.message).not.toContain(b64.slice(0, 20));
    }
  });
});
