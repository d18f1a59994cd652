// The content digest of a collection: order-independent, so a shard's points give the same digest
// however they are stored, split or replayed. Each point hashes to SHA-256 over (id, vector bytes,
// payload as canonical JSON), and the hashes are added as 8 lanes of u32 (mod 2^32 per lane): a
// sum, unlike XOR, does not cancel when the same point appears twice. Backup, verify and restore all
// compute it over what a shard holds.
import { createHash } from 'node:crypto';
import type { PointId, PointRecord } from '../storage/types.js';

const LANES = 8;

/** JSON with object keys sorted at every level, so equal payloads give equal bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value as Record<string, unknown>).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

export class ContentDigest {
  private readonly sum = new Uint32Array(LANES);
  points = 0;

  add(id: PointId, vector: Float32Array, payload: Record<string, unknown> | null): void {
    const h = createHash('sha256');
    h.update(typeof id === 'number' ? `n${id}` : `s${id}`);
    h.update('\0');
    h.update(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
    h.update('\0');
    h.update(payload === null ? 'null' : canonicalJson(payload));
    const d = h.digest();
    for (let i = 0; i < LANES; i++) this.sum[i] = (this.sum[i] + d.readUInt32LE(i * 4)) >>> 0;
    this.points++;
  }

  addAll(points: Iterable<PointRecord>): this {
    for (const p of points) this.add(p.id, p.vector, p.payload);
    return this;
  }

  hex(): string {
    const out = Buffer.alloc(LANES * 4);
    for (let i = 0; i < LANES; i++) out.writeUInt32LE(this.sum[i], i * 4);
    return out.toString('hex');
  }
}

export function digestOf(points: Iterable<PointRecord>): { points: number; digest: string } {
  const d = new ContentDigest().addAll(points);
  return { points: d.points, digest: d.hex() };
}

/** The digest of the union of disjoint point sets (a collection from its shards): lane-wise sum. */
export function combineDigests(digests: string[]): string {
  const sum = new Uint32Array(LANES);
  for (const hex of digests) {
    const b = Buffer.from(hex, 'hex');
    for (let i = 0; i < LANES; i++) sum[i] = (sum[i] + b.readUInt32LE(i * 4)) >>> 0;
  }
  const out = Buffer.alloc(LANES * 4);
  for (let i = 0; i < LANES; i++) out.writeUInt32LE(sum[i], i * 4);
  return out.toString('hex');
}
