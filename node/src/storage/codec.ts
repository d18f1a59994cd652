// FlatBuffers codecs for write batches (WAL records, Raft entries) and shard snapshots.
//
// Schema: node/src/storage/schema/jade_storage.fbs. Generated builders (committed, so CI needs no
// flatc): node/src/storage/generated/jade_storage_generated.ts, regenerated with
//   apt-get install flatbuffers-compiler   # flatc 2.0.8 (Debian bookworm)
//   flatc --ts --ts-flat-files -o node/src/storage/generated node/src/storage/schema/jade_storage.fbs
//
// Every FlatBuffer travels in a frame:
//   magic 'JFB1' u32 | version u16 | kind u16 | body length u32 | crc32c(body) u32 | body
// Decoding never trusts the body: the CRC catches damage, and the reader below checks every
// offset and length against the buffer before use (the JS FlatBuffers runtime does not, and reads
// past the end as zeros), so garbage throws JadeError(JADE_ERR_STORAGE) in time linear in its size.
import * as flatbuffers from 'flatbuffers';
import { crc32c } from '@node-rs/crc32';
import { JadeError, assert } from '../util/errors.js';
import * as fb from './generated/jade_storage_generated.js';
import type { PointId, PointRecord, PointSelector, WriteBatch, WriteOp } from './types.js';

const FRAME_MAGIC = 0x3142464a; // 'JFB1' read as little-endian u32
const FRAME_VERSION = 1;
const FRAME_HEADER_BYTES = 16;

export const FrameKind = {
  writeBatch: 1,
  snapshotMeta: 2,
  pointChunk: 3,
} as const;
type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind];

/** Points per snapshot chunk frame are capped so no single FlatBuffer nears its 2 GiB offset limit. */
export const SNAPSHOT_CHUNK_BYTES_MAX = 64 * 1024 * 1024;

const PAYLOAD_INDEX_SCHEMAS = new Set(['keyword', 'integer', 'float', 'bool']);
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// The fast float path below copies Float32Array bytes as they are: FlatBuffers is little-endian.
assert(new Uint8Array(new Float32Array([1]).buffer)[3] === 0x3f, 'storage codecs need a little-endian machine');

function corrupt(what: string, detail: string): JadeError {
  return new JadeError('JADE_ERR_STORAGE', `cannot decode ${what}: ${detail}`);
}

// ---------------------------------------------------------------------------------------------
// Frames

function frame(kind: FrameKindValue, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, FRAME_MAGIC, true);
  view.setUint16(4, FRAME_VERSION, true);
  view.setUint16(6, kind, true);
  view.setUint32(8, body.length, true);
  view.setUint32(12, crc32c(body), true);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

/** Finishes a builder's buffer as a frame, writing the header in place when there is room in front of the data (no copy). */
function finishFramed(b: flatbuffers.Builder, kind: FrameKindValue): Uint8Array {
  const bb = b.dataBuffer();
  const bytes = bb.bytes();
  const pos = bb.position();
  if (pos < FRAME_HEADER_BYTES) return frame(kind, bytes.subarray(pos));
  const body = bytes.subarray(pos);
  const view = new DataView(bytes.buffer, bytes.byteOffset + pos - FRAME_HEADER_BYTES, FRAME_HEADER_BYTES);
  view.setUint32(0, FRAME_MAGIC, true);
  view.setUint16(4, FRAME_VERSION, true);
  view.setUint16(6, kind, true);
  view.setUint32(8, body.length, true);
  view.setUint32(12, crc32c(body), true);
  return bytes.subarray(pos - FRAME_HEADER_BYTES);
}

/** Reads the frame at offset; returns its body (a view) and the offset after it. */
function unframe(bytes: Uint8Array, offset: number, kind: FrameKindValue, what: string): { body: Uint8Array; end: number } {
  if (!(bytes instanceof Uint8Array)) throw corrupt(what, 'not a byte array');
  if (bytes.length - offset < FRAME_HEADER_BYTES) throw corrupt(what, `truncated frame header at offset ${offset}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAME_HEADER_BYTES);
  if (view.getUint32(0, true) !== FRAME_MAGIC) throw corrupt(what, `bad magic at offset ${offset}`);
  const version = view.getUint16(4, true);
  if (version !== FRAME_VERSION) throw corrupt(what, `unsupported version ${version} at offset ${offset}`);
  const k = view.getUint16(6, true);
  if (k !== kind) throw corrupt(what, `frame kind ${k}, expected ${kind} at offset ${offset}`);
  const len = view.getUint32(8, true);
  const start = offset + FRAME_HEADER_BYTES;
  if (len > bytes.length - start) throw corrupt(what, `frame at offset ${offset} claims ${len} bytes, only ${bytes.length - start} present`);
  const body = bytes.subarray(start, start + len);
  if (crc32c(body) !== view.getUint32(12, true)) throw corrupt(what, `checksum mismatch in frame at offset ${offset}`);
  return { body, end: start + len };
}

// ---------------------------------------------------------------------------------------------
// Encoding

type Builder = flatbuffers.Builder;

/** Writes a [float] vector with one memcpy instead of the generated per-element loop. */
function createFloatVector(b: Builder, v: Float32Array): number {
  b.startVector(4, v.length, 4);
  // The Builder keeps its buffer and write cursor private; this relies on flatbuffers' layout
  // (checked by the codec round-trip tests).
  const inner = b as unknown as { bb: flatbuffers.ByteBuffer; space: number };
  inner.space -= v.length * 4;
  inner.bb.bytes().set(new Uint8Array(v.buffer, v.byteOffset, v.length * 4), inner.space);
  return b.endVector();
}

function createOffsetVector(b: Builder, offsets: number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

function estimatePointBytes(p: PointRecord): number {
  return p.vector.length * 4 + 64;
}

/** Refuses what the decoder would refuse, so nothing is ever written that cannot be read back. */
function checkEncodableId(id: PointId): void {
  const ok = typeof id === 'string' ? UUID_RE.test(id) : Number.isSafeInteger(id) && id >= 0;
  if (!ok) throw new JadeError('JADE_ERR_BAD_ID', `point id ${JSON.stringify(id)} is neither an unsigned integer nor a lower-case UUID`);
}

function buildPoint(b: Builder, p: PointRecord): number {
  checkEncodableId(p.id);
  if (!(p.vector instanceof Float32Array)) throw new JadeError('JADE_ERR_INTERNAL', `vector of point ${String(p.id)} is not a Float32Array`);
  if (p.payload !== null && (typeof p.payload !== 'object' || Array.isArray(p.payload))) {
    throw new JadeError('JADE_ERR_BAD_REQUEST', `payload of point ${String(p.id)} must be a JSON object or null`);
  }
  const idStr = typeof p.id === 'string' ? b.createString(p.id) : 0;
  const vec = createFloatVector(b, p.vector);
  const payload = p.payload === null ? 0 : b.createString(JSON.stringify(p.payload));
  fb.Point.startPoint(b);
  if (typeof p.id === 'number') fb.Point.addIdNum(b, p.id);
  if (idStr) fb.Point.addIdStr(b, idStr);
  fb.Point.addVector(b, vec);
  if (payload) fb.Point.addPayloadJson(b, payload);
  return fb.Point.endPoint(b);
}

function buildPointsVector(b: Builder, points: PointRecord[]): number {
  const offsets = new Array<number>(points.length);
  for (let i = 0; i < points.length; i++) offsets[i] = buildPoint(b, points[i]);
  return createOffsetVector(b, offsets);
}

function buildIds(b: Builder, ids: readonly PointId[]): number {
  const offsets = ids.map((id) => {
    checkEncodableId(id);
    const s = typeof id === 'string' ? b.createString(id) : 0;
    fb.PointId.startPointId(b);
    if (typeof id === 'number') fb.PointId.addNum(b, id);
    if (s) fb.PointId.addStr(b, s);
    return fb.PointId.endPointId(b);
  });
  return createOffsetVector(b, offsets);
}

/** [ids vector, filter string] of a selector: exactly one is non-zero. */
function buildSelector(b: Builder, target: PointSelector): [number, number] {
  if ('filterJson' in target) return [0, b.createString(target.filterJson)];
  return [buildIds(b, target.ids), 0];
}

function buildOp(b: Builder, op: WriteOp): number {
  switch (op.kind) {
    case 'upsert': {
      const pts = buildPointsVector(b, op.points);
      return fb.OpEntry.createOpEntry(b, fb.Op.UpsertOp, fb.UpsertOp.createUpsertOp(b, pts));
    }
    case 'delete':
      return fb.OpEntry.createOpEntry(b, fb.Op.DeleteOp, fb.DeleteOp.createDeleteOp(b, buildIds(b, op.ids)));
    case 'set_payload': {
      if (op.payload === null || typeof op.payload !== 'object' || Array.isArray(op.payload)) throw new JadeError('JADE_ERR_BAD_REQUEST', 'payload must be a JSON object');
      const payload = b.createString(JSON.stringify(op.payload));
      const [ids, filter] = buildSelector(b, op.target);
      return fb.OpEntry.createOpEntry(b, fb.Op.SetPayloadOp, fb.SetPayloadOp.createSetPayloadOp(b, payload, op.overwrite, ids, filter));
    }
    case 'delete_payload': {
      const keys = createOffsetVector(b, op.keys.map((k) => b.createString(k)));
      const [ids, filter] = buildSelector(b, op.target);
      return fb.OpEntry.createOpEntry(b, fb.Op.DeletePayloadOp, fb.DeletePayloadOp.createDeletePayloadOp(b, keys, ids, filter));
    }
    case 'update_vectors': {
      const pts = buildPointsVector(b, op.points.map((p) => ({ id: p.id, vector: p.vector, payload: null })));
      return fb.OpEntry.createOpEntry(b, fb.Op.UpdateVectorsOp, fb.UpdateVectorsOp.createUpdateVectorsOp(b, pts));
    }
    case 'delete_by_filter':
      return fb.OpEntry.createOpEntry(b, fb.Op.DeleteByFilterOp, fb.DeleteByFilterOp.createDeleteByFilterOp(b, b.createString(op.filterJson)));
    case 'create_payload_index': {
      if (!PAYLOAD_INDEX_SCHEMAS.has(op.schema)) throw new JadeError('JADE_ERR_BAD_REQUEST', `unknown payload index schema ${JSON.stringify(op.schema)}`);
      const cpi = fb.CreatePayloadIndexOp.createCreatePayloadIndexOp(b, b.createString(op.field), b.createString(op.schema), op.isTenant === true);
      return fb.OpEntry.createOpEntry(b, fb.Op.CreatePayloadIndexOp, cpi);
    }
    default:
      throw new JadeError('JADE_ERR_INTERNAL', `unknown write op ${(op as { kind: string }).kind}`);
  }
}

export function encodeWriteBatch(batch: WriteBatch): Uint8Array {
  let estimate = 256 + FRAME_HEADER_BYTES;
  for (const op of batch.ops) if (op.kind === 'upsert' || op.kind === 'update_vectors') for (const p of op.points) estimate += p.vector.length * 4 + 64;
  const b = new flatbuffers.Builder(estimate);
  const ops = batch.ops.map((op) => buildOp(b, op));
  const root = fb.WriteBatch.createWriteBatch(b, createOffsetVector(b, ops));
  b.finish(root);
  return finishFramed(b, FrameKind.writeBatch);
}

// ---------------------------------------------------------------------------------------------
// Checked reading

const utf8 = new TextDecoder('utf-8', { fatal: true });

interface TableRef {
  pos: number;
  vtable: number;
  vtableBytes: number;
  tableBytes: number;
}

/**
 * Bounds-checked FlatBuffers reader. Every access is checked against the buffer; a work budget
 * (proportional to the buffer size) stops inputs whose offsets make many tables share the same
 * large vector, which would otherwise decode in quadratic time.
 */
class CheckedReader {
  private readonly view: DataView;
  private budget: number;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget = 4 * bytes.length + 1024;
  }
  fail(detail: string): never {
    throw corrupt(this.what, detail);
  }
  private spend(units: number): void {
    this.budget -= units;
    if (this.budget < 0) this.fail('structure references more data than the buffer holds');
  }
  private need(pos: number, size: number): void {
    if (!(pos >= 0 && pos + size <= this.bytes.length)) this.fail(`offset ${pos}+${size} outside buffer of ${this.bytes.length}`);
  }
  u8(pos: number): number {
    this.need(pos, 1);
    return this.view.getUint8(pos);
  }
  u16(pos: number): number {
    this.need(pos, 2);
    return this.view.getUint16(pos, true);
  }
  u32(pos: number): number {
    this.need(pos, 4);
    return this.view.getUint32(pos, true);
  }
  f64(pos: number): number {
    this.need(pos, 8);
    return this.view.getFloat64(pos, true);
  }
  root(): TableRef {
    return this.table(this.u32(0));
  }
  table(pos: number): TableRef {
    this.spend(16);
    this.need(pos, 4);
    const vtable = pos - this.view.getInt32(pos, true);
    const vtableBytes = this.u16(vtable);
    const tableBytes = this.u16(vtable + 2);
    if (vtableBytes < 4 || vtableBytes % 2 !== 0) this.fail(`bad vtable size ${vtableBytes} at ${vtable}`);
    this.need(vtable, vtableBytes);
    if (tableBytes < 4) this.fail(`bad table size ${tableBytes} at ${pos}`);
    this.need(pos, tableBytes);
    return { pos, vtable, vtableBytes, tableBytes };
  }
  /** Absolute position of field `slot` (0 when absent), checked to lie inside the table. */
  field(t: TableRef, slot: number, size: number): number {
    const voff = 4 + 2 * slot;
    if (voff + 2 > t.vtableBytes) return 0;
    const off = this.view.getUint16(t.vtable + voff, true);
    if (off === 0) return 0;
    if (off < 4 || off + size > t.tableBytes) this.fail(`field ${slot} of table at ${t.pos} outside the table`);
    return t.pos + off;
  }
  private target(fieldPos: number): number {
    const t = fieldPos + this.u32(fieldPos);
    this.need(t, 4);
    return t;
  }
  /** [start, count] of a vector of elemSize-byte elements referenced by the field. */
  vector(fieldPos: number, elemSize: number): { start: number; count: number } {
    const v = this.target(fieldPos);
    const count = this.view.getUint32(v, true);
    if (count > (this.bytes.length - v - 4) / elemSize) this.fail(`vector at ${v} of ${count} elements overruns the buffer`);
    this.spend(4 + count * elemSize);
    return { start: v + 4, count };
  }
  /** The table at element i of a vector of tables. */
  tableAt(start: number, i: number): TableRef {
    const slot = start + 4 * i;
    return this.table(slot + this.u32(slot));
  }
  string(t: TableRef, slot: number): string | null {
    const f = this.field(t, slot, 4);
    if (!f) return null;
    const { start, count } = this.vector(f, 1);
    try {
      return utf8.decode(this.bytes.subarray(start, start + count));
    } catch {
      this.fail(`invalid UTF-8 in string at ${start}`);
    }
  }
  /** Element i of a vector of strings. */
  stringAt(start: number, i: number): string {
    const slot = start + 4 * i;
    const { start: at, count } = this.vector(slot, 1);
    try {
      return utf8.decode(this.bytes.subarray(at, at + count));
    } catch {
      this.fail(`invalid UTF-8 in string at ${at}`);
    }
  }
  requiredString(t: TableRef, slot: number, name: string): string {
    const s = this.string(t, slot);
    if (s === null) this.fail(`missing ${name}`);
    return s;
  }
  double(t: TableRef, slot: number): number {
    const f = this.field(t, slot, 8);
    return f ? this.f64(f) : 0;
  }
  ubyte(t: TableRef, slot: number): number {
    const f = this.field(t, slot, 1);
    return f ? this.u8(f) : 0;
  }
  /** Where the [float] field's elements are (count 0 when absent). */
  floatsRef(t: TableRef, slot: number): { start: number; count: number } {
    const f = this.field(t, slot, 4);
    if (!f) return { start: 0, count: 0 };
    return this.vector(f, 4);
  }
  /**
   * The floats at ref as a view into the input when it is 4-byte aligned there, else a copy.
   * For consumers that copy the vector at once (ShardState.apply): no allocation per vector.
   */
  viewFloats(ref: { start: number; count: number }): Float32Array {
    const at = this.bytes.byteOffset + ref.start;
    return at % 4 === 0 ? new Float32Array(this.bytes.buffer, at, ref.count) : this.copyFloats(ref);
  }
  /** A copy (own, aligned memory, one per vector so points can be freed one by one) of floats at ref. */
  copyFloats(ref: { start: number; count: number }): Float32Array {
    // Uint8Array.prototype.slice copies even when `bytes` is a Buffer (whose own slice is a view).
    const copy = Uint8Array.prototype.slice.call(this.bytes, ref.start, ref.start + ref.count * 4);
    return new Float32Array(copy.buffer, 0, ref.count);
  }
  /** The tables of a vector-of-tables field (empty when absent). */
  tables(t: TableRef, slot: number): { start: number; count: number } {
    const f = this.field(t, slot, 4);
    if (!f) return { start: 0, count: 0 };
    return this.vector(f, 4);
  }
  table_(t: TableRef, slot: number): TableRef | null {
    const f = this.field(t, slot, 4);
    return f ? this.table(this.target(f)) : null;
  }
}

function readPointId(r: CheckedReader, num: number, str: string | null): PointId {
  if (str !== null) {
    if (!UUID_RE.test(str)) r.fail(`point id ${JSON.stringify(str.slice(0, 64))} is not a UUID`);
    return str;
  }
  if (!Number.isSafeInteger(num) || num < 0) r.fail(`point id ${num} is not an unsigned integer`);
  return num;
}

function readPoint(r: CheckedReader, t: TableRef, vector: Float32Array): PointRecord {
  const id = readPointId(r, r.double(t, 0), r.string(t, 1));
  const json = r.string(t, 3);
  let payload: Record<string, unknown> | null = null;
  if (json !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      r.fail(`payload of point ${String(id)} is not JSON`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) r.fail(`payload of point ${String(id)} is not a JSON object`);
    payload = parsed as Record<string, unknown>;
  }
  return { id, vector, payload };
}

function readPoints(r: CheckedReader, t: TableRef, slot: number, vectorViews = false): PointRecord[] {
  const { start, count } = r.tables(t, slot);
  const points = new Array<PointRecord>(count);
  for (let i = 0; i < count; i++) {
    const pt = r.tableAt(start, i);
    const ref = r.floatsRef(pt, 2);
    points[i] = readPoint(r, pt, vectorViews ? r.viewFloats(ref) : r.copyFloats(ref));
  }
  return points;
}

function readIds(r: CheckedReader, t: TableRef, slot: number): PointId[] {
  const { start, count } = r.tables(t, slot);
  const ids = new Array<PointId>(count);
  for (let i = 0; i < count; i++) {
    const it = r.tableAt(start, i);
    ids[i] = readPointId(r, r.double(it, 0), r.string(it, 1));
  }
  return ids;
}

function readSelector(r: CheckedReader, t: TableRef, idsSlot: number, filterSlot: number): PointSelector {
  const filterJson = r.string(t, filterSlot);
  return filterJson !== null ? { filterJson } : { ids: readIds(r, t, idsSlot) };
}

function readPayloadObject(r: CheckedReader, json: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    r.fail(`${what} is not JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) r.fail(`${what} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

function readIndexSchema(r: CheckedReader, schema: string): 'keyword' | 'integer' | 'float' | 'bool' {
  if (!PAYLOAD_INDEX_SCHEMAS.has(schema)) r.fail(`unknown payload index schema ${JSON.stringify(schema.slice(0, 64))}`);
  return schema as 'keyword' | 'integer' | 'float' | 'bool';
}

function readOp(r: CheckedReader, entry: TableRef, vectorViews: boolean): WriteOp {
  const type = r.ubyte(entry, 0);
  const body = r.table_(entry, 1);
  if (!body) r.fail('write op without body');
  switch (type) {
    case fb.Op.UpsertOp:
      return { kind: 'upsert', points: readPoints(r, body, 0, vectorViews) };
    case fb.Op.DeleteOp:
      return { kind: 'delete', ids: readIds(r, body, 0) };
    case fb.Op.SetPayloadOp:
      return {
        kind: 'set_payload',
        payload: readPayloadObject(r, r.requiredString(body, 0, 'payload'), 'set_payload payload'),
        overwrite: r.ubyte(body, 1) !== 0,
        target: readSelector(r, body, 2, 3),
      };
    case fb.Op.DeletePayloadOp: {
      const { start, count } = r.tables(body, 0);
      const keys = new Array<string>(count);
      for (let i = 0; i < count; i++) keys[i] = r.stringAt(start, i);
      return { kind: 'delete_payload', keys, target: readSelector(r, body, 1, 2) };
    }
    case fb.Op.UpdateVectorsOp:
      return { kind: 'update_vectors', points: readPoints(r, body, 0, vectorViews).map((p) => ({ id: p.id, vector: p.vector })) };
    case fb.Op.DeleteByFilterOp:
      return { kind: 'delete_by_filter', filterJson: r.requiredString(body, 0, 'delete filter') };
    case fb.Op.CreatePayloadIndexOp:
      return {
        kind: 'create_payload_index',
        field: r.requiredString(body, 0, 'payload index field'),
        schema: readIndexSchema(r, r.requiredString(body, 1, 'payload index schema')),
        ...(r.ubyte(body, 2) !== 0 ? { isTenant: true } : {}),
      };
    default:
      r.fail(`unknown write op type ${type}`);
  }
}

/** Wraps any non-JadeError (a bug in a check above, RangeError from a typed array) as corruption. */
function guarded<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof JadeError) throw e;
    throw corrupt(what, e instanceof Error ? e.message : String(e));
  }
}

export interface DecodeWriteBatchOptions {
  /**
   * Vectors may be views into `bytes` (when aligned) instead of copies: only for a consumer that
   * copies them before `bytes` could change and keeps no reference (ShardState.apply).
   */
  vectorViews?: boolean;
}

export function decodeWriteBatch(bytes: Uint8Array, options: DecodeWriteBatchOptions = {}): WriteBatch {
  const vectorViews = options.vectorViews ?? false;
  return guarded('write batch', () => {
    const { body, end } = unframe(bytes, 0, FrameKind.writeBatch, 'write batch');
    if (end !== bytes.length) throw corrupt('write batch', `${bytes.length - end} trailing bytes`);
    const r = new CheckedReader(body, 'write batch');
    const root = r.root();
    const { start, count } = r.tables(root, 0);
    const ops = new Array<WriteOp>(count);
    for (let i = 0; i < count; i++) ops[i] = readOp(r, r.tableAt(start, i), vectorViews);
    return { ops };
  });
}

// ---------------------------------------------------------------------------------------------
// Shard snapshots

export interface ShardSnapshotData {
  /** The collection's configuration, JSON text (owned by the shard layer). */
  configJson: string;
  /** Every WAL record up to this LSN is reflected in the snapshot. */
  lastAppliedLsn: number;
  points: PointRecord[];
  payloadIndexes: { field: string; schema: string; isTenant?: boolean }[];
}

/** Snapshot = one meta frame, then point-chunk frames; the meta frame's point count must match. */
export function encodeShardSnapshot(s: ShardSnapshotData, chunkBytesMax = SNAPSHOT_CHUNK_BYTES_MAX): Uint8Array {
  return concatFrames([...shardSnapshotFrames(s, chunkBytesMax)]);
}

/** The frames of encodeShardSnapshot one at a time, so a caller can yield between them (their concatenation is the snapshot). */
export function* shardSnapshotFrames(s: ShardSnapshotData, chunkBytesMax = SNAPSHOT_CHUNK_BYTES_MAX): Generator<Uint8Array> {
  for (const d of s.payloadIndexes) {
    if (!PAYLOAD_INDEX_SCHEMAS.has(d.schema)) throw new JadeError('JADE_ERR_BAD_REQUEST', `unknown payload index schema ${JSON.stringify(d.schema)}`);
  }
  assert(Number.isSafeInteger(s.lastAppliedLsn) && s.lastAppliedLsn >= 0, 'snapshot LSN is a non-negative integer');
  {
    const b = new flatbuffers.Builder(1024 + s.configJson.length * 3);
    const config = b.createString(s.configJson);
    const defs = s.payloadIndexes.map((d) => fb.PayloadIndexDef.createPayloadIndexDef(b, b.createString(d.field), b.createString(d.schema), d.isTenant === true));
    const defsVec = createOffsetVector(b, defs);
    fb.ShardSnapshotMeta.startShardSnapshotMeta(b);
    fb.ShardSnapshotMeta.addConfigJson(b, config);
    fb.ShardSnapshotMeta.addLastAppliedLsn(b, s.lastAppliedLsn);
    fb.ShardSnapshotMeta.addPointCount(b, s.points.length);
    fb.ShardSnapshotMeta.addPayloadIndexes(b, defsVec);
    b.finish(fb.ShardSnapshotMeta.endShardSnapshotMeta(b));
    yield finishFramed(b, FrameKind.snapshotMeta);
  }
  let i = 0;
  while (i < s.points.length) {
    let bytes = 0;
    let j = i;
    while (j < s.points.length && (j === i || bytes + estimatePointBytes(s.points[j]) <= chunkBytesMax)) {
      bytes += estimatePointBytes(s.points[j]);
      j++;
    }
    const b = new flatbuffers.Builder(bytes + 256);
    const pts = buildPointsVector(b, s.points.slice(i, j));
    b.finish(fb.PointChunk.createPointChunk(b, pts));
    yield finishFramed(b, FrameKind.pointChunk);
    i = j;
  }
}

function concatFrames(frames: readonly Uint8Array[]): Uint8Array {
  if (frames.length === 1) return frames[0];
  let total = 0;
  for (const f of frames) total += f.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const f of frames) {
    out.set(f, off);
    off += f.length;
  }
  return out;
}

/** `vectorViews` as for decodeWriteBatch: for ShardState.restore, which copies every vector. */
export function decodeShardSnapshot(bytes: Uint8Array, options: DecodeWriteBatchOptions = {}): ShardSnapshotData {
  const vectorViews = options.vectorViews ?? false;
  const what = 'shard snapshot';
  return guarded(what, () => {
    const meta = unframe(bytes, 0, FrameKind.snapshotMeta, what);
    const r = new CheckedReader(meta.body, what);
    const root = r.root();
    const configJson = r.requiredString(root, 0, 'config');
    const lastAppliedLsn = r.double(root, 1);
    const pointCount = r.double(root, 2);
    if (!Number.isSafeInteger(lastAppliedLsn) || lastAppliedLsn < 0) r.fail(`bad last applied LSN ${lastAppliedLsn}`);
    if (!Number.isSafeInteger(pointCount) || pointCount < 0) r.fail(`bad point count ${pointCount}`);
    const defsRef = r.tables(root, 3);
    const payloadIndexes: { field: string; schema: string; isTenant?: boolean }[] = [];
    for (let i = 0; i < defsRef.count; i++) {
      const t = r.tableAt(defsRef.start, i);
      const def = { field: r.requiredString(t, 0, 'payload index field'), schema: readIndexSchema(r, r.requiredString(t, 1, 'payload index schema')) };
      payloadIndexes.push(r.ubyte(t, 2) !== 0 ? { ...def, isTenant: true } : def);
    }
    const points: PointRecord[] = [];
    let off = meta.end;
    while (off < bytes.length) {
      const chunk = unframe(bytes, off, FrameKind.pointChunk, what);
      const cr = new CheckedReader(chunk.body, what);
      for (const p of readPoints(cr, cr.root(), 0, vectorViews)) {
        if (points.length >= pointCount) throw corrupt(what, `more points than the ${pointCount} declared`);
        points.push(p);
      }
      off = chunk.end;
    }
    if (points.length !== pointCount) throw corrupt(what, `${points.length} points, ${pointCount} declared (truncated?)`);
    return { configJson, lastAppliedLsn, points, payloadIndexes };
  });
}
