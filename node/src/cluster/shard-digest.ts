// Verification of a moved replica: a marker entry proposed in the shard's group makes every
// replica compute its point count and an order-independent digest of (id, vector bytes, payload)
// when it applies the marker, so source and target are compared at exactly the same applied index
// while writes go on.
import { crc32c } from '@node-rs/crc32';
import type { ShardState } from '../shard/state.js';

/**
 * First bytes of a marker entry. Read as a FlatBuffers root offset (little-endian u32) they point
 * ~1.3 GB into the entry, past the end of any entry a group accepts, so no write batch starts so.
 */
const MARKER_MAGIC = new TextEncoder().encode('JDG1');
/** Markers whose digests a replica keeps (a verification asks within seconds). */
export const DIGESTS_KEPT = 16;
const SUM_MODULUS = 2 ** 48;
const TOKEN_RE = /^[A-Za-z0-9_.:-]{1,100}$/;

export interface ShardDigest {
  /** The Raft index of the marker: every replica's digest describes its state right after it. */
  index: number;
  count: number;
  /** Hex of the sum (mod 2^48) of a CRC32C per point over (id, payload, vector bytes): equal for equal sets, in any order. */
  digest: string;
}

export function encodeDigestMarker(token: string): Uint8Array {
  if (!TOKEN_RE.test(token)) throw new Error(`bad digest marker token ${token}`);
  const t = new TextEncoder().encode(token);
  const out = new Uint8Array(MARKER_MAGIC.length + t.length);
  out.set(MARKER_MAGIC);
  out.set(t, MARKER_MAGIC.length);
  return out;
}

/** The marker's token, or null when the entry is no marker. */
export function digestMarkerToken(data: Uint8Array): string | null {
  if (data.length <= MARKER_MAGIC.length || data.length > MARKER_MAGIC.length + 100) return null;
  for (let i = 0; i < MARKER_MAGIC.length; i++) if (data[i] !== MARKER_MAGIC[i]) return null;
  const token = new TextDecoder().decode(data.subarray(MARKER_MAGIC.length));
  return TOKEN_RE.test(token) ? token : null;
}

/**
 * The digest of the state as it is now, computed in the apply of the marker (synchronously: a
 * frozen view would end the copy-on-write protection of a snapshot being encoded, see
 * VectorArena.freeze). CRC32C is native and fast.
 */
export function digestState(state: ShardState, index: number): ShardDigest {
  const { points } = state.exportPoints();
  const encoder = new TextEncoder();
  let sum = 0;
  for (const p of points) {
    const head = crc32c(Buffer.from(encoder.encode(`${typeof p.id}:${String(p.id)}\0${JSON.stringify(p.payload)}\0`)));
    const h = crc32c(Buffer.from(p.vector.buffer, p.vector.byteOffset, p.vector.byteLength), head);
    sum = (sum + h) % SUM_MODULUS;
  }
  return { index, count: points.length, digest: sum.toString(16).padStart(12, '0') };
}
